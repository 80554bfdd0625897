"""Operation rules: one operation present in both documents (operationId, status codes, parameters, request
bodies, media types); and the bodies whose schemas the schema rules compare."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from apitwin.diff.changes import Direction, Finding, Findings
from apitwin.diff.pairs import Operation, OperationPair, _is_success, _template_names
from apitwin.diff.registry import operation_rule


@operation_rule
def operation_id_changed(op: OperationPair) -> Findings:
    """Same method and path, another operationId: generated clients rename the method callers use."""
    old, new = op.old.node.get("operationId"), op.new.node.get("operationId")
    if old and old != new:
        message = f"operationId {old!r} is now {new!r}: clients generated from the spec rename the method, so code"
        yield Finding(
            "warning", "operationId", f"{message} calling {old} no longer compiles; the HTTP call is unchanged"
        )


@operation_rule
def path_parameter_renamed(op: OperationPair) -> Findings:
    """A path parameter has another name in the same place: the URL clients build is unchanged."""
    for old, new in zip(_template_names(op.old.path), _template_names(op.new.path), strict=False):
        if old != new:
            message = f"path parameter {{{old}}} is now {{{new}}}: URLs are unchanged; only generated argument names"
            yield Finding("info", f"parameters.path.{new}", f"{message} change")


@operation_rule
def success_status_changed(op: OperationPair) -> Findings:
    """A documented success status is gone, or replaced by another (200 to 201)."""
    changes = op.success_statuses
    if changes.swapped:
        old, new = changes.removed[0], changes.added[0]
        message = f"the success status is now {new} (was {old}): clients that check for {old} take success for failure"
        yield Finding("breaking", f"responses.{new}", message)
        return
    for status in changes.removed:
        message = f"success status {status} is no longer documented: clients that expect it take success for failure"
        yield Finding("breaking", f"responses.{status}", message)


@operation_rule
def success_status_added(op: OperationPair) -> Findings:
    """Another success status besides the old ones: clients checking for the old ones may treat it as a failure."""
    if not op.success_statuses.swapped:
        for status in op.success_statuses.added:
            message = f"new success status {status}: clients that check for a specific success status may take it"
            yield Finding("warning", f"responses.{status}", f"{message} for a failure")


@operation_rule
def error_status_added(op: OperationPair) -> Findings:
    """A newly documented error status: what the server may already answer, now written down."""
    for status in op.new.statuses:
        if not _is_success(status) and status not in op.old.statuses:
            yield Finding("info", f"responses.{status}", f"error status {status} is now documented")


@operation_rule
def error_status_removed(op: OperationPair) -> Findings:
    """An error status no longer documented: clients handling it keep working, but may now get another one."""
    for status in op.old.statuses:
        if not _is_success(status) and status not in op.new.statuses:
            message = f"error status {status} is no longer documented: clients that rely on it (to detect a missing"
            yield Finding("warning", f"responses.{status}", f"{message} item, to retry) may now get another status")


def _parameter_where(param: Mapping[str, Any]) -> str:
    return f"parameters.{param.get('in')}.{param.get('name')}"


def _required(param: Mapping[str, Any]) -> bool:
    return param.get("in") == "path" or param.get("required") is True


@operation_rule
def parameter_removed(op: OperationPair) -> Findings:
    """A parameter is gone: clients still send it, and the server may reject it or silently ignore it."""
    for param in op.parameters.removed:
        message = f"{param.get('in')} parameter {param.get('name')!r} was removed: clients that send it may be rejected"
        yield Finding("breaking", _parameter_where(param), f"{message}, or have it silently ignored")


@operation_rule
def parameter_added(op: OperationPair) -> Findings:
    """A new parameter: breaking when required (existing clients do not send it), info when optional."""
    for param in op.parameters.added:
        what = f"{param.get('in')} parameter {param.get('name')!r}"
        if _required(param):
            yield Finding("breaking", _parameter_where(param), f"new required {what}: existing clients do not send it")
        else:
            yield Finding("info", _parameter_where(param), f"new optional {what}")


@operation_rule
def parameter_required_changed(op: OperationPair) -> Findings:
    """An optional parameter became required (breaking), or a required one optional (info)."""
    for old, new in op.parameters.kept:
        what = f"{new.get('in')} parameter {new.get('name')!r}"
        if _required(new) and not _required(old):
            message = f"{what} is now required: clients that leave it out are rejected"
            yield Finding("breaking", _parameter_where(new), message)
        elif _required(old) and not _required(new):
            yield Finding("info", _parameter_where(new), f"{what} is now optional")


@operation_rule
def parameter_location_changed(op: OperationPair) -> Findings:
    """A parameter moved (query to header, say): clients still send it where it was."""
    for old, new in op.parameters.moved:
        message = f"parameter {new.get('name')!r} moved from the {old.get('in')} to the {new.get('in')}: clients"
        yield Finding("breaking", _parameter_where(new), f"{message} still send it in the {old.get('in')}")


def _style(param: Mapping[str, Any]) -> tuple[str, bool]:
    """(style, explode) with OpenAPI's defaults."""
    style = str(param.get("style") or ("form" if param.get("in") in ("query", "cookie") else "simple"))
    return style, bool(param.get("explode", style == "form"))


@operation_rule
def parameter_style_changed(op: OperationPair) -> Findings:
    """A parameter's serialization (style, explode) changed: the arrays and objects clients send read otherwise."""
    for old, new in op.parameters.kept:
        if _style(old) != _style(new):
            (old_style, old_explode), (new_style, new_explode) = _style(old), _style(new)
            message = f"{new.get('in')} parameter {new.get('name')!r} is now serialized as style={new_style}, explode="
            detail = f"{str(new_explode).lower()} (was {old_style}, {str(old_explode).lower()}): what clients send"
            yield Finding("breaking", _parameter_where(new), f"{message}{detail} is read differently")


def _body(operation: Operation) -> Mapping[str, Any]:
    body = operation.node.get("requestBody")
    return body if isinstance(body, Mapping) else {}


@operation_rule
def request_body_required_changed(op: OperationPair) -> Findings:
    """A request body became required (breaking: clients that send none are rejected), or optional (info)."""
    old, new = _body(op.old), _body(op.new)
    if new.get("required") is True and old.get("required") is not True:
        yield Finding("breaking", "requestBody", "a request body is now required: clients that send none are rejected")
    elif old.get("required") is True and new and new.get("required") is not True:
        yield Finding("info", "requestBody", "the request body is now optional")


def _media_type(name: Any) -> str:
    return str(name).partition(";")[0].strip().lower()


def _content(holder: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Media type (parameters dropped) to media type object."""
    content = holder.get("content") or {}
    return {_media_type(name): media for name, media in content.items() if isinstance(media, Mapping)}


Body = tuple[str, str, Mapping[str, Any], Mapping[str, Any], Direction]  # location, name, old, new, direction


def _bodies(op: OperationPair) -> Iterator[Body]:
    """The request body and each success response on both sides (a side without a request body gives {})."""
    yield "requestBody", "the request body", _body(op.old), _body(op.new), "request"
    for old_status, new_status in op.success_pairs:
        old, new = op.old.response(old_status), op.new.response(new_status)
        yield f"responses.{new_status}", f"the {new_status} response", old, new, "response"


@operation_rule
def media_type_removed(op: OperationPair) -> Findings:
    """A request body no longer takes a media type clients send (415), or a success response no longer comes in
    one clients ask for (406) or parse."""
    for where, name, old, new, direction in _bodies(op):
        new_content = _content(new)
        for media in [media for media in _content(old) if media not in new_content]:
            if direction == "request":
                message = f"{name} no longer accepts {media}: clients sending it are rejected (415)"
            else:
                message = f"{name} no longer comes as {media}: clients asking for it (Accept) or parsing it fail"
            yield Finding("breaking", f"{where}.content.{media}", message)


@operation_rule
def media_type_added(op: OperationPair) -> Findings:
    """A request body takes another media type, or a success response may come in another one (on request)."""
    for where, name, old, new, direction in _bodies(op):
        old_content = _content(old)
        for media in [media for media in _content(new) if media not in old_content]:
            verb = "now also accepts" if direction == "request" else "may now also come as"
            yield Finding("info", f"{where}.content.{media}", f"{name} {verb} {media}")
