"""`apitwin check` end to end: Schemathesis in a subprocess against a twin, against a broken server, and the
preflight that refuses to test a target that is unreachable, refuses the credential or sits at another path."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from apitwin.contract import documented_operations_of, run_check
from apitwin.reports import best_status_class, not_exercised, read_events
from apitwin.serving import serve_in_background
from apitwin.twins import TWINS
from tests.contract.served import AnsweringEverything, ASGIApp, check, served_twin


def junit_totals(path: Path) -> dict[str, int]:
    """Test cases, failures and errors of a JUnit report written by Schemathesis."""
    root = ET.parse(path).getroot()
    return {
        "testcases": len(root.findall(".//testcase")),
        "failures": len(root.findall(".//testcase/failure")) + int(root.get("failures", "0")),
        "errors": len(root.findall(".//testcase/error")) + int(root.get("errors", "0")),
    }


@pytest.mark.slow
@pytest.mark.parametrize("api", ["datascaphe", "datascale", "dataiku", "opendatasoft", "huwise"])
def test_twin_passes_every_check_and_exercises_every_operation(api: str, tmp_path: Path) -> None:
    """Coverage is required against a twin started for the run: every operation got a documented 2xx, so the
    run really authenticated (a wrong credential would leave every operation at 401) and found data."""
    junit = tmp_path / "reports" / f"{api}.xml"
    events = tmp_path / "events.ndjson"
    output: list[str] = []

    code = run_check(api, junit=junit, ndjson=events, max_examples=10, echo=lambda line, **_: output.append(str(line)))

    assert code == 0, "\n".join(output)
    totals = junit_totals(junit)
    assert totals["testcases"] > 0 and totals["failures"] == 0 and totals["errors"] == 0, totals
    assert output[-1].startswith(f"apitwin check {api} against a twin started for the run")
    assert "passed" in output[-1] and str(junit) in output[-1]
    stats = read_events(events)
    operations = documented_operations_of(TWINS[api])
    assert not_exercised(operations, stats) == []
    assert {best_status_class(operation, stats.operations[operation.label].statuses) for operation in operations} == {
        "2xx"
    }


async def wrong_everywhere(request: Request) -> JSONResponse:
    """Answers every request, authenticated or not, valid or not, with a body no operation documents."""
    return JSONResponse({"wrong": True})


@pytest.mark.slow
def test_check_fails_against_a_server_that_breaks_the_contract(tmp_path: Path) -> None:
    broken = Starlette(
        routes=[Route("/api/v1/{path:path}", wrong_everywhere, methods=["GET", "POST", "PATCH", "PUT", "DELETE"])]
    )
    junit = tmp_path / "broken.xml"
    output: list[str] = []

    with serve_in_background(broken) as origin:
        code = run_check(
            "datascaphe",
            target=f"{origin}/api/v1/",
            credential="x:y",
            read_only=False,  # POST and PATCH bodies too
            junit=junit,
            max_examples=5,
            echo=lambda line, **_: output.append(str(line)),
        )

    text = "\n".join(output)
    assert code == 1, text
    assert junit_totals(junit)["failures"] > 0
    # Schema, negative data and auth checks all see the breakage (so the credential did reach Schemathesis).
    for failure in ("Response violates schema", "Schema-violating request accepted", "without authentication"):
        assert failure in text, failure
    assert "FAILED" in output[-1] and f"{origin}/api/v1" in output[-1]


def test_target_without_credential_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("APITWIN_AUTH", raising=False)
    monkeypatch.delenv("APITWIN_DATASCALE_AUTH", raising=False)
    assert run_check("datascale", target="http://127.0.0.1:9", credential=None, read_only=False) == 2
    err = capsys.readouterr().err
    assert "Bearer" in err and "APITWIN_DATASCALE_AUTH" in err and "APITWIN_AUTH" in err


def test_unknown_twin_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_check("nope") == 2
    assert "unknown twin" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize(("alteration", "expected_code"), [("none", 0), ("error-shape", 1)])
def test_check_against_a_second_apitwin_process_finds_only_the_deliberate_deviation(
    alteration: str, expected_code: int, tmp_path: Path
) -> None:
    """A second apitwin process plays the real deployment: faithful, it passes; with its error bodies
    altered ({"error": ...} instead of {"status", "message"}), check says so."""
    from apitwin.twins import TWINS
    from tests.support.altered_twin import running

    fixtures = json.loads(TWINS["datascaphe"].fixtures_path.read_text())
    report = tmp_path / "report.md"
    output: list[str] = []
    with running(alteration) as base_url:
        code = run_check(
            "datascaphe",
            target=base_url,
            credential=fixtures["credentials"][0]["credential"],
            report=report,
            max_examples=8,
            echo=lambda line, **_: output.append(str(line)),
        )
    assert code == expected_code, "\n".join(output[-40:])
    if expected_code:
        assert "response_schema_conformance" in report.read_text()


# --- the preflight: nothing is fuzzed against a target that cannot be tested ------------------------------------


def collected() -> tuple[list[str], Callable[..., None]]:
    output: list[str] = []
    return output, lambda line="", **_: output.append(str(line))


def test_an_unreachable_target_fails_fast_with_one_line(tmp_path: Path) -> None:
    output, echo = collected()
    started = time.monotonic()

    code = run_check(
        "datascaphe", target="http://127.0.0.1:9/api/v1", credential="a:b", ndjson=tmp_path / "e", echo=echo
    )

    assert code == 1
    assert time.monotonic() - started < 5
    assert output[-1].startswith("apitwin check: cannot reach the target at http://127.0.0.1:9/api/v1/")
    assert not (tmp_path / "e").exists()  # Schemathesis never started


# Datascale has no safe operation: its only probe is PUT /ingest with a body its schema rejects.
@pytest.mark.parametrize(("api", "read_only"), [("datascaphe", None), ("datascale", False), ("dataiku", None)])
def test_a_wrong_credential_fails_fast_on_every_twin(api: str, read_only: bool | None, tmp_path: Path) -> None:
    output, echo = collected()
    scheme = TWINS[api].auth_hint.format(credential="<credential>")
    with served_twin(api) as (base_url, _):
        started = time.monotonic()
        code = run_check(
            api, target=base_url, credential="wrong:key", read_only=read_only, ndjson=tmp_path / "e", echo=echo
        )

    assert code == 1, output
    assert time.monotonic() - started < 5
    assert output[-1].startswith("apitwin check: the target refused the credential (401 on ")
    assert scheme in output[-1] and f"APITWIN_{api.upper()}_AUTH" in output[-1]
    assert not (tmp_path / "e").exists()


def test_a_wrong_base_path_fails_fast_naming_the_expected_one(tmp_path: Path) -> None:
    output, echo = collected()
    with served_twin("datascaphe") as (base_url, credential):
        origin = base_url.removesuffix("/api/v1")
        code = run_check("datascaphe", target=f"{origin}/v1", credential=credential, ndjson=tmp_path / "e", echo=echo)

    assert code == 1, output
    assert output[-1].startswith(f"apitwin check: every probe answered 404 (GET {origin}/v1/service-principal, ")
    assert output[-1].endswith(f"base path is /api/v1, and the URL should end with it, e.g. {origin}/api/v1")


# --- verdicts that cannot pass falsely ---------------------------------------------------------------------------


def answering(status: int) -> Callable[[ASGIApp], ASGIApp]:
    return lambda app: AnsweringEverything(app, status)


@pytest.mark.slow
def test_a_target_answering_429_to_everything_fails_as_nothing_exercised(tmp_path: Path) -> None:
    """The preflight cannot judge the credential on a 429 and lets the run go; a run of nothing but 429s then
    fails, although every 429 is documented for the run and every failure on one is discounted."""
    with served_twin("datascaphe", wrap=answering(429)) as (base_url, credential):
        code, output, stats = check("datascaphe", tmp_path, target=base_url, credential=credential, max_examples=2)

    assert code == 1, output
    assert "apitwin: the preflight's probe was rate limited (429 on GET " in output
    assert "apitwin: nothing exercised: every answer was 401, 403 or 429" in output
    assert {status for operation in stats.operations.values() for status in operation.statuses} == {429}
    assert "FAILED" in output.splitlines()[-1]
