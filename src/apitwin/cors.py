"""CORS on the twins, permissive as Prism is by default, so a browser app served from another origin can call
them: preflights are answered here, before auth, rate limits and validation (a browser sends no credential
with a preflight and must not spend the rate limit on it), and every answer says which origin may read it
and which of its headers. The control plane is deliberately not covered (`applies_to`)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
        request_headers = Headers(scope=scope)
        origin = request_headers.get("origin")
        if scope["method"] == "OPTIONS" and origin and "access-control-request-method" in request_headers:
            await _preflight(origin, request_headers)(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                exposed = sorted(
                    name for name in headers if name not in _READABLE_ANYWAY and not name.startswith("access-control-")
                )
                # The origin echoed rather than "*": a browser refuses "*" on a request sent with credentials.
                headers["Access-Control-Allow-Origin"] = origin or "*"
                if origin:
                    headers["Access-Control-Allow-Credentials"] = "true"
                headers.add_vary_header("Origin")
                if exposed:
                    headers["Access-Control-Expose-Headers"] = ", ".join(exposed)
            await send(message)

        await self.app(scope, receive, send_with_cors)


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
