from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apitwin.clock import Clock


def test_frozen_clock_moves_only_when_advanced() -> None:
    clock = Clock()
    clock.freeze(datetime(2030, 1, 1, tzinfo=UTC))
    assert clock.now() == datetime(2030, 1, 1, tzinfo=UTC)
    clock.advance(90)
    assert clock.now() == datetime(2030, 1, 1, 0, 1, 30, tzinfo=UTC)


def test_advancing_a_running_clock_shifts_it() -> None:
    clock = Clock()
    before = clock.timestamp()
    clock.advance(86400)
    assert clock.timestamp() - before >= 86400


def test_resume_continues_from_the_frozen_instant() -> None:
    clock = Clock()
    clock.freeze(datetime(2030, 1, 1, tzinfo=UTC))
    clock.resume()
    assert not clock.frozen
    assert 0 <= clock.timestamp() - datetime(2030, 1, 1, tzinfo=UTC).timestamp() < 5


def test_clock_never_goes_back() -> None:
    with pytest.raises(ValueError):
        Clock().advance(-1)


def test_freezing_before_an_instant_already_handed_out_needs_a_rewind() -> None:
    clock = Clock()
    clock.freeze(datetime(2030, 1, 1, tzinfo=UTC))
    clock.now()  # a document stamped 2030-01-01
    with pytest.raises(ValueError, match="rewind"):
        clock.freeze(datetime(2029, 12, 31, tzinfo=UTC))
    assert clock.now() == datetime(2030, 1, 1, tzinfo=UTC)
    clock.freeze(datetime(2029, 12, 31, tzinfo=UTC), rewind=True)
    assert clock.now() == datetime(2029, 12, 31, tzinfo=UTC)
    clock.reset()  # back to real time, forgetting what was handed out
    clock.freeze(datetime(2020, 1, 1, tzinfo=UTC))


def test_a_restored_clock_continues_and_never_stands_behind_its_latest_instant() -> None:
    frozen = Clock()
    frozen.freeze(datetime(2030, 1, 1, tzinfo=UTC))
    again = Clock()
    again.restore(frozen.export())
    assert again.frozen and again.now() == datetime(2030, 1, 1, tzinfo=UTC)
    ahead = datetime(2031, 1, 1, tzinfo=UTC).timestamp()
    running = Clock()
    running.restore({"offset": 0.0, "frozen_at": None, "latest": ahead})  # the system clock went back
    assert running.timestamp() >= ahead and not running.frozen


def test_each_explicit_change_is_heard() -> None:
    heard: list[object] = []
    clock = Clock()
    clock.on_change = heard.append
    clock.advance(10)
    clock.freeze()
    clock.resume()
    clock.reset()
    assert len(heard) == 4 and all(isinstance(state, dict) and "latest" in state for state in heard)
