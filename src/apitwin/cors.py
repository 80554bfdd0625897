"""CORS on the twins, permissive as Prism is by default, so a browser app served from another origin can call
them: preflights are answered here, before auth, rate limits and validation (a browser sends no credential
with a preflight and must not spend the rate limit on it), and every answer says which origin may read it
and which of its headers. The control plane is deliberately not covered (`applies_to`)."""

from __future__ import annotations

import functools
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apitwin.access import header

MAX_AGE_SECONDS = 600
# What a browser lets a script read without being told (the CORS-safelisted response headers).
_READABLE_ANYWAY = frozenset(
    {"cache-control", "content-language", "content-length", "content-type", "expires", "last-modified", "pragma"}
)


class CorsForTwins:
    """ASGI middleware: CORS for the requests whose path `applies_to` says is a twin's."""

    def __init__(self, app: ASGIApp, *, applies_to: Callable[[str], bool]) -> None:
        self.app = app
        self.applies_to = applies_to

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.applies_to(scope["path"]):
            await self.app(scope, receive, send)
            return
        origin = header(scope, b"origin")
        if scope["method"] == "OPTIONS" and origin:
            request_headers = Headers(scope=scope)
            if "access-control-request-method" in request_headers:
                await _preflight(origin, request_headers)(scope, receive, send)
                return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": _with_cors(message.get("headers", []), origin)}
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _with_cors(raw: list[tuple[bytes, bytes]], origin: str | None) -> list[tuple[bytes, bytes]]:
    """An answer's headers (ASGI: lower-case names) with the CORS ones set, each replacing any of its name. On
    the raw list: the headers classes rescan the whole list for every header they set."""
    names = tuple(name for name, _ in raw)
    vary = next((value for name, value in raw if name == b"vary"), None)
    added = _cors_headers(names, vary, origin)
    kept = [(name, value) for name, value in raw if name not in added]
    return [*kept, *added.items()]


@functools.lru_cache(maxsize=1024)  # answers carry a few sets of header names; origins are the clients': bounded
def _cors_headers(names: tuple[bytes, ...], vary: bytes | None, origin: str | None) -> dict[bytes, bytes]:
    """The CORS headers for an answer with these header names (and Vary value), to a request from `origin`."""
    shown = [name.decode("latin-1") for name in names]
    exposed = sorted(name for name in shown if name not in _READABLE_ANYWAY and not name.startswith("access-control-"))
    # The origin echoed rather than "*": a browser refuses "*" on a request sent with credentials.
    added = {b"access-control-allow-origin": origin or "*"}
    if origin:
        added[b"access-control-allow-credentials"] = "true"
    added[b"vary"] = "Origin" if vary is None else f"{vary.decode('latin-1')}, Origin"
    if exposed:
        added[b"access-control-expose-headers"] = ", ".join(exposed)
    return {name: value.encode("latin-1") for name, value in added.items()}


def _preflight(origin: str, request_headers: Headers) -> Response:
    """Whatever the browser asks to send is allowed: the twin itself then answers the real request (a 405 or
    401 the client can read is more use than a CORS failure it cannot)."""
    headers = {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Methods": request_headers["access-control-request-method"],
        "Access-Control-Max-Age": str(MAX_AGE_SECONDS),
        "Vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
    }
    if "access-control-request-headers" in request_headers:
        headers["Access-Control-Allow-Headers"] = request_headers["access-control-request-headers"]
    return Response(status_code=204, headers=headers)
