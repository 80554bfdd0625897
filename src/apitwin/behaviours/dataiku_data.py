"""Dataiku dataset data: partition selection, the DSS filter formula subset, and the stream formats."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from apitwin.errors import ErrorKind, TwinError

Row = list[Any]
FORMATS = {
    "json": "application/json",
    "tsv-excel-noheader": "text/tab-separated-values",
    "tsv-excel-header": "text/tab-separated-values",
    "csv": "text/csv",
}
_CLAUSE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(==|!=|>=|<=|>|<)\s*(.+?)\s*$")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: bool(a == b),
    "!=": lambda a, b: bool(a != b),
    ">=": lambda a, b: bool(a >= b),
    "<=": lambda a, b: bool(a <= b),
    ">": lambda a, b: bool(a > b),
    "<": lambda a, b: bool(a < b),
}


def invalid(message: str) -> TwinError:
    return TwinError(ErrorKind.INVALID, message)


def partition_list(spec: Any) -> list[str] | None:
    """A partition spec (`2015-07-07`, `a,b`, `a|b`, a JSON-ish list, or a list) as partition ids."""
    if spec is None or spec == "" or spec == []:
        return None
    items = spec if isinstance(spec, list | tuple) else re.split(r"[,|]", str(spec).strip("[]"))
    ids = [str(item).strip().strip("\"'") for item in items]
    return [item for item in ids if item] or None


def select_rows(partitions: dict[str, list[Row]], wanted: list[str] | None) -> list[Row]:
    """The rows of the selected partitions (all when none is named); a partition that holds no data selects
    nothing, as an empty partition folder would."""
    keys = sorted(partitions) if wanted is None else [key for key in wanted if key in partitions]
    return [row for key in keys for row in partitions[key]]


def compile_filter(formula: str | None, columns: Sequence[str]) -> Callable[[Row], bool]:
    """The subset of DSS formulas the twin understands: comparisons of a column with a literal, joined by &&."""
    if not formula or not formula.strip():
        return lambda row: True
    tests: list[tuple[int, Callable[[Any, Any], bool], Any]] = []
    for clause in formula.split("&&"):
        match = _CLAUSE.match(clause)
        if not match:
            raise invalid(f"Invalid filter formula {formula!r}: expected 'column OP value' clauses joined by &&")
        column, op, raw = match.groups()
        if column not in columns:
            raise invalid(f"Invalid filter formula {formula!r}: unknown column {column!r}")
        tests.append((list(columns).index(column), _OPS[op], _literal(raw)))

    def keep(row: Row) -> bool:
        return all(_compare(test, row[index] if index < len(row) else None, value) for index, test, value in tests)

    return keep


def _literal(raw: str) -> Any:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    try:
        return float(raw)
    except ValueError:
        return raw


def _compare(test: Callable[[Any, Any], bool], value: Any, wanted: Any) -> bool:
    if value is None:
        return False
    if isinstance(wanted, float):
        try:
            return test(float(value), wanted)
        except (TypeError, ValueError):
            return False
    return test(str(value), wanted)


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
        import json

        return json.dumps([[cell(v) for v in row] for row in rows], ensure_ascii=False).encode(), FORMATS["json"]
    buffer = io.StringIO()
    delimiter = "," if data_format == "csv" else "\t"
    writer = csv.writer(buffer, delimiter=delimiter, quotechar='"', doublequote=True, lineterminator="\n")
    if data_format in ("tsv-excel-header", "csv"):
        writer.writerow(columns)
    writer.writerows([[cell(v) for v in row] for row in rows])
    media_type = FORMATS[data_format]
    return buffer.getvalue().encode(), f"{media_type}; charset=utf-8"
