"""Serving an app in this process: `apitwin serve` in the foreground, and a background server for commands and
tests that talk to a twin over real HTTP."""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class PortUnavailable(Exception):
    """The address cannot be listened on (a port in use, a privileged port, an unknown host)."""


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on host:port. Bound here, not by uvicorn, so that a busy port is an error we can word
    (uvicorn logs the OS error and exits) and is found before the app spends a second being built."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortUnavailable(f"port {port} on {host} is already in use") from None
        raise PortUnavailable(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def serve_forever(app: Any, listening: socket.socket, on_started: Callable[[], None]) -> None:
    """Serve an ASGI app on a listening socket until interrupted; `on_started` runs once it accepts requests."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", workers=1))
    original_startup = server.startup

    async def startup(sockets: list[socket.socket] | None = None) -> None:
        await original_startup(sockets)
        on_started()

    server.startup = startup  # type: ignore[method-assign]
    server.run(sockets=[listening])


@contextmanager
def serve_in_background(app: Any) -> Iterator[str]:
    """Serve an ASGI app on 127.0.0.1 on a free port, in a daemon thread; yields its origin."""
    import uvicorn

    # No websockets (uvicorn's websockets support warns on import) and no lifespan: the apps need neither.
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", ws="none", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="apitwin-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def local_twin(api: str, *, validate_responses: bool = True) -> Iterator[tuple[str, str]]:
    """A twin for one run (in memory, fixtures just loaded, no rate limit so generated traffic never meets
    429), served at its real base path: its base URL and its first (most privileged) credential."""
    from apitwin.app import create_app, describe

    app = create_app([api], prefixed=False, validate_responses=validate_responses, rate_limits={api: None})
    runtime = app.state.runtime
    with serve_in_background(app) as origin:
        yield describe(runtime, origin)["twins"][0]["base_url"], runtime.twins[api].credentials()[0]["credential"]
