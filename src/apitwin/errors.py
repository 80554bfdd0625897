"""The closed set of errors a twin can answer, and each API's way of rendering them.

Every failure inside apitwin is a `TwinError` of one `ErrorKind`. The HTTP layer renders it with the
owning twin's `ErrorShape`, so a client always sees its own API's error body:

    ErrorKind            default status
    ├── INVALID          400   bad parameters or body
    ├── UNAUTHENTICATED  401   missing or wrong credentials
    ├── FORBIDDEN        403   valid credentials, not enough privilege
    ├── NOT_FOUND        404   unknown resource or path
    ├── METHOD_NOT_ALLOWED 405
    ├── NOT_ACCEPTABLE   406   no representation matches Accept
    ├── CONFLICT         409   the resource already exists / wrong state
    ├── TOO_LARGE        413   the request body is over the server's limit
    ├── UNSUPPORTED_MEDIA_TYPE 415
    ├── PARSE_FAILED     400   content that the API parses (SQL) is invalid
    ├── RATE_LIMITED     429
    └── SERVER           500
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class ErrorKind(enum.Enum):
    INVALID = "invalid"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    CONFLICT = "conflict"
    TOO_LARGE = "too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    PARSE_FAILED = "parse_failed"
    RATE_LIMITED = "rate_limited"
    SERVER = "server"

    @property
    def status(self) -> int:
        return _STATUS[self]

    @classmethod
    def from_status(cls, status: int) -> ErrorKind:
        """The kind an HTTP status stands for, as raised by routing and validation."""
        for kind, kind_status in _STATUS.items():
            if kind_status == status and kind is not ErrorKind.PARSE_FAILED:
                return kind
        return cls.SERVER if status >= 500 else cls.INVALID


_STATUS = {
    ErrorKind.INVALID: 400,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.METHOD_NOT_ALLOWED: 405,
    ErrorKind.NOT_ACCEPTABLE: 406,
    ErrorKind.CONFLICT: 409,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorKind.PARSE_FAILED: 400,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.SERVER: 500,
}


@dataclass
class TwinError(Exception):
    """A failure to be answered in the owning API's error format."""

    kind: ErrorKind
    message: str
    details: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    status: int | None = None  # overrides kind.status, e.g. a documented 422 for INVALID
    field_errors: Mapping[str, Sequence[str]] = field(default_factory=dict)  # what is wrong, by input field
    code: str | None = None  # the API's own error code, when the kind's is not it (invalid_dataset_status)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def status_code(self) -> int:
        """The HTTP status; the attribute name connexion's security layer looks for."""
        return self.status or self.kind.status


ErrorShape = Callable[[TwinError], Mapping[str, Any]]
"""Renders a TwinError as the JSON body the owning API uses."""


def datascaphe_error(error: TwinError) -> Mapping[str, Any]:
    # "status: 'error', message: error message(s)" (Datascaphe doc, General information)
    return {"status": "error", "message": error.message}


_DATASCALE_CODES = {
    ErrorKind.UNAUTHENTICATED: ("AUTHENTICATION_ERROR", "Invalid or missing API token"),
    ErrorKind.FORBIDDEN: ("AUTHENTICATION_ERROR", "This API token may not do that"),
    ErrorKind.PARSE_FAILED: ("PARSER_ERROR", "Invalid syntax in SQL script"),
    ErrorKind.RATE_LIMITED: ("RATE_LIMIT_EXCEEDED", "Too many requests"),
    ErrorKind.TOO_LARGE: ("PAYLOAD_TOO_LARGE", "Request body too large"),
    ErrorKind.NOT_FOUND: ("NOT_FOUND", "Not found"),
    ErrorKind.METHOD_NOT_ALLOWED: ("METHOD_NOT_ALLOWED", "Method not allowed"),
    ErrorKind.SERVER: ("SERVER_ERROR", "Internal server error"),
}


def datascale_error(error: TwinError) -> Mapping[str, Any]:
    # {"success": false, "error", "details", "code"} (Datascale doc, Error Handling): `error` says what
    # went wrong in general, `details` where.
    code, title = _DATASCALE_CODES.get(error.kind, ("INVALID_INPUT", "Invalid request parameters"))
    if error.details:
        return {"success": False, "error": error.message, "details": error.details, "code": code}
    return {"success": False, "error": title, "details": error.message, "code": code}


_DATAIKU_TYPES = {
    # errorType names seen in DSS answers and in code that handles them
    ErrorKind.UNAUTHENTICATED: "com.dataiku.dip.exceptions.NotAuthenticatedException",
    ErrorKind.FORBIDDEN: "com.dataiku.dip.exceptions.UnauthorizedException",
    ErrorKind.NOT_FOUND: "com.dataiku.dip.exceptions.NotFoundException",
    ErrorKind.CONFLICT: "com.dataiku.dip.exceptions.DSSIllegalArgumentException",
    ErrorKind.INVALID: "com.dataiku.dip.exceptions.DSSIllegalArgumentException",
    ErrorKind.SERVER: "com.dataiku.dip.exceptions.CodedException",
}


def dataiku_error(error: TwinError) -> Mapping[str, Any]:
    # {"errorType": Java class, "message", "detailedMessage"}: the official client prints errorType and
    # detailedMessage (falling back to message) in its DataikuException
    error_type = error.details if error.details and error.details.startswith("java.") else None
    error_type = error_type or _DATAIKU_TYPES.get(error.kind, "com.dataiku.dip.exceptions.CodedException")
    return {"errorType": error_type, "message": error.message, "detailedMessage": f"{error_type}: {error.message}"}


# The Automation API answers as Django REST framework does: its own snake_case code and the framework's
# sentence where the document shows one ({"error_code": "not_found", "message": "Not found."}); a validation
# error carries per-field `detail` (`{"dataset_id": ["..."]}`). Shared by Opendatasoft and Huwise.
_AUTOMATION_CODES = {
    ErrorKind.INVALID: "bad_request",
    ErrorKind.UNAUTHENTICATED: "authentication_failed",
    ErrorKind.FORBIDDEN: "permission_denied",
    ErrorKind.NOT_FOUND: "not_found",
    ErrorKind.METHOD_NOT_ALLOWED: "method_not_allowed",
    ErrorKind.NOT_ACCEPTABLE: "not_acceptable",
    ErrorKind.CONFLICT: "conflict",
    ErrorKind.TOO_LARGE: "request_too_large",
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: "unsupported_media_type",
    ErrorKind.PARSE_FAILED: "bad_request",
    ErrorKind.RATE_LIMITED: "throttled",
    ErrorKind.SERVER: "internal_error",
}


def automation_error(error: TwinError) -> Mapping[str, Any]:
    if error.field_errors:
        return {"error_code": "validation_error", "message": "Invalid input", "detail": dict(error.field_errors)}
    if error.kind is ErrorKind.NOT_FOUND:
        return {"error_code": "not_found", "message": "Not found."}
    body: dict[str, Any] = {"error_code": error.code or _AUTOMATION_CODES[error.kind], "message": error.message}
    if error.details:
        body["detail"] = error.details
    return body


def plain_error(error: TwinError) -> Mapping[str, Any]:
    """apitwin's own format, for its admin API and paths outside every twin."""
    body: dict[str, Any] = {"error": error.kind.value, "message": error.message}
    if error.details:
        body["details"] = error.details
    return body
