"""Fault and latency injection: Prism-compatible Prefer headers and admin rules, answered with the
operation's documented statuses in each API's own error shape."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import credential, runtime_of

REPORT = "/datascaphe/api/v1/report/1"
INGEST = "/datascale/v1/ingest"


def datascaphe(client: TestClient, **extra: str) -> dict[str, str]:
    return {"Authorization": credential(client, "datascaphe", "admin"), **extra}


def datascale(client: TestClient, **extra: str) -> dict[str, str]:
    token = runtime_of(client).twins["datascale"].credentials()[0]["credential"]
    return {"Authorization": f"Bearer {token}", **extra}


def test_prefer_code_answers_a_documented_error_in_the_api_shape(client: TestClient) -> None:
    response = client.get(REPORT, headers=datascaphe(client, Prefer="code=404"))
    assert response.status_code == 404
    assert response.json() == {"status": "error", "message": "Injected fault (Prefer header): getReport answers 404"}


def test_prefer_429_carries_retry_after_in_the_datascale_shape(client: TestClient) -> None:
    response = client.put(INGEST, json={"content": "select 1"}, headers=datascale(client, Prefer="code=429"))
    assert response.status_code == 429 and response.headers["retry-after"] == "1"
    assert response.json()["code"] == "RATE_LIMIT_EXCEEDED" and response.json()["success"] is False


def test_prefer_works_for_dataiku_with_its_headers(client: TestClient) -> None:
    key = credential(client, "dataiku", "admin")
    headers = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode(), "Prefer": "code=403"}
    response = client.get("/dataiku/dip/publicapi/projects/", headers=headers)
    assert response.status_code == 403 and response.headers["DSS-Version"]
    assert response.json()["errorType"] == "com.dataiku.dip.exceptions.UnauthorizedException"


def test_an_undocumented_status_is_refused_with_the_documented_list(client: TestClient) -> None:
    response = client.get(REPORT, headers=datascaphe(client, Prefer="code=418"))
    assert response.status_code == 400
    documented = "(200, 400, 401, 403, 404, 406, 429, 500, 503)"
    assert f"418 is not a documented status of getReport {documented}" in response.json()["message"]


def test_prefer_for_the_success_code_runs_the_operation(client: TestClient) -> None:
    response = client.get(REPORT, headers=datascaphe(client, Prefer="code=200, example=first"))
    assert response.status_code == 200 and response.json()["id"] == 1


def test_faults_apply_after_authentication(client: TestClient) -> None:
    assert client.get(REPORT, headers={"Prefer": "code=404"}).status_code == 401


def test_prefer_delay_answers_late(client: TestClient) -> None:
    started = time.monotonic()
    response = client.get(REPORT, headers=datascaphe(client, Prefer="delay=300"))
    assert response.status_code == 200 and time.monotonic() - started >= 0.3


def test_a_rule_fails_the_next_n_matching_requests(client: TestClient) -> None:
    rule = {"twin": "datascaphe", "operation_id": "getReport", "status": 503, "times": 2}
    created = client.post("/__apitwin/faults", json=rule)
    assert created.status_code == 201
    statuses = [client.get(REPORT, headers=datascaphe(client)).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert client.get("/__apitwin/faults").json()["faults"][0]["applied"] == 2


def test_a_path_rule_hits_only_operations_that_document_the_status(client: TestClient) -> None:
    client.post("/__apitwin/faults", json={"twin": "datascaphe", "path": "/report*", "status": 404})
    assert client.get(REPORT, headers=datascaphe(client)).status_code == 404
    assert client.get("/datascaphe/api/v1/report", headers=datascaphe(client)).status_code == 200  # no 404 there
    assert client.get("/datascaphe/api/v1/service-principal/1", headers=datascaphe(client)).status_code == 200


def test_rules_can_be_deleted_and_a_reset_clears_them(client: TestClient) -> None:
    rule_id = client.post("/__apitwin/faults", json={"twin": "datascaphe", "status": 404}).json()["id"]
    assert client.delete(f"/__apitwin/faults/{rule_id}").status_code == 204
    assert client.delete(f"/__apitwin/faults/{rule_id}").status_code == 404
    client.post("/__apitwin/faults", json={"twin": "datascaphe", "status": 404})
    client.post("/__apitwin/reset")
    assert client.get("/__apitwin/faults").json() == {"faults": []}


def test_resetting_a_twin_clears_its_rules_only(client: TestClient) -> None:
    client.post("/__apitwin/faults", json={"twin": "datascaphe", "status": 503})
    client.post("/__apitwin/faults", json={"twin": "datascale", "status": 503})
    client.post("/__apitwin/reset/datascaphe")
    assert [rule["twin"] for rule in client.get("/__apitwin/faults").json()["faults"]] == ["datascale"]
    assert client.get(REPORT, headers=datascaphe(client)).status_code == 200


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        ({"twin": "nope", "status": 500}, "twin must be one of"),
        ({"twin": "datascaphe", "status": 503, "method": 123}, "method must be a string"),
        ({"twin": "datascaphe", "status": 503, "method": "FETCH"}, "method must be one of"),
        ({"twin": "datascaphe", "status": 503, "path": ["x"]}, "path must be a string"),
        ({"twin": "datascaphe", "status": 503, "operation_id": ["getReport"]}, "operation_id must be a string"),
        ({"twin": "datascaphe"}, "needs a status"),
        ({"twin": "datascaphe", "operation_id": "getReport", "status": 409}, "not a documented status"),
        ({"twin": "datascaphe", "operation_id": "deleteEverything", "status": 404}, "no operation"),
        ({"twin": "datascaphe", "status": 200}, "error status"),
        ({"twin": "datascaphe", "delay_ms": -1}, "delay_ms"),
        ({"twin": "datascaphe", "status": 404, "colour": "red"}, "unknown field"),
        ({"twin": "datascaphe", "status": 404, "probability": 0}, "probability"),
    ],
)
def test_bad_rules_are_refused(client: TestClient, rule: dict[str, Any], fragment: str) -> None:
    response = client.post("/__apitwin/faults", json=rule)
    assert response.status_code == 400 and fragment in response.json()["message"]


def test_a_delay_rule_answers_late_and_still_runs_the_operation(client: TestClient) -> None:
    client.post("/__apitwin/faults", json={"twin": "datascaphe", "operation_id": "getReport", "delay_ms": 250})
    started = time.monotonic()
    response = client.get(REPORT, headers=datascaphe(client))
    assert response.status_code == 200 and response.json()["id"] == 1
    assert time.monotonic() - started >= 0.25
    other = time.monotonic()
    client.get("/datascaphe/api/v1/report", headers=datascaphe(client))  # another operation: no delay
    assert time.monotonic() - other < 0.25


def _statuses_under_probability(client: TestClient, probability: float) -> list[int]:
    client.post("/__apitwin/faults", json={"twin": "datascaphe", "status": 503, "probability": probability})
    return [client.get(REPORT, headers=datascaphe(client)).status_code for _ in range(60)]


def test_a_probability_rule_fires_on_a_share_of_requests_repeatably(make_client: Any) -> None:
    first = _statuses_under_probability(make_client(), 0.25)
    assert set(first) == {200, 503}
    assert 5 <= first.count(503) <= 25  # about a quarter of 60, from the seeded generator
    assert _statuses_under_probability(make_client(), 0.25) == first  # the same seed, the same run
    assert _statuses_under_probability(make_client(), 1.0) == [503] * 60
