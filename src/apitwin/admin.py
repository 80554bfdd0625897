"""The control plane for tests and CI, under /__apitwin: health, reset, snapshots, faults, the virtual clock,
the request journal and sessions. Answers in apitwin's own JSON (`{"error", "message"}` on failure), never in a
twin's format.

Every endpoint acts on the session the request names with `X-Apitwin-Session` (the default one without it;
see apitwin.sessions), except those under /__apitwin/sessions, which list and delete the sessions themselves.

The endpoints are one table: the routes, the index at `GET /__apitwin` and the OpenAPI document at
`GET /__apitwin/openapi.json` are all read from it, so none can be forgotten in the others.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from apitwin.access import Access
from apitwin.errors import ErrorKind, TwinError, plain_error
from apitwin.faults import MAX_DELAY_MS, rule_from_json
from apitwin.runtime import Runtime
from apitwin.sessions import HEADER, SESSION_NAME
from apitwin.store import StoreError

PREFIX = "/__apitwin"
SESSIONS_PATH = PREFIX + "/sessions"  # the registry's own endpoints: they run in no session of their own

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # below PREFIX
    handler: Handler  # its docstring's first line is the endpoint's summary
    status: int = 200
    query: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # parameter name -> JSON schema
    body: Mapping[str, Any] | None = None  # JSON schema of the request body, when it takes one

    @property
    def summary(self) -> str:
        return (inspect.getdoc(self.handler) or "").splitlines()[0]


_FAULT_RULE = {
    "type": "object",
    "required": ["twin"],
    "additionalProperties": False,
    "properties": {
        "twin": {"type": "string"},
        "operation_id": {"type": "string", "description": "only this operation"},
        "method": {"type": "string", "description": "only this HTTP method"},
        "path": {"type": "string", "description": "glob on the path below the twin's base path, e.g. /report/*"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599, "description": "a documented error status"},
        "delay_ms": {"type": "integer", "minimum": 0, "maximum": MAX_DELAY_MS},
        "times": {"type": "integer", "minimum": 1, "description": "the next N matching requests only"},
        "probability": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "maximum": 1},
    },
}
_SESSION_PARAMETER = {
    "name": HEADER,
    "in": "header",
    "schema": {"type": "string", "pattern": f"^{SESSION_NAME.pattern}$"},
    "description": "the session to act on (made from the fixtures on first use); the default one without it",
}
_JOURNAL_FILTERS: dict[str, Mapping[str, Any]] = {
    "twin": {"type": "string"},
    "status": {"type": "integer", "minimum": 100, "maximum": 599},
    "operation_id": {"type": "string"},
    "limit": {"type": "integer", "minimum": 1, "description": "at most this many entries"},
}


async def off_loop(work: Callable[..., Any], *args: Any) -> Any:
    """Run a control-plane change in a thread: it writes the store (a fixtures reload or a snapshot of a large
    state takes its time, a clock change is persisted), and the event loop keeps serving the twins meanwhile."""
    return await asyncio.to_thread(work, *args)


def admin_routes(runtime: Runtime, access: Access | None = None) -> list[Route]:
    """The control plane's routes; each refuses what `access` refuses (see apitwin.access) before it runs."""
    access = access or Access()

    async def index(request: Request) -> Response:
        """The control-plane endpoints: method, path and summary."""
        listed = [{"method": e.method, "path": PREFIX + e.path, "summary": e.summary} for e in endpoints]
        return JSONResponse({"endpoints": listed, "openapi": f"{PREFIX}/openapi.json"})

    async def openapi(request: Request) -> Response:
        """This control plane as an OpenAPI 3 document."""
        return JSONResponse(openapi_document(endpoints))

    async def health(request: Request) -> Response:
        """Whether the server is up, and which twins it serves."""
        return JSONResponse({"status": "ok", "twins": sorted(runtime.twins)})

    async def reset_all(request: Request) -> Response:
        """Every twin back to its fixtures; fault rules and the request journal cleared; the clock real again."""
        await off_loop(runtime.reset)
        return JSONResponse({"reset": sorted(runtime.twins)})

    async def reset_one(request: Request) -> Response:
        """One twin back to its fixtures; its fault rules and its entries in the request journal cleared."""
        name = request.path_params["twin"]
        if name not in runtime.twins:
            return _error(TwinError(ErrorKind.NOT_FOUND, f"no twin named {name!r}; serving {sorted(runtime.twins)}"))
        await off_loop(runtime.reset, name)
        return JSONResponse({"reset": [name]})

    async def list_snapshots(request: Request) -> Response:
        """The names of the saved snapshots."""
        return JSONResponse({"snapshots": runtime.store.snapshots()})

    async def save_snapshot(request: Request) -> Response:
        """Save the whole state under a name (replacing a snapshot of that name)."""
        name = request.path_params["name"]
        try:
            await off_loop(runtime.store.save_snapshot, name)
        except StoreError as exc:
            return _error(TwinError(ErrorKind.INVALID, str(exc)))
        return JSONResponse({"saved": name}, status_code=201)

    async def restore_snapshot(request: Request) -> Response:
        """Put the whole state back as it was saved; rate-limit counters start again."""
        name = request.path_params["name"]
        try:
            await off_loop(runtime.store.restore_snapshot, name)
        except StoreError as exc:
            return _error(TwinError(ErrorKind.NOT_FOUND, str(exc)))
        for live in runtime.twins.values():
            live.limiter.reset()
        return JSONResponse({"restored": name})

    async def delete_snapshot(request: Request) -> Response:
        """Forget a snapshot."""
        try:
            await off_loop(runtime.store.delete_snapshot, request.path_params["name"])
        except StoreError as exc:
            return _error(TwinError(ErrorKind.NOT_FOUND, str(exc)))
        return Response(status_code=204)

    async def list_faults(request: Request) -> Response:
        """The fault and latency rules, with how often each applied."""
        return JSONResponse({"faults": [rule.view() for rule in runtime.faults.rules()]})

    async def add_fault(request: Request) -> Response:
        """Add a fault or latency rule (only statuses the operations document)."""
        operations = {name: runtime.routes_of(name) for name in runtime.twins}
        try:
            rule = runtime.faults.add(rule_from_json(await _json_body(request), operations))
        except TwinError as exc:
            return _error(exc)
        return JSONResponse(rule.view(), status_code=201)

    async def delete_fault(request: Request) -> Response:
        """Delete one fault rule."""
        try:
            rule_id = int(request.path_params["rule"])
        except ValueError:
            rule_id = -1
        if not runtime.faults.delete(rule_id):
            return _error(TwinError(ErrorKind.NOT_FOUND, f"no fault rule {request.path_params['rule']}"))
        return Response(status_code=204)

    async def clear_faults(request: Request) -> Response:
        """Delete every fault rule."""
        runtime.faults.clear()
        return Response(status_code=204)

    async def clock(request: Request) -> Response:
        """The virtual clock: now, whether frozen, the offset from real time."""
        return JSONResponse(runtime.clock.state())

    async def advance(request: Request) -> Response:
        """Move the virtual clock forward (timestamps, rate-limit windows, async jobs)."""
        seconds = (await _json_body(request)).get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            return _error(TwinError(ErrorKind.INVALID, 'send {"seconds": N} with N >= 0'))
        try:
            await off_loop(runtime.clock.advance, float(seconds))
        except (ValueError, OverflowError) as exc:
            return _error(TwinError(ErrorKind.INVALID, str(exc)))
        return JSONResponse(runtime.clock.state())

    async def freeze(request: Request) -> Response:
        """Stop the virtual clock, now or at a given instant; before an instant documents were already stamped
        with only with "rewind": true."""
        body = await _json_body(request)
        at, rewind = body.get("at"), body.get("rewind", False)
        if not isinstance(rewind, bool):
            return _error(TwinError(ErrorKind.INVALID, '"rewind" must be true or false'))
        moment = None
        if at is not None:
            try:
                moment = datetime.fromisoformat(at) if isinstance(at, str) else None
            except ValueError:
                pass
            if moment is None or moment.tzinfo is None:
                return _error(TwinError(ErrorKind.INVALID, '"at" must be an ISO 8601 instant with a zone'))
        try:
            await off_loop(functools.partial(runtime.clock.freeze, moment, rewind=rewind))
        except ValueError as exc:
            return _error(TwinError(ErrorKind.INVALID, str(exc)))
        return JSONResponse(runtime.clock.state())

    async def resume(request: Request) -> Response:
        """Let the virtual clock run again from where it stands."""
        await off_loop(runtime.clock.resume)
        return JSONResponse(runtime.clock.state())

    async def real_time(request: Request) -> Response:
        """Put the virtual clock back to real time."""
        await off_loop(runtime.clock.reset)
        return JSONResponse(runtime.clock.state())

    async def list_requests(request: Request) -> Response:
        """The request journal, latest first: method, path, query, twin, operation, status, duration, fault."""
        try:
            filters = _journal_filters(request, runtime)
        except TwinError as exc:
            return _error(exc)
        limit = filters.pop("limit", None)
        entries = runtime.journal.entries(**filters)[:limit]
        return JSONResponse({"requests": [entry.view() for entry in entries]})

    async def clear_requests(request: Request) -> Response:
        """Empty the request journal (or one twin's entries, with ?twin=)."""
        try:
            filters = _journal_filters(request, runtime, allowed=("twin",))
        except TwinError as exc:
            return _error(exc)
        runtime.journal.clear(filters.get("twin"))
        return Response(status_code=204)

    async def list_sessions(request: Request) -> Response:
        """The live sessions (the default one first): name, created, last used, requests; their expiry rules."""
        sessions = runtime.sessions
        return JSONResponse(
            {
                "sessions": [session.view() for session in await off_loop(sessions.all)],
                "idle_seconds": sessions.idle_seconds,
                "max_sessions": sessions.max_sessions,
            }
        )

    async def delete_session(request: Request) -> Response:
        """Forget a session and all its state (the default one cannot be deleted)."""
        name = request.path_params["name"]
        if not await off_loop(runtime.sessions.delete, name):
            return _error(TwinError(ErrorKind.NOT_FOUND, f"no session named {name!r}"))
        return Response(status_code=204)

    endpoints = [
        Endpoint("GET", "", index),
        Endpoint("GET", "/openapi.json", openapi),
        Endpoint("GET", "/health", health),
        Endpoint("POST", "/reset", reset_all),
        Endpoint("POST", "/reset/{twin}", reset_one),
        Endpoint("GET", "/snapshots", list_snapshots),
        Endpoint("PUT", "/snapshots/{name}", save_snapshot, status=201),
        Endpoint("DELETE", "/snapshots/{name}", delete_snapshot, status=204),
        Endpoint("POST", "/snapshots/{name}/restore", restore_snapshot),
        Endpoint("GET", "/faults", list_faults),
        Endpoint("POST", "/faults", add_fault, status=201, body=_FAULT_RULE),
        Endpoint("DELETE", "/faults", clear_faults, status=204),
        Endpoint("DELETE", "/faults/{rule}", delete_fault, status=204),
        Endpoint("GET", "/clock", clock),
        Endpoint("POST", "/clock/advance", advance, body=_object({"seconds": {"type": "number", "minimum": 0}})),
        Endpoint(
            "POST",
            "/clock/freeze",
            freeze,
            body=_object({"at": {"type": "string", "format": "date-time"}, "rewind": {"type": "boolean"}}),
        ),
        Endpoint("POST", "/clock/resume", resume),
        Endpoint("POST", "/clock/reset", real_time),
        Endpoint("GET", "/requests", list_requests, query=_JOURNAL_FILTERS),
        Endpoint("DELETE", "/requests", clear_requests, status=204, query={"twin": _JOURNAL_FILTERS["twin"]}),
        Endpoint("GET", "/sessions", list_sessions),
        Endpoint("DELETE", "/sessions/{name}", delete_session, status=204),
    ]
    return [Route(PREFIX + e.path, _guarded(e.handler, access), methods=[e.method]) for e in endpoints]


def _guarded(handler: Handler, access: Access) -> Handler:
    async def endpoint(request: Request) -> Response:
        body = await request.body()  # read once; starlette keeps it for the handler
        refusal = access.control_plane_refusal(request.method, dict(request.headers), bool(body.strip()))
        if refusal is not None:
            return _error(refusal)
        try:
            return await handler(request)
        except TwinError as exc:
            return _error(exc)

    endpoint.__doc__ = handler.__doc__
    return endpoint


def openapi_document(endpoints: list[Endpoint]) -> dict[str, Any]:
    """An OpenAPI 3.0 document of the control plane, from its endpoint table."""
    error = {"$ref": "#/components/schemas/Error"}
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        path = PREFIX + endpoint.path
        names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        operation: dict[str, Any] = {
            "operationId": endpoint.handler.__name__,
            "summary": endpoint.summary,
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in names
            ]
            + [{"name": name, "in": "query", "schema": dict(schema)} for name, schema in endpoint.query.items()]
            + ([] if path.startswith(SESSIONS_PATH) else [_SESSION_PARAMETER]),
            "responses": {
                str(endpoint.status): {"description": endpoint.summary}
                if endpoint.status == 204
                else {"description": endpoint.summary, "content": {"application/json": {"schema": {"type": "object"}}}},
                "default": {"description": "An error", "content": {"application/json": {"schema": error}}},
            },
        }
        if endpoint.body is not None:
            operation["requestBody"] = {"content": {"application/json": {"schema": endpoint.body}}}
        paths.setdefault(path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "apitwin control plane",
            "version": "1",
            "description": "Reset, snapshots, faults, the virtual clock, the request journal and the sessions of a "
            "running apitwin; every call but the sessions' acts on the session X-Apitwin-Session names.",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
                }
            }
        },
    }


def _object(properties: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": dict(properties), "additionalProperties": False}


def _journal_filters(
    request: Request, runtime: Runtime, allowed: tuple[str, ...] = tuple(_JOURNAL_FILTERS)
) -> dict[str, Any]:
    """The journal filters of a query string, checked: a misspelt filter must not silently match everything."""
    unknown = sorted(set(request.query_params) - set(allowed))
    if unknown:
        raise TwinError(ErrorKind.INVALID, f"unknown filter(s) {unknown}; use {', '.join(allowed)}")
    filters: dict[str, Any] = dict(request.query_params)
    if "twin" in filters and filters["twin"] not in runtime.twins:
        raise TwinError(ErrorKind.INVALID, f"no twin named {filters['twin']!r}; serving {sorted(runtime.twins)}")
    for name in ("status", "limit"):
        if name in filters:
            try:
                filters[name] = int(filters[name])
            except ValueError:
                filters[name] = 0
            if filters[name] < 1:
                raise TwinError(ErrorKind.INVALID, f"{name} must be a whole number above 0")
    return filters


async def _json_body(request: Request) -> dict[str, Any]:
    """The body's JSON object ({} when there is no body); anything else is a 400, never a silent default."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise TwinError(ErrorKind.INVALID, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise TwinError(ErrorKind.INVALID, "the body must be a JSON object")
    return body


def _error(error: TwinError) -> Response:
    return JSONResponse(dict(plain_error(error)), status_code=error.status_code)
