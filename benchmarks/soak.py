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
from collections.abc import Callable
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


Request = Callable[[httpx.Client, dict[str, dict[str, str]]], tuple[str, httpx.Response]]
DSS = "/dataiku/dip/publicapi"
RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


def _json(client: httpx.Client, method: str, url: str, headers: dict[str, str], raw: bytes) -> httpx.Response:
    return client.request(method, url, content=raw, headers={**headers, "Content-Type": "application/json"})


def valid_requests() -> list[Request]:
    return [
        lambda c, h: ("list reports", c.get("/datascaphe/api/v1/report", headers=h["datascaphe"])),
        lambda c, h: ("get report", c.get("/datascaphe/api/v1/report/1", headers=h["datascaphe"])),
        lambda c, h: ("list projects", c.get(f"{DSS}/projects/", headers=h["dataiku"])),
        lambda c, h: (
            "dataiku data",
            c.get(
                f"{DSS}/projects/SALES_FORECAST/datasets/orders/data/",
                params={"filter": "amount > 100"},
                headers=h["dataiku"],
            ),
        ),  # fmt: skip
        lambda c, h: (
            "dataiku sql",
            c.post(
                f"{DSS}/sql/queries/",
                json={"query": "SELECT count(*) FROM orders", "connection": "warehouse-postgres"},
                headers=h["dataiku"],
            ),
        ),  # fmt: skip
        lambda c, h: (
            "ingest",
            c.put(
                "/datascale/v1/ingest",
                json={"content": "CREATE TABLE t (id INT);", "platform": "postgres"},
                headers=h["datascale"],
            ),
        ),  # fmt: skip
    ]


def hostile_requests() -> list[Request]:
    sp = "/datascaphe/api/v1/service-principal"
    return [
        lambda c, h: ("NaN body", _json(c, "POST", sp, h["datascaphe"], b'{"client_id": NaN}')),
        lambda c, h: ("lone surrogate", _json(c, "POST", sp, h["datascaphe"], b'{"description": "x\\ud800"}')),
        lambda c, h: ("deep nesting", _json(c, "POST", sp, h["datascaphe"], b"[" * 5000 + b"]" * 5000)),
        lambda c, h: ("huge integer", _json(c, "POST", sp, h["datascaphe"], b'{"a": ' + b"9" * 5000 + b"}")),
        lambda c, h: ("17 MB body", _json(c, "PUT", "/datascale/v1/ingest", h["datascale"], b" " * (17 << 20))),
        lambda c, h: (
            "runaway SQL",
            c.post(
                f"{DSS}/sql/queries/", json={"query": RUNAWAY, "connection": "warehouse-postgres"}, headers=h["dataiku"]
            ),
        ),  # fmt: skip
        lambda c, h: (
            "ATTACH",
            c.post(
                f"{DSS}/sql/queries/",
                json={"query": "ATTACH('/tmp/soak.db') AS p", "connection": "warehouse-postgres"},
                headers=h["dataiku"],
            ),
        ),  # fmt: skip
        lambda c, h: (
            "blob result",
            c.post(
                f"{DSS}/sql/queries/",
                json={"query": "SELECT x'41' AS b", "connection": "warehouse-postgres"},
                headers=h["dataiku"],
            ),
        ),  # fmt: skip
        lambda c, h: (
            "spaces formula",
            c.get(
                f"{DSS}/projects/SALES_FORECAST/datasets/orders/data/",
                params={"filter": "amount" + " " * 30_000 + "> 1"},
                headers=h["dataiku"],
            ),
        ),  # fmt: skip
        lambda c, h: (
            "nested SQL",
            c.put(
                "/datascale/v1/ingest",
                json={"content": "SELECT " + "(" * 60 + "1" + ")" * 60, "platform": "postgres"},
                headers=h["datascale"],
            ),
        ),  # fmt: skip
        lambda c, h: (
            "bad fault rule",
            c.post("/__apitwin/faults", json={"twin": "datascaphe", "method": 123, "status": 503}),
        ),  # fmt: skip
        lambda c, h: (
            "clock NaN",
            c.post(
                "/__apitwin/clock/advance", content=b'{"seconds": NaN}', headers={"Content-Type": "application/json"}
            ),
        ),  # fmt: skip
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
    stop_health = threading.Event()
    health_seconds: list[float] = []
    restarting = threading.Event()
    valid, hostile = valid_requests(), hostile_requests()

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
                        label, response = rng.choice(valid)(client, headers)
                    else:
                        label, response = rng.choice(hostile)(client, headers)
                    tally.record(label, response)
            except httpx.TransportError:
                with tally.lock:
                    tally.connection_errors += 1  # the server was killed under this request: never acknowledged
            with tally.lock:
                progress["done"] += 1

    def health_loop() -> None:
        while not stop_health.is_set():
            if restarting.is_set():
                time.sleep(0.05)
                continue
            started = time.monotonic()
            try:
                httpx.get(f"{server.origin}/__apitwin/health", timeout=5)
                health_seconds.append(time.monotonic() - started)
            except httpx.TransportError:
                pass
            server.sample_rss()
            time.sleep(0.05)

    workers = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    poller = threading.Thread(target=health_loop)
    started = time.monotonic()
    for thread in [*workers, poller]:
        thread.start()
    total = clients * per_client
    for fraction in (1 / 3, 2 / 3):  # two kill -9 restarts, mid-load
        while progress["done"] < total * fraction and any(w.is_alive() for w in workers):
            time.sleep(0.05)
        restarting.set()
        server.kill_9()
        server.start()
        install_faults(server.origin)  # fault rules are not state: a restart forgets them
        restarting.clear()
    for worker in workers:
        worker.join()
    stop_health.set()
    poller.join()
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
