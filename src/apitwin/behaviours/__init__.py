"""Behaviour registries: real behaviour (state machines, parsing, derived data) keyed by operationId.

A twin's operation is served by its registered behaviour if there is one, else by the engine's generic
handler when its route declares a collection action; anything else fails the build.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeAlias

from apitwin.engine import OperationContext, Reply

Behaviour: TypeAlias = Callable[[OperationContext], Reply | Awaitable[Reply]]


class Behaviours:
    """The behaviours of one twin module, by operationId."""

    def __init__(self) -> None:
        self._by_operation: dict[str, Behaviour] = {}

    def operation(self, operation_id: str) -> Callable[[Behaviour], Behaviour]:
        def register(function: Behaviour) -> Behaviour:
            if operation_id in self._by_operation:
                raise ValueError(f"a behaviour for {operation_id!r} is already registered")
            self._by_operation[operation_id] = function
            return function

        return register

    def get(self, operation_id: str) -> Behaviour | None:
        return self._by_operation.get(operation_id)

    def operation_ids(self) -> frozenset[str]:
        return frozenset(self._by_operation)
