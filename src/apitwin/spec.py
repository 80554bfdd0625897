"""Loading the hand-written specs: YAML in, every $ref resolved (relative files included)."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import yaml

# The specs and fixtures are the project's top-level folders; an installed wheel carries copies inside the
# package (see pyproject's package-dir), which win when present.
_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    packaged = _PACKAGE / f"_{name}"
    return packaged if packaged.is_dir() else _PACKAGE.parents[1] / name


SPECS_DIR = _data_dir("specs")
FIXTURES_DIR = _data_dir("fixtures")
# An installed package's data lives in site-packages: nothing may write there.
INSTALLED = FIXTURES_DIR.parent == _PACKAGE


def spec_path(file_name: str) -> Path:
    return SPECS_DIR / file_name


def load_raw(path: Path) -> dict[str, Any]:
    """The spec as written (a fresh copy each call: callers may change it)."""
    return copy.deepcopy(_parsed(path, path.stat().st_mtime_ns))


@cache
def _parsed(path: Path, mtime_ns: int) -> dict[str, Any]:
    # libyaml's loader when PyYAML has it: the Dataiku spec takes 0.3 s to parse in pure Python
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=loader)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not an OpenAPI document")
    return data


@cache
def load_resolved(path: Path) -> dict[str, Any]:
    """The spec with every $ref inlined, as the engine reads it. Cached: specs do not change at run time."""
    from connexion.json_schema import resolve_refs

    resolved: dict[str, Any] = resolve_refs(load_raw(path), base_uri=path.as_uri())
    return resolved


def for_connexion(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with path-level parameters copied into each operation (the operation's own entry wins).

    connexion 3.3 appends path-level parameters to the operation's list once per middleware it builds, so a
    path parameter ends up validated six times per request; merged up front, it is validated once.
    """
    merged = copy.deepcopy(spec)
    for item in merged.get("paths", {}).values():
        shared = item.pop("parameters", None) if isinstance(item, dict) else None
        if not shared:
            continue
        for method, operation in item.items():
            if method.startswith("x-") or not isinstance(operation, dict):
                continue
            own = operation.get("parameters", [])
            names = {(p.get("name"), p.get("in")) for p in own if "$ref" not in p}
            refs = {p.get("$ref") for p in own if "$ref" in p}
            extra = [p for p in shared if (p.get("name"), p.get("in")) not in names and p.get("$ref") not in refs]
            operation["parameters"] = [*own, *extra]
    return merged
