"""Reads a resolved OpenAPI document's `x-twin` extensions into routes and collection definitions.

The vocabulary is closed: an unknown key, action, collection or filter operator stops the build with the
spec location in the message.

Root `x-twin`:
    date_format: strftime pattern, or "epoch_ms" / "iso"   (how server-set timestamps are written)
    projection: [query parameter names that select returned fields]
    collections: {name: {schema, id: {field, style: serial|uuid|token|given}, created, updated, references,
                         parent: {collection, field}}}
        parent: items live under an item of another collection; `field` is both the document field that
        holds the parent's id and the path parameter that carries it. Deleting a parent deletes its children.
Path item or operation `x-twin` (operation keys override path keys):
    collection, action (list|create|get|replace|update|delete|set), id (path parameter), set (fields),
    part (the operation reads or replaces this sub-document of the item), filters ({query parameter: op |
    {field, op}}, ops eq|like|gte|lte|any), requires (what the caller needs: a role or a privilege, as the
    twin's authorizer understands it)
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ACTIONS = frozenset({"list", "create", "get", "replace", "update", "delete", "set"})
FILTER_OPS = frozenset({"eq", "like", "gte", "lte", "any"})
ID_STYLES = frozenset({"serial", "uuid", "token", "given"})
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

_ROOT_KEYS = frozenset({"date_format", "projection", "collections"})
_COLLECTION_KEYS = frozenset({"schema", "id", "created", "updated", "references", "parent"})
_ROUTE_KEYS = frozenset({"collection", "action", "id", "set", "part", "filters", "requires"})


class SpecError(ValueError):
    """The spec's x-twin declarations are wrong; the message names the place."""


@dataclass(frozen=True)
class Filter:
    param: str
    field: str
    op: str


@dataclass(frozen=True)
class ParentDef:
    collection: str
    field: str


@dataclass(frozen=True)
class CollectionDef:
    name: str
    schema: Mapping[str, Any]
    id_field: str = "id"
    id_style: str = "serial"
    created: str | None = None
    updated: str | None = None
    references: Mapping[str, str] = field(default_factory=dict)
    parent: ParentDef | None = None

    @property
    def properties(self) -> Mapping[str, Mapping[str, Any]]:
        props: Mapping[str, Mapping[str, Any]] = self.schema.get("properties", {})
        return props

    def with_defaults(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """A whole document as the API holds one: every property of the schema, its default (or null) where
        `given` has none. Creation and the fixtures both make documents this way, so they cannot diverge."""
        return {**{name: copy.deepcopy(prop.get("default")) for name, prop in self.properties.items()}, **given}

    def store_key(self, doc: Mapping[str, Any]) -> str:
        """Where a document lives in its table: its id, under its parent's id for nested collections."""
        own = str(doc[self.id_field])
        return f"{doc[self.parent.field]}/{own}" if self.parent is not None else own

    def read_only(self) -> frozenset[str]:
        return frozenset(name for name, prop in self.properties.items() if prop.get("readOnly"))

    def write_only(self) -> frozenset[str]:
        return frozenset(name for name, prop in self.properties.items() if prop.get("writeOnly"))


@dataclass(frozen=True)
class Conventions:
    date_format: str = "iso"
    projection: tuple[str, ...] = ()


@dataclass(frozen=True)
class Route:
    operation_id: str
    method: str
    path: str
    collection: str | None = None
    action: str | None = None
    id_param: str | None = None
    set_fields: Mapping[str, Any] = field(default_factory=dict)
    part: str | None = None
    filters: tuple[Filter, ...] = ()
    requires: str | None = None
    success_status: int = 200
    media_types: tuple[str, ...] = ("application/json",)
    statuses: tuple[int, ...] = ()  # every documented status code
    path_params: tuple[str, ...] = ()
    query_params: tuple[str, ...] = ()


@dataclass(frozen=True)
class TwinModel:
    conventions: Conventions
    collections: Mapping[str, CollectionDef]
    routes: Mapping[str, Route]  # by operationId


def build_model(spec: Mapping[str, Any], source: str = "spec") -> TwinModel:
    """Interpret a resolved spec (all $refs inlined, as connexion serves it)."""
    root = _mapping(spec.get("x-twin", {}), f"{source}: x-twin")
    _check_keys(root, _ROOT_KEYS, f"{source}: x-twin")
    projection = root.get("projection", [])
    conventions = Conventions(date_format=str(root.get("date_format", "iso")), projection=tuple(projection))
    collections = {
        name: _collection(name, _mapping(raw, f"{source}: x-twin.collections.{name}"), spec, source)
        for name, raw in _mapping(root.get("collections", {}), f"{source}: x-twin.collections").items()
    }
    for coll in collections.values():
        for ref_field, target in coll.references.items():
            if target not in collections:
                raise SpecError(f"{source}: collection {coll.name!r} field {ref_field!r} references unknown {target!r}")
        if coll.parent is not None and coll.parent.collection not in collections:
            raise SpecError(f"{source}: collection {coll.name!r} has unknown parent {coll.parent.collection!r}")
    routes: dict[str, Route] = {}
    for path, item in spec.get("paths", {}).items():
        path_twin = _mapping(item.get("x-twin", {}), f"{source}: paths.{path}.x-twin")
        _check_keys(path_twin, _ROUTE_KEYS, f"{source}: paths.{path}.x-twin")
        for method in HTTP_METHODS:
            if method not in item:
                continue
            operation = item[method]
            where = f"{source}: {method.upper()} {path}"
            op_twin = _mapping(operation.get("x-twin", {}), f"{where} x-twin")
            _check_keys(op_twin, _ROUTE_KEYS, f"{where} x-twin")
            merged = {**path_twin, **op_twin}
            route = _route(path, method, item, operation, merged, collections, where)
            if route.operation_id in routes:
                raise SpecError(f"{where}: duplicate operationId {route.operation_id!r}")
            routes[route.operation_id] = route
    return TwinModel(conventions=conventions, collections=collections, routes=routes)


def _collection(name: str, raw: Mapping[str, Any], spec: Mapping[str, Any], source: str) -> CollectionDef:
    where = f"{source}: x-twin.collections.{name}"
    _check_keys(raw, _COLLECTION_KEYS, where)
    schema_name = raw.get("schema")
    schemas = spec.get("components", {}).get("schemas", {})
    if schema_name not in schemas:
        raise SpecError(f"{where}: schema {schema_name!r} is not in components.schemas")
    id_spec = _mapping(raw.get("id", {}), f"{where}.id")
    style = id_spec.get("style", "serial")
    if style not in ID_STYLES:
        raise SpecError(f"{where}.id: style {style!r} is not one of {sorted(ID_STYLES)}")
    parent = None
    if "parent" in raw:
        parent_spec = _mapping(raw["parent"], f"{where}.parent")
        _check_keys(parent_spec, frozenset({"collection", "field"}), f"{where}.parent")
        parent = ParentDef(collection=str(parent_spec.get("collection")), field=str(parent_spec.get("field")))
    definition = CollectionDef(
        name=name,
        schema=schemas[schema_name],
        id_field=id_spec.get("field", "id"),
        id_style=style,
        created=raw.get("created"),
        updated=raw.get("updated"),
        references=dict(_mapping(raw.get("references", {}), f"{where}.references")),
        parent=parent,
    )
    declared_fields = (definition.id_field, definition.created, definition.updated, *definition.references)
    for declared in (*declared_fields, parent.field if parent else None):
        if declared is not None and declared not in definition.properties:
            raise SpecError(f"{where}: field {declared!r} is not a property of schema {schema_name!r}")
    return definition


def _route(
    path: str,
    method: str,
    item: Mapping[str, Any],
    operation: Mapping[str, Any],
    twin: Mapping[str, Any],
    collections: Mapping[str, CollectionDef],
    where: str,
) -> Route:
    operation_id = operation.get("operationId")
    if not operation_id:
        raise SpecError(f"{where}: every operation needs an operationId")
    parameters = [*item.get("parameters", []), *operation.get("parameters", [])]
    path_params = tuple(p["name"] for p in parameters if p.get("in") == "path")
    query_params = tuple(p["name"] for p in parameters if p.get("in") == "query")
    success_status, media_types = _success(operation, where)
    collection = twin.get("collection")
    if collection is not None and collection not in collections:
        raise SpecError(f"{where}: x-twin collection {collection!r} is not declared in the root x-twin.collections")
    is_item = bool(re.search(r"\{[^}]+\}/?$", path))
    part = twin.get("part")
    action = twin.get("action")
    if action is None and collection is not None:
        action = _infer_action(method, is_item or part is not None)
    if action is not None and action not in ACTIONS:
        raise SpecError(f"{where}: x-twin action {action!r} is not one of {sorted(ACTIONS)}")
    if action is not None and collection is None:
        raise SpecError(f"{where}: x-twin action {action!r} needs a collection")
    id_param = twin.get("id") or (path_params[-1] if path_params else None)
    if id_param is not None and id_param not in path_params:
        raise SpecError(f"{where}: x-twin id {id_param!r} is not a path parameter")
    if action in {"get", "replace", "update", "delete", "set"} and id_param is None:
        raise SpecError(f"{where}: action {action!r} needs an item path or an x-twin id")
    if collection is not None:
        definition = collections[collection]
        if part is not None and part not in definition.properties:
            raise SpecError(f"{where}: x-twin part {part!r} is not a property of {collection!r}")
        if definition.parent is not None and definition.parent.field not in path_params:
            raise SpecError(
                f"{where}: {collection!r} lives under {definition.parent.collection!r}; the path needs "
                f"the parameter {definition.parent.field!r}"
            )
    filters = tuple(_filter(param, spec, query_params, where) for param, spec in twin.get("filters", {}).items())
    return Route(
        operation_id=operation_id,
        method=method.upper(),
        path=path,
        collection=collection,
        action=action,
        id_param=id_param,
        set_fields=dict(twin.get("set", {})),
        part=part,
        filters=filters,
        requires=twin.get("requires"),
        success_status=success_status,
        media_types=media_types,
        statuses=tuple(sorted(int(code) for code in operation.get("responses", {}) if str(code).isdigit())),
        path_params=path_params,
        query_params=query_params,
    )


def _infer_action(method: str, is_item: bool) -> str | None:
    if is_item:
        return {"get": "get", "put": "replace", "patch": "update", "delete": "delete"}.get(method)
    return {"get": "list", "post": "create"}.get(method)


def _filter(param: str, raw: Any, query_params: tuple[str, ...], where: str) -> Filter:
    if param not in query_params:
        raise SpecError(f"{where}: x-twin filter {param!r} is not a query parameter of the operation")
    if isinstance(raw, str):
        op, target = raw, re.sub(r"_(min|max)$", "", param)
    else:
        raw = _mapping(raw, f"{where}: x-twin filters.{param}")
        op, target = raw.get("op", "eq"), raw.get("field", param)
    if op not in FILTER_OPS:
        raise SpecError(f"{where}: x-twin filter {param!r} op {op!r} is not one of {sorted(FILTER_OPS)}")
    return Filter(param=param, field=target, op=op)


def _success(operation: Mapping[str, Any], where: str) -> tuple[int, tuple[str, ...]]:
    for code, response in sorted(operation.get("responses", {}).items(), key=lambda kv: str(kv[0])):
        if str(code).startswith("2"):
            return int(code), tuple(response.get("content", {}).keys())
    raise SpecError(f"{where}: no 2xx response documented")


def _check_keys(raw: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise SpecError(f"{where}: unknown x-twin key(s) {unknown}; allowed: {sorted(allowed)}")


def _mapping(raw: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where}: expected a mapping, got {type(raw).__name__}")
    return raw
