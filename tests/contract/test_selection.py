"""Choosing operations: --include/--exclude selectors and --read-only, as computed and as Schemathesis runs them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from apitwin.contract import UsageError, run_check, select_operations
from apitwin.reports import Operation
from apitwin.twins import TWINS
from tests.contract.served import ASGIApp, Recording, check, exercised, served_twin, summary_rows

OPERATIONS = [
    Operation("GET", "/report", "listReports", ("Reports",)),
    Operation("POST", "/report", "createReport", ("Reports",)),
    Operation("GET", "/report/{id}", "getReport", ("Reports",)),
    Operation("POST", "/report/{id}/refresh", "refreshReport", ("Reports",)),
    Operation("GET", "/service-principal", "listServicePrincipals", ("Service Principals",)),
    Operation("DELETE", "/service-principal/{id}", "deleteServicePrincipal", ("Service Principals",)),
]


def names(operations: list[Operation]) -> list[str]:
    return [operation.name for operation in operations]


def test_no_selector_selects_every_operation() -> None:
    assert select_operations(OPERATIONS, (), (), False) == (OPERATIONS, [])


def test_each_kind_of_selector_becomes_the_matching_schemathesis_filter() -> None:
    selected, options = select_operations(OPERATIONS, ["getReport", "tag:Service Principals", "/report"], [], False)

    assert names(selected) == [
        "listReports",
        "createReport",
        "getReport",
        "listServicePrincipals",
        "deleteServicePrincipal",
    ]
    assert options == [
        *("--include-operation-id", "getReport"),
        *("--include-tag", "Service Principals"),
        *("--include-path", "/report"),
    ]


def test_globs_become_one_anchored_path_regex() -> None:
    selected, options = select_operations(OPERATIONS, [], ["/report/*", "/service-principal/{id}"], False)

    assert names(selected) == ["listReports", "createReport", "listServicePrincipals"]
    assert options == [
        *("--exclude-path", "/service-principal/{id}"),
        *("--exclude-path-regex", r"^/report/.*$"),
    ]
    _, two_globs = select_operations(OPERATIONS, ["/report*", "/service-*"], [], False)
    assert two_globs == ["--include-path-regex", r"(?:^/report.*$)|(?:^/service\-.*$)"]


def test_read_only_excludes_every_unsafe_method_of_the_spec_whatever_is_included() -> None:
    selected, options = select_operations(OPERATIONS, ["tag:Reports"], [], True)

    assert names(selected) == ["listReports", "getReport"]
    assert options == [
        *("--include-tag", "Reports"),
        *("--exclude-method", "DELETE"),
        *("--exclude-method", "POST"),
    ]


@pytest.mark.parametrize(
    ("include", "exclude", "read_only", "message"),
    [
        (["getReprot"], [], False, "'getReprot' matches no operation"),
        (["report"], [], False, "did you mean listReports, createReport, getReport, refreshReport?"),
        (["tag:Nope"], [], False, "its tags are Reports, Service Principals"),
        (["/reports*"], [], False, "'/reports*' matches no operation"),
        (["getReport"], ["getReport"], False, "getReport is both included and excluded"),
        (
            ["createReport"],
            [],
            True,
            "no operation left to test (only GET, HEAD and OPTIONS are sent unless --all-methods is given)",
        ),
        ([], ["tag:Reports", "tag:Service Principals"], False, "no operation left to test"),
    ],
)
def test_selections_that_cannot_run(include: list[str], exclude: list[str], read_only: bool, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        select_operations(OPERATIONS, include, exclude, read_only)


@pytest.mark.parametrize("selector", ["getReprot", "tag:Nope", "/nope", "/nope/*"])
def test_an_include_matching_nothing_exits_2_before_running(
    selector: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run_check("datascaphe", include=[selector], ndjson=tmp_path / "events.ndjson") == 2

    assert f"--include {selector!r} matches no operation of the spec" in capsys.readouterr().err
    assert not (tmp_path / "events.ndjson").exists()  # Schemathesis never started


def documented(api: str) -> list[Operation]:
    from apitwin.contract import documented_operations_of

    return documented_operations_of(TWINS[api])


def labels_of(api: str, *operation_ids: str) -> set[str]:
    return {operation.label for operation in documented(api) if operation.operation_id in operation_ids}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("include", "exclude", "expected"),
    [
        (
            ["getReport", "tag:Service Principals"],
            [],
            {"getReport", "listServicePrincipals", "createServicePrincipal", "getServicePrincipal"}
            | {"updateServicePrincipal"},
        ),
        (["/report*"], ["refreshReport"], {"listReports", "createReport", "getReport", "updateReport"}),
        ([], ["tag:Reports", "/service-principal"], {"getServicePrincipal", "updateServicePrincipal"}),
    ],
)
def test_selection_restricts_the_operations_run(
    include: list[str], exclude: list[str], expected: set[str], tmp_path: Path
) -> None:
    code, output, stats = check("datascaphe", tmp_path, include=include, exclude=exclude, max_examples=3)

    assert code == 0, output
    every_label = {operation.label for operation in documented("datascaphe")}
    assert exercised(stats) & every_label == labels_of("datascaphe", *expected)
    assert set(summary_rows(output)) == expected  # the summary table lists the selected operations only


@pytest.mark.slow
def test_read_only_sends_no_unsafe_method(tmp_path: Path) -> None:
    recordings: list[Recording] = []

    def record(app: ASGIApp) -> Recording:
        recordings.append(Recording(app))
        return recordings[-1]

    with served_twin("datascaphe", wrap=record) as (base_url, credential):
        code, output, stats = check(
            "datascaphe", tmp_path, target=base_url, credential=credential, read_only=True, max_examples=5
        )

    assert code == 0, output
    methods = recordings[0].methods
    assert methods["GET"] > 50, methods  # it did test something
    assert set(methods) <= {"GET", "HEAD", "OPTIONS"}, methods
    every_label = {operation.label for operation in documented("datascaphe")}
    safe = ("listReports", "getReport", "listServicePrincipals", "getServicePrincipal")
    assert exercised(stats) & every_label == labels_of("datascaphe", *safe)
    assert "apitwin: safe methods only: GET, HEAD and OPTIONS requests are sent" in output


def test_operations_that_could_revoke_the_runs_own_key_act_on_the_examples_ids_only() -> None:
    import tomllib
    from pathlib import Path

    from apitwin.contract import _config

    config = tomllib.loads(_config("Authorization", {}, Path("hooks.py"), False, False, ["updateApiKey"]))
    [guarded] = [op for op in config["operations"] if op.get("include-operation-id") == "updateApiKey"]
    assert all(guarded["phases"][phase]["extra-data-sources"]["responses"] is False
               for phase in ("examples", "coverage", "fuzzing"))  # fmt: skip


def test_every_tolerated_or_guarded_operation_is_an_operation_of_its_twin() -> None:
    """A misspelt operationId would tolerate nothing, silently."""
    from apitwin.contract import OWN_CREDENTIAL_WRITES, TOLERATED_400
    from apitwin.engine import build_model
    from apitwin.spec import load_resolved
    from apitwin.twins import TWINS

    for twin, operations in [*TOLERATED_400.items(), *OWN_CREDENTIAL_WRITES.items()]:
        routes = build_model(load_resolved(TWINS[twin].spec_path)).routes
        assert [operation for operation in operations if operation not in routes] == [], twin
