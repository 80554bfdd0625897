"""`apitwin lint`: openapi-spec-validator, then what it misses, as a registry of small named rules; notes on what
is deliberate (a root component overriding a common one); `--coverage`: who serves each operation, which test
covers it."""

from __future__ import annotations

import difflib
import functools
import itertools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apitwin.engine.routes import HTTP_METHODS, SpecError, TwinModel, build_model

if TYPE_CHECKING:
    from apitwin.spec import Override
    from apitwin.twins import Twin

Loc = tuple[Any, ...]  # keys from the root of the document; YAML may make some of them ints
Findings = Iterator[tuple[str, str]]

# $url, $method, $statusCode, $request.{path,query,header}.name, $request.body#/ptr, $response.header.name, ...
_EXPRESSION = re.compile(
    r"\$(url|method|statusCode|request\.(path|query|header)\..+|(request|response)\.body(#/.*)?|response\.header\..+)"
)


@dataclass(frozen=True)
class Problem:
    """One finding: the spec file, where in it, which rule, and what is wrong."""

    spec: str
    where: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.spec}: {self.where}: [{self.rule}] {self.message}"


@dataclass(frozen=True)
class Note(Problem):
    """A finding that is no problem but worth knowing (lint still exits 0)."""

    def __str__(self) -> str:
        return f"{self.spec}: {self.where}: [{self.rule}] note: {self.message}"


@dataclass(frozen=True)
class Context:
    """One spec, bundled with its common parts, as the rules see it; the twin fields stay None when no twin serves
    the spec."""

    spec: str
    raw: Mapping[str, Any]
    behaviours: frozenset[str] | None = None
    fixtures: Mapping[str, Any] | None = None
    fixtures_file: str = "fixtures.json"
    roles: tuple[str, ...] = ()
    origins: Mapping[Loc, str] = field(default_factory=dict)  # parts bundled in from common files
    overrides: tuple[Override, ...] = ()
    shared_operations: frozenset[str] = frozenset()  # of other twins with the same behaviour module
    max_behaviours: int | None = None
    # the twin's operations in its other documents (its Portal API): served by its behaviours, counted in its budget
    document_operations: frozenset[str] = frozenset()

    def located(self, where: str) -> str:
        """`where`, with the common file and place it came from when it was bundled in from one."""
        best = max(
            (loc for loc in self.origins if where == _dotted(loc) or where.startswith(_dotted(loc) + ".")),
            key=len,
            default=None,
        )
        if best is None:
            return where
        rest = where[len(_dotted(best)) :].replace(".", "/")
        return f"{where} (in {self.origins[best]}{rest})"

    @cached_property
    def resolved(self) -> Mapping[str, Any] | None:
        """Every $ref inlined as the engine does it; None when one does not resolve (openapi_valid says which)."""
        from connexion.json_schema import resolve_refs

        try:
            resolved: Mapping[str, Any] = resolve_refs(self.raw)
        except Exception:
            return None
        return resolved

    @cached_property
    def model(self) -> TwinModel | None:
        """The engine's reading of x-twin; None when it refuses the spec (x_twin_valid says why)."""
        try:
            return None if self.resolved is None else build_model(self.resolved, self.spec)
        except SpecError:
            return None


Rule = Callable[[Context], Iterator[Problem]]
RULES: dict[str, Rule] = {}
NOTES: dict[str, Rule] = {}


def _registrar(registry: dict[str, Rule], finding: type[Problem]) -> Callable[[Callable[[Context], Findings]], Rule]:
    def register(check: Callable[[Context], Findings]) -> Rule:
        @functools.wraps(check)
        def run(ctx: Context) -> Iterator[Problem]:
            for where, message in check(ctx):
                yield finding(ctx.spec, ctx.located(where), check.__name__, message)

        registry[check.__name__] = run
        return run

    return register


rule = _registrar(RULES, Problem)
"""Register a check under its function name; the registered rule yields Problems."""
note = _registrar(NOTES, Note)
"""Register a check of what is deliberate; it yields Notes, which do not fail lint."""


def _dotted(loc: Loc) -> str:
    return ".".join(str(key) for key in loc)


def _items(node: Any) -> Iterator[tuple[Any, Any]]:
    yield from node.items() if isinstance(node, Mapping) else ()


def _operations(spec: Mapping[str, Any]) -> Iterator[tuple[Loc, Mapping[str, Any], Mapping[str, Any]]]:
    """(location, path item, operation) of every operation."""
    for path, item in _items(spec.get("paths")):
        for method in HTTP_METHODS:
            if isinstance(item, Mapping) and isinstance(item.get(method), Mapping):
                yield ("paths", path, method), item, item[method]


def _json_schema(schema: Any) -> Any:
    """A Draft 4 copy of a resolved OpenAPI 3.0 schema, with `nullable` turned into a null type."""
    if not isinstance(schema, Mapping):
        return schema
    out = dict(schema)
    if isinstance(out.get("properties"), Mapping):
        out["properties"] = {name: _json_schema(sub) for name, sub in out["properties"].items()}
    for key in ("items", "additionalProperties", "not"):
        if key in out:
            out[key] = _json_schema(out[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if isinstance(out.get(key), list):
            out[key] = [_json_schema(sub) for sub in out[key]]
    if out.pop("nullable", False) is True:
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        if "type" not in out:
            return {"anyOf": [out, {"type": "null"}]}
        out["type"] = [out["type"], "null"]
    return out


def _mismatches(value: Any, schema: Any) -> Iterator[str]:
    """Draft 4 validation errors of `value` against an OpenAPI 3.0 schema, the most telling one per place."""
    from jsonschema import Draft4Validator
    from jsonschema.exceptions import best_match

    errors = sorted(Draft4Validator(_json_schema(schema)).iter_errors(value), key=lambda error: error.json_path)
    for _, group in itertools.groupby(errors, key=lambda error: error.json_path):
        error = best_match(group)
        yield _short(error.message) + (f" (at {error.json_path})" if error.path else "")


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


@rule
def openapi_valid(ctx: Context) -> Findings:
    """The document is OpenAPI 3.0.x (connexion 3.3 serves nothing else) and openapi-spec-validator accepts it."""
    from openapi_spec_validator import validate

    version = str(ctx.raw.get("openapi", ""))
    if not version.startswith("3.0."):
        yield "openapi", f"version is {version or 'missing'!r}; connexion 3.3 serves OpenAPI 3.0.x only"
        if not version.startswith("3."):
            return  # the validator cannot even tell which schema applies
    try:
        validate(ctx.raw)  # bundled: only local $refs
    except Exception as exc:  # a missing $ref raises referencing's PointerToNowhere, not a validation error
        ref = getattr(exc, "ref", None)
        if isinstance(ref, str):
            yield _ref_site(ctx.raw, ref) or "$ref", f"$ref {ref!r} does not resolve"
        else:
            where = _dotted(tuple(getattr(exc, "path", ()))) or "(document)"
            yield where, _short(getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}".rstrip(": "))


def _ref_site(node: Any, ref: str, loc: Loc = ()) -> str | None:
    """Where the document writes a $ref ending in `ref`, to point at the culprit."""
    if isinstance(node, Mapping):
        if isinstance(node.get("$ref"), str) and (node["$ref"] == ref or node["$ref"].endswith("#" + ref)):
            return _dotted((*loc, "$ref"))
        pairs: Iterator[tuple[Any, Any]] = iter(node.items())
    elif isinstance(node, list):
        pairs = iter(enumerate(node))
    else:
        return None
    return next((site for key, sub in pairs if (site := _ref_site(sub, ref, (*loc, key)))), None)


@rule
def x_twin_valid(ctx: Context) -> Findings:
    """The engine accepts the x-twin declarations."""
    if ctx.resolved is None:
        return
    try:
        build_model(ctx.resolved, ctx.spec)
    except SpecError as exc:
        text = str(exc).removeprefix(f"{ctx.spec}: ")
        where, sep, message = text.partition(": ")
        # the engine names operations "GET /path"; the other rules say paths./path.get
        where = re.sub(
            r"^([A-Z]+) (\S+)( x-twin)?", lambda m: f"paths.{m[2]}.{m[1].lower()}{'.x-twin' * bool(m[3])}", where
        )
        yield (where, message) if sep else ("x-twin", text)


@rule
def operations_have_ids(ctx: Context) -> Findings:
    """Every operation has a unique operationId (the engine and the links key on it)."""
    seen: dict[str, str] = {}
    for loc, _, operation in _operations(ctx.raw):
        operation_id = operation.get("operationId")
        if not isinstance(operation_id, str) or not operation_id:
            yield _dotted(loc), "operation has no operationId"
        elif operation_id in seen:
            yield _dotted(loc), f"operationId {operation_id!r} is also used by {seen[operation_id]}"
        else:
            seen[operation_id] = _dotted(loc)


@rule
def links_resolve(ctx: Context) -> Findings:
    """Response links name an existing operation and its parameters, with well-formed runtime expressions."""
    if ctx.resolved is None:
        return
    by_id = {op.get("operationId"): (item, op) for _, item, op in _operations(ctx.resolved)}
    for loc, _, operation in _operations(ctx.resolved):
        for status, response in _items(operation.get("responses")):
            for name, link in _items(response.get("links") if isinstance(response, Mapping) else None):
                where = _dotted((*loc, "responses", status, "links", name))
                yield from ((where, message) for message in _link_problems(ctx.resolved, link, response, status, by_id))


def _link_problems(spec: Mapping[str, Any], link: Any, response: Any, status: Any, by_id: Any) -> Iterator[str]:
    """What is wrong with one link: its target, its parameter names, its expressions."""
    target = _link_target(spec, link, by_id)
    if isinstance(target, str):
        yield target
        return
    item, op = target
    params = [*item.get("parameters", []), *op.get("parameters", [])]
    known = {p.get("name") for p in params} | {f"{p.get('in')}.{p.get('name')}" for p in params}
    parameters = dict(_items(link.get("parameters")))
    for param in [name for name in parameters if name not in known]:
        names = ", ".join(sorted({str(p.get("name")) for p in params})) or "none"
        yield f"parameter {param!r} is not a parameter of {op.get('operationId', 'its target')} (it has: {names})"
    for value in [*parameters.values(), link.get("requestBody")]:
        yield from _expression_problems(value, response, status)


def _link_target(spec: Mapping[str, Any], link: Any, by_id: Mapping[Any, Any]) -> str | tuple[Any, Any]:
    """The (path item, operation) a link points to, or why it points nowhere."""
    if not isinstance(link, Mapping):
        return "link is not an object"
    if "operationId" in link:
        if link["operationId"] in by_id:
            return by_id[link["operationId"]]  # type: ignore[no-any-return]
        close = difflib.get_close_matches(str(link["operationId"]), [str(key) for key in by_id], n=1)
        return f"operationId {link['operationId']!r} names no operation" + (
            f"; did you mean {close[0]!r}?" if close else ""
        )
    ref = link.get("operationRef")
    if not isinstance(ref, str):
        return "link has neither operationId nor operationRef"
    keys = [part.replace("~1", "/").replace("~0", "~") for part in ref.removeprefix("#/").split("/")]
    item = spec.get("paths", {}).get(keys[1]) if len(keys) == 3 and keys[0] == "paths" else None
    if ref.startswith("#/") and isinstance(item, Mapping) and isinstance(item.get(keys[2]), Mapping):
        return item, item[keys[2]]
    return f"operationRef {ref!r} does not resolve to an operation in this document"


def _expression_problems(value: Any, response: Mapping[str, Any], status: Any) -> Iterator[str]:
    """A malformed runtime expression, or a $response.body pointer the response schema does not have."""
    if not isinstance(value, str) or not value.startswith("$"):
        return  # a constant
    if not _EXPRESSION.fullmatch(value):
        yield f"{value!r} is not a runtime expression ($response.body#/..., $request.path.NAME, ...)"
        return
    pointer = value.partition("#")[2] if value.startswith("$response.body#") else ""
    content = response.get("content", {})
    media = "application/json" if "application/json" in content else next((m for m in content if "json" in m), None)
    schema = content[media].get("schema") if media else None
    for segment in filter(None, pointer.split("/")):
        properties = schema.get("properties") if isinstance(schema, Mapping) else None
        if not isinstance(properties, Mapping):
            return  # past what the schema spells out: nothing to check against
        segment = segment.replace("~1", "/").replace("~0", "~")
        if segment not in properties:
            close = difflib.get_close_matches(segment, list(properties), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"it has: {', '.join(properties)}"
            yield f"{value!r}: the {status} response has no property {segment!r}; {hint}"
            return
        schema = properties[segment]


def _example_sites(raw: Mapping[str, Any]) -> Iterator[tuple[Loc, bool]]:
    """(location, is a schema) of each parameter, header, media type and schema written out in the document."""

    # a $ref is skipped: its target is visited where it is written, so each example is reported once
    def holder(loc: Loc, node: Any) -> Iterator[tuple[Loc, bool]]:
        # parameters, headers and media types; also walks request bodies and responses, which hold them
        if isinstance(node, Mapping) and "$ref" not in node:
            yield loc, False
            yield from schema((*loc, "schema"), node.get("schema"))
            for key in ("content", "headers"):
                for name, sub in _items(node.get(key)):
                    yield from holder((*loc, key, name), sub)

    def schema(loc: Loc, node: Any) -> Iterator[tuple[Loc, bool]]:
        if isinstance(node, Mapping) and "$ref" not in node:
            yield loc, True
            for name, sub in _items(node.get("properties")):
                yield from schema((*loc, "properties", name), sub)
            for key in ("items", "additionalProperties", "not"):
                yield from schema((*loc, key), node.get(key))
            for key in ("allOf", "anyOf", "oneOf"):
                for index, sub in enumerate(node.get(key) or ()):
                    yield from schema((*loc, key, index), sub)

    for path, item in _items(raw.get("paths")):
        for index, param in enumerate(item.get("parameters") or () if isinstance(item, Mapping) else ()):
            yield from holder(("paths", path, "parameters", index), param)
    for loc, _, op in _operations(raw):
        for index, param in enumerate(op.get("parameters") or ()):
            yield from holder((*loc, "parameters", index), param)
        yield from holder((*loc, "requestBody"), op.get("requestBody"))
        for status, response in _items(op.get("responses")):
            yield from holder((*loc, "responses", status), response)
    components = raw.get("components", {})
    for name, node in _items(components.get("schemas")):
        yield from schema(("components", "schemas", name), node)
    for kind in ("parameters", "headers", "requestBodies", "responses"):
        for name, node in _items(components.get(kind)):
            yield from holder(("components", kind, name), node)


def _at(node: Any, loc: Loc) -> Any:
    """The node at `loc`; the resolved document keeps the raw one's shape, with $refs inlined."""
    for key in loc:
        node = node[key]
    return node


@rule
def examples_match_schemas(ctx: Context) -> Findings:
    """Every example (media types, parameters, headers, schemas) validates against its schema."""
    if ctx.resolved is None:
        return
    for loc, is_schema in _example_sites(ctx.raw):
        node = _at(ctx.resolved, loc)
        schema = node if is_schema else node.get("schema")
        if not isinstance(schema, Mapping):
            continue
        samples = [((*loc, "example"), node["example"])] if "example" in node else []
        if not is_schema:  # a schema's own `examples` is 3.1 only
            samples += [
                ((*loc, "examples", n, "value"), e["value"]) for n, e in _items(node.get("examples")) if "value" in e
            ]
        for where, value in samples:
            for mismatch in _mismatches(value, schema):
                yield _dotted(where), f"example does not match its schema: {mismatch}"


@rule
def handlers_exist(ctx: Context) -> Findings:
    """Every operation has a behaviour or an engine action, and every behaviour an operation (twin only)."""
    if ctx.behaviours is None or ctx.model is None:
        return
    for route in ctx.model.routes.values():
        if route.operation_id not in ctx.behaviours and route.action is None:
            where = f"paths.{route.path}.{route.method.lower()}"
            yield where, f"{route.operation_id} has no registered behaviour and no x-twin collection action"
    # a module shared by several twins may register operations only some of them have
    for stale in sorted(ctx.behaviours - set(ctx.model.routes) - ctx.shared_operations - ctx.document_operations):
        yield "paths", f"a behaviour is registered for {stale!r}, which no operation has"


@rule
def behaviour_budget(ctx: Context) -> Findings:
    """A twin serves at most its declared number of operations with behaviours (the rest: the engine)."""
    if ctx.behaviours is None or ctx.model is None or ctx.max_behaviours is None:
        return
    operations = set(ctx.model.routes) | ctx.document_operations
    served = len(operations & ctx.behaviours)
    if served > ctx.max_behaviours:
        yield (
            "paths",
            (
                f"{served} of {len(operations)} operations are served by behaviours, over the twin's ceiling of "
                f"{ctx.max_behaviours}: look for the engine capability several of them share"
            ),
        )


@note
def overrides_listed(ctx: Context) -> Findings:
    """The root's components that stand in for common components of the same name (deliberate differences)."""
    for override in ctx.overrides:
        yield f"components.{override.kind}.{override.name}", f"overrides {override.source}"


@rule
def fixtures_match_schemas(ctx: Context) -> Findings:
    """Fixture documents fit their collection's schema with unique ids; credentials are usable (twin only)."""
    if ctx.fixtures is None or ctx.model is None:
        return
    collections = ctx.model.collections
    for name, docs in _items(ctx.fixtures.get("collections")):
        where = f"{ctx.fixtures_file}:collections.{name}"
        if name not in collections:
            yield where, f"collection {name!r} is not declared in x-twin.collections ({', '.join(collections)})"
            continue
        definition, seen = collections[name], set()
        parent = definition.parent
        private = set(definition.private_fields)  # stored, never in the schema
        for index, doc in enumerate(docs):
            shown = {k: v for k, v in doc.items() if k not in private} if isinstance(doc, Mapping) else doc
            # writeOnly fields are stored, so the schema applies with no read/write filtering
            for mismatch in _mismatches(shown, definition.schema):
                yield f"{where}.{index}", f"document does not match schema: {mismatch}"
            if not isinstance(doc, Mapping) or definition.id_of(doc) is None:
                yield f"{where}.{index}", f"document has no id field {definition.id_field!r}"
            elif parent is not None and parent.field not in doc:
                yield f"{where}.{index}", f"document has no parent field {parent.field!r}"
            elif (key := definition.store_key(doc)) in seen:  # ids of nested items are unique per parent
                yield f"{where}.{index}", f"duplicate {definition.id_field} {definition.id_of(doc)!r}"
            else:
                seen.add(key)
    credentials: set[str] = set()
    for index, cred in enumerate(ctx.fixtures.get("credentials", [])):
        where, value = f"{ctx.fixtures_file}:credentials.{index}", cred.get("credential")
        if not isinstance(value, str) or not value:
            yield where, "credential needs a non-empty 'credential' string"
        elif value in credentials:
            yield where, "duplicate credential (credentials are stored by value)"
        credentials.add(str(value))
        if ctx.roles and cred.get("role") not in ctx.roles:
            yield where, f"role {cred.get('role')!r} is not one of the twin's roles {list(ctx.roles)}"


@rule
def errors_documented(ctx: Context) -> Findings:
    """Secured operations document 401, and every operation documents some 4xx."""
    if ctx.resolved is None:
        return
    for loc, _, operation in _operations(ctx.resolved):
        codes = {str(code).upper() for code in operation.get("responses", {})}
        security = operation.get("security", ctx.resolved.get("security", []))
        # an empty requirement ({}) makes credentials optional, so a 401 is not a given
        if security and all(security) and not codes & {"401", "4XX"}:
            yield _dotted((*loc, "responses")), "the operation is secured but documents no 401 response"
        if not any(code.startswith("4") for code in codes):
            yield _dotted((*loc, "responses")), "the operation documents no 4xx response"


def _context(path: Path, twin: Twin | None = None) -> Context:
    """The bundled spec at `path`, with the twin's behaviours, fixtures and roles when a twin serves it (as its main
    document; one of its other documents gets its behaviours only)."""
    from apitwin.spec import bundle

    made = bundle(path)
    ctx = Context(spec=path.name, raw=made.document, origins=made.origins, overrides=made.overrides)
    if twin is None:
        return ctx
    if path.resolve() != twin.spec_path.resolve():  # another document: the twin's other operations are its own
        own = _spec_operations(twin.spec_path) | _document_operations(twin)
        shared = _operations_of_siblings(twin) | own
        return replace(ctx, behaviours=twin.behaviours().operation_ids(), shared_operations=frozenset(shared))
    fixtures = json.loads(twin.fixtures_path.read_text(encoding="utf-8"))
    behaviours = twin.behaviours().operation_ids()
    where = f"{twin.fixtures_path.parent.name}/{twin.fixtures_path.name}"
    return replace(
        ctx,
        behaviours=behaviours,
        fixtures=fixtures,
        fixtures_file=where,
        roles=twin.roles,
        shared_operations=_operations_of_siblings(twin),
        max_behaviours=twin.max_behaviours,
        document_operations=_document_operations(twin),
    )


def _spec_operations(path: Path) -> frozenset[str]:
    """The operationIds of a spec; none when it does not bundle (its own lint says why)."""
    from apitwin.spec import BundleError, load_bundled

    try:
        spec = load_bundled(path)
    except BundleError:
        return frozenset()
    return frozenset(str(op.get("operationId")) for _, _, op in _operations(spec))


def _document_operations(twin: Twin) -> frozenset[str]:
    """The operationIds of the twin's other documents."""
    return frozenset(op for document in twin.documents for op in _spec_operations(document.spec_path))


def _operations_of_siblings(twin: Twin) -> frozenset[str]:
    """The operationIds of the other twins (every document) whose behaviours live in the same module as `twin`'s."""
    from apitwin.twins import TWINS

    ids: set[str] = set()
    for other in TWINS.values():
        if other.name != twin.name and other.behaviours_module == twin.behaviours_module:
            ids.update(_spec_operations(other.spec_path) | _document_operations(other))
    return frozenset(ids)


@dataclass(frozen=True)
class Report:
    problems: list[Problem]
    notes: list[Problem]


def lint_report(paths: list[Path] | None = None) -> Report:
    """Every rule's problems and notes; None lints each twin's spec, and a twin's own spec also gets the twin
    rules."""
    from apitwin.spec import BundleError
    from apitwin.twins import TWINS

    twins = {twin.spec_path.resolve(): twin for twin in TWINS.values()}
    twins |= {document.spec_path.resolve(): twin for twin in TWINS.values() for document in twin.documents}
    report = Report([], [])
    every = [spec for twin in TWINS.values() for spec in (twin.spec_path, *(d.spec_path for d in twin.documents))]
    for path in every if paths is None else paths:
        try:
            ctx = _context(path, twins.get(path.resolve()))
        except BundleError as exc:  # a $ref to another file that cannot be followed
            report.problems.append(Problem(path.name, "(file)", "bundles", str(exc)))
            continue
        except Exception as exc:  # unreadable YAML or fixtures: nothing else can be checked
            report.problems.append(Problem(path.name, "(file)", "readable", _short(f"{type(exc).__name__}: {exc}")))
            continue
        for check in RULES.values():
            report.problems.extend(check(ctx))
        for check in NOTES.values():
            report.notes.extend(check(ctx))
    return report


def lint_specs(paths: list[Path] | None = None) -> list[Problem]:
    """Every rule's problems (see lint_report)."""
    return lint_report(paths).problems


@dataclass(frozen=True)
class Coverage:
    """Who serves one operation of a twin, and which test sends it a request (or names it)."""

    twin: str
    operation_id: str
    method: str
    path: str
    served_by: str  # "behaviour", "engine", or "none" (handlers_exist reports it)
    tests: tuple[str, ...]  # "tests/e2e/test_x.py:12", in file order

    def test(self) -> str:
        if not self.tests:
            return "none"
        return self.tests[0] + (f" (+{len(self.tests) - 1})" if len(self.tests) > 1 else "")


# A request in a test: client.get("/x/..."), client.post(f"{BASE}/...", ...), client.request("GET", URL, ...).
_CALL = re.compile(
    r"\.(?:(get|post|put|patch|delete|head|options)\(|request\(\s*['\"]([A-Za-z]+)['\"]\s*,)"
    r"\s*(?:f?(['\"])(.*?)\3|([A-Za-z_][A-Za-z0-9_]*)\s*[,)])",
    re.S,
)
# a module constant or a local variable holding a path: `BASE = "/x"`, `stack = f"{BASE}/datasets/{uid}/"`
_ASSIGNED = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?::\s*str\s*)?=\s*f?(['\"])(.*?)\2\s*(?:#.*)?$", re.M)


def coverage(twins: list[Twin], tests_dir: Path) -> list[Coverage]:
    """Per twin and operation: served by a behaviour or the engine (the resolver's order), and the tests that
    send it a request (a method call with a literal path, constants of the test module expanded; a path relative
    to the twin's base counts in a module that names the twin) or name its operationId. Requests made through
    client libraries are not seen: "none" means none written out. A twin whose spec does not bundle or build is
    left out (lint reports why)."""
    from apitwin.spec import BundleError, load_resolved

    requests = list(_test_requests(tests_dir)) if tests_dir.is_dir() else []
    texts = {path: path.read_text(encoding="utf-8") for path in sorted(tests_dir.rglob("*.py"))}
    rows: list[Coverage] = []
    mounts = [
        (twin, spec_path, spec_file, bases)
        for twin in twins
        for spec_path, spec_file, bases in (
            (twin.spec_path, twin.spec_file, (twin.base_path, *twin.base_path_aliases)),
            *((document.spec_path, document.spec_file, (document.base_path,)) for document in twin.documents),
        )
    ]
    for twin, spec_path, spec_file, bases in mounts:
        try:
            model = build_model(load_resolved(spec_path), spec_file)
        except (BundleError, SpecError):
            continue
        behaviours = twin.behaviours().operation_ids()
        prefixes = sorted({p for base in bases for p in (f"/{twin.name}{base}", base)}, key=len, reverse=True)
        for route in model.routes.values():
            served = "behaviour" if route.operation_id in behaviours else "engine" if route.action else "none"
            template = re.compile(re.sub(r"\\\{[^/]*?\\\}", "[^/]+", re.escape(route.path.rstrip("/"))) + "/?")
            named_in = {path for path, text in texts.items() if f'"{twin.name}"' in text}
            sent = [
                where
                for method, url, where, path in requests
                if method == route.method
                and (
                    any(_under(url, prefix, template) for prefix in prefixes)
                    # a path relative to the base, in a module that names the twin (a client bound to its base)
                    or (path in named_in and template.fullmatch(url) is not None)
                )
            ]
            named = re.compile(rf"['\"]{re.escape(route.operation_id)}['\"]")
            mentions = [
                f"{_shown(path, tests_dir)}:{text.count(chr(10), 0, m.start()) + 1}"
                for path, text in texts.items()
                for m in named.finditer(text)
            ]
            tests = tuple(dict.fromkeys([*sent, *mentions]))
            rows.append(Coverage(twin.name, route.operation_id, route.method, route.path, served, tests))
    return rows


def _under(url: str, prefix: str, template: re.Pattern[str]) -> bool:
    return url.startswith(prefix) and template.fullmatch(url[len(prefix) :]) is not None


def _shown(path: Path, tests_dir: Path) -> str:
    return path.relative_to(tests_dir.parent).as_posix()


def _test_requests(tests_dir: Path) -> Iterator[tuple[str, str, str, Path]]:
    """(METHOD, path without query, "tests/...py:line", the module) of each request written out in the tests."""
    for path in sorted(tests_dir.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assignments = [(m.start(), m[1], m[3]) for m in _ASSIGNED.finditer(text)]
        for match in _CALL.finditer(text):
            method = (match[1] or match[2]).upper()
            # each name as last assigned before the call (a local `stack` differs from test to test)
            names = {name: value for start, name, value in assignments if start < match.start()}
            names = {name: value for _, name, value in assignments if name not in names} | names
            url = _expanded(match[4] if match[4] is not None else names.get(match[5], ""), names)
            if url.startswith("/"):
                line = text.count("\n", 0, match.start()) + 1
                yield method, url.partition("?")[0], f"{_shown(path, tests_dir)}:{line}", path


def _expanded(url: str, constants: Mapping[str, str]) -> str:
    """`url` with the names assigned in the module put in its f-string fields, also names made of names."""
    for _ in range(3):
        url = re.sub(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: constants.get(m[1], m[0]), url)
    return url


def coverage_table(rows: list[Coverage], twins: list[Twin]) -> list[str]:
    """The coverage rows as aligned text lines, then one summary line per twin (behaviours against its ceiling)."""
    header = ("twin", "operationId", "method", "path", "served by", "test")
    cells = [header, *((r.twin, r.operation_id, r.method, r.path, r.served_by, r.test()) for r in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    lines = [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]) for row in cells
    ]
    for twin in twins:
        mine = [row for row in rows if row.twin == twin.name]
        behaviours = sum(row.served_by == "behaviour" for row in mine)
        ceiling = f"ceiling {twin.max_behaviours}" if twin.max_behaviours is not None else "no ceiling"
        tested = sum(bool(row.tests) for row in mine)
        lines.append(
            f"{twin.name}: {len(mine)} operations, {behaviours} served by behaviours ({ceiling}), "
            f"{len(mine) - behaviours} by the engine; {tested} with a test, {len(mine) - tested} with none"
        )
    return lines
