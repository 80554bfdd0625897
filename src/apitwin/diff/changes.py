"""What `apitwin diff` reports: a Change (severity, rule, operation, location, message), and the Finding a rule
yields before the runner names the rule and the operation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, NamedTuple

Severity = Literal["breaking", "warning", "info"]
Direction = Literal["request", "response"]  # who writes the value: the client, or the server
SEVERITIES: tuple[Severity, ...] = ("breaking", "warning", "info")  # most severe first
ALL_OPERATIONS = "(all operations)"


@dataclass(frozen=True)
class Change:
    """One difference an existing client may notice: how much it matters, which rule saw it, where, and what."""

    severity: Severity  # breaking: an existing client may fail; warning: it may misbehave; info: it is unaffected
    rule: str
    operation: str  # "POST /report (createReport)", or ALL_OPERATIONS
    location: str  # inside the operation (or the document, for operation_removed, servers and security)
    message: str


class Finding(NamedTuple):
    """What a rule yields; the runner adds the rule's name, and the operation when the rule compares one."""

    severity: Severity
    location: str
    message: str
    operation: str = ""


Findings = Iterator[Finding]


class UnreadableSpec(Exception):
    """A document cannot be read, parsed or resolved, or is not OpenAPI 3.x (exit code 2)."""


def _join(*parts: str) -> str:
    return ".".join(part for part in parts if part)
