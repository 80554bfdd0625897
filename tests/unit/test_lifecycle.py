from __future__ import annotations

from apitwin.engine.lifecycle import Lifecycle, Phase

JOB = Lifecycle((("NOT_STARTED", 1.0), ("RUNNING", 4.0)), final="DONE")


def test_states_follow_their_durations() -> None:
    assert JOB.phase(100, 100) == Phase("NOT_STARTED", 100, 101)
    assert JOB.phase(100, 101) == Phase("RUNNING", 101, 105)
    assert JOB.phase(100, 105) == Phase("DONE", 105, None)
    assert JOB.with_final("FAILED").phase(100, 999).state == "FAILED"


def test_an_interruption_ends_a_running_lifecycle() -> None:
    assert JOB.phase(100, 102, interrupted=("ABORTED", 103)).state == "RUNNING"
    assert JOB.phase(100, 104, interrupted=("ABORTED", 103)) == Phase("ABORTED", 103, None)


def test_an_interruption_after_the_end_changes_nothing() -> None:
    assert JOB.phase(100, 200, interrupted=("ABORTED", 150)).state == "DONE"
