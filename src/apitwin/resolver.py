"""The connexion adapter: every operationId resolves, when the app is built, to its twin's behaviour or
to the engine's generic handler; an operation with neither stops the build."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from connexion.decorators.parameter import sanitized
from connexion.exceptions import ResolverError
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.resolver import Resolution, Resolver
from starlette.datastructures import URL, UploadFile
from starlette.types import Scope

from apitwin.access import header, host_header
from apitwin.auth import REFUSED_CREDENTIAL
from apitwin.behaviours import Behaviour
from apitwin.engine import OperationContext, Reply, Route, UploadedFile, handle
from apitwin.errors import ErrorKind, TwinError
from apitwin.faults import check_fault, from_prefer, injected_error
from apitwin.rendering import negotiate, render
from apitwin.runtime import LiveTwin

Endpoint = Callable[..., Awaitable[ConnexionResponse]]
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="apitwin-writer")
URLS_KEPT = 4096  # request URLs remembered; they are the clients', so bounded
_urls: dict[tuple[Any, ...], tuple[str, str]] = {}


def url_of(scope: Scope) -> tuple[str, str]:
    """The request's URL and its path, as starlette's `Request.url` gives them, remembered by the scope fields that
    URL is made of (scheme, server, path, query string, Host header): making one parses the URL again."""
    host = host_header(scope)
    server = scope.get("server")  # a (host, port) pair, which servers and test clients give as a tuple or a list
    key = (
        scope.get("scheme"),
        tuple(server) if server is not None else None,
        scope["path"],
        scope.get("query_string"),
        host,
    )
    known = _urls.get(key)
    if known is None:
        url = URL(scope=scope)
        known = (str(url), url.path)
        if len(_urls) >= URLS_KEPT:
            _urls.clear()
        _urls[key] = known
    return known


def resolve_handler(live: LiveTwin, route: Route) -> tuple[Behaviour, str]:
    """(handler, "behaviour" | "engine") for a route, or ResolverError."""
    behaviour = live.twin.behaviours().get(route.operation_id)
    if behaviour is not None:
        return behaviour, "behaviour"
    if route.action is not None:
        return handle, "engine"
    raise ResolverError(
        f"{live.spec_file}: operation {route.operation_id!r} has no behaviour in "
        f"{live.twin.behaviours_module} and no x-twin collection action for the engine"
    )


def endpoint_for(live: LiveTwin, route: Route, schemas: Mapping[str, Any]) -> Endpoint:
    handler, _ = resolve_handler(live, route)
    asynchronous = inspect.iscoroutinefunction(handler)
    run_async = cast(Callable[[OperationContext], Awaitable[Reply]], handler)
    run_sync = cast(Callable[[OperationContext], Reply], handler)
    path_keys = {name: sanitized(name) for name in route.path_params}
    query_keys = {name: sanitized(name) for name in route.query_params}

    async def endpoint(request: ConnexionRequest, **kwargs: Any) -> ConnexionResponse:
        try:
            return await answer(request, **kwargs)
        finally:  # a request refused before its files were read (401, 403, a fault) leaves no temporary file open
            for value in kwargs.values():
                if isinstance(value, UploadFile):
                    await value.close()

    async def answer(request: ConnexionRequest, **kwargs: Any) -> ConnexionResponse:
        refused = REFUSED_CREDENTIAL.get()
        if refused is not None and live.twin.every_credential_checked:
            raise TwinError(ErrorKind.UNAUTHENTICATED, refused)
        principal = kwargs.get("token_info") or {}
        path = {name: kwargs[key] for name, key in path_keys.items() if key in kwargs}
        live.authenticator.authorize(principal, route.requires, path)
        scope = request.scope  # read once: ConnexionRequest finds it through __getattr__, after a failed lookup
        media_type = negotiate(header(scope, b"accept"), route.media_types)
        if media_type is None:
            raise TwinError(ErrorKind.NOT_ACCEPTABLE, f"This resource is available as {', '.join(route.media_types)}")
        url, url_path = url_of(scope)
        await _inject_fault(live, route, header(scope, b"prefer"), url_path)
        files = {name: await _read(value) for name, value in kwargs.items() if isinstance(value, UploadFile)}
        ctx = OperationContext(
            route=route,
            state=live.state,
            path=path,
            query={name: kwargs[key] for name, key in query_keys.items() if key in kwargs},
            body=kwargs.get("body"),
            files=files,
            principal=principal,
            media_type=media_type,
            url=url,
            permits=lambda required, scope: live.authenticator.permits(principal, required, scope),
            require=lambda required, scope: live.authenticator.authorize(principal, required, scope),
        )
        if asynchronous:
            reply = await run_async(ctx)
        elif route.method in _READS:
            reply = run_sync(ctx)
        else:
            # A write ends in the store's durable write (serialise, fsync): off the event loop, on the one
            # writer thread, so writes stay one at a time as they were on the loop and other callers are served.
            context = contextvars.copy_context()
            reply = await asyncio.get_running_loop().run_in_executor(_WRITER, context.run, unstoppable, run_sync, ctx)
        assert isinstance(reply, Reply)
        headers = dict(reply.headers)
        if reply.body is None:
            return ConnexionResponse(status_code=reply.status, headers=headers)
        media_type = reply.media_type or media_type
        schema = reply.schema or schemas.get(media_type)
        return ConnexionResponse(
            status_code=reply.status,
            mimetype=media_type.split(";")[0],
            content_type=media_type,
            body=render(reply.body, media_type, schema),
            headers=headers,
        )

    endpoint.__name__ = route.operation_id
    return endpoint


async def _read(upload: UploadFile) -> UploadedFile:
    """A multipart file part, whole (the body guard has bounded the request's size already)."""
    try:
        return UploadedFile(filename=upload.filename, media_type=upload.content_type, data=await upload.read())
    finally:
        await upload.close()


async def _inject_fault(live: LiveTwin, route: Route, prefer: str | None, path: str) -> None:
    """Answer late, or with a documented error, when the request's Prefer header or an admin rule asks."""
    fault = from_prefer(prefer) or live.faults.pick(live.twin.name, route, path[len(live.mount_path) :])
    if fault is None:
        return
    check_fault(fault, route)
    if fault.delay_ms:
        await asyncio.sleep(fault.delay_ms / 1000)
    error = injected_error(fault, route)
    if error is not None:
        raise error


class TwinResolver(Resolver):  # type: ignore[misc]
    def __init__(self, live: LiveTwin, spec: Mapping[str, Any]) -> None:
        super().__init__()
        self._endpoints: dict[str, Endpoint] = {}
        for path, item in spec.get("paths", {}).items():
            for method, operation in item.items():
                route = live.model.routes.get(operation.get("operationId", "")) if isinstance(operation, dict) else None
                if route is None or route.path != path or route.method != method.upper():
                    continue
                response = operation["responses"][str(route.success_status)]
                schemas = {media: body.get("schema", {}) for media, body in response.get("content", {}).items()}
                self._endpoints[route.operation_id] = endpoint_for(live, route, schemas)

    def resolve(self, operation: Any) -> Resolution:
        operation_id = operation.operation_id
        if operation_id not in self._endpoints:
            raise ResolverError(f"no handler for operationId {operation_id!r}")
        return Resolution(self._endpoints[operation_id], operation_id)


def unstoppable(function: Callable[[OperationContext], Reply], ctx: OperationContext) -> Reply:
    """`function(ctx)`, a StopIteration it lets out turned into a RuntimeError: a Future cannot carry a
    StopIteration, so the request awaiting the writer thread would wait for ever (a 500 instead)."""
    try:
        return function(ctx)
    except StopIteration as stop:
        raise RuntimeError(f"a behaviour let a StopIteration out: {stop!r}") from stop
