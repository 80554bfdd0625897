"""The /__apitwin control plane and the index: reset, snapshots, the virtual clock, twin discovery."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from apitwin.auth import RateLimit
from tests.conftest import credential, runtime_of

REPORTS = "/datascaphe/api/v1/report"


def test_index_lists_every_twin_with_urls_and_credentials(client: TestClient) -> None:
    index = client.get("/").json()
    names = [twin["name"] for twin in index["twins"]]
    assert names == ["datascaphe", "datascale", "dataiku", "opendatasoft", "huwise"]
    datascale = index["twins"][1]
    assert datascale["base_url"] == "http://localhost/datascale/v1"
    assert datascale["send_as"] == f"Authorization: Bearer {datascale['credential']}"
    assert client.get(datascale["spec_url"].replace("http://localhost", "")).json()["info"]["title"]
    assert client.get("/datascaphe/api/v1/ui/").status_code == 200


def test_health(client: TestClient) -> None:
    twins = ["dataiku", "datascale", "datascaphe", "huwise", "opendatasoft"]
    assert client.get("/__apitwin/health").json() == {"status": "ok", "twins": twins}


def test_reset_one_twin_restores_its_fixtures_only(client: TestClient) -> None:
    admin = {"Authorization": credential(client, "datascaphe", "admin")}
    token = runtime_of(client).twins["datascale"].credentials()[1]["credential"]
    client.patch(f"{REPORTS}/1", json={"name": "changed"}, headers=admin)
    client.put(
        "/datascale/v1/ingest",
        json={"content": "CREATE TABLE t (a INT);"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assets_before = len(runtime_of(client).twins["datascale"].state.collection("assets").all())
    assert client.post("/__apitwin/reset/datascaphe").json() == {"reset": ["datascaphe"]}
    assert client.get(f"{REPORTS}/1", headers=admin).json()["name"] != "changed"
    assert len(runtime_of(client).twins["datascale"].state.collection("assets").all()) == assets_before


def test_reset_restarts_serial_ids(client: TestClient) -> None:
    admin = {"Authorization": credential(client, "datascaphe", "admin")}
    body = {"report_id": "c814f3b2-5f12-40b7-bdee-5a0e02f05363", "dataset_id": "e4c7b8bb-decb-45bf-9417-74e9a4edaf86"}
    first = client.post(REPORTS, json=body, headers=admin).json()["id"]
    client.post("/__apitwin/reset")
    assert client.post(REPORTS, json=body, headers=admin).json()["id"] == first


def test_unknown_twin_reset_is_404_in_apitwin_shape(client: TestClient) -> None:
    response = client.post("/__apitwin/reset/nope")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_snapshot_save_restore_and_delete(client: TestClient) -> None:
    admin = {"Authorization": credential(client, "datascaphe", "admin")}
    client.patch(f"{REPORTS}/2", json={"name": "before"}, headers=admin)
    assert client.put("/__apitwin/snapshots/known-good").status_code == 201
    client.patch(f"{REPORTS}/2", json={"name": "after"}, headers=admin)
    assert client.get("/__apitwin/snapshots").json() == {"snapshots": ["known-good"]}
    assert client.post("/__apitwin/snapshots/known-good/restore").status_code == 200
    assert client.get(f"{REPORTS}/2", headers=admin).json()["name"] == "before"
    assert client.delete("/__apitwin/snapshots/known-good").status_code == 204
    assert client.post("/__apitwin/snapshots/known-good/restore").status_code == 404
    assert client.put("/__apitwin/snapshots/..%2Fescape").status_code in (400, 404)


def test_clock_freeze_advance_resume(client: TestClient) -> None:
    frozen = client.post("/__apitwin/clock/freeze", json={"at": "2030-01-01T00:00:00+00:00"}).json()
    assert frozen["frozen"] is True and frozen["now"] == "2030-01-01T00:00:00+00:00"
    advanced = client.post("/__apitwin/clock/advance", json={"seconds": 3600}).json()
    assert advanced["now"] == "2030-01-01T01:00:00+00:00"
    admin = {"Authorization": credential(client, "datascaphe", "admin")}
    stamp = client.patch(f"{REPORTS}/1", json={"has_rls": 1}, headers=admin).json()["updated_date"]
    assert stamp == "2030-01-01 01:00:00"
    resumed = client.post("/__apitwin/clock/resume").json()
    assert resumed["frozen"] is False and resumed["now"] >= "2030-01-01T01:00:00"
    assert client.post("/__apitwin/clock/reset").json()["offset_seconds"] == 0


def test_clock_rejects_bad_input(client: TestClient) -> None:
    assert client.post("/__apitwin/clock/advance", json={"seconds": -5}).status_code == 400
    json_type = {"Content-Type": "application/json"}
    assert client.post("/__apitwin/clock/advance", content=b"nope", headers=json_type).status_code == 400
    assert client.post("/__apitwin/clock/advance", content=b"nope").status_code == 415  # not even JSON
    assert client.post("/__apitwin/clock/freeze", json={"at": "yesterday"}).status_code == 400


def test_single_twin_is_served_at_its_real_base_path(make_client: object) -> None:
    from apitwin.app import create_app

    client = TestClient(create_app(["datascale"]), base_url="http://localhost")
    token = runtime_of(client).twins["datascale"].credentials()[0]["credential"]
    response = client.put("/v1/ingest", json={"content": "select 1"}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert client.get("/datascaphe/api/v1/report").status_code == 404


def _limited_client(make_client: Any) -> tuple[TestClient, Callable[[], int]]:
    """Datascale limited to 2 requests a minute: the third is a 429 until something clears the counters."""
    client = make_client(rate_limits={"datascale": RateLimit(requests=2, window_seconds=60)})
    token = runtime_of(client).twins["datascale"].credentials()[0]["credential"]

    def ingest() -> int:
        body = {"content": "select 1"}
        return client.put("/datascale/v1/ingest", json=body, headers={"Authorization": f"Bearer {token}"}).status_code

    return client, ingest


@pytest.mark.parametrize("reset", ["/__apitwin/reset", "/__apitwin/reset/datascale"])
def test_reset_clears_rate_limit_counters(make_client: Any, reset: str) -> None:
    client, ingest = _limited_client(make_client)
    assert [ingest(), ingest(), ingest()] == [200, 200, 429]
    assert client.post(reset).status_code == 200
    assert ingest() == 200


def test_resetting_another_twin_leaves_the_counters(make_client: Any) -> None:
    client, ingest = _limited_client(make_client)
    assert [ingest(), ingest()] == [200, 200]
    client.post("/__apitwin/reset/datascaphe")
    assert ingest() == 429


def test_restoring_a_snapshot_clears_rate_limit_counters(make_client: Any) -> None:
    client, ingest = _limited_client(make_client)
    assert client.put("/__apitwin/snapshots/start").status_code == 201
    assert [ingest(), ingest(), ingest()] == [200, 200, 429]
    assert client.post("/__apitwin/snapshots/start/restore").status_code == 200
    assert ingest() == 200


def test_the_control_plane_lists_its_endpoints(client: TestClient) -> None:
    from starlette.routing import Route

    index = client.get("/__apitwin").json()
    listed = {(e["method"], e["path"]) for e in index["endpoints"]}
    served = {
        (method, route.path)
        for route in client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route) and route.path.startswith("/__apitwin")
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert listed == served
    summaries = {(e["method"], e["path"]): e["summary"] for e in index["endpoints"]}
    assert summaries["GET", "/__apitwin/requests"].startswith("The request journal, latest first")
    assert all(summaries.values()) and index["openapi"] == "/__apitwin/openapi.json"


def test_the_control_plane_openapi_document_is_valid_and_complete(client: TestClient) -> None:
    from openapi_spec_validator import validate

    document = client.get("/__apitwin/openapi.json").json()
    validate(document)
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert documented == {(e["method"], e["path"]) for e in client.get("/__apitwin").json()["endpoints"]}
    assert document["paths"]["/__apitwin/requests"]["get"]["parameters"][0]["name"] == "twin"


def test_a_reset_of_every_twin_puts_the_clock_back_and_one_twins_reset_leaves_it(client: TestClient) -> None:
    client.post("/__apitwin/clock/freeze", json={"at": "2030-01-01T00:00:00+00:00"})
    client.post("/__apitwin/reset/datascale")
    assert client.get("/__apitwin/clock").json()["frozen"] is True  # shared: one twin's reset may not move it
    client.post("/__apitwin/reset")
    clock = client.get("/__apitwin/clock").json()
    assert clock["frozen"] is False and clock["offset_seconds"] == 0


def test_the_clock_goes_on_where_the_stores_last_server_left_it(tmp_path: Path) -> None:
    from apitwin.app import create_app

    data = tmp_path / "db.json"
    first = TestClient(create_app(["datascale"], data=data), base_url="http://localhost")
    first.post("/__apitwin/clock/freeze", json={"at": "2030-01-01T00:00:00+00:00"})
    runtime_of(first).store.close()
    second = TestClient(create_app(["datascale"], data=data), base_url="http://localhost")
    assert second.get("/__apitwin/clock").json()["now"] == "2030-01-01T00:00:00+00:00"
    refused = second.post("/__apitwin/clock/freeze", json={"at": "2029-01-01T00:00:00+00:00"})
    assert refused.status_code == 400 and "rewind" in refused.json()["message"]
    rewound = second.post("/__apitwin/clock/freeze", json={"at": "2029-01-01T00:00:00+00:00", "rewind": True})
    assert rewound.json()["now"] == "2029-01-01T00:00:00+00:00"
    runtime_of(second).store.close()


@pytest.mark.slow
@pytest.mark.alone  # timed: see tests/conftest.py
def test_a_slow_snapshot_holds_no_other_caller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Control-plane changes write the store off the event loop: a snapshot of a large state (here slowed down
    on purpose) leaves the twins answering."""
    import time

    import httpx

    from apitwin import storefile
    from apitwin.app import create_app
    from apitwin.serving import serve_in_background
    from tests.support.responsiveness import BLOCKED_SECONDS, slowest_health_during

    write_tables = storefile.write_tables

    def slow_disk(path: Path, tables: Any) -> None:
        time.sleep(2)
        write_tables(path, tables)

    app = create_app(["datascale"], data=tmp_path / "db.json")
    monkeypatch.setattr(storefile, "write_tables", slow_disk)
    with serve_in_background(app) as origin:
        response, slowest = slowest_health_during(
            origin, lambda: httpx.put(f"{origin}/__apitwin/snapshots/big", timeout=30)
        )
    assert response.status_code == 201 and slowest < BLOCKED_SECONDS
