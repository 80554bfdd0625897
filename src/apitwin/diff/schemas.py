"""Schema rules: one schema node present in both documents (type, null, enum, limits, alternatives, properties),
and the walker that applies them at every node two schemas share. A rule's `location` is relative to the schema
node; the walker puts the node's own location in front."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from apitwin.diff.changes import Direction, Finding, Findings, Severity, _join
from apitwin.diff.registry import SCHEMA_RULES, schema_rule
from apitwin.diff.schema_view import SchemaPair, _widened

_MAX_DEPTH = 64  # schema nesting compared; recursive schemas stop earlier, at the first repeated pair of nodes


def _values(values: Iterable[Any]) -> str:
    return ", ".join(json.dumps(value) for value in values)


def _shown(value: Any) -> str:
    return "none" if value is None else f"'{value}'" if isinstance(value, str) else json.dumps(value)


def _key(value: Any) -> str:
    """An enum value as a comparable key (json keeps 1 and true apart, as Python's == does not)."""
    return json.dumps(value, sort_keys=True, default=str)


def _schema_finding(
    pair: SchemaPair, where: str, text: str, *, stricter: bool, looser: bool, looser_response: Severity = "warning"
) -> Finding:
    """A schema that accepts fewer values breaks requests (clients send values that are now rejected); one that
    allows more surprises clients reading responses (`looser_response`); the other way round is harmless."""
    if pair.direction == "request":
        severity: Severity = "breaking" if stricter else "info"
    else:
        severity = looser_response if looser else "info"
    why = _CONSEQUENCES.get((pair.direction, severity))
    return Finding(severity, where, f"{text}: {why}" if why else text)


_CONSEQUENCES = {
    ("request", "breaking"): "values existing clients send may be rejected",
    ("response", "breaking"): "clients may get values they cannot handle",
    ("response", "warning"): "clients may get values they do not expect",
}


def _type_text(types: frozenset[str] | None) -> str:
    return "any type" if types is None else " or ".join(sorted(types)) or "null"


@schema_rule
def type_changed(pair: SchemaPair) -> Findings:
    """The type changed: narrower breaks requests, wider breaks responses, unrelated types break both."""
    old, new = pair.old.types, pair.new.types
    if old == new or (old is not None and new is not None and _widened(old) == _widened(new)):
        return
    wider = new is None or (old is not None and _widened(old) <= _widened(new))
    narrower = old is None or (new is not None and _widened(new) <= _widened(old))
    text = f"type is now {_type_text(new)} (was {_type_text(old)})"
    yield _schema_finding(pair, "type", text, stricter=not wider, looser=not narrower, looser_response="breaking")


@schema_rule
def nullable_changed(pair: SchemaPair) -> Findings:
    """Null is now allowed (breaking in responses: clients may not expect it) or no longer (breaking in requests)."""
    if pair.old.nullable != pair.new.nullable:
        now = pair.new.nullable
        text = f"the value may {'now' if now else 'no longer'} be null"
        yield _schema_finding(pair, "nullable", text, stricter=not now, looser=now, looser_response="breaking")


@schema_rule
def enum_changed(pair: SchemaPair) -> Findings:
    """Values removed or an enum introduced (breaking in requests), values added or the enum dropped (a warning in
    responses: clients may not handle the new values)."""
    old, new = pair.old.enum, pair.new.enum
    if old is None and new is not None:
        yield _schema_finding(pair, "enum", f"values are now limited to {_values(new)}", stricter=True, looser=False)
    elif old is not None and new is None:
        text = f"values are no longer limited to {_values(old)}"
        yield _schema_finding(pair, "enum", text, stricter=False, looser=True)
    elif old is not None and new is not None:
        old_keys, new_keys = {_key(value) for value in old}, {_key(value) for value in new}
        if removed := [value for value in old if _key(value) not in new_keys]:
            text = f"{_values(removed)} {'is' if len(removed) == 1 else 'are'} no longer allowed"
            yield _schema_finding(pair, "enum", text, stricter=True, looser=False)
        if added := [value for value in new if _key(value) not in old_keys]:
            text = f"{_values(added)} {'is' if len(added) == 1 else 'are'} now allowed"
            yield _schema_finding(pair, "enum", text, stricter=False, looser=True)


@schema_rule
def constraint_changed(pair: SchemaPair) -> Findings:
    """A length, size or range limit is stricter or looser; a pattern, format or multipleOf added (stricter),
    removed (looser) or changed (both)."""
    old_limits, new_limits = pair.old.limits, pair.new.limits
    for name in [*old_limits, *(name for name in new_limits if name not in old_limits)]:
        old, new = old_limits.get(name), new_limits.get(name)
        if old is None or new is None or old[0] != new[0]:
            stricter = old is None or (new is not None and new[0] > old[0])
            text = f"{name} is now {new[1] if new else 'none'} (was {old[1] if old else 'none'})"
            yield _schema_finding(pair, name, text, stricter=stricter, looser=not stricter)
    for name in ("pattern", "format", "multipleOf", "uniqueItems"):
        old_value, new_value = pair.old.exact.get(name), pair.new.exact.get(name)
        if old_value != new_value:
            text = f"{name} is now {_shown(new_value)} (was {_shown(old_value)})"
            yield _schema_finding(pair, name, text, stricter=new_value is not None, looser=old_value is not None)


@schema_rule
def alternatives_changed(pair: SchemaPair) -> Findings:
    """A oneOf/anyOf has fewer alternatives (breaking in requests) or more (a warning in responses)."""
    old, new = len(pair.old.alternatives), len(pair.new.alternatives)
    if old and new and old != new:
        text = f"the schema now has {new} oneOf/anyOf alternatives (was {old})"
        yield _schema_finding(pair, "", text, stricter=new < old, looser=new > old)


@schema_rule
def property_removed(pair: SchemaPair) -> Findings:
    """A property is gone: from a response, clients reading it break; from a request, clients sending it are
    rejected when additionalProperties is false, else the server silently ignores it (warning)."""
    for name in [name for name in pair.old.properties if name not in pair.new.properties]:
        where = f"properties.{name}"
        if pair.direction == "response":
            yield Finding("breaking", where, f"property {name!r} is no longer returned: clients reading it break")
        elif pair.new.additional is False:
            text = f"property {name!r} was removed and additionalProperties is false: clients sending it are rejected"
            yield Finding("breaking", where, text)
        else:
            yield Finding("warning", where, f"property {name!r} was removed: the server ignores it if clients send it")


@schema_rule
def property_added(pair: SchemaPair) -> Findings:
    """A new property: breaking in a request when required, otherwise info."""
    for name in [name for name in pair.new.properties if name not in pair.old.properties]:
        if pair.direction == "request" and name in pair.new.required:
            text = f"new required property {name!r}: existing clients do not send it and are rejected"
            yield Finding("breaking", f"properties.{name}", text)
        else:
            yield Finding(
                "info", f"properties.{name}", f"new {'optional ' * (pair.direction == 'request')}property {name!r}"
            )


@schema_rule
def property_required_changed(pair: SchemaPair) -> Findings:
    """A property became required (breaking in requests) or optional (breaking in responses: it may be absent)."""
    for name in [name for name in pair.new.properties if name in pair.old.properties]:
        now = name in pair.new.required
        if now == (name in pair.old.required):
            continue
        where = f"properties.{name}"
        if pair.direction == "request" and now:
            yield Finding("breaking", where, f"property {name!r} is now required: clients that omit it are rejected")
        elif pair.direction == "response" and not now:
            yield Finding("breaking", where, f"property {name!r} may now be absent: clients that always read it break")
        else:
            yield Finding("info", where, f"property {name!r} is now {'required' if now else 'optional'}")


def compare_schemas(old: Any, new: Any, direction: Direction) -> Iterator[tuple[str, Finding]]:
    """(rule, finding) of every schema rule at every node both schemas have; locations relative to the roots."""
    yield from _walk(old, new, direction, "", frozenset())


def _walk(
    old: Any, new: Any, direction: Direction, where: str, seen: frozenset[tuple[int, int]]
) -> Iterator[tuple[str, Finding]]:
    # resolved recursive schemas are cyclic: stop at a pair of nodes this branch is already comparing
    if (id(old), id(new)) in seen or len(seen) >= _MAX_DEPTH:
        return
    seen |= {(id(old), id(new))}
    pair = SchemaPair(old, new, direction)
    rules = SCHEMA_RULES if pair.comparable else {"type_changed": type_changed}  # the rest would be noise
    for name, check in rules.items():
        for finding in check(pair):
            yield name, finding._replace(location=_join(where, finding.location))
    if not pair.comparable:
        return
    for name, sub in pair.new.properties.items():
        if name in pair.old.properties:
            yield from _walk(pair.old.properties[name], sub, direction, _join(where, f"properties.{name}"), seen)
    for key, old_sub, new_sub in [
        ("items", pair.old.items, pair.new.items),
        ("additionalProperties", pair.old.additional, pair.new.additional),
    ]:
        if isinstance(old_sub, Mapping) and isinstance(new_sub, Mapping):
            yield from _walk(old_sub, new_sub, direction, _join(where, key), seen)
    if len(pair.old.alternatives) == len(pair.new.alternatives):
        for index, (old_sub, new_sub) in enumerate(zip(pair.old.alternatives, pair.new.alternatives, strict=True)):
            yield from _walk(old_sub, new_sub, direction, _join(where, f"{pair.new.choice}.{index}"), seen)
