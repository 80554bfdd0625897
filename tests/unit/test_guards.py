"""The body guard: hostile bodies are a 400 or 413 before any handler runs; good bodies pass through intact."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Scope

from apitwin.errors import TwinError, plain_error
from apitwin.guards import MAX_JSON_DEPTH, BodyGuard, check_json_body, declared_media_type


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"a": NaN}', "NaN is not a JSON number"),
        (b'{"a": -Infinity}', "-Infinity is not a JSON number"),
        (b'{"a": 1e999}', "out of range"),
        (b'{"a": ' + b"9" * 5000 + b"}", "too large"),
        (b'{"a": ' + b"9" * 101 + b"}", "too large"),
        (b'{"name": "x\\ud800"}', "lone surrogate"),
        (b'{"x\\udfff": 1}', "lone surrogate"),
        (b"[" * (MAX_JSON_DEPTH + 2) + b"]" * (MAX_JSON_DEPTH + 2), "nested deeper"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
        (b'{"a": "\xff"}', "not valid UTF-8"),
        (b"[" + b"0," * 100_000 + b"0]", "an array of 100001 entries"),
    ],
)
def test_hostile_json_is_refused_with_a_reason(body: bytes, fragment: str) -> None:
    with pytest.raises(TwinError) as refused:
        check_json_body(body)
    assert refused.value.status_code == 400 and fragment in refused.value.message


@pytest.mark.parametrize(
    "body",
    [b'{"a": 1.5, "b": [1, 2, {"c": "\\u00e9\\ud83d\\ude00"}], "d": -' + b"9" * 100 + b"}", b"not json", b"[]"],
)
def test_ordinary_json_and_non_json_pass(body: bytes) -> None:
    check_json_body(body)  # non-JSON is connexion's to refuse, in the API's own words


def _guarded(limit: int) -> TestClient:
    async def echo(request: Request) -> Response:
        return Response(await request.body(), media_type="application/octet-stream")

    def respond(scope: Scope, error: TwinError) -> Response:
        return JSONResponse(dict(plain_error(error)), status_code=error.status_code)

    def media_type_of(scope: Scope, body: bytes) -> str | None:
        return declared_media_type(scope) or "application/json"  # like a twin that takes untyped JSON

    app = Starlette(routes=[Route("/echo", echo, methods=["POST"])])
    return TestClient(BodyGuard(app, respond, media_type_of, max_body_bytes=limit))


def test_the_guard_hands_on_the_body_it_read() -> None:
    body = json.dumps({"a": [1, 2, 3], "text": "é"}).encode()
    answer = _guarded(1024).post("/echo", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 200 and answer.content == body


def test_a_body_over_the_limit_is_413_whether_declared_or_streamed() -> None:
    client = _guarded(1024)
    declared = client.post("/echo", content=b"x" * 2048, headers={"content-type": "text/plain"})
    assert declared.status_code == 413 and declared.json()["error"] == "too_large"

    def chunks() -> Any:  # no Content-Length: counted as it arrives
        for _ in range(4):
            yield b"x" * 512

    streamed = client.post("/echo", content=chunks(), headers={"content-type": "text/plain"})
    assert streamed.status_code == 413


def test_hostile_json_never_reaches_the_app() -> None:
    answer = _guarded(1024).post("/echo", content=b'{"a": NaN}', headers={"content-type": "application/json"})
    assert answer.status_code == 400 and "NaN" in answer.json()["message"]
    plain = _guarded(1024).post("/echo", content=b'{"a": NaN}', headers={"content-type": "text/plain"})
    assert plain.status_code == 200  # only bodies the app reads as JSON are checked as JSON
    untyped = _guarded(1024).post("/echo", content=b'{"a": NaN}', headers={"content-type": ""})
    assert untyped.status_code == 400  # read as JSON, so checked as JSON
