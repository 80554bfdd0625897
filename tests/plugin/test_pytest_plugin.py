"""The pytest plugin as a user meets it: a test file in another project that asks for `apitwin`, with no import
and no conftest, run by a separate pytest process that finds the plugin through its entry point."""

from __future__ import annotations

import pytest

from apitwin.app import create_app
from apitwin.serving import serve_in_background

# As a user's CI would run it, and stricter: any warning the plugin or a twin raises fails the run.
RUN = ("-p", "no:cacheprovider", "-W", "error", "--strict-markers", "--strict-config")

REPORT = '{"report_id": "c814f3b2-5f12-40b7-bdee-5a0e02f05363", "dataset_id": "e4c7b8bb-decb-45bf-9417-74e9a4edaf86"}'

USER_SUITE = """
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import requests

REPORT = {"report_id": "c814f3b2-5f12-40b7-bdee-5a0e02f05363", "dataset_id": "e4c7b8bb-decb-45bf-9417-74e9a4edaf86"}
seen = []


def report_ids(dss):
    return [report["id"] for report in requests.get(f"{dss.base_url}/report", headers=dss.headers).json()]


@pytest.mark.parametrize("attempt", ["first", "second"])
def test_creating_a_report_adds_one(apitwin, attempt):
    dss = apitwin("datascaphe")
    before = report_ids(dss)
    created = requests.post(f"{dss.base_url}/report", json=REPORT, headers=dss.headers)
    assert created.status_code == 200, created.text
    assert report_ids(dss) == before + [created.json()["id"]]
    seen.append((before, created.json()["id"]))


def test_each_test_started_from_the_same_fixtures():
    first, second = seen
    assert first == second  # same reports, same next id: the second test did not see the first one's report


def test_asking_again_in_a_test_returns_the_same_twin_without_reset(apitwin):
    dss = apitwin("datascaphe")
    requests.post(f"{dss.base_url}/report", json=REPORT, headers=dss.headers)
    assert apitwin("datascaphe") is dss
    assert len(dss.state.collection("reports").all()) == len(report_ids(dss))


def test_datascale_ingest_with_the_bearer_header(apitwin):
    dsc = apitwin("datascale")
    assert dsc.headers == {"Authorization": f"Bearer {dsc.credential}"}
    body = {"content": "CREATE TABLE orders (id INT PRIMARY KEY)", "platform": "postgres"}
    response = httpx.put(f"{dsc.base_url}/ingest", json=body, headers=dsc.headers)
    assert response.json() == {"success": True, "message": "Successfully ingested 1 assets [1 added, 0 modified]"}
    assert any(asset["key"].endswith("/orders") for asset in dsc.state.collection("assets").all())


def test_dataiku_takes_its_key_as_a_bearer_token(apitwin):
    dss = apitwin("dataiku")
    assert httpx.get(f"{dss.base_url}/projects/", headers=dss.headers).status_code == 200


def test_frozen_clock_moves_updated_date_only_when_advanced(apitwin):
    dss = apitwin("datascaphe")
    dss.clock.freeze(datetime(2030, 1, 1, tzinfo=UTC))
    patch = lambda: requests.patch(f"{dss.base_url}/report/1", json={"has_rls": 1}, headers=dss.headers).json()
    assert patch()["updated_date"] == "2030-01-01 00:00:00"
    dss.clock.advance(90)
    assert patch()["updated_date"] == "2030-01-01 00:01:30"


def test_the_next_test_runs_in_real_time_again(apitwin):
    clock = apitwin("datascaphe").clock
    assert not clock.frozen
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_credentials_reach_the_403_path(apitwin):
    dss = apitwin("datascaphe")
    viewer = next(record for record in dss.credentials if record["role"] == "viewer")
    as_viewer = dss.headers_for(viewer["credential"])
    assert requests.patch(f"{dss.base_url}/report/1", json={"has_rls": 1}, headers=as_viewer).status_code == 403


def test_spec_and_admin_api_are_served(apitwin):
    dss = apitwin("datascaphe")
    assert requests.get(dss.spec_url).json()["info"]["title"]
    assert requests.get(f"{dss.origin}/__apitwin/health").json()["status"] == "ok"
    assert dss.base_url == f"{dss.origin}/datascaphe/api/v1" and dss.is_twin


def test_requests_are_what_the_twin_was_asked_in_this_test_oldest_first(apitwin):
    dss = apitwin("datascaphe")
    requests.get(f"{dss.base_url}/report", params={"fields": "id"}, headers=dss.headers)
    requests.post(f"{dss.base_url}/report/1/refresh", headers=dss.headers_for("nope:nope"))
    sent = [(r.method, r.operation_id, r.status, dict(r.query)) for r in dss.requests]
    assert sent == [("GET", "listReports", 200, {"fields": ["id"]}), ("POST", "refreshReport", 401, {})]
    assert apitwin("datascale").requests == []


def test_a_fault_rule_added_in_a_test(apitwin):
    dss = apitwin("datascaphe")
    requests.post(f"{dss.origin}/__apitwin/faults", json={"twin": "datascaphe", "status": 503})
    assert requests.get(f"{dss.base_url}/report", headers=dss.headers).status_code == 503


def test_does_not_outlive_it(apitwin):
    dss = apitwin("datascaphe")
    assert requests.get(f"{dss.base_url}/report", headers=dss.headers).status_code == 200


def test_unknown_twin_names_the_served_ones(apitwin):
    with pytest.raises(ValueError, match="apitwin serves"):
        apitwin("datascafe")
"""


@pytest.mark.slow
def test_a_user_suite_gets_running_twins_with_fresh_state_per_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user_suite=USER_SUITE)
    result = pytester.runpytest_subprocess(*RUN, timeout=60)
    result.assert_outcomes(passed=14)


@pytest.mark.slow
def test_target_option_sends_the_handle_to_a_deployment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = create_app(["datascaphe"], prefixed=False)  # stands in for the real service
    runtime = deployment.state.runtime
    key = runtime.twins["datascaphe"].credentials()[0]["credential"]
    reports_before = len(runtime.twins["datascaphe"].state.collection("reports").all())
    monkeypatch.setenv("APITWIN_DATASCAPHE_AUTH", key)
    pytester.makeini("[pytest]\napitwin_validate_responses = false\n")  # a known ini key under --strict-config
    with serve_in_background(deployment) as origin:
        url = f"{origin}/api/v1"
        pytester.makepyfile(
            test_against_deployment=f"""
            import requests

            REPORT = {REPORT}

            def test_the_handle_carries_the_deployment_and_its_credential(apitwin):
                dss = apitwin("datascaphe")
                assert (dss.base_url, dss.is_twin) == ("{url}", False)
                assert requests.post(f"{{dss.base_url}}/report", json=REPORT, headers=dss.headers).status_code == 200

            def test_twin_only_attributes_skip_the_test(apitwin):
                apitwin("datascaphe").clock.freeze()
                raise AssertionError("unreachable: the clock of a deployment cannot be frozen")

            def test_twins_not_targeted_stay_local(apitwin):
                assert apitwin("datascale").is_twin
            """
        )
        result = pytester.runpytest_subprocess(*RUN, "-rs", "--apitwin-target", f"datascaphe={url}/", timeout=60)
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(
        [
            f"apitwin: datascaphe -> {url}",
            "SKIPPED * test_against_deployment.py:11: datascaphe.clock needs the local twin*",
        ]
    )
    assert key not in result.stdout.str()
    assert len(runtime.twins["datascaphe"].state.collection("reports").all()) == reports_before + 1


@pytest.mark.slow
@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("datascafe=http://127.0.0.1:9/api/v1", "expected NAME=URL with NAME one of*"),
        ("datascaphe=http://127.0.0.1:9/api/v1", "set APITWIN_DATASCAPHE_AUTH to the credential sent as*"),
    ],
    ids=["unknown-twin", "no-credential"],
)
def test_a_bad_target_stops_the_run_before_any_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, target: str, message: str
) -> None:
    monkeypatch.delenv("APITWIN_DATASCAPHE_AUTH", raising=False)
    pytester.makepyfile("def test_never_runs(apitwin): raise AssertionError")
    result = pytester.runpytest_subprocess(*RUN, "--apitwin-target", target, timeout=60)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}"])
