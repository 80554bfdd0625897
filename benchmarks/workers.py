"""Throughput of `apitwin serve --store redis://` with 1 and with 2 workers, side by side (and the embedded
in-memory store with 1, for what Redis costs).

Each case is a real `apitwin serve --api datascaphe` process (its workers too) on a redis-server this script
starts (AOF, fsync on every write: the documented setting), reseeded before each case. Two workloads: `get-by-id`
(`GET /api/v1/report/{id}`) and `create` (`POST /api/v1/service-principal`: a transaction with its serial id,
the Redis lock and an fsync). The load is an asyncio httpx client in this process with `--concurrency` workers,
each with its own connection, `--warmup` then `--seconds` per case. Nothing is pinned: two workers need both
cores, and the client takes its share of them too, so on a 2-core machine read the 2-worker/1-worker ratio as
what it is (client and servers compete), not as a scaling target. It also times the one Redis read each request
pays to see whether another worker changed the clock or fault rules. See benchmarks/README.md.

    .venv/bin/python benchmarks/workers.py [--seconds 5] [--concurrency 16] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.support: the redis-server the tests start

from throughput import load_fixture, machine_busy_cpus  # noqa: E402

from tests.e2e.shell import served  # noqa: E402
from tests.support.redis_server import redis_server  # noqa: E402

BASE = "/api/v1"
CASES = (("memory", 1), ("redis", 1), ("redis", 2))


@dataclass(frozen=True)
class Case:
    store: str
    workers: int
    workload: str
    requests: int  # 2xx answers to requests started inside the measured window
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float
    server_cpu_pct: float  # of one core, all of the server's processes, over the measured window


def process_tree_cpu_seconds(root: int) -> float:
    """User + system CPU time of a process and its children (the workers), from /proc."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid == root or ppid == root:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def requests_of(workload: str, report_ids: Sequence[int]) -> Callable[[int], tuple[str, str, dict[str, Any] | None]]:
    """(method, path, body) of the n-th request of a workload."""
    if workload == "get-by-id":
        return lambda n: ("GET", f"{BASE}/report/{report_ids[n % len(report_ids)]}", None)
    return lambda n: ("POST", f"{BASE}/service-principal", {"client_id": f"{n:08d}-{0:04d}-4000-8000-{0:012d}",
                                                             "client_secret": "s"})  # fmt: skip


async def load(origin: str, workload: str, args: argparse.Namespace, root: int) -> tuple[int, int, list[float], float]:
    """(answered, errors, latencies, server CPU seconds) over the measured window."""
    fixture = load_fixture()
    headers = {"Authorization": fixture["credentials"][0]["credential"]}
    request = requests_of(workload, [doc["id"] for doc in fixture["collections"]["reports"]])
    counter = itertools.count()
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter() + args.warmup
    deadline = start + args.seconds
    cpu: dict[str, float] = {}

    async def worker() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=origin, headers=headers, timeout=10) as client:
            while (began := time.perf_counter()) < deadline:
                if began >= start and "start" not in cpu:
                    cpu["start"] = process_tree_cpu_seconds(root)
                method, path, body = request(next(counter))
                try:
                    status = (await client.request(method, path, json=body)).status_code
                except httpx.TransportError:
                    status = 0
                if began >= start:
                    if 200 <= status < 300:
                        latencies.append(time.perf_counter() - began)
                    else:
                        errors += 1

    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return len(latencies), errors, latencies, process_tree_cpu_seconds(root) - cpu.get("start", 0.0)


@contextmanager
def server(store: str, workers: int, url: str) -> Iterator[Any]:
    options = ["--memory"] if store == "memory" else ["--store", url, "--workers", str(workers)]
    with served("--api", "datascaphe", "--reset", "--rate-limit", "datascaphe=off", *options) as running:
        yield running


def measure(store: str, workers: int, workload: str, url: str, args: argparse.Namespace) -> Case:
    with server(store, workers, url) as running:
        answered, errors, latencies, cpu = asyncio.run(load(running.origin, workload, args, running.process.pid))
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else [0.0] * 99
    return Case(store, workers, workload, answered, errors, answered / args.seconds, cuts[49] * 1000,
                cuts[98] * 1000, 100 * cpu / args.seconds)  # fmt: skip


def refresh_cost_us(url: str, calls: int = 2000) -> float:
    """Microseconds of the per-request check for a clock or fault-rule change another worker made."""
    from apitwin.storeredis import RedisStore

    store = RedisStore(url, "refresh-probe")
    started = time.perf_counter()
    for _ in range(calls):
        store.meta_version()
    elapsed = time.perf_counter() - started
    store.close()
    return 1e6 * elapsed / calls


def table(cases: Sequence[Case]) -> list[str]:
    lines = [
        "| workload | store | workers | req/s | vs redis, 1 worker | p50 ms | p99 ms | server CPU (all processes) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for workload in dict.fromkeys(case.workload for case in cases):
        rows = [case for case in cases if case.workload == workload]
        one = next(case.rps for case in rows if case.store == "redis" and case.workers == 1)
        for case in rows:
            lines.append(
                f"| {workload} | {case.store} | {case.workers} | {case.rps:,.0f} | {case.rps / one:.2f} | "
                f"{case.p50_ms:.1f} | {case.p99_ms:.1f} | {case.server_cpu_pct:.0f}% |"
            )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per case (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per case (default 1)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent client workers (default 16)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results to FILE as JSON")
    args = parser.parse_args(argv)
    busy = machine_busy_cpus()
    print(f"{os.cpu_count()} CPUs, {busy:.1f} busy before the run" if busy is not None else "", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="apitwin-bench-redis-") as folder, redis_server(Path(folder)) as url:
        cases = []
        for workload in ("get-by-id", "create"):
            for store, workers in CASES:
                print(f"  measuring {workload}: {store}, {workers} worker(s)...", file=sys.stderr, flush=True)
                cases.append(measure(store, workers, workload, url, args))
        refresh = refresh_cost_us(url)
    print("\n".join(table(cases)))
    print(f"\nper-request check for a clock or fault-rule change (one Redis GET): {refresh:.0f} µs")
    print("client and servers share this machine's cores: compare the ratios of one run, not req/s across runs")
    if args.json:
        document = {"cases": [asdict(case) for case in cases], "refresh_check_us": refresh, "busy_cpus": busy}
        args.json.write_text(json.dumps(document, indent=2))
    return 1 if any(case.errors for case in cases) else 0


if __name__ == "__main__":
    sys.exit(main())
