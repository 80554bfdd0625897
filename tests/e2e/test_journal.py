"""The request journal at /__apitwin/requests: what the twins were asked and what they answered, latest first,
filtered, bounded, cleared by reset, and never holding a credential."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import credential, runtime_of

REPORTS = "/datascaphe/api/v1/report"


def datascaphe(client: TestClient, **extra: str) -> dict[str, str]:
    return {"Authorization": credential(client, "datascaphe", "admin"), **extra}


def journal(client: TestClient, **filters: Any) -> list[dict[str, Any]]:
    response = client.get("/__apitwin/requests", params=filters)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["requests"]
    return entries


def test_each_request_is_journalled_latest_first_with_what_it_reached(client: TestClient) -> None:
    client.get(f"{REPORTS}/1", params={"fields": "id,name"}, headers=datascaphe(client))
    client.get(f"{REPORTS}/999", headers=datascaphe(client))
    latest, first = journal(client)
    assert latest["path"] == f"{REPORTS}/999" and latest["status"] == 404 and latest["id"] > first["id"]
    assert first == {
        "id": first["id"],
        "at": first["at"],
        "method": "GET",
        "path": f"{REPORTS}/1",
        "query": {"fields": ["id,name"]},
        "twin": "datascaphe",
        "operation_id": "getReport",
        "status": 200,
        "duration_ms": first["duration_ms"],
        "fault": None,
    }
    assert first["duration_ms"] >= 0 and first["at"].startswith("20")


def test_an_entry_is_stamped_with_the_virtual_clock_when_the_request_arrived(client: TestClient) -> None:
    frozen = client.post("/__apitwin/clock/freeze", json={"at": "2031-04-05T06:07:08.250000+00:00"})
    assert frozen.status_code == 200, frozen.text
    client.get(REPORTS, params=[("has_rls", "1"), ("fields", "id"), ("fields", "name")], headers=datascaphe(client))
    client.post("/__apitwin/clock/advance", json={"seconds": 60})
    (entry,) = journal(client)
    assert entry["at"] == "2031-04-05T06:07:08.250000+00:00"  # the arrival, not the moment it was read
    assert entry["query"] == {"has_rls": ["1"], "fields": ["id", "name"]}
    assert entry["duration_ms"] == round(entry["duration_ms"], 1)


def test_the_control_plane_is_not_journalled(client: TestClient) -> None:
    client.get("/__apitwin/health")
    client.post("/__apitwin/clock/advance", json={"seconds": 1})
    assert journal(client) == []


def test_a_refused_credential_is_journalled_without_the_credential(client: TestClient) -> None:
    secret = "cd2d7579-5b0e-4cfa-bd2a-346626fe64bf:not-a-key-but-secret"
    client.patch(f"{REPORTS}/1", json={"client_secret": "hunter2"}, headers={"Authorization": secret})
    client.patch(f"{REPORTS}/1", json={"name": "x"}, headers=datascaphe(client))
    text = client.get("/__apitwin/requests").text
    assert secret not in text and "hunter2" not in text and credential(client, "datascaphe", "admin") not in text
    assert [(e["operation_id"], e["status"]) for e in journal(client)] == [("updateReport", 200), ("updateReport", 401)]


def test_aliases_and_trailing_slashes_reach_their_operation_but_are_journalled_as_sent(client: TestClient) -> None:
    key = credential(client, "dataiku", "admin")
    client.get("/dataiku/public/api/projects", headers={"Authorization": f"Bearer {key}"})
    (entry,) = journal(client)
    assert (entry["path"], entry["twin"], entry["operation_id"]) == (
        "/dataiku/public/api/projects",
        "dataiku",
        "listProjects",
    )


def test_a_path_of_no_twin_is_journalled_without_twin(client: TestClient) -> None:
    client.get("/api/v1/report")  # a client that forgot the /datascaphe prefix
    assert [(e["path"], e["twin"], e["status"]) for e in journal(client)] == [("/api/v1/report", None, 404)]


def test_injected_faults_are_named(client: TestClient) -> None:
    client.post("/__apitwin/faults", json={"twin": "datascaphe", "operation_id": "getReport", "status": 503})
    client.get(f"{REPORTS}/1", headers=datascaphe(client))
    client.get(REPORTS, headers=datascaphe(client, Prefer="code=500, delay=10"))
    prefer, rule = journal(client)
    assert rule["status"] == 503 and rule["fault"] == {"status": 503, "delay_ms": 0, "source": "rule 1"}
    assert prefer["status"] == 500 and prefer["fault"] == {"status": 500, "delay_ms": 10, "source": "Prefer header"}


def test_filters_by_twin_status_and_operation(client: TestClient) -> None:
    token = runtime_of(client).twins["datascale"].credentials()[0]["credential"]
    client.get(f"{REPORTS}/1", headers=datascaphe(client))
    client.get(f"{REPORTS}/999", headers=datascaphe(client))
    client.get(REPORTS, headers=datascaphe(client))
    client.put("/datascale/v1/ingest", json={"content": "select 1"}, headers={"Authorization": f"Bearer {token}"})
    assert [e["operation_id"] for e in journal(client, twin="datascale")] == ["ingestContent"]
    assert [e["path"] for e in journal(client, status=404)] == [f"{REPORTS}/999"]
    assert [e["status"] for e in journal(client, operation_id="getReport")] == [404, 200]
    assert [e["status"] for e in journal(client, twin="datascaphe", status=200, limit=1)] == [200]
    assert journal(client, twin="datascaphe", status=200, limit=1)[0]["operation_id"] == "listReports"


@pytest.mark.parametrize(
    ("filters", "fragment"),
    [
        ({"operationId": "getReport"}, "unknown filter(s) ['operationId']; use twin, status, operation_id, limit"),
        ({"twin": "datascafe"}, "no twin named 'datascafe'"),
        ({"status": "4xx"}, "status must be a whole number"),
        ({"limit": "0"}, "limit must be a whole number above 0"),
    ],
)
def test_a_bad_filter_is_refused_rather_than_ignored(
    client: TestClient, filters: dict[str, str], fragment: str
) -> None:
    response = client.get("/__apitwin/requests", params=filters)
    assert response.status_code == 400 and fragment in response.json()["message"]


def test_the_journal_is_a_bounded_ring(make_client: Callable[..., TestClient]) -> None:
    client = make_client("datascaphe", journal_size=3)
    for report in range(1, 6):
        client.get(f"{REPORTS}/{report}", headers=datascaphe(client))
    assert [e["path"].rsplit("/", 1)[1] for e in journal(client)] == ["5", "4", "3"]


def test_reset_clears_the_journal_and_reset_of_a_twin_clears_its_entries(client: TestClient) -> None:
    key = credential(client, "dataiku", "admin")
    client.get(REPORTS, headers=datascaphe(client))
    client.get("/dataiku/dip/publicapi/projects/", headers={"Authorization": f"Bearer {key}"})
    client.post("/__apitwin/reset/datascaphe")
    assert [e["twin"] for e in journal(client)] == ["dataiku"]
    client.post("/__apitwin/reset")
    assert journal(client) == []


def test_delete_empties_the_journal(client: TestClient) -> None:
    client.get(REPORTS, headers=datascaphe(client))
    client.get("/dataiku/dip/publicapi/projects/")
    assert client.delete("/__apitwin/requests", params={"twin": "dataiku"}).status_code == 204
    assert [e["twin"] for e in journal(client)] == ["datascaphe"]
    assert client.delete("/__apitwin/requests").status_code == 204
    assert journal(client) == []
