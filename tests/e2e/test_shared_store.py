"""Several `apitwin serve` processes on one Redis (`--store redis://`): two separate servers (as two hosts behind a
load balancer would be, each reached on its own port) and one server with `--workers 2`. What one acknowledges,
the other serves; ids stay unique; the clock and fault rules are shared; kill -9 of a worker loses nothing."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.e2e.shell import Served, run, served
from tests.support.redis_server import redis_server

pytestmark = pytest.mark.slow
BASE = "/api/v1"


def admin_credential() -> str:
    fixtures = Path(__file__).resolve().parents[2] / "fixtures" / "datascaphe.json"
    return str(json.loads(fixtures.read_text())["credentials"][0]["credential"])


HEADERS = {"Authorization": admin_credential()}


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Served]]:
    """Two `apitwin serve --api datascaphe --store redis://…` processes on one redis-server of their own."""
    with ExitStack() as stack:
        url = stack.enter_context(redis_server(tmp_path_factory.mktemp("redis")))
        first = stack.enter_context(served("--api", "datascaphe", "--store", url, "--reset"))
        second = stack.enter_context(served("--api", "datascaphe", "--store", url))
        yield first, second


def create_principals(origin: str, label: str, count: int, acknowledged: list[int], lock: threading.Lock) -> None:
    with httpx.Client(base_url=origin + BASE, headers=HEADERS, timeout=10) as http:
        for n in range(count):
            body = {"client_id": f"{n:08d}-{label}-4000-8000-000000000000", "client_secret": "s"}
            try:
                response = http.post("/service-principal", json=body)
            except httpx.HTTPError:
                continue  # its worker died under it: never acknowledged; the next request connects again
            if response.status_code == 200:
                with lock:
                    acknowledged.append(response.json()["id"])


def listed_ids(origin: str) -> set[int]:
    response = httpx.get(f"{origin}{BASE}/service-principal", headers=HEADERS, timeout=10)
    assert response.status_code == 200
    return {principal["id"] for principal in response.json()}


def test_concurrent_creates_through_two_servers_get_unique_ids_and_each_serves_every_one(
    two_servers: tuple[Served, Served],
) -> None:
    acknowledged: list[int] = []
    lock = threading.Lock()
    writers = [
        threading.Thread(target=create_principals, args=(server.origin, f"{label:04d}", 25, acknowledged, lock))
        for label, server in enumerate([*two_servers, *two_servers])
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert len(acknowledged) == len(set(acknowledged)) == 100
    for server in two_servers:
        assert set(acknowledged) <= listed_ids(server.origin)
        last = httpx.get(f"{server.origin}{BASE}/service-principal/{max(acknowledged)}", headers=HEADERS)
        assert last.status_code == 200


def test_a_clock_change_and_a_fault_rule_made_through_one_server_apply_on_the_other(
    two_servers: tuple[Served, Served],
) -> None:
    first, second = two_servers
    frozen = httpx.post(f"{first.origin}/__apitwin/clock/freeze", json={"at": "2031-05-04T03:02:01Z"})
    assert frozen.status_code == 200
    try:
        assert httpx.get(f"{second.origin}/__apitwin/clock").json()["now"].startswith("2031-05-04T03:02:01")
        body = {"client_id": "00000000-c10c-4000-8000-000000000000", "client_secret": "s"}
        created = httpx.post(f"{second.origin}{BASE}/service-principal", json=body, headers=HEADERS).json()
        assert created["created_date"] == "2031-05-04 03:02:01"
    finally:
        assert httpx.post(f"{first.origin}/__apitwin/clock/reset").status_code == 200
    rule = {"twin": "datascaphe", "operation_id": "getReport", "status": 503, "times": 1}
    assert httpx.post(f"{second.origin}/__apitwin/faults", json=rule).status_code == 201
    try:
        assert httpx.get(f"{first.origin}/__apitwin/faults").json()["faults"][0]["status"] == 503
        assert httpx.get(f"{first.origin}{BASE}/report/1", headers=HEADERS).status_code == 503
        # `times: 1` counts across servers: the rule has fired, the other server answers normally
        assert httpx.get(f"{second.origin}{BASE}/report/1", headers=HEADERS).status_code == 200
        assert httpx.get(f"{second.origin}/__apitwin/faults").json()["faults"][0]["applied"] == 1
    finally:
        assert httpx.delete(f"{first.origin}/__apitwin/faults").status_code == 204
    assert httpx.get(f"{second.origin}/__apitwin/faults").json()["faults"] == []


def test_a_snapshot_saved_through_one_server_is_restored_through_the_other(two_servers: tuple[Served, Served]) -> None:
    first, second = two_servers
    assert httpx.put(f"{first.origin}/__apitwin/snapshots/before").status_code == 201
    try:
        renamed = httpx.patch(f"{second.origin}{BASE}/report/1", json={"name": "changed"}, headers=HEADERS)
        assert renamed.status_code == 200
        assert httpx.post(f"{second.origin}/__apitwin/snapshots/before/restore").status_code == 200
        report = httpx.get(f"{first.origin}{BASE}/report/1", headers=HEADERS).json()
        assert report["name"] != "changed"
    finally:
        assert httpx.delete(f"{second.origin}/__apitwin/snapshots/before").status_code == 204


def worker_pids(parent: int) -> set[int]:
    """The `--workers` processes of a server (its children that serve, not multiprocessing's resource tracker)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
        if ppid == parent and b"spawn_main" in command:
            found.add(int(stat.parent.name))
    return found


@pytest.mark.alone  # timed: writes must land while the worker is killed
def test_kill_9_of_one_of_two_workers_loses_no_acknowledged_write(tmp_path: Path) -> None:
    with (
        redis_server(tmp_path / "redis") as url,
        served("--api", "datascaphe", "--store", url, "--workers", "2", "--reset") as server,
    ):
        workers = worker_pids(server.process.pid)
        assert len(workers) == 2
        acknowledged: list[int] = []
        lock = threading.Lock()
        writers = [
            threading.Thread(target=create_principals, args=(server.origin, f"{label:04d}", 60, acknowledged, lock))
            for label in range(4)
        ]
        for writer in writers:
            writer.start()
        deadline = time.monotonic() + 60  # killed mid-load: once some writes are acknowledged, most still to come
        while len(acknowledged) < 20:
            assert time.monotonic() < deadline, "no write was acknowledged"
            time.sleep(0.01)
        before_kill = len(acknowledged)
        os.kill(min(workers), signal.SIGKILL)
        for writer in writers:
            writer.join()
        assert before_kill > 0 and len(acknowledged) > before_kill  # the other worker served what followed
        assert len(acknowledged) == len(set(acknowledged))
        assert set(acknowledged) <= listed_ids(server.origin)
        deadline = time.monotonic() + 60
        while len(worker_pids(server.process.pid) - {min(workers)}) < 2:  # the killed one is started again
            assert time.monotonic() < deadline, "the killed worker was not started again"
            time.sleep(0.2)
        workers |= worker_pids(server.process.pid)
    # served() killed the server with -9, at once, so the new worker may still be starting: it stops all the same
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists() and b"spawn_main" in _command(pid)]


def _command(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""  # ended meanwhile


def test_workers_without_a_shared_store_are_refused() -> None:
    refused = run("serve", "--workers", "2", "--memory")
    assert refused.returncode == 2
    assert "--workers 2 needs a store every worker shares, --store redis://" in refused.stderr


def test_a_session_named_through_either_server_is_one_state_apart_from_the_default(
    two_servers: tuple[Served, Served],
) -> None:
    first, second = two_servers
    session = {**HEADERS, "X-Apitwin-Session": "shared-ci-job"}
    try:
        renamed = httpx.patch(f"{first.origin}{BASE}/report/2", json={"name": "in the session"}, headers=session)
        assert renamed.status_code == 200
        # the other server finds the session's state in Redis (its own namespace), not a fresh copy
        assert httpx.get(f"{second.origin}{BASE}/report/2", headers=session).json()["name"] == "in the session"
        assert httpx.get(f"{second.origin}{BASE}/report/2", headers=HEADERS).json()["name"] != "in the session"
        rule = {"twin": "datascaphe", "operation_id": "getReport", "status": 503}
        control = {"X-Apitwin-Session": "shared-ci-job"}
        assert httpx.post(f"{second.origin}/__apitwin/faults", json=rule, headers=control).status_code == 201
        assert httpx.get(f"{first.origin}{BASE}/report/2", headers=session).status_code == 503
        assert httpx.get(f"{first.origin}{BASE}/report/2", headers=HEADERS).status_code == 200
    finally:
        for server in two_servers:
            httpx.delete(f"{server.origin}/__apitwin/faults", headers={"X-Apitwin-Session": "shared-ci-job"})


def test_a_session_deleted_through_one_server_starts_again_from_the_fixtures_on_both(
    two_servers: tuple[Served, Served],
) -> None:
    first, second = two_servers
    session = {**HEADERS, "X-Apitwin-Session": "deleted-ci-job"}
    original = httpx.get(f"{first.origin}{BASE}/report/3", headers=session).json()["name"]
    renamed = httpx.patch(f"{second.origin}{BASE}/report/3", json={"name": "before the delete"}, headers=session)
    assert renamed.json()["name"] == "before the delete"
    assert httpx.delete(f"{first.origin}/__apitwin/sessions/deleted-ci-job").status_code == 204
    # the server that still held the session finds its state gone from Redis, and seeds it again
    assert httpx.get(f"{second.origin}{BASE}/report/3", headers=session).json()["name"] == original
    assert httpx.get(f"{first.origin}{BASE}/report/3", headers=session).json()["name"] == original
