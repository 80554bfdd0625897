"""The `apitwin` command. Commands are thin; heavy imports (connexion, schemathesis, the spec validator)
happen inside them so `apitwin --help` stays instant."""

from __future__ import annotations

import functools
import json
import secrets
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import click

from apitwin.diff import diff_command
from apitwin.drift import drift_command

STARTED = time.perf_counter()  # the command's start, near enough the process's: what `serve` reports as start-up

DEFAULT_DATA = Path(".apitwin/db.json")


def _twin_names(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    from apitwin.twins import TWINS

    unknown = sorted(set(value) - set(TWINS))
    if unknown:
        raise click.BadParameter(f"unknown twin(s) {', '.join(unknown)}; choose from {', '.join(TWINS)}")
    return value


def _rate_limits(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> dict[str, object]:
    from apitwin.auth import RateLimit
    from apitwin.twins import TWINS

    limits: dict[str, object] = {}
    for item in value:
        name, sep, spec = item.partition("=")
        if not sep:
            raise click.BadParameter(
                f"expected TWIN=REQUESTS/SECONDS or TWIN=off, e.g. datascale=100/300, not {item!r}"
            )
        if name not in TWINS:
            raise click.BadParameter(f"no twin named {name!r} in {item!r}; the twins are {', '.join(TWINS)}")
        try:
            limits[name] = None if spec == "off" else RateLimit.parse(spec)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return limits


def _store_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
        raise click.BadParameter(f"expected a Redis URL, redis://HOST:PORT/DB (or rediss://, unix://), not {value!r}")
    return value


@click.group(context_settings={"help_option_names": ["-h", "--help"]})  # the commands inherit it
@click.version_option(package_name="apitwin")
def main() -> None:
    """Stateful twins of data-platform APIs, and contract tests against them or the real thing."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port (0 picks a free one).")
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=DEFAULT_DATA,
    show_default=True,
    help="TinyDB store file, created and seeded from fixtures on first start.",
)
@click.option("--memory", is_flag=True, help="Keep state in memory only (nothing written to disk).")
@click.option(
    "--store",
    "store_url",
    metavar="URL",
    envvar="APITWIN_STORE",
    callback=_store_url,
    help="Keep state in Redis, redis://HOST:PORT/DB, shared by every worker and host serving that URL (instead of "
    "--data or --memory; needs apitwin[redis]). Env APITWIN_STORE.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Serve from this many processes (needs --store: the embedded store is one process's).",
)
@click.option(
    "--api",
    "apis",
    multiple=True,
    callback=_twin_names,
    help="Serve only this twin, at its real base path with no /<twin> prefix. Repeatable.",
)
@click.option("--reset", is_flag=True, help="Reseed the served twins from fixtures before serving.")
@click.option(
    "--rate-limit",
    "rate_limits",
    multiple=True,
    callback=_rate_limits,
    metavar="TWIN=N/SECONDS",
    help="Override a twin's rate limit, e.g. datascale=5/60, or datascale=off.",
)
@click.option("--validate-responses", is_flag=True, help="Check every answer against the spec (500 if not).")
@click.option("--log", "log_requests", is_flag=True, help="Print one line per request to stdout (the journal).")
@click.option(
    "--journal-size",
    default=1000,
    show_default=True,
    type=click.IntRange(min=0),
    help="How many requests /__apitwin/requests keeps (the oldest fall out).",
)
@click.option("--cors/--no-cors", default=True, show_default=True, help="Let browser apps on other origins call.")
@click.option(
    "--max-body-mb",
    default=16,
    show_default=True,
    type=click.IntRange(min=1),
    help="The largest request body taken, in MiB (a larger one is a 413 in the API's shape).",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    envvar="APITWIN_ALLOWED_HOSTS",
    callback=lambda c, p, v: tuple(name for item in v for name in item.replace(",", " ").split()),
    help="Also answer requests whose Host is NAME (localhost always is), e.g. the name other containers reach "
    "this one by; * answers any. Repeatable; env APITWIN_ALLOWED_HOSTS (comma-separated).",
)
@click.option(
    "--admin-token",
    envvar="APITWIN_ADMIN_TOKEN",
    default=None,
    help="The token the control plane wants (Authorization: Bearer TOKEN). Listening beyond loopback, one is made "
    "up and printed when none is given. Env APITWIN_ADMIN_TOKEN.",
)
@click.option(  # the defaults are apitwin.sessions' (not imported here, so `--help` stays instant)
    "--session-idle",
    default=1800,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="A session (X-Apitwin-Session) unused this long is forgotten; its name then starts again from the fixtures.",
)
@click.option(
    "--max-sessions",
    default=100,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many sessions may live at once, the default one included (beyond: a 503 naming the way out).",
)
def serve(
    host: str,
    port: int,
    data: Path,
    memory: bool,
    store_url: str | None,
    workers: int,
    apis: tuple[str, ...],
    reset: bool,
    rate_limits: dict[str, object],
    validate_responses: bool,
    log_requests: bool,
    journal_size: int,
    cors: bool,
    max_body_mb: int,
    allowed_hosts: tuple[str, ...],
    admin_token: str | None,
    session_idle: float,
    max_sessions: int,
) -> None:
    """Serve the twins (all of them, each under /<twin>, unless --api names some)."""
    from apitwin.access import Access, is_loopback
    from apitwin.serving import PortUnavailable, listen, serve_forever, serve_workers
    from apitwin.store import StoreBusy, StoreCorrupt, lock_store_file

    ctx = click.get_current_context()
    if store_url is not None and (memory or ctx.get_parameter_source("data") is not click.core.ParameterSource.DEFAULT):
        raise click.UsageError("--store keeps the state in Redis: give it without --data or --memory")
    if workers > 1 and store_url is None:
        raise click.UsageError(
            f"--workers {workers} needs a store every worker shares, --store redis://HOST:PORT/DB: the embedded "
            "store (--data, --memory) lives in one process"
        )
    made_up_token = None
    if admin_token is None and not is_loopback(host):
        # Reachable from the network: the control plane (reset, faults, every credential) needs a token.
        admin_token = made_up_token = secrets.token_urlsafe(24)
    served_app = functools.partial(
        _served_app,
        list(apis),
        store_url=store_url,
        data=None if memory or store_url else data,
        log_requests=log_requests,
        rate_limits=rate_limits,
        validate_responses=validate_responses,
        journal_size=journal_size,
        cors=cors,
        max_body_bytes=max_body_mb * 1024 * 1024,
        access=Access.of(allowed_hosts, admin_token),
        session_idle=session_idle,
        max_sessions=max_sessions,
    )
    state_in = "memory" if memory else f"{store_url} ({workers} worker(s))" if store_url else str(data)
    try:
        # Held while serving (the OS drops it if the process dies): a second server on the same file would
        # overwrite this one's writes. A Redis store serialises its writers itself.
        data_lock: AbstractContextManager[object] = nullcontext() if memory or store_url else lock_store_file(data)
        listening = listen(host, port)
        if workers > 1:  # reset here, once: a worker started again after a crash must not reset what others wrote
            _check_shared_store(store_url, list(apis), reset)
        else:
            app = served_app(reset=reset)
    except StoreBusy as exc:
        hint = "stop that one, or give this one its own --data FILE (or --memory)"
        raise click.ClickException(f"{exc}: {hint}") from None
    except StoreCorrupt as exc:
        hint = "start again from the fixtures with --reset (it replaces the file)"
        raise click.ClickException(f"{exc}; {hint}") from None
    except PortUnavailable as exc:
        hint = "stop what uses it, or choose another with --port (0 picks a free one)"
        raise click.ClickException(f"{exc}: {hint}") from None
    origin = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{listening.getsockname()[1]}"
    banner = functools.partial(_banner, started=STARTED, origin=origin, state_in=state_in, log_requests=log_requests,
                               admin_token=admin_token, made_up_token=made_up_token)  # fmt: skip
    with data_lock, listening:
        if workers > 1:
            serve_workers(served_app, banner, workers, listening, on_started=_print_banner)
            return
        try:
            serve_forever(app, listening, on_started=lambda: _print_banner(banner(app)))
        finally:
            app.state.runtime.close()  # a clean stop folds the store's log into one TinyDB file


def _served_app(
    apis: list[str], *, store_url: str | None, data: Path | None, log_requests: bool, reset: bool = False,
    **options: Any,
) -> Any:  # fmt: skip
    """The app `serve` serves (in each worker, with --workers): over Redis, a file or memory."""
    from apitwin.app import create_app

    store = _redis_store(store_url) if store_url else None
    # over Redis each session's state is a namespace of its own, which every worker sharing the store finds
    session_store = (lambda name: _redis_store(store_url, namespace=name)) if store_url else None
    app = create_app(apis, data=data, store=store, reset=reset, session_store=session_store, **options)
    if log_requests:
        app.state.runtime.journal.subscribe(lambda entry: click.echo(entry.log_line()))
    return app


def _redis_store(url: str, namespace: str = "default") -> Any:
    try:
        import redis

        from apitwin.storeredis import RedisStore
    except ImportError:
        raise click.ClickException("--store redis:// needs the Redis client: pip install 'apitwin[redis]'") from None
    try:
        return RedisStore(url, namespace=namespace)
    except redis.RedisError as exc:
        raise click.ClickException(f"cannot use the Redis store at {url}: {exc}") from None


def _check_shared_store(store_url: str | None, apis: list[str], reset: bool) -> None:
    """Before the workers start: the store answers (an error is said here once, not by each worker), and with
    `reset` every served twin is back to its fixtures."""
    from apitwin.runtime import Runtime
    from apitwin.twins import select

    assert store_url is not None
    store = _redis_store(store_url)
    if reset:
        Runtime(select(apis), store=store).seed(reset=True)
    store.close()


def _banner(
    app: Any,
    *,
    started: float,
    origin: str,
    state_in: str,
    log_requests: bool,
    admin_token: str | None,
    made_up_token: str | None,
) -> str:
    from apitwin.app import describe

    overview = describe(app.state.runtime, origin)
    ready = time.perf_counter() - started  # system-wide on Linux: a worker measures from the command's start
    lines = [f"apitwin serving {len(overview['twins'])} twin(s), ready in {ready:.2f} s; state in {state_in}"]
    for twin in overview["twins"]:
        lines.append(f"  {twin['name']:<11} {twin['base_url']}")
        lines.append(f"  {'':<11} docs {twin['docs_url']}   auth: {twin['send_as']}")
        for document in twin.get("documents", []):  # the twin's other APIs, on the same state
            lines.append(f"  {'':<11} {document['name']} {document['base_url']}")
    lines.append(f"  admin       {overview['admin']}  (health, reset, snapshots, faults, clock; GET it for the list)")
    if made_up_token:
        lines.append(f"  {'':<11} token {made_up_token}  (Authorization: Bearer TOKEN; printed once, this start only)")
    elif admin_token:
        lines.append(f"  {'':<11} token as given (Authorization: Bearer TOKEN)")
    sessions = app.state.runtime.sessions
    lines.append(
        f"  sessions    {overview['admin']}/sessions  (X-Apitwin-Session: NAME on a request, an isolated state; "
        f"forgotten after {sessions.idle_seconds:g} s idle, at most {sessions.max_sessions})"
    )
    journal = "every request, latest first" + ("; --log prints each below" if log_requests else "; --log prints each")
    lines.append(f"  journal     {overview['admin']}/requests  ({journal})")
    return "\n".join(lines)


def _print_banner(text: str) -> None:
    click.echo(text)
    sys.stdout.flush()


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print {twin: credential} as JSON.")
@click.option("--all", "show_all", is_flag=True, help="Every credential of every twin, with what it may do.")
def credentials(as_json: bool, show_all: bool) -> None:
    """The credential string a client sends to each twin (from the committed fixtures)."""
    from apitwin.twins import TWINS

    table = {
        name: json.loads(twin.fixtures_path.read_text(encoding="utf-8"))["credentials"] for name, twin in TWINS.items()
    }
    if as_json:
        data = table if show_all else {name: creds[0]["credential"] for name, creds in table.items()}
        click.echo(json.dumps(data, indent=2))
        return
    for name, creds in table.items():
        for cred in creds if show_all else creds[:1]:
            note = "" if cred.get("active", True) else " (revoked)"
            header = TWINS[name].auth_hint.format(credential=cred["credential"])
            click.echo(f"{name:<12} {header}  {_access(cred)}{note}")


def _access(cred: dict[str, Any]) -> str:
    """What a fixture credential may do, in its API's terms: a role, a workspace, or named privileges."""
    if cred.get("role") or cred.get("workspace"):
        return str(cred.get("role") or cred.get("workspace"))
    if cred.get("admin"):
        return f"{cred['name']}: every privilege"
    granted = [", ".join(cred.get("privileges", []))]
    granted += [f"{project}: {', '.join(held)}" for project, held in cred.get("projects", {}).items()]
    held = "; ".join(part for part in granted if part)
    return f"{cred['name']}: {held}" if held else str(cred["name"])


@main.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder to write to (default in a source checkout: the project's fixtures/; required when installed).",
)
@click.argument("names", nargs=-1, callback=_twin_names)
def fixtures(out: Path | None, names: tuple[str, ...]) -> None:
    """Regenerate fixture files from the fixed Faker seed."""
    from apitwin.fixtures import write_fixtures
    from apitwin.spec import FIXTURES_DIR, INSTALLED

    if out is None and INSTALLED:
        raise click.UsageError("apitwin is installed as a package: name the folder to write to with --out DIR")
    folder = out or FIXTURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for path in write_fixtures(folder, list(names)):
        click.echo(f"wrote {path}")


@main.command()
@click.option(
    "--coverage",
    "show_coverage",
    is_flag=True,
    help="Also print, per twin and operationId, whether the engine or a behaviour serves it and which test covers it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print problems, notes (and coverage) as one JSON document.")
@click.argument("specs", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def lint(specs: tuple[Path, ...], show_coverage: bool, as_json: bool) -> None:
    """Validate specs (openapi-spec-validator) and check what it misses: links, examples, handlers,
    fixtures, behaviour ceilings. Without arguments, every twin's spec. Notes (root components overriding
    common ones) are shown but are no problem. Exits 1 on any problem."""
    import dataclasses
    import json

    from apitwin.lint import coverage, coverage_table, lint_report
    from apitwin.spec import SPECS_DIR
    from apitwin.twins import TWINS

    report = lint_report(list(specs) or None)
    chosen = {path.resolve() for path in specs}
    twins = [twin for twin in TWINS.values() if not specs or twin.spec_path.resolve() in chosen]
    tests_dir = SPECS_DIR.parent / "tests"
    if show_coverage and not tests_dir.is_dir():
        click.echo(f"apitwin: no {tests_dir} (an installed package): no test is found for any operation", err=True)
    rows = coverage(twins, tests_dir) if show_coverage else []
    if as_json:
        document = {
            "problems": [dataclasses.asdict(problem) for problem in report.problems],
            "notes": [dataclasses.asdict(note) for note in report.notes],
            **({"coverage": [dataclasses.asdict(row) for row in rows]} if show_coverage else {}),
        }
        click.echo(json.dumps(document, indent=2))
    else:
        for line in coverage_table(rows, twins) if show_coverage else []:
            click.echo(line)
        for finding in [*report.problems, *report.notes]:
            click.echo(str(finding))
    if report.problems:
        click.echo(f"{len(report.problems)} problem(s)", err=True)
        raise SystemExit(1)
    if not as_json:
        click.echo("no problems" + (f" ({len(report.notes)} note(s))" if report.notes else ""))


@main.command()
@click.option(
    "--api",
    "api",
    required=True,
    callback=lambda c, p, v: _twin_names(c, p, (v,))[0],
    help="The twin whose spec to test.",
)
@click.option(
    "--target", default=None, metavar="URL", help="Base URL of a real deployment (default: a twin started for the run)."
)
@click.option(
    "--url",
    default=None,
    metavar="URL",
    help="The root of a running apitwin serve to test (e.g. one CI runners share) instead of starting a twin; "
    "the run is made in a session of its own.",
)
@click.option(
    "--session",
    default=None,
    metavar="NAME",
    help="With --url: the session to run in (reset first, kept after). Default: a name made up, deleted at the end.",
)
@click.option(
    "--auth",
    "credential",
    default=None,
    metavar="CREDENTIAL",
    help="Credential for --target, in the API's scheme (default: env APITWIN_<TWIN>_AUTH, else APITWIN_AUTH).",
)
@click.option(
    "--include",
    multiple=True,
    metavar="SELECTOR",
    help="Test only matching operations: an operationId, tag:NAME, or a path such as /projects/*/datasets* "
    "(* matches anything). Repeatable.",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="SELECTOR",
    help="Skip matching operations (selectors as --include). Repeatable.",
)
@click.option(
    "--read-only/--all-methods",
    default=None,
    help="Send only GET, HEAD and OPTIONS requests, or every method (after listing the operations that may "
    "write). Default: read-only with --target, every method against a twin started for the run.",
)
@click.option(
    "--require-coverage/--no-require-coverage",
    default=None,
    help="Fail when a tested operation never got a documented 2xx answer. Default: required against a twin "
    "started for the run, not with --target (where it is reported). A run that got nothing but 401, 403 or "
    "429 fails either way.",
)
@click.option(
    "--pace",
    default=None,
    metavar="RATE",
    help="Request pacing: N/s, N/m, N/h, N/d, auto (wait out a 429 per its Retry-After) or off. Default with "
    "--target: the API's documented rate limit, else auto.",
)
@click.option(
    "--junit", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write a JUnit XML report."
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a coverage and failures report: Markdown (.md) or self-contained HTML (.html).",
)
@click.option(
    "--ndjson", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Keep Schemathesis' NDJSON events."
)
@click.option("--max-examples", default=25, show_default=True, type=int, help="Examples per operation and phase.")
@click.option("--seed", default=1, show_default=True, type=int, help="Hypothesis seed, for exact reruns.")
def check(
    api: str,
    target: str | None,
    url: str | None,
    session: str | None,
    credential: str | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    read_only: bool | None,
    require_coverage: bool | None,
    pace: str | None,
    junit: Path | None,
    report: Path | None,
    ndjson: Path | None,
    max_examples: int,
    seed: int,
) -> None:
    """Run Schemathesis (every check, positive and negative data, stateful links) against a twin or a
    real deployment, with a per-operation summary. A target is first checked: reachable, accepting the
    credential, at this base path. Exits 1 on any failure, 2 on a usage error."""
    from apitwin.contract import run_check

    raise SystemExit(
        run_check(
            api,
            target=target,
            credential=credential,
            include=include,
            exclude=exclude,
            read_only=read_only,
            require_coverage=require_coverage,
            pace=pace,
            junit=junit,
            report=report,
            ndjson=ndjson,
            max_examples=max_examples,
            seed=seed,
            url=url,
            session=session,
        )
    )


# Commands defined in their own modules (which import only click at the top, so --help stays instant).
main.add_command(diff_command)
main.add_command(drift_command)
