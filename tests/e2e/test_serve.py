"""`apitwin serve` from the shell: one server per data file, clear one-line errors for what a user gets wrong,
`--log` and `--no-cors`."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.shell import run, served

pytestmark = pytest.mark.slow


def test_a_second_server_on_the_same_data_file_stops_at_once_saying_why(tmp_path: Path) -> None:
    data = tmp_path / "db.json"
    with served("--api", "datascale", "--data", str(data)) as first:
        started = time.monotonic()
        second = run("serve", "--api", "datascale", "--data", str(data), "--port", "0")
        assert time.monotonic() - started < 10 and second.returncode == 1
        assert second.stderr == (
            f"Error: {data} is in use by another apitwin serve (pid {first.process.pid}): stop that one, "
            "or give this one its own --data FILE (or --memory)\n"
        )
        assert httpx.get(f"{first.origin}/__apitwin/health").status_code == 200  # the first one is untouched


def test_the_data_file_is_free_again_when_its_server_is_killed(tmp_path: Path) -> None:
    data = tmp_path / "db.json"
    with served("--api", "datascale", "--data", str(data)) as first:
        os.kill(first.process.pid, signal.SIGKILL)  # no exit handler runs: the OS drops the lock
        first.process.wait(timeout=10)
    with served("--api", "datascale", "--data", str(data)) as second:
        assert httpx.get(f"{second.origin}/__apitwin/health").json()["status"] == "ok"


def test_memory_takes_no_lock(tmp_path: Path) -> None:
    data = tmp_path / "db.json"
    with (
        served("--api", "datascale", "--memory", "--data", str(data)),
        served("--api", "datascale", "--data", str(data)),
    ):
        pass  # both started


def test_a_busy_port_is_one_line_naming_it(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run("serve", "--memory", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: port {port} on 127.0.0.1 is already in use: stop what uses it, or choose another with --port "
        "(0 picks a free one)\n"
    )


def test_a_corrupt_store_is_one_line_and_reset_replaces_it(tmp_path: Path) -> None:
    data = tmp_path / "db.json"
    data.write_text('{"datascale/assets": {"1": ')  # cut short, as by a full disk
    result = run("serve", "--data", str(data), "--port", "0")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"Error: {data} is not an apitwin store: ")
    assert result.stderr.endswith("; start again from the fixtures with --reset (it replaces the file)\n")
    with served("--api", "datascale", "--data", str(data), "--reset") as server:
        assert httpx.get(f"{server.origin}/__apitwin/health").status_code == 200
        server.process.send_signal(signal.SIGTERM)  # a clean stop: the store's log is folded into its file
        server.process.wait(timeout=20)  # uvicorn stops, then lets the signal end the process: -15
    assert "datascale/credentials" in json.loads(data.read_text())  # one TinyDB database file, whole
    assert not list(tmp_path.glob("db.json.log.*"))


def test_log_prints_a_line_per_request_and_no_cors_turns_cors_off() -> None:
    with served("--api", "datascale", "--memory", "--log", "--no-cors") as server:
        assert any("/__apitwin/requests" in line for line in server.banner)
        answer = httpx.put(
            f"{server.origin}/v1/ingest", json={"content": "select 1"}, headers={"Origin": "http://localhost:5173"}
        )
        assert answer.status_code == 401 and "access-control-allow-origin" not in answer.headers
        line = server.next_line()
        method, path, status, duration, twin, operation = line.split()
        assert (method, path, status, twin, operation) == ("PUT", "/v1/ingest", "401", "datascale", "ingestContent")
        assert duration.endswith("ms")
        httpx.get(f"{server.origin}/__apitwin/health")  # the control plane is not journalled, so not logged
        httpx.get(f"{server.origin}/v1/nowhere", params={"q": "1"})
        assert server.next_line().startswith("GET /v1/nowhere?q=1 404 ")


@pytest.mark.slow
def test_a_client_that_sends_no_headers_is_cut_off_and_others_are_served(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slowloris: connections that never finish their headers are closed, so they cannot hold the server."""
    import socket
    import threading

    from apitwin import serving
    from apitwin.app import create_app

    monkeypatch.setattr(serving, "HEADER_SECONDS", 0.5)
    listening = serving.listen("127.0.0.1", 0)
    port = listening.getsockname()[1]
    started = threading.Event()
    app = create_app(["datascale"], prefixed=False)
    threading.Thread(target=serving.serve_forever, args=(app, listening, started.set), daemon=True).start()
    assert started.wait(30)
    idle = socket.create_connection(("127.0.0.1", port))
    slow = socket.create_connection(("127.0.0.1", port))
    slow.sendall(b"GET /__apitwin/health HTTP/1.1\r\nHost: localhost\r\n")  # and never the blank line
    assert httpx.get(f"http://127.0.0.1:{port}/__apitwin/health", timeout=5).status_code == 200
    for connection in (idle, slow):
        connection.settimeout(5)
        assert connection.recv(1024) == b"", "the server kept a connection that sent no complete headers"
        connection.close()
