"""`apitwin check` on the command line: each option reaches `run_check`, and has its effect end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from apitwin.cli import main
from tests.contract.served import ASGIApp, Recording, Unfindable, served_twin, summary_rows


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ([], {"read_only": None, "require_coverage": None, "include": (), "exclude": ()}),
        (["--read-only"], {"read_only": True}),
        (["--all-methods"], {"read_only": False}),
        (["--require-coverage"], {"require_coverage": True}),
        (["--no-require-coverage"], {"require_coverage": False}),
        (["--include", "getReport", "--include", "tag:Reports"], {"include": ("getReport", "tag:Reports")}),
        (["--exclude", "/report/*"], {"exclude": ("/report/*",)}),
        (["--target", "http://x/api/v1", "--auth", "a:b"], {"target": "http://x/api/v1", "credential": "a:b"}),
        (["--pace", "5/s", "--max-examples", "3", "--seed", "7"], {"pace": "5/s", "max_examples": 3, "seed": 7}),
        (["--url", "http://x:8000", "--session", "ci-7"], {"url": "http://x:8000", "session": "ci-7"}),
    ],
)
def test_every_option_reaches_run_check(
    options: list[str], expected: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []

    def recorded(api: str, **kwargs: Any) -> int:
        calls.append({"api": api, **kwargs})
        return 0

    monkeypatch.setattr("apitwin.contract.run_check", recorded)

    outcome = CliRunner().invoke(main, ["check", "--api", "datascaphe", *options])

    assert outcome.exit_code == 0, outcome.output
    (call,) = calls
    assert call["api"] == "datascaphe" and {name: call[name] for name in expected} == expected


def test_read_only_and_all_methods_are_one_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("apitwin.contract.run_check", lambda api, **kwargs: calls.append(kwargs) or 0)

    CliRunner().invoke(main, ["check", "--api", "datascaphe", "--read-only", "--all-methods"])

    assert calls[0]["read_only"] is False  # the last one given wins, as for any click flag pair


def unfindable_reports(recordings: list[Recording]) -> Any:
    """Every /report/{id} request goes to an unknown id (the twin's own 404); every request is recorded."""

    def wrap(app: ASGIApp) -> Recording:
        recordings.append(Recording(Unfindable(app, "/api/v1", "report")))
        return recordings[-1]

    return wrap


@pytest.mark.slow
@pytest.mark.parametrize(("require", "expected_code"), [([], 0), (["--require-coverage"], 1)])
def test_against_a_target_only_safe_methods_and_coverage_is_reported_unless_required(
    require: list[str], expected_code: int, tmp_path: Path
) -> None:
    recordings: list[Recording] = []
    report = tmp_path / "report.md"
    with served_twin("datascaphe", wrap=unfindable_reports(recordings)) as (base_url, credential):
        outcome = CliRunner().invoke(
            main,
            ["check", "--api", "datascaphe", "--target", base_url, "--max-examples", "2", "--report", str(report)]
            + ["--include", "getReport", "--include", "refreshReport", *require],
            env={"APITWIN_DATASCAPHE_AUTH": credential, "APITWIN_AUTH": None},
        )

    output = outcome.output
    assert outcome.exit_code == expected_code, output
    assert set(summary_rows(output)) == {"getReport"}  # refreshReport is a POST: not sent by default
    assert set(recordings[0].methods) <= {"GET", "HEAD", "OPTIONS"}, recordings[0].methods
    coverage = "; coverage is required): " if require else "): "
    assert (
        f"apitwin: not exercised (never answered with a documented 2xx{coverage}getReport (best answer 4xx)" in output
    )
    assert "apitwin: Schemathesis warns: Missing test data: " in output
    text = report.read_text(encoding="utf-8")
    assert "getReport (best answer 4xx)" in text and "**Missing test data:**" in text


@pytest.mark.slow
def test_all_methods_lists_what_it_may_write_then_sends_it(tmp_path: Path) -> None:
    recordings: list[Recording] = []

    def record(app: ASGIApp) -> Recording:
        recordings.append(Recording(app))
        return recordings[-1]

    with served_twin("datascaphe", wrap=record) as (base_url, credential):
        outcome = CliRunner().invoke(
            main,
            ["check", "--api", "datascaphe", "--target", base_url, "--auth", credential, "--all-methods"]
            + ["--include", "/report/*", "--max-examples", "2"],
        )

    assert outcome.exit_code == 0, outcome.output
    lines = outcome.output.splitlines()
    start = lines.index(f"apitwin: --all-methods: these 2 operation(s) may write to {base_url}:")
    assert lines[start + 1 : start + 3] == [
        "  PATCH /report/{id} (updateReport)",
        "  POST /report/{id}/refresh (refreshReport)",
    ]
    assert {"PATCH", "POST"} <= set(recordings[0].methods), recordings[0].methods
