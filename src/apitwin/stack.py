"""connexion's request stack, doing each piece of work once. connexion stays the router, the security check and
the validator; its stages are replaced where a profile showed them repeating work on every request, each held
to the original by a test (tests/unit/test_stack.py):

- **Docs** (`SpecsOnce`): each twin's /openapi.json is made once per base path, and a request for any other
  path goes straight on (connexion matches every path against every API's documentation routes).
- **Routing** (`IndexedRouting`): an API's routes are tried only among those that could match the path's
  number of segments and first segment, in their order, so the first full match (or method-only match, a
  405) is the one connexion's router would find; a 226-operation twin no longer tries every route's regex.
  A request routed to an operation before (same path, method and roots) goes to it without the routers
  (`RememberedRoute`), the operation given what they would have given it.
- **Stages chained** (`chain_operations`): a routed operation goes straight to its own security check, then
  its validation, then its endpoint; each of connexion's stages looked the operation up again by base path
  and operation id, and passed through the lifespan layer, on every request.
- **Credentials** (`CredentialCheck`, in place of connexion's security stage where every requirement is one API
  key, in a header or the query, or one bearer token): the credential is read as connexion reads it and handed
  to apitwin's verifier, with connexion's errors; connexion made a request object, three wrappers and two
  coroutines around that one call.
- **Request validation** (`ValidatedOnce`, `ParsedOnce`): an operation's URI parser, parameter validator and
  media-type table are built once, and the parser's schemas by name kept; connexion built them per request.
- **Dispatch** (`Dispatch`, in place of connexion's AsyncApp and its ContextMiddleware): the endpoint is
  called with the request and its arguments (`get_arguments`' steps, the operation's query definitions and
  defaults worked out once; a query string's arguments remembered) and its answer sent with the headers
  starlette would give it; connexion built a chain of decorators around the endpoint on every request. The
  request validation parsed is taken out of the scope, which it would otherwise tie in a reference cycle.

The endpoints (`resolver.endpoint_for`) take the request as their first argument instead of reading it from
connexion's context proxies.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any

from connexion import AsyncApp
from connexion.datastructures import MediaTypeDict
from connexion.decorators.parameter import (
    _get_body_argument,
    _get_file_arguments,
    _get_path_arguments,
    _get_query_defaults,
    _query_args_helper,
)
from connexion.decorators.parameter import sanitized as connexion_sanitized
from connexion.exceptions import OAuthProblem, OAuthResponseProblem, UnsupportedMediaTypeProblem
from connexion.frameworks.starlette import Starlette as StarletteFramework
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.middleware.abstract import ROUTING_CONTEXT, RoutedAPI, RoutedMiddleware
from connexion.middleware.context import ContextMiddleware
from connexion.middleware.main import ConnexionMiddleware
from connexion.middleware.request_validation import (
    RequestValidationAPI,
    RequestValidationMiddleware,
    RequestValidationOperation,
)
from connexion.middleware.response_validation import ResponseValidationOperation
from connexion.middleware.routing import RoutingAPI, RoutingMiddleware, RoutingOperation
from connexion.middleware.routing import _scope as routing_scope
from connexion.middleware.security import SecurityOperation
from connexion.middleware.swagger_ui import SwaggerUIAPI, SwaggerUIMiddleware
from connexion.operations import AbstractOperation
from connexion.security import NO_VALUE, SecurityHandlerFactory
from connexion.uri_parsing import OpenAPIURIParser
from connexion.utils import deep_merge, is_nullable, split_content_type
from starlette._utils import get_route_path
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Mount, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from apitwin.access import header
from apitwin.engine.schemas import detached
from apitwin.validation import PARSED, TwinRequest

# connexion's argument names (a regular expression each time): remembered, bounded (query names are the client's)
sanitized: Callable[[str], str] = functools.lru_cache(maxsize=4096)(connexion_sanitized)


class TwinApp(AsyncApp):  # type: ignore[misc]
    """connexion's AsyncApp with the stages above: the same options, routing, security and validation."""

    def __init__(self, import_name: str, **kwargs: Any) -> None:
        super().__init__(import_name, middlewares=middlewares(), uri_parser_class=ParsedOnce, **kwargs)
        # the innermost app, before connexion builds its stack on the first request
        self._middleware_app = self.middleware.app = Dispatch()

    def build(self) -> None:
        """Builds connexion's stack now (connexion would on the first request), every API added, and chains
        each operation's stages."""
        middleware = self.middleware
        middleware.app, middleware.middleware_stack = middleware._build_middleware_stack()
        chain_operations(list(middleware.middleware_stack))


def middlewares() -> list[Any]:
    """connexion's default stack with the stages above in place of its own."""
    replaced: dict[Any, Any] = {
        SwaggerUIMiddleware: SpecsOnce,
        RoutingMiddleware: IndexedRouting,
        RequestValidationMiddleware: ValidationOnce,
    }
    return [replaced.get(m, m) for m in ConnexionMiddleware.default_middlewares if m is not ContextMiddleware]


class ParsedOnce(OpenAPIURIParser):  # type: ignore[misc]
    """connexion's OpenAPI URI parser, its parameter schemas and form fields by name worked out once: its
    properties built them anew on each access, several times per request (once per query parameter given)."""

    @functools.cached_property
    def param_schemas(self) -> dict[str, Any]:
        schemas: dict[str, Any] = OpenAPIURIParser.param_schemas.fget(self)
        return schemas

    @functools.cached_property
    def form_defns(self) -> dict[str, Any]:
        fields: dict[str, Any] = OpenAPIURIParser.form_defns.fget(self)
        return fields


# Stages chained

_STAGES = (SecurityOperation, RequestValidationOperation, ResponseValidationOperation)


def chain_operations(stack: list[ASGIApp]) -> None:
    """Points each routed operation at its own next stage: its security check, its request validation, its
    response validation (when on), its endpoint. connexion's stages (`RoutedMiddleware`) find the operation
    by base path and operation id on every request; the lookups below are theirs, done once. An operation
    whose stages are not all found as expected keeps connexion's path."""
    routing = next(layer for layer in stack if isinstance(layer, IndexedRouting))
    routed = [layer for layer in stack if isinstance(layer, RoutedMiddleware)]
    for base_path, first in routing.operations:
        stages = [_operation_of(layer, base_path, first.operation_id) for layer in routed]
        kept: list[Any] = []
        for layer, stage in zip(routed, stages, strict=True):
            if stage is layer.app:  # a stage that does nothing for this operation (response validation off)
                continue
            if stage is None or not isinstance(stage, (*_STAGES, DispatchOperation)):
                break
            kept.append(stage)
        else:
            if kept and isinstance(kept[-1], DispatchOperation):
                kept = [
                    CredentialCheck.of(stage) or stage if isinstance(stage, SecurityOperation) else stage
                    for stage in kept
                ]
                for stage, following in zip(kept, kept[1:], strict=False):
                    stage.next_app = following
                first.next_app = kept[0]


def _operation_of(layer: RoutedMiddleware, base_path: str, operation_id: str | None) -> Any:
    """The operation `RoutedMiddleware.__call__` would call for this base path and operation id."""
    for api in layer.apis.get(base_path, []):
        if operation_id in api.operations:
            return api.operations[operation_id]
    return None


# Credentials

CredentialReader = Callable[[Scope], Any]  # the credential a request carries for one scheme, or NO_VALUE


class CredentialCheck:
    """connexion's security check (`SecurityHandlerFactory.verify_security`) for the operations whose every
    requirement is one scheme apitwin verifies itself: an API key in a header or the query string, or a bearer
    token. Each requirement in turn: its credential, read as connexion's handler reads it (starlette's Headers or
    QueryParams), goes to apitwin's verifier; the first that verifies sets the request's principal as connexion
    sets it. With none, connexion's error: the most specific of those raised, else "No authorization token
    provided". A property test holds it to connexion's own check."""

    def __init__(self, requirements: list[tuple[CredentialReader, Callable[..., Any], str]]) -> None:
        self.requirements = requirements
        self.next_app: ASGIApp = _not_found

    @classmethod
    def of(cls, stage: SecurityOperation) -> CredentialCheck | None:
        """The check for this security stage, or None where connexion's own stage is kept (no security, an
        anonymous alternative, schemes required together, another kind of scheme, a verifier not apitwin's)."""
        if not stage.security:
            return None
        requirements = []
        for requirement in stage.security:
            if len(requirement) != 1:
                return None
            ((name, _scopes),) = requirement.items()
            scheme = stage.security_schemes[name]
            read = _credential_reader(scheme)
            kind = scheme["type"] if scheme["type"] != "http" else str(scheme.get("scheme", "")).lower()
            handler = stage.security_handler_factory.security_handlers.get(kind)
            if read is None or handler is None or not getattr(handler, "twin_verifier", False):
                return None
            message = "Provided apikey is not valid" if kind == "apiKey" else "Provided token is not valid"
            requirements.append((read, handler()._resolve_func(scheme), message))
        return cls(requirements)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        errors: list[Exception] = []
        for read, verify, message in self.requirements:
            try:
                credential = read(scope)
                if credential is NO_VALUE:
                    continue
                principal = verify(credential)
                if principal is NO_VALUE:
                    continue
                if principal is None:
                    raise OAuthResponseProblem(detail=message)
                break
            except Exception as error:  # as connexion: every refusal is kept, the most specific raised
                errors.append(error)
        else:
            if errors:
                SecurityHandlerFactory._raise_most_specific(errors)
            raise OAuthProblem(detail="No authorization token provided")
        context = scope.setdefault("extensions", {}).setdefault("connexion_context", {})
        context.update({"user": principal.get("sub", principal.get("uid")), "token_info": principal})
        await self.next_app(scope, receive, send)


def _credential_reader(scheme: dict[str, Any]) -> CredentialReader | None:
    """How connexion's handler for this scheme reads its credential from a request; None for other schemes."""
    if scheme["type"] == "apiKey" and scheme.get("in") == "header":
        name = scheme["name"].lower().encode("latin-1")
        return lambda scope: _absent_as_no_value(header(scope, name))
    if scheme["type"] == "apiKey" and scheme.get("in") == "query":
        name = scheme["name"]
        return lambda scope: _absent_as_no_value(QueryParams(scope["query_string"]).get(name))
    if scheme["type"] == "http" and str(scheme.get("scheme", "")).lower() == "bearer":
        return _bearer_token
    return None


def _absent_as_no_value(value: str | None) -> Any:
    return NO_VALUE if value is None else value


def _bearer_token(scope: Scope) -> Any:
    """`BearerSecurityHandler`: the Authorization header's token when its type is bearer."""
    authorization = header(scope, b"authorization")
    if not authorization:
        return NO_VALUE
    try:
        auth_type, token = authorization.split(maxsplit=1)
    except ValueError:
        raise OAuthProblem(detail="Invalid authorization header") from None
    return token if auth_type.lower() == "bearer" else NO_VALUE


# Request validation


class ValidatedOnce(RequestValidationOperation):  # type: ignore[misc]
    """connexion's request validation with the operation's URI parser and parameter validator built once
    (connexion built both on every request); the rest is connexion's, line for line."""

    @functools.cached_property
    def parameter_validator(self) -> Any:
        operation = self._operation
        return self._validator_map["parameter"](
            operation.parameters,
            uri_parser=operation._uri_parser_class(operation.parameters, operation.body_definition()),
            strict_validation=self.strict_validation,
            security_query_params=self.security_query_params,
        )

    @functools.cached_property
    def consumed(self) -> MediaTypeDict:
        """The media types the operation reads, media ranges matched (connexion's table)."""
        return MediaTypeDict([(media.lower(), None) for media in self._operation.consumes])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.validated(scope, receive, send)
        finally:  # the parsed request, if an error kept it from the dispatch: it ties scope and request in a cycle
            scope.get("extensions", {}).pop(PARSED, None)

    async def validated(self, scope: Scope, receive: Receive, send: Send) -> None:
        operation = self._operation
        self.parameter_validator.validate(scope)

        mime_type, encoding = self.content_type_of(scope["headers"])
        self.validate_mime_type(mime_type)
        schema = operation.body_schema(mime_type)
        try:  # a MediaTypeDict: its item lookup matches media ranges (its get does not)
            body_validator = self._validator_map["body"][mime_type] if schema else None
        except KeyError:
            body_validator = None
        if body_validator is not None:
            validator = body_validator(
                schema=schema,
                required=operation.request_body.get("required", False),
                nullable=is_nullable(operation.body_definition(mime_type)),
                encoding=encoding,
                strict_validation=self.strict_validation,
                uri_parser=operation.uri_parser_class(operation.parameters, operation.body_definition()),
            )
            receive, scope = await validator.wrap_receive(receive, scope=scope)
        await self.next_app(scope, receive, send)

    def validate_mime_type(self, mime_type: str) -> None:
        # connexion's check, its table of the operation's media types made once (connexion made it every request)
        consumes = self._operation.consumes
        if consumes and mime_type.lower() not in self.consumed:
            raise UnsupportedMediaTypeProblem(detail=f"Invalid Content-type ({mime_type}), expected {consumes}")

    def content_type_of(self, headers: list[tuple[bytes, bytes]]) -> tuple[str, str]:
        """What connexion's `extract_content_type` gives: the Content-Type header's media type (the operation's
        first when there is none, else octet-stream) and charset (utf-8 when unsaid). connexion's walk of the
        headers decoded every header name and built a typing alias, on every request."""
        raw = next((value for name, value in headers if name.lower() == b"content-type"), None)
        mime_type, encoding = split_content_type(raw.decode("latin-1") if raw is not None else None)
        if mime_type is None:
            consumes = self._operation.consumes
            mime_type = consumes[0] if consumes else "application/octet-stream"
        return mime_type, "utf-8" if encoding is None else encoding


class ValidationOnceAPI(RequestValidationAPI):  # type: ignore[misc]
    def make_operation(self, operation: AbstractOperation) -> ValidatedOnce:
        return ValidatedOnce(
            self.next_app,
            operation=operation,
            strict_validation=self.strict_validation,
            validator_map=self.validator_map,
        )


class ValidationOnce(RequestValidationMiddleware):  # type: ignore[misc]
    api_cls = ValidationOnceAPI


# Dispatch


class DispatchOperation:
    """One operation's endpoint (`resolver.endpoint_for`: `endpoint(request, **arguments)`), given the arguments
    connexion's parameter decorator gave: its `get_arguments` (path, query, body, files), then the security
    check's context (token_info, user)."""

    def __init__(self, operation: AbstractOperation) -> None:
        self.operation = operation
        self.function: Callable[..., Any] = operation.function
        self.uri_parser = operation.uri_parser_class(operation.parameters, operation.body_definition())
        self.query_definitions = {param["name"]: param for param in operation.parameters if param["in"] == "query"}
        self.query_defaults = _get_query_defaults(self.query_definitions)  # copied for each request, as connexion

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # what request validation parsed, taken out of the scope: left there, the scope and the request holding it
        # would make a cycle that only the garbage collector frees (a dozen objects a request, and its time)
        parsed = scope.get("extensions", {}).pop(PARSED, None)
        request = self.request_of(scope, receive, parsed)
        kwargs = await self.arguments_of(request, parsed)
        response = await self.function(request, **kwargs)
        if isinstance(response.body, bytes | None):
            await send(
                {"type": "http.response.start", "status": response.status_code, "headers": raw_headers(response)}
            )
            await send({"type": "http.response.body", "body": response.body or b""})
        else:
            await StarletteFramework.connexion_to_framework_response(response)(scope, receive, send)

    def request_of(self, scope: Scope, receive: Receive, parsed: Any = None) -> ConnexionRequest:
        """The request the endpoint is given. Without a request body to read, the one request validation parsed
        (the same scope, operation and parser: receive is never called); with one, a request that can read it."""
        if not self.operation.is_request_body_defined:
            if isinstance(parsed, ConnexionRequest) and parsed.scope is scope:
                return parsed
        return TwinRequest(scope, receive, uri_parser=self.uri_parser)

    async def arguments_of(self, request: ConnexionRequest, parsed: Any = None) -> dict[str, Any]:
        """The endpoint's arguments; the parameters as request validation `parsed` them when it did (the same
        operation's parameters, the same parser)."""
        operation = self.operation
        body, files = None, {}
        if operation.is_request_body_defined:  # without one in the spec, connexion passes none: none is read
            body = await request.get_body()
            files = await request.files()
        scope = request.scope
        if not isinstance(parsed, ConnexionRequest):
            parsed = request
        kwargs = self.arguments(
            parsed.path_params,
            parsed.query_params,
            body,
            files,
            # without a request body, connexion reads nothing from the content type: none is parsed
            request.mimetype if operation.is_request_body_defined else "",
            query_string=scope.get("query_string", b""),
        )
        return {**{sanitized(key): value for key, value in kwargs.items()}, **request.context}

    def arguments(
        self,
        path_params: dict[str, Any],
        query_params: dict[str, Any],
        body: Any,
        files: Any,
        content_type: str,
        query_string: bytes | None = None,
    ) -> dict[str, Any]:
        """connexion's `get_arguments` for an endpoint taking **kwargs, step for step with its own helpers, the
        operation's query parameters by name and their defaults worked out once: connexion rebuilt both on
        every request (a KeyError raised per parameter without a default). A property test holds it to
        `get_arguments` over every twin's operations. `query_string`, when given, is the one `query_params` was
        parsed from: the query's arguments depend on nothing else, and are remembered by it."""
        operation = self.operation
        found: dict[str, Any] = _get_path_arguments(path_params, operation=operation, sanitize=sanitized)
        found.update(self.query_arguments(query_params, query_string))
        if operation.method.upper() == "TRACE":
            return found  # as connexion: a TRACE has no body
        found.update(
            _get_body_argument(
                body, operation=operation, arguments=[], has_kwargs=True, sanitize=sanitized, content_type=content_type
            )
        )
        found.update(_get_file_arguments(files, [], operation.body_schema(content_type), True))
        return found

    def query_arguments(self, query_params: dict[str, Any], query_string: bytes | None) -> dict[str, Any]:
        """The query's arguments, its parameters' defaults merged in; for a query string seen before, a copy of
        what it gave then."""
        key = None if query_string is None else (self, query_string)
        known = _QUERY_ARGUMENTS.get(key) if key is not None else None
        if known is not None:
            copied: dict[str, Any] = detached(known)
            return copied
        query = deep_merge(copy.deepcopy(self.query_defaults), query_params)
        made: dict[str, Any] = _query_args_helper(self.query_definitions, query, [], True, sanitized)
        if key is not None:
            if len(_QUERY_ARGUMENTS) >= QUERY_ARGUMENTS_KEPT:
                _QUERY_ARGUMENTS.clear()
            _QUERY_ARGUMENTS[key] = detached(made)
        return made


# (operation, query string) -> its arguments; every operation of every app in the process, so bounded as a whole
_QUERY_ARGUMENTS: dict[tuple[DispatchOperation, bytes], dict[str, Any]] = {}
QUERY_ARGUMENTS_KEPT = 4096


def raw_headers(response: ConnexionResponse) -> list[tuple[bytes, bytes]]:
    """The headers starlette's Response gives connexion's answer (`build_response`: its headers, its content
    type as media type), in its order: what `Response.init_headers` does, without making the Response. A
    property test holds it to starlette's."""
    status, body, media_type = response.status_code, response.body or b"", response.content_type
    raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.headers.items()]
    names = [name for name, _ in raw]
    if b"content-length" not in names and not (status < 200 or status in (204, 304)):
        raw.append((b"content-length", str(len(body)).encode("latin-1")))
    if media_type is not None and b"content-type" not in names:
        if media_type.startswith("text/") and "charset=" not in media_type.lower():
            media_type += "; charset=utf-8"
        raw.append((b"content-type", media_type.encode("latin-1")))
    return raw


class DispatchAPI(RoutedAPI[DispatchOperation]):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_paths()

    def make_operation(self, operation: AbstractOperation) -> DispatchOperation:
        return DispatchOperation(operation)


class Dispatch(RoutedMiddleware[DispatchAPI]):  # type: ignore[misc]
    """The innermost app: the routed operation's endpoint; a path no operation matched is a 404 (raised, so
    connexion's error handlers render it in the twin's shape, as connexion's own app did)."""

    api_cls = DispatchAPI

    def __init__(self) -> None:
        super().__init__(_not_found)


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    raise HTTPException(status_code=404)


# Routing


class IndexedRouter(Router):
    """A Router that tries, in their order, only the routes that could match a path: those with as many segments
    as it, whose first segment is the path's or a parameter, and any route or mount whose length varies.
    Skipped routes could only answer Match.NONE, so the outcome is the plain Router's."""

    MEMO_SIZE = 1024  # (segments, first segment) pairs remembered; paths are the client's, so the memo is bounded

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._memo: dict[tuple[int, str], Sequence[Any]] = {}

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().app(scope, receive, send)
            return
        if "router" not in scope:
            scope["router"] = self
        partial = partial_scope = None
        for route in self.candidates(get_route_path(scope)):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope["route"] = route
                scope.update(child_scope)
                within = _router_within(route)
                if within is not None:  # Mount.handle, then Router.__call__, would only pass it on
                    await within.app(scope, receive, send)
                else:
                    await route.handle(scope, receive, send)
                return
            if match is Match.PARTIAL and partial is None:
                partial, partial_scope = route, child_scope
        if partial is not None:
            scope["route"] = partial
            scope.update(partial_scope or {})
            await partial.handle(scope, receive, send)
            return
        await self.default(scope, receive, send)  # connexion's routers never redirect slashes (_TwinPaths does)

    def candidates(self, path: str) -> Sequence[Any]:
        segments = path.split("/")
        key = (len(segments), segments[1] if len(segments) > 1 else "")
        found = self._memo.get(key)
        if found is None:
            found = [route for route in self.routes if _may_match(route, *key)]
            if len(self._memo) < self.MEMO_SIZE:
                self._memo[key] = found
        return found


def _router_within(route: Any) -> IndexedRouter | None:
    """The indexed router a mount holds, when calling the mount would only call it (no middleware of its own)."""
    if type(route) is Mount and isinstance(route.app, IndexedRouter) and route.app.middleware_stack == route.app.app:
        return route.app
    return None


def _may_match(route: Any, segment_count: int, first: str) -> bool:
    if not isinstance(route, Route) or ":path}" in route.path:
        return True  # a mount matches a prefix, a path convertor any number of segments
    segments = route.path.split("/")
    return len(segments) == segment_count and (segments[1].startswith("{") or segments[1] == first)


class IndexedRoutingAPI(RoutingAPI):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.made: list[RoutingOperation] = []
        super().__init__(*args, **kwargs)
        built: Router = self.router  # type: ignore[has-type]  # connexion leaves it untyped
        self.router = IndexedRouter(routes=built.routes, default=built.default)

    def make_operation(self, operation: AbstractOperation) -> RoutingOperation:
        made = RememberedRoute(operation.operation_id, self.next_app)
        self.made.append(made)
        return made


# A routing outcome: the operation, what routing changed in the request's scope, the path parameters it matched
# and the API's base path (connexion's api_base_path)
_Routed = tuple["RememberedRoute", dict[str, Any], dict[str, Any], str]
_ROUTING_KEY: ContextVar[tuple[Any, ...] | None] = ContextVar("apitwin_routing_key", default=None)


class RememberedRoute(RoutingOperation):  # type: ignore[misc]
    """connexion's routed operation, telling `IndexedRouting` what the routers decided for a request it is
    routing the long way, so the next request with the same path, method and roots skips them."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _ROUTING_KEY.get()
        if key is not None:
            _ROUTING_KEY.set(None)  # this request's routing only, not a request a handler might route within it
            original = routing_scope.get()
            changed = {name: value for name, value in scope.items() if original.get(name, _ABSENT) is not value}
            matched = dict(changed.pop("path_params", None) or {})
            base = _root_of(scope)[len(_root_of(original)) :]
            key[0].remember(key[1:], (self, changed, matched, base))
        await super().__call__(scope, receive, send)

    async def forward(self, scope: Scope, receive: Receive, send: Send, routed: _Routed) -> None:
        """What `RoutingOperation.__call__` does for a request routed as `routed` says, without routing it."""
        _, changed, matched, base = routed
        original = dict(scope)  # what connexion's routing middleware keeps, before the routers change the scope
        routing_scope.set(original)
        scope.update(changed)  # what the routers would have changed (the layers above may read it)
        scope["path_params"] = dict(matched)
        original.setdefault("path_params", {}).update(matched)
        routing = original.setdefault("extensions", {}).setdefault(ROUTING_CONTEXT, {})
        routing.update({"api_base_path": base, "operation_id": self.operation_id})
        await self.next_app(original, receive, send)


_ABSENT = object()


def _root_of(scope: Scope) -> str:  # connexion's get_root_path
    return str(scope.get("route_root_path", scope.get("root_path", "")))


class IndexedRouting(RoutingMiddleware):  # type: ignore[misc]
    ROUTED_KEPT = 4096  # routing outcomes remembered; paths are the client's, so bounded

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        built: Router = self.router  # type: ignore[has-type]  # connexion leaves it untyped
        self.router = IndexedRouter(default=built.default)
        self.operations: list[tuple[str, RoutingOperation]] = []  # (base path, operation), for chain_operations
        self._routed: dict[tuple[Any, ...], _Routed] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # connexion's, calling the router's app itself (Router.__call__ only passes it on: no middleware); a
        # request routed before to an operation (the same path, method and roots) goes to it without routing:
        # the routers' outcome depends on nothing else, and the operation is told what they would have said
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = _routing_key(scope)
        routed = self._routed.get(key) if key is not None else None
        if routed is not None:
            await routed[0].forward(scope, receive, send, routed)
            return
        routing_scope.set(dict(scope))
        token = _ROUTING_KEY.set(None if key is None else (self, *key))
        try:
            await self.router.app(scope, receive, send)
        finally:
            _ROUTING_KEY.reset(token)

    def remember(self, key: tuple[Any, ...], routed: _Routed) -> None:
        if len(self._routed) >= self.ROUTED_KEPT:
            self._routed.clear()
        self._routed[key] = routed

    def add_api(self, specification: Any, base_path: str | None = None, arguments: Any = None, **kwargs: Any) -> None:
        # as connexion's add_api, with the API class above
        api = IndexedRoutingAPI(specification, base_path=base_path, arguments=arguments, next_app=self.app, **kwargs)
        self.operations += [(api.base_path, made) for made in api.made]
        for route in self.router.routes:
            if isinstance(route, Mount) and route.path == api.base_path:
                route.app.default = api.router  # type: ignore[attr-defined]  # a mount of an API's router
        self.router.mount(api.base_path, app=api.router)


def _routing_key(scope: Scope) -> tuple[Any, ...] | None:
    """What the routers' outcome for a request depends on; None when it may depend on more (path parameters
    or a route root path set above), and the request is routed the long way every time."""
    if scope.get("path_params") or "route_root_path" in scope:
        return None
    # a router or app root path set above is left as it is (the routers set each only where there is none)
    return (scope["path"], scope["method"], scope.get("root_path", ""), scope.get("app_root_path"), "router" in scope)


# Docs


def _is_docs_path(path: str) -> bool:
    """Whether a path may be one of the documentation routes connexion adds below each base path."""
    return "/openapi." in path or "/ui" in path


class SpecOnceAPI(SwaggerUIAPI):  # type: ignore[misc]
    """Each twin's /openapi.json and /openapi.yaml made once per base path and then answered from memory:
    connexion deep-copies and re-validates the whole spec on every request, a quarter of a second of blocked
    event loop for a large twin (and Swagger UI asks on every load)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # (route, base path) -> (body, media type); the base path is the only request input the document
        # depends on, and it comes from the mount (and server's root path), never from the client
        self._made: dict[tuple[str, str], tuple[bytes, str | None]] = {}
        super().__init__(*args, **kwargs)

    async def _get_openapi_json(self, request: Request) -> Response:
        return await self._once(request, "json", super()._get_openapi_json)

    async def _get_openapi_yaml(self, request: Request) -> Response:
        return await self._once(request, "yaml", super()._get_openapi_yaml)

    async def _once(self, request: Request, route: str, make: Callable[[Request], Any]) -> Response:
        key = (route, self._base_path_for_prefix(request))
        if key not in self._made:
            made = await make(request)
            self._made[key] = (bytes(made.body), made.media_type)
        body, media_type = self._made[key]
        # a new response each time: middlewares add their headers to the one they are sent
        return Response(body, media_type=media_type)


class SpecsOnce(SwaggerUIMiddleware):  # type: ignore[misc]
    def add_api(self, specification: Any, base_path: str | None = None, arguments: Any = None, **kwargs: Any) -> None:
        # as connexion's add_api, with the API class above
        api = SpecOnceAPI(specification, base_path=base_path, arguments=arguments, default=self.default_fn, **kwargs)
        self.router.mount(api.base_path, app=api.router)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not _is_docs_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
