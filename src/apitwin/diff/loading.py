"""Reading the documents to compare: OpenAPI 3.0 or 3.1, every $ref inlined. connexion and the spec loader are
imported when a document is read, not with this module: `apitwin --help` imports it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from apitwin.diff.changes import UnreadableSpec


def load_spec(path: Path) -> dict[str, Any]:
    """The OpenAPI 3.x document at `path`, every $ref inlined (relative files included)."""
    from connexion.json_schema import resolve_refs

    from apitwin.spec import load_bundled

    try:
        raw = load_bundled(path)  # a root and the common files it refers to, as the twin serves them
        version = str(raw.get("openapi", ""))
        resolved: dict[str, Any] = resolve_refs(raw)
    except Exception as exc:  # unreadable file, bad YAML, a $ref that does not resolve
        raise UnreadableSpec(f"{path}: {type(exc).__name__}: {exc}") from exc
    if not version.startswith("3."):
        raise UnreadableSpec(f"{path}: not an OpenAPI 3.0 or 3.1 document (openapi: {version or 'missing'})")
    return resolved
