"""Issue 17's promise: parallel runs share one `apitwin serve`, each in a session of its own, and neither sees
the other, however freely both reset and write."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.shell import APITWIN, served

pytestmark = pytest.mark.slow

# Each run first waits until the other one is running too, so their tests surely interleave; then every test
# writes and resets, and asserts what only an isolated session can give: exactly the fixtures plus its writes.
RUN = """
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

REPORT = {"report_id": "c814f3b2-5f12-40b7-bdee-5a0e02f05363", "dataset_id": "e4c7b8bb-decb-45bf-9417-74e9a4edaf86"}
FIXTURE_REPORTS = list(range(1, 13))


def report_ids(dss):
    return [r["id"] for r in httpx.get(f"{dss.base_url}/report", headers=dss.headers).json()]


def test_both_runs_are_running():
    meeting = Path(os.environ["MEETING"])
    (meeting / os.environ["ME"]).touch()
    deadline = time.monotonic() + 60
    while not (meeting / os.environ["OTHER"]).exists():
        assert time.monotonic() < deadline, "the other run never started"
        time.sleep(0.05)


@pytest.mark.parametrize("attempt", range(15))
def test_each_test_starts_from_the_fixtures_and_sees_its_own_writes_only(apitwin, attempt):
    dss = apitwin("datascaphe")
    assert report_ids(dss) == FIXTURE_REPORTS
    for _ in range(3):
        assert httpx.post(f"{dss.base_url}/report", json=REPORT, headers=dss.headers).status_code == 200
    name = f"{os.environ['ME']} {attempt}"
    assert httpx.patch(f"{dss.base_url}/report/1", json={"name": name}, headers=dss.headers).status_code == 200
    assert report_ids(dss) == FIXTURE_REPORTS + [13, 14, 15]
    assert httpx.get(f"{dss.base_url}/report/1", headers=dss.headers).json()["name"] == name
    assert [r.operation_id for r in dss.requests] == ["listReports", *["createReport"] * 3, "updateReport",
                                                       "listReports", "getReport"]


@pytest.mark.parametrize("attempt", range(5))
def test_the_clock_is_the_runs_own(apitwin, attempt):
    dss = apitwin("datascaphe")
    assert not dss.clock.frozen
    year = 2030 + attempt
    dss.clock.freeze(datetime(year, 1, 1, tzinfo=UTC))
    dss.clock.advance(90)
    patched = httpx.patch(f"{dss.base_url}/report/2", json={"has_rls": 1}, headers=dss.headers).json()
    assert patched["updated_date"] == f"{year}-01-01 00:01:30"


def test_state_needs_the_twin_in_this_process(apitwin):
    apitwin("datascaphe").state
"""


def test_two_runs_share_one_server_each_in_its_own_session(tmp_path: Path) -> None:
    (tmp_path / "test_run.py").write_text(RUN, encoding="utf-8")
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    with served("--memory", "--session-idle", "600", "--max-sessions", "3") as server:  # room for both runs
        assert any("/__apitwin/sessions" in line and "600 s idle, at most 3" in line for line in server.banner)
        runs = {
            me: subprocess.Popen(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", "-rs"]
                + ["--apitwin-url", server.origin, "test_run.py"],
                cwd=tmp_path,
                env={**_environ(), "MEETING": str(meeting), "ME": me, "OTHER": other},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for me, other in (("one", "two"), ("two", "one"))
        }
        outputs = {me: run.communicate(timeout=240)[0] for me, run in runs.items()}
        for me, output in outputs.items():
            assert runs[me].returncode == 0, output
            assert "21 passed, 1 skipped" in output, output
            assert "datascaphe.state needs the twin in this process; --apitwin-url serves it from" in output
        # each run deleted its session at its end; the default session saw none of it
        assert [s["name"] for s in httpx.get(f"{server.origin}/__apitwin/sessions").json()["sessions"]] == ["default"]
        datascaphe = httpx.get(server.origin).json()["twins"][0]
        reports = httpx.get(f"{datascaphe['base_url']}/report", headers={"Authorization": datascaphe["credential"]})
        assert [report["id"] for report in reports.json()] == list(range(1, 13))
        assert not reports.json()[0]["name"].startswith(("one", "two"))
        assert [
            entry["operation_id"]
            for entry in httpx.get(f"{server.origin}/__apitwin/requests?twin=datascaphe").json()["requests"]
        ] == ["listReports"]


def _environ() -> dict[str, str]:
    import os

    return {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_")}


def test_two_contract_runs_share_one_server_each_in_its_own_session() -> None:
    with served("--memory") as server:
        runs = {
            name: subprocess.Popen(
                [*APITWIN, "check", "--api", "datascaphe", "--url", server.origin, "--session", name]
                + ["--max-examples", "5"],
                env=_environ(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for name in ("run-a", "run-b")
        }
        outputs = {name: run.communicate(timeout=300)[0] for name, run in runs.items()}
        for name, output in outputs.items():
            assert runs[name].returncode == 0, output
            verdict = f"apitwin check datascaphe against {server.origin}/datascaphe/api/v1 in session {name}: passed"
            assert output.rstrip().endswith(verdict), output
        # named sessions are kept, each with the run's requests; the default session got none of them
        sessions = {
            s["name"]: s["requests"] for s in httpx.get(f"{server.origin}/__apitwin/sessions").json()["sessions"]
        }
        assert sessions.keys() == {"default", "run-a", "run-b"} and min(sessions["run-a"], sessions["run-b"]) > 100
        assert httpx.get(f"{server.origin}/__apitwin/requests").json()["requests"] == []
