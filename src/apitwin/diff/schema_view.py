"""What the schema rules compare: one schema node on both sides, each seen with allOf merged, the OpenAPI 3.0
and 3.1 spellings made the same, and the properties the other side never sees left out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from apitwin.diff.changes import Direction


@dataclass(frozen=True)
class SchemaView:
    """One schema node as the rules compare it: allOf merged, the 3.0 and 3.1 spellings made the same, and
    the properties the other side never sees (readOnly in requests, writeOnly in responses) left out."""

    types: frozenset[str] | None  # None: any type
    nullable: bool
    enum: tuple[Any, ...] | None  # without null (that is `nullable`)
    properties: Mapping[str, Any]
    required: frozenset[str]
    additional: Any  # additionalProperties: a schema, a boolean, or None when not given
    items: Any
    alternatives: tuple[Any, ...]  # anyOf/oneOf branches, a null branch aside
    choice: str  # which of anyOf and oneOf holds them
    limits: Mapping[str, tuple[tuple[float, bool], str]]  # name: (strictness, larger is stricter; as written)
    exact: Mapping[str, Any]  # pattern, format, multipleOf, uniqueItems: added is stricter, removed looser


@dataclass(frozen=True)
class SchemaPair:
    """The same schema node in both documents; `direction` says who writes the values it describes."""

    old_schema: Any
    new_schema: Any
    direction: Direction

    @cached_property
    def old(self) -> SchemaView:
        return schema_view(self.old_schema, self.direction)

    @cached_property
    def new(self) -> SchemaView:
        return schema_view(self.new_schema, self.direction)

    @cached_property
    def comparable(self) -> bool:
        """False when the types have nothing in common (object to string): only the type change is reported."""
        old, new = self.old.types, self.new.types
        return old is None or new is None or bool(_widened(old) & _widened(new))


def _widened(types: frozenset[str]) -> frozenset[str]:
    return types | {"integer"} if "number" in types else types


def _merged(node: Any) -> dict[str, Any]:
    """The schema with its allOf branches folded in: properties and required lists united (a property several
    branches define gets an allOf of its own), any other keyword taken from the first place that has it."""
    if not isinstance(node, Mapping):
        return {}  # 3.1's boolean schemas, and anything malformed: any value
    merged = {key: value for key, value in node.items() if key != "allOf"}
    for branch in node.get("allOf") or ():
        for key, value in _merged(branch).items():
            if key == "properties" and isinstance(value, Mapping):
                properties = dict(merged.get("properties") or {})
                for name, sub in value.items():
                    properties[name] = {"allOf": [properties[name], sub]} if name in properties else sub
                merged["properties"] = properties
            elif key == "required" and isinstance(value, list):
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _is_null(schema: Any) -> bool:
    return isinstance(schema, Mapping) and schema.get("type") in ("null", ["null"])


def schema_view(node: Any, direction: Direction) -> SchemaView:
    """How the rules see one schema node written to be read in `direction`."""
    schema = _merged(node)
    branches = [branch for key in ("anyOf", "oneOf") for branch in schema.get(key) or ()]
    alternatives = tuple(branch for branch in branches if not _is_null(branch))
    nullable = schema.get("nullable") is True or len(alternatives) < len(branches)
    if len(alternatives) == 1:  # 3.1's anyOf: [X, {type: "null"}] is 3.0's X with nullable: true
        schema = {**{k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}, **_merged(alternatives[0])}
        nullable, alternatives = nullable or schema.get("nullable") is True, ()
    written = schema.get("type")
    types = {written} if isinstance(written, str) else set(written) if isinstance(written, list) else None
    if types is not None and "null" in types:
        nullable = True
        types.discard("null")
    if types is None and ("properties" in schema or "items" in schema):
        types = {"object" if "properties" in schema else "array"}
    values = (
        schema["enum"] if isinstance(schema.get("enum"), list) else [schema["const"]] if "const" in schema else None
    )
    if values is not None and None in values:
        nullable, values = True, [value for value in values if value is not None]
    hidden = "readOnly" if direction == "request" else "writeOnly"
    properties = {
        str(name): sub
        for name, sub in (schema.get("properties") or {}).items()
        if not (isinstance(sub, Mapping) and sub.get(hidden) is True)
    }
    shown = {name for name in schema.get("properties") or {}} - set(properties)
    return SchemaView(
        types=None if types is None else frozenset(types),
        nullable=nullable,
        enum=None if values is None else tuple(values),
        properties=properties,
        required=frozenset(str(name) for name in schema.get("required") or () if name not in shown),
        additional=schema.get("additionalProperties"),
        items=schema.get("items"),
        alternatives=alternatives,
        choice="anyOf" if "anyOf" in schema else "oneOf",
        limits=_limits(schema),
        exact={key: schema[key] for key in ("pattern", "format", "multipleOf") if key in schema}
        | ({"uniqueItems": True} if schema.get("uniqueItems") is True else {}),
    )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_SIZE_LIMITS = {"minLength": 1, "minItems": 1, "minProperties": 1, "maxLength": -1, "maxItems": -1, "maxProperties": -1}


def _limits(schema: Mapping[str, Any]) -> dict[str, tuple[tuple[float, bool], str]]:
    """Each size and range limit as (strictness, text): a larger strictness is a stricter limit."""
    limits: dict[str, tuple[tuple[float, bool], str]] = {}
    for name, sign in _SIZE_LIMITS.items():
        if _number(schema.get(name)):
            limits[name] = ((sign * schema[name], False), str(schema[name]))
    for name, exclusive, sign in (("minimum", "exclusiveMinimum", 1), ("maximum", "exclusiveMaximum", -1)):
        value: Any = schema.get(name)
        strict = schema.get(exclusive) is True
        if _number(schema.get(exclusive)):  # 3.1 writes the exclusive bound itself
            value, strict = schema[exclusive], True
        if _number(value):
            limits[name] = ((sign * value, strict), f"{value} (exclusive)" if strict else str(value))
    return limits
