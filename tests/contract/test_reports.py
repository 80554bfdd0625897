"""Reading Schemathesis' NDJSON events, and the summary table and reports apitwin makes from them."""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from apitwin.contract import documented_operations_of, run_check
from apitwin.reports import (
    Operation,
    OperationStats,
    RunInfo,
    RunStats,
    RunWarning,
    coverage,
    coverage_totals,
    documented_success,
    parse_events,
    read_events,
    read_warnings,
    render_html,
    render_markdown,
    summary_table,
)
from apitwin.serving import serve_in_background
from apitwin.twins import TWINS

# Captured from `run_check("datascaphe", include=["getReport", "refreshReport"], max_examples=1, ndjson=...)`
# against a twin whose GET /report/{id} answered 200 without credentials and GET /report/{id}/refresh with 200;
# one of its two stateful scenarios was dropped to keep the file small.
SAMPLE = Path(__file__).parent / "data" / "datascaphe-partly-broken.ndjson"
INFO = RunInfo(
    api="datascaphe", title="Datascaphe Uplink API", target="http://x", seed=1, date="2026-01-01", verdict="FAILED"
)


@pytest.fixture(scope="module")
def sample() -> RunStats:
    return read_events(SAMPLE)


def test_requests_and_statuses_count_for_the_operation_each_request_was_sent_to(sample: RunStats) -> None:
    assert sample.seed == 1 and sample.schemathesis_version == "4.32.5" and sample.running_time
    refresh, report = sample.operations["POST /report/{id}/refresh"], sample.operations["GET /report/{id}"]
    assert (refresh.requests, refresh.statuses) == (8, Counter({200: 5, 401: 3}))
    assert (report.requests, report.statuses) == (8, Counter({200: 8}))
    # The coverage phase's requests with undocumented methods count apart, as their own "operations".
    assert sample.operations["PUT /report/{id}/refresh"].statuses == Counter({405: 1})
    assert not sample.errors


def test_failures_are_listed_once_with_their_check_and_curl(sample: RunStats) -> None:
    by_check = {failure.check: failure for failure in sample.failures}
    assert set(by_check) == {"ignored_auth", "unsupported_method"}

    ignored = by_check["ignored_auth"]
    assert (ignored.code, ignored.operation, ignored.status) == ("ST401", "GET /report/{id}", 200)
    assert ignored.occurrences == 4  # in several phases and the stateful replay
    assert ignored.curl == ("curl -X GET 'http://127.0.0.1:40023/api/v1/report/3?fields=id,client_id'",)

    method = by_check["unsupported_method"]
    assert method.operation == "POST /report/{id}/refresh" and "expected 405" in method.message
    (curl,) = method.curl
    assert curl.startswith("curl -X GET -H 'Authorization: [Filtered]'") and curl.endswith("/api/v1/report/3/refresh")
    assert sample.operations["GET /report/{id}"].failures == Counter({"ignored_auth": 1})


def test_the_sample_is_small_and_holds_no_credential() -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    assert SAMPLE.stat().st_size < 50_000
    sent = re.findall(r'"Authorization":\["([^"]*)"\]', text)
    assert sent and set(sent) == {"[Filtered]"}


def scenario(phase: str, cases: dict[str, Any], failing: str, status: int = 500) -> str:
    """One ScenarioFinished line: `cases` maps an id to (method, path, parent, transition?)."""
    interactions = {
        case_id: {
            "request": {"method": method, "uri": f"http://api{path}", "headers": {"Authorization": ["secret-token"]}},
            "response": {"status_code": status if case_id == failing else 201},
        }
        for case_id, (method, path, _, _) in cases.items()
    }
    failure = {"code": "ST101", "operation": "GET /things/{id}", "title": "Server error", "message": "boom"}
    recorder = {
        "label": "Stateful tests",
        "cases": {
            case_id: {"value": {"method": method, "path": path}, "parent_id": parent, "transition": transition}
            for case_id, (method, path, parent, transition) in cases.items()
        },
        "interactions": interactions,
        "checks": {
            failing: [{"name": "not_a_server_error", "status": "failure", "failure_info": {"failure": failure}}]
        },
    }
    return json.dumps({"ScenarioFinished": {"phase": phase, "recorder": recorder}})


CHAIN = {
    "a": ("POST", "/things", None, None),
    "b": ("GET", "/things/{id}", "a", {"id": "POST /things -> GET /things/{id}"}),
    "other": ("GET", "/others", None, None),
}


def test_a_stateful_failure_is_reproduced_with_the_requests_before_it_and_secrets_are_masked() -> None:
    stats = parse_events([scenario("stateful", CHAIN, "b")], secrets=["secret-token"])

    (failure,) = stats.failures
    assert failure.curl == (
        "curl -X POST -H 'Authorization: [Filtered]' http://api/things",
        "curl -X GET -H 'Authorization: [Filtered]' 'http://api/things/{id}'",
    )
    assert stats.operations["POST /things"].requests == 1 and stats.operations["GET /others"].requests == 1


def test_elsewhere_a_failure_is_reproduced_by_its_own_request() -> None:
    (failure,) = parse_events([scenario("fuzzing", CHAIN, "b")], secrets=["secret-token"]).failures
    assert len(failure.curl) == 1


def test_failures_on_429_answers_are_kept_but_not_counted() -> None:
    stats = parse_events([scenario("fuzzing", CHAIN, "b", status=429)])
    assert [failure.counts for failure in stats.failures] == [False]
    assert not stats.counted_failures and not stats.operations["GET /things/{id}"].failures


def test_errors_and_a_stream_cut_short_are_read() -> None:
    error = {"label": "Stateful tests", "value": {"type": "NoLinksFound", "message": "excluded by filters"}}
    stats = parse_events([json.dumps({"NonFatalError": error}), "", '{"ScenarioFinished": {"phase"'])
    assert [(e.label, e.kind, e.message) for e in stats.errors] == [
        ("Stateful tests", "NoLinksFound", "excluded by filters")
    ]


OPERATIONS = [
    Operation("GET", "/a", "getA", statuses=("200", "404", "4XX", "default")),
    Operation("POST", "/a", None, statuses=("201",)),
]


def stats_of(**statuses: Counter[int]) -> RunStats:
    return RunStats(operations={label: OperationStats(sum(s.values()), s) for label, s in statuses.items()})


def test_documented_statuses_are_exercised_by_exact_code_then_range_then_default() -> None:
    rows = coverage(OPERATIONS, RunStats(operations={"GET /a": OperationStats(3, Counter({200: 1, 404: 1, 418: 1}))}))
    assert rows[0].statuses == (("200", True), ("404", True), ("4XX", True), ("default", False))
    assert rows[1].statuses == (("201", False),) and rows[1].stats.requests == 0
    assert coverage_totals(rows) == (1, 2, 3, 5)
    only_404 = coverage(OPERATIONS, RunStats(operations={"GET /a": OperationStats(1, Counter({404: 1, 302: 1}))}))
    assert only_404[0].statuses == (("200", False), ("404", True), ("4XX", False), ("default", True))
    assert coverage_totals(only_404)[0] == 0  # requests, but no documented 2xx: not exercised


@pytest.mark.parametrize(
    ("statuses", "best", "exercised"),
    [
        ({}, "—", False),
        ({429: 5}, "429", False),
        ({429: 5, 401: 1}, "401/403", False),
        ({403: 1, 500: 1}, "5xx", False),
        ({500: 1, 404: 2}, "4xx", False),
        ({404: 1, 302: 1}, "3xx", False),
        ({204: 1, 404: 1}, "2xx undocumented", False),
        ({200: 1, 204: 1}, "2xx", True),
    ],
)
def test_the_best_answer_ranks_documented_success_first_and_refusals_last(
    statuses: dict[int, int], best: str, exercised: bool
) -> None:
    operation = Operation("GET", "/b", "getB", statuses=("200", "404", "4XX"))
    (row,) = coverage([operation], RunStats(operations={"GET /b": OperationStats(1, Counter(statuses))}))
    assert (row.best, row.exercised) == (best, exercised)


def test_a_2xx_is_a_documented_success_as_openapi_matches_response_keys() -> None:
    assert documented_success(Operation("GET", "/a", statuses=("2XX",)), 204)
    assert documented_success(Operation("GET", "/a", statuses=("default",)), 201)  # default: what no key names
    assert not documented_success(Operation("GET", "/a", statuses=("200", "4XX")), 201)
    assert not documented_success(Operation("GET", "/a", statuses=("200", "default")), 404)  # not a 2xx


def test_the_summary_table_has_one_aligned_row_per_operation() -> None:
    stats = RunStats(
        operations={
            "GET /a": OperationStats(26, Counter({401: 3, 200: 14, 400: 9}), Counter({"ignored_auth": 1})),
            "DELETE /a": OperationStats(4, Counter({405: 4})),
        }
    )
    lines = summary_table(OPERATIONS, stats)
    assert lines[0].split() == [
        *("operation", "method", "and", "path", "requests", "status", "codes", "best", "answer", "failures")
    ]
    assert lines[2].split() == ["getA", "GET", "/a", "26", "200×14", "400×9", "401×3", "2xx", "ignored_auth×1"]
    assert lines[3].split() == ["—", "POST", "/a", "0", "—", "—", "—"]
    assert lines[-1] == "(+ 4 request(s) to undocumented methods or operations, e.g. 405 probes)"
    assert lines[0].index("requests") + len("requests") == lines[2].index(" 26 ") + len(" 26")  # right-aligned


HOSTILE = "<script>alert('x')</script> | `code` *bold*"


def hostile_stats() -> RunStats:
    stats = parse_events([scenario("fuzzing", CHAIN, "b")])
    stats.failures[0].message = HOSTILE
    return stats


def test_markdown_escapes_inline_text_and_fences_messages_whatever_they_hold() -> None:
    stats = parse_events([scenario("fuzzing", CHAIN, "b")])
    stats.failures[0].title = HOSTILE
    stats.failures[0].message = "```\n" + HOSTILE  # a message that would close a ``` fence

    text = render_markdown(INFO, coverage(OPERATIONS, stats), stats)

    heading = next(line for line in text.splitlines() if line.startswith("### 1."))
    assert heading == r"### 1. ST101 \<script\>alert('x')\</script\> \| \`code\` \*bold\*: GET /things/{id}"
    assert "\n````\n```\n" + HOSTILE + "\n````\n" in text
    assert (
        "Operations exercised (answered with a documented 2xx): 0/2 (0%). "
        "Documented status codes exercised: 0/5 (0%)." in text
    )


class StrictParser(HTMLParser):
    """Fails on a closing tag that does not close the innermost open element; records start tags and text."""

    VOID = {"meta", "br", "hr", "img", "input", "link"}

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.tags: list[str] = []
        self.attributes: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes |= {name for name, _ in attrs}
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, (tag, self.open)
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(text: str) -> StrictParser:
    parser = StrictParser()
    parser.feed(text)
    parser.close()
    assert parser.open == [], parser.open
    return parser


def test_html_is_self_contained_well_formed_and_escapes_everything() -> None:
    stats = hostile_stats()
    page = render_html(INFO, coverage(OPERATIONS, stats), stats)

    parsed = parse_html(page)
    assert "script" not in parsed.tags and "link" not in parsed.tags and "img" not in parsed.tags
    assert HOSTILE in "".join(parsed.text)  # shown as text
    assert not parsed.attributes & {"src", "href", "onerror", "onload"}, parsed.attributes  # nothing to fetch


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".md", ".html"])
def test_reports_of_a_failing_target(suffix: str, tmp_path: Path) -> None:
    async def wrong_everywhere(request: Request) -> JSONResponse:
        return JSONResponse({"wrong": "<img src=x onerror=alert(1)>"})

    broken = Starlette(routes=[Route("/api/v1/{path:path}", wrong_everywhere, methods=["GET", "POST", "PATCH"])])
    report = tmp_path / f"report{suffix}"
    with serve_in_background(broken) as origin:
        code = run_check(
            "datascaphe",
            target=f"{origin}/api/v1",
            credential="acme:very-secret-key",
            report=report,
            max_examples=2,
            echo=lambda *_, **__: None,
        )

    assert code == 1
    text = report.read_text(encoding="utf-8")
    readable = "".join(parse_html(text).text) if suffix == ".html" else text
    assert "very-secret-key" not in text
    for operation in documented_operations_of(TWINS["datascaphe"]):
        assert f"{operation.operation_id}" in readable
    # Safe methods only against a target: the four GETs, each answered 200 (with the wrong body).
    assert "Operations exercised (answered with a documented 2xx): 4/9 (44%)" in readable
    assert "Documented status codes exercised: " in readable
    assert "Every tested operation was answered with a documented 2xx. 5 operation(s) were not selected" in readable
    assert "Result" in readable and "FAILED" in readable
    for title in ("Response violates schema", "API accepts requests without authentication"):
        assert title in readable
    assert f"curl -X GET -H 'Authorization: [Filtered]' '{origin}/api/v1/" in readable
    if suffix == ".html":
        assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
        assert "img" not in parse_html(text).tags


WARNING = RunWarning(
    title="Missing test data",
    summary="1 operation repeatedly returned 404 Not Found, preventing tests from reaching your API's core logic",
    items=("GET /things/{id}",),
    tips=("Add a link from POST /things <b>",),
)


@pytest.mark.parametrize("render", [render_markdown, render_html])
def test_reports_list_schemathesis_warnings_the_verdict_reasons_and_what_was_not_exercised(render: Any) -> None:
    stats = RunStats(
        operations={"GET /a": OperationStats(2, Counter({404: 1, 401: 1}))},
        warnings=[WARNING],
    )
    info = dataclasses.replace(INFO, reasons=("not exercised (never answered with a documented 2xx): getA",))

    text = render(info, coverage(OPERATIONS, stats, selected={"GET /a"}), stats)

    readable = "".join(parse_html(text).text) if render is render_html else text.replace("\\", "")
    assert "Warnings" in readable and "Missing test data:" in readable and WARNING.summary in readable
    assert "GET /things/{id}" in readable and "Tip: Add a link from POST /things <b>" in readable
    assert "not exercised (never answered with a documented 2xx): getA" in readable
    assert (
        "Not exercised (tested, but never answered with a documented 2xx): getA (best answer 4xx). "
        "1 operation(s) were not selected for this run." in readable
    )
    assert "best answer" in readable and "not selected" in readable


def test_warnings_are_read_back_from_the_file_the_schemathesis_handler_writes(tmp_path: Path) -> None:
    path = tmp_path / "warnings.json"
    path.write_text(json.dumps([dataclasses.asdict(WARNING)]), encoding="utf-8")

    assert read_warnings(path) == [WARNING]
    assert read_warnings(tmp_path / "absent.json") == []
    assert WARNING.line() == f"Missing test data: {WARNING.summary} (GET /things/{{id}})"
