"""List semantics declared in the spec: filters, sorting, pages and field projection."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from apitwin.engine.routes import Filter, Paginate, Sort, sort_keys
from apitwin.engine.schemas import dig, dig_steps
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


def predicate(filters: Iterable[Filter], query: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], bool] | None:
    """Whether a document satisfies every filter whose query parameter was given (or has a default), the query
    read once for all documents; a filter on several fields is satisfied by any of them. None when no filter
    applies (every document matches)."""
    wanted_by: list[tuple[tuple[list[str], ...], str, Any]] = []
    for flt in filters:
        wanted = query.get(flt.param)
        if wanted is None:
            wanted = flt.default
        if flt.values is not None:  # what the parameter's value means for the field (null: every document)
            wanted = flt.values.get(str(wanted), wanted)
        if wanted is not None:
            wanted_by.append((tuple(target.split(".") for target in flt.targets), flt.op, wanted))
    if not wanted_by:
        return None

    def test(doc: Mapping[str, Any]) -> bool:
        for paths, op, wanted in wanted_by:
            for path in paths:
                if _compare(dig_steps(doc, path), op, wanted):
                    break
            else:
                return False
        return True

    return test


def sort_docs(docs: list[Mapping[str, Any]], sort: Sort | None, query: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The documents in the order the sort parameter (or its default) asks; a name the operation does not sort
    on is a 400, never silently ignored."""
    if sort is None:
        return docs
    wanted = query.get(sort.param)
    keys = sort_keys(sort.default if wanted in (None, "", [], ()) else wanted, sort.fields)
    if isinstance(keys, str):
        raise TwinError(ErrorKind.INVALID, f"{sort.param}: {keys}")
    ordered = list(docs)
    for name, descending in reversed(keys):  # stable sorts, last key first: the first key decides most
        path = sort.fields[name]
        try:
            ordered.sort(key=lambda doc: _sortable(dig(doc, path)), reverse=descending)
        except TypeError:  # values of mixed types: compared as text
            ordered.sort(key=lambda doc: _sortable(_text(dig(doc, path))), reverse=descending)
    return ordered


def _sortable(value: Any) -> tuple[bool, Any]:
    return (value is None, 0 if value is None else value)  # missing values last (first when descending)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def page(
    docs: Sequence[Any], paginate: Paginate, query: Mapping[str, Any], url: str
) -> tuple[int, Sequence[Any], str | None, str | None]:
    """(total count, the page's items, next link, previous link) for the limit and offset asked; the links are
    `url` with other query parameters kept, None at either end (and both None with limit 0)."""
    limit = _count(query, paginate.limit, paginate.default_limit)
    offset = _count(query, paginate.offset, 0) or 0
    if limit is not None and (
        limit < paginate.min_limit or (paginate.max_limit is not None and limit > paginate.max_limit)
    ):
        highest = "" if paginate.max_limit is None else f" and {paginate.max_limit}"
        raise TwinError(ErrorKind.INVALID, f"{paginate.limit}: must be between {paginate.min_limit}{highest}")
    if offset < 0:
        raise TwinError(ErrorKind.INVALID, f"{paginate.offset}: must be 0 or more")
    total = len(docs)
    if limit is None:
        return total, docs[offset:], None, None
    following = previous = None
    if limit > 0 and offset + limit < total:
        following = _link(url, {paginate.limit: limit, paginate.offset: offset + limit})
    if limit > 0 and offset > 0:
        # the first page's link names no offset, as Django REST framework (which ODS answers from) writes it
        back = offset - limit if offset - limit > 0 else None
        previous = _link(url, {paginate.limit: limit, paginate.offset: back})
    return total, docs[offset : offset + limit], following, previous


def _count(query: Mapping[str, Any], param: str | None, default: int | None) -> int | None:
    raw = query.get(param) if param is not None else None
    if raw is None or raw == "":
        return default
    if isinstance(raw, float) and raw.is_integer():  # a parameter the spec types as a number
        return int(raw)
    if isinstance(raw, int) or (isinstance(raw, str) and re.fullmatch(r"\s*-?\d+\s*", raw)):
        return int(raw)
    raise TwinError(ErrorKind.INVALID, f"{param}: {raw!r} is not an integer")


def _link(url: str, changes: Mapping[str | None, int | None]) -> str:
    """`url` with each changed query parameter set where it stood (or appended), or removed for None."""
    parts = urlsplit(url)
    pairs: list[tuple[str, str]] = []
    done: set[str] = set()
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in changes:
            pairs.append((name, value))
        elif name not in done:
            done.add(name)
            if changes[name] is not None:
                pairs.append((name, str(changes[name])))
    pairs += [(name, str(value)) for name, value in changes.items() if name and name not in done and value is not None]
    return urlunsplit(parts._replace(query=urlencode(pairs)))


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
