"""Injected time. State machines, async jobs and rate limits read `Clock.now()`, never the system clock,
so a test can freeze time or jump it forward instead of sleeping."""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime

# The instants a twin can write in every date format it uses (a year of four digits, after the epoch).
EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class Clock:
    """Real time shifted by an offset, or frozen at one instant.

    A new clock runs in real time. `advance` moves it forward (frozen or not); `freeze` stops it at the
    current virtual instant (or a given one); `resume` lets it run again from where it stands.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen_at: float | None = None

    def timestamp(self) -> float:
        """Seconds since the epoch, virtual."""
        with self._lock:
            if self._frozen_at is not None:
                return self._frozen_at
            return time.time() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), UTC)

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def advance(self, seconds: float) -> None:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("the clock only moves forward, by a finite number of seconds")
        if self.timestamp() + seconds >= LATEST.timestamp():
            raise ValueError(f"the clock cannot go past {LATEST.date()}")
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += seconds
            else:
                self._offset += seconds

    def freeze(self, at: datetime | None = None) -> None:
        if at is not None and not EARLIEST <= at < LATEST:
            raise ValueError(f"the clock stays between {EARLIEST.date()} and {LATEST.date()}")
        current = self.timestamp()
        with self._lock:
            self._frozen_at = at.timestamp() if at is not None else current

    def resume(self) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - time.time()
                self._frozen_at = None

    def reset(self) -> None:
        """Back to real time."""
        with self._lock:
            self._offset = 0.0
            self._frozen_at = None

    def state(self) -> dict[str, object]:
        return {"now": self.now().isoformat(), "frozen": self.frozen, "offset_seconds": round(self._offset, 3)}
