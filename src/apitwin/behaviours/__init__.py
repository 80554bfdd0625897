"""Behaviour registries: real behaviour (state machines, parsing, derived data) keyed by operationId.

A twin's operation is served by its registered behaviour if there is one, else by the engine's generic
handler when its route declares a collection action; anything else fails the build.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeAlias, TypeVar

from apitwin.engine import OperationContext, Reply
from apitwin.engine.collections import Effect

Behaviour: TypeAlias = Callable[[OperationContext], Reply | Awaitable[Reply]]
EffectT = TypeVar("EffectT", bound=Effect)


class Behaviours:
    """The behaviours of one twin module, by operationId."""

    def __init__(self) -> None:
        self._by_operation: dict[str, Behaviour] = {}
        self._effects: dict[str, Effect] = {}

    def effect(self, name: str) -> Callable[[EffectT], EffectT]:
        """Register a function of an item the spec names: what a machine action computes (x-twin machine actions'
        `effect`: the run's outcome), or a computed field's value (x-twin `computes`)."""

        def register(function: EffectT) -> EffectT:
            if name in self._effects:
                raise ValueError(f"an effect named {name!r} is already registered")
            self._effects[name] = function
            return function

        return register

    def effects(self) -> dict[str, Effect]:
        return dict(self._effects)

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
