"""What the document and operation rules compare: the two documents, their operations, and the same operation
on both sides (its parameters matched, its success statuses paired)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

# as apitwin.engine.routes.HTTP_METHODS, not imported from there: `apitwin --help` imports this module
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _status(code: Any) -> str:
    return str(code).replace("x", "X")  # 2xx and 2XX are the same range; YAML may give 200 as an int


def _template_names(path: str) -> list[str]:
    return re.findall(r"\{([^}]*)\}", path)


@dataclass(frozen=True)
class Operation:
    """One operation of one document, with its path item (for path-level parameters and servers)."""

    method: str  # upper case
    path: str
    node: Mapping[str, Any]
    item: Mapping[str, Any]

    @property
    def label(self) -> str:
        operation_id = self.node.get("operationId")
        return f"{self.method} {self.path}" + (f" ({operation_id})" if operation_id else "")

    @property
    def pointer(self) -> str:
        return f"paths.{self.path}.{self.method.lower()}"

    @cached_property
    def parameters(self) -> dict[tuple[str, str], Mapping[str, Any]]:
        """Path-level and operation-level parameters (the operation's own wins), keyed by (in, name); a path
        parameter's name is its position in the path template, so renaming it keeps the key."""
        merged: dict[tuple[Any, Any], Mapping[str, Any]] = {}
        for param in [*(self.item.get("parameters") or ()), *(self.node.get("parameters") or ())]:
            if isinstance(param, Mapping):
                merged[param.get("in"), param.get("name")] = param
        names = _template_names(self.path)
        keyed: dict[tuple[str, str], Mapping[str, Any]] = {}
        for (where, name), param in merged.items():
            if where == "path" and name in names:
                keyed["path", f"#{names.index(name)}"] = param
            else:  # header names are case-insensitive
                keyed[str(where), str(name).lower() if where == "header" else str(name)] = param
        return keyed

    @cached_property
    def statuses(self) -> list[str]:
        return [_status(code) for code in self.node.get("responses") or {}]

    def response(self, status: str) -> Mapping[str, Any]:
        for code, response in (self.node.get("responses") or {}).items():
            if _status(code) == status and isinstance(response, Mapping):
                return response
        return {}


def _operations(spec: Mapping[str, Any]) -> dict[tuple[str, str], Operation]:
    """Every operation, keyed by method and path with the path parameters' names blanked out."""
    found: dict[tuple[str, str], Operation] = {}
    for path, item in (spec.get("paths") or {}).items():
        if not str(path).startswith("/") or not isinstance(item, Mapping):
            continue
        for method in _METHODS:
            if isinstance(item.get(method), Mapping):
                key = (method.upper(), re.sub(r"\{[^}]*\}", "{}", str(path)))
                found[key] = Operation(method.upper(), str(path), item[method], item)
    return found


def _is_success(status: str) -> bool:
    return status.startswith("2")


@dataclass(frozen=True)
class StatusChanges:
    """The success statuses only one side documents."""

    removed: list[str]
    added: list[str]

    @property
    def swapped(self) -> bool:
        """One success status replaced by another (200 to 201): compared as one response."""
        return len(self.removed) == 1 and len(self.added) == 1


@dataclass(frozen=True)
class ParameterMatch:
    """The two sides' parameters: kept (old, new), removed, added, and moved to another `in`."""

    kept: list[tuple[Mapping[str, Any], Mapping[str, Any]]]
    removed: list[Mapping[str, Any]]
    added: list[Mapping[str, Any]]
    moved: list[tuple[Mapping[str, Any], Mapping[str, Any]]]


@dataclass(frozen=True)
class OperationPair:
    """The same operation (method and path) in the old and the new document."""

    old: Operation
    new: Operation

    @cached_property
    def parameters(self) -> ParameterMatch:
        old, new = self.old.parameters, self.new.parameters
        removed = [param for key, param in old.items() if key not in new]
        added = [param for key, param in new.items() if key not in old]
        moved = [(o, n) for o in removed for n in added if o.get("name") == n.get("name")]
        return ParameterMatch(
            kept=[(old[key], param) for key, param in new.items() if key in old],
            removed=[param for param in removed if all(param is not o for o, _ in moved)],
            added=[param for param in added if all(param is not n for _, n in moved)],
            moved=moved,
        )

    @cached_property
    def success_statuses(self) -> StatusChanges:
        old = [status for status in self.old.statuses if _is_success(status)]
        new = [status for status in self.new.statuses if _is_success(status)]
        return StatusChanges([s for s in old if s not in new], [s for s in new if s not in old])

    @property
    def success_pairs(self) -> list[tuple[str, str]]:
        """(old status, new status) of the success responses compared with each other."""
        changes = self.success_statuses
        kept = [(s, s) for s in self.new.statuses if _is_success(s) and s in self.old.statuses]
        return kept + ([(changes.removed[0], changes.added[0])] if changes.swapped else [])


@dataclass(frozen=True)
class SpecPair:
    """The old and the new document, resolved."""

    old: Mapping[str, Any]
    new: Mapping[str, Any]

    @cached_property
    def old_operations(self) -> dict[tuple[str, str], Operation]:
        return _operations(self.old)

    @cached_property
    def new_operations(self) -> dict[tuple[str, str], Operation]:
        return _operations(self.new)

    def common(self) -> Iterator[OperationPair]:
        """Operations in both documents, in the new document's order."""
        for key, new in self.new_operations.items():
            if key in self.old_operations:
                yield OperationPair(self.old_operations[key], new)

    def labels(self) -> list[str]:
        """Every operation's label, in the new document's order, then the removed ones."""
        removed = [op for key, op in self.old_operations.items() if key not in self.new_operations]
        return [op.label for op in [*self.new_operations.values(), *removed]]
