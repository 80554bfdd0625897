"""Who may reach the server: Hosts it serves (DNS rebinding), the control plane's refusal of cross-origin and
non-JSON requests (a web page's "simple" requests), the admin token beyond loopback, and what the index shows."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from apitwin.access import Access
from tests.conftest import credential
from tests.e2e.shell import served

FAULT = {"twin": "datascaphe", "status": 503}


def test_a_host_the_server_does_not_serve_is_refused_everywhere(client: TestClient) -> None:
    rebound = {"Host": "evil.example:8000"}
    index = client.get("/", headers=rebound)
    assert index.status_code == 403 and "credential" not in index.text and "--allowed-host evil.example" in index.text
    twin = client.get(
        "/datascaphe/api/v1/report", headers={**rebound, "Authorization": credential(client, "datascaphe", "admin")}
    )
    assert twin.status_code == 403 and twin.json()["status"] == "error"  # in the twin's own shape
    assert client.post("/__apitwin/faults", json=FAULT, headers=rebound).status_code == 403
    assert client.get("/__apitwin/faults").json() == {"faults": []}
    for host in ("localhost:8000", "127.0.0.1", "[::1]:9", "app.localhost"):
        assert client.get("/__apitwin/health", headers={"Host": host}).status_code == 200, host


def test_allowed_hosts_are_served_too(make_client: Any) -> None:
    client = make_client(access=Access.of(["apitwin"]))
    assert client.get("/__apitwin/health", headers={"Host": "apitwin:8000"}).status_code == 200
    assert client.get("/__apitwin/health", headers={"Host": "other:8000"}).status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/plain"},  # a form or fetch() a page may send without a preflight
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "application/json", "Origin": "http://evil.example"},
        {"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"},
        {"Content-Type": "application/json", "Origin": "null"},
    ],
)
def test_the_control_plane_refuses_what_a_web_page_could_send(client: TestClient, headers: dict[str, str]) -> None:
    import json

    response = client.post("/__apitwin/faults", content=json.dumps(FAULT), headers=headers)
    assert response.status_code in (403, 415), response.text
    assert client.get("/__apitwin/faults").json() == {"faults": []}


def test_the_control_plane_takes_its_own_origin_and_plain_clients(client: TestClient) -> None:
    same_origin = client.post("/__apitwin/faults", json=FAULT, headers={"Origin": "http://localhost"})
    assert same_origin.status_code == 201
    assert client.post("/__apitwin/reset").status_code == 200  # no body, no Content-Type needed


def test_a_malformed_control_body_is_a_400_and_changes_nothing(client: TestClient) -> None:
    json_type = {"Content-Type": "application/json"}
    assert client.post("/__apitwin/clock/freeze", content=b"{nope", headers=json_type).status_code == 400
    assert client.post("/__apitwin/clock/freeze", content=b"[1]", headers=json_type).status_code == 400
    assert client.get("/__apitwin/clock").json()["frozen"] is False  # not silently frozen


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/__apitwin/clock/advance", {"seconds": 1e18}),
        ("/__apitwin/clock/advance", {"seconds": 10**30}),
        ("/__apitwin/clock/freeze", {"at": "9999-12-31T23:59:59+00:00"}),
        ("/__apitwin/clock/freeze", {"at": "1969-01-01T00:00:00+00:00"}),
        ("/__apitwin/clock/freeze", {"at": 12}),
    ],
)
def test_the_clock_stays_where_every_date_format_can_write_it(client: TestClient, path: str, body: Any) -> None:
    assert client.post(path, json=body).status_code == 400
    admin = {"Authorization": credential(client, "datascaphe", "admin")}
    changed = client.patch("/datascaphe/api/v1/report/1", json={"has_rls": 1}, headers=admin)
    assert changed.status_code == 200  # writes still stamp a date


def test_with_an_admin_token_the_control_plane_wants_it(make_client: Any) -> None:
    client = make_client(access=Access.of((), "s3cret"))
    assert client.post("/__apitwin/reset").status_code == 401
    assert client.post("/__apitwin/reset", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/__apitwin/reset", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.post("/__apitwin/reset", headers={"X-Apitwin-Token": "s3cret"}).status_code == 200
    # the test client is no loopback caller: without the token the index names no credential
    assert all(twin["credential"] is None for twin in client.get("/").json()["twins"])
    with_token = client.get("/", headers={"Authorization": "Bearer s3cret"}).json()
    assert all(twin["credential"] for twin in with_token["twins"])


@pytest.mark.slow
def test_listening_beyond_loopback_makes_up_a_token_and_prints_it_once() -> None:
    with served("--host", "0.0.0.0", "--memory", "--api", "datascale") as server:
        [line] = [line for line in server.banner if " token " in line]
        token = line.split()[1]
        origin = server.origin.replace("localhost", "127.0.0.1")
        assert httpx.post(f"{origin}/__apitwin/reset", timeout=5).status_code == 401
        authorized = httpx.post(f"{origin}/__apitwin/reset", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert authorized.status_code == 200
