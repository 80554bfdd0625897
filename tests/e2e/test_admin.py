"""The /__apitwin control plane and the index: reset, snapshots, the virtual clock, twin discovery."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.conftest import credential, runtime_of

REPORTS = "/datascaphe/api/v1/report"


def test_index_lists_every_twin_with_urls_and_credentials(client: TestClient) -> None:
    index = client.get("/").json()
    names = [twin["name"] for twin in index["twins"]]
    assert names == ["datascaphe", "datascale", "dataiku"]
    datascale = index["twins"][1]
    assert datascale["base_url"] == "http://testserver/datascale/v1"
    assert datascale["send_as"] == f"Authorization: Bearer {datascale['credential']}"
    assert client.get(datascale["spec_url"].replace("http://testserver", "")).json()["info"]["title"]
    assert client.get("/datascaphe/api/v1/ui/").status_code == 200


def test_health(client: TestClient) -> None:
    assert client.get("/__apitwin/health").json() == {"status": "ok", "twins": ["dataiku", "datascale", "datascaphe"]}


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
    assert client.post("/__apitwin/clock/advance", content=b"nope").status_code == 400
    assert client.post("/__apitwin/clock/freeze", json={"at": "yesterday"}).status_code == 400


def test_single_twin_is_served_at_its_real_base_path(make_client: object) -> None:
    from apitwin.app import create_app

    client = TestClient(create_app(["datascale"]))
    token = runtime_of(client).twins["datascale"].credentials()[0]["credential"]
    response = client.put("/v1/ingest", json={"content": "select 1"}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert client.get("/datascaphe/api/v1/report").status_code == 404
