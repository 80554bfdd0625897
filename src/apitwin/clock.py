"""Injected time. State machines, async jobs and rate limits read `Clock.now()`, never the system clock,
so a test can freeze time or jump it forward instead of sleeping."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

# The instants a twin can write in every date format it uses (a year of four digits, after the epoch).
EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class Clock:
    """Real time shifted by an offset, or frozen at one instant.

    A new clock runs in real time. `advance` moves it forward (frozen or not); `freeze` stops it at the
    current virtual instant (or a given one); `resume` lets it run again from where it stands.

    The clock remembers the latest instant it handed out (what documents were stamped with): it never goes
    behind it by itself (a restart onto a system clock that went back continues from it), and `freeze` to an
    earlier instant needs `rewind=True`, so no document is ever stamped before one it follows by mistake.
    `reset` (back to real time) forgets it. `export`/`restore` carry the whole state across restarts;
    `on_change` hears each explicit change (the runtime persists it with the store).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen_at: float | None = None
        self._latest = 0.0  # the latest instant handed out
        self.on_change: Callable[[dict[str, float | None]], None] | None = None

    def timestamp(self) -> float:
        """Seconds since the epoch, virtual."""
        with self._lock:
            now = self._frozen_at if self._frozen_at is not None else time.time() + self._offset
            self._latest = max(self._latest, now)
            return now

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
        self._changed()

    def freeze(self, at: datetime | None = None, *, rewind: bool = False) -> None:
        if at is not None and not EARLIEST <= at < LATEST:
            raise ValueError(f"the clock stays between {EARLIEST.date()} and {LATEST.date()}")
        with self._lock:
            current = self._frozen_at if self._frozen_at is not None else time.time() + self._offset
            wanted = at.timestamp() if at is not None else current
            if wanted < self._latest and not rewind:
                latest = datetime.fromtimestamp(self._latest, UTC).isoformat()
                raise ValueError(
                    f"{at.isoformat() if at else wanted} is before {latest}, an instant the twins already stamped "
                    "documents with: freeze with rewind to go back anyway"
                )
            self._frozen_at = wanted
            if rewind:
                self._latest = wanted
        self._changed()

    def resume(self) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - time.time()
                self._frozen_at = None
        self._changed()

    def reset(self) -> None:
        """Back to real time, forgetting the instants handed out."""
        with self._lock:
            self._offset = 0.0
            self._frozen_at = None
            self._latest = 0.0
        if self.on_change is not None:
            self.on_change(self._state())  # not export(): counting the present as handed out undoes the forgetting

    def state(self) -> dict[str, object]:
        return {"now": self.now().isoformat(), "frozen": self.frozen, "offset_seconds": round(self._offset, 3)}

    def export(self) -> dict[str, float | None]:
        """What a restart needs to continue this clock."""
        self.timestamp()  # the present counts as handed out: a restart must not go behind it
        return self._state()

    def _state(self) -> dict[str, float | None]:
        with self._lock:
            return {"offset": self._offset, "frozen_at": self._frozen_at, "latest": self._latest}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Continue a clock from `export`; a running one that would now stand behind its latest instant (the
        system clock went back meanwhile) moves forward to it."""
        with self._lock:
            self._offset = float(state.get("offset") or 0.0)
            frozen = state.get("frozen_at")
            self._frozen_at = None if frozen is None else float(frozen)
            self._latest = float(state.get("latest") or 0.0)
            if self._frozen_at is None and time.time() + self._offset < self._latest:
                self._offset = self._latest - time.time()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self.export())
