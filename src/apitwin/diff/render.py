"""The report: text, markdown or JSON, grouped by severity and then by operation."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict

from apitwin.diff.changes import SEVERITIES, Change, Severity


def _counts(changes: list[Change]) -> dict[Severity, int]:
    return {severity: sum(change.severity == severity for change in changes) for severity in SEVERITIES}


def summary(changes: list[Change]) -> str:
    """E.g. "3 breaking, 1 warning, 5 info"."""
    breaking, warnings, info = _counts(changes).values()
    return f"{breaking} breaking, {warnings} warning{'' if warnings == 1 else 's'}, {info} info"


_HEADINGS = {"breaking": "Breaking", "warning": "Warnings", "info": "Info"}


def _grouped(changes: list[Change]) -> Iterator[tuple[Severity, dict[str, list[Change]]]]:
    """Changes by severity, then by operation (in the order diff_specs sorted them)."""
    for severity in SEVERITIES:
        by_operation: dict[str, list[Change]] = {}
        for change in changes:
            if change.severity == severity:
                by_operation.setdefault(change.operation, []).append(change)
        if by_operation:
            yield severity, by_operation


def render_text(changes: list[Change]) -> str:
    lines = []
    for severity, by_operation in _grouped(changes):
        lines.append(f"{_HEADINGS[severity]} ({sum(map(len, by_operation.values()))})")
        for operation, group in by_operation.items():
            lines.append(f"  {operation}")
            lines += [f"    {change.location}: [{change.rule}] {change.message}" for change in group]
    return "\n".join([*lines, summary(changes) if changes else "no changes"]) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(changes: list[Change]) -> str:
    lines = [f"## API changes: {summary(changes) if changes else 'none'}"]
    for severity, by_operation in _grouped(changes):
        lines += ["", f"### {_HEADINGS[severity]} ({sum(map(len, by_operation.values()))})", ""]
        lines += ["| Operation | Location | Rule | Change |", "| --- | --- | --- | --- |"]
        for operation, group in by_operation.items():
            lines += [
                f"| `{_cell(operation)}` | `{_cell(c.location)}` | `{c.rule}` | {_cell(c.message)} |" for c in group
            ]
    return "\n".join(lines) + "\n"


def render_json(changes: list[Change]) -> str:
    return json.dumps({"summary": _counts(changes), "changes": [asdict(change) for change in changes]}, indent=2) + "\n"


RENDERERS: dict[str, Callable[[list[Change]], str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "json": render_json,
}
