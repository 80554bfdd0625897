"""Dataiku dataset data: partition selection, filter formulas (the language is in dataiku_formula) and the
stream formats."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Sequence
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
