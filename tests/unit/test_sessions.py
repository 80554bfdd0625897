"""The session registry alone: names, idle expiry on a fake wall clock, the cap, deletion."""

from __future__ import annotations

import pytest

from apitwin.clock import Clock
from apitwin.errors import TwinError
from apitwin.faults import Faults
from apitwin.journal import Journal
from apitwin.sessions import Session, Sessions, check_name
from apitwin.store import Store


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Opened:
    """An opener that counts the sessions it made, each over its own store."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, name: str) -> Session:
        self.names.append(name)
        return bare_session(name)


def bare_session(name: str) -> Session:
    clock = Clock()
    return Session(name, Store(), clock, Faults(), Journal(clock), {})  # no twin: the registry never looks inside


def registry(idle: float = 60, cap: int = 3) -> tuple[Sessions, Opened, FakeTime]:
    opened, time = Opened(), FakeTime()
    return Sessions(bare_session("default"), opened, idle_seconds=idle, max_sessions=cap, now=time), opened, time


def test_a_name_is_made_once_and_then_found() -> None:
    sessions, opened, _ = registry()
    first = sessions.get("ci-1")
    assert sessions.get("ci-1") is first and sessions.find("ci-1") is first
    assert opened.names == ["ci-1"]
    assert sessions.get("default") is sessions.default and sessions.find("nope") is None


def test_a_session_idle_past_its_time_is_made_again() -> None:
    sessions, opened, time = registry(idle=60)
    first = sessions.get("ci-1")
    time.now += 59
    sessions.used(first)  # used within its time: its idle time starts again
    time.now += 59
    assert sessions.get("ci-1") is first
    time.now += 61
    assert sessions.find("ci-1") is None
    assert sessions.get("ci-1") is not first and opened.names == ["ci-1", "ci-1"]


def test_the_default_session_never_expires_nor_goes() -> None:
    sessions, _, time = registry(idle=60)
    time.now += 10_000
    assert sessions.find("default") is sessions.default
    with pytest.raises(TwinError, match="never deleted"):
        sessions.delete("default")


def test_a_sweep_drops_idle_sessions_and_is_due_now_and_then() -> None:
    sessions, _, time = registry(idle=60)
    assert not sessions.sweep_due()  # nothing to sweep
    sessions.get("old")
    time.now += 30
    sessions.get("young")
    assert sessions.sweep_due()
    assert not sessions.sweep_due()  # of a burst of requests, the first sweeps; the next one in a tenth of the idle
    sessions.sweep()
    assert not sessions.sweep_due()
    time.now += 31
    assert sessions.sweep_due()
    sessions.sweep()
    assert [session.name for session in sessions.all()] == ["default", "young"]


def test_the_cap_counts_the_default_session_and_frees_with_expiry_or_deletion() -> None:
    sessions, _, time = registry(idle=60, cap=3)
    sessions.get("a")
    time.now += 40
    sessions.get("b")
    with pytest.raises(TwinError) as refused:
        sessions.get("c")
    assert refused.value.status_code == 503 and "maximum of 3 sessions" in refused.value.message
    assert sessions.delete("b") and not sessions.delete("b")
    sessions.get("c")
    time.now += 30  # "a" idle for 70 s: gone, and its room with it
    sessions.get("d")
    assert [session.name for session in sessions.all()] == ["default", "c", "d"]


def test_listing_is_the_default_session_first_then_by_name() -> None:
    sessions, _, _ = registry(cap=5)
    for name in ("zeta", "alpha", "mid"):
        sessions.get(name)
    assert [session.name for session in sessions.all()] == ["default", "alpha", "mid", "zeta"]
    view = sessions.get("alpha").view()
    made = "1970-01-12T13:46:40+00:00"
    assert view == {"name": "alpha", "created": made, "last_used": made, "requests": 0}


@pytest.mark.parametrize("name", ["ci-1", "worker.gw0", "A_b-9", "x" * 64])
def test_good_names(name: str) -> None:
    check_name(name)


@pytest.mark.parametrize("name", ["", "-a", ".a", "a b", "a/b", "a\n", "x" * 65, "é", "../up"])
def test_bad_names_are_refused_before_anything_is_made(name: str) -> None:
    sessions, opened, _ = registry()
    with pytest.raises(TwinError) as refused:
        sessions.get(name)
    assert refused.value.status_code == 400 and opened.names == []
