"""A write answered 2xx survives `kill -9` of the server, the store file is never corrupt, and concurrent
requests lose nothing: checked against a real `apitwin serve` process."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from apitwin import storefile
from apitwin.store import Store
from tests.e2e.shell import served

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
TABLE = "datascaphe/service_principals"


def admin_credential() -> str:
    fixtures = Path(__file__).resolve().parents[2] / "fixtures" / "datascaphe.json"
    return str(json.loads(fixtures.read_text())["credentials"][0]["credential"])


@pytest.mark.alone  # timed: see tests/conftest.py
def test_acknowledged_writes_survive_kill_9_and_concurrency(tmp_path: Path) -> None:
    data = tmp_path / "db.json"
    headers = {"Authorization": admin_credential()}
    acknowledged: list[int] = []
    for _round in range(3):
        with served("--api", "datascaphe", "--data", str(data)) as server:
            process, base = server.process, server.origin + "/api/v1"
            stop = threading.Event()
            lock = threading.Lock()

            def create_until_stopped(
                base: str = base, stop: threading.Event = stop, lock: threading.Lock = lock
            ) -> None:
                with httpx.Client(base_url=base, headers=headers, timeout=5) as http:
                    for n in range(10_000):
                        if stop.is_set():
                            return
                        body = {"client_id": f"{n:08d}-0000-4000-8000-000000000000", "client_secret": "s"}
                        try:
                            response = http.post("/service-principal", json=body)
                        except httpx.HTTPError:
                            return  # the server died under us: that request was never acknowledged
                        if response.status_code == 200:
                            with lock:
                                acknowledged.append(response.json()["id"])

            writers = [threading.Thread(target=create_until_stopped) for _ in range(4)]
            for writer in writers:
                writer.start()
            time.sleep(0.8)
            os.kill(process.pid, signal.SIGKILL)  # no shutdown handler gets to run
            process.wait(timeout=10)
            stop.set()
            for writer in writers:
                writer.join(timeout=10)
        stored = Store(data)  # never half-written: it opens
        assert set(map(str, acknowledged)) <= {str(doc["id"]) for doc in stored.scan(TABLE)}
        stored.close()
    assert len(acknowledged) == len(set(acknowledged)) > 20  # concurrent creates got distinct ids
    with (
        served("--api", "datascaphe", "--data", str(data)) as server,
        httpx.Client(base_url=server.origin + "/api/v1", headers=headers, timeout=5) as http,
    ):
        listed = {p["id"] for p in http.get("/service-principal").json()}
        assert set(acknowledged) <= listed
        assert http.get(f"/service-principal/{acknowledged[-1]}").status_code == 200


def test_a_write_the_disk_refuses_answers_500_and_leaves_the_answered_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory and disk never disagree: what a GET answers after a failed write is what a restart would load."""
    from starlette.testclient import TestClient

    from apitwin.app import create_app

    app = create_app(["datascaphe"], data=tmp_path / "db.json")
    client = TestClient(app, base_url="http://localhost", raise_server_exceptions=False)
    headers = {"Authorization": admin_credential()}
    before = client.get("/api/v1/report/1", headers=headers).json()

    def disk_full(log: storefile.Log, line: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storefile.Log, "append", disk_full)
    failed = client.patch("/api/v1/report/1", json={"name": "lost"}, headers=headers)
    assert failed.status_code == 500 and failed.json() == {"status": "error", "message": "Internal error"}
    assert client.get("/api/v1/report/1", headers=headers).json() == before
    monkeypatch.undo()
    restarted = TestClient(create_app(["datascaphe"], data=tmp_path / "db.json"), base_url="http://localhost")
    assert restarted.get("/api/v1/report/1", headers=headers).json() == before


@pytest.mark.slow
@pytest.mark.alone  # timed: see tests/conftest.py
def test_a_slow_disk_write_holds_no_other_caller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Writes run off the event loop: while one waits for its fsync, the server answers everyone else."""
    from apitwin.app import create_app
    from apitwin.serving import serve_in_background
    from tests.support.responsiveness import BLOCKED_SECONDS, slowest_health_during

    append = storefile.Log.append

    def slow_disk(log: storefile.Log, line: bytes) -> None:
        time.sleep(2)  # a disk that takes its time to sync
        append(log, line)

    app = create_app(["datascaphe"], data=tmp_path / "db.json")
    monkeypatch.setattr(storefile.Log, "append", slow_disk)
    headers = {"Authorization": admin_credential()}
    with serve_in_background(app) as origin:
        response, slowest = slowest_health_during(
            origin, lambda: httpx.patch(f"{origin}/api/v1/report/1", json={"name": "slow"}, headers=headers, timeout=30)
        )
    assert response.status_code == 200 and response.json()["name"] == "slow"
    assert slowest < BLOCKED_SECONDS


def test_kill_9_leaves_each_multi_document_transaction_whole_or_absent_and_every_blob_intact(tmp_path: Path) -> None:
    import subprocess
    import sys

    data = tmp_path / "db.json"
    acknowledged: dict[int, str] = {}
    for _round in range(6):
        command = [sys.executable, "-m", "tests.support.killable_writer", "file", str(data)]
        writer = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert writer.stdout is not None
        deadline = time.monotonic() + 30
        for line in writer.stdout:  # let it get going, then kill it mid-flight
            n, ref = line.split()
            acknowledged[int(n)] = ref
            if len(acknowledged) >= 20 * (_round + 1) or time.monotonic() > deadline:
                break
        time.sleep(random.uniform(0.001, 0.01))  # so the kill lands anywhere in a transaction, not between two
        writer.kill()
        writer.wait(timeout=10)
        writer.stdout.close()
        store = Store(data)
        parents = {doc["n"]: doc for doc in store.scan("t/parents")}
        for n, doc in parents.items():  # acknowledged or not: every transaction there is whole
            assert store.count("t/children", f"p{n}") == 50
            assert hashlib.sha256(store.get_blob(doc["file"])).hexdigest() == doc["file"].removeprefix("sha256:")
        assert set(acknowledged) <= set(parents)
        assert store.count("t/children") == 50 * len(parents)
        store.close()
    assert len(acknowledged) >= 120
