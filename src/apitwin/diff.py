"""`apitwin diff OLD NEW`: what changed between two versions of an OpenAPI document, seen by an existing client.

Three registries of small named rules, each testable alone: document rules compare the two documents (operations,
servers, security), operation rules one operation present in both (status codes, parameters, bodies), and schema
rules one schema node present in both (types, null, enums, limits, properties), applied at every node the
schemas of a parameter, request body or success response share. A request schema and a response schema change
in opposite directions: an enum value removed breaks a client that sends it, and one added breaks a client
that reads it. Documents are compared resolved (every $ref inlined); OpenAPI 3.0 and 3.1 spellings of the same
schema (`nullable: true` and `type: [X, "null"]`, boolean and numeric `exclusiveMinimum`) compare equal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar

import click

Severity = Literal["breaking", "warning", "info"]
Direction = Literal["request", "response"]  # who writes the value: the client, or the server
SEVERITIES: tuple[Severity, ...] = ("breaking", "warning", "info")  # most severe first
ALL_OPERATIONS = "(all operations)"
# as apitwin.engine.routes.HTTP_METHODS, not imported from there: `apitwin --help` imports this module
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_MAX_DEPTH = 64  # schema nesting compared; recursive schemas stop earlier, at the first repeated pair of nodes


@dataclass(frozen=True)
class Change:
    """One difference an existing client may notice: how much it matters, which rule saw it, where, and what."""

    severity: Severity  # breaking: an existing client may fail; warning: it may misbehave; info: it is unaffected
    rule: str
    operation: str  # "POST /report (createReport)", or ALL_OPERATIONS
    location: str  # inside the operation (or the document, for operation_removed, servers and security)
    message: str


class Finding(NamedTuple):
    """What a rule yields; the runner adds the rule's name, and the operation when the rule compares one."""

    severity: Severity
    location: str
    message: str
    operation: str = ""


Findings = Iterator[Finding]


class UnreadableSpec(Exception):
    """A document cannot be read, parsed or resolved, or is not OpenAPI 3.x (exit code 2)."""


# ---------------------------------------------------------------------------------------------------------------------
# What the rules compare


def _status(code: Any) -> str:
    return str(code).replace("x", "X")  # 2xx and 2XX are the same range; YAML may give 200 as an int


def _template_names(path: str) -> list[str]:
    return re.findall(r"\{([^}]*)\}", path)


@dataclass(frozen=True)
class Operation:
    """One operation of one document, with its path item (for path-level parameters and servers)."""

    method: str  # upper case
    path: str
    node: Mapping[str, Any]
    item: Mapping[str, Any]

    @property
    def label(self) -> str:
        operation_id = self.node.get("operationId")
        return f"{self.method} {self.path}" + (f" ({operation_id})" if operation_id else "")

    @property
    def pointer(self) -> str:
        return f"paths.{self.path}.{self.method.lower()}"

    @cached_property
    def parameters(self) -> dict[tuple[str, str], Mapping[str, Any]]:
        """Path-level and operation-level parameters (the operation's own wins), keyed by (in, name); a path
        parameter's name is its position in the path template, so renaming it keeps the key."""
        merged: dict[tuple[Any, Any], Mapping[str, Any]] = {}
        for param in [*(self.item.get("parameters") or ()), *(self.node.get("parameters") or ())]:
            if isinstance(param, Mapping):
                merged[param.get("in"), param.get("name")] = param
        names = _template_names(self.path)
        keyed: dict[tuple[str, str], Mapping[str, Any]] = {}
        for (where, name), param in merged.items():
            if where == "path" and name in names:
                keyed["path", f"#{names.index(name)}"] = param
            else:  # header names are case-insensitive
                keyed[str(where), str(name).lower() if where == "header" else str(name)] = param
        return keyed

    @cached_property
    def statuses(self) -> list[str]:
        return [_status(code) for code in self.node.get("responses") or {}]

    def response(self, status: str) -> Mapping[str, Any]:
        for code, response in (self.node.get("responses") or {}).items():
            if _status(code) == status and isinstance(response, Mapping):
                return response
        return {}


def _operations(spec: Mapping[str, Any]) -> dict[tuple[str, str], Operation]:
    """Every operation, keyed by method and path with the path parameters' names blanked out."""
    found: dict[tuple[str, str], Operation] = {}
    for path, item in (spec.get("paths") or {}).items():
        if not str(path).startswith("/") or not isinstance(item, Mapping):
            continue
        for method in _METHODS:
            if isinstance(item.get(method), Mapping):
                key = (method.upper(), re.sub(r"\{[^}]*\}", "{}", str(path)))
                found[key] = Operation(method.upper(), str(path), item[method], item)
    return found


def _is_success(status: str) -> bool:
    return status.startswith("2")


@dataclass(frozen=True)
class StatusChanges:
    """The success statuses only one side documents."""

    removed: list[str]
    added: list[str]

    @property
    def swapped(self) -> bool:
        """One success status replaced by another (200 to 201): compared as one response."""
        return len(self.removed) == 1 and len(self.added) == 1


@dataclass(frozen=True)
class ParameterMatch:
    """The two sides' parameters: kept (old, new), removed, added, and moved to another `in`."""

    kept: list[tuple[Mapping[str, Any], Mapping[str, Any]]]
    removed: list[Mapping[str, Any]]
    added: list[Mapping[str, Any]]
    moved: list[tuple[Mapping[str, Any], Mapping[str, Any]]]


@dataclass(frozen=True)
class OperationPair:
    """The same operation (method and path) in the old and the new document."""

    old: Operation
    new: Operation

    @cached_property
    def parameters(self) -> ParameterMatch:
        old, new = self.old.parameters, self.new.parameters
        removed = [param for key, param in old.items() if key not in new]
        added = [param for key, param in new.items() if key not in old]
        moved = [(o, n) for o in removed for n in added if o.get("name") == n.get("name")]
        return ParameterMatch(
            kept=[(old[key], param) for key, param in new.items() if key in old],
            removed=[param for param in removed if all(param is not o for o, _ in moved)],
            added=[param for param in added if all(param is not n for _, n in moved)],
            moved=moved,
        )

    @cached_property
    def success_statuses(self) -> StatusChanges:
        old = [status for status in self.old.statuses if _is_success(status)]
        new = [status for status in self.new.statuses if _is_success(status)]
        return StatusChanges([s for s in old if s not in new], [s for s in new if s not in old])

    @property
    def success_pairs(self) -> list[tuple[str, str]]:
        """(old status, new status) of the success responses compared with each other."""
        changes = self.success_statuses
        kept = [(s, s) for s in self.new.statuses if _is_success(s) and s in self.old.statuses]
        return kept + ([(changes.removed[0], changes.added[0])] if changes.swapped else [])


@dataclass(frozen=True)
class SpecPair:
    """The old and the new document, resolved."""

    old: Mapping[str, Any]
    new: Mapping[str, Any]

    @cached_property
    def old_operations(self) -> dict[tuple[str, str], Operation]:
        return _operations(self.old)

    @cached_property
    def new_operations(self) -> dict[tuple[str, str], Operation]:
        return _operations(self.new)

    def common(self) -> Iterator[OperationPair]:
        """Operations in both documents, in the new document's order."""
        for key, new in self.new_operations.items():
            if key in self.old_operations:
                yield OperationPair(self.old_operations[key], new)

    def labels(self) -> list[str]:
        """Every operation's label, in the new document's order, then the removed ones."""
        removed = [op for key, op in self.old_operations.items() if key not in self.new_operations]
        return [op.label for op in [*self.new_operations.values(), *removed]]


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


# ---------------------------------------------------------------------------------------------------------------------
# The registries

Subject = TypeVar("Subject")
SPEC_RULES: dict[str, Callable[[SpecPair], Findings]] = {}
OPERATION_RULES: dict[str, Callable[[OperationPair], Findings]] = {}
SCHEMA_RULES: dict[str, Callable[[SchemaPair], Findings]] = {}


def _registrar(
    rules: dict[str, Callable[[Subject], Findings]],
) -> Callable[[Callable[[Subject], Findings]], Callable[[Subject], Findings]]:
    def register(check: Callable[[Subject], Findings]) -> Callable[[Subject], Findings]:
        rules[check.__name__] = check
        return check

    return register


spec_rule = _registrar(SPEC_RULES)
operation_rule = _registrar(OPERATION_RULES)
schema_rule = _registrar(SCHEMA_RULES)


def _join(*parts: str) -> str:
    return ".".join(part for part in parts if part)


def _values(values: Iterable[Any]) -> str:
    return ", ".join(json.dumps(value) for value in values)


def _shown(value: Any) -> str:
    return "none" if value is None else f"'{value}'" if isinstance(value, str) else json.dumps(value)


def _key(value: Any) -> str:
    """An enum value as a comparable key (json keeps 1 and true apart, as Python's == does not)."""
    return json.dumps(value, sort_keys=True, default=str)


# ---------------------------------------------------------------------------------------------------------------------
# Document rules


@spec_rule
def operation_removed(pair: SpecPair) -> Findings:
    """An operation (method and path, whatever its path parameters are called) is gone."""
    for key, op in pair.old_operations.items():
        if key not in pair.new_operations:
            message = f"{op.label} was removed: clients calling it get 404 or 405"
            yield Finding("breaking", op.pointer, message, op.label)


@spec_rule
def operation_added(pair: SpecPair) -> Findings:
    """A new operation: nothing existing clients do changes."""
    for key, op in pair.new_operations.items():
        if key not in pair.old_operations:
            yield Finding("info", op.pointer, f"new operation {op.label}", op.label)


def _server_urls(servers: Any) -> list[str]:
    """The server URLs with their variables at their defaults; none means "/", as OpenAPI says."""
    urls = []
    for server in servers or [{"url": "/"}]:
        url = str(server.get("url", "/"))
        for name, variable in (server.get("variables") or {}).items():
            url = url.replace(f"{{{name}}}", str(variable.get("default", "")))
        urls.append(url.rstrip("/") or "/")
    return urls


def _server_findings(old: Any, new: Any, where: str, operation: str) -> Findings:
    old_urls, new_urls = _server_urls(old), _server_urls(new)
    gone = [url for url in old_urls if url not in new_urls]
    if gone:
        message = f"server {', '.join(gone)} is no longer listed (now {', '.join(new_urls)}): clients calling the old"
        yield Finding("breaking", where, f"{message} base URL miss every operation there", operation)
    elif fresh := [url for url in new_urls if url not in old_urls]:
        yield Finding("info", where, f"new server {', '.join(fresh)}; the old ones are still listed", operation)


@spec_rule
def servers_changed(pair: SpecPair) -> Findings:
    """A server URL (with it, the base path) clients call is no longer listed; servers added are info."""
    yield from _server_findings(pair.old.get("servers"), pair.new.get("servers"), "servers", "")
    for op in pair.common():  # the operations whose own servers (or their path item's) replace the document's
        sides = ((pair.old, op.old), (pair.new, op.new))
        if any("servers" in side.node or "servers" in side.item for _, side in sides):
            old, new = (
                side.node.get("servers") or side.item.get("servers") or spec.get("servers") for spec, side in sides
            )
            yield from _server_findings(old, new, f"{op.new.pointer}.servers", op.new.label)


SchemeKey = tuple[str, ...]


def _scheme_key(name: str, schemes: Mapping[str, Any]) -> SchemeKey:
    """What a client must do to satisfy a security scheme, whatever the scheme is called."""
    scheme = schemes.get(name)
    if not isinstance(scheme, Mapping):
        return ("undefined", name)
    kind = str(scheme.get("type"))
    if kind == "apiKey":
        return (kind, str(scheme.get("in")), str(scheme.get("name")))
    if kind == "http":
        return (kind, str(scheme.get("scheme", "")).lower())
    if kind == "oauth2":
        return (kind, *sorted(scheme.get("flows") or {}))
    if kind == "openIdConnect":
        return (kind, str(scheme.get("openIdConnectUrl")))
    return (kind,)


def _describe_scheme(key: SchemeKey) -> str:
    if key[0] == "apiKey":
        return f"an API key in {key[1]} {key[2]!r}"
    if key[0] == "http":
        return f"HTTP {key[1]} authentication"
    if key[0] == "oauth2":
        return f"OAuth2 ({', '.join(key[1:])})"
    if key[0] == "undefined":
        return f"the undefined scheme {key[1]!r}"
    return " ".join(key)


Alternative = dict[SchemeKey, frozenset[str]]  # every scheme a client must satisfy together, with its scopes


def _alternatives(requirements: Any, spec: Mapping[str, Any]) -> list[Alternative]:
    """The ways a client may authenticate; no requirement means anonymous calls are fine."""
    schemes = (spec.get("components") or {}).get("securitySchemes") or {}
    found = [
        {_scheme_key(str(name), schemes): frozenset(scopes or ()) for name, scopes in requirement.items()}
        for requirement in requirements or ()
        if isinstance(requirement, Mapping)
    ]
    return found or [{}]


def _describe(alternative: Alternative) -> str:
    parts = [
        _describe_scheme(key) + (f" with scopes {', '.join(sorted(scopes))}" if scopes else "")
        for key, scopes in alternative.items()
    ]
    return " and ".join(parts) or "no credentials"


def _satisfies(new: Alternative, old: Alternative) -> bool:
    """Whether a client that satisfies `old` also satisfies `new`."""
    return all(key in old and scopes <= old[key] for key, scopes in new.items())


def _security_findings(pair: SpecPair, old: Any, new: Any, where: str, operation: str) -> Findings:
    old_ways, new_ways = _alternatives(old, pair.old), _alternatives(new, pair.new)
    broken = [way for way in old_ways if not any(_satisfies(other, way) for other in new_ways)]
    accepted = " or ".join(_describe(way) for way in new_ways)
    for way in broken:
        message = f"clients authenticating with {_describe(way)} are no longer accepted: the API now takes {accepted}"
        yield Finding("breaking", where, message, operation)
    if not broken:
        for way in [way for way in new_ways if way not in old_ways]:
            yield Finding("info", where, f"the API now also accepts {_describe(way)}", operation)


@spec_rule
def security_changed(pair: SpecPair) -> Findings:
    """A way of authenticating that clients use is no longer accepted (a scheme required on top, another scheme
    type or header, an alternative removed): breaking; a new way accepted: info. Schemes compare by what a
    client sends, not by their names; operation-level security is compared where either side declares it."""
    yield from _security_findings(pair, pair.old.get("security"), pair.new.get("security"), "security", "")
    for op in pair.common():
        if "security" in op.old.node or "security" in op.new.node:
            old = op.old.node.get("security", pair.old.get("security"))
            new = op.new.node.get("security", pair.new.get("security"))
            yield from _security_findings(pair, old, new, f"{op.new.pointer}.security", op.new.label)


# ---------------------------------------------------------------------------------------------------------------------
# Operation rules


@operation_rule
def operation_id_changed(op: OperationPair) -> Findings:
    """Same method and path, another operationId: generated clients rename the method callers use."""
    old, new = op.old.node.get("operationId"), op.new.node.get("operationId")
    if old and old != new:
        message = f"operationId {old!r} is now {new!r}: clients generated from the spec rename the method, so code"
        yield Finding(
            "warning", "operationId", f"{message} calling {old} no longer compiles; the HTTP call is unchanged"
        )


@operation_rule
def path_parameter_renamed(op: OperationPair) -> Findings:
    """A path parameter has another name in the same place: the URL clients build is unchanged."""
    for old, new in zip(_template_names(op.old.path), _template_names(op.new.path), strict=False):
        if old != new:
            message = f"path parameter {{{old}}} is now {{{new}}}: URLs are unchanged; only generated argument names"
            yield Finding("info", f"parameters.path.{new}", f"{message} change")


@operation_rule
def success_status_changed(op: OperationPair) -> Findings:
    """A documented success status is gone, or replaced by another (200 to 201)."""
    changes = op.success_statuses
    if changes.swapped:
        old, new = changes.removed[0], changes.added[0]
        message = f"the success status is now {new} (was {old}): clients that check for {old} take success for failure"
        yield Finding("breaking", f"responses.{new}", message)
        return
    for status in changes.removed:
        message = f"success status {status} is no longer documented: clients that expect it take success for failure"
        yield Finding("breaking", f"responses.{status}", message)


@operation_rule
def success_status_added(op: OperationPair) -> Findings:
    """Another success status besides the old ones: clients checking for the old ones may treat it as a failure."""
    if not op.success_statuses.swapped:
        for status in op.success_statuses.added:
            message = f"new success status {status}: clients that check for a specific success status may take it"
            yield Finding("warning", f"responses.{status}", f"{message} for a failure")


@operation_rule
def error_status_added(op: OperationPair) -> Findings:
    """A newly documented error status: what the server may already answer, now written down."""
    for status in op.new.statuses:
        if not _is_success(status) and status not in op.old.statuses:
            yield Finding("info", f"responses.{status}", f"error status {status} is now documented")


@operation_rule
def error_status_removed(op: OperationPair) -> Findings:
    """An error status no longer documented: clients handling it keep working, but may now get another one."""
    for status in op.old.statuses:
        if not _is_success(status) and status not in op.new.statuses:
            message = f"error status {status} is no longer documented: clients that rely on it (to detect a missing"
            yield Finding("warning", f"responses.{status}", f"{message} item, to retry) may now get another status")


def _parameter_where(param: Mapping[str, Any]) -> str:
    return f"parameters.{param.get('in')}.{param.get('name')}"


def _required(param: Mapping[str, Any]) -> bool:
    return param.get("in") == "path" or param.get("required") is True


@operation_rule
def parameter_removed(op: OperationPair) -> Findings:
    """A parameter is gone: clients still send it, and the server may reject it or silently ignore it."""
    for param in op.parameters.removed:
        message = f"{param.get('in')} parameter {param.get('name')!r} was removed: clients that send it may be rejected"
        yield Finding("breaking", _parameter_where(param), f"{message}, or have it silently ignored")


@operation_rule
def parameter_added(op: OperationPair) -> Findings:
    """A new parameter: breaking when required (existing clients do not send it), info when optional."""
    for param in op.parameters.added:
        what = f"{param.get('in')} parameter {param.get('name')!r}"
        if _required(param):
            yield Finding("breaking", _parameter_where(param), f"new required {what}: existing clients do not send it")
        else:
            yield Finding("info", _parameter_where(param), f"new optional {what}")


@operation_rule
def parameter_required_changed(op: OperationPair) -> Findings:
    """An optional parameter became required (breaking), or a required one optional (info)."""
    for old, new in op.parameters.kept:
        what = f"{new.get('in')} parameter {new.get('name')!r}"
        if _required(new) and not _required(old):
            message = f"{what} is now required: clients that leave it out are rejected"
            yield Finding("breaking", _parameter_where(new), message)
        elif _required(old) and not _required(new):
            yield Finding("info", _parameter_where(new), f"{what} is now optional")


@operation_rule
def parameter_location_changed(op: OperationPair) -> Findings:
    """A parameter moved (query to header, say): clients still send it where it was."""
    for old, new in op.parameters.moved:
        message = f"parameter {new.get('name')!r} moved from the {old.get('in')} to the {new.get('in')}: clients"
        yield Finding("breaking", _parameter_where(new), f"{message} still send it in the {old.get('in')}")


def _style(param: Mapping[str, Any]) -> tuple[str, bool]:
    """(style, explode) with OpenAPI's defaults."""
    style = str(param.get("style") or ("form" if param.get("in") in ("query", "cookie") else "simple"))
    return style, bool(param.get("explode", style == "form"))


@operation_rule
def parameter_style_changed(op: OperationPair) -> Findings:
    """A parameter's serialization (style, explode) changed: the arrays and objects clients send read otherwise."""
    for old, new in op.parameters.kept:
        if _style(old) != _style(new):
            (old_style, old_explode), (new_style, new_explode) = _style(old), _style(new)
            message = f"{new.get('in')} parameter {new.get('name')!r} is now serialized as style={new_style}, explode="
            detail = f"{str(new_explode).lower()} (was {old_style}, {str(old_explode).lower()}): what clients send"
            yield Finding("breaking", _parameter_where(new), f"{message}{detail} is read differently")


def _body(operation: Operation) -> Mapping[str, Any]:
    body = operation.node.get("requestBody")
    return body if isinstance(body, Mapping) else {}


@operation_rule
def request_body_required_changed(op: OperationPair) -> Findings:
    """A request body became required (breaking: clients that send none are rejected), or optional (info)."""
    old, new = _body(op.old), _body(op.new)
    if new.get("required") is True and old.get("required") is not True:
        yield Finding("breaking", "requestBody", "a request body is now required: clients that send none are rejected")
    elif old.get("required") is True and new and new.get("required") is not True:
        yield Finding("info", "requestBody", "the request body is now optional")


def _media_type(name: Any) -> str:
    return str(name).partition(";")[0].strip().lower()


def _content(holder: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Media type (parameters dropped) to media type object."""
    content = holder.get("content") or {}
    return {_media_type(name): media for name, media in content.items() if isinstance(media, Mapping)}


Body = tuple[str, str, Mapping[str, Any], Mapping[str, Any], Direction]  # location, name, old, new, direction


def _bodies(op: OperationPair) -> Iterator[Body]:
    """The request body and each success response on both sides (a side without a request body gives {})."""
    yield "requestBody", "the request body", _body(op.old), _body(op.new), "request"
    for old_status, new_status in op.success_pairs:
        old, new = op.old.response(old_status), op.new.response(new_status)
        yield f"responses.{new_status}", f"the {new_status} response", old, new, "response"


@operation_rule
def media_type_removed(op: OperationPair) -> Findings:
    """A request body no longer takes a media type clients send (415), or a success response no longer comes in
    one clients ask for (406) or parse."""
    for where, name, old, new, direction in _bodies(op):
        new_content = _content(new)
        for media in [media for media in _content(old) if media not in new_content]:
            if direction == "request":
                message = f"{name} no longer accepts {media}: clients sending it are rejected (415)"
            else:
                message = f"{name} no longer comes as {media}: clients asking for it (Accept) or parsing it fail"
            yield Finding("breaking", f"{where}.content.{media}", message)


@operation_rule
def media_type_added(op: OperationPair) -> Findings:
    """A request body takes another media type, or a success response may come in another one (on request)."""
    for where, name, old, new, direction in _bodies(op):
        old_content = _content(old)
        for media in [media for media in _content(new) if media not in old_content]:
            verb = "now also accepts" if direction == "request" else "may now also come as"
            yield Finding("info", f"{where}.content.{media}", f"{name} {verb} {media}")


# ---------------------------------------------------------------------------------------------------------------------
# Schema rules: `location` is relative to the schema node; the walker puts the node's own location in front


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


def _parameter_schema(param: Mapping[str, Any]) -> Any:
    """A parameter's schema, or that of its first media type when it has `content` instead."""
    if "schema" in param:
        return param["schema"]
    return next(iter(_content(param).values()), {}).get("schema")


Site = tuple[str, dict[str, tuple[Any, Any]], Direction]  # location, {media type ("" for none): schemas}, direction


def _schema_sites(op: OperationPair) -> Iterator[Site]:
    """Where the operation holds schemas both sides have: parameters, request bodies, success responses."""
    for old, new in op.parameters.kept:
        yield _parameter_where(new), {"": (_parameter_schema(old), _parameter_schema(new))}, "request"
    for where, _, old, new, direction in _bodies(op):
        old_content = _content(old)
        shared = {
            media: (old_content[media].get("schema"), node.get("schema"))
            for media, node in _content(new).items()
            if media in old_content
        }
        yield where, shared, direction


def _schema_changes(op: OperationPair) -> Iterator[Change]:
    """Schema rule findings at every site; one change for the media types of a body that change alike."""
    for where, schemas, direction in _schema_sites(op):
        found: dict[tuple[str, Finding], list[str]] = {}
        for media, (old, new) in schemas.items():
            for rule, finding in compare_schemas(old, new, direction):
                found.setdefault((rule, finding), []).append(media)
        for (rule, finding), media_types in found.items():
            names = media_types[0] if len(media_types) == 1 else "{" + ",".join(media_types) + "}"
            content = f"content.{names}" if names else ""
            location = _join(where, content, "schema", finding.location)
            yield Change(finding.severity, rule, op.new.label, location, finding.message)


# ---------------------------------------------------------------------------------------------------------------------
# Entry points


def diff_specs(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Every rule's changes between two resolved documents, most severe first, then by operation and location."""
    pair = SpecPair(old, new)
    changes = [
        Change(finding.severity, name, finding.operation or ALL_OPERATIONS, finding.location, finding.message)
        for name, check in SPEC_RULES.items()
        for finding in check(pair)
    ]
    for op in pair.common():
        changes += [
            Change(finding.severity, name, op.new.label, finding.location, finding.message)
            for name, check in OPERATION_RULES.items()
            for finding in check(op)
        ]
        changes += _schema_changes(op)
    order = {label: index for index, label in enumerate(pair.labels())}
    return sorted(changes, key=lambda c: (SEVERITIES.index(c.severity), order.get(c.operation, -1), c.location, c.rule))


def load_spec(path: Path) -> dict[str, Any]:
    """The OpenAPI 3.x document at `path`, every $ref inlined (relative files included)."""
    from connexion.json_schema import resolve_refs

    from apitwin.spec import load_raw

    try:
        raw = load_raw(path)
        version = str(raw.get("openapi", ""))
        resolved: dict[str, Any] = resolve_refs(raw, base_uri=path.resolve().as_uri())
    except Exception as exc:  # unreadable file, bad YAML, a $ref that does not resolve
        raise UnreadableSpec(f"{path}: {type(exc).__name__}: {exc}") from exc
    if not version.startswith("3."):
        raise UnreadableSpec(f"{path}: not an OpenAPI 3.0 or 3.1 document (openapi: {version or 'missing'})")
    return resolved


def diff_files(old: Path, new: Path) -> list[Change]:
    """The changes from the document at `old` to the one at `new` (OpenAPI 3.0 or 3.1)."""
    return diff_specs(load_spec(old), load_spec(new))


def _counts(changes: list[Change]) -> dict[Severity, int]:
    return {severity: sum(change.severity == severity for change in changes) for severity in SEVERITIES}


def summary(changes: list[Change]) -> str:
    """E.g. "3 breaking, 1 warning, 5 info"."""
    breaking, warnings, info = _counts(changes).values()
    return f"{breaking} breaking, {warnings} warning{'' if warnings == 1 else 's'}, {info} info"


_HEADINGS = {"breaking": "Breaking", "warning": "Warnings", "info": "Info"}


def _grouped(changes: list[Change]) -> Iterator[tuple[Severity, dict[str, list[Change]]]]:
    """Changes by severity, then by operation (in the order diff_specs sorted them)."""
    for severity in SEVERITIES:
        by_operation: dict[str, list[Change]] = {}
        for change in changes:
            if change.severity == severity:
                by_operation.setdefault(change.operation, []).append(change)
        if by_operation:
            yield severity, by_operation


def render_text(changes: list[Change]) -> str:
    lines = []
    for severity, by_operation in _grouped(changes):
        lines.append(f"{_HEADINGS[severity]} ({sum(map(len, by_operation.values()))})")
        for operation, group in by_operation.items():
            lines.append(f"  {operation}")
            lines += [f"    {change.location}: [{change.rule}] {change.message}" for change in group]
    return "\n".join([*lines, summary(changes) if changes else "no changes"]) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(changes: list[Change]) -> str:
    lines = [f"## API changes: {summary(changes) if changes else 'none'}"]
    for severity, by_operation in _grouped(changes):
        lines += ["", f"### {_HEADINGS[severity]} ({sum(map(len, by_operation.values()))})", ""]
        lines += ["| Operation | Location | Rule | Change |", "| --- | --- | --- | --- |"]
        for operation, group in by_operation.items():
            lines += [
                f"| `{_cell(operation)}` | `{_cell(c.location)}` | `{c.rule}` | {_cell(c.message)} |" for c in group
            ]
    return "\n".join(lines) + "\n"


def render_json(changes: list[Change]) -> str:
    return json.dumps({"summary": _counts(changes), "changes": [asdict(change) for change in changes]}, indent=2) + "\n"


RENDERERS: dict[str, Callable[[list[Change]], str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "json": render_json,
}


def exit_code(changes: list[Change], fail_on: Severity) -> int:
    """1 when a change is at least as severe as `fail_on`, else 0."""
    threshold = SEVERITIES.index(fail_on)
    return int(any(SEVERITIES.index(change.severity) <= threshold for change in changes))


@click.command("diff")
@click.argument("old", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--fail-on",
    type=click.Choice(SEVERITIES),
    default="breaking",
    show_default=True,
    help="Exit 1 when a change is at least this severe.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(tuple(RENDERERS)),
    default="text",
    show_default=True,
    help="Report format.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report here, not to stdout.",
)
def diff_command(old: Path, new: Path, fail_on: Severity, output_format: str, output: Path | None) -> None:
    """Compare two versions of an OpenAPI 3.0 or 3.1 document from an existing client's point of view:
    breaking (a client may fail), warning (it may misbehave), info. Exits 1 when a change is at least as
    severe as --fail-on, 2 when a document cannot be read."""
    try:
        changes = diff_files(old, new)
    except UnreadableSpec as exc:
        click.echo(f"apitwin diff: {exc}", err=True)
        raise SystemExit(2) from None
    report = RENDERERS[output_format](changes)
    if output is None:
        click.echo(report, nl=False)
    else:
        output.write_text(report, encoding="utf-8")
        click.echo(f"{summary(changes)}; report written to {output}")
    raise SystemExit(exit_code(changes, fail_on))
