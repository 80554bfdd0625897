"""`apitwin check`: Schemathesis against a twin started for the run, or against a real deployment.

A run cannot pass falsely: before any testing, a preflight checks that the target answers, accepts the
credential and serves the API at the given base path (`preflight`, also used by `apitwin drift`); after it, an
operation never answered with a documented 2xx is "not exercised", and a run where nothing got past 401, 403
or 429 fails whatever Schemathesis found (`judge`).

Schemathesis runs as a subprocess through its CLI (its stable interface: reports, exit codes, output) with a
config file generated per run, in a temporary working directory: no `schemathesis.toml` of the caller's is
picked up, and no `.hypothesis/` or `.schemathesis/` folder is left in the project. Its output streams live
as progress; its NDJSON event stream is then read back (`apitwin.reports`) for the summary table and the
Markdown/HTML report; its warnings, which the stream lacks, are written by a CLI handler registered in the
per-run hooks file (`WarningsRecorder`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from apitwin.reports import (
    HTTP_METHODS,
    RATE_LIMITED,
    REFUSED,
    Operation,
    OperationStats,
    RunError,
    RunInfo,
    RunStats,
    documented_operations,
    not_exercised,
    not_exercised_line,
    read_events,
    read_warnings,
    summary_table,
    write_report,
)
from apitwin.serving import local_twin
from apitwin.twins import TWINS, Twin

if TYPE_CHECKING:
    import httpx

Echo = Callable[..., object]

# Every phase: the spec's examples, boundary values (coverage), random data, and sequences along the links.
PHASES = "examples,coverage,fuzzing,stateful"
REQUEST_TIMEOUT = 10  # seconds; a twin answers in milliseconds, a real service should well within this
# The header value travels in the environment, not in argv where `ps` would show a real credential.
AUTH_ENV = "APITWIN_CHECK_AUTHORIZATION"
WARNINGS_ENV = "APITWIN_CHECK_WARNINGS"  # where WarningsRecorder writes Schemathesis' warnings
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REPORT_SUFFIXES = (".md", ".html", ".htm")
# Schemathesis' `--rate-limit` values: a pace such as 20/m, or "auto" (wait out 429s per Retry-After).
_PACE = re.compile(r"auto|off|[1-9][0-9]*/[smhd]")

# Operations where a schema-valid request may still be rightly refused with 400, for a reason JSON Schema
# cannot express. For these, and only for ST202 (positive_data_acceptance), 400 joins Schemathesis' default
# tolerated statuses; every other check, and every other status, still applies.
TOLERATED_400: dict[str, dict[str, str]] = {
    "datascaphe": {
        **{
            operation: "use_id_service_principal must name an existing service principal"
            for operation in ("createReport", "updateReport")
        },
        **{
            operation: "date bounds must be days of the calendar (no 31 February), which the spec's pattern cannot tell"
            for operation in ("listServicePrincipals", "listReports")
        },
    },
    "datascale": {"ingestContent": "content must be SQL that parses for the platform (PARSER_ERROR)"},
    "dataiku": {
        "startSqlQuery": "the query must run on the connection's tables, and name a connection, database or dataset",
        **{
            operation: "columns must be columns of the dataset and the filter a formula over them"
            for operation in ("getDatasetData", "postDatasetData")
        },
        "clearDatasetData": "partitions must be partitions of the dataset (NP when it is not partitioned)",
        "setConnection": "a connection's name and type cannot be changed",
    },
    "opendatasoft": {
        **{
            operation: "dataset_id must be unique in the domain, and a published dataset keeps its own"
            for operation in ("createDataset", "updateDataset")
        },
        **{
            operation: "the dataset's status must allow the action (invalid_dataset_status)"
            for operation in ("publishDataset", "publishDatasetMetadata", "abortDataset", "unpublishDataset")
        },
        **{
            operation: "a ruleset names a user or group of the domain"
            for operation in (
                "createDatasetUserRuleset",
                "updateDatasetUserRuleset",
                "createDatasetGroupRuleset",
                "updateDatasetGroupRuleset",
                "createDatasourceConnectionUserRuleset",
                "updateDatasourceConnectionUserRuleset",
                "createDatasourceConnectionGroupRuleset",
                "updateDatasourceConnectionGroupRuleset",
                *(
                    f"{verb}{page}{target}Ruleset"
                    for verb in ("create", "update")
                    for page in ("StudioPage", "CodeEditorPage")
                    for target in ("User", "Group")
                ),
            )
        },  # fmt: skip
        **{
            operation: "a user's e-mail address is unique and its groups are groups of the domain"
            for operation in ("updateUser", "addUserGroupUser")
        },
        **{
            operation: "an uploaded_file datasource must name a file uploaded to the dataset"
            for operation in ("createDatasetResource", "updateDatasetResource")
        },
        **{
            operation: "the twin reads uploaded files only: a file of the dataset that the extractor can read"
            for operation in (
                "guessUnsavedResourceExtractors",
                "guessUnsavedResourceExtractorParams",
                "previewUnsavedResource",
                "guessDatasetResourceExtractors",
                "guessDatasetResourceExtractorParams",
                "previewDatasetResource",
            )
        },
        **{
            operation: "realtime data is recovered on a published dataset only (invalid_dataset_status)"
            for operation in ("recoverDatasetResource", "deleteDatasetResourceRecoveredData")
        },
        "uploadDatasetResourceFile": "the file part must carry a file name: it is the file's uid",
        **{
            operation: "the file part must be a file, not a text field"
            for operation in ("createDatasetAttachment", "createDatasetAlternativeExport")
        },
        "updateDatasetAlternativeExport": "an alternative export's type cannot change",
        **{
            operation: "a studio page's slug, when given, is unique among studio pages"
            for operation in ("createStudioPage", "updateStudioPage")
        },
        "createCodeEditorPage": "a code editor page is named by its slug: a create must give one",
        "updateCodeEditorPage": "an archived page can't be edited, but for unarchiving it (is_archived: false)",
        "deleteCodeEditorPages": "the bulk delete names its pages (slug, search or both): never every page at once",
        **{
            operation: "a template's field names are unique, and a system template always active cannot be disabled"
            for operation in ("createMetadataTemplate", "updateMetadataTemplate")
        },
        "createImageAsset": "the file part must carry a file name: the asset's url is made of it",
        **{
            operation: "the harvester's status must allow the action (invalid_harvester_status)"
            for operation in ("startHarvester", "abortHarvester")
        },
        "createHarvesterSchedule": "a harvester can only have one schedule",
    },
}
# Huwise serves the common operations with the same behaviours (one module for both): the same rules, and its own
TOLERATED_400["huwise"] = {
    **TOLERATED_400["opendatasoft"],
    # its metadata is a dictionary keyed by template: the schema cannot say which templates the domain has
    "createDataset": "dataset_id must be unique in the domain, and metadata templates must be the domain's",
    "updateDatasetMetadata": "metadata templates must be the domain's (a two-level dictionary by template)",
    **{
        operation: "a glossary term's name is unique among the terms (the schema's example is a fixture's term)"
        for operation in ("createGlossaryTerm", "updateGlossaryTerm")
    },
    "publishStudioPage": "a studio page is published once its draft content's metadata has an asset.title",
    "createForm": "a form's slug is unique among forms",
    "unpublishForm": "only a published form can be unpublished",
    "updateFormDraft": "only the form's draft is written: a version once published is read-only",
    "updateFormSubmission": "`data` must hold a JSON object, which a string's schema cannot say",
    **{
        operation: "a ruleset names a user or group of the domain"
        for operation in (f"{verb}Form{target}Ruleset" for verb in ("create", "update") for target in ("User", "Group"))
    },
}
# Huwise's code editor pages are never archived: the archived-page refusal cannot answer there
del TOLERATED_400["huwise"]["updateCodeEditorPage"]
# Huwise's Portal API (huwise/portal.yaml, a second document of the Huwise twin) is not part of `check --api huwise`:
# a run checks one document at one base URL, the twin's main one; the Portal's one operation (submitForm) is sent
# every case its header decides by tests/e2e/test_huwise_forms.py.
_TOLERATED_STATUSES = ["2xx", "3xx", 400, 401, 403, 404, 409, 429, "5xx"]
# Operations that can take away the run's own credential (a key's permissions, the key itself): they act on the
# spec examples' ids only, never on ids captured from answers, which may name the key the run authenticates with.
# The twin answers them faithfully (a client may lock itself out); the run must not do it to itself.
OWN_CREDENTIAL_WRITES: dict[str, tuple[str, ...]] = {
    "opendatasoft": ("updateApiKey", "revokeApiKey"),
    "huwise": ("updateApiKey", "revokeApiKey"),
}
# Schemathesis 4.32's defaults for missing_required_header, plus 429: the one check whose defaults lack it
# (negative_data_rejection and positive_data_acceptance already accept 429).
_MISSING_HEADER_STATUSES = [400, 401, 403, 406, 415, 422, 429]


class UsageError(Exception):
    """A problem with the arguments, found before anything runs (exit code 2)."""


def run_check(
    api: str,
    *,
    target: str | None = None,
    credential: str | None = None,
    junit: Path | None = None,
    report: Path | None = None,
    ndjson: Path | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    read_only: bool | None = None,
    require_coverage: bool | None = None,
    pace: str | None = None,
    max_examples: int = 25,
    seed: int = 1,
    url: str | None = None,
    session: str | None = None,
    echo: Echo = click.echo,
) -> int:
    """Run every Schemathesis check against `target` (a base URL) or a fresh twin: 0 pass, 1 fail, 2 usage.

    - `url`, instead of starting a twin: the root of a running `apitwin serve` that other runs may share. The
      run happens in a session of its own (`session`, else a name made up and deleted at the end): its twin
      is reset to the fixtures first, every request carries the session header, and the run is judged as
      against a twin started for it (every method, coverage required, no pacing; serve with `--rate-limit
      TWIN=off` for a twin that has a rate limit).

    - `credential` (for `target` only, in the API's scheme, see `Twin.auth_hint`): the argument, else the
      environment's `APITWIN_<TWIN>_AUTH` (e.g. `APITWIN_DATAIKU_AUTH`), else `APITWIN_AUTH`.
    - `include` / `exclude`: selectors, each an operationId, `tag:NAME`, or a path template starting with `/`
      (`*` matches anything, e.g. `/projects/*/datasets*`). Operations matching any include (all when none)
      and no exclude are run; an include matching no operation of the spec is a usage error.
    - `read_only`: only GET, HEAD and OPTIONS operations, and no probing of undocumented methods, so nothing
      is written. None (the default) means read-only against a `target`, every method against a twin started
      for the run; False against a target (`--all-methods`) first lists the operations that may write.
    - `require_coverage`: fail when a tested operation was never answered with a documented 2xx. None (the
      default) means required against a twin started for the run, not against a `target`. Whatever it is, a
      run where no answer got past 401, 403 or 429 fails.
    - `pace`: `N/s`, `N/m`, `N/h`, `N/d`, `auto` (on a 429, wait for its Retry-After and send again) or `off`.
      By default a target is paced within the API's documented rate limit, or `auto` when none is documented;
      a twin started for the run is not paced. A failure on a 429 answer is never counted (see `judge`).
    - `junit`, `report` (`.md` or `.html`), `ndjson` (Schemathesis' raw event stream): files to write.

    Before Schemathesis starts, `preflight` checks the target (exit 1 with one line when it is unreachable,
    refuses the credential or is not at this base path).
    """
    twin = TWINS.get(api)
    if twin is None:
        echo(f"apitwin check: unknown twin {api!r}; choose from {', '.join(TWINS)}", err=True)
        return 2
    remote = target is not None
    read_only = remote if read_only is None else read_only
    try:
        if target is not None and url is not None:
            raise UsageError("--target is a real deployment and --url a shared apitwin: give one of them")
        if session is not None and url is None:
            raise UsageError("--session names a session on a shared apitwin: give --url too")
        if report is not None and report.suffix.lower() not in REPORT_SUFFIXES:
            raise UsageError(f"--report must end with {', '.join(REPORT_SUFFIXES)}, not {report.name!r}")
        if pace is not None and not _PACE.fullmatch(pace):
            raise UsageError(f"--pace is N/s, N/m, N/h, N/d, auto or off (e.g. 20/m), not {pace!r}")
        documented = documented_operations_of(twin)
        selected, filters = select_operations(documented, include, exclude, read_only)
        if remote:
            credential = resolve_credential(twin, credential)
            if not credential:
                raise UsageError(f"--target needs a credential ({credential_sources(twin)}), sent as {_scheme(twin)}")
    except UsageError as exc:
        echo(f"apitwin check: {exc}", err=True)
        return 2
    pacing, note = pace_options(twin, pace, remote=remote)
    plan = _Plan(
        twin=twin,
        documented=documented,
        operations=selected,
        filters=filters,
        selection=_describe_selection(include, exclude, read_only),
        read_only=read_only,
        require_coverage=not remote if require_coverage is None else require_coverage,
        pace=pacing,
        junit=junit,
        report=report,
        ndjson=ndjson,
        max_examples=max_examples,
        seed=seed,
    )
    if url is not None:
        return _run_in_session(plan, url, session, echo)
    if target is None:
        with local_twin(api) as (base_url, local_credential):
            return _run(replace(plan, base_url=base_url, credential=local_credential), echo)
    if note:
        echo(f"apitwin: {note}")
    return _run(replace(plan, base_url=target.rstrip("/"), credential=credential or "", remote=True), echo)


def _run_in_session(plan: _Plan, url: str, session: str | None, echo: Echo) -> int:
    """The run against the twin of a shared apitwin, in a session of its own, reset to the fixtures first."""
    from apitwin.errors import TwinError
    from apitwin.sessions import check_name
    from apitwin.shared import ADMIN_TOKEN_ENV, SharedServer, SharedServerError, made_up_session

    name = session or made_up_session(f"check-{plan.twin.name}")
    try:
        check_name(name)
    except TwinError as exc:
        echo(f"apitwin check: --session {name!r}: {exc.message}", err=True)
        return 2
    server = SharedServer(url.rstrip("/"), name, os.environ.get(ADMIN_TOKEN_ENV) or None)
    try:
        served = server.twin(plan.twin.name)
        server.reset()  # every twin of the session and its clock: the run starts as a twin started for it would
    except (SharedServerError, ValueError) as exc:
        echo(f"apitwin check: {exc}", err=True)
        return 1
    try:
        return _run(replace(plan, base_url=served["base_url"], credential=served["credential"], session=name), echo)
    finally:
        if session is None:
            try:
                server.delete_session()
            except SharedServerError as exc:
                echo(f"apitwin check: the run's session was not deleted: {exc}", err=True)


@dataclass(frozen=True)
class _Plan:
    """Everything one run needs. `base_url` and `credential` are the twin's when not `remote`."""

    twin: Twin
    documented: list[Operation]  # every operation of the spec, for the report's coverage
    operations: list[Operation]  # those selected
    filters: list[str]  # the Schemathesis options selecting them
    selection: str  # the same, for people
    read_only: bool
    require_coverage: bool
    pace: list[str]
    junit: Path | None
    report: Path | None
    ndjson: Path | None
    max_examples: int
    seed: int
    base_url: str = ""
    credential: str = ""
    remote: bool = False
    session: str | None = None  # on a shared apitwin: the run's session

    @property
    def target(self) -> str:
        if self.session is not None:
            return f"{self.base_url} in session {self.session}"
        return self.base_url if self.remote else f"a twin started for the run ({self.base_url})"


def documented_operations_of(twin: Twin) -> list[Operation]:
    from apitwin.spec import load_resolved

    # Resolved, so a path item kept in another file (a split spec) is listed too.
    return documented_operations(load_resolved(twin.spec_path))


def _describe_selection(include: Sequence[str], exclude: Sequence[str], read_only: bool) -> str:
    parts = [
        f"include {', '.join(include)}" if include else "",
        f"exclude {', '.join(exclude)}" if exclude else "",
        "safe methods only (GET, HEAD, OPTIONS)" if read_only else "",
    ]
    return "; ".join(part for part in parts if part)


def resolve_credential(twin: Twin, credential: str | None) -> str | None:
    """The credential for a real deployment: given, else `APITWIN_<TWIN>_AUTH`, else `APITWIN_AUTH`."""
    return credential or os.environ.get(_twin_env(twin)) or os.environ.get("APITWIN_AUTH") or None


def credential_sources(twin: Twin) -> str:
    """Where `resolve_credential` looks, for messages: "--auth, APITWIN_DATAIKU_AUTH or APITWIN_AUTH"."""
    return f"--auth, {_twin_env(twin)} or APITWIN_AUTH"


def _twin_env(twin: Twin) -> str:
    return f"APITWIN_{re.sub(r'[^A-Z0-9]', '_', twin.name.upper())}_AUTH"


def _scheme(twin: Twin) -> str:
    return twin.auth_hint.format(credential="<credential>")


def pace_options(twin: Twin, pace: str | None, *, remote: bool) -> tuple[list[str], str]:
    """Schemathesis' --rate-limit option for the run, and what to tell the user about it."""
    if pace == "off" or (pace is None and not remote):
        return [], ""  # a twin started for the run has no rate limit
    if pace is not None:
        return ["--rate-limit", pace], f"pacing requests at {pace}"
    if twin.rate_limit is None:
        return ["--rate-limit", "auto"], "no documented rate limit: a 429 is waited out per its Retry-After"
    # A real service enforces its limit: unpaced, most of the run would only meet 429s. Schemathesis takes
    # whole units, so the window is rounded to a per-minute rate (100 per 300 s: 20/m).
    per_minute = max(1, int(twin.rate_limit.requests * 60 / twin.rate_limit.window_seconds))
    return ["--rate-limit", f"{per_minute}/m"], (
        f"pacing requests at {per_minute}/minute, within {twin.title}'s documented rate limit"
    )


# -- selecting operations ----------------------------------------------------------------------------------


def select_operations(
    operations: Sequence[Operation], include: Sequence[str], exclude: Sequence[str], read_only: bool
) -> tuple[list[Operation], list[str]]:
    """The operations a run tests, and the Schemathesis options that select exactly those.

    The selection is computed here too (Schemathesis' semantics: any include, then no exclude) so an include
    that matches nothing is reported before anything runs, and the summary lists what was selected.
    """
    both = sorted(set(include) & set(exclude))
    if both:
        raise UsageError(f"{', '.join(both)} is both included and excluded")
    includes = [_Selector.parse(text) for text in dict.fromkeys(include)]
    excludes = [_Selector.parse(text) for text in dict.fromkeys(exclude)]
    for selector in includes:
        if not any(selector.matches(operation) for operation in operations):
            raise UsageError(f"--include {selector.text!r} matches no operation of the spec{selector.hint(operations)}")
    selected = [
        operation
        for operation in operations
        if (not includes or any(s.matches(operation) for s in includes))
        and not any(s.matches(operation) for s in excludes)
        and (not read_only or operation.method in SAFE_METHODS)
    ]
    if not selected:
        raise UsageError(
            "no operation left to test"
            + (" (only GET, HEAD and OPTIONS are sent unless --all-methods is given)" if read_only else "")
        )
    filters = _filter_options("include", includes) + _filter_options("exclude", excludes)
    if read_only:
        # Excludes win over includes in Schemathesis, so these hold whatever the user included.
        unsafe = sorted({operation.method for operation in operations} - SAFE_METHODS)
        filters += [option for method in unsafe for option in ("--exclude-method", method)]
    return selected, filters


@dataclass(frozen=True)
class _Selector:
    text: str
    kind: str  # Schemathesis' filter name: operation-id, tag, path, path-regex
    value: str

    @classmethod
    def parse(cls, text: str) -> _Selector:
        if text.startswith("tag:"):
            return cls(text, "tag", text.removeprefix("tag:"))
        if text.startswith("/"):
            if "*" in text:
                # Anchored: Schemathesis searches with the pattern, and a glob names the whole path.
                return cls(text, "path-regex", "^" + ".*".join(re.escape(part) for part in text.split("*")) + "$")
            return cls(text, "path", text)
        if not text:
            raise UsageError("an empty --include/--exclude selector")
        return cls(text, "operation-id", text)

    def matches(self, operation: Operation) -> bool:
        if self.kind == "tag":
            return self.value in operation.tags
        if self.kind == "path":
            return operation.path == self.value
        if self.kind == "path-regex":
            return re.search(self.value, operation.path) is not None
        return operation.operation_id == self.value

    def hint(self, operations: Sequence[Operation]) -> str:
        if self.kind == "tag":
            tags = sorted({tag for operation in operations for tag in operation.tags})
            return f"; its tags are {', '.join(tags)}" if tags else "; it has no tags"
        if self.kind == "operation-id":
            close = [
                op.operation_id
                for op in operations
                if op.operation_id and self.value.lower() in op.operation_id.lower()
            ]
            return f"; did you mean {', '.join(close[:5])}?" if close else " (a path starts with /, a tag with tag:)"
        return ""


def _filter_options(mode: str, selectors: Sequence[_Selector]) -> list[str]:
    options = [
        option
        for selector in selectors
        if selector.kind != "path-regex"
        for option in (f"--{mode}-{selector.kind}", selector.value)
    ]
    patterns = [selector.value for selector in selectors if selector.kind == "path-regex"]
    if patterns:
        # Schemathesis takes one regex per filter kind, so several globs become one alternation.
        options += [
            f"--{mode}-path-regex",
            patterns[0] if len(patterns) == 1 else "|".join(f"(?:{p})" for p in patterns),
        ]
    return options


# -- preflight: is the target there, does it take the credential, is this its base path? ------------------

PREFLIGHT_TIMEOUT = 5.0  # seconds for an answer to a probe
PREFLIGHT_CONNECT_TIMEOUT = 3.0  # an unreachable target fails within this
MAX_PROBES = 3
_PREVIEW_CHARS = 120  # of a refusal's body, in the one-line message


class PreflightFailure(Exception):
    """The target cannot be tested as given; the message says why in one line (exit code 1)."""


@dataclass(frozen=True)
class Probe:
    """A request sent before any testing: a safe operation, its required parameters taken from the spec's
    examples; or, when writes are allowed and no safe operation can be probed, an operation whose required
    JSON body is sent as `{}`, which its schema rejects, so nothing is written."""

    operation: Operation
    path: str  # the path template with its parameters filled in, percent-encoded
    query: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None

    @property
    def names_a_resource(self) -> bool:
        """Its path has parameters: a 404 may only mean the example's id does not exist on the target."""
        return "{" in self.operation.path

    def url(self, base_url: str) -> str:
        from urllib.parse import urlencode

        return base_url.rstrip("/") + self.path + (f"?{urlencode(self.query)}" if self.query else "")


def plan_probes(spec: Mapping[str, Any], *, writes_allowed: bool) -> list[Probe]:
    """The probes of a resolved OpenAPI document, best first: GETs without path parameters, then GETs whose
    parameters the examples fill; only when writes are allowed and there is no such GET, the operations a
    `{}` body cannot satisfy. Operations with a required parameter and no example are left out."""
    reads: list[Probe] = []
    rejected_writes: list[Probe] = []
    for operation in documented_operations(spec):
        item = spec["paths"][operation.path]
        definition = item[operation.method.lower()]
        filled = _fill_parameters(operation.path, [*item.get("parameters", []), *definition.get("parameters", [])])
        if filled is None:
            continue
        path, query, headers = filled
        if operation.method == "GET":
            reads.append(Probe(operation, path, query, headers))
        elif operation.method not in SAFE_METHODS and _rejects_an_empty_object(definition):
            json_headers = (*headers, ("Content-Type", "application/json"))
            rejected_writes.append(Probe(operation, path, query, json_headers, b"{}"))
    reads.sort(key=lambda probe: probe.names_a_resource)  # stable: document order otherwise
    return reads or (rejected_writes if writes_allowed else [])


def _fill_parameters(
    template: str, parameters: Sequence[Mapping[str, Any]]
) -> tuple[str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] | None:
    """The path, query and headers with every required parameter set to its example; None when one has none."""
    from urllib.parse import quote

    # An operation's parameter overrides the path item's of the same name and location.
    by_key = {(parameter.get("name"), parameter.get("in")): parameter for parameter in parameters}
    path_values: dict[str, str] = {}
    query: list[tuple[str, str]] = []
    headers: list[tuple[str, str]] = []
    for (name, location), parameter in by_key.items():
        if not parameter.get("required") and location != "path":
            continue
        value = parameter_example(parameter)
        if value is None or location not in ("path", "query", "header"):
            return None
        text = _as_text(value)
        if location == "path":
            path_values[str(name)] = quote(text, safe="")
        elif location == "query":
            query.append((str(name), text))
        else:
            headers.append((str(name), text))
    try:
        path = re.sub(r"\{([^}]+)\}", lambda match: path_values[match.group(1)], template)
    except KeyError:
        return None  # a path parameter the spec does not declare
    return path, tuple(query), tuple(headers)


def _as_text(value: Any) -> str:
    """A parameter value as it travels (a list in form style, unexploded: comma-separated)."""
    if isinstance(value, list):
        return ",".join(map(_as_text, value))
    return json.dumps(value) if isinstance(value, bool) or value is None else str(value)


def parameter_example(parameter: Mapping[str, Any]) -> Any:
    """The parameter's example (`example`, the first of `examples`, or its schema's), else its default or
    first enum value; None when it has none."""
    if "example" in parameter:
        return parameter["example"]
    for example in (parameter.get("examples") or {}).values():
        if isinstance(example, Mapping) and "value" in example:
            return example["value"]
    schema = parameter.get("schema") or {}
    for keyword in ("example", "default"):
        if keyword in schema:
            return schema[keyword]
    return (schema.get("enum") or [None])[0]


def _rejects_an_empty_object(definition: Mapping[str, Any]) -> bool:
    body = definition.get("requestBody") or {}
    schema = ((body.get("content") or {}).get("application/json") or {}).get("schema") or {}
    return bool(body.get("required")) and schema.get("type", "object") == "object" and bool(schema.get("required"))


def preflight(twin: Twin, base_url: str, credential: str, *, writes_allowed: bool, session: str | None = None) -> str:
    """Check, with at most MAX_PROBES requests and before any testing, that the target at `base_url` answers,
    accepts the credential and serves the API at that base path: `PreflightFailure` when it does not (a 401
    or 403 on every probe; a 404 on every probe, one of them without path parameters). Returns a note when
    the probes could not tell (a 429; 404s only on example ids), else "".

    Against a real deployment without `writes_allowed`, every probe is a GET. With a `session`, every probe is
    made in that session of a shared apitwin."""
    import httpx

    from apitwin.shared import SESSION_HEADER
    from apitwin.spec import load_resolved

    probes = plan_probes(load_resolved(twin.spec_path), writes_allowed=writes_allowed)[:MAX_PROBES]
    timeout = httpx.Timeout(PREFLIGHT_TIMEOUT, connect=PREFLIGHT_CONNECT_TIMEOUT)
    refusals: list[str] = []
    not_found: list[Probe] = []
    with httpx.Client(timeout=timeout, headers={SESSION_HEADER: session} if session else {}) as client:
        if not probes:
            _probe(client, "GET", base_url.rstrip("/") + "/")  # whether it answers at all
            return "no operation can be probed without writing: only the run will show whether the credential works"
        for probe in probes:
            url = probe.url(base_url)
            headers = {**dict(probe.headers), **twin.credential_header(credential)}
            response = _probe(client, probe.operation.method, url, headers=headers, content=probe.body)
            answer = f"{response.status_code} on {probe.operation.method} {url}{_said(response)}"
            if response.status_code in REFUSED:
                refusals.append(answer)
                if response.status_code == 401:
                    break  # the credential is unknown: no other operation will take it
            elif response.status_code == 404:
                not_found.append(probe)
            elif response.status_code == RATE_LIMITED:
                return f"the preflight's probe was rate limited ({answer}): the credential is not checked"
            else:
                return ""
    if refusals:
        raise PreflightFailure(
            f"the target refused the credential ({'; '.join(refusals)}); it is sent as {_scheme(twin)}, "
            f"from {credential_sources(twin)}"
        )
    if any(not probe.names_a_resource for probe in not_found):
        urls = ", ".join(f"{probe.operation.method} {probe.url(base_url)}" for probe in not_found)
        raise PreflightFailure(f"every probe answered 404 ({urls}): {_base_path_hint(twin, base_url)}")
    return "the preflight's probes named example ids the target does not have (404): the base path is not checked"


def _probe(client: httpx.Client, method: str, url: str, **options: Any) -> httpx.Response:
    import httpx

    try:
        return client.request(method, url, **options)
    except httpx.TimeoutException:
        raise PreflightFailure(
            f"cannot reach the target: no answer from {url} within {PREFLIGHT_TIMEOUT:g} s"
        ) from None
    except httpx.TransportError as exc:
        raise PreflightFailure(f"cannot reach the target at {url}: {exc or type(exc).__name__}") from None


def _said(response: httpx.Response) -> str:
    text = " ".join(response.text.split())
    if not text:
        return ""
    return f": {text[:_PREVIEW_CHARS]}{'…' if len(text) > _PREVIEW_CHARS else ''}"


def _base_path_hint(twin: Twin, base_url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    expected = [twin.base_path, *twin.base_path_aliases]
    if parts.path.rstrip("/") in expected:
        return f"{twin.title} is served under {parts.path.rstrip('/')} there; is it the right host?"
    return (
        f"{twin.title}'s base path is {' or '.join(expected)}, and the URL should end with it, "
        f"e.g. {parts.scheme}://{parts.netloc}{twin.base_path}"
    )


# -- running Schemathesis ----------------------------------------------------------------------------------


def _run(plan: _Plan, echo: Echo) -> int:
    from apitwin.spec import bundled_file

    twin = plan.twin
    [(header, value)] = twin.credential_header(plan.credential).items()
    tolerated = {op: reason for op, reason in TOLERATED_400.get(twin.name, {}).items() if _selected(plan, op)}
    guarded = [op for op in OWN_CREDENTIAL_WRITES.get(twin.name, ()) if _selected(plan, op)]
    for operation_id, reason in tolerated.items():
        echo(f"apitwin: ST202 tolerates 400 on {operation_id}: {reason}")
    if plan.read_only:
        echo("apitwin: safe methods only: GET, HEAD and OPTIONS requests are sent")
    elif plan.remote:
        writing = [operation for operation in plan.operations if operation.method not in SAFE_METHODS]
        echo(f"apitwin: --all-methods: these {len(writing)} operation(s) may write to {plan.base_url}:")
        for operation in writing:
            echo(f"  {operation.label} ({operation.name})")
    try:
        note = preflight(twin, plan.base_url, plan.credential, writes_allowed=not plan.read_only, session=plan.session)
    except PreflightFailure as exc:
        echo(f"apitwin check: {exc}", err=True)
        return 1
    if note:
        echo(f"apitwin: {note}")
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="apitwin-check-") as workdir:
        hooks = Path(workdir, "apitwin_hooks.py")
        hooks.write_text(_HOOKS, encoding="utf-8")
        config = Path(workdir, "schemathesis.toml")
        deletes = any(operation.method == "DELETE" for operation in plan.operations)
        config.write_text(
            _config(header.strip(), tolerated, hooks, plan.read_only, deletes, guarded, plan.session), encoding="utf-8"
        )
        events = (plan.ndjson or Path(workdir, "events.ndjson")).resolve()  # Schemathesis runs in workdir
        events.parent.mkdir(parents=True, exist_ok=True)
        warnings = Path(workdir, "warnings.json")
        # The spec FILE with --url: Schemathesis requests base_url + path and ignores the spec's `servers`.
        # Bundled: Schemathesis would resolve a $ref to a common file with its own loader, unlike the twin.
        spec_file = bundled_file(twin.spec_path, Path(workdir))
        command = [
            *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color", "run"),
            *(str(spec_file), "--url", plan.base_url),
            *("--checks", "all", "--mode", "all", "--phases", PHASES),
            *("--max-examples", str(plan.max_examples), "--seed", str(plan.seed)),
            *("--generation-database", "none"),  # no failing examples replayed from earlier runs
            *("--request-timeout", str(REQUEST_TIMEOUT)),
            *plan.filters,
            *plan.pace,
            *("--report", "ndjson" + (",junit" if plan.junit else ""), "--report-ndjson-path", str(events)),
        ]
        junit = plan.junit.resolve() if plan.junit is not None else None
        if junit is not None:
            junit.parent.mkdir(parents=True, exist_ok=True)
            command += ["--report-junit-path", str(junit)]
        # Unbuffered, so Schemathesis' progress reaches the terminal as it happens rather than in blocks.
        env = {
            **os.environ,
            AUTH_ENV: value.strip(),
            WARNINGS_ENV: str(warnings),
            "PYTHONIOENCODING": "utf-8",
            "PYTHONUNBUFFERED": "1",
        }
        code = _stream(command, workdir, env, echo)
        stats = read_events(events, secrets=[plan.credential, value.strip()])
        stats.warnings = read_warnings(warnings)
    if stats.operations:
        echo("")
        for line in summary_table(plan.operations, stats):
            echo(line)
    for warning in stats.warnings:
        echo(f"apitwin: Schemathesis warns: {warning.line()}")
    code, reasons = judge(code, stats, plan.operations, require_coverage=plan.require_coverage)
    for reason in reasons:
        echo(f"apitwin: {reason}")
    verdict = {0: "passed", 1: "FAILED"}.get(code, f"could not run (Schemathesis exit code {code})")
    written = [str(path) for path in (junit, plan.ndjson) if path is not None]
    if plan.report is not None:
        info = RunInfo(
            api=twin.name,
            title=twin.title,
            target=plan.target,
            seed=plan.seed,
            date=started.isoformat(timespec="seconds"),
            verdict=verdict,
            selection=plan.selection,
            reasons=tuple(reasons),
        )
        # Coverage is over the whole spec: operations the selection left out show as not selected.
        write_report(plan.report, info, plan.documented, stats, {operation.label for operation in plan.operations})
        written.append(str(plan.report))
    files = f"; wrote {', '.join(written)}" if written else ""
    echo(f"apitwin check {twin.name} against {plan.target}: {verdict}{files}")
    return code if code in (0, 1) else 2


def judge(
    schemathesis_code: int, stats: RunStats, operations: Sequence[Operation], *, require_coverage: bool
) -> tuple[int, list[str]]:
    """The run's exit code from Schemathesis' and what the run did, with the reasons to print and report.

    Schemathesis' failures are discounted in exactly two cases, when they are all it found:

    - failures on 429 answers (`Failure.counts`). Only a check Schemathesis cannot be configured for fails on
      one: ignored_auth, when the target throttles its probe sent without credentials;
    - a stateful phase with no link left once operations were selected (--include, --exclude, safe methods),
      which Schemathesis reports as a NoLinksFound error "excluded by filters" rather than skipping the phase.

    And two findings of apitwin's fail a run Schemathesis passed:

    - nothing exercised: no answer to a tested operation got past 401, 403 and 429, always a failure, since
      such a run tested nothing but the refusal;
    - an operation never answered with a documented 2xx ("not exercised"), when `require_coverage`.

    The JUnit report, written by Schemathesis, knows only Schemathesis' own verdict.
    """
    if schemathesis_code not in (0, 1):
        return schemathesis_code, []  # it could not run: nothing to judge
    code, reasons = schemathesis_code, []
    rate_limited = len(stats.failures) - len(stats.counted_failures)
    if rate_limited:
        reasons.append(f"{rate_limited} failure(s) were on 429 answers (the target's rate limit): not counted")
    unlinked = [error for error in stats.errors if _links_filtered_out(error)]
    if unlinked:
        reasons.append("the stateful phase was skipped: none of its links joins two selected operations")
    if code == 1 and (rate_limited or unlinked) and not stats.counted_failures and stats.errors == unlinked:
        code = 0
    answered = [
        status
        for operation in operations
        for status in stats.operations.get(operation.label, OperationStats()).statuses
    ]
    if not any(status not in REFUSED and status != RATE_LIMITED for status in answered):
        code = 1
        reasons.append(
            "nothing exercised: every answer was 401, 403 or 429, so no request reached the API's logic"
            if answered
            else "nothing exercised: no request was answered"
        )
    elif not_exercised(operations, stats):
        listed = not_exercised_line(operations, stats)
        if require_coverage:
            code = 1
            reasons.append(f"not exercised (never answered with a documented 2xx; coverage is required): {listed}")
        else:
            reasons.append(f"not exercised (never answered with a documented 2xx): {listed}")
    return code, reasons


def _links_filtered_out(error: RunError) -> bool:
    return error.kind == "NoLinksFound" and "excluded by filters" in error.message


def _selected(plan: _Plan, operation_id: str) -> bool:
    return any(operation.operation_id == operation_id for operation in plan.operations)


def _config(
    header: str,
    tolerated: dict[str, str],
    hooks: Path,
    read_only: bool,
    deletes: bool,
    guarded: Sequence[str] = (),
    session: str | None = None,
) -> str:
    """The per-run schemathesis.toml; `${...}` is filled from the environment by Schemathesis. A `session` (of a
    shared apitwin) is a header on every request too."""
    from apitwin.shared import SESSION_HEADER

    lines = [
        f"hooks = {json.dumps(str(hooks))}",
        "[headers]",
        f"{json.dumps(header)} = {json.dumps('${' + AUTH_ENV + '}')}",
        *([f"{json.dumps(SESSION_HEADER)} = {json.dumps(session)}"] if session else []),
        "[checks.missing_required_header]",
        f"expected-statuses = {json.dumps(_MISSING_HEADER_STATUSES)}",
        # Fuzzing, where identifiers captured in earlier answers are drawn, runs the operations in the spec's
        # order, the order a client calls them in: Schemathesis' dependency layers sort the operations of a
        # layer by name, which runs Dataiku's finish-streaming (it releases a query's results) before the
        # stream it finishes, and no stream of a captured query would ever be answered.
        "[phases.fuzzing]",
        'operation-ordering = "none"',
    ]
    if deletes:
        # A DELETE takes its path parameters from the spec's examples (which name what the create examples
        # create) and from generation, never from identifiers captured in earlier answers: those name the
        # fixture data other operations' examples read, and a DELETE runs before some of them. Against a real
        # deployment, it also keeps the run from deleting data it merely listed. (A filter matching nothing
        # would be one of Schemathesis' warnings.)
        lines += [
            "[[operations]]",
            'include-method = "DELETE"',
            *(f"phases.{phase}.extra-data-sources.responses = false" for phase in ("examples", "coverage", "fuzzing")),
        ]
    for operation in guarded:  # see OWN_CREDENTIAL_WRITES
        lines += [
            "[[operations]]",
            f"include-operation-id = {json.dumps(operation)}",
            *(f"phases.{phase}.extra-data-sources.responses = false" for phase in ("examples", "coverage", "fuzzing")),
        ]
    if read_only:
        # The coverage phase also sends each undocumented method (PUT, DELETE, ...) to a tested path to see
        # a 405; OPTIONS is the only safe one of those.
        lines += ["[phases.coverage]", 'unexpected-methods = ["options"]']
    for operation in tolerated:
        lines += [
            "[[operations]]",
            f"include-operation-id = {json.dumps(operation)}",
            f"checks.positive_data_acceptance.expected-statuses = {json.dumps(_TOLERATED_STATUSES)}",
        ]
    return "\n".join(lines) + "\n"


# Loaded by the Schemathesis subprocess from the per-run config (`hooks = <file>`).
_HOOKS = """\
import schemathesis
import schemathesis.cli

from apitwin.contract import WarningsRecorder, document_rate_limiting, show_hidden_secrets

schemathesis.hook("before_load_schema")(document_rate_limiting)
schemathesis.hook("before_load_schema")(show_hidden_secrets)
schemathesis.cli.handler()(WarningsRecorder)
"""

_RATE_LIMITED = {"description": "Too many requests (added by apitwin check: a rate limit is never a failure)"}


def show_hidden_secrets(context: object, raw_schema: dict[str, Any]) -> None:
    """Schemathesis hook: a write-only field that is nullable may come back as null, in the run's copy of the spec.

    Schemathesis forbids write-only fields in answers; an API that shows its secrets as null instead ("The API
    returns null to hide this sensitive value": the Automation API's passwords and keys) declares them nullable.
    Such a field loses writeOnly here, so its null passes; the twin itself never answers one with a value.
    """
    stack: list[Any] = [raw_schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("writeOnly") is True and node.get("nullable") is True:
                del node["writeOnly"]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def document_rate_limiting(context: object, raw_schema: dict[str, Any]) -> None:
    """Schemathesis hook: give every operation a documented 429, in the run's copy of the spec only.

    A target may rate-limit any operation, documented or not, and a 429 says nothing about the contract.
    Documented, it passes status_code_conformance (ST103); with no content declared, it has no schema or
    media type to violate. An operation documenting 429, a 4XX range or a default keeps its own answer. A
    429 never exercises an operation either: a run of nothing but 429s fails (`judge`).
    """
    for item in (raw_schema.get("paths") or {}).values():
        if not isinstance(item, dict):
            continue
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {}) if isinstance(operation, dict) else None
            if isinstance(responses, dict) and not {"429", "4XX", "4xx", "default"} & set(map(str, responses)):
                responses["429"] = dict(_RATE_LIMITED)


class WarningsRecorder:
    """Schemathesis CLI event handler, registered by the per-run hooks file: when the run ends, writes its
    warnings ("Missing test data", "Authentication failed", ...), which the NDJSON stream lacks, as JSON to
    the file named by WARNINGS_ENV, for `apitwin.reports.read_warnings`."""

    def __init__(self, *args: object, **params: object) -> None:
        self.path = os.environ.get(WARNINGS_ENV)

    def start(self, ctx: object) -> None:
        pass

    def handle_event(self, ctx: object, event: object) -> None:
        pass

    def shutdown(self, ctx: Any) -> None:
        from schemathesis.cli.commands.run.handlers.output import warning_blocks

        if self.path is None:
            return
        blocks = [
            {
                "title": block.title,
                "summary": block.summary,
                "items": [item.text for group in block.groups for item in group.items],
                "tips": [tip for group in block.groups for tip in group.tips or []],
            }
            for block in warning_blocks(ctx)
        ]
        Path(self.path).write_text(json.dumps(blocks), encoding="utf-8")


def _stream(command: list[str], cwd: str, env: dict[str, str], echo: Echo) -> int:
    """Run the command, handing each output line to echo (so Click's test runner sees it too)."""
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            echo(line.rstrip("\n"))
        return process.wait()
