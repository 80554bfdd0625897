"""Serving an app in this process: `apitwin serve` in the foreground (or from several worker processes), and a
background server for commands and tests that talk to a twin over real HTTP."""

from __future__ import annotations

import errno
import multiprocessing
import os
import queue
import signal
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


HEADER_SECONDS = 10.0  # a client gets this long to send a request's headers (slow clients hold a connection)
MAX_CONNECTIONS = 1000  # beyond, uvicorn answers 503 at once instead of queueing without bound


def serve_forever(app: Any, listening: socket.socket, on_started: Callable[[], None]) -> None:
    """Serve an ASGI app on a listening socket until interrupted; `on_started` runs once it accepts requests."""
    import uvicorn

    config = uvicorn.Config(
        app, log_level="warning", workers=1, limit_concurrency=MAX_CONNECTIONS, http=_header_timeout_protocol()
    )
    server = uvicorn.Server(config)
    original_startup = server.startup

    async def startup(sockets: list[socket.socket] | None = None) -> None:
        await original_startup(sockets)
        on_started()

    server.startup = startup  # type: ignore[method-assign]
    server.run(sockets=[listening])


MAX_RESTART_PAUSE = 30.0  # seconds at most between two starts of a worker that keeps dying
WORKER_START_SECONDS = 120.0  # for a worker to build its app (about a second each, with every twin)


def serve_workers(
    build_app: Callable[[], Any],
    report: Callable[[Any], str],
    workers: int,
    listening: socket.socket,
    on_started: Callable[[str], None],
) -> None:
    """Serve from `workers` processes sharing one listening socket (the kernel hands each connection to one of
    them), until SIGINT or SIGTERM. Each builds its own app with `build_app`; once every one serves, `on_started`
    gets what `report` said of the first one's app. A worker that dies (kill -9, say) is started again.

    Our own supervisor rather than uvicorn's: each worker serves as `serve_forever` does (the header deadline's
    protocol is a class made at run time, which uvicorn's config cannot carry to a spawned worker), the parent
    learns when each worker's app is built, and uvicorn's supervisor is no public interface. `build_app` and
    `report` travel to the workers by pickle: module-level functions, or partials of them."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads or connections forked
    ready: Any = context.Queue()
    stopping = threading.Event()

    def start() -> multiprocessing.process.BaseProcess:
        # this process's pid, not the worker's getppid(): a parent killed while the worker starts up is then seen
        args = (build_app, report, listening, ready, os.getpid())
        process = context.Process(target=_worker, args=args, daemon=True)
        process.start()
        return process

    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
    processes = [start() for _ in range(workers)]
    try:
        reports: list[str] = []
        deadline = time.monotonic() + WORKER_START_SECONDS
        while len(reports) < workers:
            if stopping.is_set():
                return
            failed = [p.exitcode for p in processes if p.exitcode is not None]
            if failed or time.monotonic() > deadline:
                raise RuntimeError(f"a worker did not start (exit code {failed[0] if failed else 'none yet'})")
            try:
                reports.append(ready.get(timeout=0.2))
            except queue.Empty:
                continue
        on_started(reports[0])
        # a worker that keeps dying (Redis gone) is started again later and later, not five times a second
        pause, restart_at = [0.0] * workers, [0.0] * workers
        while not stopping.wait(0.2):
            for index, process in enumerate(processes):
                if process.is_alive():
                    pause[index] = max(0.0, pause[index] - 0.2)  # serving again: the pause wears off
                elif time.monotonic() >= restart_at[index]:
                    processes[index] = start()
                    pause[index] = min(max(2 * pause[index], 0.2), MAX_RESTART_PAUSE)
                    restart_at[index] = time.monotonic() + pause[index]
            while not ready.empty():  # a restarted worker's report: read, so its sender never waits to exit
                ready.get()
    except KeyboardInterrupt:
        pass  # Ctrl-C: the workers got the SIGINT too, and stop by themselves
    finally:
        signal.signal(signal.SIGTERM, previous)
        for process in processes:
            if process.is_alive():
                process.terminate()  # uvicorn's graceful stop (the store closes in the app's lifespan)
        for process in processes:
            process.join(timeout=15)
            if process.is_alive():
                process.kill()
                process.join()


def _worker(
    build_app: Callable[[], Any], report: Callable[[Any], str], listening: socket.socket, ready: Any, parent: int
) -> None:
    threading.Thread(target=_stop_with, args=(parent,), name="apitwin-parent-watch", daemon=True).start()
    app = build_app()
    serve_forever(app, listening, on_started=lambda: ready.put(report(app)))


def _stop_with(parent: int) -> None:
    """Stop this worker (gracefully, as uvicorn stops on SIGTERM) once its parent is gone: killed with -9, it
    could not stop its workers, which would go on serving the port with no supervisor."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)


def _header_timeout_protocol() -> Any:
    """uvicorn's httptools protocol, with a deadline for the headers of each request: uvicorn times out only
    idle keep-alive connections, so a client that connects and sends nothing (or a byte a minute) would hold
    its connection, and with enough of them the server, for ever. "auto" when httptools is not installed."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return "auto"

    class HeaderDeadlineProtocol(HttpToolsProtocol):
        _deadline: Any = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(HEADER_SECONDS, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if self.cycle is None or self.cycle.response_complete:  # no request of its is being answered
                self.transport.close()

    return HeaderDeadlineProtocol


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
