"""connexion's request validation, with messages a client developer can act on: connexion reports a bad
parameter as the whole jsonschema error (schema dump included); we name the parameter in one line. Response
validation (tests, --validate-responses) lets a write-only field leave as null."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem, ExtraParameterProblem
from connexion.json_schema import Draft4RequestValidator, Draft4ResponseValidator, format_error_with_path
from connexion.lifecycle import ConnexionRequest
from connexion.utils import is_null, is_nullable
from connexion.validators import (
    VALIDATOR_MAP,
    JSONRequestBodyValidator,
    JSONResponseBodyValidator,
    MultiPartFormDataValidator,
)
from connexion.validators.parameter import ParameterValidator
from jsonschema import Draft4Validator, ValidationError
from jsonschema.validators import extend
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request as StarletteRequest

from apitwin.engine.schemas import detached, remembered
from apitwin.errors import ErrorKind, TwinError

MAX_ECHOED_VALUE = 80  # characters of a refused value an error message repeats
FORMAT_CHECKER = Draft4Validator.FORMAT_CHECKER


PARSED = "apitwin_parsed"  # the scope extension holding the request's parameters as validation parsed them


class TwinRequest(ConnexionRequest):  # type: ignore[misc]
    """connexion's request, with its scope read directly: ConnexionRequest hands any attribute it does not define
    (the scope among them) to the starlette request from `__getattr__`, after a failed lookup, and its
    `__init__` asks `hasattr` of the starlette request before there is one (a failed lookup too)."""

    def __init__(self, *args: Any, uri_parser: Any = None, **kwargs: Any) -> None:
        self._starlette_request = StarletteRequest(*args, **kwargs)  # as connexion's from_starlette_request
        super().__init__(uri_parser=uri_parser)

    @property
    def scope(self) -> Any:
        return self._starlette_request.scope


class TwinParameterValidator(ParameterValidator):  # type: ignore[misc]
    """connexion's checks of a parameter, with its validator compiled once: connexion deep-copies the parameter
    and builds a new jsonschema validator for it on every request (a third of a simple GET's validation time).
    The request it parsed is left in the scope, so the dispatch (stack.py) does not parse the query again."""

    def validate(self, scope: Any) -> None:
        """`validate_request` on the request; a query string and path parameters found valid together before
        (what they parse to and their judgement depend on nothing else: the operation's parameters are fixed)
        are not parsed nor judged again. Headers and cookies are judged every time."""
        request = TwinRequest(scope, uri_parser=self.uri_parser)
        key = _valid_key(self, scope)
        valid = _VALID.get(key) if key is not None else None
        if valid is None:
            self.validate_request(request)
            if key is not None:
                if len(_VALID) >= VALID_KEPT:
                    _VALID.clear()
                _VALID[key] = (detached(request.query_params), detached(request.path_params))
        else:
            # what ConnexionRequest's query_params and path_params keep once parsed
            request._query_params, request._path_params = detached(valid[0]), detached(valid[1])
            self.validate_headers_and_cookies(request)
        scope.setdefault("extensions", {})[PARSED] = request

    def validate_request(self, request: ConnexionRequest) -> None:
        """connexion's, in its order and with its errors, without asking about each absent optional query
        parameter (most of an operation's): `validate_parameter` has nothing to say of those. A list operation
        documents a dozen."""
        query = request.query_params
        if self.strict_validation:
            extra = set(query).difference(self._known_query_names)
            if extra:
                raise ExtraParameterProblem(param_type="query", extra_params=extra)
        for param in self.parameters.get("query", ()):
            value = query.get(param["name"])
            if value is None and not param.get("required"):
                continue
            error = self.validate_parameter("query", value, param)
            if error:
                raise BadRequestProblem(detail=error)
        for param in self.parameters.get("path", ()):
            error = self.validate_path_parameter(param, request)
            if error:
                raise BadRequestProblem(detail=error)
        self.validate_headers_and_cookies(request)

    def validate_headers_and_cookies(self, request: ConnexionRequest) -> None:
        """connexion's checks after the query's and the path's."""
        for kind, validate_one in (
            ("header", self.validate_header_parameter),
            ("cookie", self.validate_cookie_parameter),
        ):
            for param in self.parameters.get(kind, ()):
                error = validate_one(param, request)
                if error:
                    raise BadRequestProblem(detail=error)

    @functools.cached_property
    def _known_query_names(self) -> set[str]:  # what connexion's strict check lists anew for each request
        return {param["name"] for param in self.parameters.get("query", ())} | set(self.security_query_params)

    @staticmethod
    def validate_parameter(parameter_type: str, value: Any, param: dict[str, Any], param_name: Any = None) -> Any:
        if value is None:  # absent (most parameters): null where nullable, else missing when required
            required = param.get("required") and not is_nullable(param)
            return f"Missing {parameter_type} parameter '{param['name']}'" if required else None
        if is_nullable(param) and is_null(value):
            return None
        if _plainly_valid(value, param.get("schema", param)):
            return None
        # the first error, as `validate()` would raise it; not raised: its traceback would hold the frame that
        # holds it, a cycle (and the whole stack's frames) for the garbage collector on every refused parameter
        error = next(_compiled(param).iter_errors(value), None)
        if error is not None:
            return f"Invalid {parameter_type} parameter '{param['name']}': {str(error).splitlines()[0]}"
        return None


# (validator, query string, path parameters) -> the query and path parameters it parsed them to, found valid; for
# every operation of every app in the process (a thousand operations each), so bounded as a whole; the key holds
# its validator, so a validator's id is never another's
_VALID: dict[tuple[Any, ...], tuple[dict[str, Any], dict[str, Any]]] = {}
VALID_KEPT = 4096


def _valid_key(validator: TwinParameterValidator, scope: Any) -> tuple[Any, ...] | None:
    """What a request's parsed query and path parameters depend on; None when a path parameter is no plain value."""
    path = scope.get("path_params") or {}
    if not all(type(value) in (str, int, float) for value in path.values()):
        return None
    return validator, scope.get("query_string", b""), *((name, type(value), value) for name, value in path.items())


# id of a parameter -> (the parameter, its validator); the parameters are the spec's own dicts, held by connexion's
# operations for the app's life, and kept here too so an id is never reused by another dict; bounded, since every
# app built in a process (a test suite builds many) brings its own
_PARAMETER_VALIDATORS: dict[int, tuple[Mapping[str, Any], Draft4Validator]] = {}


_PLAIN_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}
_EXCLUSIVE_FLAGS = ("exclusiveMinimum", "exclusiveMaximum")
_ANNOTATIONS = frozenset({"description", "example", "title", "default", "deprecated", "readOnly", "writeOnly"})


def _plainly_valid(value: Any, schema: dict[str, Any]) -> bool:
    """Whether a parameter schema of a type, bounds, an enum or plain array items (most parameters) surely holds
    the value, as jsonschema would find: then jsonschema need not be asked. Only a yes is decided here: a value
    that may be refused, and any other keyword (a format, a pattern), go to the validator, whose message is the
    one given."""
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items")
        return (
            isinstance(value, list)
            and isinstance(items, dict)
            and all(key in ("type", "items") or _annotation(key) for key in schema)
            and all(_plainly_valid(item, items) for item in value)
        )
    types = _PLAIN_TYPES.get(kind) if isinstance(kind, str) else None
    if types is None or not isinstance(value, types) or (isinstance(value, bool) and kind != "boolean"):
        return False  # jsonschema: no bool is an integer nor a number
    numeric = kind != "string" and kind != "boolean"
    for key, bound in schema.items():
        if key == "type" or _annotation(key) or (key in _EXCLUSIVE_FLAGS and isinstance(bound, bool)):
            continue  # draft 4's exclusive flags (booleans) are read with their bound
        if numeric and key in ("minimum", "maximum") and type(bound) in (int, float):
            exclusive = schema.get("exclusiveMinimum" if key == "minimum" else "exclusiveMaximum") is True
            beyond = value < bound if key == "minimum" else value > bound
            if beyond or (value == bound and exclusive):
                return False
        elif key == "enum" and isinstance(bound, list) and all(type(member) is type(value) for member in bound):
            if value not in bound:  # members of the value's own type: Python's equality is jsonschema's
                return False
        else:
            return False
    return True


def _annotation(key: str) -> bool:
    return key in _ANNOTATIONS or key.startswith("x-")


def _compiled(param: dict[str, Any]) -> Draft4Validator:
    return remembered(_PARAMETER_VALIDATORS, param, _validator_of, kept=8192)


def _validator_of(param: Mapping[str, Any]) -> Draft4Validator:
    return Draft4Validator(param.get("schema", param), format_checker=FORMAT_CHECKER)


class TwinJSONBodyValidator(JSONRequestBodyValidator):  # type: ignore[misc]
    """jsonschema's message starts with the refused value itself: a 1 MB string came back whole in the error.
    The value is cut to its start and its size, and so is a long pattern it did not match. The error names the
    field it is about, for APIs that answer what is wrong by field (Django REST framework's `detail`)."""

    @property
    def _validator(self) -> Any:
        return _RequestValidator(self._schema, format_checker=Draft4Validator.FORMAT_CHECKER)

    def _validate(self, body: Any) -> Any:
        if body is None and not self._required:  # an optional body may be left out (connexion refused it)
            return None
        if not self._nullable and body is None:
            raise BadRequestProblem("Request body must not be empty")
        try:
            return self._validator.validate(body)
        except ValidationError as exception:
            shown = repr(exception.instance)
            message = exception.message
            if len(shown) > MAX_ECHOED_VALUE and message.startswith(shown):
                size = f"{len(exception.instance)} long" if hasattr(exception.instance, "__len__") else "long"
                message = f"{shown[:MAX_ECHOED_VALUE]}... ({size}){message[len(shown) :]}"
            if exception.validator == "pattern" and len(str(exception.validator_value)) > MAX_ECHOED_VALUE:
                message = f"{shown[:MAX_ECHOED_VALUE]} does not match the pattern its schema gives"
            raise TwinError(
                ErrorKind.INVALID,
                f"{message}{format_error_with_path(exception)}",
                field_errors={_field_of(exception): [message]},
            ) from None


def _field_of(error: ValidationError) -> str:
    """The dotted path of the body field an error is about; DRF's `non_field_errors` for the body itself."""
    path = [str(key) for key in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        path += [next(name for name in error.validator_value if name not in error.instance)]
    return ".".join(path) or "non_field_errors"


def _write_only_unless_null(validator: Any, write_only: Any, instance: Any, schema: Any) -> Any:
    if write_only and instance is not None:
        yield ValidationError("Property is write-only")


def _nullable(keyword: Any) -> Any:
    """OpenAPI 3.0's `nullable` applies to the whole schema: null passes an allOf/anyOf/oneOf beside it too
    (connexion honours it beside `type` and `enum` only, so `{nullable: true, allOf: [$ref]}` refused null)."""
    original = Draft4Validator.VALIDATORS[keyword]

    def validate(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        if instance is None and schema.get("nullable") is True:
            return
        yield from original(validator, value, instance, schema)

    return validate


_NULLABLE_COMBINATIONS = {keyword: _nullable(keyword) for keyword in ("allOf", "anyOf", "oneOf")}
# A write-only field may leave as null: APIs that show secrets that way (Opendatasoft) declare it so in x-twin.
_ResponseValidator = extend(
    Draft4ResponseValidator,
    {"writeOnly": _write_only_unless_null, "x-writeOnly": _write_only_unless_null, **_NULLABLE_COMBINATIONS},
)
_RequestValidator = extend(Draft4RequestValidator, _NULLABLE_COMBINATIONS)


class TwinJSONResponseBodyValidator(JSONResponseBodyValidator):  # type: ignore[misc]
    @property
    def validator(self) -> Any:
        return _ResponseValidator(self._schema, format_checker=Draft4Validator.FORMAT_CHECKER)


class _ClosingMultiPartParser(MultiPartParser):
    """The parts' temporary files closed as soon as the form is parsed: validation needs only their names, and
    connexion never closes them (a leaked temporary file per upload); the handler parses the body anew."""

    async def parse(self) -> FormData:
        try:
            data = await super().parse()
        except MultiPartException as exc:  # a body that is no multipart document is the client's error
            raise TwinError(ErrorKind.INVALID, f"The multipart body cannot be read: {exc.message}") from None
        for _, value in data.multi_items():
            if isinstance(value, UploadFile):
                await value.close()
        return data


class TwinMultiPartValidator(MultiPartFormDataValidator):  # type: ignore[misc]
    @property
    def _form_parser_cls(self) -> type[MultiPartParser]:
        return _ClosingMultiPartParser


def validator_map() -> dict[str, Any]:
    body = MediaTypeDict(
        {**VALIDATOR_MAP["body"], "*/*json": TwinJSONBodyValidator, "multipart/form-data": TwinMultiPartValidator}
    )
    response = MediaTypeDict({**VALIDATOR_MAP["response"], "*/*json": TwinJSONResponseBodyValidator})
    return {**VALIDATOR_MAP, "parameter": TwinParameterValidator, "body": body, "response": response}
