"""The request stack's shortcuts answer exactly what connexion's own stages answered, doing less work."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from connexion.frameworks.starlette import starlettify_path
from hypothesis import example, given, settings
from hypothesis import strategies as st
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route, Router

from apitwin import app as app_module
from apitwin import resolver, validation
from apitwin import stack as request_stack
from apitwin.engine import schemas
from apitwin.runtime import LOCATED_KEPT, Runtime
from apitwin.spec import for_connexion, load_resolved
from apitwin.stack import IndexedRouter, ValidatedOnce
from apitwin.twins import select
from apitwin.validation import TwinParameterValidator


async def _noop(scope: Any, receive: Any, send: Any) -> None:
    return None


async def _ignore(message: Any) -> None:
    return None


def _routes_of(twin: str) -> list[Route]:
    """The routes connexion's router holds for a twin: its spec paths, in order, with connexion's convertors."""
    spec = for_connexion(load_resolved(select([twin])[0].spec_path))
    routes = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method.startswith("x-"):
                continue
            types = {p["name"]: p.get("schema", {}).get("type") for p in operation.get("parameters", [])}
            routes.append(Route(starlettify_path(path, types), _noop, methods=[method.upper()]))
    return routes


def _outcome(router: Router, method: str, path: str) -> tuple[str, str | None]:
    """What a router does with a request: the route it hands it to, fully or for a 405, or its default."""
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "path_params": {}}
    candidates = router.candidates(path) if isinstance(router, IndexedRouter) else router.routes
    partial = None
    for route in candidates:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return "full", route.path + method
        if match is Match.PARTIAL and partial is None:
            partial = route.path
    return ("partial", partial) if partial else ("none", None)


HUWISE_ROUTES = _routes_of("huwise")
ROUTES = {"huwise": HUWISE_ROUTES, "datascaphe": _routes_of("datascaphe")}  # the second with int convertors
SEGMENT = st.one_of(
    st.sampled_from(["datasets", "da_1", "resources", "12", "-3", "1.5", "versions", "", "metadata", "publish"]),
    st.text("abc/_-.1", max_size=6),
)


@settings(max_examples=300, deadline=None)
@given(
    twin=st.sampled_from(sorted(ROUTES)),
    chosen=st.integers(min_value=0),
    values=st.lists(SEGMENT, min_size=8, max_size=8),
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
)
def test_the_indexed_router_picks_the_route_the_plain_router_picks(
    twin: str, chosen: int, values: list[str], method: str
) -> None:
    routes = ROUTES[twin]
    template = routes[chosen % len(routes)].path
    parts = iter(values)
    path = "/".join(next(parts) if part.startswith("{") else part for part in template.split("/"))
    assert _outcome(IndexedRouter(routes=routes), method, path) == _outcome(Router(routes=routes), method, path)


def test_the_indexed_router_tries_a_few_routes_not_every_one() -> None:
    indexed = IndexedRouter(routes=HUWISE_ROUTES)
    tried = indexed.candidates("/datasets/da_1/resources/re_1/")
    assert len(HUWISE_ROUTES) > 200
    assert 0 < len(tried) < 40  # the routes of 4 segments under /datasets/, of 226


def test_the_indexed_router_remembers_a_bounded_number_of_path_shapes() -> None:
    indexed = IndexedRouter(routes=HUWISE_ROUTES)
    for n in range(IndexedRouter.MEMO_SIZE + 50):
        indexed.candidates(f"/first{n}/x")
    assert len(indexed._memo) == IndexedRouter.MEMO_SIZE
    assert indexed.candidates("/first-unremembered/x") == []


def test_the_indexed_router_serves_a_request() -> None:
    answered: list[str] = []

    async def endpoint(request: Request) -> Response:
        answered.append(request.path_params["dataset_uid"])
        return Response()

    router = IndexedRouter(routes=[Route("/datasets/{dataset_uid}/", endpoint, methods=["GET"])])
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/datasets/da_7/",
        "root_path": "",
        "path_params": {},
        "headers": [],
    }
    asyncio.run(router(scope, _noop, _ignore))
    assert answered == ["da_7"]


def test_runtime_locate_remembers_a_bounded_number_of_paths() -> None:
    runtime = Runtime(select(["datascaphe"]), prefixed=False)
    live, relative = runtime.locate("/api/v1/report/3") or (None, "")
    assert live is not None and relative == "/report/3"
    for n in range(LOCATED_KEPT + 10):
        runtime.locate(f"/api/v1/report/{n}")
    assert len(runtime._located) <= LOCATED_KEPT
    assert runtime.locate("/elsewhere") is None


def test_a_parameter_validator_is_compiled_once_and_says_what_connexion_said(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Any] = []
    original = validation.Draft4Validator

    def counting(*args: Any, **kwargs: Any) -> Any:
        built.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(validation, "Draft4Validator", counting)
    param = {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 100}}
    check = TwinParameterValidator.validate_parameter
    assert check("query", 5, param) is None
    assert check("query", 500, param) == "Invalid query parameter 'limit': 500 is greater than the maximum of 100"
    assert check("query", None, {**param, "required": True}) == "Missing query parameter 'limit'"
    assert check("query", None, param) is None
    assert len(built) == 1  # the required copy is another parameter, checked without a validator


def test_public_shares_nothing_with_the_stored_document() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "secret": {"type": "string", "writeOnly": True}},
        "additionalProperties": True,
    }
    stored = {"name": "n", "secret": "s", "extra": {"deep": [1, {"x": 2}]}, "tags": ["a"]}
    shown = schemas.public(stored, schema)
    assert shown == {"name": "n", "extra": {"deep": [1, {"x": 2}]}, "tags": ["a"]}
    shown["extra"]["deep"][1]["x"] = 99
    shown["tags"].append("b")
    assert stored == {"name": "n", "secret": "s", "extra": {"deep": [1, {"x": 2}]}, "tags": ["a"]}


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@example(value=True, kind="integer")  # the edges: a bool is no integer to jsonschema, 1.0 no integer in draft 4
@example(value=1.0, kind="integer")
@example(value=1, kind="boolean")
@example(value="1", kind="integer")
@given(
    value=JSON_VALUES.filter(lambda v: v is not None),  # None is a missing parameter, before any schema
    kind=st.sampled_from(["string", "integer", "boolean", "number", "array", "object"]),
)
def test_a_type_only_parameter_is_judged_as_jsonschema_judges_it(value: Any, kind: str) -> None:
    param = {"name": "p", "in": "query", "schema": {"type": kind}}
    expected = validation.Draft4Validator(param["schema"], format_checker=validation.FORMAT_CHECKER).is_valid(value)
    assert (TwinParameterValidator.validate_parameter("query", value, param) is None) == expected


SCALAR_KINDS = st.sampled_from(["string", "integer", "boolean", "number"])
BOUNDS = st.integers(-3, 3) | st.floats(-3, 3) | st.booleans()


@st.composite
def parameter_schemas(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    """Schemas of the kinds the fast path decides (a type, bounds, an enum, array items, annotations) and some
    it must leave to jsonschema (a format, a pattern, a length)."""
    kind = draw(SCALAR_KINDS | st.just("array")) if depth == 0 else draw(SCALAR_KINDS)
    schema: dict[str, Any] = {"type": kind}
    if kind == "array":
        schema["items"] = draw(parameter_schemas(depth + 1))
        return schema
    for key in draw(st.sets(st.sampled_from(["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]))):
        schema[key] = draw(st.booleans()) if key.startswith("exclusive") else draw(BOUNDS)
    if draw(st.booleans()):
        schema["enum"] = draw(
            st.lists(st.integers(-2, 2) | st.text(max_size=2) | st.booleans() | st.floats(-2, 2), max_size=3)
        )
    extra = draw(
        st.sampled_from(
            [
                None,
                ("description", "d"),
                ("example", 1),
                ("format", "date"),
                ("pattern", "^a"),
                ("minLength", 1),
                ("x-twin", {}),
            ]
        )
    )
    if extra:
        schema[extra[0]] = extra[1]
    return schema


@settings(max_examples=600, deadline=None)
@example(value=1, schema={"type": "integer", "minimum": 1})
@example(value=1, schema={"type": "integer", "minimum": 1, "exclusiveMinimum": True})
@example(value=1, schema={"type": "integer", "minimum": 1, "exclusiveMinimum": 1})  # a truthy flag, not a bool
@example(value=2**60 + 1, schema={"type": "integer", "maximum": 2**60})  # exact, as floats are not
@example(value=1, schema={"type": "integer", "enum": [True]})  # Python's 1 == True; jsonschema's not
@example(value=["a", 1], schema={"type": "array", "items": {"type": "string"}})
@given(
    value=st.one_of(
        st.integers(-4, 4),
        st.floats(-4, 4),
        st.booleans(),
        st.text(max_size=2),
        st.lists(st.integers(-3, 3) | st.text(max_size=2), max_size=3),
    ),
    schema=parameter_schemas(),
)
def test_a_plain_parameter_schema_is_judged_as_jsonschema_judges_it(value: Any, schema: dict[str, Any]) -> None:
    param = {"name": "p", "in": "query", "schema": schema}
    expected = validation.Draft4Validator(schema, format_checker=validation.FORMAT_CHECKER).is_valid(value)
    assert (TwinParameterValidator.validate_parameter("query", value, param) is None) == expected
    if validation._plainly_valid(value, schema):
        assert expected  # the fast path only ever says yes where jsonschema does


@settings(max_examples=200, deadline=None)
@given(value=JSON_VALUES)
def test_public_without_write_only_fields_is_the_walk_it_skips(value: Any) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "object"}}, "b": {}}}
    walked = schemas._public(value, schemas.effective(schema, value), "omit")
    assert schemas.public(value, schema) == walked


@settings(max_examples=300, deadline=None)
@given(
    scheme=st.sampled_from(["http", "https"]),
    server=st.none()
    | st.tuples(st.sampled_from(["127.0.0.1", "::1", "twin.test"]), st.sampled_from([80, 443, 8000]))
    | st.just(["testserver", 80]),  # starlette's TestClient gives a list
    host=st.none() | st.sampled_from([b"twin.test", b"twin.test:8000", b"[::1]:80", b"bad host:x", b""]),
    path=st.text(alphabet="/a?#\\%\u00e9 ", max_size=12).map(lambda text: "/" + text),
    query=st.binary(max_size=6).filter(lambda raw: raw.isascii()),
)
def test_a_remembered_url_is_the_url_starlette_makes(
    scheme: str, server: tuple[str, int] | None, host: bytes | None, path: str, query: bytes
) -> None:
    headers = [(b"accept", b"*/*")] + ([(b"host", host)] if host is not None else [])
    scope = {
        "type": "http",
        "scheme": scheme,
        "server": server,
        "path": path,
        "query_string": query,
        "headers": headers,
    }
    made = Request(scope).url
    for _ in range(2):  # made, then remembered
        assert resolver.url_of(scope) == (str(made), made.path)


def test_remembered_urls_are_bounded() -> None:
    for n in range(resolver.URLS_KEPT + 10):
        resolver.url_of({"type": "http", "path": f"/p/{n}", "headers": [], "query_string": b""})
    assert len(resolver._urls) <= resolver.URLS_KEPT


class _Operation:
    def __init__(self, consumes: list[str]) -> None:
        self.consumes = consumes


@settings(max_examples=300, deadline=None)
@given(
    headers=st.lists(
        st.tuples(
            st.sampled_from([b"content-type", b"Content-Type", b"accept", b"x-c\xe9"]),
            st.sampled_from([b"application/json", b"text/csv; charset=latin-1", b"a/b;charset=", b";", b"", b"\xe9/x"]),
        ),
        max_size=3,
    ),
    consumes=st.sampled_from([[], ["multipart/form-data"], ["application/json", "text/csv"]]),
)
def test_the_content_type_is_read_as_connexion_reads_it(
    headers: list[tuple[bytes, bytes]], consumes: list[str]
) -> None:
    validated = ValidatedOnce(_noop, operation=_Operation(consumes))
    assert validated.content_type_of(headers) == validated.extract_content_type(headers)


TRICKY_PATHS = [
    "/",
    "/__apitwin/health",
    "/__apitwin/faults",
    "/datascaphe/api/v1/report/3",
    "/datascaphe/api/v1/report/3/",
    "/datascaphe/api/v1/report?has_rls=1&fields=id,name",
    "/datascaphe/api/v1/report/x",
    "/datascaphe/api/v1/nowhere",
    "/datascaphe/api/v1/report/3%0A",
    "/datascaphe/api/v1/rep%0Aort/3",
    "/datascaphe/openapi.json",
    "/opendatasoft/api/automation/v1.0/datasets/",
    "/nowhere/at/all",
    "/api/v1/report/3",
]


def test_the_twins_shortcut_answers_what_the_router_answers(monkeypatch: pytest.MonkeyPatch, make_client: Any) -> None:
    """`_TwinsFirst` sends a twin's request past the outer router and its exception layer: every answer (of a
    twin, the control plane, the index or nobody; a success or an error) is the one the router gives."""
    from tests.conftest import credential

    client = make_client()
    key = credential(client, "datascaphe", "admin")

    def answers() -> list[tuple[str, str, int, bytes, list[tuple[str, str]]]]:
        seen = []
        for path in TRICKY_PATHS:
            for method, body in (("GET", None), ("HEAD", None), ("PATCH", b"{")):  # none changes any state
                response = client.request(method, path, headers={"Authorization": key}, content=body)
                headers = sorted((name, value) for name, value in response.headers.items() if name != "date")
                seen.append((method, path, response.status_code, response.content, headers))
        return seen

    shortcut = answers()
    assert {status for _, path, status, _, _ in shortcut if path == "/datascaphe/api/v1/report/3"} == {200, 400}
    monkeypatch.setattr(app_module._TwinsFirst, "__call__", _passing_on)
    assert answers() == shortcut


async def _passing_on(self: Any, scope: Any, receive: Any, send: Any) -> None:
    await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def security_stages() -> list[tuple[Any, Any]]:
    """Every operation's connexion security stage beside the CredentialCheck made of it (where one is), over
    every twin, rate limits off (both checks count a credential's use)."""
    from connexion.middleware.security import SecurityMiddleware

    from apitwin.app import create_app
    from apitwin.stack import CredentialCheck
    from apitwin.twins import select as select_twins

    app = create_app(rate_limits={twin.name: None for twin in select_twins([])})
    connexion_app = app.state.runtime  # kept alive with the app
    stack = next(route.app.app for route in app.router.routes if type(route).__name__ == "Mount").middleware_stack
    security = next(layer for layer in stack if isinstance(layer, SecurityMiddleware))
    pairs: dict[Any, tuple[Any, Any]] = {}  # one per twin and kind of requirements, so each is drawn often
    checked = 0
    for base_path, apis in security.apis.items():
        for api in apis:
            for stage in api.operations.values():
                check = CredentialCheck.of(stage)
                if check is not None:
                    checked += 1
                    kinds = repr([sorted(stage.security_schemes[name].items()) for r in stage.security for name in r])
                    pairs.setdefault((base_path, kinds), (stage, check))
    assert connexion_app is not None and checked > 400  # Huwise, Opendatasoft, Datascaphe, Datascale
    return list(pairs.values())


CREDENTIAL_VALUES = st.sampled_from(
    ["", " ", "Bearer", "Bearer ", "bearer t", "Basic dXNlcjpwYXNz", "junk", "Apikey", "apikey nope", "a b c"]
)


def _checked(scope: dict[str, Any], check: Any) -> Any:
    try:
        asyncio.run(check(scope))
    except Exception as error:  # the refusal, compared by kind, words and status
        return (type(error).__name__, str(error), getattr(error, "status", None), getattr(error, "detail", None))
    return scope.get("extensions", {}).get("connexion_context")


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_the_credential_check_decides_as_connexion_decides(security_stages: list[tuple[Any, Any]], data: Any) -> None:
    from connexion.lifecycle import ConnexionRequest

    from apitwin.auth import REFUSED_CREDENTIAL

    stage, check = data.draw(st.sampled_from(security_stages))
    runtime_key = data.draw(st.sampled_from(["valid", "other"]))
    twins_keys = [value for value in (_known_keys(stage)) if value] or ["none"]
    key = data.draw(st.sampled_from(twins_keys)) if runtime_key == "valid" else data.draw(CREDENTIAL_VALUES)
    header = data.draw(
        st.none() | st.sampled_from([key, f"Apikey {key}", f"Bearer {key}", f"bearer  {key}"]) | CREDENTIAL_VALUES
    )
    query = data.draw(st.none() | st.sampled_from([f"apikey={key}", f"apikey={key}&apikey=x", "apikey=", "x=1"]))
    headers = [(b"authorization", header.encode("latin-1"))] if header is not None else []
    query_string = (query or "").encode("latin-1")

    def scope() -> dict[str, Any]:
        return {"type": "http", "headers": list(headers), "query_string": query_string, "path": "/", "method": "GET"}

    async def connexions(s: dict[str, Any]) -> None:
        await stage.verification_fn(ConnexionRequest(s))

    async def ours(s: dict[str, Any]) -> None:
        check.next_app = _noop
        await check(s, None, None)

    token = REFUSED_CREDENTIAL.set(None)
    expected = _checked(scope(), connexions)
    refused_by_connexion = REFUSED_CREDENTIAL.get()
    REFUSED_CREDENTIAL.set(None)
    assert _checked(scope(), ours) == expected
    assert REFUSED_CREDENTIAL.get() == refused_by_connexion  # the endpoint reads it (every_credential_checked)
    REFUSED_CREDENTIAL.reset(token)


_KEYS: dict[int, list[str]] = {}


def test_the_credential_check_lets_a_known_key_in_and_keeps_others_out(security_stages: list[tuple[Any, Any]]) -> None:
    """The property test above compares the two checks; this one says they compare real successes too."""
    keys = _known_keys(None)
    outcomes = set()
    for _stage, check in security_stages:
        for header in (keys[0], f"Apikey {keys[-1]}", f"Bearer {keys[0]}", "junk"):
            scope = {"type": "http", "headers": [(b"authorization", header.encode())], "query_string": b""}

            async def ours(s: dict[str, Any], check: Any = check) -> None:
                check.next_app = _noop
                await check(s, None, None)

            outcome = _checked(scope, ours)
            outcomes.add("principal" if isinstance(outcome, dict) and "token_info" in outcome else "refusal")
    assert outcomes == {"principal", "refusal"}


def _known_keys(stage: Any) -> list[str]:
    """Credentials the twins' fixtures hold (any twin's: a key of another twin is refused the same way)."""
    if not _KEYS:
        from apitwin.runtime import Runtime
        from apitwin.twins import select as select_twins

        runtime = Runtime(select_twins([]), prefixed=True)
        runtime.seed(reset=True)
        _KEYS[0] = [str(record["credential"]) for live in runtime.twins.values() for record in live.credentials()]
    return _KEYS[0]


@pytest.fixture(scope="module")
def dispatch_operations() -> list[Any]:
    """One dispatch operation per twin operation, every twin."""
    from apitwin.app import create_app
    from apitwin.stack import Dispatch

    app = create_app()
    stack = next(route.app.app for route in app.router.routes if type(route).__name__ == "Mount").middleware_stack
    dispatch = next(layer for layer in stack if isinstance(layer, Dispatch))
    return [operation for apis in dispatch.apis.values() for api in apis for operation in api.operations.values()]


PARAMETER_VALUES = st.none() | st.integers(-2, 5) | st.text(max_size=3) | st.lists(st.text(max_size=2), max_size=2)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_the_arguments_are_connexions(dispatch_operations: list[Any], data: Any) -> None:
    """`DispatchOperation.arguments` gives what connexion's `get_arguments` gives, for any operation and any
    parsed parameters (its own, others, none), body and content type."""
    from connexion.decorators.parameter import get_arguments

    from apitwin.stack import sanitized

    operation = data.draw(st.sampled_from(dispatch_operations))
    names = [param["name"] for param in operation.operation.parameters] + ["unknown", "a-b"]
    path = data.draw(st.dictionaries(st.sampled_from(names), PARAMETER_VALUES, max_size=3))
    query = data.draw(st.dictionaries(st.sampled_from(names), PARAMETER_VALUES, max_size=4))
    body = data.draw(st.none() | st.just({"name": "x"}) | st.just([1]))
    content_type = data.draw(st.sampled_from(["", "application/json", "multipart/form-data", "text/csv"]))
    files = data.draw(st.sampled_from([{}, {"file": ["f1", "f2"]}, {"files": ["f1"]}]))  # parts, as stand-ins
    try:
        expected: Any = get_arguments(
            operation.operation,
            path_params=dict(path),
            query_params=dict(query),
            body=body,
            files=dict(files),
            arguments=[],
            has_kwargs=True,
            sanitize=sanitized,
            content_type=content_type,
        )
    except Exception as error:  # a value connexion cannot cast: the same refusal
        expected = (type(error).__name__, str(error))
    try:
        got: Any = operation.arguments(dict(path), dict(query), body, dict(files), content_type)
    except Exception as error:
        got = (type(error).__name__, str(error))
    assert got == expected


def _array_in_query(operation: Any) -> bool:
    """Whether an operation takes an array in its query: the lists parsed from it are what could be shared."""
    return any(p["in"] == "query" and p.get("schema", {}).get("type") == "array" for p in operation.parameters)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_query_s_arguments_remembered_are_the_arguments_it_gives(dispatch_operations: list[Any], data: Any) -> None:
    """The arguments remembered for a query string are those its parameters give the first time, whatever the
    endpoint did with what an earlier request was given."""
    dispatch = data.draw(st.sampled_from([d for d in dispatch_operations if _array_in_query(d.operation)]))
    names = [param["name"] for param in dispatch.operation.parameters if param["in"] == "query"] + ["unknown"]
    queries = data.draw(st.lists(st.dictionaries(st.sampled_from(names), PARAMETER_VALUES, max_size=3), max_size=3))
    asked = data.draw(st.permutations(list(enumerate(queries)) * 3))  # each query (by its string, here its index)
    request_stack._QUERY_ARGUMENTS.clear()  # the test's query strings stand for other queries in each example
    for index, query in asked:
        query_string = f"q={index}".encode()

        def arguments(remembered: bytes | None, query: dict[str, Any] = query) -> Any:
            try:
                return dispatch.arguments({}, copy.deepcopy(query), None, {}, "", query_string=remembered)
            except Exception as error:  # a value connexion cannot cast: the same refusal
                return type(error).__name__, str(error)

        got = arguments(query_string)
        assert got == arguments(None)
        for value in got.values() if isinstance(got, dict) else ():
            if isinstance(value, list):
                value.append("changed by the endpoint")


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_a_request_s_parameters_are_judged_as_connexion_judges_them(dispatch_operations: list[Any], data: Any) -> None:
    """`TwinParameterValidator.validate_request` passes over absent optional query parameters; it refuses what
    connexion's loop over every parameter refuses, first error first, and nothing else."""
    from urllib.parse import urlencode

    from connexion.exceptions import BadRequestProblem
    from connexion.lifecycle import ConnexionRequest
    from connexion.validators.parameter import ParameterValidator

    from apitwin.stack import ParsedOnce

    operation = data.draw(st.sampled_from(dispatch_operations)).operation
    names = [param["name"] for param in operation.parameters] + ["unknown", "apikey"]
    values = st.sampled_from(["", "1", "-3", "x", "true", "null", "a,b", "2025-01-01", "99999999999"])
    query = data.draw(st.lists(st.tuples(st.sampled_from(names), values), max_size=5))
    path = data.draw(st.dictionaries(st.sampled_from(names), values, max_size=3))
    headers = data.draw(st.lists(st.tuples(st.sampled_from(names), values), max_size=2))
    validator = TwinParameterValidator(
        operation.parameters,
        uri_parser=ParsedOnce(operation.parameters, operation.body_definition()),
        strict_validation=data.draw(st.booleans()),
        security_query_params=data.draw(st.sampled_from([[], ["apikey"]])),
    )

    def outcome(validate: Any) -> Any:
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/",
            "query_string": urlencode(query).encode(),
            "headers": [(name.lower().encode(), value.encode()) for name, value in headers],
            "path_params": dict(path),
        }
        try:
            validate(ConnexionRequest(scope, uri_parser=validator.uri_parser))
        except BadRequestProblem as problem:  # ExtraParameterProblem among them
            return type(problem).__name__, problem.detail
        except Exception as error:  # a value the parser cannot take: the same failure either way
            return type(error).__name__, str(error)
        return None

    assert outcome(validator.validate_request) == outcome(
        lambda request: ParameterValidator.validate_request(validator, request)
    )


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_query_found_valid_before_is_taken_as_parsed_the_first_time(
    dispatch_operations: list[Any], data: Any
) -> None:
    """A validator remembers the query strings and path parameters it found valid together: the next request
    with them gets the parameters (and the refusals) a validator seeing them for the first time gives, even after
    the endpoint changed what the previous request got."""
    from urllib.parse import urlencode

    from connexion.exceptions import BadRequestProblem

    from apitwin.stack import ParsedOnce

    with_arrays = [dispatch.operation for dispatch in dispatch_operations if _array_in_query(dispatch.operation)]
    assert len(with_arrays) > 10
    operation = data.draw(st.sampled_from(with_arrays))
    names = [param["name"] for param in operation.parameters if param["in"] == "query"] + ["unknown"]
    values = st.sampled_from(["", "1", "x", "true", "a,b", "id,name", "2025-01-01", "-5"])
    queries = st.lists(st.tuples(st.sampled_from(names), values), max_size=4).map(lambda q: urlencode(q).encode())
    asked = data.draw(st.lists(queries, min_size=1, max_size=3))
    asked = data.draw(st.permutations(asked + asked))  # each query string at least twice
    path_names = [param["name"] for param in operation.parameters if param["in"] == "path"]

    def validator() -> TwinParameterValidator:
        return TwinParameterValidator(
            operation.parameters,
            uri_parser=ParsedOnce(operation.parameters, operation.body_definition()),
            strict_validation=True,
        )

    def outcome(judge: TwinParameterValidator, query_string: bytes, path: dict[str, str]) -> Any:
        scope = {"type": "http", "query_string": query_string, "headers": [], "path_params": dict(path)}
        try:
            judge.validate(scope)
        except BadRequestProblem as problem:
            return type(problem).__name__, problem.detail
        except Exception as error:  # a value the parser cannot take: the same failure either way
            return type(error).__name__, str(error)
        parsed = scope["extensions"][validation.PARSED]
        return parsed.query_params, parsed.path_params

    remembering = validator()
    for query_string in asked:
        path = {name: data.draw(st.sampled_from(["3", "x", "-1"])) for name in path_names}  # judged every time
        got = outcome(remembering, query_string, path)
        assert got == outcome(validator(), query_string, path)
        for parsed in got if isinstance(got[0], dict) else ():
            for value in parsed.values():
                if isinstance(value, list):
                    value.append("changed by the endpoint")
            parsed["added by the endpoint"] = 1


@pytest.mark.parametrize("required", [True, False, None])
@pytest.mark.parametrize("schema", [{"type": "string"}, {"type": "string", "nullable": True}, {"type": "integer"}])
@pytest.mark.parametrize("value", [None, "null", "None", "x"])
def test_an_absent_or_null_parameter_is_judged_as_connexion_judges_it(
    required: bool | None, schema: dict[str, Any], value: Any
) -> None:
    from connexion.validators.parameter import ParameterValidator

    param: dict[str, Any] = {"name": "p", "in": "query", "schema": schema}
    if required is not None:
        param["required"] = required
    ours = TwinParameterValidator.validate_parameter("query", value, param)
    theirs = ParameterValidator.validate_parameter("query", value, param)
    assert (ours is None) == (theirs is None)
    if value is None:
        assert ours == theirs  # the same words for a missing parameter


@settings(max_examples=300, deadline=None)
@given(
    status=st.sampled_from([100, 200, 201, 204, 301, 304, 400, 404, 500]),
    body=st.none() | st.binary(max_size=5),
    content_type=st.none()
    | st.sampled_from(["", "application/json", "text/csv", "text/plain; charset=latin-1", "TEXT/x"]),
    headers=st.none()
    | st.dictionaries(
        st.sampled_from(["Location", "X-Total", "Content-Length", "content-type", "Retry-After"]),
        st.sampled_from(["1", "/a", "text/html"]),
        max_size=3,
    ),
)
def test_an_answer_has_the_headers_starlette_gives_it(
    status: int, body: bytes | None, content_type: str | None, headers: dict[str, str] | None
) -> None:
    from connexion.frameworks.starlette import Starlette as StarletteFramework
    from connexion.lifecycle import ConnexionResponse

    from apitwin.stack import raw_headers

    def answer() -> ConnexionResponse:
        return ConnexionResponse(status_code=status, content_type=content_type, body=body, headers=dict(headers or {}))

    made = StarletteFramework.connexion_to_framework_response(answer())
    assert raw_headers(answer()) == made.raw_headers
    assert (body or b"") == made.body


@settings(max_examples=200, deadline=None)
@given(
    headers=st.lists(
        st.tuples(
            st.sampled_from([b"accept", b"prefer", b"Accept", b"host", b"x"]), st.sampled_from([b"a", b"b", b"\xe9"])
        ),
        max_size=5,
    )
)
def test_a_header_is_the_one_starlette_finds(headers: list[tuple[bytes, bytes]]) -> None:
    from starlette.datastructures import Headers

    from apitwin.access import header

    found = Headers(scope={"headers": list(headers)})
    for name in ("accept", "prefer"):
        assert header({"headers": headers}, name.encode()) == found.get(name)


@pytest.fixture(scope="module")
def recorded_routing() -> tuple[Any, list[str]]:
    """The twins' routing layer (every twin), each routed operation handing its scope to a recorder instead of
    its stages; and paths to draw from: every route's, its parameters filled in."""
    from apitwin.app import create_app
    from apitwin.stack import IndexedRouting

    app = create_app()
    stack = next(route.app.app for route in app.router.routes if type(route).__name__ == "Mount").middleware_stack
    routing = next(layer for layer in stack if isinstance(layer, IndexedRouting))

    async def record(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise _Reached({**scope, "extensions": copy.deepcopy(scope.get("extensions", {}))})

    for _, operation in routing.operations:
        operation.next_app = record
    templates = sorted({mount.path + route.path for mount in routing.router.routes for route in mount.app.routes})
    return routing, templates


class _Reached(Exception):
    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope


@settings(max_examples=500, deadline=None)
@given(data=st.data())
def test_a_remembered_route_reaches_the_operation_routing_reaches(
    recorded_routing: tuple[Any, list[str]], data: Any
) -> None:
    """`IndexedRouting` sends a request routed before straight to its operation: the operation gets the scope
    connexion's routing gave it (path parameters, base path, operation id), and the request's own scope is
    left as the routers left it, whatever other requests were remembered; a request routed nowhere (404, 405)
    goes the long way each time."""
    import re

    routing, templates = recorded_routing
    template = data.draw(st.sampled_from(templates))
    values = st.sampled_from(["3", "x", "my-set", "0", "a b", "-1", "ab%2Fc"])
    documented = re.sub(r"\{[^}]+\}", lambda found: "3" if found[0].endswith(":int}") else data.draw(values), template)
    path = data.draw(
        st.sampled_from([documented, documented + "/", documented.rstrip("/") + "x", "/nowhere" + documented])
    )
    methods = data.draw(st.permutations(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]))  # one path, each method
    above = data.draw(st.fixed_dictionaries({}, optional={"router": st.just("outer"), "app_root_path": st.just("")}))
    path_params = data.draw(st.sampled_from([None, {}, {"outer": "1"}]))

    def routed(method: str) -> Any:
        scope: dict[str, Any] = {"type": "http", "path": path, "method": method, "root_path": "", "app": "app", **above}
        if path_params is not None:
            scope["path_params"] = dict(path_params)
        try:
            asyncio.run(routing(scope, None, None))
        except _Reached as reached:
            return "reached", reached.scope, scope
        except HTTPException as error:  # a 404 or 405, raised for connexion's error handlers to answer
            return error.status_code, str(error), scope
        return "answered", scope

    remembered = routing._routed  # kept across requests: what other requests left must not mislead this one
    outcomes = []
    for method in methods:
        routing._routed = {}
        try:
            expected = routed(method)  # the long way
        finally:
            routing._routed = remembered
        assert routed(method) == expected
        assert routed(method) == expected  # remembered by now, when it reached an operation: the routers skipped
        outcomes.append(expected[0])
    assert path != documented or "reached" in outcomes  # a documented path reaches an operation by some method


def test_a_twin_request_is_connexion_s_request() -> None:
    """TwinRequest reads its scope directly; everything else is connexion's request's, unchanged."""
    from connexion.lifecycle import ConnexionRequest

    from apitwin.stack import ParsedOnce
    from apitwin.validation import TwinRequest

    parameters = [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}},
        {"name": "fields", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}},
    ]
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/report/3",
        "query_string": b"fields=id,name&x=1",
        "headers": [(b"content-type", b"application/json; charset=latin-1"), (b"accept", b"*/*")],
        "path_params": {"id": "3"},
    }
    ours = TwinRequest(dict(scope), uri_parser=ParsedOnce(parameters, {}))
    theirs = ConnexionRequest(dict(scope), uri_parser=ParsedOnce(parameters, {}))
    assert ours.scope == theirs.scope == scope
    for name in ("query_params", "path_params", "context", "mimetype", "content_type", "url", "method"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert dict(ours.headers) == dict(theirs.headers)


def test_a_request_leaves_no_cycle_for_the_garbage_collector() -> None:
    """A request (an item, a filtered list, a missing item, a refused parameter or body) frees what it made as it
    ends: a reference cycle (the scope holding a request that holds the scope; a raised error's traceback holding
    the frame that holds the error) would be freed only by the garbage collector, which then runs every few dozen
    requests and costs each request more than routing it."""
    import gc

    from apitwin.app import create_app
    from apitwin.twins import select as select_twins

    app = create_app(["datascaphe"], rate_limits={twin.name: None for twin in select_twins([])})
    key = next(iter(app.state.runtime.twins["datascaphe"].credentials()))["credential"]

    async def get(path: str, query: bytes = b"", method: str = "GET", body: bytes = b"") -> int:
        headers = [(b"host", b"127.0.0.1"), (b"authorization", key.encode()), (b"content-type", b"application/json")]
        scope = {"type": "http", "method": method, "scheme": "http", "path": path, "query_string": query}
        scope |= {"root_path": "", "headers": headers, "server": ("127.0.0.1", 80)}
        statuses = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, receive, send)
        return statuses[0]

    async def requests() -> list[int]:
        return [
            await get("/api/v1/report/3"),  # a single twin is served at its own base path
            await get("/api/v1/report", b"has_rls=1&fields=id,name"),
            await get("/api/v1/report/999"),
            await get("/api/v1/report", b"has_rls=maybe"),  # a parameter jsonschema refuses
            await get("/api/v1/report/3", method="PATCH", body=b'{"name": 5}'),  # a body jsonschema refuses
        ]

    answered = [200, 200, 404, 400, 400]
    assert asyncio.run(requests()) == answered  # warm: what is made once (memos, caches) is made
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        assert asyncio.run(requests()) == answered
        gc.collect()
        left = [type(garbage).__name__ for garbage in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert left == []


@pytest.fixture(scope="module")
def seeded_collections() -> list[tuple[Any, list[Any]]]:
    """Every twin's collections (top-level ones) with their fixture documents."""
    from apitwin.runtime import Runtime
    from apitwin.twins import select as select_twins

    runtime = Runtime(select_twins([]), prefixed=True)
    runtime.seed(reset=True)
    found = []
    for live in runtime.twins.values():
        for name, definition in live.state.definitions.items():
            if definition.parent is None:
                collection = live.state.collection(name)
                found.append((collection, collection.views()))
    assert sum(collection.definition.shown_as_stored for collection, _ in found) > 10
    assert sum(not collection.definition.shown_as_stored for collection, _ in found) > 10
    return found


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_document_is_shown_as_its_public_copy_projected(
    seeded_collections: list[tuple[Any, list[Any]]], data: Any
) -> None:
    """`Collection.shown` is `project(public(doc), fields)` for every twin's collections and fixtures (those shown as
    stored copy only the fields asked for), and shares nothing with the stored document."""
    from apitwin.engine.query import project

    collection, docs = data.draw(st.sampled_from([pair for pair in seeded_collections if pair[1]]))
    doc = data.draw(st.sampled_from(docs))
    names = sorted(doc) + ["unknown", *collection.definition.private_fields, *collection.definition.derived]
    fields = data.draw(st.none() | st.lists(st.sampled_from(names), max_size=4))
    before = copy.deepcopy(doc)
    shown = collection.shown(doc, fields)
    assert shown == project(collection.public(doc), fields)
    for value in shown.values():  # the caller may change what it is shown
        if isinstance(value, list):
            value.append("changed")
        elif isinstance(value, dict):
            value["changed"] = True
    assert doc == before


def test_remembered_queries_and_routes_are_bounded(
    dispatch_operations: list[Any], recorded_routing: tuple[Any, list[str]]
) -> None:
    """What is remembered by request input (a query string, path parameters, a path) stays within its bound
    however many different requests come."""
    from apitwin.stack import ParsedOnce

    dispatch = next(d for d in dispatch_operations if any(p["in"] == "query" for p in d.operation.parameters))
    name = next(p["name"] for p in dispatch.operation.parameters if p["in"] == "query")
    operation = dispatch.operation
    validator = TwinParameterValidator(
        operation.parameters, uri_parser=ParsedOnce(operation.parameters, operation.body_definition())
    )
    path = {p["name"]: "3" for p in operation.parameters if p["in"] == "path"}
    for number in range(validation.VALID_KEPT + 10):
        query_string = f"{name}={number}".encode()
        scope = {"type": "http", "query_string": query_string, "headers": [], "path_params": dict(path)}
        try:
            validator.validate(scope)
        except Exception:  # a value the parameter refuses: nothing remembered either way
            continue
        dispatch.arguments({}, {name: str(number)}, None, {}, "", query_string=query_string)
        assert 0 < len(validation._VALID) <= validation.VALID_KEPT
        assert 0 < len(request_stack._QUERY_ARGUMENTS) <= request_stack.QUERY_ARGUMENTS_KEPT
    routing, _ = recorded_routing
    for number in range(routing.ROUTED_KEPT + 10):
        try:
            asyncio.run(
                routing({"type": "http", "path": f"/datascaphe/api/v1/report/{number}", "method": "GET"}, None, None)
            )
        except _Reached:
            pass
        assert 0 < len(routing._routed) <= routing.ROUTED_KEPT


def test_what_one_operation_remembered_is_not_another_s(dispatch_operations: list[Any]) -> None:
    """The same query string (and path parameters) on two operations parse and bind as each one's parameters
    say: what one remembered is never handed to the other."""
    from apitwin.stack import ParsedOnce

    def integer_query(operation: Any) -> str | None:
        return next(
            (
                p["name"]
                for p in operation.parameters
                if p["in"] == "query" and p.get("schema", {}).get("type") == "integer"
            ),
            None,
        )

    pathless = [d for d in dispatch_operations if all(p["in"] != "path" for p in d.operation.parameters)]
    counted = next(d for d in pathless if integer_query(d.operation))
    name = str(integer_query(counted.operation))
    other = next(d for d in pathless if all(p["name"] != name for p in d.operation.parameters))
    query_string = f"{name}=1".encode()
    for dispatch, expected in ((counted, 1), (other, ["1"])):  # a parameter the other does not know: as given
        operation = dispatch.operation
        validator = TwinParameterValidator(
            operation.parameters, uri_parser=ParsedOnce(operation.parameters, operation.body_definition())
        )
        scope = {"type": "http", "query_string": query_string, "headers": [], "path_params": {}}
        validator.validate(scope)
        assert scope["extensions"][validation.PARSED].query_params[name] == expected
        given = scope["extensions"][validation.PARSED].query_params
        bound = dispatch.arguments({}, dict(given), None, {}, "", query_string=query_string)
        assert bound == dispatch.arguments({}, dict(given), None, {}, "")
