"""The README's two commands as a user types them: `make serve` with its variables, and `make help`."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support.ports import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed"),
]
ROOT = Path(__file__).resolve().parents[2]


def test_make_help_lists_the_targets_and_variables() -> None:
    result = subprocess.run(["make", "help"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    for word in ("serve", "test", "PORT=", "HOST=", "ARGS="):
        assert word in result.stdout


def test_make_serve_listens_on_the_port_and_host_given() -> None:
    port = free_port()
    command = ["make", "serve", f"PORT={port}", "HOST=127.0.0.1", "ARGS=--memory --api datascale"]
    # A session of its own, so the whole group (make and the server it started) can be stopped at the end.
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    output: list[str] = []  # lines as they come (list.extend appends each as the iterator yields it)
    assert process.stdout is not None
    threading.Thread(target=output.extend, args=(iter(process.stdout.readline, ""),), daemon=True).start()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/__apitwin/health", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, "make serve exited early"
                assert time.monotonic() < deadline, "nothing listened on the port given"
                time.sleep(0.2)
        assert health.json()["twins"] == ["datascale"]  # ARGS reached apitwin serve
        httpx.put(f"http://127.0.0.1:{port}/v1/ingest", json={"content": "select 1"}, timeout=5)  # 401: no token
        deadline = time.monotonic() + 10
        while not any("/v1/ingest" in line for line in output) and time.monotonic() < deadline:
            time.sleep(0.1)
        logged = [line for line in output if "/v1/ingest" in line]
        assert logged and "PUT" in logged[0] and "401" in logged[0]  # make serve logs each request
        banner = next(line for line in output if line.startswith("apitwin serving"))
        assert re.search(r"1 twin\(s\), ready in \d+\.\d\d s; state in memory", banner), banner
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
