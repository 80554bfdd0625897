"""The command line, through Click's runner: commands are thin, so these check wiring and output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from apitwin.cli import main
from apitwin.spec import FIXTURES_DIR


def test_credentials_json_names_every_twin() -> None:
    result = CliRunner().invoke(main, ["credentials", "--json"])
    assert result.exit_code == 0
    credentials = json.loads(result.output)
    assert set(credentials) == {"datascaphe", "datascale", "dataiku", "opendatasoft", "huwise"}
    assert credentials["datascaphe"].count(":") == 1


def test_credentials_all_shows_roles_and_schemes() -> None:
    output = CliRunner().invoke(main, ["credentials", "--all"]).output
    assert "viewer" in output and "(revoked)" in output and "Authorization: Bearer dsk_" in output


def test_credentials_all_shows_what_each_dataiku_key_may_do() -> None:
    lines = [
        line for line in CliRunner().invoke(main, ["credentials", "--all"]).output.splitlines() if "dataiku" in line
    ]
    assert len(lines) == 3
    assert lines[0].endswith("admin: every privilege")
    assert lines[1].endswith(
        "pipeline: RUN_CODE; SALES_FORECAST: READ_CONF, READ_DATA, READ_METADATA, READ_SCHEMA, "
        "MONITOR_JOBS, WRITE_CONF, WRITE_DATA, WRITE_METADATA, WRITE_SCHEMA, RUN_JOBS"
    )
    assert lines[2].endswith("analyst: CHURN: READ_CONF, READ_DATA, READ_METADATA, READ_SCHEMA, MONITOR_JOBS")


@pytest.mark.parametrize("command", [[], *([name] for name in main.commands)], ids=lambda c: " ".join(c) or "apitwin")
def test_dash_h_is_help_everywhere(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "-h"])
    assert result.exit_code == 0 and result.output.startswith("Usage: "), result.output
    assert "-h, --help" in result.output


def test_fixtures_are_byte_identical_when_regenerated(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["fixtures", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for committed in sorted(FIXTURES_DIR.glob("*.json")):
        assert (tmp_path / committed.name).read_bytes() == committed.read_bytes(), committed.name


def test_unknown_twin_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["serve", "--api", "nope"])
    assert result.exit_code == 2 and "unknown twin" in result.output


def test_bad_rate_limit_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["serve", "--rate-limit", "datascale=lots"])
    assert result.exit_code == 2 and "REQUESTS/SECONDS" in result.output


def test_a_rate_limit_for_an_unknown_twin_names_the_known_ones() -> None:
    result = CliRunner().invoke(main, ["serve", "--rate-limit", "datascal=5/60"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "no twin named 'datascal' in 'datascal=5/60'; the twins are datascaphe, datascale, dataiku" in result.output


def test_diff_is_a_command_of_apitwin(tmp_path: Path) -> None:
    from apitwin.spec import SPECS_DIR

    spec = SPECS_DIR / "datascale.yaml"
    changed = tmp_path / "datascale.yaml"
    changed.write_text(spec.read_text().replace("maxLength: 1048576", "maxLength: 1000"))
    same = CliRunner().invoke(main, ["diff", str(spec), str(spec)])
    assert same.exit_code == 0, same.output
    tightened = CliRunner().invoke(main, ["diff", str(spec), str(changed)])
    assert tightened.exit_code == 1 and "constraint_changed" in tightened.output
