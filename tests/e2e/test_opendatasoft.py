"""The Opendatasoft twin's dataset catalogue over HTTP: paged lists whose links can be followed, API keys in
the header (any case) or the query, prefixed uids, a unique dataset_id, its error bodies, trailing slashes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import runtime_of

BASE = "/opendatasoft/api/automation/v1.0"
NEW = {"dataset_id": "trees-2026", "metadata": {"default": {"title": {"value": "Trees"}, "language": {"value": "en"}}}}


@pytest.fixture
def client(make_client: Any) -> TestClient:
    return make_client("opendatasoft")


def key(client: TestClient) -> str:
    return str(runtime_of(client).twins["opendatasoft"].credentials()[0]["credential"])


def auth(client: TestClient) -> dict[str, str]:
    return {"Authorization": f"apikey {key(client)}"}


def test_following_next_collects_every_dataset_once_with_the_filters_kept(client: TestClient) -> None:
    first = client.get(f"{BASE}/datasets/", params={"limit": 5}, headers=auth(client)).json()
    total, seen, url, pages = first["total_count"], [], f"{BASE}/datasets/?limit=5", 0
    assert isinstance(total, int) and total == 33 and first["previous"] is None  # 24 and 9 harvested
    while url:
        page = client.get(url, headers=auth(client)).json()
        seen += [dataset["uid"] for dataset in page["results"]]
        url, pages = page["next"], pages + 1
        assert url is None or url.startswith("http://localhost/opendatasoft/api/automation/v1.0/datasets/")
    assert len(seen) == len(set(seen)) == total and pages == 7
    wanted = first["results"][0]["dataset_id"]
    only = client.get(f"{BASE}/datasets/", params={"dataset_id": wanted, "limit": 1}, headers=auth(client)).json()
    assert only["total_count"] == 1 and only["next"] is None and only["results"][0]["dataset_id"] == wanted


def test_limit_zero_gives_the_count_only_and_bounds_are_checked(client: TestClient) -> None:
    counted = client.get(f"{BASE}/datasets/", params={"limit": 0}, headers=auth(client)).json()
    assert counted == {"total_count": 33, "next": None, "previous": None, "results": []}
    for bad in ({"limit": 1001}, {"limit": -1}, {"offset": -1}, {"limit": "many"}):
        response = client.get(f"{BASE}/datasets/", params=bad, headers=auth(client))
        assert response.status_code == 400 and set(response.json()) >= {"error_code", "message"}


@pytest.mark.parametrize("form", ["header", "Header", "HEADER", "query"])
def test_the_api_key_travels_in_the_header_any_case_or_in_the_query(client: TestClient, form: str) -> None:
    if form == "query":
        response = client.get(f"{BASE}/datasets/", params={"apikey": key(client), "limit": 1})
    else:
        word = {"header": "apikey", "Header": "ApiKey", "HEADER": "APIKEY"}[form]
        response = client.get(f"{BASE}/datasets/?limit=1", headers={"Authorization": f"{word} {key(client)}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("headers", "params"),
    [({}, {}), ({"Authorization": "apikey wrong"}, {}), ({}, {"apikey": "wrong"})],
)
def test_no_key_or_a_wrong_one_is_401_in_the_apis_shape(
    client: TestClient, headers: dict[str, str], params: dict[str, str]
) -> None:
    response = client.get(f"{BASE}/datasets/", headers=headers, params=params)
    assert response.status_code == 401 and set(response.json()) == {"error_code", "message"}


def test_a_good_key_in_the_header_without_its_scheme_word_is_refused(client: TestClient) -> None:
    response = client.get(f"{BASE}/datasets/", headers={"Authorization": key(client)})
    assert response.status_code == 401 and set(response.json()) == {"error_code", "message"}


def test_a_wrong_key_beside_a_good_one_is_still_refused(client: TestClient) -> None:
    """A service that checks every authenticator in turn stops at the bad key; so does the twin."""
    response = client.get(f"{BASE}/datasets/", headers=auth(client), params={"apikey": "wrong"})
    assert response.status_code == 401


def test_a_created_dataset_has_a_prefixed_uid_and_its_dataset_id_is_unique(client: TestClient) -> None:
    created = client.post(f"{BASE}/datasets/", json=NEW, headers=auth(client))
    assert created.status_code == 201, created.text
    dataset = created.json()
    assert re.fullmatch(r"da_[a-z0-9]{6}", dataset["uid"]) and dataset["is_published"] is False
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", dataset["created_at"])
    assert dataset["default_security"] == {"is_data_visible": True, "visible_fields": None, "filter_query": ""}
    again = client.post(f"{BASE}/datasets/", json=NEW, headers=auth(client))
    assert again.status_code == 400
    assert again.json()["error_code"] == "validation_error" and "dataset_id" in again.json()["detail"]
    no_id = client.post(f"{BASE}/datasets/", json={"metadata": NEW["metadata"]}, headers=auth(client)).json()
    assert no_id["dataset_id"] == no_id["uid"]


def test_every_path_answers_with_and_without_its_trailing_slash(client: TestClient) -> None:
    uid = client.post(f"{BASE}/datasets/", json=NEW, headers=auth(client)).json()["uid"]
    for path in (f"{BASE}/datasets", f"{BASE}/datasets/", f"{BASE}/datasets/{uid}", f"{BASE}/datasets/{uid}/"):
        assert client.get(path, headers=auth(client)).status_code == 200, path
    assert client.delete(f"{BASE}/datasets/{uid}", headers=auth(client)).status_code == 204
    gone = client.get(f"{BASE}/datasets/{uid}/", headers=auth(client))
    assert gone.status_code == 404 and gone.json() == {"error_code": "not_found", "message": "Not found."}


def test_a_published_dataset_keeps_its_dataset_id(client: TestClient) -> None:
    datasets = client.get(f"{BASE}/datasets/", params={"limit": 100}, headers=auth(client)).json()["results"]
    published = next(d for d in datasets if d["is_published"])
    draft = next(d for d in datasets if not d["is_published"])
    body = {"dataset_id": "renamed", "metadata": published["metadata"]}
    refused = client.put(f"{BASE}/datasets/{published['uid']}/", json=body, headers=auth(client))
    assert refused.status_code == 400 and "dataset_id" in refused.json()["detail"]
    renamed = client.put(f"{BASE}/datasets/{draft['uid']}/", json=body, headers=auth(client))
    assert renamed.status_code == 200 and renamed.json()["dataset_id"] == "renamed"
    kept = client.put(f"{BASE}/datasets/{draft['uid']}/", json={"metadata": draft["metadata"]}, headers=auth(client))
    assert kept.json()["dataset_id"] == "renamed"


def test_a_key_created_through_the_api_authenticates_until_it_is_revoked(client: TestClient) -> None:
    """The twin authenticates against its API keys collection: a key /apikeys/ creates acts at once, for its
    creator; revoked, it gets 401; search_key finds it either way."""
    admin = {"Authorization": f"apikey {key(client)}"}
    created = client.post(f"{BASE}/apikeys/", json={"label": "ci", "permissions": ["edit_dataset"]}, headers=admin)
    assert created.status_code == 201, created.text
    new = created.json()
    assert re.fullmatch(r"ak_[a-z0-9]{6}", new["uid"]) and re.fullmatch(r"[0-9a-f]{56}", new["key"])
    assert new["user"] == {"username": "admin"} and new["is_revoked"] is False
    fresh = {"Authorization": f"apikey {new['key']}"}
    assert client.get(f"{BASE}/datasets/?limit=1", headers=fresh).status_code == 200
    revoked = client.post(f"{BASE}/apikeys/{new['uid']}/revoke/", json={"reason": "leaked"}, headers=admin)
    assert revoked.json()["is_revoked"] is True and revoked.json()["revocation_status"]["revocation_reason"] == "leaked"
    assert client.get(f"{BASE}/datasets/?limit=1", headers=fresh).status_code == 401
    found = client.post(f"{BASE}/apikeys/search_key/", json={"key": new["key"]}, headers=admin).json()
    assert found["found"] is True and found["result"]["uid"] == new["uid"]
    missing = client.post(f"{BASE}/apikeys/search_key/", json={"key": "nope"}, headers=admin).json()
    assert missing == {"found": False, "result": None}
    assert client.post(f"{BASE}/apikeys/{new['uid']}/revoke/", headers=admin).status_code == 200  # no body: fine
