"""The request journal: what the twins were asked and what they answered, as WireMock's `/__admin/requests`.

A bounded ring of entries (the oldest fall out), read through `GET /__apitwin/requests`, the pytest plugin's
`twin.requests` and `apitwin serve --log`. An entry holds the request line, the twin and operation it
reached, the status, the duration and the fault that was injected, if any; never headers nor bodies, so no
credential can reach it. Control-plane requests are not journalled: the journal is about the client under
test, not about the test's own levers.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apitwin.clock import Clock

DEFAULT_SIZE = 1000


@dataclass(frozen=True)
class JournalEntry:
    id: int  # increasing: a later request has a larger id
    at: str  # when it arrived, on the twins' virtual clock (ISO 8601), as the timestamps it may have written
    method: str
    path: str  # as the client sent it, before any alias or trailing-slash rewrite
    query: Mapping[str, list[str]]
    twin: str | None  # None for a path that belongs to no twin (a client with a wrong base URL)
    operation_id: str | None  # None when no documented operation matches (404, 405, a CORS preflight, docs)
    status: int
    duration_ms: float
    fault: Mapping[str, Any] | None = field(default=None)  # {"source", "status", "delay_ms"} when one applied

    def view(self) -> dict[str, Any]:
        return asdict(self)

    def log_line(self) -> str:
        """One line for `apitwin serve --log`: method, path, status, duration, twin, operationId (and fault)."""
        query = "&".join(f"{name}={value}" for name, values in self.query.items() for value in values)
        target = f"{self.path}?{query}" if query else self.path
        words = [self.method, target, str(self.status), f"{self.duration_ms:.1f}ms", self.twin or "-"]
        words.append(self.operation_id or "-")
        if self.fault:
            words.append(f"(fault: {self.fault['source']})")
        return " ".join(words)


class _Raw(NamedTuple):
    """A request as the middleware records it: made a JournalEntry only when read."""

    id: int
    arrived: float  # on the virtual clock
    method: str
    path: str
    query_string: bytes
    twin: str | None
    operation_id: str | None
    status: int
    seconds: float
    fault: Mapping[str, Any] | None


def _entry(raw: _Raw) -> JournalEntry:
    return JournalEntry(
        id=raw.id,
        at=datetime.fromtimestamp(raw.arrived, UTC).isoformat(),  # what Clock.now() gives at that timestamp
        method=raw.method,
        path=raw.path,
        query=_query_of(raw.query_string),
        twin=raw.twin,
        operation_id=raw.operation_id,
        status=raw.status,
        duration_ms=round(raw.seconds * 1000, 1),
        fault=raw.fault,
    )


class Journal:
    """The last `size` requests to the twins, shared by every twin of an app (of a session: see sessions.py).
    `listeners` may be a list other journals share, so one `subscribe` hears every session's requests."""

    def __init__(
        self, clock: Clock, size: int = DEFAULT_SIZE, listeners: list[Callable[[JournalEntry], None]] | None = None
    ) -> None:
        if size < 0:
            raise ValueError("the journal size is a number of requests, 0 or more")
        self.size = size
        self._clock = clock
        self._entries: deque[_Raw] = deque(maxlen=size)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # the event loop writes, a test's thread may read (the pytest plugin)
        self._listeners = listeners if listeners is not None else []

    def subscribe(self, listener: Callable[[JournalEntry], None]) -> None:
        """Call `listener` with every new entry (even with size 0): `apitwin serve --log` prints them."""
        self._listeners.append(listener)

    def record(
        self,
        *,
        arrived: float,
        method: str,
        path: str,
        query_string: bytes,
        twin: str | None,
        operation_id: str | None,
        status: int,
        seconds: float,
        fault: Mapping[str, Any] | None = None,
    ) -> None:
        """Keep a request (`arrived` as `arrival()` gave it, the query string as sent, how long it took) and tell
        the listeners. It is kept as it came and made a JournalEntry when read: most entries never are."""
        with self._lock:
            raw = _Raw(next(self._ids), arrived, method, path, query_string, twin, operation_id, status, seconds, fault)
            self._entries.append(raw)
        if self._listeners:
            entry = _entry(raw)
            for listener in self._listeners:
                listener(entry)

    def arrival(self) -> float:
        """Now on the twins' virtual clock, for `record`."""
        return self._clock.timestamp()

    def entries(
        self, *, twin: str | None = None, status: int | None = None, operation_id: str | None = None
    ) -> list[JournalEntry]:
        """The matching entries, latest first."""
        with self._lock:
            latest_first = list(reversed(self._entries))
        return [
            _entry(raw)
            for raw in latest_first
            if (twin is None or raw.twin == twin)
            and (status is None or raw.status == status)
            and (operation_id is None or raw.operation_id == operation_id)
        ]

    def restart(self) -> None:
        """As new: no entries, ids from 1 again (the listeners stay: they belong to whoever serves the app)."""
        with self._lock:
            self._entries.clear()
            self._ids = itertools.count(1)

    def clear(self, twin: str | None = None) -> None:
        """Forget every entry, or one twin's."""
        with self._lock:
            if twin is None:
                self._entries.clear()
            else:
                kept = [raw for raw in self._entries if raw.twin != twin]
                self._entries = deque(kept, maxlen=self.size)


@dataclass
class _Note:
    """What the layers below learn about the request while it runs (the fault that applied)."""

    fault: Mapping[str, Any] | None = None


# Set by the journalling middleware for each request; the fault code notes what it injected.
_current_note: ContextVar[_Note | None] = ContextVar("apitwin_journal_note", default=None)


def note_fault(fault: Mapping[str, Any]) -> None:
    """Tell the journal which fault applied to the request being served (a no-op outside a request)."""
    note = _current_note.get()
    if note is not None:
        note.fault = fault


Identify = Callable[[str, str], tuple[str | None, str | None]]
"""(method, path) -> (twin name, operationId), either None when unknown."""


class JournalRequests:
    """ASGI middleware that journals every HTTP request except those under `skip_prefix` (the control plane), in
    the journal `journal_of()` gives when the request arrives (its session's)."""

    def __init__(
        self, app: ASGIApp, *, journal_of: Callable[[], Journal], identify: Identify, skip_prefix: str
    ) -> None:
        self.app = app
        self.journal_of = journal_of
        self.identify = identify
        self.skip_prefix = skip_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path == self.skip_prefix or path.startswith(self.skip_prefix + "/"):
            await self.app(scope, receive, send)
            return
        journal = self.journal_of()
        arrived, started = journal.arrival(), time.perf_counter()
        status = 500  # what the client sees if the app fails before starting an answer
        note = _Note()
        recorded = False

        def record() -> None:
            nonlocal recorded
            recorded = True
            twin, operation_id = self.identify(scope["method"], path)
            journal.record(
                arrived=arrived,
                method=scope["method"],
                path=path,
                query_string=scope.get("query_string", b""),
                twin=twin,
                operation_id=operation_id,
                status=status,
                seconds=time.perf_counter() - started,
                fault=note.fault,
            )

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                record()  # before the last byte leaves: a client that got its answer finds it in the journal
            await send(message)

        token = _current_note.set(note)
        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            _current_note.reset(token)
            if not recorded:
                record()


def _query_of(query_string: bytes) -> dict[str, list[str]]:
    return parse_qs(query_string.decode("latin-1"), keep_blank_values=True) if query_string else {}
