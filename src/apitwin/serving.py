"""Serving an app in this process, for commands and tests that talk to a twin over real HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


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
