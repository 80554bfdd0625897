"""Status machines as data: a list of timed states ending in a final one, read off the twin's clock.

A lifecycle stores nothing but its start instant; the state at any moment is computed, so freezing or
advancing the clock moves every job at once and a test never sleeps. An interruption (abort) ends it early.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Phase:
    state: str
    entered_at: float  # epoch seconds
    ends_at: float | None  # None for a final state


@dataclass(frozen=True)
class Lifecycle:
    """`steps` are (state, seconds spent in it) in order; `final` is where it rests."""

    steps: tuple[tuple[str, float], ...]
    final: str

    @property
    def duration(self) -> float:
        return sum(seconds for _, seconds in self.steps)

    def phase(self, started_at: float, now: float, interrupted: tuple[str, float] | None = None) -> Phase:
        """The phase at `now` of a run started at `started_at`; `interrupted` = (final state, at) cuts it short
        unless the run had already finished by then."""
        if interrupted is not None and interrupted[1] < started_at + self.duration and now >= interrupted[1]:
            return Phase(interrupted[0], interrupted[1], None)
        entered = started_at
        for state, seconds in self.steps:
            if now < entered + seconds:
                return Phase(state, entered, entered + seconds)
            entered += seconds
        return Phase(self.final, entered, None)

    def with_final(self, final: str) -> Lifecycle:
        return Lifecycle(self.steps, final)
