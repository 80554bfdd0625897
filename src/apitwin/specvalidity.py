"""connexion checks each spec against the OpenAPI meta-schema every time an app is built: half of the start-up of
all twins, and again for every app a test suite builds. A spec is the same document until its content changes,
so a check that passed is remembered by the content's hash (with connexion's version, whose meta-schema it is):
in the process, and across processes in the user's cache directory. A changed spec is checked again, and an
invalid one still fails as connexion fails it (`apitwin lint` checks the specs with openapi-spec-validator too).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from connexion.spec import OpenAPISpecification

_valid: set[str] = set()
_installed: list[Callable[..., Any]] = []


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "apitwin" / "valid-specs"


def digest(spec: Any) -> str:
    content = json.dumps(spec, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(f"connexion {metadata.version('connexion')}\n{content}".encode()).hexdigest()


def install() -> None:
    """Make connexion skip the meta-schema check of a spec it has already found valid (once per process)."""
    if _installed:
        return
    original = OpenAPISpecification._validate_spec.__func__

    def validate_once(cls: type, spec: Any) -> None:
        key = digest(spec)
        marker = cache_folder() / key
        if key in _valid or marker.is_file():
            _valid.add(key)
            return
        original(cls, spec)  # raises InvalidSpecification for an invalid spec: nothing is remembered then
        _valid.add(key)
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        except OSError:  # a read-only home: remembered for this process only
            pass

    OpenAPISpecification._validate_spec = classmethod(validate_once)
    _installed.append(original)
