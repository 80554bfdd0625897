"""The live twins and their sessions. The twins' models, routes and mounts are built once; their state (one
store, one clock, one fault registry and one request journal shared by every twin, and per twin its state, auth
and limiter) is a session's (sessions.py): the default one, or the one the request names. A twin is mounted
once per document it serves: its main one at its base path, and each of its record's other documents at
theirs, all on the same session state."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from apitwin.auth import CREDENTIALS, Authenticator, RateLimit, RateLimiter, ranked_roles
from apitwin.clock import Clock
from apitwin.engine import Route, TwinModel, TwinState, build_model
from apitwin.engine.collections import Effect
from apitwin.faults import Faults
from apitwin.journal import DEFAULT_SIZE, Journal, JournalEntry
from apitwin.sessions import (
    CURRENT_SESSION,
    DEFAULT,
    DEFAULT_IDLE_SECONDS,
    DEFAULT_MAX_SESSIONS,
    Session,
    Sessions,
    TwinParts,
)
from apitwin.spec import load_resolved
from apitwin.store import Store, StoreBackend
from apitwin.twins import Document, Twin

LOCATED_KEPT = 4096  # request paths whose twin Runtime.locate remembers


@dataclass
class LiveTwin:
    twin: Twin
    model: TwinModel
    mount_path: str
    session: Callable[[], Session]  # the session of the request being served (the runtime's)
    alias_paths: tuple[str, ...] = ()
    document: Document | None = None  # another document of the twin this mount serves; None: its main one

    def __post_init__(self) -> None:
        # the most literal path first, as connexion routes: /jobs/latest before /jobs/{jobId}
        routes = sorted(self.model.routes.values(), key=lambda route: route.path.count("{"))
        # by number of segments: a parameter matches exactly one, so a path is tried against its own length only
        self._patterns: dict[int, list[tuple[re.Pattern[str], Route]]] = {}
        for route in routes:
            pattern = re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(route.path)) + "$")
            self._patterns.setdefault(route.path.count("/"), []).append((pattern, route))
        # whether any operation answers XML: then errors may be XML too (see app._ErrorHandlers)
        self.offers_xml = any("application/xml" in route.media_types for route in self.model.routes.values())

    @property
    def spec_path(self) -> Path:
        """The document this mount serves."""
        return self.twin.spec_path if self.document is None else self.document.spec_path

    @property
    def spec_file(self) -> str:
        return self.twin.spec_file if self.document is None else self.document.spec_file

    @property
    def parts(self) -> TwinParts:
        return self.session().twins[self.twin.name]

    @property
    def state(self) -> TwinState:
        return self.parts.state

    @property
    def limiter(self) -> RateLimiter:
        return self.parts.limiter

    @property
    def authenticator(self) -> Authenticator:
        return self.parts.authenticator

    @property
    def faults(self) -> Faults:
        return self.session().faults

    def serving(self, document: Document, prefixed: bool) -> LiveTwin:
        """The same twin (state, auth, limiter, faults) mounted at another document's base path, with its routes."""
        model = build_model(load_resolved(document.spec_path), source=document.spec_file)
        if model.collections:
            raise ValueError(f"{document.spec_file}: a twin's other document declares no collections of its own")
        mount_path = self.twin.mount_path(prefixed, document.base_path)
        return replace(self, model=replace(self.model, routes=model.routes), mount_path=mount_path, alias_paths=(),
                       document=document)  # fmt: skip

    def methods_for(self, relative_path: str) -> set[str]:
        """The HTTP methods the spec documents for a path below the twin's base path: those of its most literal
        path item (/resources/files/ is not /resources/{resource_uid}/, which it also matches)."""
        matching = [route for pattern, route in self._candidates(relative_path) if pattern.match(relative_path)]
        return {route.method for route in matching if route.path == matching[0].path}

    def route_for(self, method: str, relative_path: str) -> Route | None:
        """The documented operation a request reaches, if any."""
        return next(
            (
                route
                for pattern, route in self._candidates(relative_path)
                if route.method == method and pattern.match(relative_path)
            ),
            None,
        )

    def _candidates(self, relative_path: str) -> list[tuple[re.Pattern[str], Route]]:
        return self._patterns.get(relative_path.count("/"), [])

    def fixtures(self) -> dict[str, Any]:
        fixtures: dict[str, Any] = json.loads(self.twin.fixtures_path.read_text(encoding="utf-8"))
        return fixtures

    def credentials(self) -> list[dict[str, Any]]:
        """The credentials a client may send, as stored (the first one has every privilege); for a twin whose
        keys live in a collection, its keys not revoked, as {name, credential}."""
        keys = self.twin.keys
        if keys is None:
            return self.state.store.all(f"{self.twin.name}/{CREDENTIALS}")
        return [
            {"name": doc.get(keys.name_field), "credential": doc[keys.key_field]}
            for doc in keys.all(self.state.store, self.twin.name)
            if not doc.get(keys.revoked_field)
        ]

    def reset(self) -> None:
        """Back to the committed fixtures: collections, credentials and rate-limit counters."""
        fixtures = self.fixtures()
        for content in fixtures.get("blobs", {}).values():  # the fixtures' files (text), before what refers to them
            self.state.store.put_blob(content.encode("utf-8"))
        tables: dict[str, list[tuple[str, Mapping[str, Any]]]] = {
            f"{self.twin.name}/{CREDENTIALS}": [(c["credential"], c) for c in fixtures.get("credentials", [])]
        }
        for name, docs in fixtures.get("collections", {}).items():
            definition = self.model.collections[name]
            tables[f"{self.twin.name}/{name}"] = [(definition.store_key(doc), doc) for doc in docs]
        self.state.store.load(f"{self.twin.name}/", tables)
        self.limiter.reset()


class Runtime:
    def __init__(
        self,
        twins: Iterable[Twin],
        *,
        store: StoreBackend | None = None,
        clock: Clock | None = None,
        prefixed: bool = True,
        rate_limits: Mapping[str, RateLimit | None] | None = None,
        journal_size: int = DEFAULT_SIZE,
        session_store: Callable[[str], StoreBackend] | None = None,
        session_idle: float = DEFAULT_IDLE_SECONDS,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
    ) -> None:
        """`store` and `clock` are the default session's; another session gets its store from `session_store`
        (given the session's name; a new in-memory store by default) and a clock of its own. Sessions idle for
        `session_idle` seconds expire; at most `max_sessions` live at once, the default one included (see
        apitwin.sessions)."""
        self.prefixed = prefixed
        self._journal_size = journal_size
        self._journal_listeners: list[Callable[[JournalEntry], None]] = []  # every session's journal tells them
        self._limits: dict[str, RateLimit | None] = {}
        self._effects: dict[str, dict[str, Effect]] = {}
        self._session_store = session_store or (lambda name: Store())
        self.twins: dict[str, LiveTwin] = {}  # each twin's main mount
        self.mounts: list[LiveTwin] = []  # every mount: each twin's main one, then its other documents'
        for twin in twins:
            model = build_model(load_resolved(twin.spec_path), source=twin.spec_file)
            effects = twin.behaviours().effects()
            for definition in model.collections.values():  # every effect a machine names exists
                for action in definition.machine.actions.values() if definition.machine else ():
                    if action.effect is not None and action.effect not in effects:
                        raise ValueError(f"{twin.spec_file}: machine effect {action.effect!r} is not registered")
            self._effects[twin.name] = effects
            self._limits[twin.name] = (rate_limits or {}).get(twin.name, twin.rate_limit)
            live = LiveTwin(
                twin,
                model,
                twin.mount_path(prefixed),
                self.session,
                tuple(twin.mount_path(prefixed, alias) for alias in twin.base_path_aliases),
            )
            self.twins[twin.name] = live
            self.mounts += [live, *(live.serving(document, prefixed) for document in twin.documents)]
        self._longest_first = sorted(self.mounts, key=lambda live: len(live.mount_path), reverse=True)
        self._located: dict[str, tuple[LiveTwin, str] | None] = {}  # see locate
        self._identified: dict[tuple[str, str], tuple[str | None, str | None]] = {}  # see identify
        mounts = [live.mount_path for live in self.mounts]
        clashes = {m for m in mounts if mounts.count(m) > 1}
        if clashes:
            raise ValueError(f"twins share base path(s) {sorted(clashes)}: serve them with their /<twin> prefix")
        default = self._session(DEFAULT, store or Store(), clock or Clock())
        self.sessions = Sessions(default, self.open_session, idle_seconds=session_idle, max_sessions=max_sessions)

    def session(self) -> Session:
        """The session of the request being served; the default one outside a request."""
        return CURRENT_SESSION.get() or self.sessions.default

    @property
    def store(self) -> StoreBackend:
        return self.session().store

    @property
    def clock(self) -> Clock:
        return self.session().clock

    @property
    def faults(self) -> Faults:
        return self.session().faults

    @property
    def journal(self) -> Journal:
        return self.session().journal

    @contextmanager
    def in_session(self, session: Session) -> Iterator[Session]:
        """Act on `session` (outside a request, or on another session than the request's)."""
        token = CURRENT_SESSION.set(session)
        try:
            yield session
        finally:
            CURRENT_SESSION.reset(token)

    def open_session(self, name: str) -> Session:
        """A new session: a store from the session store factory, its twins seeded from the fixtures where empty."""
        with self.in_session(self._session(name, self._session_store(name), Clock())) as session:
            self.seed()
        return session

    def _session(self, name: str, store: StoreBackend, clock: Clock) -> Session:
        """The state objects of a session over `store`: its clock (continued where the store's last server left
        it, and saved with it), fault rules, journal, and per twin its state, limiter and authenticator."""
        saved_clock = store.get_meta("clock")
        if saved_clock is not None:
            clock.restore(saved_clock)
        clock.on_change = lambda state: store.set_meta("clock", state)
        parts = {}
        for live in self.twins.values():
            twin, model = live.twin, live.model
            limiter = RateLimiter(self._limits[twin.name], clock)
            authenticator = Authenticator(
                twin.name,
                store,
                limiter,
                read_credential=twin.read_credential,
                authorizer=twin.authorizer
                or (twin.permissions.authorizer(store, twin.name) if twin.permissions else None)
                or (ranked_roles(twin.roles) if twin.roles else None),
                malformed_message=twin.malformed_credentials,
                invalid_message=twin.invalid_credentials,
                keys=twin.keys,
            )
            state = TwinState(twin.name, store, clock, model.conventions, model.collections, self._effects[twin.name])
            parts[twin.name] = TwinParts(state, limiter, authenticator)
        journal = Journal(clock, self._journal_size, self._journal_listeners)
        # with a shared store the rules live in it, so every worker (or host) applies the same ones
        return Session(name, store, clock, Faults(store=store if store.shared else None), journal, parts)

    def seed(self, reset: bool = False) -> None:
        """Load fixtures into every twin whose state is empty (or every twin, with reset), in one transaction: of
        several workers starting on one shared store, the first seeds it and the others find it seeded."""
        with self.store.transaction():
            for live in self.twins.values():
                if reset or self.store.is_empty(f"{live.twin.name}/"):
                    live.reset()

    def refresh(self) -> None:
        """Take up what another process sharing the store changed: the clock, the fault rules, a session's state
        deleted. It costs one read of a counter per request when nothing changed, and nothing for a store of this
        process's own."""
        session = self.session()
        if not session.store.shared:
            return
        version = session.store.meta_version()
        if version == session.meta_seen:
            return
        session.meta_seen = version  # read before the values: a change made meanwhile is taken up next time
        self.seed()  # a session another worker deleted (its namespace dropped) starts again from the fixtures
        saved_clock = self.store.get_meta("clock")
        if saved_clock is not None:
            self.clock.restore(saved_clock)
        self.faults.refresh()

    def reset(self, name: str | None = None) -> None:
        """A fresh start of the session (every twin, or the one named): state back to the fixtures, no fault
        rules, a journal that forgets the requests, and for every twin the clock real again (the twins share it:
        only a reset of all of them may move it). Snapshots survive: restoring one after a reset is what they
        are for. Other sessions are untouched."""
        for live in self.twins.values():
            if name is None or live.twin.name == name:
                live.reset()
        self.faults.clear(name)
        self.journal.clear(name)
        if name is None:
            self.clock.reset()

    def reset_as_new(self) -> None:
        """Everything as a newly built in-memory app holds it, so tests may share one app: what `reset()` does,
        and no table beyond the fixtures', fault rule and journal ids from 1 again, fault draws from the seed
        again, no snapshot, no session but the default one. Only for an in-memory store: a new app over a store
        file (or a shared one) would find its state."""
        if not self.store.in_memory:
            raise ValueError("only an app with its state in memory can be made new again")
        self.sessions.restart()
        self.store.load("", {})  # a table a test made outside the twins' fixtures, a new store does not hold
        self.reset()
        self.faults.restart()
        self.journal.restart()
        for snapshot in self.store.snapshots():
            self.store.delete_snapshot(snapshot)

    def close(self) -> None:
        """Close every session's store (a file store folds its log into its file)."""
        self.sessions.clear()
        self.sessions.default.store.close()

    def twin_for_path(self, path: str) -> LiveTwin | None:
        for live in self._longest_first:
            if path == live.mount_path or path.startswith(live.mount_path + "/"):
                return live
        return None

    def locate(self, path: str) -> tuple[LiveTwin, str] | None:
        """The twin a request path belongs to and the path as the twin serves it: an alias base path reads as
        the main one, and a trailing slash the spec does not document is dropped (or one it does, added).
        Several stages ask for each request; the answer depends on the path alone, so recent ones are kept."""
        if path in self._located:
            return self._located[path]
        if len(self._located) >= LOCATED_KEPT:  # paths are the clients': the memo stays bounded
            self._located.clear()
        located = self._located[path] = self._locate(path)
        return located

    def _locate(self, path: str) -> tuple[LiveTwin, str] | None:
        for candidate in self.mounts:
            for alias in candidate.alias_paths:
                if path == alias or path.startswith(alias + "/"):
                    path = candidate.mount_path + path[len(alias) :]
        live = self.twin_for_path(path)
        if live is None:
            return None
        relative = path[len(live.mount_path) :]
        if relative and not live.methods_for(relative):
            toggled = relative[:-1] if relative.endswith("/") else relative + "/"
            if live.methods_for(toggled):
                relative = toggled
        return live, relative

    def routes_of(self, name: str) -> dict[str, Route]:
        """A twin's operations, in every document it serves, by operationId."""
        return {op: route for live in self.mounts if live.twin.name == name for op, route in live.model.routes.items()}

    def identify(self, method: str, path: str) -> tuple[str | None, str | None]:
        """(twin, operationId) of a request, for the journal; either is None when the path or method is not one."""
        key = (method, path)
        if key not in self._identified:
            if len(self._identified) >= LOCATED_KEPT:
                self._identified.clear()
            self._identified[key] = self._identify(method, path)
        return self._identified[key]

    def _identify(self, method: str, path: str) -> tuple[str | None, str | None]:
        located = self.locate(path)
        if located is None:
            return None, None
        live, relative = located
        route = live.route_for(method, relative)
        return live.twin.name, route.operation_id if route else None
