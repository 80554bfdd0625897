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
from collections.abc import Collection, Iterable, Mapping, Sequence
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


@dataclass(frozen=True)
class RunWarning:
    """One of Schemathesis' warnings, e.g. "Missing test data": what the run could not reach, and why."""

    title: str
    summary: str  # e.g. "16 operations repeatedly returned 404 Not Found, preventing tests from ..."
    items: tuple[str, ...] = ()  # usually operation labels
    tips: tuple[str, ...] = ()

    def line(self) -> str:
        items = f" ({', '.join(self.items)})" if self.items else ""
        return f"{self.title}: {self.summary}{items}"


@dataclass
class RunStats:
    """Per operation label: requests and statuses; the distinct failures; errors that stopped a scenario;
    Schemathesis' warnings."""

    operations: dict[str, OperationStats] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    errors: list[RunError] = field(default_factory=list)
    warnings: list[RunWarning] = field(default_factory=list)
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


def read_warnings(path: Path) -> list[RunWarning]:
    """The warnings `apitwin.contract.WarningsRecorder` wrote; none when the file is absent (no run)."""
    if not path.exists():
        return []
    return [
        RunWarning(
            title=str(block.get("title", "")),
            summary=str(block.get("summary", "")),
            items=tuple(map(str, block.get("items") or ())),
            tips=tuple(map(str, block.get("tips") or ())),
        )
        for block in json.loads(path.read_text(encoding="utf-8"))
    ]


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
    """One row per operation: requests sent, status codes seen, the best answer, distinct failures by check."""
    header = ("operation", "method and path", "requests", "status codes", "best answer", "failures")
    rows = [header]
    for operation in operations:
        op = stats.operations.get(operation.label, OperationStats())
        rows.append(
            (
                operation.operation_id or NOT_RUN,
                operation.label,
                str(op.requests),
                format_statuses(op.statuses),
                best_status_class(operation, op.statuses),
                format_failures(op.failures),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]

    def line(row: tuple[str, ...]) -> str:
        *cells, failures = row
        aligned = [
            cell.rjust(width) if column == 2 else cell.ljust(width)  # the request counts, right-aligned
            for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join((*aligned, failures)).rstrip()

    lines = [line(row) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in (*widths, len(header[-1]))))
    documented = {operation.label for operation in operations}
    others = sum(op.requests for label, op in stats.operations.items() if label not in documented)
    if others:
        lines.append(f"(+ {others} request(s) to undocumented methods or operations, e.g. 405 probes)")
    return lines


# -- coverage of the spec ----------------------------------------------------------------------------------

REFUSED = frozenset({401, 403})
# How far a request got, best first: only a documented success exercises an operation's logic; 401/403 and
# 429 never reached it.
STATUS_CLASSES = ("2xx", "2xx undocumented", "3xx", "4xx", "5xx", "1xx", "401/403", "429")


def _covers(documented: Sequence[str], key: str, status: int) -> bool:
    """Whether the response key `key`, among the `documented` ones, covers `status` (OpenAPI's precedence:
    an exact code, then a range no exact code overrides, then default for whatever no other key covers)."""
    code = str(status)
    if key.isdigit():
        return code == key
    exact = {other for other in documented if other.isdigit()}
    if key.upper().endswith("XX"):
        return code[0] == key[0] and code not in exact
    ranges = {other[0] for other in documented if re.fullmatch(r"[1-5]XX", other.upper())}
    return code not in exact and code[0] not in ranges  # default


def documented_success(operation: Operation, status: int) -> bool:
    """A 2xx that one of the operation's documented response keys covers."""
    return 200 <= status < 300 and any(_covers(operation.statuses, key, status) for key in operation.statuses)


def status_class(operation: Operation, status: int) -> str:
    """The status' entry in STATUS_CLASSES for this operation."""
    if status in REFUSED:
        return "401/403"
    if status == RATE_LIMITED:
        return "429"
    if 200 <= status < 300 and not documented_success(operation, status):
        return "2xx undocumented"
    return f"{status // 100}xx"


def best_status_class(operation: Operation, statuses: Iterable[int]) -> str:
    """The best class among the statuses an operation got (STATUS_CLASSES' order), or — when it got none."""
    classes = {status_class(operation, status) for status in statuses}
    rank = {name: position for position, name in enumerate(STATUS_CLASSES)}
    return min(classes, key=lambda name: rank.get(name, len(rank))) if classes else NOT_RUN


def exercised(operation: Operation, stats: RunStats) -> bool:
    """Whether a request reached the operation's logic: it got a documented 2xx at least once."""
    return any(documented_success(operation, status) for status in _statuses(stats, operation))


def not_exercised(operations: Sequence[Operation], stats: RunStats) -> list[Operation]:
    return [operation for operation in operations if not exercised(operation, stats)]


def not_exercised_line(operations: Sequence[Operation], stats: RunStats) -> str:
    """`getDataset (best answer 4xx), getLog (best answer —)`, for the summary and the reports."""
    return ", ".join(
        f"{operation.name} (best answer {best_status_class(operation, _statuses(stats, operation))})"
        for operation in not_exercised(operations, stats)
    )


def _statuses(stats: RunStats, operation: Operation) -> Counter[int]:
    return stats.operations.get(operation.label, OperationStats()).statuses


@dataclass(frozen=True)
class OperationCoverage:
    operation: Operation
    stats: OperationStats
    statuses: tuple[tuple[str, bool], ...]  # each documented status, and whether a response had it
    selected: bool = True  # false when --include, --exclude or safe methods left it out of the run

    @property
    def best(self) -> str:
        return best_status_class(self.operation, self.stats.statuses) if self.selected else "not selected"

    @property
    def exercised(self) -> bool:
        return any(documented_success(self.operation, status) for status in self.stats.statuses)


def coverage(
    operations: Sequence[Operation], stats: RunStats, selected: Collection[str] | None = None
) -> list[OperationCoverage]:
    """One row per operation; `selected` holds the labels the run tested (all when None)."""
    rows = []
    for operation in operations:
        seen = stats.operations.get(operation.label, OperationStats())
        documented = tuple(
            (key, any(_covers(operation.statuses, key, status) for status in seen.statuses))
            for key in operation.statuses
        )
        rows.append(OperationCoverage(operation, seen, documented, selected is None or operation.label in selected))
    return rows


def coverage_totals(rows: Sequence[OperationCoverage]) -> tuple[int, int, int, int]:
    """Operations exercised (a documented 2xx), operations, documented statuses exercised, documented statuses."""
    return (
        sum(1 for row in rows if row.exercised),
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
    selection: str = ""  # the include/exclude/safe-methods filters, if any
    reasons: tuple[str, ...] = ()  # why the verdict is what it is, beyond Schemathesis' failures


def write_report(
    path: Path,
    info: RunInfo,
    operations: Sequence[Operation],
    stats: RunStats,
    selected: Collection[str] | None = None,
) -> None:
    """Markdown for `.md`, self-contained HTML for `.html`/`.htm`. Coverage lists every operation of
    `operations`; `selected` holds the labels of those the run tested (all when None)."""
    rows = coverage(operations, stats, selected)
    text = (
        render_html(info, rows, stats)
        if path.suffix.lower() in (".html", ".htm")
        else render_markdown(info, rows, stats)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _status_marks(row: OperationCoverage) -> str:
    return " ".join(f"{key} {'✓' if hit else '✗'}" for key, hit in row.statuses)


def _coverage_sentence(rows: Sequence[OperationCoverage]) -> str:
    tested, total, hit, documented = coverage_totals(rows)
    return (
        f"Operations exercised (answered with a documented 2xx): {tested}/{total} ({_percent(tested, total)}). "
        f"Documented status codes exercised: {hit}/{documented} ({_percent(hit, documented)})."
    )


def _not_exercised_sentences(rows: Sequence[OperationCoverage]) -> str:
    missing = [row for row in rows if row.selected and not row.exercised]
    left_out = sum(1 for row in rows if not row.selected)
    sentences = [
        "Not exercised (tested, but never answered with a documented 2xx): "
        + ", ".join(f"{row.operation.name} (best answer {row.best})" for row in missing)
        + "."
        if missing
        else "Every tested operation was answered with a documented 2xx."
    ]
    if left_out:
        sentences.append(f"{left_out} operation(s) were not selected for this run.")
    return " ".join(sentences)


_COVERAGE_COLUMNS = (
    "operation",
    "method and path",
    "requests",
    "status codes seen",
    "best answer",
    "documented status codes",
    "failures",
)


def _coverage_cells(row: OperationCoverage) -> tuple[str, ...]:
    return (
        row.operation.operation_id or NOT_RUN,
        row.operation.label,
        str(row.stats.requests),
        format_statuses(row.stats.statuses),
        row.best,
        _status_marks(row),
        format_failures(row.stats.failures),
    )


def render_markdown(info: RunInfo, rows: Sequence[OperationCoverage], stats: RunStats) -> str:
    lines = [
        f"# apitwin check: {_md(info.title)} ({_md(info.api)})",
        "",
        f"- **Result:** {_md(info.verdict)}",
        *(f"  - {_md(reason)}" for reason in info.reasons),
        f"- **Target:** {_md(info.target)}",
        f"- **Seed:** {info.seed}",
        f"- **Date:** {_md(info.date)}",
        *([f"- **Selection:** {_md(info.selection)}"] if info.selection else []),
        f"- **Distinct failures:** {_failure_count(stats)}",
        "",
        "## Coverage",
        "",
        _coverage_sentence(rows),
        "",
        _md(_not_exercised_sentences(rows)),
        "",
        "| " + " | ".join(_COVERAGE_COLUMNS) + " |",
        "| --- | --- | ---: | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_md(cell) for cell in _coverage_cells(row)) + " |")
    lines += ["", "## Warnings", ""]
    if not stats.warnings:
        lines.append("None.")
    for warning in stats.warnings:
        lines.append(f"- **{_md(warning.title)}:** {_md(warning.summary)}")
        lines += [f"  - {_md(item)}" for item in warning.items]
        lines += [f"  - Tip: {_md(tip)}" for tip in warning.tips]
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


def _html_reasons(info: RunInfo) -> str:
    if not info.reasons:
        return ""
    return "<ul>" + "".join(f"<li>{html.escape(reason)}</li>" for reason in info.reasons) + "</ul>"


def render_html(info: RunInfo, rows: Sequence[OperationCoverage], stats: RunStats) -> str:
    """A single page with inline style and no script or external asset; every value is escaped."""
    e = html.escape
    verdict_class = "ok" if info.verdict == "passed" else "ko"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>apitwin check: {e(info.title)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>apitwin check: {e(info.title)} ({e(info.api)})</h1>",
        "<table>",
        f'<tr><th>Result</th><td class="{verdict_class}">{e(info.verdict)}{_html_reasons(info)}</td></tr>',
        f"<tr><th>Target</th><td>{e(info.target)}</td></tr>",
        f"<tr><th>Seed</th><td>{info.seed}</td></tr>",
        f"<tr><th>Date</th><td>{e(info.date)}</td></tr>",
        *([f"<tr><th>Selection</th><td>{e(info.selection)}</td></tr>"] if info.selection else []),
        f"<tr><th>Distinct failures</th><td>{e(_failure_count(stats))}</td></tr>",
        "</table>",
        "<h2>Coverage</h2>",
        f"<p>{e(_coverage_sentence(rows))}</p>",
        f"<p>{e(_not_exercised_sentences(rows))}</p>",
        "<table><tr>" + "".join(f"<th>{e(column)}</th>" for column in _COVERAGE_COLUMNS) + "</tr>",
    ]
    for row in rows:
        marks = " ".join(
            f'<span class="{"ok" if ok else "ko"}">{e(key)} {"✓" if ok else "✗"}</span>' for key, ok in row.statuses
        )
        operation, label, requests, statuses, best, _, failures = (e(cell) for cell in _coverage_cells(row))
        parts.append(
            f"<tr><td>{operation}</td><td>{label}</td>"
            f'<td class="num">{requests}</td><td>{statuses}</td><td>{best}</td>'
            f"<td>{marks}</td><td>{failures}</td></tr>"
        )
    parts += ["</table>", "<h2>Warnings</h2>"]
    if not stats.warnings:
        parts.append("<p>None.</p>")
    else:
        parts.append("<ul>")
        for warning in stats.warnings:
            details = [*(e(item) for item in warning.items), *(f"Tip: {e(tip)}" for tip in warning.tips)]
            nested = "<ul>" + "".join(f"<li>{detail}</li>" for detail in details) + "</ul>" if details else ""
            parts.append(f"<li><strong>{e(warning.title)}:</strong> {e(warning.summary)}{nested}</li>")
        parts.append("</ul>")
    parts.append("<h2>Failures</h2>")
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
