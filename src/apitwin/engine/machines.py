"""State machines declared as data (x-twin `machine`) and run on the twin's clock: a dataset's status, a
harvester's, a form's. Declared on a collection, a machine keeps each item's state in a private field:

    {status, previous, next, since, message, params, records_errors, outcome}

An action (publish, abort...) moves an item from one of its `from` states to `to` (400 in the API's words
otherwise), plans the `next` state, and records the run's `outcome`: the fields it sets when the run ends
(`set`, and whatever the action's `effect`, a function of the twin's behaviours, computed from the item once the
action is allowed; its field names may be dotted, `metadata.default.records_count`, so the run changes only
them; an effect's `now` are fields set when the action is taken, a run's start time). An effect that ends the
run elsewhere (`to`: an error, a limit reached) sets only what it says. An effect may also write other items
(a harvest's datasets, a form's next draft): in the action's transaction, so all or nothing. A machine with a
`status_field` shows its state in that property of the item too (a harvester's `status`).
Automatic transitions leave a state by themselves `after` seconds of virtual time: to their `to`, or to the
`next` the action planned; one with a `to` ends the run, applying the outcome (which may end it elsewhere: an
error, a limit reached). Nothing sleeps: an item's state is settled from its `since` and the clock whenever it
is read, so a frozen clock holds a dataset in `queued` until a test advances it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from apitwin.engine.schemas import plant

RECORD_KEYS = ("status", "previous", "next", "since", "message", "params", "records_errors", "outcome")


@dataclass(frozen=True)
class Transition:
    """An action: allowed from `sources` (and when the item's fields are `when`), to `to`, then `next`."""

    name: str
    sources: tuple[str, ...]
    to: str
    next: str | None = None
    when: Mapping[str, Any] = field(default_factory=dict)
    sets: Mapping[str, Any] = field(default_factory=dict)  # item fields the run sets when it ends
    effect: str | None = None  # a behaviour-registered function: (item) -> outcome changes
    expects: str | None = None  # the allowed states as the service names them in its refusal, when it differs
    refusal: str | None = None  # the message when `when` does not hold (the states would not explain it)


@dataclass(frozen=True)
class Automatic:
    after: float  # seconds in the state before leaving it
    to: str | None = None  # None: the `next` the action planned


@dataclass(frozen=True)
class MachineDef:
    field: str  # the item's private field that holds the machine's record
    states: tuple[str, ...]
    initial: str
    actions: Mapping[str, Transition]
    automatic: Mapping[str, Automatic]
    error_code: str  # what a refused action answers: the API's error code, and its message with {status},
    error_message: str  # {allowed} (the states it needs) and {action} filled in
    reply: Any = None  # what an accepted action answers ({"detail": "ok"})
    shows: tuple[str, ...] = ()  # item fields the state view includes (is_published)
    status_field: str | None = None  # the item's public property that shows its state, if any

    def new_record(self, now: float | None) -> dict[str, Any]:
        return {"status": self.initial, "previous": None, "next": None, "since": now, "message": None,
                "params": {}, "records_errors": [], "outcome": None}  # fmt: skip


class Refused(Exception):
    """An action the item's state (or fields) does not allow; the message in the API's words."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def moving(machine: MachineDef, item: Mapping[str, Any], now: float) -> bool:
    """Whether reading the item at `now` would show another state than its stored one (or it has none)."""
    record = item.get(machine.field)
    if not isinstance(record, Mapping):
        return True
    automatic = machine.automatic.get(record.get("status"))  # type: ignore[arg-type]
    return automatic is not None and record.get("since") is not None and now >= float(record["since"]) + automatic.after


def settle(machine: MachineDef, item: Mapping[str, Any], now: float) -> dict[str, Any] | None:
    """The item as it stands at `now`, its automatic transitions taken (and a finished run's outcome applied);
    None when nothing moved (the stored item is current)."""
    record = item.get(machine.field)
    if not isinstance(record, Mapping):
        return None
    settled: dict[str, Any] | None = None
    current: dict[str, Any] = dict(record)
    while (automatic := machine.automatic.get(current["status"])) is not None and current["since"] is not None:
        at = float(current["since"]) + automatic.after
        if now < at:
            break
        settled = settled if settled is not None else dict(item)
        outcome = current.get("outcome") or {}
        if automatic.to is None:  # a queue: on to what the action planned, then to where that state leads
            target = current.get("next") or machine.initial
            following = machine.automatic.get(target)
            planned = outcome.get("to") if following is not None and following.to is not None else None
            after = planned or (following.to if following is not None else None)
            current = {**current, "previous": current["status"], "status": target, "next": after, "since": at}
        else:  # the run ends: where its outcome says, with the fields it sets
            for name, value in (outcome.get("set") or {}).items():
                plant(settled, name, copy.deepcopy(value))
            current = {
                **current,
                "previous": current["status"],
                "status": outcome.get("to") or automatic.to,
                "next": None,
                "since": at,
                "message": outcome.get("message"),
                "params": outcome.get("params") or {},
                "records_errors": outcome.get("records_errors") or [],
                "outcome": None,
            }
    if settled is None:
        return None
    settled[machine.field] = current
    if machine.status_field is not None:
        settled[machine.status_field] = current["status"]
    return settled


def check(machine: MachineDef, item: Mapping[str, Any], action: str) -> None:
    """Refused unless the item (settled) may take `action` now."""
    transition = machine.actions[action]
    status = (item.get(machine.field) or {}).get("status", machine.initial)
    if status not in transition.sources:
        allowed = transition.expects or ", ".join(transition.sources)
        raise Refused(machine.error_code, machine.error_message.format(status=status, allowed=allowed, action=action))
    if any(item.get(name) != value for name, value in transition.when.items()):
        message = transition.refusal or machine.error_message
        raise Refused(machine.error_code, message.format(status=status, allowed=status, action=action))


def ends_at(machine: MachineDef, action: str, now: float) -> float:
    """When a run `action` begins at `now` would end, left alone: its automatic states' times added up."""
    transition = machine.actions[action]
    at, state, planned = now, transition.to, transition.next
    for _ in machine.states:  # a machine's automatic path visits each state at most once
        automatic = machine.automatic.get(state)
        if automatic is None:
            break
        at += automatic.after
        state, planned = (automatic.to or planned or machine.initial), None
        if automatic.to is not None:
            break
    return at


def start(
    machine: MachineDef, item: Mapping[str, Any], action: str, now: float, effect: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The item after `action` (already settled at `now`), or Refused."""
    transition = machine.actions[action]
    record = dict(item.get(machine.field) or machine.new_record(now))
    status = record["status"]
    check(machine, {**item, machine.field: record}, action)
    effect = dict(effect or {})
    taken_now = effect.pop("now", None) or {}
    # a run the effect ends elsewhere (an error, a limit) sets only what the effect says, not the action's sets
    sets = effect.get("set", {}) if effect.get("to") else {**transition.sets, **effect.get("set", {})}
    outcome = {**effect, "set": sets}
    changed = dict(item)
    for name, value in taken_now.items():
        plant(changed, name, copy.deepcopy(value))
    if machine.status_field is not None:
        changed[machine.status_field] = transition.to
    changed[machine.field] = {
        **record,
        "previous": status,
        "status": transition.to,
        "next": transition.next,
        "since": now,
        "outcome": outcome,
    }
    if transition.next is None and transition.to not in machine.automatic:  # an action that ends at once
        for name, value in sets.items():
            plant(changed, name, copy.deepcopy(value))
    return changed


def view(machine: MachineDef, item: Mapping[str, Any], timestamp: Any, since_ever: Any = None) -> dict[str, Any]:
    """The state as the API shows it: the record's public keys, `since` in the API's date format (for a state
    held since before the twin knew, `since_ever`: the item's last change), and the item fields it shows."""
    record = item.get(machine.field) or {}
    shown = {key: record.get(key) for key in RECORD_KEYS if key not in ("since", "outcome")}
    shown["since"] = timestamp(record["since"]) if record.get("since") is not None else since_ever
    shown["params"] = shown["params"] or {}
    shown["records_errors"] = shown["records_errors"] or []
    for name in machine.shows:
        shown[name] = item.get(name)
    return shown
