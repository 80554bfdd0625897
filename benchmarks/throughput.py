"""Throughput of the Datascaphe twin next to a bare Starlette app doing the same work, and Prism serving the same spec.

Two workloads, each against three servers:

* get-by-id: `GET /api/v1/report/{id}`, cycling through the fixture's report ids;
* list-filtered: `GET /api/v1/report?has_rls=1&fields=id,name`.

Apps: `twin` is `apitwin.app.create_app(["datascaphe"])` with its in-memory store; `bare` is a plain
Starlette app over a `Store` seeded with the same fixture documents, with the same credential check, the
same lookup, filter and projection, and the same JSON body (checked before any timing starts).

`prism` is Stoplight Prism (a stateless mock server answering the spec's examples) serving the same bundled
spec; it is installed with npm into `$XDG_CACHE_HOME/apitwin/prism` when missing (`--no-prism` leaves it out).

Each app runs in its own uvicorn process (1 worker, 127.0.0.1, an ephemeral port, pinned to CPU 1), and Prism
in its Node process (pinned to CPU 1 too). The load generator (pinned to CPU 0) is wrk when it is installed (a C
client: it can saturate even the bare app) and otherwise an asyncio `httpx.AsyncClient` load in this process,
with `--concurrency` connections, `--warmup` seconds and then `--seconds` of measurement per case, `--repeat`
rounds. Client and servers share the machine's CPUs, so read the ratios from one run, not absolute req/s.
`--in-process` also times both apps called directly through ASGI. See benchmarks/README.md.
Run it with `make bench` or `.venv/bin/python benchmarks/throughput.py`."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import itertools
import json
import multiprocessing
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "datascaphe.json"
BASE = "/api/v1"
APPS = ("twin", "bare")
PRISM_VERSION = "5.16.0"
TARGETS = {  # issue 16: the twin's req/s over bare's and over Prism's, per workload
    "get-by-id": {"bare": 0.35, "prism": 2.5},
    "list-filtered": {"bare": 0.45, "prism": 2.5},
}
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 60.0  # seconds for a server to build its app and answer
STOP_TIMEOUT = 10.0
CLIENT_CPU, SERVER_CPU = 0, 1


@dataclass(frozen=True)
class Workload:
    name: str
    paths: tuple[str, ...]  # cycled through by the workers


@dataclass(frozen=True)
class Result:
    workload: str
    app: str
    requests: int  # 200 answers to requests started inside the measured window
    errors: int  # other statuses and transport errors in the same window
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    server_cpu_pct: float | None  # of one core, while measured; None where /proc is missing
    server_cpu_us_per_request: float | None  # server CPU time per answered request, in microseconds
    client_cpu_pct: float
    rps_rounds: tuple[float, ...] = ()  # req/s of every round, with --repeat


@dataclass(frozen=True)
class InProcessResult:
    workload: str
    app: str
    requests: int
    rps: float
    us_per_request: float


def load_fixture() -> dict[str, Any]:
    fixture: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return fixture


def workloads(report_ids: Sequence[int]) -> list[Workload]:
    """The workloads' paths below the API's base path (each server says where that is)."""
    return [
        Workload("get-by-id", tuple(f"/report/{report_id}" for report_id in report_ids)),
        Workload("list-filtered", ("/report?has_rls=1&fields=id,name",)),
    ]


# the apps (built in the server process)


def bundled_spec() -> dict[str, Any]:
    """The Datascaphe twin's spec as one document: what the twin serves at /openapi.json, and what Prism mocks."""
    from apitwin.spec import load_bundled
    from apitwin.twins import select

    return load_bundled(select(["datascaphe"])[0].spec_path)


def twin_app() -> Any:
    from apitwin.app import create_app

    return create_app(["datascaphe"], rate_limits={"datascaphe": None})  # never throttle the load


def bare_app() -> Any:
    """What the twin does for these two requests, and nothing else."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from apitwin.store import Store

    credentials_table, reports_table = "datascaphe/credentials", "datascaphe/reports"
    fixture = load_fixture()
    store = Store()
    store.load(
        "datascaphe/",
        {
            credentials_table: [(c["credential"], c) for c in fixture["credentials"]],
            reports_table: [(str(d["id"]), d) for d in fixture["collections"]["reports"]],
        },
    )

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"status": "error", "message": message}, status_code=status)

    def authenticated(request: Request) -> bool:
        credential = request.headers.get("authorization")
        record = store.get(credentials_table, credential) if credential else None
        return record is not None and bool(record.get("active", True))

    def projection(request: Request) -> list[str] | None:
        names = [name.strip() for name in request.query_params.get("fields", "").split(",") if name.strip()]
        return names or None

    def project(doc: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
        return doc if fields is None else {name: doc[name] for name in fields if name in doc}

    async def get_report(request: Request) -> JSONResponse:
        if not authenticated(request):
            return error(401, "Your API key is wrong")
        report_id = request.path_params["id"]
        doc = store.get(reports_table, str(report_id))
        if doc is None:
            return error(404, f"Report {report_id} not found")
        return JSONResponse(project(doc, projection(request)))

    async def list_reports(request: Request) -> JSONResponse:
        if not authenticated(request):
            return error(401, "Your API key is wrong")
        has_rls = request.query_params.get("has_rls")
        fields = projection(request)
        docs = sorted(store.all(reports_table), key=lambda doc: int(doc["id"]))
        if has_rls is not None:
            docs = [doc for doc in docs if str(doc.get("has_rls")) == has_rls]
        return JSONResponse([project(doc, fields) for doc in docs])

    return Starlette(
        routes=[
            Route(f"{BASE}/report", list_reports, methods=["GET"]),
            Route(f"{BASE}/report/{{id:int}}", get_report, methods=["GET"]),
        ]
    )


def serve(app_name: str, conn: Connection) -> None:
    """Server process: build the app, bind an ephemeral loopback port, send it back, serve until SIGTERM."""
    import uvicorn

    pin(SERVER_CPU)
    app = twin_app() if app_name == "twin" else bare_app()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    sock.listen(2048)
    config = uvicorn.Config(app, workers=1, log_level="error", access_log=False, lifespan="off")
    conn.send(sock.getsockname()[1])
    conn.close()
    uvicorn.Server(config).run(sockets=[sock])


@dataclass
class Server:
    name: str
    process: multiprocessing.process.BaseProcess | subprocess.Popen[bytes]
    port: int
    base: str = BASE  # where the API's paths start (Prism serves them at the root)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{self.base}"

    def stop(self) -> None:
        if isinstance(self.process, subprocess.Popen):
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        else:
            stop_server(self.process)


def prism_command() -> list[str] | None:
    """Prism's command line, installed with npm into the cache directory if missing; None without npm."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "apitwin" / "prism"
    binary = cache / "node_modules" / ".bin" / "prism"
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None:
            return None
        cache.mkdir(parents=True, exist_ok=True)
        print(f"  installing Prism {PRISM_VERSION} with npm into {cache}...", file=sys.stderr, flush=True)
        subprocess.run(
            [
                npm,
                "install",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(cache),
                f"@stoplight/prism-cli@{PRISM_VERSION}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return [str(binary)]


def start_prism(command: list[str], spec: Path, log_level: str) -> Server:
    """Prism mocking the bundled spec (the twin's own document, x-twin and all: Prism ignores extensions), as a
    user starts it (`prism mock spec`; its log, one line per request at its default level, goes to /dev/null)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [*command, "mock", "--host", HOST, "--port", str(port), "--verboseLevel", log_level, str(spec)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: pin(SERVER_CPU),
    )
    return Server("prism", process, port, base="")


def start_server(name: str) -> Server:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=serve, args=(name, child), name=f"bench-{name}", daemon=True)
    process.start()
    child.close()
    if not parent.poll(STARTUP_TIMEOUT):
        stop_server(process)
        raise RuntimeError(f"the {name} server did not start within {STARTUP_TIMEOUT:g} s")
    port = int(parent.recv())
    parent.close()
    return Server(name, process, port)


def stop_server(process: multiprocessing.process.BaseProcess) -> None:
    if process.is_alive():
        process.terminate()  # uvicorn shuts down cleanly on SIGTERM
        process.join(STOP_TIMEOUT)
    if process.is_alive():
        process.kill()
        process.join(STOP_TIMEOUT)


def pin(cpu: int) -> None:
    """Keep this process on one CPU (Linux, 2+ CPUs): client and server then each own a core instead of being
    packed onto one by the scheduler, which made runs on this VM swing by 2x."""
    if hasattr(os, "sched_setaffinity") and cpu in os.sched_getaffinity(0) and len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {cpu})


def process_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process, from /proc (Linux); None elsewhere."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def machine_busy_cpus(window: float = 0.5) -> float | None:
    """How many CPUs the whole machine keeps busy over `window` seconds, from /proc/stat (Linux)."""

    def sample() -> tuple[int, int]:
        ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(ticks), ticks[3] + ticks[4]  # all, idle + iowait

    try:
        total_before, idle_before = sample()
        time.sleep(window)
        total_after, idle_after = sample()
    except (OSError, ValueError, IndexError):
        return None
    total = total_after - total_before
    busy = total - (idle_after - idle_before)
    return (os.cpu_count() or 1) * busy / total if total else None


# the load generator


async def wait_ready(client: httpx.AsyncClient, path: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            response = await client.get(path)
            if response.status_code == 200:
                return
            raise RuntimeError(f"{client.base_url}{path} answered {response.status_code}: {response.text[:200]}")
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def check_same_bodies(servers: Sequence[Server], loads: Sequence[Workload], headers: dict[str, str]) -> None:
    """Refuse to time apps that do not answer the same thing."""
    for workload in loads:
        for path in workload.paths:
            bodies = {}
            for server in servers:
                async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=10) as client:
                    await wait_ready(client, path)
                    bodies[server.name] = (await client.get(path)).json()
            if len({json.dumps(body, sort_keys=True) for body in bodies.values()}) != 1:
                raise RuntimeError(f"the apps answer {path} differently: {bodies}")


async def measure(
    server: Server,
    workload: Workload,
    headers: dict[str, str],
    *,
    concurrency: int,
    warmup: float,
    seconds: float,
) -> Result:
    latencies: list[float] = []
    errors = 0
    counter = itertools.count()
    cpu_marks: dict[str, tuple[float | None, float]] = {}
    # One client (one keep-alive connection) per worker: a shared pool costs O(connections) per request.
    clients = [
        httpx.AsyncClient(base_url=server.url, headers=headers, limits=httpx.Limits(max_connections=1), timeout=10)
        for _ in range(concurrency)
    ]
    measure_start = time.perf_counter() + warmup
    deadline = measure_start + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while True:
            path = workload.paths[next(counter) % len(workload.paths)]
            start = time.perf_counter()
            if start >= deadline:
                return
            if start >= measure_start and "start" not in cpu_marks:
                cpu_marks["start"] = (process_cpu_seconds(server.process.pid), time.process_time())
            try:
                status = (await client.get(path)).status_code
            except httpx.TransportError:
                status = 0
            elapsed = time.perf_counter() - start
            if start >= measure_start:
                if status == 200:
                    latencies.append(elapsed)
                else:
                    errors += 1

    try:
        await asyncio.wait_for(asyncio.gather(*(worker(client) for client in clients)), warmup + seconds + 30)
        server_end, client_end = process_cpu_seconds(server.process.pid), time.process_time()
        wall = time.perf_counter() - measure_start
    finally:
        for client in clients:
            await client.aclose()
    server_start, client_start = cpu_marks.get("start", (None, client_end))
    server_cpu = None if server_start is None or server_end is None else server_end - server_start
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else [0.0] * 99
    return Result(
        workload=workload.name,
        app=server.name,
        requests=len(latencies),
        errors=errors,
        seconds=seconds,
        rps=len(latencies) / seconds,
        p50_ms=cuts[49] * 1000,
        p99_ms=cuts[98] * 1000,
        server_cpu_pct=None if server_cpu is None else 100 * server_cpu / wall,
        server_cpu_us_per_request=None if server_cpu is None or not latencies else 1e6 * server_cpu / len(latencies),
        client_cpu_pct=100 * (client_end - client_start) / wall,
    )


WRK_SCRIPT = """
local paths = {%s}
local n = 0
wrk.headers["Authorization"] = "%s"
request = function()
  n = n + 1
  return wrk.format("GET", "%s" .. paths[(n %% #paths) + 1])
end
"""
_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def measure_wrk(
    server: Server,
    workload: Workload,
    headers: dict[str, str],
    *,
    concurrency: int,
    warmup: float,
    seconds: float,
) -> Result:
    """One case with wrk: a warm-up run, then the measured one; its own req/s, latency percentiles and errors."""
    quoted = ", ".join(json.dumps(path) for path in workload.paths)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="apitwin-bench-", delete=False) as file:
        file.write(WRK_SCRIPT % (quoted, headers["Authorization"], server.base))
    script = Path(file.name)
    origin = f"http://{HOST}:{server.port}"

    def wrk(duration: float) -> str:
        command = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--latency", "-s", str(script)]
        return subprocess.run(
            [*command, origin], capture_output=True, text=True, check=True, preexec_fn=lambda: pin(CLIENT_CPU)
        ).stdout

    try:
        if warmup:
            wrk(warmup)
        server_start, client_start = process_cpu_seconds(server.process.pid), _children_cpu_seconds()
        wall_start = time.perf_counter()
        output = wrk(seconds)
        wall = time.perf_counter() - wall_start
        server_end, client_end = process_cpu_seconds(server.process.pid), _children_cpu_seconds()
    finally:
        script.unlink(missing_ok=True)
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = (int(bad.group(1)) if bad else 0) + (sum(map(int, socket_errors.groups())) if socket_errors else 0)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    answered = total - (int(bad.group(1)) if bad else 0)

    def percentile(label: str) -> float:
        found = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s|m)$", output, re.MULTILINE)
        return float(found.group(1)) * _WRK_UNITS[found.group(2)] if found else float("nan")

    server_cpu = None if server_start is None or server_end is None else server_end - server_start
    return Result(
        workload=workload.name,
        app=server.name,
        requests=answered,
        errors=errors,
        seconds=seconds,
        rps=rps * answered / total if total else 0.0,
        p50_ms=percentile("50"),
        p99_ms=percentile("99"),
        server_cpu_pct=None if server_cpu is None else 100 * server_cpu / wall,
        server_cpu_us_per_request=None if server_cpu is None or not answered else 1e6 * server_cpu / answered,
        client_cpu_pct=100 * (client_end - client_start) / wall,
    )


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def run_all(servers: Sequence[Server], loads: Sequence[Workload], args: argparse.Namespace) -> list[Result]:
    """Every case `--repeat` times, rounds interleaved; per case, the round with the most req/s is kept (the one
    least disturbed by anything else running on the machine)."""
    headers = {"Authorization": load_fixture()["credentials"][0]["credential"]}  # the administrator
    # Prism answers the spec's examples, not the state: its bodies differ, but every path must answer 200
    await check_same_bodies([server for server in servers if server.name != "prism"], loads, headers)
    for server in servers:
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=10) as client:
            for workload in loads:
                for path in workload.paths:
                    await wait_ready(client, path)
    rounds: dict[tuple[str, str], list[Result]] = {}
    for round_number in range(1, args.repeat + 1):
        for workload in loads:
            for server in servers:
                label = f" (round {round_number}/{args.repeat})" if args.repeat > 1 else ""
                print(f"  measuring {workload.name} on {server.name}{label}...", file=sys.stderr, flush=True)
                options = {"concurrency": args.concurrency, "warmup": args.warmup, "seconds": args.seconds}
                if args.client == "wrk":
                    result = await asyncio.to_thread(measure_wrk, server, workload, headers, **options)
                else:
                    result = await measure(server, workload, headers, **options)
                rounds.setdefault((workload.name, server.name), []).append(result)
    return [
        replace(max(runs, key=lambda r: r.rps), rps_rounds=tuple(round(r.rps, 1) for r in runs))
        for runs in rounds.values()
    ]


# in process: the apps' own cost, with no network and no HTTP client


async def asgi_get(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    """One GET straight through the ASGI interface; the response status."""
    route, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": route,
        "raw_path": route.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", HOST.encode()), *headers],
        "client": (HOST, 1),
        "server": (HOST, 80),
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope, receive, send)
    return status


async def run_in_process(loads: Sequence[Workload], seconds: float) -> list[InProcessResult]:
    """Sequential requests, one at a time, for `seconds` per case after a short warm-up."""
    credential = load_fixture()["credentials"][0]["credential"]
    headers = [(b"authorization", credential.encode()), (b"accept", b"*/*")]
    apps = {"twin": twin_app(), "bare": bare_app()}
    results = []
    for workload in loads:
        for name, app in apps.items():
            print(f"  in process: {workload.name} on {name}...", file=sys.stderr, flush=True)
            for path in workload.paths * 10:  # warm-up, and a check that every path answers 200
                if (status := await asgi_get(app, BASE + path, headers)) != 200:
                    raise RuntimeError(f"{name} answered {status} to {path} in process")
            done = 0
            start = time.perf_counter()
            deadline = start + seconds
            while time.perf_counter() < deadline:
                await asgi_get(app, BASE + workload.paths[done % len(workload.paths)], headers)
                done += 1
            elapsed = time.perf_counter() - start
            results.append(InProcessResult(workload.name, name, done, done / elapsed, 1e6 * elapsed / done))
    return results


def in_process_table(results: Sequence[InProcessResult]) -> str:
    bare = {r.workload: r.rps for r in results if r.app == "bare"}
    lines = [f"{'workload':<14}  {'app':<4}  {'req/s':>7}  {'us/req':>6}  twin/bare"]
    for r in results:
        ratio = f"{r.rps / bare[r.workload]:.2f}" if r.app == "twin" and bare.get(r.workload) else ""
        lines.append(f"{r.workload:<14}  {r.app:<4}  {r.rps:>7,.0f}  {r.us_per_request:>6,.0f}  {ratio:>9}")
    return "\n".join(lines)


# reporting


def ratios(results: Sequence[Result]) -> dict[str, dict[str, float]]:
    """Per workload: twin req/s over bare req/s ("rps") and over Prism's ("prism"), and twin server CPU per
    request over bare's."""
    by_case = {(r.workload, r.app): r for r in results}
    out: dict[str, dict[str, float]] = {}
    for (workload, app), twin in by_case.items():
        bare, prism = by_case.get((workload, "bare")), by_case.get((workload, "prism"))
        if app != "twin" or bare is None or not bare.rps:
            continue
        out[workload] = {"rps": twin.rps / bare.rps}
        if prism is not None and prism.rps:
            out[workload]["prism"] = twin.rps / prism.rps
        if twin.server_cpu_us_per_request and bare.server_cpu_us_per_request:
            out[workload]["cpu_per_request"] = twin.server_cpu_us_per_request / bare.server_cpu_us_per_request
    return out


def table(results: Sequence[Result]) -> str:
    ratio = ratios(results)
    header = (
        "workload",
        "app",
        "requests",
        "req/s",
        "p50 ms",
        "p99 ms",
        "server CPU",
        "CPU/req",
        "client CPU",
        "twin/bare",
        "twin/prism",
    )
    rows = [header]
    for r in results:
        rows.append(
            (
                r.workload,
                r.app,
                f"{r.requests:,}" + (f" (+{r.errors} errors)" if r.errors else ""),
                f"{r.rps:,.0f}",
                f"{r.p50_ms:.2f}",
                f"{r.p99_ms:.2f}",
                "n/a" if r.server_cpu_pct is None else f"{r.server_cpu_pct:.0f}%",
                "n/a" if r.server_cpu_us_per_request is None else f"{r.server_cpu_us_per_request:,.0f} us",
                f"{r.client_cpu_pct:.0f}%",
                f"{ratio[r.workload]['rps']:.2f}" if r.app == "twin" and r.workload in ratio else "",
                f"{ratio[r.workload]['prism']:.2f}" if r.app == "twin" and "prism" in ratio.get(r.workload, {}) else "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary(results: Sequence[Result]) -> list[str]:
    lines = []
    for workload, ratio in ratios(results).items():
        line = f"{workload}: twin/bare req/s = {ratio['rps']:.2f}"
        if "cpu_per_request" in ratio:
            line += f"; the twin's server spends {ratio['cpu_per_request']:.1f}x the bare app's CPU per request"
        lines.append(line)
        targets = TARGETS.get(workload, {})
        verdicts = [f"twin/bare {ratio['rps']:.2f} {_verdict(ratio['rps'], targets.get('bare'))}"]
        if "prism" in ratio:
            verdicts.append(f"twin/prism {ratio['prism']:.2f} {_verdict(ratio['prism'], targets.get('prism'))}")
        lines.append(f"  targets: {'; '.join(verdicts)}")
    for r in results:
        if r.server_cpu_pct is not None and r.server_cpu_pct < 80 and r.client_cpu_pct > 90:
            lines.append(
                f"{r.workload} on {r.app}: client-bound (server {r.server_cpu_pct:.0f}% busy, client "
                f"{r.client_cpu_pct:.0f}%), so its req/s is a floor of what the server can do"
            )
    return lines


def _verdict(value: float, target: float | None) -> str:
    if target is None:
        return ""
    return f"(target >= {target:g}: {'met' if value >= target else 'MISSED'})"


def environment(args: argparse.Namespace) -> dict[str, Any]:
    import starlette
    import uvicorn

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "uvicorn": uvicorn.__version__,
        "starlette": starlette.__version__,
        "httpx": httpx.__version__,
        "client": args.client,
        "wrk": _wrk_version() if args.client == "wrk" else None,
        "prism": PRISM_VERSION if args.prism else None,
        "client_loop": "uvloop" if _uvloop_factory() else "asyncio",
        "busy_cpus_before": machine_busy_cpus(),
        "concurrency": args.concurrency,
        "warmup_seconds": args.warmup,
        "seconds": args.seconds,
        "repeat": args.repeat,
    }


def _wrk_version() -> str:
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).split("\n", 1)[0].strip()


def _uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _quiet_sniffio_probe() -> None:
    """httpcore runs `import sniffio` on every request; without sniffio installed (anyio 4 no longer needs
    it) each failed import scans sys.path, about a fifth of the client's time. Record the absence once."""
    if importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]  # makes `import sniffio` fail at once


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per case (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per case (default 1)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent client workers (default 16)")
    parser.add_argument("--repeat", type=int, default=1, help="measure every case N times, keep the best (default 1)")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="also time each app called directly through ASGI, one request at a time: no network, no client",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results to FILE as JSON")
    parser.add_argument(
        "--client",
        choices=("auto", "wrk", "httpx"),
        default="auto",
        help="the load generator: wrk (a C client) when installed, else httpx (default auto)",
    )
    parser.add_argument(
        "--no-prism", dest="prism", action="store_false", help="leave Prism out (it needs Node.js and npm)"
    )
    parser.add_argument(
        "--prism-log-level",
        default="info",
        choices=("trace", "debug", "info", "warn", "error", "fatal", "silent"),
        help="Prism's --verboseLevel (default info, Prism's own default: a log line per request)",
    )
    args = parser.parse_args(argv)
    if args.client == "auto":
        args.client = "wrk" if shutil.which("wrk") else "httpx"
    elif args.client == "wrk" and not shutil.which("wrk"):
        parser.error("--client wrk: wrk is not installed (Debian: apt-get install wrk)")
    if not 0 < args.seconds <= 600 or not 0 <= args.warmup <= 60 or not 1 <= args.concurrency <= 256:
        parser.error("need 0 < --seconds <= 600, 0 <= --warmup <= 60 and 1 <= --concurrency <= 256")
    if not 1 <= args.repeat <= 20:
        parser.error("need 1 <= --repeat <= 20")
    return args


STARTUP_TARGET_SECONDS = 2.0
_STARTUP_PROBE = """
import resource, time
started = time.perf_counter()
from apitwin.app import create_app
app = create_app()
print(time.perf_counter() - started, len(app.state.runtime.twins), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def startup_seconds(rounds: int = 3) -> tuple[float, int, float]:
    """Median seconds from the first import to an app serving every twin, each round in a fresh process (no
    cache of an earlier round helps), how many twins that was, and the process's peak RSS then (MiB, median)."""
    times, memory, twins = [], [], 0
    for _ in range(rounds):
        done = subprocess.run([sys.executable, "-c", _STARTUP_PROBE], capture_output=True, text=True, check=True)
        seconds, count, peak_kib = done.stdout.split()
        times.append(float(seconds))
        memory.append(int(peak_kib) / 1024)  # Linux reports ru_maxrss in KiB
        twins = int(count)
    return statistics.median(times), twins, statistics.median(memory)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    _quiet_sniffio_probe()
    report_ids = [int(doc["id"]) for doc in load_fixture()["collections"]["reports"]]
    loads = workloads(report_ids)
    env = environment(args)
    print(
        f"apitwin throughput: Datascaphe twin vs bare Starlette{' and Prism ' + PRISM_VERSION if args.prism else ''}. "
        f"uvicorn {env['uvicorn']}, 1 worker, one process per app, on 127.0.0.1;\n"
        + (
            f"{env['wrk']} client, 1 thread, {args.concurrency} connections"
            if args.client == "wrk"
            else f"httpx {env['httpx']} client ({env['client_loop']} loop) with {args.concurrency} workers"
        )
        + f", {args.warmup:g} s warm-up + {args.seconds:g} s per case"
        f"{f', best of {args.repeat} rounds' if args.repeat > 1 else ''}; Python {env['python']}, {env['cpus']} CPUs."
    )
    bottleneck = (
        "wrk saturates each server's core, so req/s compares the servers' own costs"
        if args.client == "wrk"
        else "The httpx client is the bottleneck for the bare app, so the req/s ratio understates the twin's\n"
        "overhead: 'CPU/req' (server CPU time per request) is the fairer cost"
    )
    print(
        f"The load generator shares these CPUs with the servers (client on CPU {CLIENT_CPU}, servers on CPU "
        f"{SERVER_CPU}).\n{bottleneck}.\n'server CPU' and 'client CPU' are % of one core over the measured window. "
        "Compare ratios from one run, not req/s.\n",
        flush=True,
    )
    startup, twins, rss_mib = startup_seconds()
    verdict = "within" if startup < STARTUP_TARGET_SECONDS else "OVER"
    print(
        f"start-up: {startup:.2f} s to an app serving all {twins} twins (fresh process, median of 3; "
        f"{verdict} the {STARTUP_TARGET_SECONDS:g} s target); peak RSS after start {rss_mib:.0f} MiB\n",
        flush=True,
    )
    if (env["busy_cpus_before"] or 0) > 0.25:
        print(f"warning: other processes keep {env['busy_cpus_before']:.1f} CPUs busy: expect noisy numbers.\n")
    servers: list[Server] = []
    spec = Path(tempfile.gettempdir()) / f"apitwin-bench-{os.getpid()}-datascaphe.json"
    try:
        for name in APPS:
            servers.append(start_server(name))
        prism = prism_command() if args.prism else None
        if prism is not None:
            spec.write_text(json.dumps(bundled_spec()), encoding="utf-8")
            servers.append(start_prism(prism, spec, args.prism_log_level))
        elif args.prism:
            print("Prism left out: npm is not installed\n", flush=True)
        pin(CLIENT_CPU)
        with asyncio.Runner(loop_factory=_uvloop_factory()) as runner:
            results = runner.run(run_all(servers, loads, args))
    finally:
        for server in servers:
            server.stop()
        spec.unlink(missing_ok=True)
    print(table(results))
    print()
    print("\n".join(summary(results)))
    in_process: list[InProcessResult] = []
    if args.in_process:
        with asyncio.Runner(loop_factory=_uvloop_factory()) as runner:
            in_process = runner.run(run_in_process(loads, args.seconds))
        print("\nIn process (each app called through ASGI, sequentially, in this process: the apps' own cost):")
        print(in_process_table(in_process))
    if args.json:
        payload = {
            "environment": env,
            "results": [asdict(r) for r in results],
            "twin_over_bare": ratios(results),
            "in_process": [asdict(r) for r in in_process],
            "startup_seconds": startup,
            "startup_peak_rss_mib": rss_mib,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    failed = sum(r.errors for r in results)
    if failed:
        print(f"{failed} requests failed during measurement", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
