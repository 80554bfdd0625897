"""Shared fixtures: an app with freshly seeded in-memory state for every test.

Building an app takes 0.2 s to a second (every operation of every twin's spec), so each test module builds one
app per set of arguments and hands it to each test as new again (`Runtime.reset_as_new`). A test that needs an
app of its own is marked `fresh_app`; an app over a store, a store file or the test's own clock is never shared.

`make test` runs the suite on two pytest-xdist workers. A test whose verdict depends on the machine's speed (a
server must answer within a second while it works, so many writes must land in 0.8 s) is marked `alone`: under
xdist it waits for the other worker's test to end, and the other worker waits for it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Generator, Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from apitwin.app import create_app
from apitwin.runtime import Runtime
from apitwin.twins import Twin, select

# options that hand the app an object the test owns (its state is the test's, not fixtures')
_NEVER_SHARED = frozenset({"data", "store", "clock"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fresh_app: make_client builds a new app instead of reusing the module's")
    config.addinivalue_line("markers", "alone: under pytest-xdist, no other worker runs a test meanwhile")
    if not config.pluginmanager.hasplugin("xdist"):
        return
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        config.pluginmanager.register(_AloneLocks(), "apitwin-alone-locks")
    elif _LOCKS in workerinput:
        config.pluginmanager.register(_Alone(Path(workerinput[_LOCKS])), "apitwin-alone")


# The two longest tests (the Automation twins' contract runs, minutes each): under xdist's worksteal, which hands
# each worker a contiguous half of the collection, one starts each half, so they run side by side, not one after
# the other on the same worker.
_LONGEST = (
    "tests/contract/test_check.py::test_twin_passes_every_check_and_exercises_every_operation[opendatasoft]",
    "tests/contract/test_check.py::test_twin_passes_every_check_and_exercises_every_operation[huwise]",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if getattr(config, "workerinput", None) is None:  # only xdist's workers split the collection so
        return
    longest = [item for name in _LONGEST for item in items if item.nodeid == name]
    if len(longest) != len(_LONGEST):  # a selection without them
        return
    rest = [item for item in items if item not in longest]
    half = len(rest) // 2
    items[:] = [longest[0], *rest[:half], longest[1], *rest[half:]]


_LOCKS = "apitwin_alone_locks"  # the folder of the lock files, handed by the controller to its workers


class _AloneLocks:
    """The xdist controller's part: a folder for the workers' lock files, removed when the run ends."""

    def __init__(self) -> None:
        self.folder: str | None = None

    def pytest_configure_node(self, node: Any) -> None:
        if self.folder is None:
            self.folder = tempfile.mkdtemp(prefix="apitwin-tests-")
        node.workerinput[_LOCKS] = self.folder

    def pytest_unconfigure(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


class _Alone:
    """A worker's part: a readers-writer lock over two files all workers open. Every test holds `running` shared,
    an `alone` test holds it exclusively; `gate` makes a waiting `alone` test go before the others' next tests."""

    def __init__(self, folder: Path) -> None:
        self.gate: IO[bytes] = open(folder / "gate", "ab")  # open for the worker's life
        self.running: IO[bytes] = open(folder / "running", "ab")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, object, object]:
        import fcntl

        alone = item.get_closest_marker("alone") is not None
        fcntl.flock(self.gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(self.running, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        except BaseException:
            fcntl.flock(self.gate, fcntl.LOCK_UN)
            raise
        if not alone:
            fcntl.flock(self.gate, fcntl.LOCK_UN)
        try:
            return (yield)
        finally:
            fcntl.flock(self.running, fcntl.LOCK_UN)
            if alone:
                fcntl.flock(self.gate, fcntl.LOCK_UN)

    def pytest_unconfigure(self) -> None:
        self.gate.close()
        self.running.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of this test session's own (skips where there is no binary); give each test a namespace
    of its own on it."""
    from tests.support.redis_server import redis_server

    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@dataclass
class _Shared:
    twins: list[Twin]  # the records it was built from: a test may swap a registry record for its own
    app: Starlette
    handed_out: bool = False


@pytest.fixture(scope="module")
def _shared_apps() -> dict[Hashable, _Shared]:
    """The module's apps, by create_app's arguments."""
    return {}


@pytest.fixture
def make_client(
    request: pytest.FixtureRequest, _shared_apps: dict[Hashable, _Shared]
) -> Iterator[Callable[..., TestClient]]:
    """Build a client over an app in its fixtures' state; keyword arguments go to create_app."""
    clients: list[TestClient] = []
    used: set[Hashable] = set()
    fresh = request.node.get_closest_marker("fresh_app") is not None

    def build(*twins: str, **options: Any) -> TestClient:
        options.setdefault("validate_responses", True)  # a handler bug must fail the test, not reach clients
        key = None if fresh else _key(twins, options)
        if key is not None and key in used:
            key = None  # a second client of the same test is a second app, independent of the first
        app = _shared(_shared_apps, key, twins, options) if key is not None else _build(twins, options)
        if key is not None:
            used.add(key)
        # localhost, as a client on this machine names the server (the app refuses Hosts it does not serve)
        client = TestClient(app, base_url="http://localhost", raise_server_exceptions=True)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


def _build(twins: tuple[str, ...], options: dict[str, Any]) -> Starlette:
    return create_app(list(twins), prefixed=True, **options)


def _key(twins: tuple[str, ...], options: dict[str, Any]) -> Hashable | None:
    """What identifies an app to share, or None when it may not be shared (or its options cannot be compared)."""
    if _NEVER_SHARED & options.keys():
        return None
    try:
        # a mapping (rate_limits={"datascale": RateLimit(2, 60)}) by its items, so equal ones share an app too
        values = {k: ("items", tuple(sorted(v.items()))) if isinstance(v, dict) else v for k, v in options.items()}
        key = (twins, tuple(sorted(values.items())))
        hash(key)
    except TypeError:
        return None
    return key


def _shared(apps: dict[Hashable, _Shared], key: Hashable, twins: tuple[str, ...], options: dict[str, Any]) -> Starlette:
    records = select(list(twins))
    shared = apps.get(key)
    # the same registry records, by identity (a test may put its own in); kept alive, so their ids are unique
    if shared is None or [id(t) for t in shared.twins] != [id(t) for t in records]:
        shared = apps[key] = _Shared(records, _build(twins, options))
    elif shared.handed_out:
        runtime_of_app(shared.app).reset_as_new()
    shared.handed_out = True
    return shared.app


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def runtime_of_app(app: Any) -> Runtime:
    assert isinstance(app, Starlette)
    runtime = app.state.runtime
    assert isinstance(runtime, Runtime)
    return runtime


def runtime_of(client: TestClient) -> Runtime:
    return runtime_of_app(client.app)


def credential(client: TestClient, twin: str, name: str) -> str:
    """A credential of the twin's fixtures, by its name (admin, developer, viewer, revoked, ci-...)."""
    for record in runtime_of(client).twins[twin].credentials():
        if record["name"] == name or record.get("role") == name:
            return str(record["credential"])
    raise KeyError(name)
