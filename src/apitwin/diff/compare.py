"""Running the rules: every document rule, every operation rule on each operation both documents have, and the
schema rules at every schema those operations share."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from apitwin.diff.changes import ALL_OPERATIONS, SEVERITIES, Change, Direction, Finding, _join
from apitwin.diff.loading import load_spec
from apitwin.diff.operations import _bodies, _content, _parameter_where
from apitwin.diff.pairs import OperationPair, SpecPair
from apitwin.diff.registry import OPERATION_RULES, SPEC_RULES
from apitwin.diff.schemas import compare_schemas


def _parameter_schema(param: Mapping[str, Any]) -> Any:
    """A parameter's schema, or that of its first media type when it has `content` instead."""
    if "schema" in param:
        return param["schema"]
    return next(iter(_content(param).values()), {}).get("schema")


Site = tuple[str, dict[str, tuple[Any, Any]], Direction]  # location, {media type ("" for none): schemas}, direction


def _schema_sites(op: OperationPair) -> Iterator[Site]:
    """Where the operation holds schemas both sides have: parameters, request bodies, success responses."""
    for old, new in op.parameters.kept:
        yield _parameter_where(new), {"": (_parameter_schema(old), _parameter_schema(new))}, "request"
    for where, _, old, new, direction in _bodies(op):
        old_content = _content(old)
        shared = {
            media: (old_content[media].get("schema"), node.get("schema"))
            for media, node in _content(new).items()
            if media in old_content
        }
        yield where, shared, direction


def _schema_changes(op: OperationPair) -> Iterator[Change]:
    """Schema rule findings at every site; one change for the media types of a body that change alike."""
    for where, schemas, direction in _schema_sites(op):
        found: dict[tuple[str, Finding], list[str]] = {}
        for media, (old, new) in schemas.items():
            for rule, finding in compare_schemas(old, new, direction):
                found.setdefault((rule, finding), []).append(media)
        for (rule, finding), media_types in found.items():
            names = media_types[0] if len(media_types) == 1 else "{" + ",".join(media_types) + "}"
            content = f"content.{names}" if names else ""
            location = _join(where, content, "schema", finding.location)
            yield Change(finding.severity, rule, op.new.label, location, finding.message)


# ---------------------------------------------------------------------------------------------------------------------
# Entry points


def diff_specs(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Every rule's changes between two resolved documents, most severe first, then by operation and location."""
    pair = SpecPair(old, new)
    changes = [
        Change(finding.severity, name, finding.operation or ALL_OPERATIONS, finding.location, finding.message)
        for name, check in SPEC_RULES.items()
        for finding in check(pair)
    ]
    for op in pair.common():
        changes += [
            Change(finding.severity, name, op.new.label, finding.location, finding.message)
            for name, check in OPERATION_RULES.items()
            for finding in check(op)
        ]
        changes += _schema_changes(op)
    order = {label: index for index, label in enumerate(pair.labels())}
    return sorted(changes, key=lambda c: (SEVERITIES.index(c.severity), order.get(c.operation, -1), c.location, c.rule))


def diff_files(old: Path, new: Path) -> list[Change]:
    """The changes from the document at `old` to the one at `new` (OpenAPI 3.0 or 3.1)."""
    return diff_specs(load_spec(old), load_spec(new))
