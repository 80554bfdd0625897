"""Who may reach the server, and the control plane in particular.

The control plane can reset state, inject faults and read every credential, and a twin serves credentials
that are published with apitwin. So:
- every request must name a host the server serves in its Host header: the loopback names, plus those given
  (`--allowed-host`). A page on another site that rebinds its DNS name to 127.0.0.1 sends its own name, and
  is refused (DNS rebinding);
- the control plane takes no cross-origin request (an `Origin` other than the server's own, or a browser's
  `Sec-Fetch-Site: cross-site`), and a body only as `application/json`: a page's form or `text/plain` POST,
  which a browser sends without asking first, cannot reach it;
- with an admin token (required when listening beyond loopback), the control plane wants it in
  `Authorization: Bearer <token>` or `X-Apitwin-Token`, and the index shows credentials only to loopback
  callers or token holders.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from apitwin.errors import ErrorKind, TwinError

TOKEN_HEADER = "x-apitwin-token"
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


@functools.lru_cache(maxsize=1024)  # asked on every request, of a handful of names (bounded: they are the clients')
def is_loopback(host: str) -> bool:
    """Whether a host name or address (no port) is this machine's loopback."""
    name = host.strip("[]").lower().rstrip(".")
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@functools.lru_cache(maxsize=1024)
def _host_of(authority: str) -> str:
    """The host of a Host header value or URL authority, without its port."""
    return (urlsplit(f"//{authority}").hostname or "").lower()


@dataclass(frozen=True)
class Access:
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)  # beyond loopback; "*" means any
    admin_token: str | None = None

    @classmethod
    def of(cls, allowed_hosts: Iterable[str] = (), admin_token: str | None = None) -> Access:
        return cls(frozenset(host.strip().lower() for host in allowed_hosts if host.strip()), admin_token or None)

    def serves_host(self, host_header: str | None) -> bool:
        host = _host_of(host_header or "")
        return bool(host) and ("*" in self.allowed_hosts or is_loopback(host) or host in self.allowed_hosts)

    def holds_token(self, headers: dict[str, str]) -> bool:
        if self.admin_token is None:
            return False
        given = headers.get(TOKEN_HEADER) or headers.get("authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), self.admin_token.encode())

    def control_plane_refusal(self, method: str, headers: dict[str, str], has_body: bool) -> TwinError | None:
        """Why a control-plane request is refused, if it is (`headers` with lower-case names)."""
        if self.admin_token is not None and not self.holds_token(headers):
            return TwinError(
                ErrorKind.UNAUTHENTICATED,
                f"the control plane wants the admin token: send Authorization: Bearer <token> or {TOKEN_HEADER}",
            )
        origin = headers.get("origin")
        if origin is not None and (origin == "null" or _host_port(origin) != _host_port(headers.get("host", ""))):
            return TwinError(ErrorKind.FORBIDDEN, f"the control plane takes no cross-origin request (Origin {origin})")
        if headers.get("sec-fetch-site") in ("cross-site", "same-site"):
            return TwinError(ErrorKind.FORBIDDEN, "the control plane takes no cross-site request")
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if has_body and media_type != "application/json":
            return TwinError(
                ErrorKind.UNSUPPORTED_MEDIA_TYPE,
                f"the control plane takes JSON bodies only (application/json, not {media_type or 'none'})",
            )
        return None


def _host_port(value: str) -> tuple[str, int | None]:
    """(host, port) of an Origin or a Host header value (which has no scheme: plain HTTP is assumed)."""
    parts = urlsplit(value if "//" in value else f"http://{value}")
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:  # a port that is no number
        return "", None
    return (parts.hostname or "").lower(), port


def header(scope: Scope, name: bytes) -> str | None:
    """The request's first header of this (lower-case) name, as starlette's `Headers.get` finds it; None if absent."""
    key: bytes
    value: bytes
    for key, value in scope["headers"]:  # a loop: a generator's set-up costs more than most lists of headers
        if key == name:
            return value.decode("latin-1")
    return None


def host_header(scope: Scope) -> str | None:
    """The request's Host header, if it sent one."""
    return header(scope, b"host")


class HostGuard:
    """ASGI middleware: a request whose Host is not served here is answered 403 (in the shape `respond`
    gives for its path) before anything else happens."""

    def __init__(self, app: ASGIApp, access: Access, respond: Callable[[Scope, TwinError], Response]) -> None:
        self.app = app
        self.access = access
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = host_header(scope)
            if not self.access.serves_host(host):
                error = TwinError(
                    ErrorKind.FORBIDDEN,
                    f"Host {host or '(none)'} is not served here; to serve it: apitwin serve --allowed-host "
                    f"{_host_of(host or '') or 'NAME'}",
                )
                await self.respond(scope, error)(scope, receive, send)
                return
        await self.app(scope, receive, send)
