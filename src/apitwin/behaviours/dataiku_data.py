"""Dataiku dataset data: partition specs, filter formulas (the language is in dataiku_formula) and the stream
formats."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from itertools import product
from math import prod
from typing import Any

from apitwin.behaviours.dataiku_formula import FormulaError, compile_formula
from apitwin.errors import ErrorKind, TwinError

Row = list[Any]
FORMATS = {
    "json": "application/json",
    "tsv-excel-noheader": "text/tab-separated-values",
    "tsv-excel-header": "text/tab-separated-values",
    "csv": "text/csv",
}
NOT_PARTITIONED = "NP"
MAX_SELECTED_PARTITIONS = 10_000  # a spec's lists multiply across dimensions; past this it is a mistake
# period -> (strptime format, shape, one period back from a datetime)
_PERIODS: dict[str, tuple[str, str, Callable[[datetime], datetime]]] = {
    "YEAR": ("%Y", r"\d{4}", lambda at: at.replace(year=at.year - 1)),
    "MONTH": ("%Y-%m", r"\d{4}-\d{2}", lambda at: at.replace(day=1) - timedelta(days=1)),
    "DAY": ("%Y-%m-%d", r"\d{4}-\d{2}-\d{2}", lambda at: at - timedelta(days=1)),
    "HOUR": ("%Y-%m-%d-%H", r"\d{4}-\d{2}-\d{2}-\d{2}", lambda at: at - timedelta(hours=1)),
}


def invalid(message: str) -> TwinError:
    return TwinError(ErrorKind.INVALID, message)


def partition_ids(spec: Any, dataset: Mapping[str, Any], existing: Collection[str], now: datetime) -> list[str] | None:
    """The partitions a partition spec selects, in the order named; None (every partition) without a spec.

    Spellings: one identifier; several, comma-separated (dataikuapi's recipe docs) or as repeated parameters
    (dataikuapi's iter_rows and clear); a JSON list (the 2015 client's clear); and DSS's partition range
    syntax, one DIMENSION_SPEC per dimension joined by `|`: `DATE`, `DATE/DATE` (a time range, bounds
    included), `v1/v2/...` (discrete values), and the CURRENT_/PREVIOUS_ keywords on the twin's clock. On a
    one-dimension dataset `a|b` names two partitions, as the REST reference's own example
    (`2015-03-01|2015-05-04`) does. A spec that is malformed, names a partition the dataset does not have, or
    whose range holds none of its partitions is a 400, never an empty read or a clear of nothing."""
    texts = list(spec) if isinstance(spec, list | tuple) else [spec]
    if spec is None or not texts:
        return None
    dimensions = list((dataset.get("partitioning") or {}).get("dimensions") or [])
    label = f"{dataset.get('projectKey')}.{dataset.get('name')}"
    selected: dict[str, None] = {}  # ordered, without repeats
    # connexion splits a list parameter at commas, JSON lists included: join, then split where the syntax says
    for item in _spec_items(",".join(str(text) for text in texts)):
        for identifier in _select(item, dimensions, existing, now, label):
            selected[identifier] = None
    return list(selected)


def _spec_items(text: str) -> list[str]:
    """The comma-separated items of a partition list; a JSON list contributes its strings."""
    items, start, depth, quoted, escaped = [], 0, 0, False, False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted:
            escaped, quoted = char == "\\", char != '"'
        elif char in "[]":
            depth += 1 if char == "[" else -1
        elif char == '"' and depth:
            quoted = True
        elif char == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    if depth or quoted:
        raise invalid(f"Malformed partition list {text!r}: unbalanced brackets or quotes")
    items.append(text[start:].strip())
    expanded: list[str] = []
    for item in items:
        if not item.startswith("["):
            expanded.append(item)
            continue
        try:
            listed = json.loads(item)
        except ValueError:
            raise invalid(f"Malformed partition list {item!r}: expected a JSON list of partition ids") from None
        if not isinstance(listed, list) or not listed or not all(isinstance(entry, str) for entry in listed):
            raise invalid(f"Malformed partition list {item!r}: expected a JSON list of partition ids")
        expanded.extend(entry.strip() for entry in listed)
    return expanded


def _select(item: str, dimensions: list[Mapping[str, Any]], existing: Collection[str], now: datetime,
            label: str) -> list[str]:  # fmt: skip
    if not item:
        raise invalid(f"Empty partition spec for {label}")
    if not dimensions:
        if item == NOT_PARTITIONED:
            return [NOT_PARTITIONED]
        raise invalid(f"{label} is not partitioned: its only partition is {NOT_PARTITIONED}, not {item!r}")
    parts = item.split("|")
    if len(parts) == len(dimensions):
        specs = [[_dimension_values(part, dimension, now) for part, dimension in zip(parts, dimensions, strict=True)]]
    elif len(dimensions) == 1:
        specs = [[_dimension_values(part, dimensions[0], now)] for part in parts]
    else:
        names = "|".join(str(d.get("name")) for d in dimensions)
        raise invalid(f"Partition spec {item!r} has {len(parts)} dimension value(s); {label} is partitioned by "
                      f"{len(dimensions)} dimensions ({names})")  # fmt: skip
    selected: list[str] = []
    for spec in specs:
        if all(isinstance(values, list) for values in spec):
            exact = [values for values in spec if isinstance(values, list)]
            if prod(len(values) for values in exact) > MAX_SELECTED_PARTITIONS:
                raise invalid(f"Partition spec {item!r} names more than {MAX_SELECTED_PARTITIONS} partitions")
            named = ["|".join(combination) for combination in product(*exact)]
            missing = [identifier for identifier in named if identifier not in existing]
            if missing:
                raise invalid(f"Unknown partition(s) of {label}: {', '.join(missing)}{_known(existing)}")
            selected.extend(named)
        else:
            in_range = [identifier for identifier in sorted(existing) if _matches(identifier, spec)]
            if not in_range:
                raise invalid(f"No partition of {label} in {item!r}{_known(existing)}")
            selected.extend(in_range)
    return selected


def _known(existing: Collection[str]) -> str:
    shown = sorted(existing)
    return f" (it has {', '.join(shown[:10])}{', ...' if len(shown) > 10 else ''})" if shown else " (it has none)"


def _matches(identifier: str, spec: list[list[str] | tuple[str, str]]) -> bool:
    values = identifier.split("|")
    if len(values) != len(spec):
        return False
    return all(v in s if isinstance(s, list) else s[0] <= v <= s[1] for v, s in zip(values, spec, strict=True))


def _dimension_values(text: str, dimension: Mapping[str, Any], now: datetime) -> list[str] | tuple[str, str]:
    """One DIMENSION_SPEC: the values it names, or the (first, last) bounds of a time range."""
    name = dimension.get("name")
    pieces = [piece.strip() for piece in text.split("/")]
    if not all(pieces):
        raise invalid(f"Malformed partition spec {text!r} for dimension {name}: an empty value")
    if dimension.get("type") != "time":
        return pieces
    period = str((dimension.get("params") or {}).get("period") or "DAY").upper()
    if len(pieces) > 2:
        raise invalid(f"Malformed partition spec {text!r} for time dimension {name}: a range is FIRST/LAST")
    bounds = [_time_value(piece, period, name, now) for piece in pieces]
    if len(bounds) == 1:
        return bounds
    if bounds[0] > bounds[1]:
        raise invalid(f"Partition range {text!r} of dimension {name} ends before it starts")
    return bounds[0], bounds[1]


def _time_value(text: str, period: str, name: Any, now: datetime) -> str:
    if period not in _PERIODS:
        return text  # a period the twin does not know: taken as written
    date_format, shape, previous = _PERIODS[period]
    if text in (f"CURRENT_{period}", f"PREVIOUS_{period}"):
        return (now if text.startswith("CURRENT") else previous(now)).strftime(date_format)
    if re.fullmatch(shape, text):
        try:
            datetime.strptime(text, date_format)
            return text
        except ValueError:
            pass
    example = datetime(2020, 1, 17, 13).strftime(date_format)
    raise invalid(f"{text!r} is not a {period} partition of dimension {name} (e.g. {example} or CURRENT_{period})")


def select_rows(partitions: dict[str, list[Row]], wanted: list[str] | None) -> list[Row]:
    """The rows of the selected partitions (all when none is named), in the order named."""
    keys = sorted(partitions) if wanted is None else [key for key in wanted if key in partitions]
    return [row for key in keys for row in partitions[key]]


def compile_filter(formula: str | None, columns: Sequence[str]) -> Callable[[Row], bool]:
    """The rows a DSS filter formula keeps (every row without one); a formula outside the language is a 400."""
    if formula is None or not formula.strip():
        return lambda row: True
    try:
        return compile_formula(formula, columns)
    except FormulaError as error:
        shown = formula if len(formula) <= 80 else formula[:77] + "..."
        raise invalid(f"Invalid filter formula {shown!r}: {error}") from None


def project_columns(rows: Iterable[Row], all_columns: Sequence[str], wanted: Sequence[str] | None) -> list[Row]:
    if not wanted:
        return [list(row) for row in rows]
    missing = [c for c in wanted if c not in all_columns]
    if missing:
        raise invalid(f"Unknown column(s): {', '.join(missing)}")
    indexes = [list(all_columns).index(c) for c in wanted]
    return [[row[i] if i < len(row) else None for i in indexes] for row in rows]


def cell(value: Any) -> str:
    """How DSS writes a value in its text formats (and in the json format, which is strings too)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return str(value)


def render_rows(rows: list[Row], columns: Sequence[str], data_format: str) -> tuple[bytes, str]:
    """The stream body and its media type."""
    if data_format not in FORMATS:
        raise invalid(f"Unsupported format {data_format!r}; use one of {', '.join(FORMATS)}")
    if data_format == "json":
        return json.dumps([[cell(v) for v in row] for row in rows], ensure_ascii=False).encode(), FORMATS["json"]
    buffer = io.StringIO()
    delimiter = "," if data_format == "csv" else "\t"
    writer = csv.writer(buffer, delimiter=delimiter, quotechar='"', doublequote=True, lineterminator="\n")
    if data_format in ("tsv-excel-header", "csv"):
        writer.writerow(columns)
    writer.writerows([[cell(v) for v in row] for row in rows])
    media_type = FORMATS[data_format]
    return buffer.getvalue().encode(), f"{media_type}; charset=utf-8"
