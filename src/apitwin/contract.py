"""`apitwin check`: Schemathesis against a twin started for the run, or against a real deployment.

Schemathesis runs as a subprocess through its CLI (its stable interface: reports, exit codes, output) with a
config file generated per run, in a temporary working directory: no `schemathesis.toml` of the caller's is
picked up, and no `.hypothesis/` or `.schemathesis/` folder is left in the project. Its output streams live
as progress; its NDJSON event stream is then read back (`apitwin.reports`) for the summary table and the
Markdown/HTML report.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from apitwin.reports import (
    HTTP_METHODS,
    Operation,
    RunError,
    RunInfo,
    RunStats,
    documented_operations,
    read_events,
    summary_table,
    write_report,
)
from apitwin.serving import local_twin
from apitwin.twins import TWINS, Twin

Echo = Callable[..., object]

# Every phase: the spec's examples, boundary values (coverage), random data, and sequences along the links.
PHASES = "examples,coverage,fuzzing,stateful"
REQUEST_TIMEOUT = 10  # seconds; a twin answers in milliseconds, a real service should well within this
# The header value travels in the environment, not in argv where `ps` would show a real credential.
AUTH_ENV = "APITWIN_CHECK_AUTHORIZATION"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REPORT_SUFFIXES = (".md", ".html", ".htm")
# Schemathesis' `--rate-limit` values: a pace such as 20/m, or "auto" (wait out 429s per Retry-After).
_PACE = re.compile(r"auto|off|[1-9][0-9]*/[smhd]")

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
# Schemathesis 4.32's defaults for missing_required_header, plus 429: the one check whose defaults lack it
# (negative_data_rejection and positive_data_acceptance already accept 429).
_MISSING_HEADER_STATUSES = [400, 401, 403, 406, 415, 422, 429]


class UsageError(Exception):
    """A problem with the arguments, found before anything runs (exit code 2)."""


def run_check(
    api: str,
    *,
    target: str | None = None,
    credential: str | None = None,
    junit: Path | None = None,
    report: Path | None = None,
    ndjson: Path | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    read_only: bool = False,
    pace: str | None = None,
    max_examples: int = 25,
    seed: int = 1,
    echo: Echo = click.echo,
) -> int:
    """Run every Schemathesis check against `target` (a base URL) or a fresh twin: 0 pass, 1 fail, 2 usage.

    - `credential` (for `target` only, in the API's scheme, see `Twin.auth_hint`): the argument, else the
      environment's `APITWIN_<TWIN>_AUTH` (e.g. `APITWIN_DATAIKU_AUTH`), else `APITWIN_AUTH`.
    - `include` / `exclude`: selectors, each an operationId, `tag:NAME`, or a path template starting with `/`
      (`*` matches anything, e.g. `/projects/*/datasets*`). Operations matching any include (all when none)
      and no exclude are run; an include matching no operation of the spec is a usage error.
    - `read_only`: only GET, HEAD and OPTIONS operations, and no probing of undocumented methods, so nothing
      is written to a production target.
    - `pace`: `N/s`, `N/m`, `N/h`, `N/d`, `auto` (on a 429, wait for its Retry-After and send again) or `off`.
      By default a target is paced within the API's documented rate limit, or `auto` when none is documented;
      a twin started for the run is not paced. A 429 is never a failure (see `document_rate_limiting`).
    - `junit`, `report` (`.md` or `.html`), `ndjson` (Schemathesis' raw event stream): files to write.
    """
    twin = TWINS.get(api)
    if twin is None:
        echo(f"apitwin check: unknown twin {api!r}; choose from {', '.join(TWINS)}", err=True)
        return 2
    try:
        if report is not None and report.suffix.lower() not in REPORT_SUFFIXES:
            raise UsageError(f"--report must end with {', '.join(REPORT_SUFFIXES)}, not {report.name!r}")
        if pace is not None and not _PACE.fullmatch(pace):
            raise UsageError(f"--pace is N/s, N/m, N/h, N/d, auto or off (e.g. 20/m), not {pace!r}")
        documented = documented_operations_of(twin)
        selected, filters = select_operations(documented, include, exclude, read_only)
        if target is not None:
            credential = resolve_credential(twin, credential)
            if not credential:
                scheme = twin.auth_hint.format(credential="<credential>")
                raise UsageError(
                    f"--target needs a credential (--auth, {_twin_env(twin)} or APITWIN_AUTH), sent as {scheme}"
                )
    except UsageError as exc:
        echo(f"apitwin check: {exc}", err=True)
        return 2
    pacing, note = pace_options(twin, pace, remote=target is not None)
    plan = _Plan(
        twin=twin,
        documented=documented,
        operations=selected,
        filters=filters,
        selection=_describe_selection(include, exclude, read_only),
        read_only=read_only,
        pace=pacing,
        junit=junit,
        report=report,
        ndjson=ndjson,
        max_examples=max_examples,
        seed=seed,
    )
    if target is None:
        with local_twin(api) as (base_url, local_credential):
            return _run(replace(plan, base_url=base_url, credential=local_credential), echo)
    if note:
        echo(f"apitwin: {note}")
    return _run(replace(plan, base_url=target.rstrip("/"), credential=credential or "", remote=True), echo)


@dataclass(frozen=True)
class _Plan:
    """Everything one run needs. `base_url` and `credential` are the twin's when not `remote`."""

    twin: Twin
    documented: list[Operation]  # every operation of the spec, for the report's coverage
    operations: list[Operation]  # those selected
    filters: list[str]  # the Schemathesis options selecting them
    selection: str  # the same, for people
    read_only: bool
    pace: list[str]
    junit: Path | None
    report: Path | None
    ndjson: Path | None
    max_examples: int
    seed: int
    base_url: str = ""
    credential: str = ""
    remote: bool = False

    @property
    def target(self) -> str:
        return self.base_url if self.remote else f"a twin started for the run ({self.base_url})"


def documented_operations_of(twin: Twin) -> list[Operation]:
    from apitwin.spec import load_resolved

    # Resolved, so a path item kept in another file (a split spec) is listed too.
    return documented_operations(load_resolved(twin.spec_path))


def _describe_selection(include: Sequence[str], exclude: Sequence[str], read_only: bool) -> str:
    parts = [
        f"include {', '.join(include)}" if include else "",
        f"exclude {', '.join(exclude)}" if exclude else "",
        "read-only (GET, HEAD, OPTIONS)" if read_only else "",
    ]
    return "; ".join(part for part in parts if part)


def resolve_credential(twin: Twin, credential: str | None) -> str | None:
    """The credential for a real deployment: given, else `APITWIN_<TWIN>_AUTH`, else `APITWIN_AUTH`."""
    return credential or os.environ.get(_twin_env(twin)) or os.environ.get("APITWIN_AUTH") or None


def _twin_env(twin: Twin) -> str:
    return f"APITWIN_{re.sub(r'[^A-Z0-9]', '_', twin.name.upper())}_AUTH"


def pace_options(twin: Twin, pace: str | None, *, remote: bool) -> tuple[list[str], str]:
    """Schemathesis' --rate-limit option for the run, and what to tell the user about it."""
    if pace == "off" or (pace is None and not remote):
        return [], ""  # a twin started for the run has no rate limit
    if pace is not None:
        return ["--rate-limit", pace], f"pacing requests at {pace}"
    if twin.rate_limit is None:
        return ["--rate-limit", "auto"], "no documented rate limit: a 429 is waited out per its Retry-After"
    # A real service enforces its limit: unpaced, most of the run would only meet 429s. Schemathesis takes
    # whole units, so the window is rounded to a per-minute rate (100 per 300 s: 20/m).
    per_minute = max(1, int(twin.rate_limit.requests * 60 / twin.rate_limit.window_seconds))
    return ["--rate-limit", f"{per_minute}/m"], (
        f"pacing requests at {per_minute}/minute, within {twin.title}'s documented rate limit"
    )


# -- selecting operations ----------------------------------------------------------------------------------


def select_operations(
    operations: Sequence[Operation], include: Sequence[str], exclude: Sequence[str], read_only: bool
) -> tuple[list[Operation], list[str]]:
    """The operations a run tests, and the Schemathesis options that select exactly those.

    The selection is computed here too (Schemathesis' semantics: any include, then no exclude) so an include
    that matches nothing is reported before anything runs, and the summary lists what was selected.
    """
    both = sorted(set(include) & set(exclude))
    if both:
        raise UsageError(f"{', '.join(both)} is both included and excluded")
    includes = [_Selector.parse(text) for text in dict.fromkeys(include)]
    excludes = [_Selector.parse(text) for text in dict.fromkeys(exclude)]
    for selector in includes:
        if not any(selector.matches(operation) for operation in operations):
            raise UsageError(f"--include {selector.text!r} matches no operation of the spec{selector.hint(operations)}")
    selected = [
        operation
        for operation in operations
        if (not includes or any(s.matches(operation) for s in includes))
        and not any(s.matches(operation) for s in excludes)
        and (not read_only or operation.method in SAFE_METHODS)
    ]
    if not selected:
        raise UsageError(
            "no operation left to test" + (" (--read-only keeps GET, HEAD and OPTIONS)" if read_only else "")
        )
    filters = _filter_options("include", includes) + _filter_options("exclude", excludes)
    if read_only:
        # Excludes win over includes in Schemathesis, so these hold whatever the user included.
        unsafe = sorted({operation.method for operation in operations} - SAFE_METHODS)
        filters += [option for method in unsafe for option in ("--exclude-method", method)]
    return selected, filters


@dataclass(frozen=True)
class _Selector:
    text: str
    kind: str  # Schemathesis' filter name: operation-id, tag, path, path-regex
    value: str

    @classmethod
    def parse(cls, text: str) -> _Selector:
        if text.startswith("tag:"):
            return cls(text, "tag", text.removeprefix("tag:"))
        if text.startswith("/"):
            if "*" in text:
                # Anchored: Schemathesis searches with the pattern, and a glob names the whole path.
                return cls(text, "path-regex", "^" + ".*".join(re.escape(part) for part in text.split("*")) + "$")
            return cls(text, "path", text)
        if not text:
            raise UsageError("an empty --include/--exclude selector")
        return cls(text, "operation-id", text)

    def matches(self, operation: Operation) -> bool:
        if self.kind == "tag":
            return self.value in operation.tags
        if self.kind == "path":
            return operation.path == self.value
        if self.kind == "path-regex":
            return re.search(self.value, operation.path) is not None
        return operation.operation_id == self.value

    def hint(self, operations: Sequence[Operation]) -> str:
        if self.kind == "tag":
            tags = sorted({tag for operation in operations for tag in operation.tags})
            return f"; its tags are {', '.join(tags)}" if tags else "; it has no tags"
        if self.kind == "operation-id":
            close = [
                op.operation_id
                for op in operations
                if op.operation_id and self.value.lower() in op.operation_id.lower()
            ]
            return f"; did you mean {', '.join(close[:5])}?" if close else " (a path starts with /, a tag with tag:)"
        return ""


def _filter_options(mode: str, selectors: Sequence[_Selector]) -> list[str]:
    options = [
        option
        for selector in selectors
        if selector.kind != "path-regex"
        for option in (f"--{mode}-{selector.kind}", selector.value)
    ]
    patterns = [selector.value for selector in selectors if selector.kind == "path-regex"]
    if patterns:
        # Schemathesis takes one regex per filter kind, so several globs become one alternation.
        options += [
            f"--{mode}-path-regex",
            patterns[0] if len(patterns) == 1 else "|".join(f"(?:{p})" for p in patterns),
        ]
    return options


# -- running Schemathesis ----------------------------------------------------------------------------------


def _run(plan: _Plan, echo: Echo) -> int:
    twin = plan.twin
    [(header, value)] = twin.credential_header(plan.credential).items()
    tolerated = {op: reason for op, reason in TOLERATED_400.get(twin.name, {}).items() if _selected(plan, op)}
    for operation, reason in tolerated.items():
        echo(f"apitwin: ST202 tolerates 400 on {operation}: {reason}")
    if plan.read_only:
        echo("apitwin: read-only: only GET, HEAD and OPTIONS requests are sent")
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="apitwin-check-") as workdir:
        hooks = Path(workdir, "apitwin_hooks.py")
        hooks.write_text(_HOOKS, encoding="utf-8")
        config = Path(workdir, "schemathesis.toml")
        config.write_text(_config(header.strip(), tolerated, hooks, plan.read_only), encoding="utf-8")
        events = (plan.ndjson or Path(workdir, "events.ndjson")).resolve()  # Schemathesis runs in workdir
        events.parent.mkdir(parents=True, exist_ok=True)
        # The spec FILE with --url: Schemathesis requests base_url + path and ignores the spec's `servers`.
        command = [
            *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color", "run"),
            *(str(twin.spec_path), "--url", plan.base_url),
            *("--checks", "all", "--mode", "all", "--phases", PHASES),
            *("--max-examples", str(plan.max_examples), "--seed", str(plan.seed)),
            *("--generation-database", "none"),  # no failing examples replayed from earlier runs
            *("--request-timeout", str(REQUEST_TIMEOUT)),
            *plan.filters,
            *plan.pace,
            *("--report", "ndjson" + (",junit" if plan.junit else ""), "--report-ndjson-path", str(events)),
        ]
        junit = plan.junit.resolve() if plan.junit is not None else None
        if junit is not None:
            junit.parent.mkdir(parents=True, exist_ok=True)
            command += ["--report-junit-path", str(junit)]
        # Unbuffered, so Schemathesis' progress reaches the terminal as it happens rather than in blocks.
        env = {**os.environ, AUTH_ENV: value.strip(), "PYTHONIOENCODING": "utf-8", "PYTHONUNBUFFERED": "1"}
        code = _stream(command, workdir, env, echo)
        stats = read_events(events, secrets=[plan.credential, value.strip()])
    if stats.operations:
        echo("")
        for line in summary_table(plan.operations, stats):
            echo(line)
    code = _verdict(code, stats, echo)
    verdict = {0: "passed", 1: "FAILED"}.get(code, f"could not run (Schemathesis exit code {code})")
    written = [str(path) for path in (junit, plan.ndjson) if path is not None]
    if plan.report is not None:
        info = RunInfo(
            api=twin.name,
            title=twin.title,
            target=plan.target,
            seed=plan.seed,
            date=started.isoformat(timespec="seconds"),
            verdict=verdict,
            selection=plan.selection,
        )
        # Coverage is over the whole spec: operations the selection left out show as not exercised.
        write_report(plan.report, info, plan.documented, stats)
        written.append(str(plan.report))
    files = f"; wrote {', '.join(written)}" if written else ""
    echo(f"apitwin check {twin.name} against {plan.target}: {verdict}{files}")
    return code if code in (0, 1) else 2


def _verdict(code: int, stats: RunStats, echo: Echo) -> int:
    """Schemathesis' exit code, except when all it found is one of two things that say nothing about the API:

    - failures on 429 answers. Only a check Schemathesis cannot be configured for fails on one: ignored_auth,
      when the target throttles its probe sent without credentials;
    - a stateful phase with no link left once operations were selected (--include, --exclude, --read-only),
      which Schemathesis reports as an error rather than skipping the phase.

    The JUnit report, written by Schemathesis, still lists them.
    """
    rate_limited = len(stats.failures) - len(stats.counted_failures)
    if rate_limited:
        echo(f"apitwin: {rate_limited} failure(s) were on 429 answers (the target's rate limit): not counted")
    unlinked = [error for error in stats.errors if _links_filtered_out(error)]
    if unlinked:
        echo("apitwin: the stateful phase was skipped: none of its links joins two selected operations")
    if code == 1 and (rate_limited or unlinked) and not stats.counted_failures and stats.errors == unlinked:
        return 0
    return code


def _links_filtered_out(error: RunError) -> bool:
    return error.kind == "NoLinksFound" and "excluded by filters" in error.message


def _selected(plan: _Plan, operation_id: str) -> bool:
    return any(operation.operation_id == operation_id for operation in plan.operations)


def _config(header: str, tolerated: dict[str, str], hooks: Path, read_only: bool) -> str:
    """The per-run schemathesis.toml; `${...}` is filled from the environment by Schemathesis."""
    lines = [
        f"hooks = {json.dumps(str(hooks))}",
        "[headers]",
        f"{json.dumps(header)} = {json.dumps('${' + AUTH_ENV + '}')}",
        "[checks.missing_required_header]",
        f"expected-statuses = {json.dumps(_MISSING_HEADER_STATUSES)}",
    ]
    if read_only:
        # The coverage phase also sends each undocumented method (PUT, DELETE, ...) to a tested path to see
        # a 405; OPTIONS is the only safe one of those.
        lines += ["[phases.coverage]", 'unexpected-methods = ["options"]']
    for operation in tolerated:
        lines += [
            "[[operations]]",
            f"include-operation-id = {json.dumps(operation)}",
            f"checks.positive_data_acceptance.expected-statuses = {json.dumps(_TOLERATED_STATUSES)}",
        ]
    return "\n".join(lines) + "\n"


# Loaded by the Schemathesis subprocess from the per-run config (`hooks = <file>`).
_HOOKS = """\
import schemathesis

from apitwin.contract import document_rate_limiting

schemathesis.hook("before_load_schema")(document_rate_limiting)
"""

_RATE_LIMITED = {"description": "Too many requests (added by apitwin check: a rate limit is never a failure)"}


def document_rate_limiting(context: object, raw_schema: dict[str, Any]) -> None:
    """Schemathesis hook: give every operation a documented 429, in the run's copy of the spec only.

    A target may rate-limit any operation, documented or not, and a 429 says nothing about the contract.
    Documented, it passes status_code_conformance (ST103); with no content declared, it has no schema or
    media type to violate. An operation documenting 429, a 4XX range or a default keeps its own answer.
    """
    for item in (raw_schema.get("paths") or {}).values():
        if not isinstance(item, dict):
            continue
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {}) if isinstance(operation, dict) else None
            if isinstance(responses, dict) and not {"429", "4XX", "4xx", "default"} & set(map(str, responses)):
                responses["429"] = dict(_RATE_LIMITED)


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
