"""Loading the hand-written specs: YAML in, every $ref resolved (relative files included)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

# apitwin runs from its source tree (editable install, as `make` and the Dockerfile do it): the specs and
# fixtures are the project's own top-level folders, not package data.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
SPECS_DIR = PROJECT_ROOT / "specs"
FIXTURES_DIR = PROJECT_ROOT / "fixtures"


def spec_path(file_name: str) -> Path:
    return SPECS_DIR / file_name


def load_raw(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not an OpenAPI document")
    return data


@cache
def load_resolved(path: Path) -> dict[str, Any]:
    """The spec with every $ref inlined, as the engine reads it. Cached: specs do not change at run time."""
    from connexion.json_schema import resolve_refs

    resolved: dict[str, Any] = resolve_refs(load_raw(path), base_uri=path.as_uri())
    return resolved
