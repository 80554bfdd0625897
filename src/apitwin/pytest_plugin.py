"""The pytest plugin: a running twin in one line, with fresh state for every test.

Installing apitwin registers this module under pytest's `pytest11` entry point, so any suite in the same
environment gets the fixtures with no import and no conftest::

    import requests

    def test_rotate_secret(apitwin):
        dss = apitwin("datascaphe")  # real HTTP on 127.0.0.1, state fresh from the fixtures for this test
        r = requests.patch(f"{dss.base_url}/service-principal/1", json={"client_secret": "x"}, headers=dss.headers)
        assert r.status_code == 200

Fixtures:

- `apitwin` (function scope): a factory; `apitwin(name)` returns a `TwinHandle`. The first call for a
  twin in a test resets that twin to its fixtures (collections, credentials, rate-limit counters) and
  clears its fault rules and journal entries; the first local twin handed out in a test also puts the
  virtual clock back to real time. Calling it again in the same test returns the same handle without
  resetting, so a test may ask wherever it likes.
- `apitwin_server` (session scope): an `ApitwinServer` with the `origin` and the `runtime` of the one
  server behind every handle. Use it for a module- or session-scoped fixture of your own: its
  `handle(name)` hands out a twin with no reset, and isolation is then yours to manage.

Why one server per session: building the app (specs, models, connexion) takes about a second, while
resetting a twin's state from its fixtures takes about a millisecond. So the server starts once, on first
use, and serves every twin under its `/<twin>` prefix with state in memory; isolation comes from the
per-test reset instead of a new server. Only the twins a test asks for are reset, which keeps the cost
flat as twins and fixtures grow; traffic sent to a twin through `apitwin_server` without asking
`apitwin` for it is not undone. The clock is one clock shared by every twin, as in `apitwin serve`.
Under pytest-xdist each worker starts its own server.

A `TwinHandle` has `name`, `base_url`, `credential` (the first fixture credential, the most privileged),
`headers` (that credential in the API's own scheme, e.g. `{"Authorization": "Bearer ..."}`) and
`headers_for(credential)`; and, for a local twin only: `credentials` (every fixture credential record,
for 401/403 paths), `clock` (`freeze()`, `advance(seconds)`, `resume()`), `state` (the twin's
collections: `state.collection("reports").all()`), `requests` (what the twin was asked in this test),
`spec_url`, and `origin` (the server root, under which `/__apitwin` is the admin API). `is_twin` says
which kind of handle it is.

`requests` lists the twin's entries of the request journal since this test asked for the twin, **oldest
first** (the order the test sent them; `requests[-1]` is the latest), each a `JournalEntry` with `method`,
`path`, `query`, `operation_id`, `status`, `duration_ms` and `fault`: assert what your client sent, e.g.
`[r.operation_id for r in dss.requests] == ["listReports", "refreshReport"]`. (`GET /__apitwin/requests` is
latest first, as WireMock's journal; a test reads better in the order things happened.) The journal keeps
the server's last 1000 requests across every twin; no header or body is kept.

Target mode, so the same test body can run against the twin or the real service (moto's pattern)::

    APITWIN_DATASCAPHE_AUTH="$KEY" pytest --apitwin-target datascaphe=https://uplink.example.com/api/v1

The handle for that twin then carries the given base URL and the credential from
`APITWIN_<NAME>_AUTH` (the bare credential; `headers` applies the API's scheme). The twin-only
attributes cannot work against a deployment, so touching one skips the test with a reason naming the
attribute: a suite run against the real service reports which tests need the twin instead of failing
them (touch them before the test sends anything it would leave half done). Nothing is started locally
for a targeted twin; the other twins stay local.

Shared-server mode, so parallel jobs (pytest-xdist workers, several CI runners) share one `apitwin serve`::

    pytest -n 4 --apitwin-url http://localhost:8000

Nothing is started locally: every handle points at that server's twins, in a session of the run's own (the
`X-Apitwin-Session` header, see apitwin.sessions): `headers` carries it, the per-test reset, `clock` and
`requests` act on that session only over the control plane, so no run (nor worker) sees another's writes.
The session is `--apitwin-session NAME` (under xdist, `NAME-gw0`, `NAME-gw1`, ...), else a name made up per
process (`pytest-gw0-1a2b3c4d`), deleted from the server when the run ends (a name given is kept, to look at
after the run). `state` and `credentials` need the twin in this process: touching them skips the test, as
in target mode, and so does asking for `apitwin_server`. A server beyond loopback wants its admin token:
`APITWIN_ADMIN_TOKEN`, as `apitwin serve` reads it.

Options: `--apitwin-target NAME=URL` (repeatable); `--apitwin-url URL`, `--apitwin-session NAME`; ini
`apitwin_validate_responses` (default true: the twin validates its own answers against the spec, so a twin
bug surfaces as a 500 rather than as a wrong answer your test might trust). `-p no:apitwin` disables the
plugin.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from apitwin.shared import ADMIN_TOKEN_ENV, SESSION_HEADER, SharedServer, SharedServerError, made_up_session

if TYPE_CHECKING:  # the app's modules load only when a test asks for a twin: pytest start-up stays fast
    from apitwin.clock import Clock
    from apitwin.engine import TwinState
    from apitwin.journal import Journal, JournalEntry
    from apitwin.runtime import LiveTwin, Runtime
    from apitwin.twins import Twin

AUTH_ENV = "APITWIN_{name}_AUTH"


@dataclass(frozen=True)
class _LocalTwin:
    """What only a twin served by this plugin can offer."""

    origin: str
    spec_url: str
    live: LiveTwin
    journal: Journal  # the server's, shared by every twin


@dataclass(frozen=True)
class TwinHandle:
    """One twin as a test sees it: where it is, how to authenticate, and (local twins only) its levers."""

    name: str
    base_url: str
    credential: str = field(repr=False)  # a real deployment's key must not reach a CI log through a repr
    _twin: Twin = field(repr=False)  # the twin record: how this API takes a credential
    _local: _LocalTwin | None = field(default=None, repr=False, compare=False)
    _shared: _SharedTwin | None = field(default=None, repr=False, compare=False)

    @property
    def headers(self) -> dict[str, str]:
        """The headers that send `credential` (a new dict each time: add to it freely)."""
        return self.headers_for(self.credential)

    def headers_for(self, credential: str) -> dict[str, str]:
        """The headers that send another credential, e.g. a viewer's or a revoked one (on a shared server, and
        the run's session)."""
        session = {SESSION_HEADER: self._shared.server.session} if self._shared is not None else {}
        return {**self._twin.credential_header(credential), **session}

    @property
    def is_twin(self) -> bool:
        """False when `--apitwin-target` points this handle at a real deployment."""
        return self._local is not None or self._shared is not None

    @property
    def credentials(self) -> list[dict[str, Any]]:
        """Every fixture credential record (name, role or privileges, credential); the first is `credential`."""
        __tracebackhide__ = True
        return self._in_process("credentials").live.credentials()

    @property
    def clock(self) -> Clock | SharedClock:
        """The virtual clock, shared by every twin (of the session): `freeze()`, `advance(seconds)`, `resume()`."""
        __tracebackhide__ = True
        if self._shared is not None:
            return SharedClock(self._shared.server)
        return self._in_process("clock").live.state.clock

    @property
    def state(self) -> TwinState:
        """The twin's state, for assertions: `state.collection(name).all()`, `.get(id)`."""
        __tracebackhide__ = True
        return self._in_process("state").live.state

    @property
    def requests(self) -> list[JournalEntry]:
        """What the twin was asked since this test asked for it, oldest first (see the module's docstring)."""
        __tracebackhide__ = True
        if self._shared is not None:
            return self._shared.requests(self.name)
        return list(reversed(self._in_process("requests").journal.entries(twin=self.name)))

    @property
    def spec_url(self) -> str:
        __tracebackhide__ = True
        return self._shared.spec_url if self._shared is not None else self._in_process("spec_url").spec_url

    @property
    def origin(self) -> str:
        """The server root; the admin API is at `{origin}/__apitwin`."""
        __tracebackhide__ = True
        return self._shared.server.origin if self._shared is not None else self._in_process("origin").origin

    def _in_process(self, attribute: str) -> _LocalTwin:
        # Hidden frames, here and in the callers: the skip is reported at the user's line that needed the twin.
        __tracebackhide__ = True
        if self._shared is not None:
            pytest.skip(
                f"{self.name}.{attribute} needs the twin in this process; --apitwin-url serves it from "
                f"{self._shared.server.origin}"
            )
        if self._local is None:
            pytest.skip(f"{self.name}.{attribute} needs the local twin; --apitwin-target sends it to {self.base_url}")
        return self._local


TwinFactory = Callable[[str], TwinHandle]  # the `apitwin` fixture's type, for annotating tests


class _Server(Protocol):
    """What the `apitwin` fixture needs of a server: handles, and a fresh start for a twin and the clock."""

    def handle(self, name: str) -> TwinHandle: ...
    def reset(self, name: str) -> None: ...
    def reset_clock(self) -> None: ...


@dataclass(frozen=True)
class ApitwinServer:
    """The session's server: every twin under its /<twin> prefix, state in memory."""

    origin: str
    runtime: Runtime

    def reset(self, name: str) -> None:
        self.runtime.reset(name)

    def reset_clock(self) -> None:
        self.runtime.clock.reset()

    def handle(self, name: str) -> TwinHandle:
        """A handle on a served twin, as it stands: no reset (the `apitwin` fixture resets)."""
        from apitwin.app import describe

        if name not in self.runtime.twins:
            raise ValueError(f"no twin named {name!r}; apitwin serves {sorted(self.runtime.twins)}")
        served = next(twin for twin in describe(self.runtime, self.origin)["twins"] if twin["name"] == name)
        live = self.runtime.twins[name]
        return TwinHandle(
            name,
            served["base_url"],
            served["credential"],
            live.twin,
            _LocalTwin(self.origin, served["spec_url"], live, self.runtime.journal),
        )


@dataclass(frozen=True)
class _SharedTwins:
    """The `apitwin` fixture's server with `--apitwin-url`: the shared one, in the run's session."""

    server: SharedServer

    def handle(self, name: str) -> TwinHandle:
        from apitwin.twins import TWINS

        served = self.server.twin(name)
        shared = _SharedTwin(self.server, served["spec_url"])
        return TwinHandle(name, served["base_url"], served["credential"], TWINS[name], _shared=shared)

    def reset(self, name: str) -> None:
        self.server.reset(name)

    def reset_clock(self) -> None:
        self.server.control("POST", "/clock/reset")


@dataclass(frozen=True)
class _SharedTwin:
    """What a twin on a shared server offers beyond its base URL: its spec, clock and journal over HTTP."""

    server: SharedServer
    spec_url: str

    def requests(self, twin: str) -> list[JournalEntry]:
        from apitwin.journal import JournalEntry

        latest_first = self.server.control("GET", "/requests", params={"twin": twin}).json()["requests"]
        return [JournalEntry(**entry) for entry in reversed(latest_first)]


class SharedClock:
    """The virtual clock of the run's session on a shared server, through its control plane: the local `Clock`'s
    levers (`freeze(at=None, rewind=False)`, `advance(seconds)`, `resume()`, `reset()`, `now()`, `frozen`)."""

    def __init__(self, server: SharedServer) -> None:
        self._server = server

    def freeze(self, at: datetime | None = None, *, rewind: bool = False) -> None:
        body: dict[str, Any] = {"rewind": rewind} | ({"at": at.isoformat()} if at is not None else {})
        self._server.control("POST", "/clock/freeze", json=body)

    def advance(self, seconds: float) -> None:
        self._server.control("POST", "/clock/advance", json={"seconds": seconds})

    def resume(self) -> None:
        self._server.control("POST", "/clock/resume")

    def reset(self) -> None:
        self._server.control("POST", "/clock/reset")

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self._server.control("GET", "/clock").json()
        return state

    def now(self) -> datetime:
        return datetime.fromisoformat(self.state()["now"])

    @property
    def frozen(self) -> bool:
        return bool(self.state()["frozen"])


_TARGETS = pytest.StashKey[dict[str, TwinHandle]]()
_SHARED = pytest.StashKey["SharedServer | None"]()
_NAMED = pytest.StashKey[bool]()  # whether the user named the session (then it is kept after the run)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("apitwin", "apitwin: stateful twins of data-platform APIs")
    group.addoption(
        "--apitwin-target",
        action="append",
        default=[],
        dest="apitwin_targets",
        metavar="NAME=URL",
        help="send the `apitwin` fixture's NAME handle to a real deployment's base URL, with the credential "
        "from env APITWIN_<NAME>_AUTH; tests using twin-only attributes are skipped (repeatable)",
    )
    group.addoption(
        "--apitwin-url",
        default=None,
        metavar="URL",
        help="use the `apitwin serve` at URL (its root, e.g. http://localhost:8000) instead of starting one, in a "
        "session of this run's own, so other runs and workers share it unseen",
    )
    group.addoption(
        "--apitwin-session",
        default=None,
        metavar="NAME",
        help="with --apitwin-url: the session's name (each xdist worker adds its id); default: one made up per "
        "run and worker, deleted at the end",
    )
    parser.addini(
        "apitwin_validate_responses",
        type="bool",
        default=True,
        help="the twins validate their own answers against the spec (a twin bug is a 500); default true",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Checked here, not at first use: a typo in a target must stop the run before any test talks to anything.
    config.stash[_TARGETS] = _parse_targets(config.getoption("apitwin_targets"), os.environ)
    url, session = config.getoption("apitwin_url"), config.getoption("apitwin_session")
    config.stash[_SHARED] = _shared_server(url, session, os.environ)
    config.stash[_NAMED] = session is not None


def _shared_server(url: str | None, session: str | None, environ: Mapping[str, str]) -> SharedServer | None:
    if url is None:
        if session is not None:
            raise pytest.UsageError("--apitwin-session names a session on a shared server: give --apitwin-url too")
        return None
    if not url.startswith(("http://", "https://")):
        raise pytest.UsageError(f"--apitwin-url {url!r}: expected the http(s) root of an apitwin serve")
    worker = environ.get("PYTEST_XDIST_WORKER")
    if session is None:
        session = made_up_session("pytest")
    elif worker:
        session = f"{session}-{worker}"  # workers of one run must not share a session
    from apitwin.errors import TwinError
    from apitwin.sessions import check_name

    try:
        check_name(session)
    except TwinError as exc:
        raise pytest.UsageError(f"--apitwin-session {session!r}: {exc.message}") from None
    return SharedServer(url.rstrip("/"), session, environ.get(ADMIN_TOKEN_ENV) or None)


def pytest_report_header(config: pytest.Config) -> list[str]:
    # A run against a real service says so at the top of the log; the credential stays out of it.
    shared = config.stash[_SHARED]
    lines = [f"apitwin: {shared.origin}, session {shared.session}"] if shared is not None else []
    return lines + [f"apitwin: {handle.name} -> {handle.base_url}" for handle in config.stash[_TARGETS].values()]


def _parse_targets(options: list[str], environ: Mapping[str, str]) -> dict[str, TwinHandle]:
    if not options:
        return {}
    from apitwin.twins import TWINS

    targets: dict[str, TwinHandle] = {}
    for option in options:
        name, _, url = option.partition("=")
        name, url = name.strip(), url.strip().rstrip("/")
        if name not in TWINS or not url.startswith(("http://", "https://")):
            raise pytest.UsageError(
                f"--apitwin-target {option!r}: expected NAME=URL with NAME one of {sorted(TWINS)} "
                "and URL the deployment's http(s) base URL"
            )
        variable = AUTH_ENV.format(name=name.upper())
        credential = environ.get(variable, "")
        if not credential:
            hint = TWINS[name].auth_hint.format(credential="<credential>")
            raise pytest.UsageError(f"--apitwin-target {name}: set {variable} to the credential sent as {hint}")
        targets[name] = TwinHandle(name, url, credential, TWINS[name])
    return targets


@pytest.fixture(scope="session")
def apitwin_server(pytestconfig: pytest.Config) -> Iterator[ApitwinServer]:
    """One server for the session, started on first use: every twin, prefixed, in memory, on 127.0.0.1."""
    shared = pytestconfig.stash[_SHARED]
    if shared is not None:
        pytest.skip(f"apitwin_server is the server in this process; --apitwin-url uses {shared.origin}")
    from apitwin.app import create_app
    from apitwin.serving import serve_in_background

    with warnings.catch_warnings():
        # connexion imports names jsonschema deprecates; that is our dependency's business, not a failure of
        # the user's suite under filterwarnings=error. Only these two, and only while the app is built.
        for name in ("RefResolver", "exceptions.RefResolutionError"):
            warnings.filterwarnings("ignore", f"jsonschema.{name} is deprecated", DeprecationWarning)
        app = create_app(prefixed=True, validate_responses=pytestconfig.getini("apitwin_validate_responses"))
    with serve_in_background(app) as origin:
        yield ApitwinServer(origin, app.state.runtime)


@pytest.fixture(scope="session")
def _apitwin_shared_server(pytestconfig: pytest.Config) -> Iterator[_SharedTwins]:
    """The shared server in the run's session; a session named for the run only is deleted at its end."""
    shared = pytestconfig.stash[_SHARED]
    assert shared is not None
    yield _SharedTwins(shared)
    if not pytestconfig.stash[_NAMED]:
        try:
            shared.delete_session()
        except SharedServerError as exc:  # the tests have passed or failed already: said, not raised
            warnings.warn(f"the run's session was not deleted: {exc}", stacklevel=1)


@pytest.fixture
def apitwin(request: pytest.FixtureRequest) -> TwinFactory:
    """`apitwin(name)`: a running twin with fresh state for this test (or the `--apitwin-target` deployment)."""
    targets = request.config.stash[_TARGETS]
    handed_out: dict[str, TwinHandle] = {}

    def hand_out(name: str) -> TwinHandle:
        if name in handed_out:
            return handed_out[name]  # a second reset would wipe what the test did since the first call
        handle = targets.get(name)
        if handle is None:
            # Looked up only now, so a run where every twin is targeted never starts (nor calls) a server.
            shared = request.config.stash[_SHARED] is not None
            server: _Server = request.getfixturevalue("_apitwin_shared_server" if shared else "apitwin_server")
            handle = server.handle(name)
            if not any(earlier.is_twin for earlier in handed_out.values()):
                server.reset_clock()  # once per test: a later hand-out must not undo a freeze
            server.reset(name)
        handed_out[name] = handle
        return handle

    return hand_out
