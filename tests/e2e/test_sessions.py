"""Sessions over HTTP: `X-Apitwin-Session` gives a request, twin or control plane, a state of its own."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from apitwin.auth import RateLimit
from tests.conftest import credential, runtime_of

REPORT = "/datascaphe/api/v1/report/1"
ODS = "/opendatasoft/api/automation/v1.0"


def session(name: str) -> dict[str, str]:
    return {"X-Apitwin-Session": name}


def report_name(client: TestClient, *in_session: str) -> str:
    admin = {"Authorization": credential(client, "datascaphe", "admin")}
    headers = {**admin, **(session(in_session[0]) if in_session else {})}
    response = client.get(REPORT, headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["name"])


def rename_report(client: TestClient, name: str, in_session: str) -> None:
    admin = {"Authorization": credential(client, "datascaphe", "admin")}
    response = client.patch(REPORT, json={"name": name}, headers={**admin, **session(in_session)})
    assert response.status_code == 200, response.text


def test_a_write_in_one_session_is_invisible_elsewhere_and_survives_their_resets(client: TestClient) -> None:
    fixture_name = report_name(client)
    rename_report(client, "written in a", "a")
    assert report_name(client, "b") == fixture_name
    assert report_name(client) == fixture_name  # the default session
    assert report_name(client, "default") == fixture_name  # named as such
    assert client.post("/__apitwin/reset", headers=session("b")).status_code == 200
    assert client.post("/__apitwin/reset").status_code == 200
    assert report_name(client, "a") == "written in a"
    assert client.post("/__apitwin/reset", headers=session("a")).status_code == 200
    assert report_name(client, "a") == fixture_name


def test_faults_and_the_clock_of_one_session_leave_another_alone(client: TestClient) -> None:
    admin = {"Authorization": credential(client, "datascaphe", "admin")}
    rule = {"twin": "datascaphe", "status": 503}
    assert client.post("/__apitwin/faults", json=rule, headers=session("b")).status_code == 201
    frozen = client.post("/__apitwin/clock/freeze", json={"at": "2030-01-01T00:00:00+00:00"}, headers=session("b"))
    assert frozen.json()["frozen"] is True
    assert client.get(REPORT, headers={**admin, **session("b")}).status_code == 503
    assert client.get(REPORT, headers={**admin, **session("a")}).status_code == 200
    assert client.get(REPORT, headers=admin).status_code == 200
    assert client.get("/__apitwin/faults", headers=session("a")).json() == {"faults": []}
    assert client.get("/__apitwin/clock", headers=session("a")).json()["frozen"] is False
    assert client.get("/__apitwin/clock").json()["frozen"] is False
    stamped = client.patch(REPORT, json={"has_rls": 1}, headers={**admin, **session("a")}).json()["updated_date"]
    assert not stamped.startswith("2030")


def test_each_session_journals_its_own_requests(client: TestClient) -> None:
    admin = {"Authorization": credential(client, "datascaphe", "admin")}
    client.get(REPORT, headers={**admin, **session("a")})
    client.get(f"{REPORT}/datasets", headers={**admin, **session("b")})
    paths = {
        name: [entry["path"] for entry in client.get("/__apitwin/requests", headers=session(name)).json()["requests"]]
        for name in ("a", "b", "default")
    }
    assert paths == {"a": [REPORT], "b": [f"{REPORT}/datasets"], "default": []}


def test_a_key_created_in_one_session_authenticates_there_only(client: TestClient) -> None:
    admin = {"Authorization": f"apikey {runtime_of(client).twins['opendatasoft'].credentials()[0]['credential']}"}
    created = client.post(f"{ODS}/apikeys/", json={"label": "ci"}, headers={**admin, **session("a")})
    assert created.status_code == 201, created.text
    fresh = {"Authorization": f"apikey {created.json()['key']}"}
    assert client.get(f"{ODS}/datasets/?limit=1", headers={**fresh, **session("a")}).status_code == 200
    assert client.get(f"{ODS}/datasets/?limit=1", headers={**fresh, **session("b")}).status_code == 401
    assert client.get(f"{ODS}/datasets/?limit=1", headers=fresh).status_code == 401


def test_rate_limit_counters_are_per_session(make_client: Any) -> None:
    client = make_client(rate_limits={"datascale": RateLimit(requests=2, window_seconds=60)})
    bearer = {"Authorization": f"Bearer {runtime_of(client).twins['datascale'].credentials()[0]['credential']}"}

    def ingest(name: str) -> int:
        body = {"content": "select 1"}
        return client.put("/datascale/v1/ingest", json=body, headers={**bearer, **session(name)}).status_code

    client.get("/__apitwin/health", headers=session("b"))  # made (and seeded) before "a" counts its requests
    assert [ingest("a"), ingest("a"), ingest("a")] == [200, 200, 429]
    assert [ingest("b"), ingest("default")] == [200, 200]


def test_snapshots_are_per_session(client: TestClient) -> None:
    rename_report(client, "saved in a", "a")
    assert client.put("/__apitwin/snapshots/mine", headers=session("a")).status_code == 201
    assert client.get("/__apitwin/snapshots", headers=session("b")).json() == {"snapshots": []}
    assert client.post("/__apitwin/snapshots/mine/restore", headers=session("b")).status_code == 404
    rename_report(client, "later", "a")
    assert client.post("/__apitwin/snapshots/mine/restore", headers=session("a")).status_code == 200
    assert report_name(client, "a") == "saved in a"


def test_sessions_are_listed_and_deleted(client: TestClient) -> None:
    rename_report(client, "written in a", "a")
    client.get("/__apitwin/health", headers=session("b"))
    listed = client.get("/__apitwin/sessions", headers=session("listing-makes-none")).json()
    assert [(s["name"], s["requests"]) for s in listed["sessions"]] == [("default", 0), ("a", 1), ("b", 1)]
    assert set(listed["sessions"][1]) == {"name", "created", "last_used", "requests"}
    assert (listed["idle_seconds"], listed["max_sessions"]) == (1800, 100)
    assert client.delete("/__apitwin/sessions/a").status_code == 204
    assert client.delete("/__apitwin/sessions/a").status_code == 404
    refused = client.delete("/__apitwin/sessions/default")
    assert refused.status_code == 400 and refused.json()["error"] == "invalid"
    names = [s["name"] for s in client.get("/__apitwin/sessions").json()["sessions"]]
    assert names == ["default", "b"]
    assert report_name(client, "a") != "written in a"  # a new session of that name: the fixtures again


@pytest.mark.parametrize("name", ["", "-leading-dash", "has space", "a/b", "x" * 65, "é"])
def test_a_bad_session_name_is_a_400_in_the_shape_of_the_api_asked(client: TestClient, name: str) -> None:
    admin = {"Authorization": credential(client, "datascaphe", "admin")}
    named = {"X-Apitwin-Session": name.encode()}  # as sent: UTF-8 bytes for a name beyond ASCII
    twin = client.get(REPORT, headers={**admin, **named})
    assert twin.status_code == 400 and "session name" in twin.json()["message"]
    assert "error" not in twin.json()  # Datascaphe's shape, not the control plane's
    plane = client.get("/__apitwin/health", headers=named)
    assert plane.status_code == 400 and plane.json()["error"] == "invalid"
    assert [s["name"] for s in client.get("/__apitwin/sessions").json()["sessions"]] == ["default"]


def test_beyond_the_maximum_a_new_session_is_a_503_naming_the_way_out(make_client: Any) -> None:
    client = make_client(max_sessions=2)  # the default one and one more
    assert client.get("/__apitwin/health", headers=session("a")).status_code == 200
    refused = client.get("/__apitwin/health", headers=session("b"))
    message = refused.json()["message"]
    assert refused.status_code == 503 and "maximum of 2 sessions" in message and "DELETE /__apitwin/sessions" in message
    assert client.get("/__apitwin/health", headers=session("a")).status_code == 200  # a live one still answers
    client.delete("/__apitwin/sessions/a")
    assert client.get("/__apitwin/health", headers=session("b")).status_code == 200


def test_the_control_plane_document_names_the_session_header(client: TestClient) -> None:
    paths = client.get("/__apitwin/openapi.json").json()["paths"]
    assert [p["name"] for p in paths["/__apitwin/reset"]["post"]["parameters"]] == ["X-Apitwin-Session"]
    assert paths["/__apitwin/sessions/{name}"]["delete"]["parameters"] == [
        {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    ]


@pytest.mark.fresh_app  # a listener stays with its app (as `apitwin serve --log`'s does)
def test_one_subscription_hears_every_sessions_requests(client: TestClient) -> None:
    heard: list[str] = []
    runtime_of(client).journal.subscribe(lambda entry: heard.append(entry.path))
    admin = {"Authorization": credential(client, "datascaphe", "admin")}
    client.get(REPORT, headers={**admin, **session("a")})
    client.get(f"{REPORT}/datasets", headers=admin)
    assert heard == [REPORT, f"{REPORT}/datasets"]
