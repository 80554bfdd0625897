"""A twin in its own process playing the real deployment for `apitwin drift`, optionally altered on purpose so
drift has something to find. Prints its base URL on stdout once it listens, then serves until killed:

    python -m tests.support.altered_twin --port 0 --api datascaphe --alter not-found-400

Alterations (applied by patching inside this process only):
    none              faithful: the twin as shipped
    not-found-400     an unknown id answers 400 instead of 404
    error-shape       every error body is {"error": message} instead of the API's own shape
    refresh-message   the Datascaphe refresh answers {"message": "Report refreshed successfully"}, without `report`
"""

from __future__ import annotations

import argparse
import dataclasses
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import apitwin.twins
from apitwin.app import create_app
from apitwin.behaviours import Behaviour
from apitwin.engine import OperationContext, Reply
from apitwin.errors import TwinError

ALTERATIONS = ("none", "not-found-400", "error-shape", "refresh-message")
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def running(alteration: str, api: str = "datascaphe") -> Iterator[str]:
    """Run this script in a child process for the duration: yields the altered twin's base URL."""
    command = [sys.executable, "-m", "tests.support.altered_twin", "--port", "0", "--api", api, "--alter", alteration]
    with (
        tempfile.TemporaryFile() as errors,
        subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=errors, text=True) as process,
    ):
        try:
            assert process.stdout is not None
            base_url = process.stdout.readline().strip()  # the script's only output
            if not base_url.startswith("http://"):
                errors.seek(0)
                raise RuntimeError(f"the altered twin did not start:\n{errors.read().decode(errors='replace')}")
            yield base_url
        finally:
            process.kill()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api", default="datascaphe", choices=sorted(apitwin.twins.TWINS))
    parser.add_argument("--alter", default="none", choices=ALTERATIONS)
    options = parser.parse_args(argv)

    if options.alter == "error-shape":
        _replace_error_shape(options.api, lambda error: {"error": error.message})
    if options.alter == "refresh-message":
        _wrap_behaviour(options.api, "refreshReport", _drop_report)
    app: ASGIApp = create_app([options.api], prefixed=False, rate_limits={options.api: None})
    if options.alter == "not-found-400":
        app = _NotFoundAs400(app)

    # Bound before serving, so the port (0: any free one) is known and printed before the first request; listening
    # before it is printed, so a request sent at once waits in the backlog for uvicorn instead of being refused.
    listener = socket.socket()
    listener.bind(("127.0.0.1", options.port))
    listener.listen(128)
    port = listener.getsockname()[1]
    print(f"http://127.0.0.1:{port}{apitwin.twins.TWINS[options.api].base_path}", flush=True)  # noqa: T201
    config = uvicorn.Config(app, log_level="error", ws="none", lifespan="off")
    uvicorn.Server(config).run(sockets=[listener])


def _replace_error_shape(api: str, shape: Callable[[TwinError], Mapping[str, Any]]) -> None:
    # create_app reads the registry when it builds the app: a changed record is all it takes
    twins = dict(apitwin.twins.TWINS)
    twins[api] = dataclasses.replace(twins[api], error_shape=shape)
    apitwin.twins.TWINS = twins


def _wrap_behaviour(api: str, operation_id: str, change: Callable[[Reply], Reply]) -> None:
    registry = apitwin.twins.TWINS[api].behaviours()
    original = registry.get(operation_id)
    assert original is not None, operation_id
    lookup = registry.get

    def altered(ctx: OperationContext) -> Reply:
        reply = original(ctx)
        assert isinstance(reply, Reply)  # the behaviours altered here are synchronous
        return change(reply)

    def get(name: str) -> Behaviour | None:
        return altered if name == operation_id else lookup(name)

    registry.get = get  # type: ignore[method-assign,assignment]


def _drop_report(reply: Reply) -> Reply:
    return dataclasses.replace(reply, body={"message": "Report refreshed successfully"})


class _NotFoundAs400:
    """Answers 400 wherever the twin answers 404 (on the twin's own paths, that is an unknown id)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_altered(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 404:
                message = {**message, "status": 400}
            await send(message)

        await self.app(scope, receive, send_altered)


if __name__ == "__main__":
    main(sys.argv[1:])
