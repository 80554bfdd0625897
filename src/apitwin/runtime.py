"""The live twins: one store and one clock shared by every twin, each twin's model, state and auth."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from apitwin.auth import CREDENTIALS, Authenticator, RateLimit, RateLimiter, ranked_roles
from apitwin.clock import Clock
from apitwin.engine import TwinModel, TwinState, build_model
from apitwin.faults import Faults
from apitwin.spec import load_resolved
from apitwin.store import Store
from apitwin.twins import Twin


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

    def __post_init__(self) -> None:
        self._patterns = [
            (re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(route.path)) + "$"), route.method)
            for route in self.model.routes.values()
        ]
        # whether any operation answers XML: then errors may be XML too (see app._ErrorHandlers)
        self.offers_xml = any("application/xml" in route.media_types for route in self.model.routes.values())

    def methods_for(self, relative_path: str) -> set[str]:
        """The HTTP methods the spec documents for a path below the twin's base path."""
        return {method for pattern, method in self._patterns if pattern.match(relative_path)}

    def fixtures(self) -> dict[str, Any]:
        fixtures: dict[str, Any] = json.loads(self.twin.fixtures_path.read_text(encoding="utf-8"))
        return fixtures

    def credentials(self) -> list[dict[str, Any]]:
        """The credentials a client may send, as stored (the first one has every privilege)."""
        return self.state.store.all(f"{self.twin.name}/{CREDENTIALS}")

    def reset(self) -> None:
        """Back to the committed fixtures: collections, credentials and rate-limit counters."""
        fixtures = self.fixtures()
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
        store: Store | None = None,
        clock: Clock | None = None,
        prefixed: bool = True,
        rate_limits: Mapping[str, RateLimit | None] | None = None,
    ) -> None:
        self.store = store or Store()
        self.clock = clock or Clock()
        self.prefixed = prefixed
        self.faults = Faults()
        self.twins: dict[str, LiveTwin] = {}
        for twin in twins:
            model = build_model(load_resolved(twin.spec_path), source=twin.spec_file)
            state = TwinState(twin.name, self.store, self.clock, model.conventions, model.collections)
            limit = (rate_limits or {}).get(twin.name, twin.rate_limit)
            limiter = RateLimiter(limit, self.clock)
            authenticator = Authenticator(
                twin.name,
                self.store,
                limiter,
                read_credential=twin.read_credential,
                authorizer=twin.authorizer or (ranked_roles(twin.roles) if twin.roles else None),
                malformed_message=twin.malformed_credentials,
                invalid_message=twin.invalid_credentials,
            )
            self.twins[twin.name] = LiveTwin(
                twin,
                model,
                state,
                limiter,
                authenticator,
                twin.mount_path(prefixed),
                tuple(twin.mount_path(prefixed, alias) for alias in twin.base_path_aliases),
                self.faults,
            )
        mounts = [live.mount_path for live in self.twins.values()]
        clashes = {m for m in mounts if mounts.count(m) > 1}
        if clashes:
            raise ValueError(f"twins share base path(s) {sorted(clashes)}: serve them with their /<twin> prefix")

    def seed(self, reset: bool = False) -> None:
        """Load fixtures into every twin whose state is empty (or every twin, with reset)."""
        for live in self.twins.values():
            if reset or self.store.is_empty(f"{live.twin.name}/"):
                live.reset()

    def reset(self, name: str | None = None) -> None:
        for live in self.twins.values():
            if name is None or live.twin.name == name:
                live.reset()

    def twin_for_path(self, path: str) -> LiveTwin | None:
        for live in sorted(self.twins.values(), key=lambda lt: len(lt.mount_path), reverse=True):
            if path == live.mount_path or path.startswith(live.mount_path + "/"):
                return live
        return None
