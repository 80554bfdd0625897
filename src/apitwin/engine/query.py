"""List semantics declared in the spec: filters and field projection."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from apitwin.engine.routes import Filter


def matches(doc: Mapping[str, Any], filters: Iterable[Filter], query: Mapping[str, Any]) -> bool:
    """True when the document satisfies every filter whose query parameter was given."""
    for flt in filters:
        if flt.param not in query or query[flt.param] is None:
            continue
        if not _compare(doc.get(flt.field), flt.op, query[flt.param]):
            return False
    return True


def _compare(value: Any, op: str, wanted: Any) -> bool:
    if op == "like":
        return value is not None and str(wanted).casefold() in str(value).casefold()
    if op == "any":
        wanted_items = wanted if isinstance(wanted, list | tuple) else str(wanted).split(",")
        wanted_set = {str(item).strip() for item in wanted_items if str(item).strip()}
        return not wanted_set or bool(wanted_set & {str(item) for item in (value or [])})
    if op == "eq":
        return bool(value == wanted or (value is not None and str(value) == str(wanted)))
    if value is None:
        return False
    if isinstance(value, int | float) and not isinstance(wanted, int | float):
        try:  # a numeric field bounded by a value that arrived as text
            wanted = float(wanted)
        except (TypeError, ValueError):
            return False
    try:
        return bool(value >= wanted) if op == "gte" else bool(value <= wanted)
    except TypeError:
        return str(value) >= str(wanted) if op == "gte" else str(value) <= str(wanted)


def requested_fields(query: Mapping[str, Any], params: Sequence[str]) -> list[str] | None:
    """The fields asked for by the first projection parameter present, or None for all fields."""
    for param in params:
        raw = query.get(param)
        if raw is None:
            continue
        items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
        names = [str(item).strip() for item in items if str(item).strip()]
        if names:
            return names
    return None


def project(doc: Mapping[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    if fields is None:
        return dict(doc)
    return {name: doc[name] for name in fields if name in doc}
