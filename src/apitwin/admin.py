"""The control plane for tests and CI, under /__apitwin: health, reset, snapshots, faults and the virtual clock.
Answers in apitwin's own JSON (`{"error", "message"}` on failure), never in a twin's format."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from apitwin.errors import ErrorKind, TwinError, plain_error
from apitwin.faults import rule_from_json
from apitwin.runtime import Runtime
from apitwin.store import StoreError

PREFIX = "/__apitwin"


def admin_routes(runtime: Runtime) -> list[Route]:
    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "twins": sorted(runtime.twins)})

    async def reset_all(request: Request) -> Response:
        runtime.reset()
        runtime.faults.clear()  # a fresh start for the next test: no leftover injected faults
        return JSONResponse({"reset": sorted(runtime.twins)})

    async def reset_one(request: Request) -> Response:
        name = request.path_params["twin"]
        if name not in runtime.twins:
            return _error(TwinError(ErrorKind.NOT_FOUND, f"no twin named {name!r}; serving {sorted(runtime.twins)}"))
        runtime.reset(name)
        return JSONResponse({"reset": [name]})

    async def list_snapshots(request: Request) -> Response:
        return JSONResponse({"snapshots": runtime.store.snapshots()})

    async def save_snapshot(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            runtime.store.save_snapshot(name)
        except StoreError as exc:
            return _error(TwinError(ErrorKind.INVALID, str(exc)))
        return JSONResponse({"saved": name}, status_code=201)

    async def restore_snapshot(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            runtime.store.restore_snapshot(name)
        except StoreError as exc:
            return _error(TwinError(ErrorKind.NOT_FOUND, str(exc)))
        for live in runtime.twins.values():
            live.limiter.reset()
        return JSONResponse({"restored": name})

    async def delete_snapshot(request: Request) -> Response:
        try:
            runtime.store.delete_snapshot(request.path_params["name"])
        except StoreError as exc:
            return _error(TwinError(ErrorKind.NOT_FOUND, str(exc)))
        return Response(status_code=204)

    async def list_faults(request: Request) -> Response:
        return JSONResponse({"faults": [rule.view() for rule in runtime.faults.rules()]})

    async def add_fault(request: Request) -> Response:
        operations = {name: live.model.routes for name, live in runtime.twins.items()}
        try:
            rule = runtime.faults.add(rule_from_json(await _json_body(request), operations))
        except TwinError as exc:
            return _error(exc)
        return JSONResponse(rule.view(), status_code=201)

    async def delete_fault(request: Request) -> Response:
        try:
            rule_id = int(request.path_params["rule"])
        except ValueError:
            rule_id = -1
        if not runtime.faults.delete(rule_id):
            return _error(TwinError(ErrorKind.NOT_FOUND, f"no fault rule {request.path_params['rule']}"))
        return Response(status_code=204)

    async def clear_faults(request: Request) -> Response:
        runtime.faults.clear()
        return Response(status_code=204)

    async def clock(request: Request) -> Response:
        return JSONResponse(runtime.clock.state())

    async def advance(request: Request) -> Response:
        body = await _json_body(request)
        seconds = body.get("seconds") if isinstance(body, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            return _error(TwinError(ErrorKind.INVALID, 'send {"seconds": N} with N >= 0'))
        runtime.clock.advance(float(seconds))
        return JSONResponse(runtime.clock.state())

    async def freeze(request: Request) -> Response:
        body = await _json_body(request)
        at = body.get("at") if isinstance(body, dict) else None
        moment = None
        if at is not None:
            try:
                moment = datetime.fromisoformat(str(at))
                if moment.tzinfo is None:
                    raise ValueError
            except ValueError:
                return _error(TwinError(ErrorKind.INVALID, '"at" must be an ISO 8601 instant with a zone'))
        runtime.clock.freeze(moment)
        return JSONResponse(runtime.clock.state())

    async def resume(request: Request) -> Response:
        runtime.clock.resume()
        return JSONResponse(runtime.clock.state())

    async def real_time(request: Request) -> Response:
        runtime.clock.reset()
        return JSONResponse(runtime.clock.state())

    return [
        Route(f"{PREFIX}/health", health, methods=["GET"]),
        Route(f"{PREFIX}/reset", reset_all, methods=["POST"]),
        Route(f"{PREFIX}/reset/{{twin}}", reset_one, methods=["POST"]),
        Route(f"{PREFIX}/snapshots", list_snapshots, methods=["GET"]),
        Route(f"{PREFIX}/snapshots/{{name}}", save_snapshot, methods=["PUT"]),
        Route(f"{PREFIX}/snapshots/{{name}}", delete_snapshot, methods=["DELETE"]),
        Route(f"{PREFIX}/snapshots/{{name}}/restore", restore_snapshot, methods=["POST"]),
        Route(f"{PREFIX}/faults", list_faults, methods=["GET"]),
        Route(f"{PREFIX}/faults", add_fault, methods=["POST"]),
        Route(f"{PREFIX}/faults", clear_faults, methods=["DELETE"]),
        Route(f"{PREFIX}/faults/{{rule}}", delete_fault, methods=["DELETE"]),
        Route(f"{PREFIX}/clock", clock, methods=["GET"]),
        Route(f"{PREFIX}/clock/advance", advance, methods=["POST"]),
        Route(f"{PREFIX}/clock/freeze", freeze, methods=["POST"]),
        Route(f"{PREFIX}/clock/resume", resume, methods=["POST"]),
        Route(f"{PREFIX}/clock/reset", real_time, methods=["POST"]),
    ]


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def _error(error: TwinError) -> Response:
    return JSONResponse(dict(plain_error(error)), status_code=error.status_code)
