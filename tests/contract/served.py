"""Helpers for running `run_check` against twins served in a thread, sometimes behind a test middleware."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from apitwin.app import create_app
from apitwin.contract import run_check
from apitwin.reports import RunStats, read_events
from apitwin.serving import serve_in_background

ASGIApp = Callable[..., Any]


@contextmanager
def served_twin(
    api: str, wrap: Callable[[ASGIApp], ASGIApp] | None = None, **options: Any
) -> Iterator[tuple[str, str]]:
    """A fresh twin at its real base path, optionally wrapped: its base URL and most privileged credential."""
    app = create_app([api], prefixed=False, **options)
    live = app.state.runtime.twins[api]
    with serve_in_background(wrap(app) if wrap else app) as origin:
        yield origin + live.mount_path, str(live.credentials()[0]["credential"])


def check(api: str, tmp_path: Path, **options: Any) -> tuple[int, str, RunStats]:
    """run_check with its output captured and its NDJSON events read back."""
    output: list[str] = []
    events = tmp_path / "events.ndjson"
    code = run_check(api, ndjson=events, echo=lambda line="", **_: output.append(str(line)), **options)
    return code, "\n".join(output), read_events(events)


def exercised(stats: RunStats) -> set[str]:
    """Labels ("GET /report/{id}") of the operations that received at least one request."""
    return {label for label, operation in stats.operations.items() if operation.requests}


def summary_rows(output: str) -> dict[str, str]:
    """The rows of the summary table apitwin prints after Schemathesis' output, by operationId."""
    lines = output.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("operation ") and "requests" in line)
    rows = {}
    for line in lines[start + 2 :]:
        if line.startswith(("apitwin", "(+")) or not line.strip():
            break
        rows[line.split()[0]] = line
    return rows


class Recording:
    """Passes every request through, counting HTTP methods."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.methods: Counter[str] = Counter()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.methods[scope["method"]] += 1
        await self.app(scope, receive, send)


class Throttling:
    """Answers every other request with 429 and `Retry-After: 0`, whatever it is, like a rate limiter in front
    of an API whose spec documents no 429."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.requests = 0
        self.throttled = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.requests += 1
            if self.requests % 2 == 0:
                self.throttled += 1
                headers = [(b"retry-after", b"0"), (b"content-type", b"application/json")]
                await send({"type": "http.response.start", "status": 429, "headers": headers})
                await send({"type": "http.response.body", "body": b'{"error": "Too many requests"}'})
                return
        await self.app(scope, receive, send)


class AnsweringEverything:
    """Answers every request with one status and a small JSON body, whatever it is: a target that refuses every
    credential (401), throttles everything (429) or serves nothing at this base path (404)."""

    def __init__(self, app: ASGIApp, status: int) -> None:
        self.app = app
        self.status = status

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await send(
            {"type": "http.response.start", "status": self.status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": b'{"error": "no"}'})


class Unfindable:
    """Sends every request for an item of `collection` (e.g. /report/3, /report/3/refresh) to an id no fixture
    has, so the twin answers its own 404: an operation that is tested but never exercised."""

    def __init__(self, app: ASGIApp, base_path: str, collection: str) -> None:
        self.app = app
        self.prefix = f"{base_path}/{collection}/"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(self.prefix):
            rest = path.removeprefix(self.prefix).partition("/")[2]
            path = self.prefix + "987654321" + (f"/{rest}" if rest else "")
            scope = {**scope, "path": path, "raw_path": path.encode()}
        await self.app(scope, receive, send)
