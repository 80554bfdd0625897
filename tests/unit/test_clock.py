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
