"""Soak: clients mixing valid and hostile requests against every twin of one `apitwin serve`, with fault rules
and two kill -9 restarts, then a count of what went wrong.

    .venv/bin/python benchmarks/soak.py [--clients 8] [--requests 300] [--json out.json]

Prints requests sent, 5xx seen outside injected faults (must be 0), acknowledged writes lost (must be 0), the
slowest health check while hostile load ran (must stay under 250 ms) and the server's peak RSS. Exits 1 when
a target is missed. Bounded: clients x requests requests, loopback only, the server stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

HEALTH_TARGET_SECONDS = 0.25
INJECTED = "Injected fault"  # every injected error's message says so, in each API's shape


@dataclass
class Server:
    data: Path
    process: subprocess.Popen[str] | None = None
    origin: str = ""
    port: int = 0
    peak_rss_kib: int = 0

    def start(self) -> None:
        command = [sys.executable, "-m", "apitwin", "serve", "--data", str(self.data), "--port", "0"]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            match = re.search(r"(http://[^/\s]+)/datascaphe", line)
            if match:
                self.origin = match.group(1).replace("localhost", "127.0.0.1")
                self.port = int(self.origin.rsplit(":", 1)[1])
                threading.Thread(target=self._drain, args=(self.process,), daemon=True).start()
                return
            if not line and self.process.poll() is not None:
                break
        raise SystemExit("apitwin serve did not start")

    @staticmethod
    def _drain(process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for _ in process.stdout:
            pass

    def sample_rss(self) -> None:
        if self.process is None:
            return
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        if match:
            self.peak_rss_kib = max(self.peak_rss_kib, int(match.group(1)))

    def kill_9(self) -> None:
        assert self.process is not None
        self.sample_rss()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.sample_rss()
            self.process.kill()
            self.process.wait(timeout=10)


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    unexpected_5xx: list[str] = field(default_factory=list)
    connection_errors: int = 0
    acknowledged: list[int] = field(default_factory=list)  # ids of service principals created (200)

    def record(self, label: str, response: httpx.Response) -> None:
        with self.lock:
            self.sent += 1
            self.statuses[response.status_code] += 1
            if response.status_code >= 500 and INJECTED not in response.text:
                self.unexpected_5xx.append(f"{label}: {response.status_code} {response.text[:200]}")


def poll_health(port: Any, paused: Any, stop: Any, measured: Any) -> None:
    """In a process of its own: /__apitwin/health every 50 ms, a new connection each time; the latencies go
    to `measured` once `stop` is set."""
    latencies: list[float] = []
    while not stop.is_set():
        if not paused.is_set():
            started = time.monotonic()
            try:
                httpx.get(f"http://127.0.0.1:{port.value}/__apitwin/health", timeout=5)
                latencies.append(time.monotonic() - started)
            except httpx.TransportError:
                pass  # killed in between: the restart, not a slow answer
        time.sleep(0.05)
    measured.put(latencies)


def credentials(origin: str) -> dict[str, dict[str, str]]:
    headers = {}
    for twin in httpx.get(f"{origin}/", timeout=10).json()["twins"]:
        name, _, value = twin["send_as"].partition(":")
        headers[twin["name"]] = {name.strip(): value.strip()}
    return headers


def install_faults(origin: str) -> None:
    rules = [
        {"twin": "datascaphe", "operation_id": "getReport", "status": 503, "probability": 0.2},
        {"twin": "dataiku", "operation_id": "listProjects", "delay_ms": 50, "probability": 0.3},
    ]
    for rule in rules:
        httpx.post(f"{origin}/__apitwin/faults", json=rule, timeout=10).raise_for_status()


DSS = "/dataiku/dip/publicapi"
SP = "/datascaphe/api/v1/service-principal"
RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


@dataclass(frozen=True)
class Call:
    """One request of the mix: `body` goes out as raw JSON text (hostile ones are no valid JSON for httpx)."""

    label: str
    method: str
    path: str
    twin: str | None  # whose credential it carries (None: the control plane)
    body: bytes | None = None
    params: dict[str, str] = field(default_factory=dict)

    def send(self, client: httpx.Client, credentials: dict[str, dict[str, str]]) -> tuple[str, httpx.Response]:
        headers = {**(credentials[self.twin] if self.twin else {}), "Content-Type": "application/json"}
        return self.label, client.request(self.method, self.path, content=self.body, params=self.params,
                                          headers=headers)  # fmt: skip


def _sql(label: str, query: str) -> Call:
    body = json.dumps({"query": query, "connection": "warehouse-postgres"}).encode()
    return Call(label, "POST", f"{DSS}/sql/queries/", "dataiku", body)


def _ingest(label: str, content: str) -> Call:
    return Call(label, "PUT", "/datascale/v1/ingest", "datascale", json.dumps({"content": content}).encode())


VALID = [
    Call("list reports", "GET", "/datascaphe/api/v1/report", "datascaphe"),
    Call("get report", "GET", "/datascaphe/api/v1/report/1", "datascaphe"),
    Call("list projects", "GET", f"{DSS}/projects/", "dataiku"),
    Call(
        "dataiku data",
        "GET",
        f"{DSS}/projects/SALES_FORECAST/datasets/orders/data/",
        "dataiku",
        params={"filter": "amount > 100"},
    ),  # fmt: skip
    _sql("dataiku sql", "SELECT count(*) FROM orders"),
    _ingest("ingest", "CREATE TABLE t (id INT);"),
]
HOSTILE = [
    Call("NaN body", "POST", SP, "datascaphe", b'{"client_id": NaN}'),
    Call("lone surrogate", "POST", SP, "datascaphe", b'{"description": "x\\ud800"}'),
    Call("deep nesting", "POST", SP, "datascaphe", b"[" * 5000 + b"]" * 5000),
    Call("huge integer", "POST", SP, "datascaphe", b'{"a": ' + b"9" * 5000 + b"}"),
    Call("17 MB body", "PUT", "/datascale/v1/ingest", "datascale", b" " * (17 << 20)),
    _sql("runaway SQL", RUNAWAY),
    _sql("ATTACH", "ATTACH('/tmp/soak.db') AS p"),
    _sql("blob result", "SELECT x'41' AS b"),
    Call(
        "spaces formula",
        "GET",
        f"{DSS}/projects/SALES_FORECAST/datasets/orders/data/",
        "dataiku",
        params={"filter": "amount" + " " * 30_000 + "> 1"},
    ),  # fmt: skip
    _ingest("nested SQL", "SELECT " + "(" * 60 + "1" + ")" * 60),
    Call("bad fault rule", "POST", "/__apitwin/faults", None, b'{"twin": "datascaphe", "method": 123, "status": 503}'),
    Call("clock NaN", "POST", "/__apitwin/clock/advance", None, b'{"seconds": NaN}'),
]


def create_principal(client: httpx.Client, headers: dict[str, dict[str, str]], n: int) -> tuple[str, httpx.Response]:
    body = {"client_id": f"{n:08d}-0000-4000-8000-000000000000", "client_secret": "s", "description": f"soak {n}"}
    return "create principal", client.post("/datascaphe/api/v1/service-principal", json=body,
                                           headers=headers["datascaphe"])  # fmt: skip


def run(clients: int, per_client: int, seed: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="apitwin-soak-"))
    server = Server(folder / "db.json")
    server.start()
    install_faults(server.origin)
    headers = credentials(server.origin)
    tally = Tally()
    progress = Counter[str]()
    restarting = threading.Event()
    # The health checks come from a process of their own: polled from this one, they would wait for its GIL
    # behind the clients' threads, and the server would be blamed for the client's own delays.
    spawn = multiprocessing.get_context("spawn")
    port, paused, stop_health, measured = spawn.Value("i", server.port), spawn.Event(), spawn.Event(), spawn.Queue()
    poller = spawn.Process(target=poll_health, args=(port, paused, stop_health, measured), daemon=True)

    def client_loop(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        for n in range(per_client):
            while restarting.is_set():
                time.sleep(0.05)
            origin = server.origin
            try:
                with httpx.Client(base_url=origin, timeout=30) as client:
                    roll = rng.random()
                    if roll < 0.25:
                        label, response = create_principal(client, headers, index * per_client + n)
                        if response.status_code == 200:
                            with tally.lock:
                                tally.acknowledged.append(response.json()["id"])
                    elif roll < 0.6:
                        label, response = rng.choice(VALID).send(client, headers)
                    else:
                        label, response = rng.choice(HOSTILE).send(client, headers)
                    tally.record(label, response)
            except httpx.TransportError:
                with tally.lock:
                    tally.connection_errors += 1  # the server was killed under this request: never acknowledged
            with tally.lock:
                progress["done"] += 1

    workers = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    poller.start()
    for thread in workers:
        thread.start()
    total = clients * per_client
    for fraction in (1 / 3, 2 / 3):  # two kill -9 restarts, mid-load
        while progress["done"] < total * fraction and any(w.is_alive() for w in workers):
            server.sample_rss()
            time.sleep(0.05)
        restarting.set()
        paused.set()
        server.kill_9()
        server.start()
        install_faults(server.origin)  # fault rules are not state: a restart forgets them
        port.value = server.port
        paused.clear()
        restarting.clear()
    while any(worker.is_alive() for worker in workers):
        server.sample_rss()
        time.sleep(0.05)
    stop_health.set()
    health_seconds: list[float] = measured.get(timeout=30)
    poller.join(timeout=10)
    elapsed = time.monotonic() - started
    listing = httpx.get(f"{server.origin}/datascaphe/api/v1/service-principal", headers=headers["datascaphe"],
                        timeout=30)  # fmt: skip
    if listing.status_code != 200:  # the store itself is poisoned: count every acknowledged write as lost
        tally.unexpected_5xx.append(f"final listing: {listing.status_code} {listing.text[:200]}")
    stored = listing.json() if listing.status_code == 200 else []
    lost = sorted(set(tally.acknowledged) - {principal["id"] for principal in stored})
    server.stop()
    return {
        "clients": clients,
        "requests_sent": tally.sent,
        "seconds": round(elapsed, 1),
        "statuses": dict(sorted(tally.statuses.items())),
        "connection_errors_during_restarts": tally.connection_errors,
        "unexpected_5xx": len(tally.unexpected_5xx),
        "unexpected_5xx_examples": tally.unexpected_5xx[:5],
        "acknowledged_writes": len(tally.acknowledged),
        "acknowledged_writes_lost": len(lost),
        "max_health_seconds": round(max(health_seconds, default=0.0), 3),
        "health_checks": len(health_seconds),
        "health_p99_seconds": round(sorted(health_seconds)[int(len(health_seconds) * 0.99)], 3)
        if health_seconds
        else 0,
        "peak_rss_mib": round(server.peak_rss_kib / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=300, help="per client")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    result = run(args.clients, args.requests, args.seed)
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    missed = [
        name
        for name, ok in (
            ("5xx outside injected faults", result["unexpected_5xx"] == 0),
            ("acknowledged writes lost", result["acknowledged_writes_lost"] == 0),
            (
                f"health under {HEALTH_TARGET_SECONDS * 1000:.0f} ms",
                result["max_health_seconds"] < HEALTH_TARGET_SECONDS,
            ),
        )
        if not ok
    ]
    print("targets met" if not missed else f"MISSED: {', '.join(missed)}")
    raise SystemExit(1 if missed else 0)


if __name__ == "__main__":
    main()
