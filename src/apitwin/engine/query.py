"""List semantics declared in the spec: filters and field projection."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from apitwin.engine.routes import Filter
from apitwin.errors import ErrorKind, TwinError

_DIRECTIVE_SHAPES = {"%Y": r"\d{4}", "%m": r"\d{2}", "%d": r"\d{2}", "%H": r"\d{2}", "%M": r"\d{2}", "%S": r"\d{2}"}
_ISO_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?")


def check_bounds(filters: Iterable[Filter], query: Mapping[str, Any], date_format: str) -> None:
    """A range bound written as a date must be a real one: `2025-13-45 99:99:99` has the shape of a date, and
    compared as text it would quietly answer an empty list. It is a 400, as the real service's date parsing
    would make it."""
    for flt in filters:
        wanted = query.get(flt.param)
        if flt.op not in ("gte", "lte") or not isinstance(wanted, str):
            continue
        if _date_shape(date_format).fullmatch(wanted) and _parse_date(wanted, date_format) is None:
            example = datetime(2025, 2, 26, 14, 9, 55)
            shown = example.isoformat() if date_format in ("iso", "epoch_ms") else example.strftime(date_format)
            raise TwinError(ErrorKind.INVALID, f"{flt.param}: {wanted!r} is not a valid date (e.g. {shown!r})")


@cache
def _date_shape(date_format: str) -> re.Pattern[str]:
    if date_format in ("iso", "epoch_ms"):
        return _ISO_SHAPE
    pattern = re.escape(date_format)
    for directive, shape in _DIRECTIVE_SHAPES.items():
        pattern = pattern.replace(re.escape(directive), shape)
    return re.compile(pattern)


def _parse_date(text: str, date_format: str) -> datetime | None:
    try:
        if date_format in ("iso", "epoch_ms"):
            return datetime.fromisoformat(text)
        return datetime.strptime(text, date_format)
    except ValueError:
        return None


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
