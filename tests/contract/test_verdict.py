"""The verdict of a run (`judge`): exactly which of Schemathesis' findings are discounted, and the two findings of
apitwin's that fail a run Schemathesis passed (nothing exercised; not exercised when coverage is required)."""

from __future__ import annotations

from collections import Counter

import pytest

from apitwin.contract import judge
from apitwin.reports import Failure, Operation, OperationStats, RunError, RunStats

GET_A = Operation("GET", "/a", "getA", statuses=("200", "404"))
POST_A = Operation("POST", "/a", "createA", statuses=("201", "400"))
OPERATIONS = [GET_A, POST_A]
UNLINKED = RunError("Stateful tests", "NoLinksFound", "All links were excluded by filters")


def exercised(**extra: Counter[int]) -> dict[str, OperationStats]:
    """Both operations answered with a documented 2xx, plus `extra` statuses by label."""
    statuses = {"GET /a": Counter({200: 3}), "POST /a": Counter({201: 2})} | extra
    return {label: OperationStats(sum(counter.values()), counter) for label, counter in statuses.items()}


def failure(status: int | None, check: str = "ignored_auth") -> Failure:
    return Failure(check, "ST401", "GET /a", "API accepts requests without authentication", "", (), status)


def verdict(code: int, stats: RunStats, *, require_coverage: bool = False) -> int:
    return judge(code, stats, OPERATIONS, require_coverage=require_coverage)[0]


def test_a_clean_run_passes_and_a_run_schemathesis_could_not_do_keeps_its_code() -> None:
    assert judge(0, RunStats(operations=exercised()), OPERATIONS, require_coverage=True) == (0, [])
    assert verdict(2, RunStats(), require_coverage=True) == 2  # nothing to judge: no "nothing exercised" on top


@pytest.mark.parametrize(("status", "counted"), [(429, False), (428, True), (430, True), (503, True), (401, True)])
def test_only_a_failure_on_a_429_answer_is_not_counted(status: int, counted: bool) -> None:
    stats = RunStats(operations=exercised(), failures=[failure(status)])

    code, reasons = judge(1, stats, OPERATIONS, require_coverage=False)

    assert code == (1 if counted else 0)
    discounted = ["1 failure(s) were on 429 answers (the target's rate limit): not counted"]
    assert reasons == ([] if counted else discounted)


def test_a_failure_without_an_answer_counts() -> None:
    assert verdict(1, RunStats(operations=exercised(), failures=[failure(None)])) == 1


def test_a_429_failure_is_not_counted_but_does_not_excuse_another_failure() -> None:
    stats = RunStats(operations=exercised(), failures=[failure(429), failure(500, "not_a_server_error")])
    assert verdict(1, stats) == 1


@pytest.mark.parametrize(
    ("error", "discounted"),
    [
        (UNLINKED, True),
        (RunError("Stateful tests", "NoLinksFound", "No links found in the schema"), False),
        (RunError("Stateful tests", "SomethingElse", "All links were excluded by filters"), False),
        (RunError("GET /a", "ConnectionError", "Connection refused"), False),
    ],
)
def test_only_a_stateful_phase_left_without_links_by_the_selection_is_no_error(
    error: RunError, discounted: bool
) -> None:
    assert verdict(1, RunStats(operations=exercised(), errors=[error])) == (0 if discounted else 1)


def test_the_unlinked_stateful_phase_does_not_excuse_another_error() -> None:
    other = RunError("GET /a", "ConnectionError", "Connection refused")
    assert verdict(1, RunStats(operations=exercised(), errors=[UNLINKED, other])) == 1


@pytest.mark.parametrize("refusals", [{429: 40}, {401: 20, 403: 3}, {401: 1, 429: 1}])
def test_a_run_of_only_401_403_and_429_fails_whatever_schemathesis_says(refusals: dict[int, int]) -> None:
    answers = {label: OperationStats(sum(refusals.values()), Counter(refusals)) for label in ("GET /a", "POST /a")}
    stats = RunStats(operations=answers, failures=[failure(429)])

    code, reasons = judge(0, stats, OPERATIONS, require_coverage=False)

    assert code == 1
    assert reasons[-1] == "nothing exercised: every answer was 401, 403 or 429, so no request reached the API's logic"


def test_a_run_without_any_answer_fails() -> None:
    code, reasons = judge(0, RunStats(), OPERATIONS, require_coverage=False)
    assert (code, reasons) == (1, ["nothing exercised: no request was answered"])


def test_one_answer_past_the_refusals_is_enough_to_have_exercised_something() -> None:
    answers = {"GET /a": OperationStats(2, Counter({401: 1, 404: 1})), "POST /a": OperationStats(1, Counter({429: 1}))}
    assert verdict(0, RunStats(operations=answers)) == 0


def test_answers_to_operations_outside_the_selection_do_not_count() -> None:
    answers = {"GET /a": OperationStats(1, Counter({429: 1})), "PUT /a": OperationStats(4, Counter({405: 4}))}
    assert judge(0, RunStats(operations=answers), [GET_A], require_coverage=False)[0] == 1


def test_not_exercised_operations_fail_the_run_only_when_coverage_is_required() -> None:
    stats = RunStats(operations=exercised(**{"POST /a": Counter({400: 5, 202: 1})}))  # 202: not documented

    assert judge(0, stats, OPERATIONS, require_coverage=False) == (
        0,
        ["not exercised (never answered with a documented 2xx): createA (best answer 2xx undocumented)"],
    )
    assert judge(0, stats, OPERATIONS, require_coverage=True) == (
        1,
        [
            "not exercised (never answered with a documented 2xx; coverage is required): createA "
            "(best answer 2xx undocumented)"
        ],
    )
