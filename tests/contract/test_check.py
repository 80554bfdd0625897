"""`apitwin check` end to end: Schemathesis in a subprocess against a twin, and against a broken server."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from apitwin.contract import run_check
from apitwin.serving import serve_in_background


def junit_totals(path: Path) -> dict[str, int]:
    """Test cases, failures and errors of a JUnit report written by Schemathesis."""
    root = ET.parse(path).getroot()
    return {
        "testcases": len(root.findall(".//testcase")),
        "failures": len(root.findall(".//testcase/failure")) + int(root.get("failures", "0")),
        "errors": len(root.findall(".//testcase/error")) + int(root.get("errors", "0")),
    }


@pytest.mark.slow
@pytest.mark.parametrize("api", ["datascaphe", "datascale", "dataiku"])
def test_twin_passes_every_check(api: str, tmp_path: Path) -> None:
    junit = tmp_path / "reports" / f"{api}.xml"
    output: list[str] = []

    code = run_check(api, junit=junit, max_examples=10, echo=lambda line, **_: output.append(str(line)))

    assert code == 0, "\n".join(output)
    totals = junit_totals(junit)
    assert totals["testcases"] > 0 and totals["failures"] == 0 and totals["errors"] == 0, totals
    assert output[-1].startswith(f"apitwin check {api} against a twin started for the run")
    assert "passed" in output[-1] and str(junit) in output[-1]


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
    assert run_check("datascale", target="http://127.0.0.1:9", credential=None) == 2
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
