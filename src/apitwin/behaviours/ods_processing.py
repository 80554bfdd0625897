"""Opendatasoft / Huwise resource processing: read an uploaded file as the platform does -- guess its extractor
and the extractor's parameters, preview its first records -- and run a dataset's processors and fields
configuration over its records when the dataset is published. Pure functions of bytes and configuration (no
HTTP, no store), linear in the input, bounded by a byte and a row budget: callers run them in a worker thread.

Sources. The vendor's published contract: the csvfile parameters `separator`, `encoding`, `first_row_no`,
`headers_first_row`, `doublequote` (its guess answer `{extractor, params}` shows exactly these); the jsonfile ones
`extract_filename`, `json_root`, `json_object`; the preview `{fields, records}`, a field being `{name, label, type,
annotations: [{name, args}], description, original_name}` and a record the source's values by field name (its
example: `{"year": "2022", ...}` under a `date` field annotated `timeserie_precision: [year]`); the status's
`records_errors` items `{record_id, field_uid, processor_uid, message}`, which come "from a processor: when a
value is invalid or an operation failed" and "from a type conversion", and `params.error {limit_type, limit,
value}` in `limit_reached`. The platform's connector pages: CSV takes any Python codec alias as `encoding`, an
escape character (`escapechar`) and `extract_filename`, and without headers "the field labels will then be
empty"; JSON File takes a dot-separated `json_root` ("If not provided, the connector tries items"), a relative
`json_object`, and turns an array of strings into one multivalued value joined by ";". JSON Line is a separate
connector, absent from the twin's catalogue. The Management API's dataset status page: the `error` status
"can be an error from the source or a pipeline misconfiguration", e.g. "Processor {processor_id} is
misconfigured for field {field}: {msg}"; a records error reads `Cannot convert "a" to "int"` for `column_1`.

Decisions where the sources are silent:
- Field names: the label with accents dropped (NFKD), case-folded, each run of other characters than a-z and
  0-9 made one `_`, `_` trimmed at both ends; an empty result is `column_<position>` (the name the status page
  shows); a name already taken gets `_2`, `_3`... Labels are the header text, trimmed; without headers they are
  empty and the names `column_1`... `extract_filename` adds a last field `filename` (label "Filename").
- A processor or field configuration naming a field that does not exist, a regular expression or replacement
  that does not compile, an empty text to replace, an unknown type: a pipeline misconfiguration, so
  `ConfigurationError` (the dataset goes to `error` with that message), never a records error. Records errors
  are per value: a processor meeting a JSON object or array, a value its field's type cannot hold (the value
  is then null). `record_id` is the SHA-1 of the processed record (the platform's ids are 40 hex digits).
  At most MAX_RECORDS_ERRORS errors are listed; `records_errors_count` counts them all.
- Processors run first, on the extracted names, in order; the fields configuration then applies in order, each
  item naming the field as the items before it left it. Types are guessed on the first TYPE_SAMPLE_ROWS records
  after the processors: int (no leading zero, 64 bits), double (`.` decimals only: "1,5" stays text), date
  (ISO `YYYY-MM-DD`; texts of four-digit years 1900-2100 alone are a date with `timeserie_precision: [year]`, as the
  contract's example), datetime (ISO 8601; without an offset, UTC), else text. JSON objects and arrays stay as
  they are under `text`; booleans are "true"/"false". Empty values are null. A `file` field keeps its text.
- `first_row_no` counts physical lines: the lines before it are skipped before any CSV parsing. Quoting is
  strict: an unterminated quote or text after a closing quote is a SourceError naming the line, as is a row
  whose number of values differs from the header's. Blank lines are skipped. The BOM never reaches a label.
- Parameters missing from a csvfile configuration are guessed, as the platform guesses them; parameters the
  extractor does not take are ignored.
- The record limit keeps the first `record_limit` records and reports `limit_reached` with `params.error =
  {"limit_type": "records", "limit": <limit>, "value": <records in the source>}` (the limit type's spelling is
  not published).

Left out: regular expressions run on Python's engine without a time limit (a catastrophic pattern costs CPU in
its worker thread); the geo types are only converted, never guessed.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

EXTRACTORS = ("csvfile", "jsonfile")
FIELD_TYPES = ("text", "int", "double", "geo_point_2d", "geo_shape", "date", "datetime", "file")
PREVIEW_LIMIT = 20  # "the content of the first records up to 20"
DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # one upload (blobs.DEFAULT_MAX_BLOB)
DEFAULT_MAX_ROWS = 500_000
TYPE_SAMPLE_ROWS = 1000
MAX_RECORDS_ERRORS = 1000
LIMIT_TYPE = "records"
SEPARATORS = (",", ";", "\t", "|")  # on a tie, the earlier wins
_SAMPLE_CHARS = 64 * 1024
_SAMPLE_ROWS = 50
_INT64 = 2**63
_YEARS = range(1900, 2101)
_CONTROL_BYTES = bytes([*range(0, 9), 11, *range(14, 32), 127])  # not tab, LF, FF, CR
_CSV_HINTS = (
    {".csv", ".tsv", ".txt", ".dat"},
    {"text/csv", "text/tab-separated-values", "text/plain", "application/csv"},
)
_JSON_HINTS = ({".json"}, {"application/json", "text/json"})
_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,18})")
_DOUBLE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")  # what a double accepts
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?"
)
_YEAR = re.compile(r"[0-9]{4}")
_LINE_END = re.compile(r"\r\n|\r|\n")
_NOT_NAME = re.compile(r"[^a-z0-9]+")


class ProcessingError(Exception):
    """The file cannot be read, or the configuration cannot run: a 400 for a guess or a preview, the `error`
    status for a publication. `message` is the English text; `raw_message` and `raw_params` its template and
    values, as the platform's status carries them."""

    def __init__(self, raw_message: str, **raw_params: Any) -> None:
        self.raw_message = raw_message
        self.raw_params = raw_params
        self.message = raw_message.format(**raw_params)
        super().__init__(self.message)


class SourceError(ProcessingError):
    """The file is not what its extractor reads: undecodable, not JSON, ragged, empty, binary."""


class BudgetError(SourceError):
    """The file is beyond the twin's byte or row budget."""


class ConfigurationError(ProcessingError):
    """An extractor parameter, a processor or a field configuration cannot apply."""


@dataclass(frozen=True)
class ProcessingResult:
    """A dataset's records after its processors and fields configuration, as a publication leaves them."""

    fields: list[dict[str, Any]]
    records: list[dict[str, Any]]
    records_errors: list[dict[str, Any]]  # the first MAX_RECORDS_ERRORS, in record order
    records_errors_count: int
    source_record_count: int
    record_limit: int | None

    @property
    def record_count(self) -> int:
        return len(self.records)

    @property
    def limit_reached(self) -> bool:
        return self.record_limit is not None and self.source_record_count > self.record_limit

    @property
    def status(self) -> str:
        """The status the processing ends in (a failed one raises instead)."""
        return "limit_reached" if self.limit_reached else "idle"

    @property
    def params(self) -> dict[str, Any]:
        """The status's `params`."""
        if not self.limit_reached:
            return {}
        return {"error": {"limit_type": LIMIT_TYPE, "limit": self.record_limit, "value": self.source_record_count}}


@dataclass
class _Field:
    name: str
    label: str
    source: str  # its key in the extracted rows
    type: str = "text"
    annotations: list[dict[str, Any]] = field(default_factory=list)
    description: str | None = None
    guessed_annotation: str | None = None  # dropped when a type configuration changes the type
    type_uid: str | None = None  # the type configuration that set the type

    def to_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"name": self.name, "label": self.label, "type": self.type}
        answer["annotations"] = [dict(annotation) for annotation in self.annotations]
        if self.description is not None:
            answer["description"] = self.description
        if self.name != self.source:
            answer["original_name"] = self.source
        return answer


@dataclass
class _Extracted:
    fields: list[_Field]
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class _CsvParams:
    separator: str
    encoding: str
    first_row_no: int
    headers_first_row: bool
    doublequote: bool
    escapechar: str | None
    extract_filename: bool


# -- public functions ------------------------------------------------------------------------------------------


def normalise_field_name(label: str) -> str:
    """The technical name the platform derives from a label ("" when nothing of it is kept)."""
    decomposed = unicodedata.normalize("NFKD", label)
    kept = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _NOT_NAME.sub("_", kept.casefold()).strip("_")


def guess_extractors(data: bytes, filename: str, mimetype: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[str]:
    """The extractor types that can read the file, best first (empty when none can). The content decides: a
    JSON document holding an array of objects is a jsonfile; text that splits into a constant number (two or
    more) of columns is a csvfile. The name and media type only decide for text of one column (or past the byte
    budget, where nothing is read)."""
    body = data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    if not body.strip() or _looks_binary(data):
        return []
    hint = _format_hint(filename, mimetype)
    if len(data) > max_bytes:
        return [hint] if hint else []
    try:
        text = _decode(data, _guess_encoding(data))
    except SourceError:
        return []
    if text.lstrip()[:1] in ("[", "{"):
        document = _maybe_json(text)
        if document is not _NOT_JSON:
            return ["jsonfile"] if _records_path(document) is not None else []
        if _is_json_lines(text):
            return []  # the platform's JSON Line connector, which the twin's catalogue does not hold
    sample = _sample_rows(text, _guess_separator(text))
    widths = Counter(len(row) for row in sample)
    if (len(widths) == 1 and min(widths) >= 2) or hint == "csvfile":
        return ["csvfile"]
    return []


def guess_params(extractor: str, data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, Any]:
    """The parameters the extractor reads the file with, named as the contract names them."""
    _check_size(data, max_bytes)
    _require_content(data)
    if extractor == "csvfile":
        if _looks_binary(data):
            raise SourceError("The file is binary, not CSV text")
        encoding = _guess_encoding(data)
        text = _decode(data, encoding)
        separator = _guess_separator(text)
        return {
            "doublequote": True,
            "encoding": encoding,
            "first_row_no": 1,
            "headers_first_row": _guess_headers(_sample_rows(text, separator)),
            "separator": separator,
        }
    if extractor == "jsonfile":
        path = _records_path(_load_json(data))
        if path is None:
            raise SourceError("The JSON document holds no array of objects")
        return {"json_root": path} if path else {}
    raise _unknown_extractor(extractor)


def preview(
    extractor: str,
    params: Mapping[str, Any] | None,
    data: bytes,
    limit: int = PREVIEW_LIMIT,
    *,
    filename: str = "",
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> dict[str, list[dict[str, Any]]]:
    """The fields (types guessed) and the first `limit` records as the source holds them (CSV values are text)."""
    if limit < 0:
        raise ConfigurationError("The preview limit must be 0 or more, not {limit}", limit=limit)
    extracted = _extract(extractor, params or {}, data, filename, max_bytes, max_rows, max(limit, TYPE_SAMPLE_ROWS))
    _guess_types(extracted.fields, extracted.rows)
    return {"fields": [f.to_dict() for f in extracted.fields], "records": extracted.rows[:limit]}


def process(
    extractor: str,
    params: Mapping[str, Any] | None,
    data: bytes,
    processors: Sequence[Mapping[str, Any]],
    field_configurations: Sequence[Mapping[str, Any]],
    record_limit: int | None,
    *,
    filename: str = "",
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> ProcessingResult:
    """Extract every record, keep the first `record_limit`, run the processors then the fields configuration in
    order, and convert each value to its field's type. Raises SourceError, BudgetError or ConfigurationError."""
    if record_limit is not None and record_limit < 0:
        raise ConfigurationError("The record limit must be 0 or more, not {limit}", limit=record_limit)
    extracted = _extract(extractor, params or {}, data, filename, max_bytes, max_rows, None)
    source_count = len(extracted.rows)
    rows = extracted.rows if record_limit is None else extracted.rows[:record_limit]
    pending: list[tuple[int, str, str | None, str]] = []  # (row, field, processor uid, message)
    known = {f.name for f in extracted.fields}
    for index, processor in enumerate(processors):
        _apply_processor(index, processor, known, rows, pending)
    _guess_types(extracted.fields, rows)
    final = _configure_fields(extracted.fields, field_configurations)
    records, errors, count = _typed_records(rows, final, pending)
    return ProcessingResult(
        fields=[f.to_dict() for f in final],
        records=records,
        records_errors=errors,
        records_errors_count=count,
        source_record_count=source_count,
        record_limit=record_limit,
    )


def record_id(record: Mapping[str, Any]) -> str:
    """A record's identifier: the SHA-1 of its content (equal records share it, as on the platform)."""
    content = json.dumps(record, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha1(content.encode("utf-8")).hexdigest()


# -- reading bytes ---------------------------------------------------------------------------------------------


def _check_size(data: bytes, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise BudgetError("The file holds {size} bytes, beyond the budget of {limit}", size=len(data), limit=max_bytes)


def _require_content(data: bytes) -> None:
    body = data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    if not body.strip():
        raise SourceError("The file is empty")


def _looks_binary(data: bytes) -> bool:
    sample = data[:_SAMPLE_CHARS]
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return b"\x00" in sample or controls * 10 > len(sample)


def _format_hint(filename: str, mimetype: str) -> str | None:
    extension = filename[filename.rfind(".") :].lower() if "." in filename else ""
    media = mimetype.split(";")[0].strip().lower()
    for extractor, (extensions, medias) in (("jsonfile", _JSON_HINTS), ("csvfile", _CSV_HINTS)):
        if extension in extensions or media in medias:
            return extractor
    return None


def _guess_encoding(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    # windows-1252 and iso-8859-1 differ on 0x80-0x9f only: there, iso-8859-1 holds control characters
    if re.search(rb"[\x80-\x9f]", data):
        try:
            data.decode("windows-1252")
            return "windows-1252"
        except UnicodeDecodeError:
            pass
    return "iso-8859-1"


def _decode(data: bytes, encoding: str) -> str:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise SourceError(
            "The file is not {encoding} text: byte 0x{byte} at offset {offset} is not a character of it",
            encoding=encoding, byte=f"{data[exc.start]:02x}", offset=exc.start,
        ) from None  # fmt: skip
    except LookupError:
        raise ConfigurationError("Unknown text encoding {encoding}", encoding=encoding) from None
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        raise SourceError("The file holds NUL characters: it is not {encoding} text", encoding=encoding)
    return text


# -- CSV -------------------------------------------------------------------------------------------------------


def _sample_rows(text: str, separator: str) -> list[list[str]]:
    """The first rows of the text, leniently read; a row the sample cuts off is left out."""
    truncated = len(text) > _SAMPLE_CHARS
    reader = csv.reader(io.StringIO(text[:_SAMPLE_CHARS], newline=""), delimiter=separator)
    rows: list[list[str]] = []
    try:
        for row in reader:
            if row and (len(row) > 1 or row[0].strip()):
                rows.append(row)
            if len(rows) > _SAMPLE_ROWS:
                break
    except csv.Error:
        pass
    if truncated and len(rows) <= _SAMPLE_ROWS and rows:
        rows.pop()
    return rows[:_SAMPLE_ROWS]


def _guess_separator(text: str) -> str:
    best, best_score = SEPARATORS[0], (0.0, 0)
    for separator in SEPARATORS:
        rows = _sample_rows(text, separator)
        if not rows:
            continue
        width, hits = Counter(len(row) for row in rows).most_common(1)[0]
        score = (hits / len(rows), width)
        if width >= 2 and score > best_score:
            best, best_score = separator, score
    return best


def _guess_headers(rows: list[list[str]]) -> bool:
    """False when the first row holds, in some column, a value of the non-text type the rows below share."""
    if len(rows) < 2:
        return True
    for column, head in enumerate(rows[0]):
        kinds = _kinds(row[column] for row in rows[1:] if column < len(row))
        head_kind = _kind(head)
        if kinds and head_kind is not None and _combine(kinds) != "text" and _combine(kinds | {head_kind}) != "text":
            return False
    return True


def _csv_params(params: Mapping[str, Any], data: bytes) -> _CsvParams:
    guessed: dict[str, Any] = {}
    if any(name not in params for name in ("separator", "encoding", "headers_first_row")):
        guessed = guess_params("csvfile", data, max_bytes=len(data))

    def given(name: str, default: Any) -> Any:
        return params[name] if params.get(name) is not None else guessed.get(name, default)

    separator = given("separator", ",")
    if not isinstance(separator, str) or len(separator) != 1 or separator in '\r\n"':
        raise _bad_param("separator", separator, "one character, not a quote or a line end")
    encoding = given("encoding", "utf-8")
    if not isinstance(encoding, str) or not encoding:
        raise _bad_param("encoding", encoding, "the name of a text encoding")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ConfigurationError("Unknown text encoding {encoding}", encoding=encoding) from None
    escapechar = params.get("escapechar") or None
    if escapechar is not None and (not isinstance(escapechar, str) or len(escapechar) != 1):
        raise _bad_param("escapechar", escapechar, "one character")
    return _CsvParams(
        separator=separator,
        encoding=encoding,
        first_row_no=_int_param("first_row_no", given("first_row_no", 1)),
        headers_first_row=_bool_param("headers_first_row", given("headers_first_row", True)),
        doublequote=_bool_param("doublequote", given("doublequote", True)),
        escapechar=escapechar,
        extract_filename=_bool_param("extract_filename", params.get("extract_filename", False)),
    )


def _extract_csv(params: _CsvParams, data: bytes, filename: str, max_rows: int, keep: int | None) -> _Extracted:
    text = _decode(data, params.encoding)
    skipped = params.first_row_no - 1
    start = 0
    for _ in range(skipped):
        line_end = _LINE_END.search(text, start)
        start = line_end.end() if line_end else len(text)
    reader = csv.reader(
        io.StringIO(text[start:], newline=""),
        delimiter=params.separator, doublequote=params.doublequote, escapechar=params.escapechar, strict=True,
    )  # fmt: skip
    fields: list[_Field] | None = None
    named = _Fields()
    rows: list[dict[str, Any]] = []
    try:
        for values in reader:
            if not values or (len(values) == 1 and not values[0].strip() and (fields is None or len(fields) > 1)):
                continue
            if fields is None:
                for value in values:
                    named.add(value.strip() if params.headers_first_row else "")
                fields = named.fields
                if params.headers_first_row:
                    continue
            if len(values) != len(fields):
                raise SourceError(
                    "Line {line} holds {count} values where the header holds {expected}",
                    line=reader.line_num + skipped, count=len(values), expected=len(fields),
                )  # fmt: skip
            if len(rows) >= max_rows:
                raise _too_many_rows(max_rows)
            rows.append({f.source: value for f, value in zip(fields, values, strict=True)})
            if keep is not None and len(rows) >= keep:
                break
    except csv.Error as exc:
        raise SourceError(
            "Line {line} is not valid CSV: {reason}", line=reader.line_num + skipped, reason=str(exc)
        ) from None
    if fields is None:
        raise SourceError("The file holds no line to read")
    if params.extract_filename:
        named.add_filename(rows, filename)
    return _Extracted(named.fields, rows)


# -- JSON ------------------------------------------------------------------------------------------------------

_NOT_JSON = object()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _load_json(data: bytes) -> Any:
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise SourceError(
            "The file is not UTF-8 JSON: byte at offset {offset} is not UTF-8", offset=exc.start
        ) from None
    except json.JSONDecodeError as exc:
        raise SourceError(
            "The file is not valid JSON: {reason} at line {line}, column {column}",
            reason=exc.msg, line=exc.lineno, column=exc.colno,
        ) from None  # fmt: skip
    except (ValueError, RecursionError) as exc:
        raise SourceError("The file is not valid JSON: {reason}", reason=str(exc) or "too deeply nested") from None


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _is_json_lines(text: str) -> bool:
    lines = [line for line in text[:_SAMPLE_CHARS].splitlines() if line.strip()][:_SAMPLE_ROWS]
    if len(text) > _SAMPLE_CHARS and len(lines) > 1:
        lines.pop()  # cut off by the sample
    return len(lines) > 1 and all(_maybe_json(line) is not _NOT_JSON for line in lines)


def _is_records(node: Any) -> bool:
    return isinstance(node, list) and all(isinstance(item, dict) for item in node)


def _records_path(document: Any) -> str | None:
    """The json_root of the document's array of objects: "" at the root, else the first found breadth-first."""
    if _is_records(document):
        return ""
    queue: list[tuple[str, Any]] = [("", document)]
    for path, node in queue:  # grows while read: breadth-first over objects
        if not isinstance(node, dict):
            continue
        if "items" in node and _is_records(node["items"]) and node["items"]:
            return f"{path}items"
        for key, value in node.items():
            if isinstance(value, list) and value and _is_records(value):
                return f"{path}{key}"
            if isinstance(value, dict) and path.count(".") < 8:
                queue.append((f"{path}{key}.", value))
    return None


def _walk(node: Any, path: str, what: str) -> Any:
    segments = path.split(".")
    for position, segment in enumerate(segments):
        if isinstance(node, list) and segment == "item" and position == len(segments) - 1:
            return node  # ijson's name for the array's items
        if not isinstance(node, dict) or segment not in node:
            raise SourceError("The {what} {path} is not in the document: {segment} is missing", what=what, path=path,
                              segment=".".join(segments[: position + 1]))  # fmt: skip
        node = node[segment]
    return node


def _extract_json(params: Mapping[str, Any], data: bytes, filename: str, max_rows: int) -> _Extracted:
    root = params.get("json_root") or ""
    relative = params.get("json_object") or ""
    for name, value in (("json_root", root), ("json_object", relative)):
        if not isinstance(value, str):
            raise _bad_param(name, value, "a dot-separated path")
    extract_filename = _bool_param("extract_filename", params.get("extract_filename", False))
    document = _load_json(data)
    if root:
        items = _walk(document, root, "JSON root")
    elif isinstance(document, dict) and "items" in document:
        items = document["items"]
    elif isinstance(document, dict):
        raise SourceError("The JSON document is an object without items: set json_root to the path of its records")
    else:
        items = document
    if not isinstance(items, list):
        raise SourceError("The JSON root {path} is not an array", path=root or "items")
    if len(items) > max_rows:
        raise _too_many_rows(max_rows)
    named = _Fields()
    names: dict[str, _Field] = {}
    rows: list[dict[str, Any]] = []
    for position, item in enumerate(items):
        record = _walk(item, relative, "JSON object") if relative else item
        if not isinstance(record, dict):
            raise SourceError("Record {position} is a JSON {kind}, not an object", position=position + 1,
                              kind=_json_kind(record))  # fmt: skip
        row: dict[str, Any] = {}
        for key, value in record.items():
            f = names.get(key)
            if f is None:
                f = names[key] = named.add(key.strip())
            if isinstance(value, list) and value and all(isinstance(part, str) for part in value):
                value = ";".join(value)
                if not f.annotations:
                    f.annotations.append({"name": "multivalued", "args": [";"]})
            row[f.source] = value
        rows.append(row)
    if extract_filename:
        named.add_filename(rows, filename)
    return _Extracted(named.fields, rows)


def _json_kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


# -- fields and types ------------------------------------------------------------------------------------------


class _Fields:
    """The fields of a source in order, each named once."""

    def __init__(self) -> None:
        self.fields: list[_Field] = []
        self._taken: set[str] = set()
        self._next_suffix: dict[str, int] = {}  # so n fields of one name cost n steps, not n squared

    def add(self, label: str) -> _Field:
        base = normalise_field_name(label) or f"column_{len(self.fields) + 1}"
        name, suffix = base, self._next_suffix.get(base, 2)
        while name in self._taken:
            name, suffix = f"{base}_{suffix}", suffix + 1
        self._next_suffix[base] = suffix
        self._taken.add(name)
        created = _Field(name=name, label=label, source=name)
        self.fields.append(created)
        return created

    def add_filename(self, rows: list[dict[str, Any]], filename: str) -> None:
        f = self.add("filename")
        f.label = "Filename"
        for row in rows:
            row[f.source] = filename


def _kind(value: Any) -> str | None:
    """What one value can be: None (empty), year, int, double, date, datetime or text."""
    if value is None or isinstance(value, bool | dict | list):
        return None if value is None else "text"
    if isinstance(value, int):  # a JSON number: never a year, which the contract shows as text
        return "int" if -_INT64 <= value < _INT64 else "double"
    if isinstance(value, float):
        return "double"
    text = str(value).strip()
    if not text:
        return None
    if _YEAR.fullmatch(text) and int(text) in _YEARS:
        return "year"
    if _INT.fullmatch(text):
        return "int" if -_INT64 <= int(text) < _INT64 else "text"
    if _DOUBLE.fullmatch(text):
        return "double"
    if _DATE.fullmatch(text) and _parse_date(text) is not None:
        return "date"
    if _DATETIME.fullmatch(text) and _parse_datetime(text) is not None:
        return "datetime"
    return "text"


def _kinds(values: Iterable[Any]) -> set[str]:
    return {kind for value in values if (kind := _kind(value)) is not None}


def _combine(kinds: set[str]) -> str:
    for wider in ("int", "double", "date", "datetime"):
        if kinds <= _WIDENS[wider]:
            return wider
    return "text"


_WIDENS = {
    "int": {"year", "int"},
    "double": {"year", "int", "double"},
    "date": {"year", "date"},
    "datetime": {"year", "date", "datetime"},
}


def _guess_types(fields: list[_Field], rows: list[dict[str, Any]]) -> None:
    sample = rows[:TYPE_SAMPLE_ROWS]
    for f in fields:
        kinds = _kinds(row.get(f.source) for row in sample)
        if kinds == {"year"}:
            f.type = "date"
            f.annotations.append({"name": "timeserie_precision", "args": ["year"]})
            f.guessed_annotation = "timeserie_precision"
        else:
            f.type = _combine(kinds) if kinds else "text"


def _parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _parse_datetime(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _convert(value: Any, field_type: str) -> Any:
    """The value as a field of the type holds it; ValueError when it cannot."""
    if value is None or (isinstance(value, str) and not value.strip() and (field_type != "text" or not value)):
        return None
    if field_type in ("text", "file"):
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value) if isinstance(value, int | float) else value
    if isinstance(value, dict | list | bool) and field_type != "geo_shape" and field_type != "geo_point_2d":
        raise ValueError(value)
    converter = _CONVERTERS[field_type]
    return converter(value.strip() if isinstance(value, str) else value)


def _to_int(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]+", value):
        value = int(value)
    if isinstance(value, int) and -_INT64 <= value < _INT64:
        return value
    raise ValueError(value)


def _to_double(value: Any) -> float:
    if isinstance(value, str) and not _NUMBER.fullmatch(value):
        raise ValueError(value)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def _to_date(value: Any) -> str:
    text = str(value)
    if _YEAR.fullmatch(text):
        return date(int(text), 1, 1).isoformat()
    parsed = _parse_date(text) if _DATE.fullmatch(text) else None
    if parsed is None and _DATETIME.fullmatch(text):
        moment = _parse_datetime(text)
        parsed = moment.date() if moment is not None else None
    if parsed is None:
        raise ValueError(value)
    return parsed.isoformat()


def _to_datetime(value: Any) -> str:
    text = str(value)
    if _YEAR.fullmatch(text) or _DATE.fullmatch(text):
        return datetime.fromisoformat(_to_date(text)).replace(tzinfo=UTC).isoformat()
    moment = _parse_datetime(text) if _DATETIME.fullmatch(text) else None
    if moment is None:
        raise ValueError(value)
    return moment.isoformat()


def _to_geo_point(value: Any) -> dict[str, float]:
    if isinstance(value, dict):
        pair: list[Any] = [value.get("lat"), value.get("lon")]
    elif isinstance(value, list):
        pair = value
    else:
        pair = re.split(r"\s*[,;\s]\s*", str(value))
    if len(pair) != 2:
        raise ValueError(value)
    lat, lon = (_to_double(part.strip() if isinstance(part, str) else part) for part in pair)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(value)
    return {"lon": lon, "lat": lat}


def _to_geo_shape(value: Any) -> dict[str, Any]:
    shape = _maybe_json(value) if isinstance(value, str) else value
    if (
        isinstance(shape, dict)
        and isinstance(shape.get("type"), str)
        and ("coordinates" in shape or "geometries" in shape)
    ):
        return shape
    raise ValueError(value)


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "int": _to_int,
    "double": _to_double,
    "date": _to_date,
    "datetime": _to_datetime,
    "geo_point_2d": _to_geo_point,
    "geo_shape": _to_geo_shape,
}


def _shorten(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
    return text if len(text) <= 100 else text[:97] + "..."


# -- the pipeline ----------------------------------------------------------------------------------------------


def _extract(
    extractor: str,
    params: Mapping[str, Any],
    data: bytes,
    filename: str,
    max_bytes: int,
    max_rows: int,
    keep: int | None,
) -> _Extracted:
    if extractor not in EXTRACTORS:
        raise _unknown_extractor(extractor)
    _check_size(data, max_bytes)
    _require_content(data)
    if extractor == "csvfile":
        return _extract_csv(_csv_params(params, data), data, filename, max_rows, keep)
    extracted = _extract_json(params, data, filename, max_rows)
    if keep is not None:
        del extracted.rows[keep:]
    return extracted


def _apply_processor(
    index: int,
    processor: Mapping[str, Any],
    known: set[str],
    rows: list[dict[str, Any]],
    pending: list[tuple[int, str, str | None, str]],
) -> None:
    uid = processor.get("uid")
    label = uid if isinstance(uid, str) and uid else f"number {index + 1}"
    kind = processor.get("type")
    target = processor.get("field")

    misconfigured = partial(_misconfigured, "Processor", label, target)

    if kind not in ("string_replace", "regexp_replace"):
        raise misconfigured(f"the twin runs no processor of type {kind!r}")
    if not isinstance(target, str) or not target:
        raise misconfigured("it names no field")
    if target not in known:
        raise misconfigured("the dataset has no such field")
    new = processor.get("new")
    if not isinstance(new, str):
        raise misconfigured("the replacement text is missing")
    if kind == "string_replace":
        old = processor.get("old")
        if not isinstance(old, str) or not old:
            raise misconfigured("the text to replace is empty")

        def replace(text: str) -> str:
            return text.replace(old, new)
    else:
        regexp = processor.get("regexp")
        if not isinstance(regexp, str) or not regexp:
            raise misconfigured("the regular expression is empty")
        try:
            pattern = re.compile(regexp)
            pattern.sub(new, "")  # compiles the replacement: a bad group reference fails here, not per record
        except re.error as exc:
            raise misconfigured(f"invalid regular expression: {exc}") from None

        def replace(text: str) -> str:
            return pattern.sub(new, text)

    uid_or_none = uid if isinstance(uid, str) and uid else None
    for row_index, row in enumerate(rows):
        value = row.get(target)
        if value is None:
            continue
        if isinstance(value, dict | list):
            pending.append((row_index, target, uid_or_none, f"Cannot apply {kind} to a JSON {_json_kind(value)}"))
            continue
        row[target] = replace(value if isinstance(value, str) else _convert(value, "text"))


def _typed_records(
    rows: list[dict[str, Any]], fields: list[_Field], pending: list[tuple[int, str, str | None, str]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """The records with each value of its field's type, the records errors listed (up to the cap), their count."""
    by_row: dict[int, list[tuple[str, str | None, str]]] = {}
    for row_index, name, uid, message in pending:
        by_row.setdefault(row_index, []).append((name, uid, message))
    records: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    count = 0
    for row_index, row in enumerate(rows):
        record: dict[str, Any] = {}
        row_errors = by_row.get(row_index, [])
        for f in fields:
            value = row.get(f.source)
            try:
                record[f.name] = _convert(value, f.type)
            except ValueError:
                record[f.name] = None  # the platform keeps the record, without the value
                row_errors.append((f.name, f.type_uid, f'Cannot convert "{_shorten(value)}" to "{f.type}"'))
        records.append(record)
        count += len(row_errors)
        if row_errors and len(errors) < MAX_RECORDS_ERRORS:
            identifier = record_id(record)
            for name, uid, message in row_errors[: MAX_RECORDS_ERRORS - len(errors)]:
                errors.append({"record_id": identifier, "field_uid": name, "processor_uid": uid, "message": message})
    return records, errors, count


def _configure_fields(fields: list[_Field], configurations: Sequence[Mapping[str, Any]]) -> list[_Field]:
    current = list(fields)
    for index, configuration in enumerate(configurations):
        uid = configuration.get("uid")
        label = uid if isinstance(uid, str) and uid else f"number {index + 1}"
        kind = configuration.get("type")
        named = configuration.get("from_name") if kind == "rename" else configuration.get("field")

        misconfigured = partial(_misconfigured, "Field configuration", label, named)

        if kind == "order":
            order = configuration.get("args")
            if not isinstance(order, list) or not all(isinstance(name, str) for name in order):
                raise misconfigured("args must be a list of field names")
            if len(set(order)) != len(order):
                raise misconfigured("args names a field twice")
            positions = {f.name: f for f in current}
            missing = [name for name in order if name not in positions]
            if missing:
                raise misconfigured(f"no field named {', '.join(missing)}")
            listed = set(order)
            current = [positions[name] for name in order] + [f for f in current if f.name not in listed]
            continue
        if kind not in ("rename", "type", "annotate", "description", "delete"):
            raise misconfigured(f"unknown field configuration type {kind!r}")
        target = next((f for f in current if f.name == named), None)
        if target is None:
            raise misconfigured("the dataset has no such field")
        if kind == "rename":
            to_name, field_label = configuration.get("to_name"), configuration.get("field_label")
            if not isinstance(to_name, str) or not to_name or normalise_field_name(to_name) != to_name:
                raise misconfigured("to_name must hold lowercase letters, digits and underscores only")
            if to_name != target.name and any(f.name == to_name for f in current):
                raise misconfigured(f"a field named {to_name} exists already")
            if not isinstance(field_label, str) or not field_label:
                raise misconfigured("field_label is empty")
            target.name, target.label = to_name, field_label
        elif kind == "type":
            type_param = configuration.get("type_param")
            if type_param not in FIELD_TYPES:
                raise misconfigured(f"unknown type {type_param!r}")
            if type_param != target.type and target.guessed_annotation is not None:
                target.annotations = [a for a in target.annotations if a["name"] != target.guessed_annotation]
                target.guessed_annotation = None
            target.type, target.type_uid = str(type_param), uid if isinstance(uid, str) and uid else None
        elif kind == "annotate":
            annotation, args = configuration.get("annotation"), configuration.get("args", [])
            if not isinstance(annotation, str) or not annotation:
                raise misconfigured("the annotation is empty")
            if not isinstance(args, list) or not all(
                isinstance(arg, str | int) and not isinstance(arg, bool) for arg in args
            ):
                raise misconfigured("args must be a list of texts and integers")
            target.annotations = [a for a in target.annotations if a["name"] != annotation]
            target.annotations.append({"name": annotation, "args": [str(arg) for arg in args]})
        elif kind == "description":
            description = configuration.get("description")
            if not isinstance(description, str):
                raise misconfigured("the description is missing")
            target.description = description
        else:
            current.remove(target)
    return current


# -- parameters ------------------------------------------------------------------------------------------------


def _misconfigured(what: str, identifier: str, name: Any, message: str) -> ConfigurationError:
    """The `error` status message of a processor, in the platform's words; a field configuration's alike."""
    if isinstance(name, str) and name:
        return ConfigurationError(what + " {processor_id} is misconfigured for field {field}: {msg}",
                                  processor_id=identifier, field=name, msg=message)  # fmt: skip
    return ConfigurationError(what + " {processor_id} is misconfigured: {msg}", processor_id=identifier, msg=message)


def _bool_param(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _bad_param(name, value, "true or false")


def _int_param(name: str, value: Any) -> int:
    number = int(value) if isinstance(value, str) and value.isdigit() else value
    if isinstance(number, int) and not isinstance(number, bool) and number >= 1:
        return number
    raise _bad_param(name, value, "an integer of 1 or more")


def _bad_param(name: str, value: Any, expected: str) -> ConfigurationError:
    return ConfigurationError("Invalid value {value} for parameter {name}: expected {expected}",
                              value=json.dumps(value), name=name, expected=expected)  # fmt: skip


def _unknown_extractor(extractor: str) -> ConfigurationError:
    return ConfigurationError("Unknown extractor {extractor}: the twin reads {known}", extractor=extractor,
                              known=", ".join(EXTRACTORS))  # fmt: skip


def _too_many_rows(max_rows: int) -> BudgetError:
    return BudgetError("The file holds more than {limit} records, the budget of one processing", limit=max_rows)
