"""Effective schemas: what a resolved OpenAPI schema says about one document, at any depth.

`allOf` members are merged (properties, required, additionalProperties; readOnly/writeOnly when any member
says so); a `oneOf`/`anyOf` with a `discriminator` resolves to the subtype whose `enum` holds the document's
discriminator value (each subtype must pin it so), one without (or a value that names no subtype) to every
subtype's properties together, readOnly or writeOnly where any subtype says so. On that effective schema, at
every depth: readOnly fields are ignored on input, writeOnly fields are removed (or shown as null) on output,
undeclared fields are kept where `additionalProperties` allows them (or where the object declares no
properties at all) and dropped otherwise.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from apitwin.errors import ErrorKind, TwinError

Schema = Mapping[str, Any]
T = TypeVar("T")
WRITE_ONLY_MODES = frozenset({"omit", "null"})  # how write-only fields leave: removed, or shown as null

_SUBTYPING = frozenset({"oneOf", "anyOf", "discriminator"})
_FLAT_CACHE: dict[int, tuple[Schema, Schema]] = {}  # id -> (schema, flattened); the schema kept alive


class SchemaError(ValueError):
    """A schema the engine cannot interpret (a discriminated subtype that does not pin its value)."""


def flatten(schema: Schema) -> Schema:
    """The schema with its `allOf` merged in; subtypes (`oneOf`/`anyOf`) are left to `effective`."""
    if "allOf" not in schema:
        return schema
    return remembered(_FLAT_CACHE, schema, _flattened)


def remembered(
    cache: dict[int, tuple[Schema, T]], schema: Schema, compute: Callable[[Schema], T], kept: int = 4096
) -> T:
    """What `compute` gives for a schema (or any spec object), computed once: a spec's objects do not change.
    Keyed by identity, the object kept alive beside its value so its id is never another's; bounded to `kept`
    entries (apps built in one process add up)."""
    cached = cache.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    value = compute(schema)
    if len(cache) > kept:
        cache.clear()
    cache[id(schema)] = (schema, value)
    return value


def effective(schema: Schema, value: Any) -> Schema:
    """The schema that applies to `value`: allOf merged and, for subtypes, the one `value` selects (every
    subtype's properties together when it selects none)."""
    flat = flatten(schema)
    alternatives = [flatten(alt) for alt in flat.get("oneOf") or flat.get("anyOf") or ()]
    if not alternatives:
        return flat
    chosen = _choose(flat, alternatives, value)
    subtype = _strip(chosen) if chosen is not None else _union(alternatives)
    return _merge([_strip(flat), subtype])


def every_property(schema: Schema) -> Mapping[str, Schema]:
    """Every property a document of this schema may have, whatever its subtype."""
    flat = flatten(schema)
    alternatives = [flatten(alt) for alt in flat.get("oneOf") or flat.get("anyOf") or ()]
    merged = _merge([_strip(flat), _union(alternatives)]) if alternatives else flat
    props: Mapping[str, Schema] = merged.get("properties", {})
    return props


def has_field(schema: Schema, dotted: str) -> bool:
    """Whether a document of this schema may hold a (dotted: `user.username`) field."""
    props = every_property(schema)
    head, _, rest = dotted.partition(".")
    if head not in props:
        return False
    return not rest or has_field(props[head], rest)


def dig(doc: Any, dotted: str) -> Any:
    """The value at a dotted field (`user.username`); None where a step is absent."""
    return dig_steps(doc, dotted.split("."))


def dig_steps(doc: Any, steps: Sequence[str]) -> Any:
    """`dig` with the dotted field already split (callers that read the same field of many documents)."""
    value = doc
    for key in steps:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def plant(doc: dict[str, Any], dotted: str, value: Any) -> None:
    """Set a dotted field, making (or replacing a non-object with) the objects on the way."""
    *steps, last = dotted.split(".")
    holder = doc
    for key in steps:
        if not isinstance(holder.get(key), dict):
            holder[key] = {}
        holder = holder[key]
    holder[last] = value


def defaults(schema: Schema, given: Mapping[str, Any]) -> dict[str, Any]:
    """`given` completed with every other property of its effective schema: its default, or null where the
    property may be null (one that may not, with no default, stays absent: null would be an invalid value); the
    objects it holds completed the same way (`_completed`)."""
    props = effective(schema, given).get("properties", {})
    completed = {
        name: _completed(given[name], prop) if name in given else copy.deepcopy(flatten(prop).get("default"))
        for name, prop in props.items()
        if name in given or _unset(prop)
    }  # in the schema's order, then what the schema does not name
    return {**completed, **{name: value for name, value in given.items() if name not in completed}}


def _completed(value: Any, prop: Schema) -> Any:
    """A given object completed as its schema says at every depth (its properties' defaults, and the same within
    a dictionary's values), as the server stores what a client sends; anything else as given. An object of
    alternatives (oneOf, anyOf: a connection by reference or in place) is left as given: which one a partial
    value means is not the twin's to guess."""
    if not isinstance(value, Mapping):
        return value
    flat = flatten(prop)
    if flat.get("oneOf") or flat.get("anyOf"):
        return value
    if flat.get("properties"):
        return defaults(prop, value)
    extra = flat.get("additionalProperties")
    if isinstance(extra, Mapping) and extra:
        return {key: _completed(item, extra) for key, item in value.items()}
    return value


def _unset(prop: Schema) -> bool:
    """Whether an unset property has a value to show: its default, or null when null is one of its values."""
    flat = flatten(prop)
    if "default" in flat or flat.get("nullable"):
        return True
    return not any(key in flat for key in ("type", "properties", "oneOf", "anyOf", "enum"))


def writable(value: Any, schema: Schema, where: str = "", stored: Mapping[str, Any] | None = None) -> Any:
    """Client input as the schema lets a client write it: readOnly fields dropped at every depth, undeclared
    ones kept only where additionalProperties allows; an unknown discriminator value is a 400. For changes to
    a `stored` document, the subtype is the one both select together (a partial body may omit its type)."""
    if not isinstance(value, Mapping):
        return _writable(value, effective(schema, value), where)
    _check_subtype(flatten(schema), value, where)
    return _writable(value, effective(schema, {**(stored or {}), **value}), where)


def public(value: Any, schema: Schema, write_only: str = "omit") -> Any:
    """A stored value as the API shows it: writeOnly fields removed at every depth, or null for "null". A copy
    that shares no object or list with `value`, so callers may show a stored document without copying it first."""
    if not holds_write_only(schema):  # nothing to remove at any depth: a plain copy is what the walk would give
        return detached(value)
    return _public(value, effective(schema, value), write_only)


_WRITE_ONLY_CACHE: dict[int, tuple[Schema, bool]] = {}  # id -> (schema, holds writeOnly); the schema kept alive


def holds_write_only(schema: Schema) -> bool:
    """Whether a writeOnly field is declared anywhere in the schema (its members, subtypes, items and properties
    at every depth)."""
    return remembered(_WRITE_ONLY_CACHE, schema, _declares_write_only)


def _declares_write_only(schema: Schema) -> bool:
    seen: set[int] = set()

    def holds(node: Any) -> bool:
        if isinstance(node, Mapping):
            if id(node) in seen:
                return False
            seen.add(id(node))
            return bool(node.get("writeOnly") or node.get("x-writeOnly")) or any(holds(v) for v in node.values())
        if isinstance(node, list):
            return any(holds(item) for item in node)
        return False

    return holds(schema)


def keep_write_only(given: Any, stored: Any, schema: Schema, write_only: str = "omit") -> Any:
    """Write-only values the client could not have read (passwords) stay as stored when a body omits them, or
    sends back the null it was shown: a GET-then-PUT round-trip keeps them. Nested objects too."""
    if not isinstance(given, Mapping) or not isinstance(stored, Mapping):
        return given
    eff = effective(schema, {**stored, **given})
    kept = dict(given)
    for key, stored_item in stored.items():
        sub = _property(eff, key)
        if sub is None:
            continue
        if effective(sub, stored_item).get("writeOnly"):
            if key not in kept or (write_only == "null" and kept[key] is None):
                kept[key] = stored_item
        elif key in kept:
            kept[key] = keep_write_only(kept[key], stored_item, sub, write_only)
    return kept


def replacement(stored: Mapping[str, Any], given: Mapping[str, Any], schema: Schema) -> dict[str, Any]:
    """The document a whole-document replace leaves: readOnly fields as stored, writable ones as given or
    their default; a change of subtype drops the fields only the former subtype had."""
    before = effective(schema, stored).get("properties", {})
    after = effective(schema, {**stored, **given}).get("properties", {})
    doc = {key: item for key, item in stored.items() if key in after or key not in before}
    for name, prop in after.items():
        flat = flatten(prop)
        if not flat.get("readOnly") and not flat.get("writeOnly"):
            if _unset(prop):
                doc[name] = copy.deepcopy(flat.get("default"))
            else:
                doc.pop(name, None)
    doc.update({name: _completed(value, after[name]) if name in after else value for name, value in given.items()})
    return doc


def part_replacement(stored: Any, given: Any, schema: Schema) -> Any:
    """What a replace of a part leaves: `given`, with the stored part's readOnly fields kept and the declared
    defaults of the fields it omits (no null for the others: a part's fields are often optional objects)."""
    if not isinstance(given, Mapping):
        return given
    old = stored if isinstance(stored, Mapping) else {}
    doc = dict(given)
    eff = effective(schema, {**old, **given})
    for name, prop in eff.get("properties", {}).items():
        flat = flatten(prop)
        if flat.get("readOnly") and name in old:
            doc[name] = copy.deepcopy(old[name])
        elif name not in doc and "default" in flat and not flat.get("writeOnly"):
            doc[name] = copy.deepcopy(flat["default"])
        elif name in given:
            doc[name] = _completed(given[name], prop)
    extra = eff.get("additionalProperties")
    if isinstance(extra, Mapping) and extra:  # a dictionary part (a template's fields): each value completed
        declared = eff.get("properties", {})
        doc.update({name: _completed(value, extra) for name, value in given.items() if name not in declared})
    return doc


def at(schema: Schema, value: Any, keys: Sequence[str]) -> Schema:
    """The schema of the part of `value` found along `keys` ({} where the schema says nothing)."""
    for key in keys:
        sub = _property(effective(schema, value), key) if isinstance(value, Mapping) else None
        schema, value = (sub or {}), (value.get(key) if isinstance(value, Mapping) else None)
    return schema


def allows(schema: Schema, value: Any, key: str) -> bool:
    """Whether an object of this schema (holding `value`) may have the field `key`: declared, or additional."""
    eff = effective(schema, value)
    return _property(eff, key) is not None or _free_form(eff)


def check_subtypes(schema: Schema, where: str) -> None:
    """Stop the build for subtypes the engine could not tell apart: each subtype of a discriminated
    `oneOf`/`anyOf` pins the discriminator property with an `enum` of its own values."""
    _check(schema, where, set())


# helpers


def _writable(value: Any, eff: Schema, where: str) -> Any:
    if isinstance(value, Mapping):
        kept: dict[str, Any] = {}
        for key, item in value.items():
            sub = _property(eff, key)
            if sub is None:
                if _free_form(eff):
                    kept[key] = item
                continue
            if isinstance(item, Mapping):
                _check_subtype(flatten(sub), item, f"{where}{key}.")
            sub_eff = effective(sub, item)
            if not sub_eff.get("readOnly"):
                kept[key] = _writable(item, sub_eff, f"{where}{key}.")
        return kept
    if isinstance(value, list) and isinstance(eff.get("items"), Mapping):
        return [writable(item, eff["items"], f"{where}{index}.") for index, item in enumerate(value)]
    return value


def _public(value: Any, eff: Schema, write_only: str) -> Any:
    if isinstance(value, Mapping):
        shown: dict[str, Any] = {}
        for key, item in value.items():
            sub = _property(eff, key)
            if sub is None:
                shown[key] = detached(item)
                continue
            sub_eff = effective(sub, item)
            if not sub_eff.get("writeOnly"):
                shown[key] = _public(item, sub_eff, write_only)
            elif write_only == "null":
                shown[key] = None
        return shown
    if isinstance(value, list):
        items = eff.get("items")
        return [public(item, items, write_only) for item in value] if isinstance(items, Mapping) else detached(value)
    return value


def detached(value: Any) -> Any:
    """A copy of a JSON value (objects and lists copied at every depth; scalars shared: they cannot change)."""
    kind = type(value)  # the usual kinds first: an abstract Mapping check costs more than the copy of a scalar
    if kind is dict:
        return {key: item if type(item) in _SCALARS else detached(item) for key, item in value.items()}
    if kind in _SCALARS:
        return value
    if isinstance(value, Mapping):
        return {key: detached(item) for key, item in value.items()}
    if isinstance(value, list):
        return [detached(item) for item in value]
    return value


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _flattened(schema: Schema) -> Schema:
    return _flatten(schema, frozenset())


def _flatten(schema: Schema, expanding: frozenset[int]) -> Schema:
    if "allOf" not in schema:
        return schema
    if id(schema) in expanding:  # a cycle through allOf: take the schema's own keys once
        return {key: value for key, value in schema.items() if key != "allOf" and key not in _SUBTYPING}
    expanding = expanding | {id(schema)}
    members = [_flatten(member, expanding) for member in schema["allOf"] if isinstance(member, Mapping)]
    return _merge([*members, {key: value for key, value in schema.items() if key != "allOf"}])


def _merge(parts: Sequence[Schema]) -> Schema:
    """allOf semantics for what the engine reads; later parts win for annotations (default, description)."""
    merged: dict[str, Any] = {}
    props: dict[str, Schema] = {}
    required: list[str] = []
    for part in parts:
        for key, value in part.items():
            if key == "properties":
                for name, prop in value.items():
                    props[name] = {"allOf": [props[name], prop]} if name in props else prop
            elif key == "required":
                required.extend(name for name in value if name not in required)
            elif key in ("readOnly", "writeOnly"):
                merged[key] = bool(merged.get(key)) or bool(value)
            elif key == "additionalProperties":
                merged[key] = _merge_additional(merged[key], value) if key in merged else value
            else:
                merged[key] = value
    if props:
        merged["properties"] = props
    if required:
        merged["required"] = required
    return merged


def _merge_additional(first: Any, second: Any) -> Any:
    if first is False or second is False:
        return False
    if isinstance(first, Mapping) and isinstance(second, Mapping):
        return {"allOf": [first, second]}
    return first if isinstance(first, Mapping) else second


def _strip(schema: Schema) -> Schema:
    return {key: value for key, value in schema.items() if key not in _SUBTYPING}


def _union(alternatives: Sequence[Schema]) -> Schema:
    """What any subtype may hold: for subtypes without a discriminator, or a value that selects none."""
    declared: dict[str, list[Schema]] = {}
    for alt in alternatives:
        for name, prop in alt.get("properties", {}).items():
            declared.setdefault(name, []).append(prop)
    props: dict[str, Schema] = {}
    for name, schemas in declared.items():
        flats = [flatten(schema) for schema in schemas]
        for key in ("readOnly", "writeOnly"):  # a field some subtype lets a client write (or read) stays so
            if not all(flat.get(key) for flat in flats):
                flats = [{k: v for k, v in flat.items() if k != key} for flat in flats]
        props[name] = flats[0] if len(flats) == 1 else {"allOf": flats}
    extra = any(alt.get("additionalProperties") is not False for alt in alternatives)
    return {"properties": props, "additionalProperties": extra}


def _choose(flat: Schema, alternatives: Sequence[Schema], value: Any) -> Schema | None:
    name = _discriminator(flat)
    if name is None or not isinstance(value, Mapping) or name not in value:
        return None
    return next((alt for alt in alternatives if value[name] in _pinned(alt, name)), None)


def _discriminator(schema: Schema) -> str | None:
    discriminator = schema.get("discriminator")
    return str(discriminator["propertyName"]) if isinstance(discriminator, Mapping) else None


def _pinned(alternative: Schema, name: str) -> list[Any]:
    prop = alternative.get("properties", {}).get(name)
    return list(flatten(prop).get("enum") or ()) if isinstance(prop, Mapping) else []


def _check_subtype(schema: Schema, value: Mapping[str, Any], where: str) -> None:
    name = _discriminator(schema)
    if name is None or name not in value:
        return
    known = [v for alt in schema.get("oneOf") or schema.get("anyOf") or () for v in _pinned(flatten(alt), name)]
    if value[name] not in known:
        message = f"{value[name]!r} is not one of {known}"
        raise TwinError(ErrorKind.INVALID, f"{where}{name}: {message}", field_errors={f"{where}{name}": [message]})


def _property(schema: Schema, key: str) -> Schema | None:
    """The schema of a field: declared, or the additionalProperties schema; None when it has none."""
    props = schema.get("properties", {})
    if key in props:
        prop: Schema = props[key]
        return prop
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, Mapping) else None


def _free_form(schema: Schema) -> bool:
    """Whether undeclared fields are kept: additionalProperties true, or an object that declares none."""
    extra = schema.get("additionalProperties")
    return extra is True or (extra is None and not schema.get("properties"))


def _check(schema: Any, where: str, seen: set[int]) -> None:
    if not isinstance(schema, Mapping) or id(schema) in seen:
        return
    seen.add(id(schema))
    flat = flatten(schema)
    name = _discriminator(flat)
    alternatives = flat.get("oneOf") or flat.get("anyOf") or ()
    if name is not None:
        if not alternatives:
            raise SchemaError(f"{where}: a discriminator needs oneOf or anyOf subtypes")
        claimed: dict[Any, int] = {}
        for index, alt in enumerate(alternatives):
            values = _pinned(flatten(alt), name)
            if not values:
                raise SchemaError(f"{where}.oneOf[{index}]: a subtype must pin {name!r} with an enum")
            for value in values:
                if value in claimed:
                    raise SchemaError(f"{where}: subtypes {claimed[value]} and {index} both pin {name}={value!r}")
                claimed[value] = index
    for index, alt in enumerate(alternatives):
        _check(alt, f"{where}.oneOf[{index}]", seen)
    for key, prop in flat.get("properties", {}).items():
        _check(prop, f"{where}.{key}", seen)
    for key in ("items", "additionalProperties"):
        _check(flat.get(key), f"{where}.{key}", seen)
