"""The live twins: one store, one clock, one fault registry and one request journal shared by every twin; each
twin's model, state and auth. A twin is mounted once per document it serves: its main one at its base path, and
each of its record's other documents at theirs, all on the same state, auth, limiter and faults."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from apitwin.auth import CREDENTIALS, Authenticator, RateLimit, RateLimiter, ranked_roles
from apitwin.clock import Clock
from apitwin.engine import Route, TwinModel, TwinState, build_model
from apitwin.faults import Faults
from apitwin.journal import DEFAULT_SIZE, Journal
from apitwin.spec import load_resolved
from apitwin.store import Store, StoreBackend
from apitwin.twins import Document, Twin


@dataclass
class LiveTwin:
    twin: Twin
    model: TwinModel
    state: TwinState
    limiter: RateLimiter
    authenticator: Authenticator
    mount_path: str
    alias_paths: tuple[str, ...] = ()
    faults: Faults = field(default_factory=Faults)
    document: Document | None = None  # another document of the twin this mount serves; None: its main one

    def __post_init__(self) -> None:
        # the most literal path first, as connexion routes: /jobs/latest before /jobs/{jobId}
        routes = sorted(self.model.routes.values(), key=lambda route: route.path.count("{"))
        self._patterns = [
            (re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(route.path)) + "$"), route) for route in routes
        ]
        # whether any operation answers XML: then errors may be XML too (see app._ErrorHandlers)
        self.offers_xml = any("application/xml" in route.media_types for route in self.model.routes.values())

    @property
    def spec_path(self) -> Path:
        """The document this mount serves."""
        return self.twin.spec_path if self.document is None else self.document.spec_path

    @property
    def spec_file(self) -> str:
        return self.twin.spec_file if self.document is None else self.document.spec_file

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
        matching = [route for pattern, route in self._patterns if pattern.match(relative_path)]
        return {route.method for route in matching if route.path == matching[0].path}

    def route_for(self, method: str, relative_path: str) -> Route | None:
        """The documented operation a request reaches, if any."""
        return next(
            (route for pattern, route in self._patterns if route.method == method and pattern.match(relative_path)),
            None,
        )

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
    ) -> None:
        self.store: StoreBackend = store or Store()
        self.clock = clock or Clock()
        saved_clock = self.store.get_meta("clock")
        if saved_clock is not None:  # the clock goes on where the store's last server left it
            self.clock.restore(saved_clock)
        self.clock.on_change = lambda state: self.store.set_meta("clock", state)
        self.prefixed = prefixed
        # with a shared store the rules live in it, so every worker (or host) applies the same ones
        self.faults = Faults(store=self.store if self.store.shared else None)
        self._meta_seen: int | None = None  # the first request takes up the shared fault rules (and the clock)
        self.journal = Journal(self.clock, journal_size)
        self.twins: dict[str, LiveTwin] = {}  # each twin's main mount
        self.mounts: list[LiveTwin] = []  # every mount: each twin's main one, then its other documents'
        for twin in twins:
            model = build_model(load_resolved(twin.spec_path), source=twin.spec_file)
            effects = twin.behaviours().effects()
            state = TwinState(twin.name, self.store, self.clock, model.conventions, model.collections, effects)
            for definition in model.collections.values():  # every effect a machine names exists
                for action in definition.machine.actions.values() if definition.machine else ():
                    if action.effect is not None and action.effect not in effects:
                        raise ValueError(f"{twin.spec_file}: machine effect {action.effect!r} is not registered")
            limit = (rate_limits or {}).get(twin.name, twin.rate_limit)
            limiter = RateLimiter(limit, self.clock)
            authenticator = Authenticator(
                twin.name,
                self.store,
                limiter,
                read_credential=twin.read_credential,
                authorizer=twin.authorizer
                or (twin.permissions.authorizer(self.store, twin.name) if twin.permissions else None)
                or (ranked_roles(twin.roles) if twin.roles else None),
                malformed_message=twin.malformed_credentials,
                invalid_message=twin.invalid_credentials,
                keys=twin.keys,
            )
            live = LiveTwin(
                twin,
                model,
                state,
                limiter,
                authenticator,
                twin.mount_path(prefixed),
                tuple(twin.mount_path(prefixed, alias) for alias in twin.base_path_aliases),
                self.faults,
            )
            self.twins[twin.name] = live
            self.mounts += [live, *(live.serving(document, prefixed) for document in twin.documents)]
        mounts = [live.mount_path for live in self.mounts]
        clashes = {m for m in mounts if mounts.count(m) > 1}
        if clashes:
            raise ValueError(f"twins share base path(s) {sorted(clashes)}: serve them with their /<twin> prefix")

    def seed(self, reset: bool = False) -> None:
        """Load fixtures into every twin whose state is empty (or every twin, with reset), in one transaction: of
        several workers starting on one shared store, the first seeds it and the others find it seeded."""
        with self.store.transaction():
            for live in self.twins.values():
                if reset or self.store.is_empty(f"{live.twin.name}/"):
                    live.reset()

    def refresh(self) -> None:
        """Take up what another process sharing the store changed: the clock and the fault rules. It costs one
        read of a counter per request when nothing changed, and nothing for a store of this process's own."""
        if not self.store.shared:
            return
        version = self.store.meta_version()
        if version == self._meta_seen:
            return
        self._meta_seen = version  # read before the values: a change made meanwhile is taken up next time
        saved_clock = self.store.get_meta("clock")
        if saved_clock is not None:
            self.clock.restore(saved_clock)
        self.faults.refresh()

    def reset(self, name: str | None = None) -> None:
        """A fresh start (every twin, or the one named): state back to the fixtures, no fault rules, a journal
        that forgets the requests, and for every twin the clock real again (the twins share it: only a reset of
        all of them may move it). Snapshots survive: restoring one after a reset is what they are for."""
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
        again, no snapshot. Only for an in-memory store: a new app over a store file would find its state."""
        if not self.store.in_memory:
            raise ValueError("only an app with its state in memory can be made new again")
        self.store.load("", {})  # a table a test made outside the twins' fixtures, a new store does not hold
        self.reset()
        self.faults.restart()
        self.journal.restart()
        for snapshot in self.store.snapshots():
            self.store.delete_snapshot(snapshot)

    def twin_for_path(self, path: str) -> LiveTwin | None:
        for live in sorted(self.mounts, key=lambda lt: len(lt.mount_path), reverse=True):
            if path == live.mount_path or path.startswith(live.mount_path + "/"):
                return live
        return None

    def locate(self, path: str) -> tuple[LiveTwin, str] | None:
        """The twin a request path belongs to and the path as the twin serves it: an alias base path reads as
        the main one, and a trailing slash the spec does not document is dropped (or one it does, added)."""
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
        located = self.locate(path)
        if located is None:
            return None, None
        live, relative = located
        route = live.route_for(method, relative)
        return live.twin.name, route.operation_id if route else None
