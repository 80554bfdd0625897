"""Sessions: isolated copies of every twin's state on one shared server, chosen per request by a header.

A request with `X-Apitwin-Session: NAME` (twin and control-plane requests alike) runs in session NAME: its own
store, clock, fault rules, request journal, and per twin its `TwinState`, rate limiter and authenticator. What
is shared is what never changes while serving: the twins' models, routes, specs and connexion apps, built once.
A request without the header runs in the default session, which is the server's state exactly as it was
before sessions existed (the `--data` file or memory); the name `default` names it too.

Design:
- `SessionRequests`, the outermost middleware, reads the header and sets `CURRENT_SESSION` (a ContextVar) for
  the request; everything that holds state (`LiveTwin.state/limiter/authenticator/faults`,
  `Runtime.store/clock/faults/journal`) resolves through it, so the engine, behaviours and control plane do not
  change. ContextVars follow the request into `asyncio.to_thread` and the resolver's writer thread (both copy
  the context).
- A session is made on first use by the runtime (`Runtime.open_session`): a store from the runtime's
  `session_store` factory (a new in-memory `Store` by default; a shared backend can give each session its
  own namespace), seeded from the fixtures as the default session is (measured: 20 ms for all five twins, so
  nothing is cached), in a worker thread so the event loop keeps serving.
- A shared server must not grow without bound: a session idle for `idle_seconds` (`apitwin serve
  --session-idle`) is dropped, when next asked for (a new one is made from the fixtures) and by a sweep the
  middleware runs now and then; at most `max_sessions` live at once (`--max-sessions`), beyond which a new
  name is refused with a 503 naming the way out. Idle time is wall time, not a session's virtual clock (which
  a test may move by years).
- A name is 1-64 letters, digits, `.`, `_` or `-`, starting with a letter or digit (it may end up in a key
  namespace or a file name); anything else is a 400 in the shape of the API the request was for.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from apitwin.access import header
from apitwin.auth import Authenticator, RateLimiter
from apitwin.clock import Clock
from apitwin.engine import TwinState
from apitwin.errors import ErrorKind, TwinError
from apitwin.faults import Faults
from apitwin.journal import Journal
from apitwin.shared import SESSION_HEADER
from apitwin.store import StoreBackend

HEADER = SESSION_HEADER  # defined with the client side (apitwin.shared), which must load light
DEFAULT = "default"
DEFAULT_IDLE_SECONDS = 1800.0
DEFAULT_MAX_SESSIONS = 100
SESSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # matched whole: `$` would let a newline end it
_HEADER_KEY = HEADER.lower().encode("latin-1")


@dataclass
class TwinParts:
    """What one twin holds per session: its view of the session's store and clock, its limiter and its auth."""

    state: TwinState
    limiter: RateLimiter
    authenticator: Authenticator


@dataclass
class Session:
    name: str
    store: StoreBackend
    clock: Clock
    faults: Faults
    journal: Journal
    twins: dict[str, TwinParts]
    created: float = 0.0  # wall time, seconds since the epoch
    last_used: float = 0.0
    requests: int = 0  # every request made in it, control-plane ones included
    meta_seen: int | None = None  # the shared store's change counter when its clock and fault rules were taken up

    def view(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "created": _instant(self.created),
            "last_used": _instant(self.last_used),
            "requests": self.requests,
        }


# The session of the request being served; None outside a request (the default session then).
CURRENT_SESSION: ContextVar[Session | None] = ContextVar("apitwin_session", default=None)


def check_name(name: str) -> None:
    if not SESSION_NAME.fullmatch(name):
        raise TwinError(
            ErrorKind.INVALID,
            f"{HEADER}: a session name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )


class Sessions:
    """The live sessions of one runtime, by name; the default one is always there and never expires."""

    def __init__(
        self,
        default: Session,
        open_session: Callable[[str], Session],
        *,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        now: Callable[[], float] = time.time,
    ) -> None:
        if idle_seconds <= 0 or max_sessions < 1:
            raise ValueError("sessions need a positive idle time and room for at least one")
        self.default = default
        self.idle_seconds = idle_seconds
        self.max_sessions = max_sessions
        self._open = open_session
        self._now = now
        default.created = default.last_used = now()
        self._named: dict[str, Session] = {}  # every session but the default one
        self._lock = threading.Lock()  # one change of the registry at a time (a new session is seeded under it)
        self._next_sweep = 0.0
        self._planning = threading.Lock()  # for _next_sweep alone

    def find(self, name: str) -> Session | None:
        """The live session of that name, if any (no lock: a dict read is atomic, and this is every request's)."""
        if name == DEFAULT:
            return self.default
        session = self._named.get(name)
        return None if session is None or self._expired(session) else session

    def get(self, name: str) -> Session:
        """The session of that name, made from the fixtures when it does not exist (or had expired).

        400 for a name that is not one, 503 when `max_sessions` are live already."""
        found = self.find(name)
        if found is not None:
            return found
        check_name(name)
        with self._lock:
            found = self.find(name)  # made meanwhile by a request that held the lock first
            if found is not None:
                return found
            self._drop_expired()
            if len(self._named) + 1 >= self.max_sessions:  # the default session counts
                raise TwinError(
                    ErrorKind.SERVER,
                    f"this server holds its maximum of {self.max_sessions} sessions (apitwin serve --max-sessions): "
                    f"delete one (DELETE /__apitwin/sessions/NAME) or wait for idle ones to expire "
                    f"(after {self.idle_seconds:g} s)",
                    status=503,
                )
            session = self._open(name)
            session.created = session.last_used = self._now()
            self._named[name] = session
            return session

    def used(self, session: Session) -> None:
        """Count a request in the session, now."""
        session.last_used = self._now()
        session.requests += 1

    def all(self) -> list[Session]:
        """The live sessions, the default one first, then by name."""
        with self._lock:
            self._drop_expired()
            return [self.default, *sorted(self._named.values(), key=lambda session: session.name)]

    def delete(self, name: str) -> bool:
        """Forget a session and its state; False when none of that name lives. The default one cannot go."""
        if name == DEFAULT:
            raise TwinError(ErrorKind.INVALID, "the default session is never deleted: POST /__apitwin/reset resets it")
        with self._lock:
            session = self._named.pop(name, None)
        if session is None:
            return False
        session.store.forget()  # over Redis its namespace goes too: the name starts again from the fixtures
        return not self._expired(session)  # one idle past its time was gone already, for its clients

    def clear(self) -> None:
        """Forget every session but the default one."""
        with self._lock:
            dropped, self._named = list(self._named.values()), {}
        for session in dropped:
            session.store.close()

    def restart(self) -> None:
        """As new: no session but the default one, which counts its requests from now."""
        self.clear()
        self.default.created = self.default.last_used = self._now()
        self.default.requests = 0

    def sweep_due(self) -> bool:
        """Whether a sweep for idle sessions is due: at most every tenth of the idle time (and every minute). The
        next one is planned at once, so of a burst of requests one sweeps, not each."""
        if not self._named or self._now() < self._next_sweep:
            return False
        with self._planning:  # never the registry's lock: the event loop must not wait for a session's seeding
            if self._now() < self._next_sweep:
                return False
            self._next_sweep = self._now() + min(self.idle_seconds / 10, 60.0)
            return True

    def sweep(self) -> None:
        """Drop the sessions idle for too long."""
        with self._lock:
            self._drop_expired()

    def _expired(self, session: Session) -> bool:
        return self._now() - session.last_used > self.idle_seconds

    def _drop_expired(self) -> None:
        """(under the lock)"""
        for name in [name for name, session in self._named.items() if self._expired(session)]:
            self._named.pop(name).store.close()


class SessionRequests:
    """ASGI middleware, outermost: runs each request in the session its header names (the default one without).

    `may_open(scope)` says whether this request may make a new session: one from a Host the server refuses (a
    DNS-rebinding page) must not fill the registry; it runs in the default session, to be refused inside.
    `registry_path(path)` names the paths that act on the registry itself (listing, deleting): they run in
    the default session whatever the header says, so listing sessions never makes one."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        sessions: Sessions,
        respond: Callable[[Scope, TwinError], Response],
        may_open: Callable[[Scope], bool],
        registry_path: Callable[[str], bool],
    ) -> None:
        self.app = app
        self.sessions = sessions
        self.respond = respond
        self.may_open = may_open
        self.registry_path = registry_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.sessions.sweep_due():
            await asyncio.to_thread(self.sessions.sweep)  # a dropped session's store is closed: off the loop
        if self.registry_path(scope["path"]):  # no session's request: counted in none
            await self.app(scope, receive, send)
            return
        name = header(scope, _HEADER_KEY)
        session = self.sessions.default
        if name is not None:
            found = self.sessions.find(name)
            try:
                if found is None and self.may_open(scope):
                    found = await asyncio.to_thread(self.sessions.get, name)  # seeding takes its time: off the loop
            except TwinError as error:
                await self.respond(scope, error)(scope, receive, send)
                return
            session = found or session
        self.sessions.used(session)
        token = CURRENT_SESSION.set(session)
        try:
            await self.app(scope, receive, send)
        finally:
            CURRENT_SESSION.reset(token)


def _instant(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")
