"""A target's rate limit: credentials for targets, pacing, 429 never a failure, and Retry-After waited out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apitwin.auth import RateLimit
from apitwin.contract import document_rate_limiting, pace_options, resolve_credential, run_check
from apitwin.twins import TWINS
from tests.contract.served import ASGIApp, Throttling, check, served_twin, summary_rows


def test_a_per_twin_credential_wins_over_apitwin_auth_and_the_argument_over_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dataiku = TWINS["dataiku"]
    monkeypatch.delenv("APITWIN_DATAIKU_AUTH", raising=False)
    monkeypatch.delenv("APITWIN_AUTH", raising=False)
    assert resolve_credential(dataiku, None) is None

    monkeypatch.setenv("APITWIN_AUTH", "shared")
    assert resolve_credential(dataiku, None) == "shared"
    monkeypatch.setenv("APITWIN_DATAIKU_AUTH", "dataiku-only")
    assert resolve_credential(dataiku, None) == "dataiku-only"
    assert resolve_credential(TWINS["datascale"], None) == "shared"
    assert resolve_credential(dataiku, "given") == "given"


def test_pacing_follows_the_documented_limit_and_waits_out_429s_when_none_is_documented() -> None:
    datascale, dataiku = TWINS["datascale"], TWINS["dataiku"]
    assert pace_options(datascale, None, remote=True)[0] == ["--rate-limit", "20/m"]  # 100 per 300 s
    assert pace_options(dataiku, None, remote=True)[0] == ["--rate-limit", "auto"]
    assert pace_options(dataiku, None, remote=False) == ([], "")  # a twin started for the run has no limit
    assert pace_options(datascale, "off", remote=True) == ([], "")
    assert pace_options(datascale, "5/s", remote=False)[0] == ["--rate-limit", "5/s"]


@pytest.mark.parametrize("pace", ["fast", "20/minute", "0/m", "auto,5/s"])
def test_an_unknown_pace_is_a_usage_error(pace: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_check("datascale", pace=pace) == 2
    assert "--pace is N/s, N/m, N/h, N/d, auto or off" in capsys.readouterr().err


def test_every_operation_gets_a_documented_429_unless_it_has_its_own_answer() -> None:
    spec: dict[str, Any] = {
        "paths": {
            "/a": {
                "parameters": [],
                "get": {"responses": {"200": {"description": "ok"}}},
                "post": {"responses": {"429": {"description": "own"}}},
                "put": {"responses": {"4XX": {"description": "range"}}},
                "patch": {"responses": {"default": {"description": "default"}}},
            },
            "/b": {"$ref": "other.yaml#/b"},  # a path item in another file: left to Schemathesis
        }
    }

    document_rate_limiting(None, spec)

    a = spec["paths"]["/a"]
    assert set(a["get"]["responses"]) == {"200", "429"} and "content" not in a["get"]["responses"]["429"]
    assert a["post"]["responses"] == {"429": {"description": "own"}}
    assert set(a["put"]["responses"]) == {"4XX"} and set(a["patch"]["responses"]) == {"default"}
    assert spec["paths"]["/b"] == {"$ref": "other.yaml#/b"}


@pytest.mark.slow
def test_429_from_a_twin_over_its_limit_is_no_failure(tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    with served_twin("datascale", rate_limits={"datascale": RateLimit(5, 60)}) as (base_url, credential):
        # Unpaced on purpose (the default would keep within the documented 100 per 300 s): most answers are 429.
        code, output, stats = check(
            "datascale",
            tmp_path,
            target=base_url,
            credential=credential,
            read_only=False,  # its one operation is a PUT
            pace="off",
            max_examples=5,
            report=report,
        )

    assert code == 0, output
    ingest = stats.operations["PUT /ingest"]
    assert ingest.statuses[429] > ingest.requests / 2, ingest
    assert "429×" in summary_rows(output)["ingestContent"]
    assert not stats.counted_failures, stats.failures
    assert "- **Distinct failures:** 0\n" in report.read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize("pace", ["off", "auto"])
def test_429_where_the_spec_documents_none_is_no_failure_and_auto_waits_them_out(pace: str, tmp_path: Path) -> None:
    throttles: list[Throttling] = []

    def throttle(app: ASGIApp) -> Throttling:
        throttles.append(Throttling(app))
        return throttles[-1]

    with served_twin("dataiku", wrap=throttle) as (base_url, credential):
        code, output, stats = check(
            "dataiku",
            tmp_path,
            target=base_url,
            credential=credential,
            read_only=False,  # PUT /admin/variables/ too
            pace=pace,
            include=["tag:Variables"],
        )

    assert code == 0, output
    recorded = sum(operation.requests for operation in stats.operations.values())
    assert stats.operations["PUT /admin/variables/"].statuses[429] > 0  # throttled, whatever the pace
    # Documented by apitwin for the run, a 429 passes status_code_conformance; only ignored_auth, whose probe
    # without credentials was throttled, still fails on one, and that is not counted.
    assert not stats.counted_failures, stats.failures
    assert {failure.check for failure in stats.failures} <= {"ignored_auth"}
    sent = throttles[0].requests
    if pace == "auto":
        # Every 429 with Retry-After was waited out and the request sent again, unrecorded by Schemathesis.
        assert sent > recorded + 5, (sent, recorded)
    else:
        assert sent <= recorded + 2, (sent, recorded)  # + the probing phase's requests
