"""What every request body must be before any handler sees it, so hostile input is a clear 4xx in the owning
API's shape and never a 500, a stored value that cannot be answered, or a server holding 150 MB:

- at most `max_body_bytes` (413), counted as it arrives, whatever Content-Length claims;
- when it is JSON: valid UTF-8 with no lone surrogates (`"\\ud800"` decodes to a string that cannot be
  encoded again), finite numbers (no NaN, Infinity or 1e999), integers of sane length, arrays and objects of
  bounded size and nesting of bounded depth (400). JSON Schema validation comes after, in connexion.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apitwin.errors import ErrorKind, TwinError

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_JSON_DEPTH = 64
MAX_INTEGER_DIGITS = 100  # far beyond any id, count or amount these APIs carry (2**63 has 19 digits)
MAX_ITEMS = 100_000  # entries of one array or object: far beyond any list these APIs take in one request

ErrorResponder = Callable[[Scope, TwinError], Response]


def check_json_body(body: bytes) -> None:
    """Raise TwinError (400) unless the bytes are JSON a twin can store and answer with again."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise TwinError(ErrorKind.INVALID, "The request body is not valid UTF-8") from None
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_int=_bounded_int, parse_float=_finite_float)
    except RecursionError:
        raise _too_deep() from None
    except _Refused as refused:
        raise TwinError(ErrorKind.INVALID, str(refused)) from None
    except ValueError:
        return  # not JSON at all: connexion answers that in the API's own words
    _check_value(value, 0)


class _Refused(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _Refused(f"an integer of {len(digits)} digits is too large (at most {MAX_INTEGER_DIGITS})")
    return int(digits)


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _Refused(f"{text[:40]} is out of range for a JSON number")
    return number


def _too_deep() -> TwinError:
    return TwinError(ErrorKind.INVALID, f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels")


def _check_value(value: Any, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise _too_deep()
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, dict | list) and len(value) > MAX_ITEMS:
        kind = "an object" if isinstance(value, dict) else "an array"
        raise TwinError(ErrorKind.INVALID, f"The JSON body holds {kind} of {len(value)} entries (at most {MAX_ITEMS})")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_value(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_value(item, depth + 1)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise TwinError(ErrorKind.INVALID, "The JSON body holds a lone surrogate (\\ud800-\\udfff)") from None


MediaTypeOf = Callable[[Scope, bytes], str | None]
"""The media type the app will read a body as: the declared one, or what the API takes for it (JSON sent
without a Content-Type, say)."""


def declared_media_type(scope: Scope) -> str | None:
    for name, value in scope.get("headers") or []:
        if name == b"content-type":
            return value.decode("latin-1").split(";")[0].strip().lower() or None
    return None


class BodyGuard:
    """ASGI middleware: reads the body within the limit, checks it when the app will read it as JSON, then
    hands the same bytes on, with the Content-Type the app should read them as. A refused request is answered
    by `respond(scope, error)`, in the owning API's shape."""

    def __init__(
        self,
        app: ASGIApp,
        respond: ErrorResponder,
        media_type_of: MediaTypeOf,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self.respond = respond
        self.media_type_of = media_type_of
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body, complete = await self._read(scope, receive)
            media_type = self.media_type_of(scope, body) if body else None
            if media_type and media_type.endswith("json"):
                check_json_body(body)
        except TwinError as error:
            await self.respond(scope, error)(scope, receive, send)
            return
        if media_type and media_type != declared_media_type(scope):
            kept = [(name, value) for name, value in scope["headers"] if name != b"content-type"]
            scope = {**scope, "headers": [*kept, (b"content-type", media_type.encode("latin-1"))]}
        await self.app(scope, _replay(body, complete, receive), send)

    async def _read(self, scope: Scope, receive: Receive) -> tuple[bytes, bool]:
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise self._too_large()
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks), False  # the client went away: let the app see that too
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), True

    def _too_large(self) -> TwinError:
        limit = f"{self.max_body_bytes // (1024 * 1024)} MiB" if self.max_body_bytes >= 1024 * 1024 else "the limit"
        return TwinError(ErrorKind.TOO_LARGE, f"The request body is larger than {limit}")


def _replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            if complete:
                return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: a disconnect, when it comes

    return replayed
