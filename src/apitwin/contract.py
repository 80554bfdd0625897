"""`apitwin check`: Schemathesis against a twin started for the run, or against a real deployment.

Schemathesis runs as a subprocess through its CLI (its stable interface: reports, exit codes, output) with a
config file generated per run, in a temporary working directory: no `schemathesis.toml` of the caller's is
picked up, and no `.hypothesis/` or `.schemathesis/` folder is left in the project.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from apitwin.twins import TWINS, Twin

Echo = Callable[..., object]

# Every phase: the spec's examples, boundary values (coverage), random data, and sequences along the links.
PHASES = "examples,coverage,fuzzing,stateful"
REQUEST_TIMEOUT = 10  # seconds; a twin answers in milliseconds, a real service should well within this
# The header value travels in the environment, not in argv where `ps` would show a real credential.
AUTH_ENV = "APITWIN_CHECK_AUTHORIZATION"

# Operations where a schema-valid request may still be rightly refused with 400, for a reason JSON Schema
# cannot express. For these, and only for ST202 (positive_data_acceptance), 400 joins Schemathesis' default
# tolerated statuses; every other check, and every other status, still applies.
TOLERATED_400: dict[str, dict[str, str]] = {
    "datascaphe": {
        operation: "use_id_service_principal must name an existing service principal"
        for operation in ("createReport", "updateReport")
    },
    "datascale": {"ingestContent": "content must be SQL that parses for the platform (PARSER_ERROR)"},
    "dataiku": {
        "startSqlQuery": "the query must run on the connection's tables, and name a connection, database or dataset",
        **{
            operation: "columns must be columns of the dataset and the filter a formula over them"
            for operation in ("getDatasetData", "postDatasetData")
        },
    },
}
_TOLERATED_STATUSES = ["2xx", "3xx", 400, 401, 403, 404, 409, 429, "5xx"]


def run_check(
    api: str,
    *,
    target: str | None = None,
    credential: str | None = None,
    junit: Path | None = None,
    max_examples: int = 25,
    seed: int = 1,
    echo: Echo = click.echo,
) -> int:
    """Run every Schemathesis check against `target` (a base URL) or a fresh twin: 0 pass, 1 fail, 2 usage."""
    twin = TWINS.get(api)
    if twin is None:
        echo(f"apitwin check: unknown twin {api!r}; choose from {', '.join(TWINS)}", err=True)
        return 2
    if target is None:
        with _local_twin(api) as (base_url, local_credential):
            return _run(twin, base_url, local_credential, junit, max_examples, seed, echo, "a twin started for the run")
    if not credential:
        scheme = twin.auth_hint.format(credential="<credential>")
        echo(f"apitwin check: --target needs a credential (--auth or APITWIN_AUTH), sent as {scheme}", err=True)
        return 2
    pace: list[str] = []
    if twin.rate_limit is not None:
        # A real service enforces its limit: unpaced, most of the run would only meet 429s. Schemathesis takes
        # whole units, so the window is rounded to a per-minute rate (100 per 300 s: 20/m).
        per_minute = max(1, int(twin.rate_limit.requests * 60 / twin.rate_limit.window_seconds))
        pace = ["--rate-limit", f"{per_minute}/m"]
        echo(f"apitwin: pacing requests at {per_minute}/minute, within {twin.title}'s documented rate limit")
    return _run(twin, target.rstrip("/"), credential, junit, max_examples, seed, echo, target, pace)


def _run(
    twin: Twin,
    base_url: str,
    credential: str,
    junit: Path | None,
    max_examples: int,
    seed: int,
    echo: Echo,
    label: str,
    extra: list[str] | None = None,
) -> int:
    header, _, value = twin.auth_hint.format(credential=credential).partition(":")
    tolerated = TOLERATED_400.get(twin.name, {})
    for operation, reason in tolerated.items():
        echo(f"apitwin: ST202 tolerates 400 on {operation}: {reason}")
    with tempfile.TemporaryDirectory(prefix="apitwin-check-") as workdir:
        config = Path(workdir, "schemathesis.toml")
        config.write_text(_config(header.strip(), tolerated), encoding="utf-8")
        # The spec FILE with --url: Schemathesis requests base_url + path and ignores the spec's `servers`.
        command = [
            *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color", "run"),
            *(str(twin.spec_path), "--url", base_url),
            *("--checks", "all", "--mode", "all", "--phases", PHASES),
            *("--max-examples", str(max_examples), "--seed", str(seed)),
            *("--generation-database", "none"),  # no failing examples replayed from earlier runs
            *("--request-timeout", str(REQUEST_TIMEOUT)),
            *(extra or []),
        ]
        if junit is not None:
            junit = junit.resolve()  # Schemathesis runs in the temporary directory
            junit.parent.mkdir(parents=True, exist_ok=True)
            command += ["--report", "junit", "--report-junit-path", str(junit)]
        env = {**os.environ, AUTH_ENV: value.strip(), "PYTHONIOENCODING": "utf-8"}
        code = _stream(command, workdir, env, echo)
    verdict = {0: "passed", 1: "FAILED"}.get(code, f"could not run (Schemathesis exit code {code})")
    report = f"; JUnit report {junit}" if junit is not None else ""
    echo(f"apitwin check {twin.name} against {label} ({base_url}): {verdict}{report}")
    return code if code in (0, 1) else 2


def _config(header: str, tolerated: dict[str, str]) -> str:
    """The per-run schemathesis.toml; `${...}` is filled from the environment by Schemathesis."""
    lines = ["[headers]", f"{json.dumps(header)} = {json.dumps('${' + AUTH_ENV + '}')}"]
    for operation in tolerated:
        lines += [
            "[[operations]]",
            f"include-operation-id = {json.dumps(operation)}",
            f"checks.positive_data_acceptance.expected-statuses = {json.dumps(_TOLERATED_STATUSES)}",
        ]
    return "\n".join(lines) + "\n"


def _stream(command: list[str], cwd: str, env: dict[str, str], echo: Echo) -> int:
    """Run the command, handing each output line to echo (so Click's test runner sees it too)."""
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            echo(line.rstrip("\n"))
        return process.wait()


@contextmanager
def serve_in_background(app: Any) -> Iterator[str]:
    """Serve an ASGI app on 127.0.0.1 on a free port, in a daemon thread; yields its origin."""
    import uvicorn

    # No websockets (uvicorn's websockets support warns on import) and no lifespan: the apps need neither.
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", ws="none", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="apitwin-check-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def _local_twin(api: str) -> Iterator[tuple[str, str]]:
    """A fresh twin (in memory, fixtures just loaded, no rate limit so fuzzing never meets 429): its base URL
    and its first (most privileged) credential."""
    from apitwin.app import create_app, describe

    app = create_app([api], prefixed=False, validate_responses=True, rate_limits={api: None})
    runtime = app.state.runtime
    with serve_in_background(app) as origin:
        yield describe(runtime, origin)["twins"][0]["base_url"], runtime.twins[api].credentials()[0]["credential"]
