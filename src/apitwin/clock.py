"""Injected time. State machines, async jobs and rate limits read `Clock.now()`, never the system clock,
so a test can freeze time or jump it forward instead of sleeping."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


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
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += seconds
            else:
                self._offset += seconds

    def freeze(self, at: datetime | None = None) -> None:
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
