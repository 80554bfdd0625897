"""Talking to both sides: the same planned requests to a twin started for the run and to the target, each
answer judged against the spec and compared (`measure_drift`)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from apitwin.drift.compare import Answer, compare
from apitwin.drift.errors import DriftTargetError, DriftUsageError
from apitwin.drift.planning import PlannedRequest, _operations, _twin, plan_requests
from apitwin.drift.result import DriftResult, Exchange

if TYPE_CHECKING:
    import httpx

    from apitwin.contract import Echo
    from apitwin.twins import Twin

REQUEST_TIMEOUT = 10  # seconds, as for `apitwin check`


class _Documented:
    """What the spec documents about answers: their schemas, to judge a body and to guide shape comparison."""

    def __init__(self, spec_path: Path) -> None:
        import tempfile

        from apitwin.spec import bundled_file, load_resolved

        with tempfile.TemporaryDirectory(prefix="apitwin-drift-") as folder:  # read whole by Schemathesis
            self.operations = {
                operation.label: operation for operation in _operations(bundled_file(spec_path, Path(folder)))
            }
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
        raise DriftTargetError(f"cannot reach the target at {request.url(target.base_url)}: {exc!r}") from exc
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
    """Send the planned requests to a twin started for the run and to `target`, after checking the target as
    `apitwin check` does (`preflight`). `credential` is the argument, else `APITWIN_<TWIN>_AUTH`, else
    `APITWIN_AUTH`. Raises DriftUsageError (exit 2) or DriftTargetError (exit 1)."""
    import httpx

    from apitwin.contract import (
        SAFE_METHODS,
        PreflightFailure,
        credential_sources,
        documented_operations_of,
        preflight,
        resolve_credential,
    )

    twin = _twin(api)
    credential = resolve_credential(twin, credential)
    if not credential:
        scheme = twin.auth_hint.format(credential="<credential>")
        raise DriftUsageError(f"--target needs a credential ({credential_sources(twin)}), sent as {scheme}")
    if read_only and not any(operation.method in SAFE_METHODS for operation in documented_operations_of(twin)):
        raise DriftUsageError(f"{twin.title} has no operation with a safe method; --all-methods sends the others")
    try:
        note = preflight(twin, target, credential, writes_allowed=not read_only)
    except PreflightFailure as exc:
        raise DriftTargetError(str(exc)) from None
    if note:
        echo(f"apitwin: {note}")
    planned = plan_requests(api, cases=cases, seed=seed, read_only=read_only)
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


def _interval(twin: Twin) -> float:
    limit = twin.rate_limit
    return limit.window_seconds / limit.requests if limit is not None else 0.0
