"""`Runtime.reset_as_new`: a used app answers exactly as a newly built one (tests share one app per module)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from apitwin.app import create_app
from apitwin.auth import RateLimit
from apitwin.store import Store
from tests.conftest import credential, runtime_of

REPORT = "/datascaphe/api/v1/report/1"
OPTIONS: dict[str, Any] = {"prefixed": True, "rate_limits": {"datascaphe": RateLimit(requests=3, window_seconds=60)}}


def _client(**options: Any) -> TestClient:
    return TestClient(create_app(["datascaphe", "datascale"], **OPTIONS, **options), base_url="http://localhost")


def _use_everything(client: TestClient) -> None:
    """Change every piece of state a test can reach."""
    runtime = runtime_of(client)
    headers = {"Authorization": credential(client, "datascaphe", "admin")}
    assert client.put("/__apitwin/snapshots/before").status_code == 201
    for _ in range(3):
        client.get(REPORT, headers=headers)  # the journal, the rate limit counters and the fault draws move
    client.post("/__apitwin/faults", json={"twin": "datascaphe", "status": 503, "probability": 0.5})
    client.get("/datascale/v1/assets", headers=headers)
    runtime.twins["datascaphe"].state.collection("service_principals").delete(1)
    runtime.store.put("datascale/assets", "made-here", {"id": "made-here"})
    runtime.store.put("elsewhere/things", "1", {"id": "1"})  # a table no twin's fixtures have
    runtime.store.next_serial("datascaphe/service_principals")
    runtime.clock.freeze(datetime(2030, 1, 1, tzinfo=UTC))


def _observe(client: TestClient) -> dict[str, Any]:
    """What a test can see of the state, including what the next requests are numbered and drawn."""
    runtime = runtime_of(client)
    headers = {"Authorization": credential(client, "datascaphe", "admin")}
    tables = {name: runtime.store.all(name) for name in runtime.store.tables()}
    try:  # a new clock has stamped nothing yet, so it may be frozen in the past
        runtime.clock.freeze(datetime(2025, 1, 1, tzinfo=UTC))
        past: str | None = None
    except ValueError as exc:
        past = str(exc)
    observed: dict[str, Any] = {
        "tables": tables,
        "frozen in the past": past,
        "snapshots": client.get("/__apitwin/snapshots").json(),
        "faults": client.get("/__apitwin/faults").json(),
        "clock": {k: v for k, v in runtime.clock.state().items() if k != "now"},  # real time moves on
        "next serial": runtime.store.next_serial("datascaphe/service_principals"),
        "rate limited": [client.get(REPORT, headers=headers).status_code for _ in range(4)],
    }
    runtime.clock.advance(120)  # past the rate limit window, so the draws below are counted
    observed["new rule"] = client.post(
        "/__apitwin/faults", json={"twin": "datascaphe", "status": 503, "probability": 0.5}
    ).json()
    observed["draws"] = [client.get(REPORT, headers=headers).status_code for _ in range(3)]
    observed["journal"] = [
        {k: v for k, v in entry.items() if k not in ("at", "duration_ms")}
        for entry in client.get("/__apitwin/requests").json()["requests"]
    ]
    return observed


def test_a_used_app_reset_as_new_holds_what_a_new_app_holds() -> None:
    used = _client()
    _use_everything(used)
    runtime_of(used).reset_as_new()

    assert _observe(used) == _observe(_client())


def test_after_a_reset_the_clock_may_be_frozen_in_the_past_again(client: TestClient) -> None:
    client.get("/datascaphe/api/v1/report/1")  # the journal stamps the present
    assert client.post("/__apitwin/reset").status_code == 200

    frozen = client.post("/__apitwin/clock/freeze", json={"at": "2025-01-01T00:00:00+00:00"})

    assert frozen.status_code == 200 and frozen.json()["now"] == "2025-01-01T00:00:00+00:00"


def test_an_app_over_a_store_file_is_not_reset_as_new(tmp_path: Any) -> None:
    client = _client(store=Store(tmp_path / "db.json"))

    with pytest.raises(ValueError, match="in memory"):
        runtime_of(client).reset_as_new()


_apps_seen: list[int] = []


@pytest.mark.parametrize("turn", [1, 2])
def test_the_tests_of_a_module_share_one_app_each_handed_it_as_new(make_client: Any, turn: int) -> None:
    client = make_client("datascaphe")
    _apps_seen.append(id(client.app))
    assert client.get("/__apitwin/snapshots").json() == {"snapshots": []}
    assert client.get("/__apitwin/faults").json() == {"faults": []}

    client.put("/__apitwin/snapshots/mine")
    client.post("/__apitwin/faults", json={"twin": "datascaphe", "status": 503})

    assert len(set(_apps_seen)) == 1  # the second turn, whichever runs second, got the first one's app
    assert id(make_client("datascaphe").app) != id(client.app)  # a test's second client is an app of its own
