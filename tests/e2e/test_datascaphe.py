"""The Datascaphe Uplink twin over HTTP: every operation, its errors, auth, XML, filters and refresh."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import credential, runtime_of

BASE = "/datascaphe/api/v1"
NEW_CLIENT_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
REPORT_GUID = "c814f3b2-5f12-40b7-bdee-5a0e02f05363"
DATASET_GUID = "e4c7b8bb-decb-45bf-9417-74e9a4edaf86"


@pytest.fixture
def admin(client: TestClient) -> dict[str, str]:
    return {"Authorization": credential(client, "datascaphe", "admin")}


@pytest.fixture
def client(make_client: Any) -> TestClient:
    """Only this twin: a smaller app per test."""
    return make_client("datascaphe")


def fixture_docs(client: TestClient, collection: str) -> list[dict[str, Any]]:
    return runtime_of(client).twins["datascaphe"].state.collection(collection).all()


def assert_error(response: Any, status: int, fragment: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error"
    assert fragment.lower() in body["message"].lower()


# service principals


def test_list_service_principals_never_shows_secrets(client: TestClient, admin: dict[str, str]) -> None:
    response = client.get(f"{BASE}/service-principal", headers=admin)
    assert response.status_code == 200
    principals = response.json()
    assert [p["id"] for p in principals] == [p["id"] for p in fixture_docs(client, "service_principals")]
    assert all("client_secret" not in p for p in principals)
    assert set(principals[0]) == {"id", "description", "client_id", "created_date", "updated_date"}


def test_list_filters_description_like_case_insensitively(client: TestClient, admin: dict[str, str]) -> None:
    word = fixture_docs(client, "service_principals")[0]["description"].split()[0]
    response = client.get(f"{BASE}/service-principal", params={"description": word.upper()}, headers=admin)
    expected = [p["id"] for p in fixture_docs(client, "service_principals") if word.lower() in p["description"].lower()]
    assert [p["id"] for p in response.json()] == expected


def test_list_filters_client_id_exactly(client: TestClient, admin: dict[str, str]) -> None:
    wanted = fixture_docs(client, "service_principals")[2]
    response = client.get(f"{BASE}/service-principal", params={"client_id": wanted["client_id"]}, headers=admin)
    assert [p["id"] for p in response.json()] == [wanted["id"]]
    partial = client.get(f"{BASE}/service-principal", params={"client_id": wanted["client_id"][:8]}, headers=admin)
    assert partial.json() == []


def test_date_filters_are_inclusive_bounds(client: TestClient, admin: dict[str, str]) -> None:
    docs = sorted(fixture_docs(client, "service_principals"), key=lambda d: d["created_date"])
    low, high = docs[1]["created_date"], docs[3]["created_date"]
    response = client.get(
        f"{BASE}/service-principal", params={"created_date_min": low, "created_date_max": high}, headers=admin
    )
    assert sorted(p["created_date"] for p in response.json()) == [d["created_date"] for d in docs[1:4]]


def test_malformed_date_filter_is_a_400(client: TestClient, admin: dict[str, str]) -> None:
    response = client.get(
        f"{BASE}/service-principal", params={"created_date_min": "2025-02-26T14:09:55"}, headers=admin
    )
    assert_error(response, 400, "created_date_min")


@pytest.mark.parametrize("impossible", ["2025-13-45 99:99:99", "2025-02-30 10:00:00", "2025-01-01 24:00:00"])
def test_an_impossible_calendar_date_in_a_filter_is_a_400_not_an_empty_list(
    client: TestClient, admin: dict[str, str], impossible: str
) -> None:
    for path in ("/service-principal", "/report"):
        response = client.get(f"{BASE}{path}", params={"updated_date_max": impossible}, headers=admin)
        assert_error(response, 400, "updated_date_max")


def test_fields_projects_the_answer(client: TestClient, admin: dict[str, str]) -> None:
    response = client.get(f"{BASE}/service-principal?fields=id,client_id", headers=admin)
    assert all(set(p) == {"id", "client_id"} for p in response.json())
    single = client.get(f"{BASE}/service-principal/1?field=description", headers=admin)
    assert single.json() == {"description": fixture_docs(client, "service_principals")[0]["description"]}


def test_get_unknown_service_principal_is_404_in_datascaphe_shape(client: TestClient, admin: dict[str, str]) -> None:
    assert_error(client.get(f"{BASE}/service-principal/999", headers=admin), 404, "not found")
    assert_error(client.get(f"{BASE}/service-principal/abc", headers=admin), 404)


def test_create_service_principal_stores_secret_but_never_returns_it(client: TestClient, admin: dict[str, str]) -> None:
    body = {"client_id": NEW_CLIENT_ID, "client_secret": "s3cr3t", "description": "CI principal"}
    response = client.post(f"{BASE}/service-principal", json=body, headers=admin)
    assert response.status_code == 200
    created = response.json()
    assert "client_secret" not in created
    assert created["client_id"] == NEW_CLIENT_ID
    assert created["created_date"] == created["updated_date"]
    stored = runtime_of(client).twins["datascaphe"].state.collection("service_principals").get(created["id"])
    assert stored["client_secret"] == "s3cr3t"
    assert client.get(f"{BASE}/service-principal/{created['id']}", headers=admin).json() == created


def test_create_ignores_read_only_fields(client: TestClient, admin: dict[str, str]) -> None:
    body = {"client_id": NEW_CLIENT_ID, "client_secret": "x", "id": 1, "created_date": "2001-01-01 00:00:00"}
    created = client.post(f"{BASE}/service-principal", json=body, headers=admin).json()
    assert created["id"] == len(fixture_docs(client, "service_principals"))
    assert created["created_date"] != "2001-01-01 00:00:00"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"client_secret": "x"}, "client_id"),
        ({"client_id": NEW_CLIENT_ID}, "client_secret"),
        ({"client_id": 42, "client_secret": "x"}, "client_id"),
        ({"client_id": "too-short", "client_secret": "x"}, "client_id"),
    ],
)
def test_create_service_principal_rejects_bad_bodies(
    client: TestClient, admin: dict[str, str], body: dict[str, Any], fragment: str
) -> None:
    before = len(fixture_docs(client, "service_principals"))
    assert_error(client.post(f"{BASE}/service-principal", json=body, headers=admin), 400, fragment)
    assert len(fixture_docs(client, "service_principals")) == before


def test_rotating_a_secret_moves_updated_date_only(client: TestClient, admin: dict[str, str]) -> None:
    runtime_of(client).clock.freeze()
    before = client.get(f"{BASE}/service-principal/2", headers=admin).json()
    runtime_of(client).clock.advance(90)
    response = client.patch(
        f"{BASE}/service-principal/2", json={"client_secret": "rotated", "id": 99, "bogus": 1}, headers=admin
    )
    after = response.json()
    assert response.status_code == 200
    assert after["id"] == 2 and after["created_date"] == before["created_date"]
    assert after["updated_date"] > before["updated_date"] and "bogus" not in after
    assert runtime_of(client).twins["datascaphe"].state.collection("service_principals").get(2)["client_secret"] == (
        "rotated"
    )


def test_patch_unknown_service_principal_is_404(client: TestClient, admin: dict[str, str]) -> None:
    assert_error(client.patch(f"{BASE}/service-principal/999", json={"description": "x"}, headers=admin), 404)


# reports


def test_new_report_has_documented_defaults_and_empty_workspaces(client: TestClient, admin: dict[str, str]) -> None:
    body = {"name": "S_P_500", "report_id": REPORT_GUID, "dataset_id": DATASET_GUID}
    report = client.post(f"{BASE}/report", json=body, headers=admin).json()
    assert report["has_rls"] == 0 and report["cache_max_duration"] == 86400
    assert report["use_id_service_principal"] is None and report["scanner_data_updated_at"] is None
    assert all(report[f] is None for f in ("report_workspace_id", "report_workspace_name", "dataset_workspace_id"))
    assert report["created_date"] == report["updated_date"]


def test_report_must_name_an_existing_service_principal(client: TestClient, admin: dict[str, str]) -> None:
    body = {"report_id": REPORT_GUID, "dataset_id": DATASET_GUID, "use_id_service_principal": 999}
    assert_error(client.post(f"{BASE}/report", json=body, headers=admin), 400, "use_id_service_principal")
    body["use_id_service_principal"] = 1
    assert client.post(f"{BASE}/report", json=body, headers=admin).json()["use_id_service_principal"] == 1
    assert_error(client.patch(f"{BASE}/report/1", json={"use_id_service_principal": 998}, headers=admin), 400)


def test_cache_duration_below_documented_minimum_is_rejected(client: TestClient, admin: dict[str, str]) -> None:
    body = {"report_id": REPORT_GUID, "dataset_id": DATASET_GUID, "cache_max_duration": 60}
    assert_error(client.post(f"{BASE}/report", json=body, headers=admin), 400, "cache_max_duration")


@pytest.mark.parametrize(
    ("param", "value_of"),
    [
        ("has_rls", lambda r: r["has_rls"]),
        ("report_id", lambda r: r["report_id"]),
        ("dataset_workspace_id", lambda r: r["dataset_workspace_id"]),
    ],
)
def test_report_equality_filters(client: TestClient, admin: dict[str, str], param: str, value_of: Any) -> None:
    reports = fixture_docs(client, "reports")
    value = value_of(next(r for r in reports if r["dataset_workspace_id"]))
    response = client.get(f"{BASE}/report", params={param: value}, headers=admin)
    assert [r["id"] for r in response.json()] == [r["id"] for r in reports if str(r[param]) == str(value)]


def test_report_name_filter_and_scanner_date_bound(client: TestClient, admin: dict[str, str]) -> None:
    reports = fixture_docs(client, "reports")
    stamps = sorted(r["scanner_data_updated_at"] for r in reports if r["scanner_data_updated_at"])
    response = client.get(f"{BASE}/report", params={"scanner_data_updated_at_min": stamps[-2]}, headers=admin)
    assert sorted(r["scanner_data_updated_at"] for r in response.json()) == stamps[-2:]
    word = reports[0]["name"].split()[0].lower()
    named = client.get(f"{BASE}/report", params={"name": word}, headers=admin).json()
    assert named and all(word in r["name"].lower() for r in named)


def test_refresh_fills_workspaces_and_scanner_date(client: TestClient, admin: dict[str, str]) -> None:
    runtime_of(client).clock.freeze()
    body = {"report_id": REPORT_GUID, "dataset_id": DATASET_GUID}
    report = client.post(f"{BASE}/report", json=body, headers=admin).json()
    runtime_of(client).clock.advance(3600)
    response = client.post(f"{BASE}/report/{report['id']}/refresh", json={}, headers=admin)
    assert response.status_code == 200
    result = response.json()
    assert result["message"] == "Report refreshed succesfully"  # the document's spelling
    refreshed = result["report"]
    assert refreshed["scanner_data_updated_at"] == refreshed["updated_date"] > report["updated_date"]
    assert refreshed["name"] and refreshed["report_workspace_id"] and refreshed["dataset_workspace_name"]
    again = client.post(f"{BASE}/report/{report['id']}/refresh", headers=admin).json()["report"]
    assert again["report_workspace_id"] == refreshed["report_workspace_id"]  # the tenant answers the same
    assert client.get(f"{BASE}/report/{report['id']}", headers=admin).json() == again


def test_refresh_replaces_what_the_client_set_with_what_power_bi_says(
    client: TestClient, admin: dict[str, str]
) -> None:
    """ "Name of the report, it will be replaced by the actual report name after refresh" (and likewise the
    workspace ids and names)."""
    from apitwin.behaviours.datascaphe import report_name_of, workspace_of

    body = {"name": "S_P_500", "report_id": REPORT_GUID, "dataset_id": DATASET_GUID, "report_workspace_id": "mine",
            "report_workspace_name": "Mine", "dataset_workspace_name": "Mine"}  # fmt: skip
    report = client.post(f"{BASE}/report", json=body, headers=admin).json()
    refreshed = client.post(f"{BASE}/report/{report['id']}/refresh", headers=admin).json()["report"]
    assert refreshed["name"] == report_name_of(REPORT_GUID) != "S_P_500"
    assert (refreshed["report_workspace_id"], refreshed["report_workspace_name"]) == workspace_of(REPORT_GUID)
    assert (refreshed["dataset_workspace_id"], refreshed["dataset_workspace_name"]) == workspace_of(DATASET_GUID)


def test_a_seeded_refreshed_report_is_already_what_power_bi_says(client: TestClient, admin: dict[str, str]) -> None:
    """The fixtures and the refresh share the stand-in tenant: refreshing a refreshed report changes no name."""
    reports = client.get(f"{BASE}/report", headers=admin).json()
    seeded = next(r for r in reports if r["scanner_data_updated_at"])
    refreshed = client.post(f"{BASE}/report/{seeded['id']}/refresh", headers=admin).json()["report"]
    fields = ("name", "report_workspace_id", "report_workspace_name", "dataset_workspace_id", "dataset_workspace_name")
    assert {f: refreshed[f] for f in fields} == {f: seeded[f] for f in fields}


def test_refresh_unknown_report_is_404(client: TestClient, admin: dict[str, str]) -> None:
    assert_error(client.post(f"{BASE}/report/999/refresh", json={}, headers=admin), 404, "not found")


def test_patch_report_updates_writable_fields(client: TestClient, admin: dict[str, str]) -> None:
    changes = {"report_id": "e9a4eda3-5f12-40b7-bdee-7f1a02f05446", "has_rls": 1, "report_workspace_name": "Ops"}
    patched = client.patch(
        f"{BASE}/report/3", json={**changes, "scanner_data_updated_at": "2000-01-01 00:00:00"}, headers=admin
    ).json()
    assert {k: patched[k] for k in changes} == changes
    assert patched["scanner_data_updated_at"] != "2000-01-01 00:00:00"


# representation, methods, auth


def test_xml_on_request(client: TestClient, admin: dict[str, str]) -> None:
    response = client.get(f"{BASE}/report", headers={**admin, "Accept": "application/xml"})
    assert response.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(response.content)
    assert root.tag == "reports" and len(root) == len(fixture_docs(client, "reports"))
    assert root[0].tag == "report" and root[0].findtext("id") == str(fixture_docs(client, "reports")[0]["id"])
    error = client.get(f"{BASE}/report/999", headers={**admin, "Accept": "text/xml"})
    assert error.status_code == 404 and ElementTree.fromstring(error.content).findtext("status") == "error"


def test_unacceptable_format_is_406(client: TestClient, admin: dict[str, str]) -> None:
    assert_error(client.get(f"{BASE}/report", headers={**admin, "Accept": "text/csv"}), 406)


def test_undocumented_method_is_405_with_allow(client: TestClient, admin: dict[str, str]) -> None:
    response = client.delete(f"{BASE}/report/1", headers=admin)
    assert_error(response, 405)
    assert response.headers["allow"] == "GET, PATCH"


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        (None, "authorization"),
        ("just-a-key", "{organization code}:{api key}"),
        ("Bearer abc", "{organization code}:{api key}"),
        ("00000000-0000-0000-0000-000000000000:wrong", "api key is wrong"),
    ],
)
def test_bad_credentials_are_401(client: TestClient, header: str | None, fragment: str) -> None:
    headers = {"Authorization": header} if header else {}
    assert_error(client.get(f"{BASE}/report", headers=headers), 401, fragment)


def test_revoked_key_is_401(client: TestClient) -> None:
    revoked = {"Authorization": credential(client, "datascaphe", "revoked")}
    assert_error(client.get(f"{BASE}/report", headers=revoked), 401)


def test_roles_gate_writes(client: TestClient) -> None:
    viewer = {"Authorization": credential(client, "datascaphe", "viewer")}
    developer = {"Authorization": credential(client, "datascaphe", "developer")}
    body = {"report_id": REPORT_GUID, "dataset_id": DATASET_GUID}
    assert client.get(f"{BASE}/report", headers=viewer).status_code == 200
    assert_error(client.post(f"{BASE}/report", json=body, headers=viewer), 403, "developer")
    assert_error(client.get(f"{BASE}/service-principal", headers=developer), 403, "administrator")
    assert client.post(f"{BASE}/report", json=body, headers=developer).status_code == 200


def test_bad_bodies_are_400_never_500(client: TestClient, admin: dict[str, str]) -> None:
    headers = {**admin, "Content-Type": "application/json"}
    assert_error(client.post(f"{BASE}/report", content=b"\xff\xfe\x00", headers=headers), 400)
    assert_error(client.post(f"{BASE}/report", content=b"{not json", headers=headers), 400)
    assert_error(client.post(f"{BASE}/report", content=b"[1, 2]", headers=headers), 400)
    assert_error(client.patch(f"{BASE}/report/1", json={"has_rls": "yes"}, headers=admin), 400, "has_rls")


def test_rotate_secret_then_register_and_refresh_a_report(client: TestClient, admin: dict[str, str]) -> None:
    """A client's routine: find its principal, rotate the secret, register a report on it, refresh, read back."""
    principal = client.get(f"{BASE}/service-principal", params={"fields": "id,client_id"}, headers=admin).json()[0]
    client.patch(f"{BASE}/service-principal/{principal['id']}", json={"client_secret": "next"}, headers=admin)
    body = {
        "report_id": REPORT_GUID,
        "dataset_id": DATASET_GUID,
        "use_id_service_principal": principal["id"],
        "has_rls": 1,
        "cache_max_duration": 1800,
    }
    report = client.post(f"{BASE}/report", json=body, headers=admin).json()
    refreshed = client.post(f"{BASE}/report/{report['id']}/refresh", json={}, headers=admin).json()["report"]
    listed = client.get(
        f"{BASE}/report",
        params={"report_id": REPORT_GUID, "scanner_data_updated_at_min": refreshed["scanner_data_updated_at"]},
        headers=admin,
    ).json()
    assert [r["id"] for r in listed] == [report["id"]]
    assert listed[0]["use_id_service_principal"] == principal["id"] and listed[0]["has_rls"] == 1
