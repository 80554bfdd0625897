"""The three registries of named rules: document rules (a SpecPair), operation rules (an OperationPair) and
schema rules (a SchemaPair). A rule registers under its function's name, which is the `rule` of its changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from apitwin.diff.changes import Findings
from apitwin.diff.pairs import OperationPair, SpecPair
from apitwin.diff.schema_view import SchemaPair

Subject = TypeVar("Subject")
SPEC_RULES: dict[str, Callable[[SpecPair], Findings]] = {}
OPERATION_RULES: dict[str, Callable[[OperationPair], Findings]] = {}
SCHEMA_RULES: dict[str, Callable[[SchemaPair], Findings]] = {}


def _registrar(
    rules: dict[str, Callable[[Subject], Findings]],
) -> Callable[[Callable[[Subject], Findings]], Callable[[Subject], Findings]]:
    def register(check: Callable[[Subject], Findings]) -> Callable[[Subject], Findings]:
        rules[check.__name__] = check
        return check

    return register


spec_rule = _registrar(SPEC_RULES)
operation_rule = _registrar(OPERATION_RULES)
schema_rule = _registrar(SCHEMA_RULES)
