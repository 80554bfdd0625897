"""What an `apitwin check` run did, read from Schemathesis' NDJSON event stream, and the reports made from it.

The stream (Schemathesis 4.32, pinned) holds one JSON object per line, keyed by the event's name. Only
`ScenarioFinished` carries requests: its `recorder` has `cases` (id → the generated case: method, path
template, `parent_id`, and a `transition` when a stateful link produced it), `interactions` (id → the request
sent and the response), and `checks` (id → each check's result; a failure has `failure_info.failure` with
its code, title and message). Credentials arrive already masked as `[Filtered]` by Schemathesis.

The stream leaves out the curl reproductions Schemathesis prints ("reconstructable from case + interaction",
says its writer), so they are rebuilt here from the recorded request with Schemathesis' own curl generator.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
FILTERED = "[Filtered]"
RATE_LIMITED = 429
NOT_RUN = "—"


@dataclass(frozen=True)
class Operation:
    """An operation as the spec documents it."""

    method: str  # upper case, as Schemathesis labels it
    path: str  # the path template, relative to the API's base path
    operation_id: str | None = None
    tags: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()  # the documented response keys: "200", "4XX", "default"

    @property
    def label(self) -> str:
        """Schemathesis' name for the operation, e.g. `GET /report/{id}`."""
        return f"{self.method} {self.path}"

    @property
    def name(self) -> str:
        return self.operation_id or self.label


def documented_operations(spec: Mapping[str, Any]) -> list[Operation]:
    """Every operation of an OpenAPI document, in document order."""
    operations = []
    for path, item in (spec.get("paths") or {}).items():
        if not isinstance(item, Mapping):
            continue
        for method in HTTP_METHODS:
            operation = item.get(method)
            if not isinstance(operation, Mapping):
                continue
            operations.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    operation_id=operation.get("operationId"),
                    tags=tuple(operation.get("tags") or ()),
                    statuses=tuple(str(status) for status in operation.get("responses") or {}),
                )
            )
    return operations


@dataclass
class OperationStats:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)  # distinct failures, by check name


@dataclass
class Failure:
    check: str
    code: str  # Schemathesis' failure code, e.g. ST108
    operation: str  # the operation's label
    title: str
    message: str
    curl: tuple[str, ...]  # the requests that reproduce it, oldest first
    status: int | None = None  # of the response that failed the check
    occurrences: int = 1

    @property
    def counts(self) -> bool:
        """A failure on a 429 is about the target's rate limit, not its contract: never counted."""
        return self.status != RATE_LIMITED


_FailureKey = tuple[str, str, str, str, int | None]


@dataclass(frozen=True)
class RunError:
    """Something that kept Schemathesis from testing, e.g. an unreachable target or unusable links."""

    label: str  # the operation or phase, e.g. "Stateful tests"
    kind: str  # the exception's type, e.g. NoLinksFound
    message: str

    def __str__(self) -> str:
        return f"{self.label}: {self.message}"


@dataclass
class RunStats:
    """Per operation label: requests and statuses; the distinct failures; errors that stopped a scenario."""

    operations: dict[str, OperationStats] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    errors: list[RunError] = field(default_factory=list)
    seed: int | None = None
    schemathesis_version: str | None = None
    running_time: float | None = None

    def of(self, label: str) -> OperationStats:
        return self.operations.setdefault(label, OperationStats())

    @property
    def counted_failures(self) -> list[Failure]:
        return [failure for failure in self.failures if failure.counts]


def read_events(path: Path, *, secrets: Sequence[str] = ()) -> RunStats:
    """The stats of an NDJSON file; an absent file (Schemathesis did not start) gives empty stats."""
    if not path.exists():
        return RunStats()
    with path.open(encoding="utf-8") as lines:
        return parse_events(lines, secrets=secrets)


def parse_events(lines: Iterable[str], *, secrets: Sequence[str] = ()) -> RunStats:
    """Fold the event stream into per-operation stats. `secrets` are masked wherever they might show up in a
    curl line, on top of Schemathesis' own sanitization (which a user's config could turn off)."""
    stats = RunStats()
    seen: dict[_FailureKey, Failure] = {}
    for line in lines:
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # the last line of a stream cut short by a crash
        (name, data), *_ = event.items()
        if name == "Initialize":
            stats.seed = data.get("seed")
            stats.schemathesis_version = data.get("schemathesis_version")
        elif name == "ScenarioFinished":
            _fold_scenario(stats, data.get("recorder") or {}, data.get("phase") == "stateful", seen, secrets)
        elif name == "NonFatalError":
            error = data.get("value") or {}
            stats.errors.append(RunError(data.get("label", "?"), error.get("type", ""), error.get("message", "")))
        elif name == "FatalError":
            error = data.get("exception") or {}
            stats.errors.append(RunError("Schemathesis stopped", error.get("type", ""), error.get("message", "")))
        elif name == "EngineFinished":
            stats.running_time = data.get("running_time")
    stats.failures = list(seen.values())
    return stats


def _fold_scenario(
    stats: RunStats,
    recorder: Mapping[str, Any],
    stateful: bool,
    seen: dict[_FailureKey, Failure],
    secrets: Sequence[str],
) -> None:
    cases: Mapping[str, Any] = recorder.get("cases") or {}
    interactions: Mapping[str, Any] = recorder.get("interactions") or {}
    # Each request counts for the operation it was sent to, not the scenario's: a stateful scenario spans
    # several operations, and a coverage scenario's requests with undocumented methods (405 probes) belong
    # to no documented operation at all.
    for case_id, interaction in interactions.items():
        label = _case_label(cases.get(case_id)) or recorder.get("label", "?")
        operation = stats.of(label)
        operation.requests += 1
        response = interaction.get("response") or {}
        if "status_code" in response:
            operation.statuses[int(response["status_code"])] += 1
    for case_id, checks in (recorder.get("checks") or {}).items():
        for check in checks:
            details = (check.get("failure_info") or {}).get("failure")
            if check.get("status") != "failure" or not details:
                continue
            failure = Failure(
                check=check.get("name", "?"),
                code=details.get("code", ""),
                operation=details.get("operation") or _case_label(cases.get(case_id)) or recorder.get("label", "?"),
                title=details.get("title", ""),
                message=_mask(details.get("message", ""), secrets),  # it may quote a body echoing a credential
                curl=(),
                status=((interactions.get(case_id) or {}).get("response") or {}).get("status_code"),
            )
            # The same failure recurs across phases and in the replay of a failing example: listed once.
            key = (failure.operation, failure.check, failure.title, failure.message, failure.status)
            if key in seen:
                seen[key].occurrences += 1
                continue
            failure.curl = tuple(
                _mask(curl_command(interactions[step]["request"]), secrets)
                for step in _steps(case_id, cases, stateful=stateful)
                if "request" in (interactions.get(step) or {})
            )
            seen[key] = failure
            if failure.counts:
                stats.of(failure.operation).failures[failure.check] += 1


def _case_label(case: Mapping[str, Any] | None) -> str | None:
    value = (case or {}).get("value") or {}
    if "method" not in value or "path" not in value:
        return None
    return f"{str(value['method']).upper()} {value['path']}"


def _steps(case_id: str, cases: Mapping[str, Any], *, stateful: bool) -> list[str]:
    """The cases to replay, in the order they ran: in a stateful scenario the failing case and all its
    ancestors (the requests whose responses its own were derived from, as Schemathesis reproduces it),
    elsewhere the failing case alone."""
    chain = {case_id}
    current = (cases.get(case_id) or {}).get("parent_id")
    while stateful and isinstance(current, str) and current in cases and current not in chain:
        chain.add(current)
        current = cases[current].get("parent_id")
    return [step for step in cases if step in chain] or [case_id]


def curl_command(request: Mapping[str, Any]) -> str:
    """A recorded request (`interactions[id].request` of the stream) as the curl line Schemathesis prints."""
    from schemathesis.core import curl

    headers = {
        name: ", ".join(value) if isinstance(value, list) else value for name, value in request["headers"].items()
    }
    body = request.get("body")
    if isinstance(body, Mapping) and "$base64" in body:
        body = base64.b64decode(body["$base64"])
    command: str = curl.generate(
        method=request["method"],
        url=request["uri"],
        body=body,
        verify=True,
        headers=headers,
        known_generated_headers=None,
    ).command
    return command


def _mask(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, FILTERED)
    return text


# -- the summary table printed at the end of a run ---------------------------------------------------------


def format_statuses(statuses: Counter[int]) -> str:
    """`200×14 400×9 401×3`."""
    return " ".join(f"{status}×{count}" for status, count in sorted(statuses.items())) or NOT_RUN


def format_failures(failures: Counter[str]) -> str:
    return " ".join(f"{check}×{count}" for check, count in sorted(failures.items())) or NOT_RUN


def summary_table(operations: Sequence[Operation], stats: RunStats) -> list[str]:
    """One row per operation: requests sent, status codes seen, distinct failures by check."""
    rows = [("operation", "method and path", "requests", "status codes", "failures")]
    for operation in operations:
        op = stats.operations.get(operation.label, OperationStats())
        rows.append(
            (
                operation.operation_id or NOT_RUN,
                operation.label,
                str(op.requests),
                format_statuses(op.statuses),
                format_failures(op.failures),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(4)]

    def line(row: tuple[str, str, str, str, str]) -> str:
        first, second, requests, statuses, failures = row
        cells = (first.ljust(widths[0]), second.ljust(widths[1]), requests.rjust(widths[2]), statuses.ljust(widths[3]))
        return "  ".join((*cells, failures)).rstrip()

    lines = [line(row) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in (*widths, len(rows[0][4]))))
    documented = {operation.label for operation in operations}
    others = sum(op.requests for label, op in stats.operations.items() if label not in documented)
    if others:
        lines.append(f"(+ {others} request(s) to undocumented methods or operations, e.g. 405 probes)")
    return lines


# -- coverage of the spec ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OperationCoverage:
    operation: Operation
    stats: OperationStats
    statuses: tuple[tuple[str, bool], ...]  # each documented status, and whether a response had it


def coverage(operations: Sequence[Operation], stats: RunStats) -> list[OperationCoverage]:
    rows = []
    for operation in operations:
        seen = stats.operations.get(operation.label, OperationStats())
        rows.append(OperationCoverage(operation, seen, _exercised(operation.statuses, seen.statuses)))
    return rows


def _exercised(documented: Sequence[str], seen: Counter[int]) -> tuple[tuple[str, bool], ...]:
    """A documented "404" is exercised by a 404; "4XX" by a 4xx no other key documents; "default" by any
    status no other key documents (OpenAPI's precedence: exact code, then range, then default)."""
    exact = {key for key in documented if key.isdigit()}
    ranges = {key[0] for key in documented if re.fullmatch(r"[1-5]XX", key.upper())}

    def matches(key: str, status: int) -> bool:
        code = str(status)
        if key.isdigit():
            return code == key
        if key.upper().endswith("XX"):
            return code[0] == key[0] and code not in exact
        return code not in exact and code[0] not in ranges  # default

    return tuple((key, any(matches(key, status) for status in seen)) for key in documented)


def coverage_totals(rows: Sequence[OperationCoverage]) -> tuple[int, int, int, int]:
    """Operations with a request, operations, documented statuses exercised, documented statuses."""
    return (
        sum(1 for row in rows if row.stats.requests),
        len(rows),
        sum(1 for row in rows for _, hit in row.statuses if hit),
        sum(len(row.statuses) for row in rows),
    )


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "n/a"


# -- Markdown and HTML reports -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunInfo:
    """The header of a report."""

    api: str
    title: str
    target: str  # a base URL, or "a twin started for the run (URL)"
    seed: int
    date: str
    verdict: str  # "passed", "FAILED", or why it could not run
    selection: str = ""  # the include/exclude/read-only filters, if any


def write_report(path: Path, info: RunInfo, operations: Sequence[Operation], stats: RunStats) -> None:
    """Markdown for `.md`, self-contained HTML for `.html`/`.htm`."""
    rows = coverage(operations, stats)
    text = (
        render_html(info, rows, stats)
        if path.suffix.lower() in (".html", ".htm")
        else render_markdown(info, rows, stats)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _status_marks(row: OperationCoverage) -> str:
    return " ".join(f"{key} {'✓' if hit else '✗'}" for key, hit in row.statuses)


def render_markdown(info: RunInfo, rows: Sequence[OperationCoverage], stats: RunStats) -> str:
    tested, total, hit, documented = coverage_totals(rows)
    lines = [
        f"# apitwin check: {_md(info.title)} ({_md(info.api)})",
        "",
        f"- **Result:** {_md(info.verdict)}",
        f"- **Target:** {_md(info.target)}",
        f"- **Seed:** {info.seed}",
        f"- **Date:** {_md(info.date)}",
        *([f"- **Selection:** {_md(info.selection)}"] if info.selection else []),
        f"- **Distinct failures:** {_failure_count(stats)}",
        "",
        "## Coverage",
        "",
        f"Operations exercised: {tested}/{total} ({_percent(tested, total)}). "
        f"Documented status codes exercised: {hit}/{documented} ({_percent(hit, documented)}).",
        "",
        "| operation | method and path | requests | status codes seen | documented status codes | failures |",
        "| --- | --- | ---: | --- | --- | --- |",
    ]
    for row in rows:
        cells = (
            row.operation.operation_id or NOT_RUN,
            row.operation.label,
            str(row.stats.requests),
            format_statuses(row.stats.statuses),
            _status_marks(row),
            format_failures(row.stats.failures),
        )
        lines.append("| " + " | ".join(_md(cell) for cell in cells) + " |")
    lines += ["", "## Failures", ""]
    if not stats.failures:
        lines.append("None.")
    for number, failure in enumerate(stats.failures, 1):
        lines += [
            f"### {number}. {_md(failure.code)} {_md(failure.title)}: {_md(failure.operation)}",
            "",
            f"Check `{failure.check}`, seen {failure.occurrences} time(s){_not_counted(failure)}.",
            "",
            *_fenced(failure.message, ""),
            "",
        ]
        if failure.curl:
            lines += [
                "Reproduce with (credentials are shown as `[Filtered]`):",
                "",
                *_fenced("\n".join(failure.curl), "sh"),
                "",
            ]
    if stats.errors:
        lines += ["## Errors", "", *(f"- {_md(str(error))}" for error in stats.errors), ""]
    return "\n".join(lines).rstrip() + "\n"


def _failure_count(stats: RunStats) -> str:
    counted = len(stats.counted_failures)
    rate_limited = len(stats.failures) - counted
    return f"{counted}" + (f" (and {rate_limited} on 429 answers, not counted)" if rate_limited else "")


def _not_counted(failure: Failure) -> str:
    return "" if failure.counts else "; on a 429 answer (rate limiting), so not counted"


def _md(text: str) -> str:
    """Inline text that cannot open Markdown or HTML markup."""
    return re.sub(r"([\\`*_\[\]<>|#])", r"\\\1", text.replace("\n", " "))


def _fenced(text: str, language: str) -> list[str]:
    # The fence is longer than any run of backticks inside, so a message cannot close it.
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return [f"{fence}{language}", text, fence]


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1d2329;max-width:80rem}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccd2d8;padding:.3rem .6rem;text-align:left;
vertical-align:top}th{background:#eef1f4}td.num{text-align:right}.ok{color:#17663a}.ko{color:#b3261e}
pre{background:#f5f7f9;padding:.6rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
"""


def render_html(info: RunInfo, rows: Sequence[OperationCoverage], stats: RunStats) -> str:
    """A single page with inline style and no script or external asset; every value is escaped."""
    e = html.escape
    tested, total, hit, documented = coverage_totals(rows)
    verdict_class = "ok" if info.verdict == "passed" else "ko"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>apitwin check: {e(info.title)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>apitwin check: {e(info.title)} ({e(info.api)})</h1>",
        "<table>",
        f'<tr><th>Result</th><td class="{verdict_class}">{e(info.verdict)}</td></tr>',
        f"<tr><th>Target</th><td>{e(info.target)}</td></tr>",
        f"<tr><th>Seed</th><td>{info.seed}</td></tr>",
        f"<tr><th>Date</th><td>{e(info.date)}</td></tr>",
        *([f"<tr><th>Selection</th><td>{e(info.selection)}</td></tr>"] if info.selection else []),
        f"<tr><th>Distinct failures</th><td>{e(_failure_count(stats))}</td></tr>",
        "</table>",
        "<h2>Coverage</h2>",
        f"<p>Operations exercised: {tested}/{total} ({_percent(tested, total)}). "
        f"Documented status codes exercised: {hit}/{documented} ({_percent(hit, documented)}).</p>",
        "<table><tr><th>operation</th><th>method and path</th><th>requests</th><th>status codes seen</th>"
        "<th>documented status codes</th><th>failures</th></tr>",
    ]
    for row in rows:
        marks = " ".join(
            f'<span class="{"ok" if ok else "ko"}">{e(key)} {"✓" if ok else "✗"}</span>' for key, ok in row.statuses
        )
        parts.append(
            f"<tr><td>{e(row.operation.operation_id or NOT_RUN)}</td><td>{e(row.operation.label)}</td>"
            f'<td class="num">{row.stats.requests}</td><td>{e(format_statuses(row.stats.statuses))}</td>'
            f"<td>{marks}</td><td>{e(format_failures(row.stats.failures))}</td></tr>"
        )
    parts += ["</table>", "<h2>Failures</h2>"]
    if not stats.failures:
        parts.append("<p>None.</p>")
    for number, failure in enumerate(stats.failures, 1):
        parts += [
            f"<h3>{number}. {e(failure.code)} {e(failure.title)}: {e(failure.operation)}</h3>",
            f"<p>Check <code>{e(failure.check)}</code>, seen {failure.occurrences} time(s){_not_counted(failure)}.</p>",
            f"<pre>{e(failure.message)}</pre>",
        ]
        if failure.curl:
            parts += [
                "<p>Reproduce with (credentials are shown as <code>[Filtered]</code>):</p>",
                f"<pre>{e(chr(10).join(failure.curl))}</pre>",
            ]
    if stats.errors:
        parts += ["<h2>Errors</h2><ul>", *(f"<li>{e(str(error))}</li>" for error in stats.errors), "</ul>"]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
