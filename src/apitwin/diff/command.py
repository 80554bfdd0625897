"""`apitwin diff OLD NEW`: the click command, thin over diff_files and the renderers."""

from __future__ import annotations

from pathlib import Path

import click

from apitwin.diff.changes import SEVERITIES, Change, Severity, UnreadableSpec
from apitwin.diff.compare import diff_files
from apitwin.diff.render import RENDERERS, summary


def exit_code(changes: list[Change], fail_on: Severity) -> int:
    """1 when a change is at least as severe as `fail_on`, else 0."""
    threshold = SEVERITIES.index(fail_on)
    return int(any(SEVERITIES.index(change.severity) <= threshold for change in changes))


@click.command("diff", context_settings={"help_option_names": ["-h", "--help"]})  # also when run alone
@click.argument("old", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--fail-on",
    type=click.Choice(SEVERITIES),
    default="breaking",
    show_default=True,
    help="Exit 1 when a change is at least this severe.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(tuple(RENDERERS)),
    default="text",
    show_default=True,
    help="Report format.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report here, not to stdout.",
)
def diff_command(old: Path, new: Path, fail_on: Severity, output_format: str, output: Path | None) -> None:
    """Compare two versions of an OpenAPI 3.0 or 3.1 document from an existing client's point of view:
    breaking (a client may fail), warning (it may misbehave), info. Exits 1 when a change is at least as
    severe as --fail-on, 2 when a document cannot be read."""
    try:
        changes = diff_files(old, new)
    except UnreadableSpec as exc:
        click.echo(f"apitwin diff: {exc}", err=True)
        raise SystemExit(2) from None
    report = RENDERERS[output_format](changes)
    if output is None:
        click.echo(report, nl=False)
    else:
        output.write_text(report, encoding="utf-8")
        click.echo(f"{summary(changes)}; report written to {output}")
    raise SystemExit(exit_code(changes, fail_on))
