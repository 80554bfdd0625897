"""The requests drift sends: `plan_requests`, deterministic, generated in a child interpreter."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apitwin.drift.errors import DriftUsageError

if TYPE_CHECKING:
    from apitwin.twins import Twin

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # the only ones --read-only sends to a real deployment
# Headers the HTTP transport adds to every Schemathesis case; they are not part of what the spec generates.
_TRANSPORT_HEADERS = frozenset({"user-agent", "accept-encoding", "accept", "connection", "x-schemathesis-testcaseid"})
_PLACEHOLDER_ORIGIN = "http://apitwin.invalid"  # stripped again: requests are stored relative to a base URL
_CHILD = "import sys; from apitwin.drift.planning import print_generated; print_generated(sys.argv[1:])"
# Hypothesis' caches (its Unicode tables take ~1 s to rebuild): outside the project, reused from run to run.
_HYPOTHESIS_STORAGE = Path(tempfile.gettempdir()) / "apitwin-drift-hypothesis"


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


def _twin(api: str) -> Twin:
    from apitwin.twins import TWINS

    if api not in TWINS:
        raise DriftUsageError(f"unknown twin {api!r}; choose from {', '.join(TWINS)}")
    return TWINS[api]


def plan_requests(api: str, *, cases: int = 50, seed: int = 1, read_only: bool = True) -> list[PlannedRequest]:
    """The requests drift sends for `api`, in order: per operation, its examples and `cases` generated ones
    (most positive with path parameters from the spec's examples, a tenth with unknown path parameters, a
    tenth negative), duplicates dropped.

    Deterministic: the same spec, seed and count give the same requests, for a given Hypothesis and
    Schemathesis version. Hypothesis runs in a child interpreter because, in-process, its draws depend on the
    caller: it mixes constants from every project module already imported into ~5% of draws, and set order
    follows hash randomisation. The child imports only the `apitwin.drift` package (its modules import click
    and the standard library, nothing else of the project's), runs with PYTHONHASHSEED=0 and keeps Hypothesis'
    storage outside the project (no .hypothesis/ folder is left behind); each draw is a seeded `@given` run
    restricted to the generate phase, with no example database.
    """
    twin = _twin(api)
    auth_header = twin.auth_hint.partition(":")[0].strip()
    _HYPOTHESIS_STORAGE.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONHASHSEED": "0", "HYPOTHESIS_STORAGE_DIRECTORY": str(_HYPOTHESIS_STORAGE)}
    from apitwin.spec import bundled_file

    # The child reads a self-contained file: the spec bundled with the common files it refers to.
    with tempfile.TemporaryDirectory(prefix="apitwin-drift-") as folder:
        spec_file = bundled_file(twin.spec_path, Path(folder))
        arguments = [str(spec_file), auth_header, str(cases), str(seed), "read-only" if read_only else "all"]
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
