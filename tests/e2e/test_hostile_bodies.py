"""Hostile bodies never reach a handler: each twin answers them in its own error shape, stores nothing, and
stays healthy; the document's own curl samples (JSON sent by `curl -d`) are read as JSON."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import credential, runtime_of
from tests.e2e.test_dataiku import BASE as DSS
from tests.e2e.test_dataiku import as_key

SP = "/datascaphe/api/v1/service-principal"
HOSTILE = [
    b'{"client_id": "4e9c15e6-6b22-42bc-b33b-2cb5509729aa", "description": "x\\ud800"}',
    b'{"client_id": "4e9c15e6-6b22-42bc-b33b-2cb5509729aa", "description": NaN}',
    b'{"client_id": "4e9c15e6-6b22-42bc-b33b-2cb5509729aa", "x": 1e999}',
    b'{"client_id": "4e9c15e6-6b22-42bc-b33b-2cb5509729aa", "x": ' + b"7" * 4400 + b"}",
    b"[" * 600 + b"]" * 600,
]


def datascaphe(client: TestClient) -> dict[str, str]:
    return {"Authorization": credential(client, "datascaphe", "admin"), "Content-Type": "application/json"}


@pytest.mark.parametrize("body", HOSTILE)
def test_datascaphe_refuses_hostile_json_in_its_shape_and_stores_nothing(client: TestClient, body: bytes) -> None:
    before = len(runtime_of(client).twins["datascaphe"].state.collection("service_principals").all())
    response = client.post(SP, content=body, headers=datascaphe(client))
    assert response.status_code == 400 and response.json()["status"] == "error"
    assert len(runtime_of(client).twins["datascaphe"].state.collection("service_principals").all()) == before
    assert client.get(SP, headers=datascaphe(client)).status_code == 200  # every later read still works


def test_dataiku_refuses_hostile_json_sent_without_a_content_type(client: TestClient) -> None:
    # the official client sends no Content-Type: the body is still read, and checked, as JSON
    response = client.post(f"{DSS}/projects/", content=HOSTILE[0], headers=as_key(client, "admin"))
    assert response.status_code == 400, response.text
    assert response.json()["errorType"].endswith("DSSIllegalArgumentException") and response.headers["DSS-Version"]


def test_a_body_over_the_limit_is_413_in_the_apis_shape(make_client: Any) -> None:
    client = make_client(max_body_bytes=1024)
    token = runtime_of(client).twins["datascale"].credentials()[1]["credential"]
    big = {"content": "select 1;" + " " * 2000}
    response = client.put("/datascale/v1/ingest", json=big, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 413 and response.json()["code"] == "PAYLOAD_TOO_LARGE"
    control = client.post("/__apitwin/faults", content=b"{" + b" " * 2000 + b"}")
    assert control.status_code == 413 and control.json()["error"] == "too_large"


def test_the_control_plane_refuses_hostile_json_too(client: TestClient) -> None:
    response = client.post(
        "/__apitwin/clock/advance", content=b'{"seconds": NaN}', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and "NaN" in response.json()["message"]
    assert client.get("/__apitwin/clock").json()["offset_seconds"] == 0


def test_the_documents_curl_samples_are_read_as_json(client: TestClient) -> None:
    """`curl -d '{...}'` sends application/x-www-form-urlencoded: the document's samples do exactly that."""
    headers = {"Authorization": credential(client, "datascaphe", "admin"),
               "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
    body = b'{"client_id": "4e9c15e6-6b22-42bc-b33b-2cb5509729aa", "client_secret": "s", "description": "curl"}'
    created = client.post(SP, content=body, headers=headers)
    assert created.status_code == 200, created.text
    assert created.json()["description"] == "curl"
    patched = client.patch(f"{SP}/{created.json()['id']}", content=b'{"description": "again"}', headers=headers)
    assert patched.status_code == 200 and patched.json()["description"] == "again"
