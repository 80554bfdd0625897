"""`apitwin drift`: the comparison rules on hand-built answers, then whole runs against a second apitwin process
playing the real deployment — faithful, or altered on purpose so that drift has something to find."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from apitwin.drift import (
    SAFE_METHODS,
    Answer,
    DisagreementKind,
    DriftResult,
    Exchange,
    PlannedRequest,
    compare,
    drift_command,
    json_report,
    markdown_report,
    plan_requests,
    run_drift,
)
from apitwin.twins import TWINS
from tests.support.altered_twin import running

JSON = "application/json"
ITEM_OPERATIONS = {"GET /service-principal/{id}", "GET /report/{id}"}


def answer(status: int, body: Any, media_type: str = JSON, violation: str | None = None) -> Answer:
    return Answer(status, media_type, json.dumps(body).encode(), violation)


def kinds(twin: Answer, target: Answer, schema: dict[str, Any] | None = None) -> list[DisagreementKind]:
    return [disagreement.kind for disagreement in compare(twin, target, schema)]


# --- comparison rules, no servers -------------------------------------------------------------------------------------

REPORT = {
    "id": 3,
    "name": "S_P_500",
    "has_rls": 0,
    "created_date": "2023-08-14 12:41:31",
    "use_id_service_principal": None,
}
NOT_FOUND = {"status": "error", "message": "Report 42 not found"}


@pytest.mark.parametrize(
    ("twin", "target", "expected"),
    [
        pytest.param(answer(200, REPORT), answer(200, REPORT), [], id="identical"),
        pytest.param(
            answer(200, REPORT),
            answer(200, {**REPORT, "id": 9, "name": "Other", "created_date": "2025-01-01 00:00:00"}),
            [],
            id="ids-timestamps-and-data-are-masked",
        ),
        pytest.param(
            answer(200, REPORT), answer(200, {**REPORT, "use_id_service_principal": 4}), [], id="null-is-blank-data"
        ),
        pytest.param(answer(200, [REPORT]), answer(200, []), [], id="an-empty-list-has-no-shape-to-compare"),
        pytest.param(
            answer(200, [REPORT]),
            answer(200, [{**REPORT, "has_rls": "0"}]),
            [DisagreementKind.BODY_SHAPE],
            id="type-of-a-field-in-the-first-element",
        ),
        pytest.param(
            answer(200, {"message": "ok", "report": REPORT}),
            answer(200, {"message": "ok"}),
            [DisagreementKind.BODY_SHAPE],
            id="missing-key",
        ),
        pytest.param(answer(404, NOT_FOUND), answer(400, NOT_FOUND), [DisagreementKind.STATUS], id="status-in-class"),
        pytest.param(answer(200, REPORT), answer(404, NOT_FOUND), [DisagreementKind.STATUS_CLASS], id="status-class"),
        pytest.param(
            answer(404, NOT_FOUND),
            answer(404, {"status": "error", "message": "Not here"}),
            [],
            id="error-messages-may-differ",
        ),
        pytest.param(
            answer(404, NOT_FOUND),
            answer(404, {"error": "not found"}),
            [DisagreementKind.ERROR_SHAPE],
            id="error-shape",
        ),
        pytest.param(
            answer(404, NOT_FOUND),
            Answer(404, "text/html", b"<h1>Not Found</h1>"),
            [DisagreementKind.CONTENT_TYPE, DisagreementKind.ERROR_SHAPE],
            id="html-error-page",
        ),
        pytest.param(
            answer(404, NOT_FOUND),
            answer(404, NOT_FOUND, violation="'status' is a required property"),
            [DisagreementKind.SCHEMA],
            id="schema-broken-on-one-side",
        ),
        pytest.param(
            answer(200, REPORT, violation="bad"), answer(200, REPORT, violation="bad"), [], id="schema-broken-on-both"
        ),
        pytest.param(Answer(204, "", b""), Answer(204, JSON, b""), [], id="no-body-no-media-type-to-compare"),
    ],
)
def test_compare_classifies_disagreements(twin: Answer, target: Answer, expected: list[DisagreementKind]) -> None:
    assert kinds(twin, target) == expected


def test_free_form_objects_are_compared_by_type_only() -> None:
    twin = answer(200, {"label": "p", "custom": {"kv": {"team": "sales"}}})
    target = answer(200, {"label": "q", "custom": {"kv": {"owner": "ops", "tier": 1}}})
    schema = {
        "type": "object",
        "properties": {"label": {"type": "string"}, "custom": {"properties": {"kv": {"type": "object"}}}},
    }

    assert kinds(twin, target, schema) == []
    assert kinds(twin, target) == [DisagreementKind.BODY_SHAPE]  # undocumented: every key counts


def test_curl_masks_the_credential_and_carries_the_request() -> None:
    request = PlannedRequest(
        "PATCH /report/{id}",
        "example",
        "PATCH",
        "/report/1",
        "fields=id",
        (("Content-Type", JSON),),
        b'{"name": "it\'s"}',
    )
    result = DriftResult("datascale", "https://real.example/v1", "Authorization: Bearer {credential}", 1, 5, True, ())

    curl = result.curl(request)

    assert curl.startswith("curl -X PATCH 'https://real.example/v1/report/1?fields=id'")
    assert "-H 'Authorization: Bearer ***'" in curl and "-H 'Content-Type: application/json'" in curl
    assert "--data-binary" in curl and "it" in curl


def test_fidelity_is_the_share_of_requests_answered_alike() -> None:
    request = PlannedRequest("GET /report", "positive", "GET", "/report", "")
    alike = Exchange(request, answer(200, []), answer(200, []), ())
    drifted = Exchange(request, answer(200, []), answer(500, {}), compare(answer(200, []), answer(500, {})))
    result = DriftResult("datascaphe", "u", "Authorization: {credential}", 1, 5, True, (alike, alike, drifted))

    assert result.fidelity == pytest.approx(200 / 3)
    assert result.by_operation()["GET /report"].kinds == {DisagreementKind.STATUS_CLASS: 1}


# --- usage errors -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--api", "nope", "--target", "http://127.0.0.1:9", "--auth", "x"], "unknown twin 'nope'"),
        (["--api", "datascale", "--target", "http://127.0.0.1:9"], "Authorization: Bearer <credential>"),
        (["--api", "datascaphe", "--target", "http://x", "--auth", "a:b", "--report", "out.txt"], ".md or .json"),
    ],
    ids=["unknown-twin", "missing-credential", "report-suffix"],
)
def test_usage_errors_exit_2(arguments: list[str], message: str) -> None:
    outcome = CliRunner().invoke(drift_command, arguments, env={"APITWIN_AUTH": None, "APITWIN_DATASCALE_AUTH": None})

    assert outcome.exit_code == 2, outcome.output
    assert message in outcome.output


def test_an_unreachable_target_fails_fast_before_any_request_is_planned() -> None:
    output: list[str] = []
    started = time.monotonic()

    code = run_drift("datascaphe", target="http://127.0.0.1:9/api/v1", credential="a:b", cases=1, echo=_collect(output))

    assert code == 1
    assert time.monotonic() - started < 5
    assert output == [
        "apitwin drift: cannot reach the target at http://127.0.0.1:9/api/v1/service-principal: "
        "[Errno 111] Connection refused"
    ]


def test_the_credential_comes_from_the_twins_own_variable_as_for_check() -> None:
    arguments = ["--api", "datascaphe", "--target", "http://127.0.0.1:9/api/v1"]
    env = {"APITWIN_AUTH": None, "APITWIN_DATASCAPHE_AUTH": "acme:key"}

    outcome = CliRunner().invoke(drift_command, arguments, env=env)

    assert outcome.exit_code == 1, outcome.output  # past the credential (2 without one), to the preflight
    assert "cannot reach the target" in outcome.output


def test_nothing_answered_with_a_2xx_by_both_sides_is_no_fidelity_and_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    request = PlannedRequest("GET /report", "positive", "GET", "/report", "")
    refused = Exchange(request, answer(401, NOT_FOUND), answer(401, NOT_FOUND), ())
    result = DriftResult("datascaphe", "http://x/api/v1", "Authorization: {credential}", 1, 5, True, (refused,) * 3)
    monkeypatch.setattr("apitwin.drift.command.measure_drift", lambda *args, **kwargs: result)
    output: list[str] = []

    code = run_drift("datascaphe", target="http://x/api/v1", credential="a:b", echo=_collect(output))

    assert (result.fidelity, result.both_succeeded, code) == (None, 0, 1)
    assert (
        "fidelity not measured: no request was answered with a 2xx by both sides (twin 401×3; target 401×3)" in output
    )
    assert json_report(result)["fidelity"] is None
    assert "**fidelity not measured" in markdown_report(result)


@pytest.mark.slow
def test_read_only_drift_of_an_api_without_safe_operations_exits_2() -> None:
    output: list[str] = []

    code = run_drift("datascale", target="http://127.0.0.1:9/v1", credential="token", cases=1, echo=_collect(output))

    assert code == 2
    assert "no operation with a safe method; --all-methods sends the others" in output[-1]


# --- planning ---------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_same_seed_plans_the_same_requests() -> None:
    first = plan_requests("datascaphe", cases=5, seed=7)

    assert first == plan_requests("datascaphe", cases=5, seed=7)
    assert first != plan_requests("datascaphe", cases=5, seed=8)
    assert {request.origin for request in first} == {"example", "positive", "unknown-id", "negative"}


@pytest.mark.slow
def test_only_all_methods_plans_unsafe_methods() -> None:
    every = plan_requests("datascaphe", cases=3, read_only=False)

    assert {request.method for request in every} == {"GET", "POST", "PATCH"}
    assert all(request.safe for request in plan_requests("datascaphe", cases=3))


# --- whole runs against a second apitwin process ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def deployment() -> Iterator[Callable[[str], str]]:
    """Base URL of a second apitwin process playing the real deployment, altered as named (one per alteration)."""
    with ExitStack() as stack:
        urls: dict[str, str] = {}

        def start(alteration: str) -> str:
            if alteration not in urls:
                urls[alteration] = stack.enter_context(running(alteration))
            return urls[alteration]

        yield start


def admin_credential() -> str:
    return str(json.loads(TWINS["datascaphe"].fixtures_path.read_text())["credentials"][0]["credential"])


def _collect(output: list[str]) -> Callable[..., None]:
    return lambda line="", **_: output.append(str(line))


def drift(target: str, tmp_path: Path, *, report: str = "drift.json", **options: Any) -> tuple[int, str, Path]:
    """Exit code, printed output and report path of a drift run of the Datascaphe twin against `target`."""
    output: list[str] = []
    path = tmp_path / report
    options.setdefault("cases", 10)
    options.setdefault("credential", admin_credential())
    code = run_drift("datascaphe", target=target, report=path, echo=_collect(output), **options)
    return code, "\n".join(output), path


def disagreements(report: Path) -> dict[str, set[str]]:
    """Operation → the kinds of disagreement found on it, from a JSON report."""
    found: dict[str, set[str]] = {}
    for exchange in json.loads(report.read_text())["exchanges"]:
        for disagreement in exchange["disagreements"]:
            found.setdefault(exchange["operation"], set()).add(disagreement["kind"])
    return found


@pytest.mark.slow
def test_a_faithful_deployment_shows_no_drift(
    deployment: Callable[[str], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APITWIN_DATASCAPHE_AUTH", admin_credential())  # as `apitwin check` reads it

    code, output, report = drift(deployment("none"), tmp_path, credential=None)

    assert code == 0, output
    assert "fidelity 100.0%" in output
    assert json.loads(report.read_text())["fidelity"] == 100.0


@pytest.mark.slow
def test_a_refused_credential_fails_fast_and_scores_nothing(deployment: Callable[[str], str], tmp_path: Path) -> None:
    code, output, report = drift(deployment("none"), tmp_path, credential="acme:wrong")

    assert code == 1
    assert output.startswith("apitwin drift: the target refused the credential (401 on GET ")
    assert "fidelity" not in output and not report.exists()


@pytest.mark.slow
def test_unknown_ids_answered_400_are_status_drift(deployment: Callable[[str], str], tmp_path: Path) -> None:
    code, output, report = drift(deployment("not-found-400"), tmp_path)

    assert code == 1, output
    assert disagreements(report) == dict.fromkeys(ITEM_OPERATIONS, {"status"})
    assert "- status: twin 404, target 400" in output


@pytest.mark.slow
def test_a_foreign_error_shape_is_error_shape_and_schema_drift(
    deployment: Callable[[str], str], tmp_path: Path
) -> None:
    code, output, report = drift(deployment("error-shape"), tmp_path)

    assert code == 1, output
    # The lists too: among the generated date bounds are impossible days (8802-11-31), which are 400s.
    erring = [*ITEM_OPERATIONS, "GET /report", "GET /service-principal"]
    assert disagreements(report) == dict.fromkeys(erring, {"error-shape", "schema"})
    assert "error-shape: twin {message, status}, target {error}" in output
    assert "only the target's answer breaks the spec" in output


@pytest.mark.slow
def test_markdown_report_has_the_fidelity_score_and_curl_lines(
    deployment: Callable[[str], str], tmp_path: Path
) -> None:
    code, _, report = drift(deployment("not-found-400"), tmp_path, report="drift.md")

    text = report.read_text()
    assert code == 1
    assert re.search(r"\*\*fidelity \d+\.\d% \(\d+ of \d+ requests answered alike\)\*\*", text)
    assert "curl -X GET http://127.0.0.1:" in text and "-H 'Authorization: ***'" in text
    assert admin_credential() not in text


@pytest.mark.slow
def test_read_only_sends_no_unsafe_method(deployment: Callable[[str], str], tmp_path: Path) -> None:
    _, _, report = drift(deployment("none"), tmp_path, read_only=True)

    sent = {exchange["method"] for exchange in json.loads(report.read_text())["exchanges"]}
    assert sent and sent <= SAFE_METHODS


@pytest.mark.slow
def test_all_methods_finds_the_altered_refresh_answer(deployment: Callable[[str], str], tmp_path: Path) -> None:
    code, output, report = drift(deployment("refresh-message"), tmp_path, read_only=False, cases=5)

    assert code == 1, output
    assert disagreements(report) == {"POST /report/{id}/refresh": {"body-shape", "schema"}}
    assert "$ has report only on the twin" in output
