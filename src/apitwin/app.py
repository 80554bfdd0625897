"""Builds the one ASGI app: every twin mounted at /<twin>/<its real base path> (or at its real base path
alone), the admin API at /__apitwin, and an index at /.

Request stages: connexion routing → security (auth.Authenticator: 401, 429) → request validation (400) →
resolver endpoint (role check 403, content negotiation 406) → behaviour or engine → store → rendering.
Every failure on the way is rendered in the owning twin's error format by the handlers below.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette._utils import get_route_path
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apitwin.access import Access, HostGuard, host_header, is_loopback
from apitwin.admin import PREFIX as ADMIN_PREFIX
from apitwin.admin import SESSIONS_PATH, admin_routes
from apitwin.auth import RateLimit
from apitwin.clock import Clock
from apitwin.cors import CorsForTwins
from apitwin.errors import ErrorKind, TwinError, plain_error
from apitwin.guards import DEFAULT_MAX_BODY_BYTES, BodyGuard, MediaTypeOf, declared_media_type
from apitwin.journal import DEFAULT_SIZE as DEFAULT_JOURNAL_SIZE
from apitwin.journal import JournalRequests
from apitwin.rendering import JSON, XML, negotiate, render
from apitwin.runtime import LiveTwin, Runtime
from apitwin.sessions import DEFAULT_IDLE_SECONDS, DEFAULT_MAX_SESSIONS, SessionRequests
from apitwin.spec import for_connexion, load_bundled
from apitwin.store import Store, StoreBackend, StoreCorrupt
from apitwin.twins import Twin, select

if TYPE_CHECKING:
    from apitwin.stack import IndexedRouter

logger = logging.getLogger("apitwin")
FORM = "application/x-www-form-urlencoded"


def create_app(
    twin_names: Iterable[str] | None = None,
    *,
    data: Path | None = None,
    store: StoreBackend | None = None,
    clock: Clock | None = None,
    prefixed: bool | None = None,
    reset: bool = False,
    rate_limits: Mapping[str, RateLimit | None] | None = None,
    validate_responses: bool = False,
    journal_size: int = DEFAULT_JOURNAL_SIZE,
    cors: bool = True,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    access: Access | None = None,
    session_store: Callable[[str], Store] | None = None,
    session_idle: float = DEFAULT_IDLE_SECONDS,
    max_sessions: int = DEFAULT_MAX_SESSIONS,
) -> Starlette:
    """The app serving the named twins (all by default). With no `data` path nor `store`, state is in
    memory. `prefixed` defaults to True when serving every twin and False when twins are named.
    `journal_size` is how many requests `GET /__apitwin/requests` keeps (0: none); `cors` lets browser apps on
    other origins call the twins (never the control plane); a larger request body is a 413. `access` says
    which Host names are served beyond loopback and the control plane's admin token (see apitwin.access).
    `session_store`, `session_idle` and `max_sessions` shape the sessions a request may name (see
    apitwin.sessions): the store each gets, by name (in memory by default), the idle seconds after which one
    expires, and how many live at once."""
    access = access or Access()
    from connexion.options import SwaggerUIOptions

    names = list(twin_names or [])
    twins: list[Twin] = select(names)
    runtime = Runtime(
        twins,
        store=store or _open_store(data, reset),
        clock=clock,
        prefixed=(not names) if prefixed is None else prefixed,
        rate_limits=rate_limits,
        journal_size=journal_size,
        session_store=session_store,
        session_idle=session_idle,
        max_sessions=max_sessions,
    )
    runtime.seed(reset=reset)

    from apitwin import specvalidity
    from apitwin.resolver import TwinResolver
    from apitwin.spec import load_resolved
    from apitwin.validation import validator_map

    specvalidity.install()
    logging.getLogger("connexion").setLevel(logging.ERROR)  # it logs every 4xx at WARNING
    # and every query parameter the spec does not know at ERROR; real services ignore those quietly
    logging.getLogger("connexion.decorators.parameter").setLevel(logging.CRITICAL)
    from apitwin.stack import IndexedRouter, TwinApp

    api = TwinApp(__name__)
    for live in runtime.mounts:  # each twin's main document, and its others at their own base paths
        api.add_api(
            for_connexion(load_bundled(live.spec_path)),  # also what /openapi.json serves
            base_path=live.mount_path,
            name=live.twin.name if live.document is None else f"{live.twin.name}.{live.document.name}",
            resolver=TwinResolver(live, load_resolved(live.spec_path)),
            security_map=_security_map(live),
            strict_validation=False,  # real services ignore query parameters they do not know
            validate_responses=validate_responses,
            validator_map=validator_map(),
            swagger_ui_options=SwaggerUIOptions(swagger_ui=True, swagger_ui_path="/ui"),
        )
    handlers = _ErrorHandlers(runtime)
    from connexion.exceptions import ProblemException
    from starlette.exceptions import HTTPException

    api.add_error_handler(TwinError, handlers.twin_error)
    api.add_error_handler(ProblemException, handlers.problem)
    api.add_error_handler(HTTPException, handlers.problem)
    api.add_error_handler(UnicodeDecodeError, handlers.bad_encoding)
    api.add_error_handler(Exception, handlers.unexpected)
    api.build()

    async def index(request: Request) -> Response:
        # Without an admin token the server listens on loopback only; with one, only its holders (or a
        # caller on this machine) see the credentials.
        caller = request.client.host if request.client else ""
        trusted = access.admin_token is None or is_loopback(caller) or access.holds_token(dict(request.headers))
        return JSONResponse(describe(runtime, str(request.base_url).rstrip("/"), credentials=trusted))

    async def unroutable(request: Request, exc: Exception) -> Response:
        # paths the outer router cannot even match (a newline in a segment): still the owning API's 404
        live = runtime.twin_for_path(request.url.path)
        error = TwinError(ErrorKind.NOT_FOUND, "The requested resource could not be found")
        shape = live.twin.error_shape if live else plain_error
        return JSONResponse(
            dict(shape(error)), status_code=404, headers=dict(live.twin.response_headers) if live else {}
        )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        # a server stopped cleanly (SIGTERM, Ctrl-C) folds its store's log into one TinyDB file
        await asyncio.to_thread(runtime.close)

    twin_mount = Mount("", app=_TwinPaths(api.middleware, runtime))  # the app's own __call__ only passes it on
    routes = [Route("/", index, methods=["GET"]), *admin_routes(runtime, access), twin_mount]
    # Trailing slashes are _TwinPaths' business: the router's own redirect would loop on a segment ending in a
    # line break (its mount pattern matches one form only, before that line break), 307 after 307. The router
    # is an indexed one: a twin's request is not tried against each control-plane route.
    router = IndexedRouter(routes=routes, lifespan=lifespan, redirect_slashes=False)
    app = Starlette(
        lifespan=lifespan,
        routes=routes,
        exception_handlers={404: unroutable},
        middleware=[
            # outermost: every layer below, the journal first, acts on the session the request names
            Middleware(
                SessionRequests,
                sessions=runtime.sessions,
                respond=_error_response(runtime),
                may_open=lambda scope: access.serves_host(host_header(scope)),
                registry_path=lambda path: path == SESSIONS_PATH or path.startswith(SESSIONS_PATH + "/"),
            ),
            # with a shared store, then: the clock and fault rules another worker may have changed, in the session
            *([Middleware(_SharedState, runtime=runtime)] if runtime.store.shared else []),
            # so the journal records what the client got, preflights included
            Middleware(
                JournalRequests,
                journal_of=lambda: runtime.journal,
                identify=runtime.identify,
                skip_prefix=ADMIN_PREFIX,
            ),
            Middleware(HostGuard, access=access, respond=_error_response(runtime)),
            *([Middleware(CorsForTwins, applies_to=lambda path: runtime.locate(path) is not None)] if cors else []),
            # hostile bodies are refused before routing, so no handler (nor the store) ever sees one
            Middleware(
                BodyGuard,
                respond=_error_response(runtime),
                media_type_of=_body_media_type(runtime),
                max_body_bytes=max_body_bytes,
            ),
            Middleware(_TwinsFirst, twins=twin_mount, router=router),
        ],
    )
    app.router = router
    app.state.runtime = runtime
    return app


def _open_store(data: Path | None, reset: bool) -> Store:
    try:
        return Store(data)
    except StoreCorrupt:
        if not reset or data is None:
            raise
        # a reset asks for the fixtures, and a file that holds no store has nothing else worth keeping
        Store.discard(data)
        return Store(data)


class _SharedState:
    """Before each request, `Runtime.refresh`: what another process sharing the store changed (the clock, fault
    rules) applies here too, from the next request on."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.runtime.refresh()
        await self.app(scope, receive, send)


class _TwinsFirst:
    """A request the router could only send to the twins' mount goes straight to it, as the router would send it
    (its own candidates, the mount's own match), past the router's layers and the exception layer above it, which
    has nothing to catch there: connexion's own layers answer every error of a twin."""

    def __init__(self, app: ASGIApp, twins: Mount, router: IndexedRouter) -> None:
        self.app = app
        self.twins = twins
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        router = self.router
        candidates = router.candidates(get_route_path(scope))
        if len(candidates) != 1 or candidates[0] is not self.twins:
            await self.app(scope, receive, send)
            return
        match, child_scope = self.twins.matches(scope)
        if match is not Match.FULL:
            await self.app(scope, receive, send)
            return
        # as the router would: itself and the mount recorded in the scope, the mount's own keys set
        scope.setdefault("router", router)
        scope["route"] = self.twins
        scope.update(child_scope)
        await self.twins.app(scope, receive, send)


class _TwinPaths:
    """What the twin records say about paths and headers, before connexion routes exactly: an alias base
    path is served as the main one, a path that differs from a documented one only by its trailing slash is
    served as documented (clients are inconsistent about it), and twin-wide headers go on every answer."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        located = self.runtime.locate(scope["path"])
        if located is None:
            await self.app(scope, receive, send)
            return
        if "\n" in scope["path"] or "\r" in scope["path"]:
            # no documented path holds a line break, and routers misread one (`$` matches before it): a 404
            missing = TwinError(ErrorKind.NOT_FOUND, "The requested resource could not be found")
            await _error_response(self.runtime)(scope, missing)(scope, receive, send)
            return
        live, relative = located
        path = live.mount_path + relative
        if path != scope["path"]:
            scope = {**scope, "path": path, "raw_path": path.encode()}
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in live.twin.response_headers.items()]
        if not headers:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _body_media_type(runtime: Runtime) -> MediaTypeOf:
    """How a twin reads a body: as declared, except what its record says of untyped bodies (the official
    Dataiku client sends JSON with no Content-Type) and of form bodies that are JSON (Datascaphe's curl -d).
    The control plane takes JSON as declared only (see apitwin.access)."""

    def media_type_of(scope: Scope, body: bytes) -> str | None:
        declared = declared_media_type(scope)
        located = runtime.locate(scope["path"])
        twin = located[0].twin if located else None
        if twin is None:
            return declared
        if declared is None:
            return twin.untyped_body_is
        if declared == FORM and twin.form_body_may_be_json and body.lstrip()[:1] in (b"{", b"["):
            return JSON
        return declared

    return media_type_of


def _error_response(runtime: Runtime) -> Callable[[Scope, TwinError], Response]:
    """An error answered before routing, in the shape of the twin the path belongs to (apitwin's own else)."""

    def respond(scope: Scope, error: TwinError) -> Response:
        located = runtime.locate(scope["path"])
        twin = located[0].twin if located else None
        shape = twin.error_shape if twin else plain_error
        headers = {**(twin.response_headers if twin else {}), **error.headers}
        return JSONResponse(dict(shape(error)), status_code=error.status_code, headers=headers)

    return respond


def describe(runtime: Runtime, origin: str, *, credentials: bool = True) -> dict[str, Any]:
    """Every twin with its base URL, spec, docs and (unless `credentials` is false) a credential to send."""
    twins = []
    for live in runtime.twins.values():
        base = origin + live.mount_path
        shown = live.credentials()[:1] if credentials else []
        twins.append(
            {
                "name": live.twin.name,
                "title": live.twin.title,
                "base_url": base,
                "spec_url": f"{base}/openapi.json",
                "docs_url": f"{base}/ui/",
                "credential": shown[0]["credential"] if shown else None,
                "send_as": live.twin.auth_hint.format(credential=shown[0]["credential"]) if shown else None,
                **({"documents": _documents(runtime, live, origin)} if live.twin.documents else {}),
            }
        )
    return {"twins": twins, "admin": origin + ADMIN_PREFIX}


def _documents(runtime: Runtime, main: LiveTwin, origin: str) -> list[dict[str, Any]]:
    """The twin's other documents, each at its own base URL (the same credential)."""
    return [
        {
            "name": live.document.name,
            "base_url": origin + live.mount_path,
            "spec_url": f"{origin}{live.mount_path}/openapi.json",
        }
        for live in runtime.mounts
        if live.twin is main.twin and live.document is not None
    ]


def _security_map(live: LiveTwin) -> dict[str, type]:
    from apitwin.auth import security_map

    return security_map(lambda: live.authenticator)  # the session's, looked up per request


class _ErrorHandlers:
    """App-global connexion error handlers; each picks the owning twin from the request path."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def twin_error(self, request: Any, exc: TwinError) -> Any:
        return self._render(request, exc)

    def problem(self, request: Any, exc: Any) -> Any:
        status = int(getattr(exc, "status_code", None) or getattr(exc, "status", None) or 500)
        detail = getattr(exc, "detail", None) or getattr(exc, "title", None) or "Error"
        kind = ErrorKind.from_status(status)
        headers = dict(getattr(exc, "headers", None) or {})
        if kind is ErrorKind.NOT_FOUND:
            detail = "The requested resource could not be found"
        if kind is ErrorKind.METHOD_NOT_ALLOWED:
            live = self.runtime.twin_for_path(request.url.path)
            relative = request.url.path[len(live.mount_path) :] if live else ""
            allowed = sorted(live.methods_for(relative or "/")) if live else []
            headers["Allow"] = ", ".join(allowed)
            detail = f"{request.method} is not allowed here; use {', '.join(allowed)}"
        return self._render(request, TwinError(kind, str(detail), headers=headers, status=status))

    def bad_encoding(self, request: Any, exc: UnicodeDecodeError) -> Any:
        return self._render(request, TwinError(ErrorKind.INVALID, "The request body is not valid UTF-8"))

    def unexpected(self, request: Any, exc: Exception) -> Any:
        logger.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return self._render(request, TwinError(ErrorKind.SERVER, "Internal error"))

    def _render(self, request: Any, error: TwinError) -> Any:
        from connexion.lifecycle import ConnexionResponse

        live = self.runtime.twin_for_path(request.url.path)
        shape = live.twin.error_shape if live else plain_error
        offered = (JSON, XML) if live and live.offers_xml else (JSON,)
        media_type = negotiate(request.headers.get("accept"), offered) or JSON
        body = render(dict(shape(error)), media_type, {"xml": {"name": "error"}})
        return ConnexionResponse(
            status_code=error.status_code,
            mimetype=media_type,
            content_type=media_type,
            body=body,
            headers=dict(error.headers),
        )
