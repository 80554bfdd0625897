"""Fault and latency injection, so client developers can exercise their error paths.

Two ways to ask, both answering only statuses the operation documents, in the owning API's error shape:
- per request, Prism-compatible: `Prefer: code=503` (and apitwin's `delay=800`, in milliseconds);
- per rule, through the admin API (`POST /__apitwin/faults`): for a twin, optionally one operationId or a
  method and path glob, a status and/or a delay, for the next N matching requests or with a probability
  drawn from a seeded generator (so a run is repeatable).

With a shared store (several workers or hosts on one Redis), the rules live in the store, as a meta value: each
change (and each rule that fires, which counts against its `times`) is a store transaction that reads the rules
again first, so every worker applies the same rules and a `times: 1` rule fires once in all; each worker draws
probabilities from its own seeded generator.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from apitwin.engine import Route
from apitwin.errors import ErrorKind, TwinError
from apitwin.journal import note_fault

if TYPE_CHECKING:
    from apitwin.store import StoreBackend

MAX_DELAY_MS = 60_000
_HTTP_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"})
SHARED_META = "faults"  # the store's meta value holding the rules, with a shared store


@dataclass
class FaultRule:
    twin: str
    status: int | None = None
    delay_ms: int = 0
    operation_id: str | None = None
    method: str | None = None
    path: str | None = None  # glob on the path below the twin's base path, e.g. /report/*
    times: int | None = None  # how many matching requests it applies to (None: until deleted)
    probability: float = 1.0
    id: int = 0
    applied: int = field(default=0)

    def matches(self, twin: str, route: Route, relative_path: str) -> bool:
        return (
            self.twin == twin
            and (self.operation_id is None or self.operation_id == route.operation_id)
            and (self.method is None or self.method.upper() == route.method)
            and (self.path is None or fnmatch.fnmatchcase(relative_path, self.path))
            and (self.times is None or self.applied < self.times)
            and (self.status is None or self.status in route.statuses)  # only what this operation documents
        )

    def view(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Fault:
    status: int | None
    delay_ms: int
    source: str  # "Prefer header" or "rule 3", for the error message


class Faults:
    """The fault rules of a running app (not part of the twins' state: a reset clears them explicitly); kept in
    `store` when it is shared with other processes (see the module's docstring)."""

    def __init__(self, seed: int = 0, store: StoreBackend | None = None) -> None:
        self._rules: dict[int, FaultRule] = {}
        self._next_id = 1
        self._lock = threading.Lock()
        self._seed = seed
        self._random = random.Random(seed)
        self._store = store

    @contextmanager
    def _changing(self) -> Iterator[None]:
        """Around a change of the rules: with a shared store, in its transaction, from the rules it holds."""
        if self._store is None:
            with self._lock:
                yield
            return
        with self._store.transaction(), self._lock:
            self._take(self._store.get_meta(SHARED_META))
            before = self._shared_state()
            yield
            if self._shared_state() != before:  # a rule that matched but did not fire changed nothing
                self._store.set_meta(SHARED_META, self._shared_state())

    def _shared_state(self) -> dict[str, Any]:
        return {"next_id": self._next_id, "rules": [rule.view() for rule in self._rules.values()]}

    def _take(self, shared: Mapping[str, Any] | None) -> None:
        shared = shared or {}
        self._next_id = int(shared.get("next_id", 1))
        self._rules = {rule["id"]: FaultRule(**rule) for rule in shared.get("rules", [])}

    def refresh(self) -> None:
        """The rules as the shared store holds them now (another worker may have changed them)."""
        if self._store is not None:
            with self._lock:
                self._take(self._store.get_meta(SHARED_META))

    def restart(self) -> None:
        """As new: no rules, ids from 1 again, and the same draws as a new registry makes."""
        with self._changing():
            self._rules.clear()
            self._next_id = 1
            self._random = random.Random(self._seed)

    def add(self, rule: FaultRule) -> FaultRule:
        with self._changing():
            rule.id, self._next_id = self._next_id, self._next_id + 1
            self._rules[rule.id] = rule
            return rule

    def delete(self, rule_id: int) -> bool:
        with self._changing():
            return self._rules.pop(rule_id, None) is not None

    def clear(self, twin: str | None = None) -> None:
        """Delete every rule, or one twin's."""
        with self._changing():
            if twin is None:
                self._rules.clear()
            else:
                self._rules = {rule_id: rule for rule_id, rule in self._rules.items() if rule.twin != twin}

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules.values())

    def pick(self, twin: str, route: Route, relative_path: str) -> Fault | None:
        """The first matching rule that fires for this request (counting it), if any."""
        if not self._rules:  # no rule at all: nothing to look at under the lock
            return None
        with self._lock:
            if not any(rule.matches(twin, route, relative_path) for rule in self._rules.values()):
                return None  # the common case, and with a shared store no transaction for it
        with self._changing():
            for rule in self._rules.values():
                if rule.matches(twin, route, relative_path) and self._random.random() < rule.probability:
                    rule.applied += 1
                    return Fault(rule.status, rule.delay_ms, f"rule {rule.id}")
        return None


def from_prefer(header: str | None) -> Fault | None:
    """`Prefer: code=404, delay=250` (Prism's `code`, plus a delay in milliseconds); other preferences such as
    Prism's `example` or `dynamic` are accepted and ignored."""
    if not header:
        return None
    preferences: dict[str, str] = {}
    for part in header.replace(";", ",").split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            preferences[key.strip().lower()] = value.strip().strip('"')
    if "code" not in preferences and "delay" not in preferences:
        return None
    try:
        status = int(preferences["code"]) if "code" in preferences else None
        delay = int(preferences.get("delay", "0"))
    except ValueError:
        raise TwinError(ErrorKind.INVALID, "Prefer: code and delay must be whole numbers") from None
    return Fault(status, delay, "Prefer header")


def check_fault(fault: Fault, route: Route) -> None:
    """Reject a fault the operation could not really answer: an undocumented status, a silly delay.

    Every fault picked for a request passes here once, so the request journal learns of it here (a refused
    one too: the 400 is its doing)."""
    note_fault(asdict(fault))
    if not 0 <= fault.delay_ms <= MAX_DELAY_MS:
        raise TwinError(ErrorKind.INVALID, f"delay must be between 0 and {MAX_DELAY_MS} ms")
    if fault.status is not None and fault.status not in route.statuses:
        documented = ", ".join(str(s) for s in route.statuses)
        raise TwinError(
            ErrorKind.INVALID,
            f"{fault.source}: {fault.status} is not a documented status of {route.operation_id} ({documented})",
        )


def injected_error(fault: Fault, route: Route) -> TwinError | None:
    """The error to answer instead of running the operation, when the fault asks for an error status."""
    if fault.status is None or fault.status < 400:
        return None  # a documented success: the operation runs normally (a delay may still apply)
    headers: Mapping[str, str] = {"Retry-After": "1"} if fault.status in (429, 503) else {}
    return TwinError(
        ErrorKind.from_status(fault.status),
        f"Injected fault ({fault.source}): {route.operation_id} answers {fault.status}",
        headers=headers,
        status=fault.status,
    )


def rule_from_json(body: Any, twins: Mapping[str, Mapping[str, Route]]) -> FaultRule:
    """A rule from the admin API's JSON, checked against the twins' documented operations and statuses."""
    if not isinstance(body, dict):
        raise TwinError(ErrorKind.INVALID, "send a JSON object")
    allowed = {"twin", "operation_id", "method", "path", "status", "delay_ms", "times", "probability"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise TwinError(ErrorKind.INVALID, f"unknown field(s) {unknown}; allowed: {sorted(allowed)}")
    twin = str(body.get("twin"))
    if twin not in twins:
        raise TwinError(ErrorKind.INVALID, f"twin must be one of {sorted(twins)}")
    for text in ("operation_id", "method", "path"):
        if body.get(text) is not None and not isinstance(body[text], str):
            raise TwinError(ErrorKind.INVALID, f"{text} must be a string")
    method = body.get("method")
    if method is not None and method.upper() not in _HTTP_METHODS:
        raise TwinError(ErrorKind.INVALID, f"method must be one of {', '.join(sorted(_HTTP_METHODS))}")
    operation_id = body.get("operation_id")
    if operation_id is not None and operation_id not in twins[twin]:
        raise TwinError(ErrorKind.INVALID, f"{twin} has no operation {operation_id!r}")
    status, delay, times, probability = (
        body.get("status"),
        body.get("delay_ms", 0),
        body.get("times"),
        body.get("probability", 1.0),
    )
    if status is None and not delay:
        raise TwinError(ErrorKind.INVALID, "a rule needs a status, a delay_ms, or both")
    if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
        raise TwinError(ErrorKind.INVALID, "status must be an error status (400-599)")
    if operation_id is not None and status is not None and status not in twins[twin][operation_id].statuses:
        raise TwinError(ErrorKind.INVALID, f"{status} is not a documented status of {operation_id}")
    if not isinstance(delay, int) or not 0 <= delay <= MAX_DELAY_MS:
        raise TwinError(ErrorKind.INVALID, f"delay_ms must be a whole number from 0 to {MAX_DELAY_MS}")
    if times is not None and (not isinstance(times, int) or times < 1):
        raise TwinError(ErrorKind.INVALID, "times must be a whole number >= 1")
    if not isinstance(probability, int | float) or not 0 < probability <= 1:
        raise TwinError(ErrorKind.INVALID, "probability must be in (0, 1]")
    return FaultRule(
        twin=twin, status=status, delay_ms=delay, operation_id=operation_id, method=body.get("method"),
        path=body.get("path"), times=times, probability=float(probability),
    )  # fmt: skip
