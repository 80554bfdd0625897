"""The Opendatasoft twin's dataset metadata over HTTP: all of it, one template, one field; each replaced as a
whole, a field deleted; templates and default-template fields the portal does not have are 404."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.e2e.test_opendatasoft import NEW, auth

BASE = "/opendatasoft/api/automation/v1.0"
NOT_FOUND = {"error_code": "not_found", "message": "Not found."}


@pytest.fixture
def client(make_client: Any) -> TestClient:
    return make_client("opendatasoft")


@pytest.fixture
def uid(client: TestClient) -> str:
    """A dataset created for the test (the fixtures' datasets stay as they are)."""
    created = client.post(f"{BASE}/datasets/", json=NEW, headers=auth(client))
    assert created.status_code == 201, created.text
    return str(created.json()["uid"])


def test_put_then_delete_a_field_then_get_it_is_404_not_found(client: TestClient, uid: str) -> None:
    put = client.put(
        f"{BASE}/datasets/{uid}/metadata/default/title/", json={"value": "Street trees"}, headers=auth(client)
    )
    assert put.status_code == 200 and put.json()["value"] == "Street trees"
    read = client.get(f"{BASE}/datasets/{uid}/metadata/default/title/", headers=auth(client))
    assert read.json() == put.json() == {"value": "Street trees", "remote_value": None, "override_remote_value": False}
    deleted = client.delete(f"{BASE}/datasets/{uid}/metadata/default/title/", headers=auth(client))
    assert deleted.status_code == 204 and deleted.content == b""
    gone = client.get(f"{BASE}/datasets/{uid}/metadata/default/title/", headers=auth(client))
    assert gone.status_code == 404 and gone.json() == NOT_FOUND
    assert "title" not in client.get(f"{BASE}/datasets/{uid}/metadata/default/", headers=auth(client)).json()
    again = client.delete(f"{BASE}/datasets/{uid}/metadata/default/title/", headers=auth(client))
    assert again.status_code == 404 and again.json() == NOT_FOUND


def test_a_value_shows_its_remote_value_and_override_flag_and_a_client_cannot_write_the_remote_one(
    client: TestClient, uid: str
) -> None:
    body = {"value": "Europe/Paris", "remote_value": "UTC"}
    put = client.put(f"{BASE}/datasets/{uid}/metadata/default/timezone/", json=body, headers=auth(client))
    assert put.status_code == 200
    assert put.json() == {"value": "Europe/Paris", "remote_value": None, "override_remote_value": False}
    flag = {"value": "UTC", "override_remote_value": True}
    flagged = client.put(f"{BASE}/datasets/{uid}/metadata/default/timezone/", json=flag, headers=auth(client))
    assert flagged.json() == {"value": "UTC", "remote_value": None, "override_remote_value": True}
    assert client.get(f"{BASE}/datasets/{uid}/metadata/default/timezone", headers=auth(client)).json() == flagged.json()


def test_a_value_is_required_in_a_field_body(client: TestClient, uid: str) -> None:
    refused = client.put(
        f"{BASE}/datasets/{uid}/metadata/default/title/", json={"override_remote_value": True}, headers=auth(client)
    )
    assert refused.status_code == 400 and set(refused.json()) >= {"error_code", "message"}


def test_the_fixtures_datasets_show_the_default_templates_real_fields(client: TestClient) -> None:
    uid = client.get(f"{BASE}/datasets/", params={"limit": 1}, headers=auth(client)).json()["results"][0]["uid"]
    every = client.get(f"{BASE}/datasets/{uid}/metadata/", headers=auth(client)).json()
    assert set(every) == {"default", "visualization", "internal"}
    assert {"title", "description", "keyword", "language", "publisher", "modified"} <= set(every["default"])
    template = client.get(f"{BASE}/datasets/{uid}/metadata/default/", headers=auth(client)).json()
    assert template == every["default"]
    title = client.get(f"{BASE}/datasets/{uid}/metadata/default/title/", headers=auth(client)).json()
    assert set(title) == {"value", "remote_value", "override_remote_value"} and title == template["title"]


def test_a_template_put_replaces_the_template_omitted_fields_removed(client: TestClient, uid: str) -> None:
    body = {"title": {"value": "Street trees"}, "keyword": {"value": ["trees"]}}
    put = client.put(f"{BASE}/datasets/{uid}/metadata/default/", json=body, headers=auth(client))
    assert put.status_code == 200 and set(put.json()) == {"title", "keyword"}
    assert put.json()["keyword"]["value"] == ["trees"]
    assert client.get(f"{BASE}/datasets/{uid}/metadata/default/language/", headers=auth(client)).status_code == 404
    internal = client.put(
        f"{BASE}/datasets/{uid}/metadata/internal/", json={"owner": {"value": "parks"}}, headers=auth(client)
    )
    assert internal.status_code == 200 and internal.json()["owner"]["value"] == "parks"


def test_a_put_of_all_metadata_replaces_it_the_standard_templates_staying(client: TestClient, uid: str) -> None:
    put = client.put(
        f"{BASE}/datasets/{uid}/metadata/", json={"default": {"title": {"value": "Only a title"}}}, headers=auth(client)
    )
    assert put.status_code == 200
    title = {"value": "Only a title", "remote_value": None, "override_remote_value": False}  # completed as stored
    assert put.json() == {"default": {"title": title}, "visualization": {}, "internal": {}}
    assert client.get(f"{BASE}/datasets/{uid}/metadata", headers=auth(client)).json() == put.json()
    dataset = client.get(f"{BASE}/datasets/{uid}/", headers=auth(client)).json()
    assert dataset["metadata"] == put.json()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "custom/", None),
        ("PUT", "custom/", {"title": {"value": "x"}}),
        ("GET", "custom/title/", None),
        ("PUT", "custom/title/", {"value": "x"}),
        ("DELETE", "custom/title/", None),
        ("GET", "default/colour/", None),
        ("PUT", "default/colour/", {"value": "green"}),
        ("DELETE", "default/colour/", None),
    ],
)
def test_a_template_or_default_field_the_portal_lacks_is_404(
    client: TestClient, uid: str, method: str, path: str, body: Any
) -> None:
    response = client.request(method, f"{BASE}/datasets/{uid}/metadata/{path}", json=body, headers=auth(client))
    assert response.status_code == 404 and response.json() == NOT_FOUND
    assert "custom" not in client.get(f"{BASE}/datasets/{uid}/metadata/", headers=auth(client)).json()


def test_an_unknown_template_or_default_field_in_a_body_of_all_metadata_is_400(client: TestClient, uid: str) -> None:
    for body in ({"default": {}, "custom": {}}, {"default": {"colour": {"value": "green"}}}, {"internal": {}}):
        response = client.put(f"{BASE}/datasets/{uid}/metadata/", json=body, headers=auth(client))
        assert response.status_code == 400, body


def test_an_unknown_dataset_is_404(client: TestClient) -> None:
    for path in ("metadata/", "metadata/default/", "metadata/default/title/"):
        response = client.get(f"{BASE}/datasets/da_nopexx/{path}", headers=auth(client))
        assert response.status_code == 404 and response.json() == NOT_FOUND, path


def test_every_metadata_path_answers_with_and_without_its_trailing_slash(client: TestClient, uid: str) -> None:
    for url in (
        f"{BASE}/datasets/{uid}/metadata",
        f"{BASE}/datasets/{uid}/metadata/",
        f"{BASE}/datasets/{uid}/metadata/default",
        f"{BASE}/datasets/{uid}/metadata/default/",
        f"{BASE}/datasets/{uid}/metadata/default/title",
        f"{BASE}/datasets/{uid}/metadata/default/title/",
    ):
        assert client.get(url, headers=auth(client)).status_code == 200, url
    assert client.put(f"{BASE}/datasets/{uid}/metadata", json=NEW["metadata"], headers=auth(client)).status_code == 200
    template = client.put(f"{BASE}/datasets/{uid}/metadata/default", json={}, headers=auth(client))
    assert template.status_code == 200
    field = client.put(f"{BASE}/datasets/{uid}/metadata/default/title", json={"value": "T"}, headers=auth(client))
    assert field.status_code == 200
    assert client.delete(f"{BASE}/datasets/{uid}/metadata/default/title", headers=auth(client)).status_code == 204


def test_metadata_needs_an_api_key(client: TestClient, uid: str) -> None:
    response = client.get(f"{BASE}/datasets/{uid}/metadata/default/title/")
    assert response.status_code == 401 and set(response.json()) == {"error_code", "message"}
