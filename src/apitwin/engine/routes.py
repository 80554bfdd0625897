"""Reads a resolved OpenAPI document's `x-twin` extensions into routes and collection definitions.

The vocabulary is closed: an unknown key, action, collection or filter operator stops the build with the
spec location in the message.

Root `x-twin`:
    date_format: strftime pattern, or "epoch_ms" / "iso"   (how server-set timestamps are written)
    projection: [query parameter names that select returned fields]
    collections: {name: {schema, id, created, updated, created_by, updated_by, references, unique,
                         parent: {collection, field, public, most, error}, write_only}}
        Any field named here may be dotted (`user.username`: the username of the document's user object).
        id: {field, style: serial|uuid|given} | {field, style: token, alphabet, length}
            | {field, style: prefixed, prefix, alphabet, length}   (e.g. prefix da_ + 6 of a-z0-9: da_qf2hyt;
            generated ids are unique in the collection; alphabet defaults to a-z0-9, length to 15 / 6)
        created_by, updated_by: fields set to the caller's name (its username, else its credential name)
        references: {field: collection}: a written value must be the id of an item there (400 otherwise); when
        that collection lives under a parent, the item must be under this item's own parent (a sibling)
        unique: [fields whose value no two items share; within the parent for nested collections] (400)
        keyed: {field: collection}: the keys of that object property must be ids of items there (a dataset's
        metadata by template: 400 in a body, 404 along a part's path); the collection must be top-level
        parent: items live under an item of another collection; `field` is both the document field that
        holds the parent's id and the path parameter that carries it. Deleting a parent deletes its children.
        `most`: how many items one parent may hold (a harvester's one schedule); one more is a 400, with
        `error: {code, message}` in the API's words.
        `public: false` keeps that field in the store only: not in the schema, never shown nor written.
        write_only: omit (default) | null — whether write-only fields leave removed or shown as null.
        file: {part, blob, filename, mimetype, size}: each item holds an uploaded file. A create whose multipart
        `part` (default `file`) carries it stores the bytes as a blob of the store; `blob` (default `file_blob`,
        not a property) keeps the reference out of sight; `filename`, `mimetype`, `size` name the properties
        the server fills from the upload. The `download` action answers the bytes with their media type.
        versions: {collection, sections: {name: [own fields] | child collection}, keep}: each client write to an
        item or under it that changes a section records a version in `collection` (engine/history.py).
        machine: {field, states, initial, actions, automatic, error: {code, message}, reply, shows, status_field}:
        a state machine run on the clock (engine/machines.py); `actions: {name: {from, to, next, when, set, effect,
        expects, refusal}}`, `automatic: {state: {after, to}}`; its record lives in the private `field`, and
        `status_field` names a read-only property that shows the state too. The error message may name
        {status}, {action} and {allowed} (the action's `expects`, else its `from` states). Without a `reply`, an
        action answers the item.
        counts: {field: {collection, field}}: a derived, read-only field: how many items of that collection hold
        this item's id in that field (a group's user_count, a connection's dataset_count); never stored.
        computes: {field: function}: a read-only field a function of the twin's behaviours computes from the item
        on every read (registered as an effect: (collection, item) -> value; a Huwise resource's display_name)
        collects: {field: {collection, field, take, wrap}}: a derived list: the `take` value of each of those items
        (a user's groups from the memberships: take group_uid, wrap uid -> [{uid: ...}]); `take` a mapping {name:
        dotted field} makes each an object of those fields, a field the item lacks left out (a studio page's
        contents: {version_name: version_name, title: metadata.asset.title.value}). Lists sort on them.
        schema: a components.schemas name; engine/schemas.py reads it as an effective schema (allOf merged,
        a discriminated oneOf/anyOf resolved to the subtype that pins the document's value with an enum),
        readOnly ignored on input and writeOnly withheld on output at every depth.
Path item or operation `x-twin` (operation keys override path keys):
    collection, action (list|create|get|replace|update|delete|set|download|transition|state|copy|restore: a version,
    answering the versioned item), id (path parameter),
    set (fields), transition (the machine action a transition route takes; implies the action; `state` shows the
    machine's record),
    part (the operation reads, replaces, updates or deletes this part of the item: a property, or a path of
    keys and {path parameters} such as `metadata/{template}/{field}`; an absent key is a 404 — a put creates
    only the last one, and only one the schema allows there: a key `additionalProperties: false` forbids is a 404;
    a `list` of a part pages through a list, with `paginate`),
    part_key (reads only: a key of the part's path that meets a list picks the element whose `part_key` field
    is that key: `schema/{field_name}` with part_key name, a template's field by its name),
    filters ({query parameter: op | {field, op, values} | {fields, op, values}}, ops eq|like|gte|lte|any; `fields`
    matches when any of them does: a search; an absent parameter with a schema `default` filters on that default;
    `values` maps each value the parameter takes to the field value it compares with, null filtering nothing:
    `status: {field: has_published_version, values: {published: true, unpublished: false, all: null}}`),
    requires (what the caller needs: a role or a privilege, as the twin's authorizer understands it),
    paginate ({limit, offset}: the query parameters, both optional, a limit needs an offset; a list answers
    {total_count, next, previous, results}, `next`/`previous` absolute links; the limit's default and bounds
    are its schema's),
    sort ({param, fields}: `param` (default `sort`) takes `a,-b` or repeats, `-` for descending; `fields` a list
    or {name: dotted document field}; any other name is a 400; the parameter's schema `default` applies)
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from apitwin.engine.history import SNAPSHOT, VersionsDef
from apitwin.engine.machines import Automatic, MachineDef, Transition
from apitwin.engine.schemas import (
    WRITE_ONLY_MODES,
    SchemaError,
    check_subtypes,
    defaults,
    dig_steps,
    every_property,
    has_field,
    holds_write_only,
)

ACTIONS = frozenset(
    {
        "list",
        "create",
        "get",
        "replace",
        "update",
        "delete",
        "set",
        "download",
        "transition",
        "state",
        "copy",
        "restore",
    }
)
ITEM_ACTIONS = ACTIONS - {"list", "create"}  # the actions on one item: they need its id in the path
FILTER_OPS = frozenset({"eq", "like", "gte", "lte", "any"})
ID_STYLES = frozenset({"serial", "uuid", "token", "prefixed", "given"})
_ID_KEYS = {
    "serial": frozenset({"field", "style"}),
    "uuid": frozenset({"field", "style"}),
    "given": frozenset({"field", "style"}),
    "token": frozenset({"field", "style", "alphabet", "length"}),
    "prefixed": frozenset({"field", "style", "prefix", "alphabet", "length"}),
}
TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

_ROOT_KEYS = frozenset({"date_format", "projection", "collections"})
_COLLECTION_KEYS = frozenset(
    {"schema", "id", "created", "updated", "created_by", "updated_by", "references", "keyed", "unique", "parent",
     "write_only",
     "counts", "collects", "computes", "file", "machine", "versions"}
)  # fmt: skip
_VERSIONS_KEYS = frozenset({"collection", "sections", "keep"})
_MACHINE_KEYS = frozenset(
    {"field", "states", "initial", "actions", "automatic", "error", "reply", "shows", "status_field"}
)
_TRANSITION_KEYS = frozenset({"from", "to", "next", "when", "set", "effect", "expects", "refusal"})
_FILE_KEYS = frozenset({"part", "blob", "filename", "mimetype", "size"})
_ROUTE_KEYS = frozenset(
    {"collection", "action", "id", "set", "part", "part_key", "filters", "requires", "paginate", "sort", "transition"}
)
_FILTER_KEYS = frozenset({"field", "fields", "op", "values"})
_PAGINATE_KEYS = frozenset({"limit", "offset"})
_SORT_KEYS = frozenset({"param", "fields"})


class SpecError(ValueError):
    """The spec's x-twin declarations are wrong; the message names the place."""


@dataclass(frozen=True)
class Filter:
    param: str
    field: str
    op: str
    fields: tuple[str, ...] = ()  # several fields, any of which may match (a search); `field` is the first
    default: Any = None  # the parameter's schema default: the filter applies it when the parameter is absent
    values: Mapping[str, Any] | None = None  # the parameter's values -> the field values they mean (None: no filter)

    @property
    def targets(self) -> tuple[str, ...]:
        return self.fields or (self.field,)


@dataclass(frozen=True)
class Paginate:
    """A list answered as {total_count, next, previous, results}, a page at a time."""

    limit: str | None = None  # the query parameters; None when the operation documents none
    offset: str | None = None
    default_limit: int | None = None  # None: every item on one page
    min_limit: int = 0
    max_limit: int | None = None


@dataclass(frozen=True)
class Sort:
    param: str
    fields: Mapping[str, str]  # sort name -> document field (dotted for a nested one)
    default: tuple[str, ...] = ()  # e.g. ("-created_at",)


@dataclass(frozen=True)
class ParentDef:
    collection: str
    field: str
    public: bool = True  # false: the store keeps the parent's id in `field`, the API never shows it
    most: int | None = None  # how many items one parent may hold
    error_code: str | None = None  # what a create beyond `most` answers: the API's code and message
    error_message: str = "Too many items."


@dataclass(frozen=True)
class FileDef:
    """Each item holds an uploaded file: its bytes a blob of the store, referenced from a field the API never
    shows; the file's name, media type and size written into the item's own (schema) fields."""

    part: str = "file"  # the multipart part that carries the file on create
    blob: str = "file_blob"  # the private field holding the blob reference
    filename: str | None = None
    mimetype: str | None = None
    size: str | None = None


@dataclass(frozen=True)
class CountDef:
    """A derived field: how many items of `collection` hold this item's id in `field` (a group's user_count);
    with `take`, the list of those items' `take` values instead (a user's groups, from its memberships), each
    wrapped as {`wrap`: value} when given."""

    collection: str
    field: str
    take: str | Mapping[str, str] | None = None  # a mapping: each item gives an object {name: its dotted field}
    wrap: str | None = None


@dataclass(frozen=True)
class CollectionDef:
    name: str
    schema: Mapping[str, Any]
    id_field: str = "id"
    id_style: str = "serial"
    created: str | None = None
    updated: str | None = None
    references: Mapping[str, str] = field(default_factory=dict)
    keyed: Mapping[str, str] = field(default_factory=dict)  # object properties whose keys are ids of a collection
    parent: ParentDef | None = None
    id_prefix: str = ""
    id_alphabet: str = TOKEN_ALPHABET
    id_length: int = 15
    created_by: str | None = None
    updated_by: str | None = None
    unique: tuple[str, ...] = ()
    write_only: str = "omit"  # how write-only fields leave: removed ("omit") or shown as null ("null")
    counts: Mapping[str, CountDef] = field(default_factory=dict)  # derived fields: how many items refer to this one
    collects: Mapping[str, CountDef] = field(default_factory=dict)  # derived lists: what the items that refer hold
    computes: Mapping[str, str] = field(default_factory=dict)  # fields a behaviours' function computes on read
    file: FileDef | None = None
    machine: MachineDef | None = None
    versions: VersionsDef | None = None
    versions_of: str | None = None  # the collection whose versions this one holds (their snapshot is private)

    @property
    def derived(self) -> Mapping[str, CountDef]:
        """The fields computed on every read (counts and collected lists), never stored."""
        return {**self.counts, **self.collects}

    @property
    def private_fields(self) -> tuple[str, ...]:
        """Fields kept in the store only: never shown, never written by a client."""
        hidden = [self.parent.field] if self.parent is not None and not self.parent.public else []
        hidden += [self.file.blob] if self.file is not None else []
        hidden += [SNAPSHOT] if self.versions_of is not None else []
        return tuple(hidden + ([self.machine.field] if self.machine is not None else []))

    @property
    def properties(self) -> Mapping[str, Mapping[str, Any]]:
        """Every property a document may have: allOf merged, every subtype's."""
        return every_property(self.schema)

    def with_defaults(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """A whole document as the API holds one: every property of its effective schema, its default (or null)
        where `given` has none. Creation and the fixtures both make documents this way, so they cannot diverge.
        Derived and computed fields are not part of it: they are computed on every read."""
        computed = {**self.derived, **self.computes}
        whole = {name: value for name, value in defaults(self.schema, given).items() if name not in computed}
        if self.machine is not None and self.machine.field not in whole:
            whole[self.machine.field] = self.machine.new_record(None)  # in its first state since ever
        return whole

    def id_of(self, doc: Mapping[str, Any]) -> Any:
        """The document's id, read at its (possibly dotted: `user.username`) id field."""
        return dig_steps(doc, self._id_path)

    @functools.cached_property
    def shown_as_stored(self) -> bool:
        """Whether a document is shown as it is stored (public() is a plain copy): no write-only field anywhere in
        the schema, no private, derived or computed field."""
        return not (self.private_fields or self.derived or self.computes or holds_write_only(self.schema))

    @functools.cached_property
    def _id_path(self) -> list[str]:  # `dig`'s steps, split once: id_of keys every sort by serial id
        return self.id_field.split(".")

    def store_key(self, doc: Mapping[str, Any]) -> str:
        """Where a document lives in its table: its id, under its parent's id for nested collections."""
        own = str(self.id_of(doc))
        return f"{doc[self.parent.field]}/{own}" if self.parent is not None else own


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
    transition: str | None = None  # the machine action a `transition` route takes
    part: str | None = None
    part_key: str | None = None  # the field that names a list's elements along the part's path
    filters: tuple[Filter, ...] = ()
    requires: str | None = None
    paginate: Paginate | None = None
    sort: Sort | None = None
    success_status: int = 200
    media_types: tuple[str, ...] = ("application/json",)
    statuses: tuple[int, ...] = ()  # every documented status code
    path_params: tuple[str, ...] = ()
    query_params: tuple[str, ...] = ()

    def part_keys(self, path: Mapping[str, Any]) -> tuple[str, ...]:
        """The keys that lead to the route's part of the document, its {parameters} taken from `path`."""
        segments = (self.part or "").split("/")
        return tuple(str(path[s[1:-1]]) if s.startswith("{") and s.endswith("}") else s for s in segments)


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
    for coll in list(collections.values()):
        for ref_field, target in coll.references.items():
            if target not in collections:
                raise SpecError(f"{source}: collection {coll.name!r} field {ref_field!r} references unknown {target!r}")
            target_parent = collections[target].parent
            own_parent = coll.parent.collection if coll.parent is not None else None
            if target_parent is not None and own_parent != target_parent.collection:
                raise SpecError(
                    f"{source}: collection {coll.name!r} field {ref_field!r} references {target!r}, which lives "
                    f"under {target_parent.collection!r}: only a collection under the same parent can refer to it"
                )
        for keyed_field, target in coll.keyed.items():
            if target not in collections or collections[target].parent is not None:
                raise SpecError(
                    f"{source}: collection {coll.name!r} keys {keyed_field!r} by {target!r}, which must be a "
                    "declared top-level collection"
                )
        if coll.parent is not None and coll.parent.collection not in collections:
            raise SpecError(f"{source}: collection {coll.name!r} has unknown parent {coll.parent.collection!r}")
        if coll.versions is not None:
            history = collections.get(coll.versions.collection)
            if history is None or history.parent is None or history.parent.collection != coll.name:
                raise SpecError(
                    f"{source}: collection {coll.name!r} keeps versions in {coll.versions.collection!r}, "
                    "which must be a collection under it"
                )
            collections[history.name] = replace(history, versions_of=coll.name)
            for section, child in coll.versions.child_sections().items():
                known = collections.get(child)
                if known is None or known.parent is None or known.parent.collection != coll.name:
                    raise SpecError(
                        f"{source}: collection {coll.name!r} version section {section!r}: {child!r} is not a "
                        "collection under it"
                    )
        for count_name, count in coll.derived.items():
            if count.collection not in collections:
                raise SpecError(
                    f"{source}: collection {coll.name!r} counts {count_name!r} in unknown {count.collection!r}"
                )
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
    _check_keys(id_spec, _ID_KEYS[style], f"{where}.id (style {style})")
    prefix, alphabet, length = _id_shape(id_spec, style, f"{where}.id")
    unique = raw.get("unique", [])
    if not isinstance(unique, list) or not all(isinstance(name, str) for name in unique):
        raise SpecError(f"{where}.unique: expected a list of field names")
    parent = None
    if "parent" in raw:
        parent_spec = _mapping(raw["parent"], f"{where}.parent")
        _check_keys(parent_spec, frozenset({"collection", "field", "public", "most", "error"}), f"{where}.parent")
        if not isinstance(parent_spec.get("public", True), bool):
            raise SpecError(f"{where}.parent: public must be true or false")
        most = parent_spec.get("most")
        if most is not None and (isinstance(most, bool) or not isinstance(most, int) or most < 1):
            raise SpecError(f"{where}.parent: most must be a positive number of items")
        error = _mapping(parent_spec.get("error", {}), f"{where}.parent.error")
        _check_keys(error, frozenset({"code", "message"}), f"{where}.parent.error")
        parent = ParentDef(
            collection=str(parent_spec.get("collection")),
            field=str(parent_spec.get("field")),
            public=parent_spec.get("public", True),
            most=most,
            error_code=error.get("code"),
            error_message=str(error.get("message", ParentDef.error_message)),
        )
    counts: dict[str, CountDef] = {}
    computes = _mapping(raw.get("computes", {}), f"{where}.computes")
    if not all(isinstance(function, str) and function for function in computes.values()):
        raise SpecError(f"{where}.computes: each field names the function that computes it")
    for count_name, count_raw in _mapping(raw.get("counts", {}), f"{where}.counts").items():
        count_spec = _mapping(count_raw, f"{where}.counts.{count_name}")
        _check_keys(count_spec, frozenset({"collection", "field"}), f"{where}.counts.{count_name}")
        counts[str(count_name)] = CountDef(str(count_spec.get("collection")), str(count_spec.get("field")))
    collects: dict[str, CountDef] = {}
    for list_name, list_raw in _mapping(raw.get("collects", {}), f"{where}.collects").items():
        list_spec = _mapping(list_raw, f"{where}.collects.{list_name}")
        _check_keys(list_spec, frozenset({"collection", "field", "take", "wrap"}), f"{where}.collects.{list_name}")
        if "take" not in list_spec:
            raise SpecError(f"{where}.collects.{list_name}: name the field each item gives (take)")
        take = list_spec["take"]
        if isinstance(take, Mapping):
            if not take or "wrap" in list_spec or not all(isinstance(v, str) and v for v in take.values()):
                raise SpecError(f"{where}.collects.{list_name}: take as a mapping names fields (and wraps nothing)")
            take = {str(name): str(dotted) for name, dotted in take.items()}
        collects[str(list_name)] = CountDef(
            str(list_spec.get("collection")),
            str(list_spec.get("field")),
            take=take if isinstance(take, Mapping) else str(take),
            wrap=list_spec.get("wrap"),
        )
    file = None
    if "file" in raw:
        file_spec = _mapping(raw["file"], f"{where}.file")
        _check_keys(file_spec, _FILE_KEYS, f"{where}.file")
        file = FileDef(**{key: str(value) for key, value in file_spec.items()})
        if file.blob in every_property(schemas[schema_name]):
            raise SpecError(f"{where}.file: blob field {file.blob!r} is a property: the API would show it")
    machine = _machine(raw["machine"], schemas[schema_name], f"{where}.machine") if "machine" in raw else None
    versions = _versions(raw["versions"], schemas[schema_name], f"{where}.versions") if "versions" in raw else None
    write_only = raw.get("write_only", "omit")
    if write_only not in WRITE_ONLY_MODES:
        raise SpecError(f"{where}.write_only: {write_only!r} is not one of {sorted(WRITE_ONLY_MODES)}")
    try:
        check_subtypes(schemas[schema_name], f"{where}: schema {schema_name}")
    except SchemaError as error:
        raise SpecError(str(error)) from None
    definition = CollectionDef(
        name=name,
        schema=schemas[schema_name],
        id_field=id_spec.get("field", "id"),
        id_style=style,
        created=raw.get("created"),
        updated=raw.get("updated"),
        references=dict(_mapping(raw.get("references", {}), f"{where}.references")),
        keyed=dict(_mapping(raw.get("keyed", {}), f"{where}.keyed")),
        parent=parent,
        id_prefix=prefix,
        id_alphabet=alphabet,
        id_length=length,
        created_by=raw.get("created_by"),
        updated_by=raw.get("updated_by"),
        unique=tuple(unique),
        write_only=write_only,
        counts=counts,
        collects=collects,
        computes={str(name): str(function) for name, function in computes.items()},
        file=file,
        machine=machine,
        versions=versions,
    )
    file_fields = (file.filename, file.mimetype, file.size) if file is not None else ()
    declared_fields = (
        *file_fields,
        *definition.derived,
        *definition.computes,
        definition.id_field,
        definition.created,
        definition.updated,
        definition.created_by,
        definition.updated_by,
        *definition.references,
        *definition.keyed,
        *definition.unique,
    )
    for declared in (*declared_fields, parent.field if parent and parent.public else None):
        if declared is not None and not has_field(definition.schema, declared):
            raise SpecError(f"{where}: field {declared!r} is not a property of schema {schema_name!r}")
    return definition


def _versions(raw: Any, schema: Mapping[str, Any], where: str) -> VersionsDef:
    raw = _mapping(raw, where)
    _check_keys(raw, _VERSIONS_KEYS, where)
    sections: dict[str, tuple[str, ...] | str] = {}
    for name, source in _mapping(raw.get("sections", {}), f"{where}.sections").items():
        if isinstance(source, str):
            sections[str(name)] = source  # a child collection: checked once every collection is known
        else:
            own = tuple(_names(source, f"{where}.sections.{name}"))
            for item_field in own:
                if item_field not in every_property(schema):
                    raise SpecError(f"{where}.sections.{name}: {item_field!r} is not a property of the schema")
            sections[str(name)] = own
    if not sections:
        raise SpecError(f"{where}: name the sections a version holds")
    keep = raw.get("keep")
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
        raise SpecError(f"{where}.keep: a positive number of versions")
    return VersionsDef(collection=str(raw.get("collection")), sections=sections, keep=keep)


def _machine(raw: Any, schema: Mapping[str, Any], where: str) -> MachineDef:
    raw = _mapping(raw, where)
    _check_keys(raw, _MACHINE_KEYS, where)
    states = tuple(_names(raw.get("states"), f"{where}.states"))
    properties = every_property(schema)
    machine_field = str(raw.get("field", "machine"))
    if machine_field in properties:
        raise SpecError(f"{where}: field {machine_field!r} is a property: the machine's record is the twin's own")
    initial = raw.get("initial")
    if initial not in states:
        raise SpecError(f"{where}: initial {initial!r} is not one of the states")
    error = _mapping(raw.get("error", {}), f"{where}.error")
    _check_keys(error, frozenset({"code", "message"}), f"{where}.error")
    if not {"code", "message"} <= set(error):
        raise SpecError(f"{where}.error: give the code and message a refused action answers")
    actions: dict[str, Transition] = {}
    for name, spec in _mapping(raw.get("actions", {}), f"{where}.actions").items():
        at = f"{where}.actions.{name}"
        spec = _mapping(spec, at)
        _check_keys(spec, _TRANSITION_KEYS, at)
        sources = tuple(_names(spec.get("from"), f"{at}.from"))
        targets = [spec.get("to"), *([spec["next"]] if "next" in spec else [])]
        for state in (*sources, *targets):
            if state not in states:
                raise SpecError(f"{at}: {state!r} is not one of the machine's states")
        for name_set in (spec.get("when", {}), spec.get("set", {})):
            for item_field in _mapping(name_set, at):
                if item_field not in properties:
                    raise SpecError(f"{at}: {item_field!r} is not a property of the collection's schema")
        actions[str(name)] = Transition(
            name=str(name),
            sources=sources,
            to=str(spec["to"]),
            next=spec.get("next"),
            when=dict(spec.get("when", {})),
            sets=dict(spec.get("set", {})),
            effect=spec.get("effect"),
            expects=spec.get("expects"),
            refusal=spec.get("refusal"),
        )
    automatic: dict[str, Automatic] = {}
    for state, spec in _mapping(raw.get("automatic", {}), f"{where}.automatic").items():
        at = f"{where}.automatic.{state}"
        spec = _mapping(spec, at)
        _check_keys(spec, frozenset({"after", "to"}), at)
        after = spec.get("after")
        if state not in states or spec.get("to", states[0]) not in states:
            raise SpecError(f"{at}: only states of the machine leave and are reached")
        if isinstance(after, bool) or not isinstance(after, int | float) or after < 0:
            raise SpecError(f"{at}: after must be a number of seconds")
        automatic[str(state)] = Automatic(after=float(after), to=spec.get("to"))
    shows = tuple(_names(raw.get("shows", []), f"{where}.shows")) if raw.get("shows") else ()
    for shown in shows:
        if shown not in properties:
            raise SpecError(f"{where}.shows: {shown!r} is not a property of the collection's schema")
    status_field = raw.get("status_field")
    if status_field is not None and status_field not in properties:
        raise SpecError(f"{where}.status_field: {status_field!r} is not a property of the collection's schema")
    return MachineDef(
        field=machine_field,
        states=states,
        initial=str(initial),
        actions=actions,
        automatic=automatic,
        error_code=str(error["code"]),
        error_message=str(error["message"]),
        reply=raw.get("reply"),
        shows=shows,
        status_field=status_field,
    )


def _id_shape(id_spec: Mapping[str, Any], style: str, where: str) -> tuple[str, str, int]:
    """(prefix, alphabet, length) of generated ids."""
    prefix = id_spec.get("prefix", "")
    if style == "prefixed" and (not isinstance(prefix, str) or not prefix):
        raise SpecError(f"{where}: style prefixed needs a prefix (a non-empty string)")
    alphabet = id_spec.get("alphabet", TOKEN_ALPHABET)
    if not isinstance(alphabet, str) or len(set(alphabet)) < 2 or len(set(alphabet)) != len(alphabet):
        raise SpecError(f"{where}: alphabet must be a string of at least two distinct characters")
    length = id_spec.get("length", 6 if style == "prefixed" else 15)
    if not isinstance(length, int) or isinstance(length, bool) or length < 1:
        raise SpecError(f"{where}: length must be a positive integer")
    return prefix, alphabet, length


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
    action = twin.get("action") or ("transition" if "transition" in twin else None)
    if action is None and collection is not None:
        action = _infer_action(method, is_item or part is not None)
    if action is not None and action not in ACTIONS:
        raise SpecError(f"{where}: x-twin action {action!r} is not one of {sorted(ACTIONS)}")
    if action is not None and collection is None:
        raise SpecError(f"{where}: x-twin action {action!r} needs a collection")
    part_params = _part_params(part, path_params, where)
    item_params = [name for name in path_params if name not in part_params]
    id_param = twin.get("id") or (item_params[-1] if item_params else None)
    if id_param is not None and id_param not in path_params:
        raise SpecError(f"{where}: x-twin id {id_param!r} is not a path parameter")
    if action == "download" and (collection is None or collections[collection].file is None):
        raise SpecError(f"{where}: action download needs a collection that declares x-twin file")
    machine = collections[collection].machine if collection is not None else None
    if action in ("transition", "state") and machine is None:
        raise SpecError(f"{where}: action {action} needs a collection that declares x-twin machine")
    if action == "restore" and (collection is None or collections[collection].versions_of is None):
        raise SpecError(f"{where}: action restore needs a collection that holds versions (x-twin versions)")
    transition = twin.get("transition")
    if action == "transition" and (machine is None or transition not in machine.actions):
        known = sorted(machine.actions) if machine is not None else []
        raise SpecError(f"{where}: x-twin transition {transition!r} is not one of the machine's actions {known}")
    if action in ITEM_ACTIONS and id_param is None:
        raise SpecError(f"{where}: action {action!r} needs an item path or an x-twin id")
    if collection is not None:
        definition = collections[collection]
        first = None if part is None else part.split("/")[0]
        if first is not None and not first.startswith("{") and first not in definition.properties:
            raise SpecError(f"{where}: x-twin part {part!r} does not start at a property of {collection!r}")
        if definition.parent is not None and definition.parent.field not in path_params:
            raise SpecError(
                f"{where}: {collection!r} lives under {definition.parent.collection!r}; the path needs "
                f"the parameter {definition.parent.field!r}"
            )
    query_schemas = {p["name"]: p.get("schema", {}) for p in parameters if p.get("in") == "query"}
    filters = tuple(
        _filter(param, spec, query_schemas, where)
        for param, spec in _mapping(twin.get("filters", {}), f"{where}: x-twin filters").items()
    )
    if action != "list" and ("paginate" in twin or "sort" in twin):
        raise SpecError(f"{where}: x-twin paginate and sort apply to a list action only")
    if action == "list" and part is not None and (filters or "sort" in twin or id_param is None):
        raise SpecError(f"{where}: a list of a part takes no filters nor sort, and needs the item's id")
    part_key = twin.get("part_key")
    if part_key is not None and (part is None or action not in ("get", "list") or not isinstance(part_key, str)):
        raise SpecError(f"{where}: x-twin part_key (a field name) applies to reading a part (get, list)")
    return Route(
        operation_id=operation_id,
        method=method.upper(),
        path=path,
        collection=collection,
        action=action,
        id_param=id_param,
        set_fields=dict(twin.get("set", {})),
        transition=transition,
        part=part,
        part_key=part_key,
        filters=filters,
        requires=twin.get("requires"),
        paginate=_paginate(twin["paginate"], query_schemas, where) if "paginate" in twin else None,
        sort=_sort(twin["sort"], query_schemas, where) if "sort" in twin else None,
        success_status=success_status,
        media_types=media_types,
        statuses=tuple(sorted(int(code) for code in operation.get("responses", {}) if str(code).isdigit())),
        path_params=path_params,
        query_params=query_params,
    )


def _part_params(part: Any, path_params: tuple[str, ...], where: str) -> tuple[str, ...]:
    """The path parameters a part's path names: `metadata/{template}/{field}` -> (template, field)."""
    if part is None:
        return ()
    segments = part.split("/") if isinstance(part, str) else [""]
    if not all(segments):
        raise SpecError(f"{where}: x-twin part {part!r} must be keys and {{parameters}} joined by /")
    params = tuple(segment[1:-1] for segment in segments if segment.startswith("{") and segment.endswith("}"))
    for name in params:
        if name not in path_params:
            raise SpecError(f"{where}: x-twin part {part!r} names {name!r}, which is not a path parameter")
    return params


def _infer_action(method: str, is_item: bool) -> str | None:
    if is_item:
        return {"get": "get", "put": "replace", "patch": "update", "delete": "delete"}.get(method)
    return {"get": "list", "post": "create"}.get(method)


def _filter(param: str, raw: Any, query_schemas: Mapping[str, Mapping[str, Any]], where: str) -> Filter:
    if param not in query_schemas:
        raise SpecError(f"{where}: x-twin filter {param!r} is not a query parameter of the operation")
    fields: tuple[str, ...] = ()
    values = None
    if isinstance(raw, str):
        op, target = raw, re.sub(r"_(min|max)$", "", param)
    else:
        raw = _mapping(raw, f"{where}: x-twin filters.{param}")
        _check_keys(raw, _FILTER_KEYS, f"{where}: x-twin filters.{param}")
        if "field" in raw and "fields" in raw:
            raise SpecError(f"{where}: x-twin filters.{param}: give field or fields, not both")
        fields = tuple(_names(raw.get("fields", []), f"{where}: x-twin filters.{param}.fields"))
        op, target = raw.get("op", "eq"), raw.get("field", fields[0] if fields else param)
        values = _filter_values(raw.get("values"), query_schemas[param], f"{where}: x-twin filters.{param}.values")
    if op not in FILTER_OPS:
        raise SpecError(f"{where}: x-twin filter {param!r} op {op!r} is not one of {sorted(FILTER_OPS)}")
    default = query_schemas[param].get("default")
    return Filter(param=param, field=target, op=op, fields=fields, default=default, values=values)


def _filter_values(raw: Any, schema: Mapping[str, Any], where: str) -> Mapping[str, Any] | None:
    """What each value of the parameter means; every value its schema enumerates must be given one."""
    if raw is None:
        return None
    values = {str(name): value for name, value in _mapping(raw, where).items()}
    missing = [str(name) for name in schema.get("enum", []) if str(name) not in values]
    if missing:
        raise SpecError(f"{where}: say what {missing} mean{'s' if len(missing) == 1 else ''} (null: no filter)")
    return values


def _paginate(raw: Any, query_schemas: Mapping[str, Mapping[str, Any]], where: str) -> Paginate:
    raw = _mapping(raw, f"{where}: x-twin paginate")
    _check_keys(raw, _PAGINATE_KEYS, f"{where}: x-twin paginate")
    for role in ("limit", "offset"):
        if role in raw and raw[role] not in query_schemas:
            raise SpecError(f"{where}: x-twin paginate {role} {raw[role]!r} is not a query parameter of the operation")
    if "limit" in raw and "offset" not in raw:
        raise SpecError(f"{where}: x-twin paginate: a limit needs an offset parameter to page with")
    limit_schema = query_schemas.get(raw.get("limit", ""), {})
    bounds = {name: limit_schema.get(name) for name in ("default", "minimum", "maximum")}
    if not all(value is None or isinstance(value, int) for value in bounds.values()):
        raise SpecError(f"{where}: x-twin paginate: the limit's default, minimum and maximum must be integers")
    return Paginate(
        limit=raw.get("limit"),
        offset=raw.get("offset"),
        default_limit=bounds["default"],
        min_limit=bounds["minimum"] or 0,
        max_limit=bounds["maximum"],
    )


def _sort(raw: Any, query_schemas: Mapping[str, Mapping[str, Any]], where: str) -> Sort:
    raw = _mapping(raw, f"{where}: x-twin sort")
    _check_keys(raw, _SORT_KEYS, f"{where}: x-twin sort")
    param = raw.get("param", "sort")
    if param not in query_schemas:
        raise SpecError(f"{where}: x-twin sort param {param!r} is not a query parameter of the operation")
    declared = raw.get("fields")
    if isinstance(declared, Mapping):
        fields = {str(name): str(target) for name, target in declared.items()}
    else:
        fields = {name: name for name in _names(declared, f"{where}: x-twin sort.fields")}
    if not fields:
        raise SpecError(f"{where}: x-twin sort needs the fields it may sort on")
    default = query_schemas[param].get("default")
    keys = sort_keys(default, fields) if default is not None else ()
    if isinstance(keys, str):
        raise SpecError(f"{where}: x-twin sort: the parameter's default {default!r} {keys}")
    return Sort(param=param, fields=fields, default=tuple(f"{'-' if desc else ''}{name}" for name, desc in keys))


def sort_keys(wanted: Any, fields: Mapping[str, str]) -> list[tuple[str, bool]] | str:
    """(sort name, descending) pairs from `a,-b` or a list of such; or, for a name not among `fields`, why."""
    items = wanted if isinstance(wanted, list | tuple) else [wanted]
    keys: list[tuple[str, bool]] = []
    for item in items:
        for part in str(item).split(","):
            name = part.strip()
            descending = name.startswith("-")
            name = name.lstrip("-+").strip()
            if not name:
                continue
            if name not in fields:
                return f"sorts on {name!r}, which is not one of {sorted(fields)}"
            keys.append((name, descending))
    return keys


def _names(raw: Any, where: str) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(name, str) and name for name in raw):
        raise SpecError(f"{where}: expected a list of names")
    return list(raw)


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
