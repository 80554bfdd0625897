"""`apitwin drift`: the same requests to a twin and to a real deployment, and where their answers disagree.

The requests come from the spec (`plan_requests`): each selected operation's documented examples, then
Schemathesis-generated cases — positive ones with path parameters pinned to the spec's examples (our specs'
examples are fixture ids, so these reach existing data), a few with path parameters no fixture uses (so "not
found" is compared too), and a few negative ones. Every request is sent to a twin started for the run and to
the target, each with its own credential, and the two answers are compared (`compare`): status class, exact
status, media type, conformance to the documented schema on one side only, the top-level keys of error bodies,
and the shape of 2xx JSON bodies — keys and JSON types, never values, so ids, timestamps and data may differ.
"""

from __future__ import annotations

import base64
import enum
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    import httpx

    from apitwin.contract import Echo
    from apitwin.twins import Twin

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # the only ones --read-only sends to a real deployment
REQUEST_TIMEOUT = 10  # seconds, as for `apitwin check`
CONSOLE_LIMIT = 20  # disagreements printed in full; the report file has every one
PREVIEW_CHARS = 300  # of an answer's body, in the output
# Headers the HTTP transport adds to every Schemathesis case; they are not part of what the spec generates.
_TRANSPORT_HEADERS = frozenset({"user-agent", "accept-encoding", "accept", "connection", "x-schemathesis-testcaseid"})
_PLACEHOLDER_ORIGIN = "http://apitwin.invalid"  # stripped again: requests are stored relative to a base URL
_CHILD = "import sys; from apitwin.drift import print_generated; print_generated(sys.argv[1:])"
# Hypothesis' caches (its Unicode tables take ~1 s to rebuild): outside the project, reused from run to run.
_HYPOTHESIS_STORAGE = Path(tempfile.gettempdir()) / "apitwin-drift-hypothesis"


class DriftUsageError(Exception):
    """Drift cannot run as asked (unknown twin, no credential, target unreachable...): exit code 2."""


@dataclass(frozen=True)
class PlannedRequest:
    """One concrete request, sent identically to both sides (the credential excepted)."""

    operation: str  # as Schemathesis labels it, e.g. "GET /report/{id}"
    origin: str  # what produced it: example, positive, unknown-id or negative
    method: str
    path: str  # percent-encoded, relative to the base URL
    query: str  # encoded, without "?"
    headers: tuple[tuple[str, str], ...] = ()  # never the credential
    body: bytes | None = None

    @property
    def safe(self) -> bool:
        return self.method.upper() in SAFE_METHODS

    def url(self, base_url: str) -> str:
        return base_url.rstrip("/") + self.path + (f"?{self.query}" if self.query else "")

    def key(self) -> tuple[object, ...]:
        return (self.method, self.path, self.query, self.headers, self.body)

    def to_json(self) -> dict[str, Any]:
        body = None if self.body is None else base64.b64encode(self.body).decode("ascii")
        return {**self.__dict__, "headers": [list(pair) for pair in self.headers], "body": body}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlannedRequest:
        body = None if data["body"] is None else base64.b64decode(data["body"])
        headers = tuple((str(name), str(value)) for name, value in data["headers"])
        return cls(**{**data, "headers": headers, "body": body})


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


@dataclass(frozen=True)
class Exchange:
    request: PlannedRequest
    twin: Answer
    target: Answer
    disagreements: tuple[Disagreement, ...]

    @property
    def agreed(self) -> bool:
        return not self.disagreements


@dataclass(frozen=True)
class OperationSummary:
    requests: int = 0
    agreed: int = 0
    kinds: Counter[DisagreementKind] = field(default_factory=Counter)


@dataclass(frozen=True)
class DriftResult:
    api: str
    target_url: str
    auth_hint: str  # how the API sends a credential, e.g. "Authorization: Bearer {credential}"
    seed: int
    cases: int
    read_only: bool
    exchanges: tuple[Exchange, ...]

    @property
    def disagreeing(self) -> list[Exchange]:
        return [exchange for exchange in self.exchanges if not exchange.agreed]

    @property
    def fidelity(self) -> float:
        """Percentage of requests answered alike by both sides."""
        agreed = sum(exchange.agreed for exchange in self.exchanges)
        return 100.0 * agreed / len(self.exchanges) if self.exchanges else 100.0

    def by_operation(self) -> dict[str, OperationSummary]:
        summaries: dict[str, OperationSummary] = {}
        for exchange in self.exchanges:
            before = summaries.get(exchange.request.operation, OperationSummary())
            kinds = before.kinds + Counter(disagreement.kind for disagreement in exchange.disagreements)
            summaries[exchange.request.operation] = OperationSummary(
                before.requests + 1, before.agreed + exchange.agreed, kinds
            )
        return summaries

    def curl(self, request: PlannedRequest) -> str:
        """The request as sent to the target, as a curl command with the credential masked."""
        parts = ["curl", "-X", request.method, shlex.quote(request.url(self.target_url))]
        parts += ["-H", shlex.quote(self.auth_hint.format(credential="***"))]
        for name, value in request.headers:
            parts += ["-H", shlex.quote(f"{name}: {value}")]
        if request.body is not None:
            parts += ["--data-binary", shlex.quote(request.body.decode("utf-8", "backslashreplace"))]
        return " ".join(parts)


# ---------------------------------------------------------------------------------------------------------------------
# Comparing two answers


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


# ---------------------------------------------------------------------------------------------------------------------
# Planning the requests


def plan_requests(api: str, *, cases: int = 50, seed: int = 1, read_only: bool = True) -> list[PlannedRequest]:
    """The requests drift sends for `api`, in order: per operation, its examples and `cases` generated ones
    (most positive with path parameters from the spec's examples, a tenth with unknown path parameters, a
    tenth negative), duplicates dropped.

    Deterministic: the same spec, seed and count give the same requests, for a given Hypothesis and
    Schemathesis version. Hypothesis runs in a child interpreter because, in-process, its draws depend on the
    caller: it mixes constants from every project module already imported into ~5% of draws, and set order
    follows hash randomisation. The child imports only this module, runs with PYTHONHASHSEED=0 and keeps
    Hypothesis' storage outside the project (no .hypothesis/ folder is left behind); each draw is a seeded
    `@given` run restricted to the generate phase, with no example database.
    """
    twin = _twin(api)
    auth_header = twin.auth_hint.partition(":")[0].strip()
    _HYPOTHESIS_STORAGE.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONHASHSEED": "0", "HYPOTHESIS_STORAGE_DIRECTORY": str(_HYPOTHESIS_STORAGE)}
    arguments = [str(twin.spec_path), auth_header, str(cases), str(seed), "read-only" if read_only else "all"]
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, *arguments],
        capture_output=True,
        cwd=_HYPOTHESIS_STORAGE,  # away from any configuration file of the caller's
        env=env,
        text=True,
        encoding="utf-8",
        check=False,
    )
    if child.returncode != 0:
        raise RuntimeError(f"generating the requests failed:\n{child.stderr}")
    return [PlannedRequest.from_json(item) for item in json.loads(child.stdout)]


def print_generated(argv: Sequence[str]) -> None:
    """The child process of `plan_requests`: prints the planned requests as JSON."""
    spec_path, auth_header, cases, seed, methods = argv
    planned = _generate(Path(spec_path), auth_header, int(cases), int(seed), read_only=methods == "read-only")
    sys.stdout.write(json.dumps([request.to_json() for request in planned]))


def _generate(spec_path: Path, auth_header: str, cases: int, seed: int, *, read_only: bool) -> list[PlannedRequest]:
    planned: list[PlannedRequest] = []
    for operation in _operations(spec_path):
        if read_only and operation.method.upper() not in SAFE_METHODS:
            continue
        seen: set[tuple[object, ...]] = set()
        for origin, strategy, count in _strategies(operation, cases):
            for case in _draw(strategy, count, seed):
                request = _as_request(case, operation.label, origin, auth_header)
                if request is not None and request.key() not in seen:
                    seen.add(request.key())
                    planned.append(request)
    return planned


def _operations(spec_path: Path) -> list[Any]:
    """The spec's operations as Schemathesis sees them, in spec order."""
    import schemathesis
    from schemathesis.core.result import Ok

    operations = []
    # The explicit default config: no schemathesis.toml of the caller's changes what is generated.
    for result in schemathesis.openapi.from_path(spec_path, config=schemathesis.Config()).get_all_operations():
        if not isinstance(result, Ok):
            raise result.err()  # `apitwin lint` rejects such a spec first
        operations.append(result.ok())
    return operations


def _strategies(operation: Any, cases: int) -> Iterator[tuple[str, Any, int]]:
    """(origin, Hypothesis strategy of Schemathesis cases, how many to draw) for one operation."""
    from schemathesis import GenerationMode

    parameters = [parameter.definition for parameter in operation.path_parameters]
    known = {parameter["name"]: _example(parameter) for parameter in parameters}
    share = max(1, cases // 10)
    for strategy in operation.get_strategies_from_examples():
        yield "example", strategy, 1
    positive = operation.as_strategy(GenerationMode.POSITIVE, path_parameters=_without_none(known))
    yield "positive", positive, max(1, cases - 2 * share)
    if parameters:
        unknown = _without_none(
            {parameter["name"]: _unknown(parameter.get("schema") or {}) for parameter in parameters}
        )
        yield "unknown-id", operation.as_strategy(GenerationMode.POSITIVE, path_parameters=unknown), share
    yield "negative", operation.as_strategy(GenerationMode.NEGATIVE), share


def _example(parameter: Mapping[str, Any]) -> Any:
    if "example" in parameter:
        return parameter["example"]
    examples = parameter.get("examples") or {}
    for example in examples.values():
        return example.get("value")
    return (parameter.get("schema") or {}).get("example")


def _unknown(schema: Mapping[str, Any]) -> Any:
    """A valid path parameter value that no fixture uses: "not found" deserves requests of its own, and random
    draws rarely give one (Hypothesis starts from the smallest value, often a fixture id)."""
    if schema.get("type") in ("integer", "number"):
        return min(987_654_321, schema.get("maximum", 987_654_321))
    if schema.get("type", "string") == "string" and "enum" not in schema:
        return "00000000-0000-4000-8000-000000000000" if schema.get("format") == "uuid" else "apitwin-drift-unknown"
    return None  # an enum: every value is known


def _without_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def _draw(strategy: Any, count: int, seed: int) -> list[Any]:
    """`count` draws from the strategy, the same ones for the same seed: a seeded `@given` run that only
    generates (no shrinking, no example database), collecting what it is given. `.example()` is not for
    programs: it is unseeded and may warn."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as fixed_seed
    from hypothesis.errors import Unsatisfiable

    drawn: list[Any] = []

    @fixed_seed(seed)
    @settings(
        max_examples=count,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(case: Any) -> None:
        drawn.append(case)

    try:
        collect()
    except Unsatisfiable:
        pass  # the spec leaves nothing to generate here (a schema that can only be violated one way, say)
    return drawn


def _as_request(case: Any, operation: str, origin: str, auth_header: str) -> PlannedRequest | None:
    """The concrete request a Schemathesis case stands for, without the credential; None when it cannot be sent
    as one (a header that is not ASCII, a multipart body)."""
    kwargs = case.as_transport_kwargs(base_url=_PLACEHOLDER_ORIGIN)
    if "files" in kwargs:
        return None
    dropped = _TRANSPORT_HEADERS | {auth_header.lower()}
    headers = tuple((str(name), str(value)) for name, value in kwargs["headers"].items() if name.lower() not in dropped)
    if not all(_sendable(name) and _sendable(value) for name, value in headers):
        return None
    return PlannedRequest(
        operation=operation,
        origin=origin,
        method=str(kwargs["method"]).upper(),
        path=str(kwargs["url"]).removeprefix(_PLACEHOLDER_ORIGIN),
        query=_query_string(kwargs.get("params")),
        headers=headers,
        body=_body(kwargs),
    )


def _sendable(text: str) -> bool:
    return text.isascii() and "\n" not in text and "\r" not in text


def _query_string(params: Any) -> str:
    from urllib.parse import urlencode

    if not params:
        return ""
    if isinstance(params, str):
        return params  # Schemathesis already encoded it (explode=false arrays, for one)
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                pairs.append((name, json.dumps(item) if isinstance(item, bool) else str(item)))
    return urlencode(pairs)


def _body(kwargs: Mapping[str, Any]) -> bytes | None:
    from urllib.parse import urlencode

    if "json" in kwargs:
        return json.dumps(kwargs["json"]).encode("utf-8")
    data = kwargs.get("data")
    if data is None:
        return None
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    return urlencode(data, doseq=True).encode("ascii")


# ---------------------------------------------------------------------------------------------------------------------
# Sending and judging


class _Documented:
    """What the spec documents about answers: their schemas, to judge a body and to guide shape comparison."""

    def __init__(self, spec_path: Path) -> None:
        from apitwin.spec import load_resolved

        self.operations = {operation.label: operation for operation in _operations(spec_path)}
        self.resolved = load_resolved(spec_path)

    def violation(self, operation: str, request_url: str, answer: Answer) -> str | None:
        """How the answer breaks the schema documented for its status, or None (conforming or undocumented)."""
        import requests
        import schemathesis

        response = schemathesis.Response(
            status_code=answer.status,
            headers={"content-type": [answer.media_type]} if answer.media_type else {},
            content=answer.body,
            request=requests.Request(operation.split(" ")[0], request_url).prepare(),
            elapsed=0.0,
            verify=True,
        )
        try:
            self.operations[operation].validate_response(response)
        except AssertionError as failure:  # Schemathesis' FailureGroup and Failure are AssertionErrors
            failures = getattr(failure, "exceptions", [failure])
            return "; ".join(_first_line(item) for item in failures)
        return None

    def body_schema(self, operation: str, answer: Answer) -> Mapping[str, Any] | None:
        method, _, path = operation.partition(" ")
        responses = self.resolved["paths"][path][method.lower()].get("responses", {})
        keys = [key for key in (str(answer.status), f"{answer.status // 100}XX", "default") if key in responses]
        content = responses[keys[0]].get("content") or {} if keys else {}
        schema = (content.get(answer.media_type) or {}).get("schema")
        return schema if isinstance(schema, Mapping) else None


def _first_line(failure: BaseException) -> str:
    title = getattr(failure, "title", None) or type(failure).__name__
    message = str(getattr(failure, "message", "") or failure).strip().splitlines()
    return f"{title}: {message[0]}" if message else str(title)


@dataclass
class _Side:
    """One of the two deployments compared."""

    base_url: str
    headers: dict[str, str]  # the credential, as the API sends it
    interval: float = 0.0  # seconds between requests, to stay within a real service's rate limit
    last_sent: float = float("-inf")

    def send(self, client: httpx.Client, request: PlannedRequest) -> httpx.Response:
        time.sleep(max(0.0, self.last_sent + self.interval - time.monotonic()))
        self.last_sent = time.monotonic()
        headers = {**dict(request.headers), **self.headers}
        return client.request(request.method, request.url(self.base_url), headers=headers, content=request.body)


def _answer(response: httpx.Response, operation: str, documented: _Documented) -> Answer:
    media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    answer = Answer(status=response.status_code, media_type=media_type, body=response.content)
    return replace(answer, violation=documented.violation(operation, str(response.request.url), answer))


def _exchange(
    client: httpx.Client, request: PlannedRequest, twin: _Side, target: _Side, documented: _Documented
) -> Exchange:
    import httpx

    twin_answer = _answer(twin.send(client, request), request.operation, documented)
    try:
        target_response = target.send(client, request)
    except httpx.TransportError as exc:
        raise DriftUsageError(f"cannot reach the target at {request.url(target.base_url)}: {exc!r}") from exc
    target_answer = _answer(target_response, request.operation, documented)
    schema = documented.body_schema(request.operation, twin_answer)
    return Exchange(request, twin_answer, target_answer, compare(twin_answer, target_answer, schema))


def measure_drift(
    api: str,
    *,
    target: str,
    credential: str | None,
    twin_credential: str | None = None,
    cases: int = 50,
    seed: int = 1,
    read_only: bool = True,
    echo: Echo = click.echo,
) -> DriftResult:
    """Send the planned requests to a twin started for the run and to `target`; raises DriftUsageError."""
    import httpx

    twin = _twin(api)
    if not credential:
        scheme = twin.auth_hint.format(credential="<credential>")
        raise DriftUsageError(f"--target needs a credential (--auth or APITWIN_AUTH), sent as {scheme}")
    planned = plan_requests(api, cases=cases, seed=seed, read_only=read_only)
    if not planned:
        raise DriftUsageError(f"{twin.title} has no operation with a safe method; --all-methods sends the others")
    documented = _Documented(twin.spec_path)
    target_side = _Side(target.rstrip("/"), twin.credential_header(credential), _interval(twin))
    if target_side.interval:
        echo(f"apitwin: one request every {target_side.interval:g} s, within {twin.title}'s documented rate limit")
    from apitwin.serving import local_twin

    with (
        local_twin(api, validate_responses=False) as (twin_url, fixture_credential),
        httpx.Client(timeout=REQUEST_TIMEOUT) as client,
    ):
        twin_side = _Side(twin_url, twin.credential_header(twin_credential or fixture_credential))
        exchanges = tuple(_exchange(client, request, twin_side, target_side, documented) for request in planned)
    return DriftResult(api, target_side.base_url, twin.auth_hint, seed, cases, read_only, exchanges)


def _twin(api: str) -> Twin:
    from apitwin.twins import TWINS

    if api not in TWINS:
        raise DriftUsageError(f"unknown twin {api!r}; choose from {', '.join(TWINS)}")
    return TWINS[api]


def _interval(twin: Twin) -> float:
    limit = twin.rate_limit
    return limit.window_seconds / limit.requests if limit is not None else 0.0


# ---------------------------------------------------------------------------------------------------------------------
# Reporting


def summary_lines(result: DriftResult, limit: int | None = CONSOLE_LIMIT) -> list[str]:
    """The console report: per-operation agreement, the fidelity score, then each disagreement."""
    scope = "safe methods only (--read-only)" if result.read_only else "every method (--all-methods)"
    summaries = result.by_operation()
    width = max([len("operation"), *map(len, summaries)])
    lines = [
        f"apitwin drift {result.api}: {len(result.exchanges)} requests to a twin started for the run and to "
        f"{result.target_url}; {scope}, seed {result.seed}, {result.cases} cases per operation",
        "",
        f"  {'operation':<{width}} {'requests':>8} {'agreed':>7}  disagreements",
    ]
    for operation, summary in summaries.items():
        lines.append(f"  {operation:<{width}} {summary.requests:>8} {summary.agreed:>7}  {_kinds(summary) or '-'}")
    lines += ["", _fidelity_line(result)]
    disagreeing = result.disagreeing
    for number, exchange in enumerate(disagreeing[:limit], start=1):
        lines += ["", f"disagreement {number} of {len(disagreeing)}: {_heading(exchange)}"]
        lines += [f"  {line}" for line in _exchange_lines(result, exchange)]
    if limit is not None and len(disagreeing) > limit:
        lines += ["", f"{len(disagreeing) - limit} more disagreement(s): --report FILE lists every one"]
    return lines


def _kinds(summary: OperationSummary) -> str:
    counts = sorted((kind.value, count) for kind, count in summary.kinds.items())
    return ", ".join(f"{kind} ×{count}" for kind, count in counts)


def _fidelity_line(result: DriftResult) -> str:
    agreed = len(result.exchanges) - len(result.disagreeing)
    return f"fidelity {result.fidelity:.1f}% ({agreed} of {len(result.exchanges)} requests answered alike)"


def _heading(exchange: Exchange) -> str:
    kinds = ", ".join(disagreement.kind.value for disagreement in exchange.disagreements)
    return f"{exchange.request.operation} ({exchange.request.origin}): {kinds}"


def _exchange_lines(result: DriftResult, exchange: Exchange) -> list[str]:
    return [
        result.curl(exchange.request),
        f"twin   {exchange.twin.status} {exchange.twin.media_type or '-'} {exchange.twin.preview()}",
        f"target {exchange.target.status} {exchange.target.media_type or '-'} {exchange.target.preview()}",
        *(f"- {disagreement.kind.value}: {disagreement.detail}" for disagreement in exchange.disagreements),
    ]


def markdown_report(result: DriftResult) -> str:
    scope = "safe methods only" if result.read_only else "every method"
    lines = [
        f"# Drift of the {result.api} twin against {result.target_url}",
        "",
        f"{len(result.exchanges)} requests ({scope}; seed {result.seed}, {result.cases} cases per operation).",
        f"**{_fidelity_line(result)}**",
        "",
        "| operation | requests | agreed | disagreements |",
        "|---|---:|---:|---|",
    ]
    for operation, summary in result.by_operation().items():
        lines.append(f"| `{operation}` | {summary.requests} | {summary.agreed} | {_kinds(summary) or '-'} |")
    for number, exchange in enumerate(result.disagreeing, start=1):
        lines += ["", f"## {number}. {_heading(exchange)}", "", "```", *_exchange_lines(result, exchange), "```"]
    return "\n".join(lines) + "\n"


def json_report(result: DriftResult) -> dict[str, Any]:
    def answer(side: Answer) -> dict[str, Any]:
        preview = side.preview()
        return {"status": side.status, "media_type": side.media_type, "body": preview, "violation": side.violation}

    return {
        "api": result.api,
        "target": result.target_url,
        "seed": result.seed,
        "cases": result.cases,
        "read_only": result.read_only,
        "requests": len(result.exchanges),
        "agreed": len(result.exchanges) - len(result.disagreeing),
        "fidelity": round(result.fidelity, 1),
        "operations": {
            operation: {
                "requests": summary.requests,
                "agreed": summary.agreed,
                "disagreements": {kind.value: count for kind, count in summary.kinds.items()},
            }
            for operation, summary in result.by_operation().items()
        },
        "exchanges": [
            {
                "operation": exchange.request.operation,
                "origin": exchange.request.origin,
                "method": exchange.request.method,
                "curl": result.curl(exchange.request),
                "twin": answer(exchange.twin),
                "target": answer(exchange.target),
                "disagreements": [{"kind": d.kind.value, "detail": d.detail} for d in exchange.disagreements],
            }
            for exchange in result.exchanges
        ],
    }


def write_report(result: DriftResult, path: Path) -> None:
    text = json.dumps(json_report(result), indent=2) + "\n" if path.suffix == ".json" else markdown_report(result)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------------------
# The command


def run_drift(
    api: str,
    *,
    target: str,
    credential: str | None,
    twin_credential: str | None = None,
    cases: int = 50,
    seed: int = 1,
    read_only: bool = True,
    report: Path | None = None,
    echo: Echo = click.echo,
) -> int:
    """Measure drift and print it: 0 when both sides agree on every request, 1 on drift, 2 on usage errors."""
    if report is not None and report.suffix not in (".md", ".json"):
        echo(f"apitwin drift: --report must end in .md or .json, not {report.name!r}", err=True)
        return 2
    try:
        result = measure_drift(
            api,
            target=target,
            credential=credential,
            twin_credential=twin_credential,
            cases=cases,
            seed=seed,
            read_only=read_only,
            echo=echo,
        )
    except DriftUsageError as exc:
        echo(f"apitwin drift: {exc}", err=True)
        return 2
    for line in summary_lines(result):
        echo(line)
    if report is not None:
        write_report(result, report)
        echo(f"report written to {report}")
    return 1 if result.disagreeing else 0


@click.command("drift")
@click.option("--api", required=True, help="The twin to measure, e.g. datascaphe.")
@click.option(
    "--target",
    required=True,
    metavar="URL",
    help="Base URL of the real deployment, e.g. https://datascaphe.com/api/v1.",
)
@click.option(
    "--auth",
    "credential",
    default=None,
    envvar="APITWIN_AUTH",
    metavar="CREDENTIAL",
    help="Credential for --target, in the API's scheme (env APITWIN_AUTH).",
)
@click.option(
    "--twin-auth",
    "twin_credential",
    default=None,
    metavar="CREDENTIAL",
    help="Credential for the twin (default: its first fixture credential).",
)
@click.option(
    "--cases",
    default=50,
    show_default=True,
    type=click.IntRange(min=1),
    help="Generated requests per operation, besides its documented examples.",
)
@click.option("--seed", default=1, show_default=True, type=int, help="Seed: the same seed, the same requests.")
@click.option(
    "--read-only/--all-methods",
    default=True,
    show_default=True,
    help="Send only GET, HEAD and OPTIONS (the target is a real deployment), or every method.",
)
@click.option(
    "--report", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Also write a report (.md, .json)."
)
def drift_command(
    api: str,
    target: str,
    credential: str | None,
    twin_credential: str | None,
    cases: int,
    seed: int,
    read_only: bool,
    report: Path | None,
) -> None:
    """Send the same spec-generated requests to a fresh twin and to a real deployment, and report where their
    answers disagree (status, media type, schema, error shape, body shape) with a fidelity score. Exits 0 when
    they agree on every request, 1 on drift, 2 on usage errors."""
    raise SystemExit(
        run_drift(
            api,
            target=target,
            credential=credential,
            twin_credential=twin_credential,
            cases=cases,
            seed=seed,
            read_only=read_only,
            report=report,
        )
    )
