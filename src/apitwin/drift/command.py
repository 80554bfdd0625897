"""`apitwin drift` on the command line: `run_drift` and the click command around it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from apitwin.drift.errors import DriftTargetError, DriftUsageError
from apitwin.drift.report import summary_lines, write_report
from apitwin.drift.sending import measure_drift

if TYPE_CHECKING:
    from apitwin.contract import Echo


def run_drift(
    api: str,
    *,
    target: str,
    credential: str | None,
    twin_credential: str | None = None,
    cases: int = 50,
    seed: int = 1,
    read_only: bool = True,
    report: Path | None = None,
    echo: Echo = click.echo,
) -> int:
    """Measure drift and print it: 0 when both sides agree on every request, 1 on drift, when the target cannot
    be measured, or when no request was answered with a 2xx by both sides (nothing of substance compared);
    2 on usage errors."""
    if report is not None and report.suffix not in (".md", ".json"):
        echo(f"apitwin drift: --report must end in .md or .json, not {report.name!r}", err=True)
        return 2
    try:
        result = measure_drift(
            api,
            target=target,
            credential=credential,
            twin_credential=twin_credential,
            cases=cases,
            seed=seed,
            read_only=read_only,
            echo=echo,
        )
    except DriftUsageError as exc:
        echo(f"apitwin drift: {exc}", err=True)
        return 2
    except DriftTargetError as exc:
        echo(f"apitwin drift: {exc}", err=True)
        return 1
    for line in summary_lines(result):
        echo(line)
    if report is not None:
        write_report(result, report)
        echo(f"report written to {report}")
    return 1 if result.disagreeing or result.fidelity is None else 0


@click.command("drift", context_settings={"help_option_names": ["-h", "--help"]})  # also when run alone
@click.option("--api", required=True, help="The twin to measure, e.g. datascaphe.")
@click.option(
    "--target",
    required=True,
    metavar="URL",
    help="Base URL of the real deployment, e.g. https://datascaphe.com/api/v1.",
)
@click.option(
    "--auth",
    "credential",
    default=None,
    metavar="CREDENTIAL",
    help="Credential for --target, in the API's scheme (default: env APITWIN_<TWIN>_AUTH, else APITWIN_AUTH).",
)
@click.option(
    "--twin-auth",
    "twin_credential",
    default=None,
    metavar="CREDENTIAL",
    help="Credential for the twin (default: its first fixture credential).",
)
@click.option(
    "--cases",
    default=50,
    show_default=True,
    type=click.IntRange(min=1),
    help="Generated requests per operation, besides its documented examples.",
)
@click.option("--seed", default=1, show_default=True, type=int, help="Seed: the same seed, the same requests.")
@click.option(
    "--read-only/--all-methods",
    default=True,
    show_default=True,
    help="Send only GET, HEAD and OPTIONS (the target is a real deployment), or every method.",
)
@click.option(
    "--report", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Also write a report (.md, .json)."
)
def drift_command(
    api: str,
    target: str,
    credential: str | None,
    twin_credential: str | None,
    cases: int,
    seed: int,
    read_only: bool,
    report: Path | None,
) -> None:
    """Send the same spec-generated requests to a fresh twin and to a real deployment, and report where their
    answers disagree (status, media type, schema, error shape, body shape) with a fidelity score. The target is
    first checked: reachable, accepting the credential, at this base path. Exits 0 when they agree on every
    request, 1 on drift or when nothing was answered successfully by both, 2 on usage errors."""
    raise SystemExit(
        run_drift(
            api,
            target=target,
            credential=credential,
            twin_credential=twin_credential,
            cases=cases,
            seed=seed,
            read_only=read_only,
            report=report,
        )
    )
