"""Two answers to the same request, and every way the target's departs from the twin's: status class, exact
status, media type, conformance to the documented schema on one side only, the top-level keys of error bodies,
and the shape of 2xx JSON bodies — keys and JSON types, never values, so ids, timestamps and data may differ."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

PREVIEW_CHARS = 300  # of an answer's body, in the output


@dataclass(frozen=True)
class Answer:
    """What one side answered."""

    status: int
    media_type: str  # without parameters, lower case; "" when absent
    body: bytes
    violation: str | None = None  # how the body breaks the schema documented for its status, if it does

    def json(self) -> Any:
        """The parsed body, or _NOT_JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return _NOT_JSON

    def preview(self) -> str:
        text = self.body.decode("utf-8", "replace").strip()
        return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


class _NotJson(enum.Enum):
    NOT_JSON = "not JSON"


_NOT_JSON = _NotJson.NOT_JSON


class DisagreementKind(enum.Enum):
    STATUS_CLASS = "status-class"  # e.g. 2xx on one side, 4xx on the other
    STATUS = "status"  # same class, different code (404 vs 400)
    CONTENT_TYPE = "content-type"
    SCHEMA = "schema"  # the body breaks the documented schema on one side only
    ERROR_SHAPE = "error-shape"  # error bodies with different top-level keys
    BODY_SHAPE = "body-shape"  # 2xx JSON bodies with different keys or JSON types


@dataclass(frozen=True)
class Disagreement:
    kind: DisagreementKind
    detail: str


def compare(twin: Answer, target: Answer, body_schema: Mapping[str, Any] | None = None) -> tuple[Disagreement, ...]:
    """Every way the target's answer departs from the twin's. `body_schema` is the schema documented for the
    twin's answer, if any: it tells free-form objects (whose keys are data) from records (whose keys are shape)."""
    found: list[Disagreement] = []
    if twin.status // 100 != target.status // 100:
        found.append(Disagreement(DisagreementKind.STATUS_CLASS, f"twin {twin.status}, target {target.status}"))
    elif twin.status != target.status:
        found.append(Disagreement(DisagreementKind.STATUS, f"twin {twin.status}, target {target.status}"))
    if twin.media_type != target.media_type and (twin.body or target.body):
        detail = f"twin {twin.media_type or 'none'}, target {target.media_type or 'none'}"
        found.append(Disagreement(DisagreementKind.CONTENT_TYPE, detail))
    if (twin.violation is None) != (target.violation is None):
        side, violation = ("twin", twin.violation) if twin.violation else ("target", target.violation)
        found.append(Disagreement(DisagreementKind.SCHEMA, f"only the {side}'s answer breaks the spec: {violation}"))
    if twin.status >= 400 and target.status >= 400:
        found += _error_shape(twin.json(), target.json())
    if twin.status // 100 == 2 and target.status // 100 == 2:
        twin_body, target_body = twin.json(), target.json()
        if twin_body is not _NOT_JSON and target_body is not _NOT_JSON:
            differences = list(shape_differences(twin_body, target_body, body_schema))
            if differences:
                found.append(Disagreement(DisagreementKind.BODY_SHAPE, "; ".join(differences[:5])))
    return tuple(found)


def _error_shape(twin: Any, target: Any) -> list[Disagreement]:
    """Error bodies agree when both are JSON objects with the same top-level keys (or neither is an object)."""
    twin_keys, target_keys = _top_level_keys(twin), _top_level_keys(target)
    if twin_keys == target_keys:
        return []
    detail = f"twin {_describe_keys(twin_keys)}, target {_describe_keys(target_keys)}"
    return [Disagreement(DisagreementKind.ERROR_SHAPE, detail)]


def _top_level_keys(body: Any) -> frozenset[str] | None:
    return frozenset(body) if isinstance(body, dict) else None


def _describe_keys(keys: frozenset[str] | None) -> str:
    return "{" + ", ".join(sorted(keys)) + "}" if keys is not None else "not a JSON object"


def shape_differences(
    twin: Any, target: Any, schema: Mapping[str, Any] | None = None, where: str = "$"
) -> Iterator[str]:
    """Where two JSON values differ in shape: object keys and JSON types, recursively, arrays by their first
    elements. Values never count, so ids, timestamps and data are masked by construction."""
    if twin is None or target is None:
        return  # a blank field is null: which fields are blank is data, not shape
    twin_type, target_type = _json_type(twin), _json_type(target)
    if twin_type != target_type:
        yield f"{where} is {twin_type} on the twin, {target_type} on the target"
        return
    if schema is not None and _free_form(schema):
        return  # a map whose keys are data (Dataiku's custom metadata, a dataset's params)
    if isinstance(twin, dict):
        for side, keys in (("twin", twin.keys() - target.keys()), ("target", target.keys() - twin.keys())):
            if keys:
                yield f"{where} has {', '.join(sorted(keys))} only on the {side}"
        properties = _properties(schema) if schema is not None else {}
        for key in sorted(twin.keys() & target.keys()):
            yield from shape_differences(twin[key], target[key], properties.get(key), f"{where}.{key}")
    elif isinstance(twin, list) and twin and target:
        items = schema.get("items") if schema is not None else None
        yield from shape_differences(twin[0], target[0], items, f"{where}[0]")


def _json_type(value: Any) -> str:
    if isinstance(value, bool):  # before int: bool is an int in Python
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _properties(schema: Mapping[str, Any]) -> dict[str, Any]:
    properties = dict(schema.get("properties") or {})
    for part in schema.get("allOf") or []:
        properties.update(_properties(part))
    return properties


def _free_form(schema: Mapping[str, Any]) -> bool:
    return (
        schema.get("type", "object") == "object"
        and not _properties(schema)
        and not any(keyword in schema for keyword in ("oneOf", "anyOf", "items"))
    )
