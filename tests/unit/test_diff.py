"""`apitwin diff`: real edits of our own specs give exactly the expected changes, each rule holds alone, and the
command's exit codes and formats are what CI scripts read."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from connexion.json_schema import resolve_refs

from apitwin.diff import (
    SchemaPair,
    SpecPair,
    diff_command,
    diff_files,
    diff_specs,
    enum_changed,
    property_removed,
    security_changed,
    type_changed,
)
from apitwin.spec import load_raw, spec_path

Spec = dict[str, Any]
Edit = Callable[[Spec], None]
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's when PyYAML has it: the Dataiku spec is large
SPECS = {name: load_raw(spec_path(f"{name}.yaml")) for name in ("datascaphe", "datascale", "dataiku")}


def _changes(old: Spec, new: Spec) -> set[tuple[str, str]]:
    return {(change.severity, change.rule) for change in diff_specs(resolve_refs(old), resolve_refs(new))}


def _edited(name: str, edit: Edit) -> Spec:
    spec = copy.deepcopy(SPECS[name])
    edit(spec)
    return spec


def _schemas(spec: Spec) -> dict[str, Any]:
    return spec["components"]["schemas"]  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------------------------------
# Real edits of our specs


def remove_update_report(spec: Spec) -> None:
    del spec["paths"]["/report/{id}"]["patch"]


def require_service_principal_description(spec: Spec) -> None:
    _schemas(spec)["ServicePrincipalCreate"]["required"].append("description")


def require_report_name_on_create(spec: Spec) -> None:  # ReportCreate is an allOf: its branches merge
    _schemas(spec)["ReportCreate"]["allOf"][1]["required"].append("name")


def rename_has_rls_in_report(spec: Spec) -> None:
    properties = _schemas(spec)["Report"]["properties"]
    properties["row_level_security"] = properties.pop("has_rls")


def narrow_has_rls_in_report_writable(spec: Spec) -> None:
    _schemas(spec)["ReportWritable"]["properties"]["has_rls"]["enum"] = [0]


def narrow_has_rls_in_report(spec: Spec) -> None:
    _schemas(spec)["Report"]["properties"]["has_rls"]["enum"] = [0]


def narrow_has_rls_filter(spec: Spec) -> None:
    (has_rls,) = [p for p in spec["paths"]["/report"]["get"]["parameters"] if p.get("name") == "has_rls"]
    has_rls["schema"]["enum"] = [0]


def create_report_answers_201(spec: Spec) -> None:
    responses = spec["paths"]["/report"]["post"]["responses"]
    responses["201"] = responses.pop("200")


def bearer_instead_of_api_key(spec: Spec) -> None:
    spec["components"]["securitySchemes"]["organizationApiKey"] = {"type": "http", "scheme": "bearer"}


def add_owner_filter(spec: Spec) -> None:
    spec["paths"]["/report"]["get"]["parameters"].append({"name": "owner", "in": "query", "schema": {"type": "string"}})


def report_name_may_be_absent(spec: Spec) -> None:  # a nullable response property: the nullability is dropped
    _schemas(spec)["Report"]["properties"]["name"]["nullable"] = False


def cache_duration_may_be_null(spec: Spec) -> None:
    _schemas(spec)["Report"]["properties"]["cache_max_duration"]["nullable"] = True


def rename_report_path_parameter(spec: Spec) -> None:
    item = spec["paths"].pop("/report/{id}")
    item["parameters"] = [{**spec["components"]["parameters"]["id"], "name": "reportId"}]
    spec["paths"]["/report/{reportId}"] = item


def drop_tsv_excel_header_format(spec: Spec) -> None:
    spec["components"]["parameters"]["format"]["schema"]["enum"].remove("tsv-excel-header")


def require_foreign(spec: Spec) -> None:
    (foreign,) = [
        p for p in spec["paths"]["/projects/{projectKey}/datasets/"]["get"]["parameters"] if p["name"] == "foreign"
    ]
    foreign["required"] = True


def drop_bearer_alternative(spec: Spec) -> None:
    spec["security"] = [{"apiKeyBasic": []}]


def tighten_content_max_length(spec: Spec) -> None:
    _schemas(spec)["IngestRequest"]["properties"]["content"]["maxLength"] = 65536


def loosen_content_min_length(spec: Spec) -> None:
    del _schemas(spec)["IngestRequest"]["properties"]["content"]["minLength"]


def add_asset_count_to_result(spec: Spec) -> None:
    _schemas(spec)["IngestResult"]["properties"]["asset_count"] = {"type": "integer"}


def move_base_path_to_v2(spec: Spec) -> None:
    spec["servers"] = [{"url": "https://api.getdatascale.com/v2"}]


def document_409(spec: Spec) -> None:
    spec["paths"]["/ingest"]["put"]["responses"]["409"] = {"description": "Conflict."}


def drop_415(spec: Spec) -> None:
    del spec["paths"]["/ingest"]["put"]["responses"]["415"]


EDITS: list[tuple[str, Edit, set[tuple[str, str]]]] = [
    ("datascaphe", remove_update_report, {("breaking", "operation_removed")}),
    ("datascaphe", require_service_principal_description, {("breaking", "property_required_changed")}),
    ("datascaphe", require_report_name_on_create, {("breaking", "property_required_changed")}),
    ("datascaphe", rename_has_rls_in_report, {("breaking", "property_removed"), ("info", "property_added")}),
    ("datascaphe", narrow_has_rls_in_report_writable, {("breaking", "enum_changed")}),
    ("datascaphe", narrow_has_rls_in_report, {("info", "enum_changed")}),
    ("datascaphe", narrow_has_rls_filter, {("breaking", "enum_changed")}),
    ("datascaphe", create_report_answers_201, {("breaking", "success_status_changed")}),
    ("datascaphe", bearer_instead_of_api_key, {("breaking", "security_changed")}),
    ("datascaphe", add_owner_filter, {("info", "parameter_added")}),
    ("datascaphe", report_name_may_be_absent, {("info", "nullable_changed")}),
    ("datascaphe", cache_duration_may_be_null, {("breaking", "nullable_changed")}),
    ("datascaphe", rename_report_path_parameter, {("info", "path_parameter_renamed")}),
    ("dataiku", drop_tsv_excel_header_format, {("breaking", "enum_changed")}),
    ("dataiku", require_foreign, {("breaking", "parameter_required_changed")}),
    ("dataiku", drop_bearer_alternative, {("breaking", "security_changed")}),
    ("datascale", tighten_content_max_length, {("breaking", "constraint_changed")}),
    ("datascale", loosen_content_min_length, {("info", "constraint_changed")}),
    ("datascale", add_asset_count_to_result, {("info", "property_added")}),
    ("datascale", move_base_path_to_v2, {("breaking", "servers_changed")}),
    ("datascale", document_409, {("info", "error_status_added")}),
    ("datascale", drop_415, {("warning", "error_status_removed")}),
]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_a_spec_against_itself_has_no_changes(name: str) -> None:
    assert _changes(SPECS[name], copy.deepcopy(SPECS[name])) == set()


@pytest.mark.parametrize(("name", "edit", "expected"), EDITS, ids=[edit.__name__ for _, edit, _ in EDITS])
def test_a_real_edit_yields_exactly_the_expected_changes(name: str, edit: Edit, expected: set[tuple[str, str]]) -> None:
    assert _changes(SPECS[name], _edited(name, edit)) == expected


def test_a_shared_response_schema_change_is_reported_per_operation_and_once_for_its_media_types() -> None:
    old, new = SPECS["datascaphe"], _edited("datascaphe", rename_has_rls_in_report)
    removed = [c for c in diff_specs(resolve_refs(old), resolve_refs(new)) if c.rule == "property_removed"]
    assert [c.operation for c in removed] == [
        "GET /report (listReports)",
        "POST /report (createReport)",
        "GET /report/{id} (getReport)",
        "PATCH /report/{id} (updateReport)",
        "POST /report/{id}/refresh (refreshReport)",
    ]
    assert removed[0].location == (
        "responses.200.content.{application/json,application/xml}.schema.items.properties.has_rls"
    )
    assert removed[-1].location.endswith("schema.properties.report.properties.has_rls")


def test_a_request_body_change_names_the_operation_and_the_property() -> None:
    old, new = SPECS["datascaphe"], _edited("datascaphe", require_service_principal_description)
    (change,) = diff_specs(resolve_refs(old), resolve_refs(new))
    assert change.operation == "POST /service-principal (createServicePrincipal)"
    assert change.location == "requestBody.content.application/json.schema.properties.description"
    assert "'description' is now required" in change.message


def test_a_success_status_swap_still_compares_the_response_bodies() -> None:
    def swap_and_rename(spec: Spec) -> None:
        create_report_answers_201(spec)
        rename_has_rls_in_report(spec)

    old, new = SPECS["datascaphe"], _edited("datascaphe", swap_and_rename)
    changes = diff_specs(resolve_refs(old), resolve_refs(new))
    create = [(c.rule, c.location) for c in changes if c.operation == "POST /report (createReport)"]
    assert ("success_status_changed", "responses.201") in create
    assert (
        "property_removed",
        "responses.201.content.{application/json,application/xml}.schema.properties.has_rls",
    ) in create


# ---------------------------------------------------------------------------------------------------------------------
# Rules alone, on small documents


def _document(operation: dict[str, Any], path: str = "/things/{thingId}", **top: Any) -> Spec:
    return {"openapi": "3.0.3", "info": {"title": "Things", "version": "1"}, "paths": {path: {"get": operation}}, **top}


OK = {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}}


def _operation(*parameters: dict[str, Any], **extra: Any) -> dict[str, Any]:
    thing_id = {"name": "thingId", "in": "path", "required": True, "schema": {"type": "integer"}}
    return {"operationId": "getThing", "parameters": [thing_id, *parameters], "responses": OK, **extra}


def _response_document(schema: Any) -> Spec:
    responses = {"200": {"description": "ok", "content": {"application/json": {"schema": schema}}}}
    return _document({"operationId": "getThings", "responses": responses}, path="/things")


def _rules(old: Spec, new: Spec) -> list[tuple[str, str, str]]:
    return [(c.severity, c.rule, c.location) for c in diff_specs(old, new)]


def test_an_operation_id_rename_is_a_warning() -> None:
    old = _document(_operation())
    new = _document(_operation(operationId="fetchThing"))
    assert _rules(old, new) == [("warning", "operation_id_changed", "operationId")]


def test_a_parameter_moved_from_query_to_header_is_one_breaking_change() -> None:
    old = _document(_operation({"name": "trace", "in": "query", "schema": {"type": "string"}}))
    new = _document(_operation({"name": "trace", "in": "header", "schema": {"type": "string"}}))
    assert _rules(old, new) == [("breaking", "parameter_location_changed", "parameters.header.trace")]


def test_removing_an_optional_query_parameter_is_breaking() -> None:
    old = _document(_operation({"name": "limit", "in": "query", "schema": {"type": "integer"}}))
    assert _rules(old, _document(_operation())) == [("breaking", "parameter_removed", "parameters.query.limit")]


def test_a_new_required_parameter_is_breaking() -> None:
    new = _document(_operation({"name": "tenant", "in": "header", "required": True, "schema": {"type": "string"}}))
    assert _rules(_document(_operation()), new) == [("breaking", "parameter_added", "parameters.header.tenant")]


def test_a_path_parameter_type_change_is_breaking() -> None:
    old = _document(_operation())
    new = copy.deepcopy(old)
    new["paths"]["/things/{thingId}"]["get"]["parameters"][0]["schema"] = {"type": "string"}
    assert _rules(old, new) == [("breaking", "type_changed", "parameters.path.thingId.schema.type")]


def test_a_changed_operation_level_security_is_compared_with_the_document_level_one() -> None:
    schemes = {"securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Key"}}}
    old = _document(_operation(), security=[{"key": []}], components=schemes)
    new = _document(_operation(security=[]), security=[{"key": []}], components=schemes)
    assert _rules(old, new) == [("info", "security_changed", "paths./things/{thingId}.get.security")]
    assert _rules(new, old) == [("breaking", "security_changed", "paths./things/{thingId}.get.security")]


def test_security_rule_alone_sees_a_required_oauth_scope_added() -> None:
    schemes = {"securitySchemes": {"oauth": {"type": "oauth2", "flows": {"clientCredentials": {}}}}}
    old = _document(_operation(), security=[{"oauth": ["read"]}], components=schemes)
    new = _document(_operation(), security=[{"oauth": ["read", "write"]}], components=schemes)
    (finding,) = security_changed(SpecPair(old, new))
    assert finding.severity == "breaking" and "scopes read, write" in finding.message


def test_request_and_response_schemas_change_in_opposite_directions() -> None:
    narrower, wider = {"type": "string", "enum": ["a"]}, {"type": "string", "enum": ["a", "b"]}
    assert [f.severity for f in enum_changed(SchemaPair(wider, narrower, "request"))] == ["breaking"]
    assert [f.severity for f in enum_changed(SchemaPair(wider, narrower, "response"))] == ["info"]
    assert [f.severity for f in enum_changed(SchemaPair(narrower, wider, "request"))] == ["info"]
    assert [f.severity for f in enum_changed(SchemaPair(narrower, wider, "response"))] == ["warning"]
    integer, number = {"type": "integer"}, {"type": "number"}
    assert [f.severity for f in type_changed(SchemaPair(integer, number, "request"))] == ["info"]
    assert [f.severity for f in type_changed(SchemaPair(integer, number, "response"))] == ["breaking"]


def test_a_property_removed_from_a_request_breaks_only_a_closed_schema() -> None:
    old = {"type": "object", "properties": {"a": {}, "b": {}}}
    open_new = {"type": "object", "properties": {"a": {}}}
    closed_new = {**open_new, "additionalProperties": False}
    assert [f.severity for f in property_removed(SchemaPair(old, open_new, "request"))] == ["warning"]
    assert [f.severity for f in property_removed(SchemaPair(old, closed_new, "request"))] == ["breaking"]


def test_read_only_properties_are_not_part_of_requests() -> None:
    old = {"type": "object", "properties": {"id": {"type": "integer", "readOnly": True}}}
    new = {"type": "object", "properties": {}}
    assert list(property_removed(SchemaPair(old, new, "request"))) == []
    assert [f.severity for f in property_removed(SchemaPair(old, new, "response"))] == ["breaking"]


def test_an_unrelated_type_reports_the_type_only() -> None:
    old = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    changes = _rules(_response_document(old), _response_document({"type": "string", "maxLength": 3}))
    assert changes == [("breaking", "type_changed", "responses.200.content.application/json.schema.type")]


def test_a_recursive_schema_is_compared_down_to_the_change() -> None:
    def tree(leaf_type: str) -> Spec:
        node = {
            "type": "object",
            "properties": {
                "label": {"type": leaf_type},
                "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
            },
        }
        responses = {
            "200": {
                "description": "ok",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Node"}}},
            }
        }
        spec = _document(
            {"operationId": "getTree", "responses": responses}, path="/tree", components={"schemas": {"Node": node}}
        )
        return resolve_refs(spec)  # type: ignore[no-any-return]

    changes = _rules(tree("string"), tree("integer"))
    assert (
        "breaking",
        "type_changed",
        "responses.200.content.application/json.schema.properties.label.type",
    ) in changes
    assert all(severity == "breaking" and rule == "type_changed" for severity, rule, _ in changes)


# ---------------------------------------------------------------------------------------------------------------------
# OpenAPI 3.1 input

FIXTURES = Path(__file__).parents[1] / "fixtures" / "diff"
THINGS_30, THINGS_31 = FIXTURES / "things-3.0.yaml", FIXTURES / "things-3.1.yaml"  # one API, spelled twice


def test_the_31_spelling_of_nullable_and_exclusive_bounds_is_no_change() -> None:
    assert diff_files(THINGS_30, THINGS_31) == []
    assert diff_files(THINGS_31, THINGS_30) == []


def test_a_31_response_property_that_becomes_nullable_is_breaking(tmp_path: Path) -> None:
    spec_31 = THINGS_31.read_text(encoding="utf-8")
    (tmp_path / "old.yaml").write_text(spec_31.replace('[string, "null"]', "string"), encoding="utf-8")
    (change,) = diff_files(tmp_path / "old.yaml", THINGS_31)
    assert (change.severity, change.rule) == ("breaking", "nullable_changed")
    assert change.location == "responses.200.content.application/json.schema.items.properties.name.nullable"


def test_relative_file_refs_are_followed(tmp_path: Path) -> None:
    main = _response_document({"$ref": "common.yaml#/components/schemas/Thing"})
    for version, max_length in (("old", 10), ("new", 20)):
        name = {"type": "string", "maxLength": max_length}
        thing = {"type": "object", "properties": {"name": {"$ref": "#/components/schemas/Name"}}}
        common = {"components": {"schemas": {"Thing": thing, "Name": name}}}
        (tmp_path / version).mkdir()
        (tmp_path / version / "main.yaml").write_text(yaml.dump(main, Dumper=DUMPER), encoding="utf-8")
        (tmp_path / version / "common.yaml").write_text(yaml.dump(common, Dumper=DUMPER), encoding="utf-8")
    (change,) = diff_files(tmp_path / "old" / "main.yaml", tmp_path / "new" / "main.yaml")
    assert (change.severity, change.rule) == ("warning", "constraint_changed")
    assert change.location == "responses.200.content.application/json.schema.properties.name.maxLength"


# ---------------------------------------------------------------------------------------------------------------------
# The command


@pytest.fixture
def spec_files(tmp_path: Path) -> Callable[[str, Edit], tuple[str, str]]:
    """Write a real spec and an edited copy as YAML; their paths, as command-line arguments."""

    def write(name: str, edit: Edit) -> tuple[str, str]:
        old, new = tmp_path / f"{name}.yaml", tmp_path / f"{name}-{edit.__name__}.yaml"
        old.write_text(yaml.dump(SPECS[name], Dumper=DUMPER), encoding="utf-8")
        new.write_text(yaml.dump(_edited(name, edit), Dumper=DUMPER), encoding="utf-8")
        return str(old), str(new)

    return write


def _run(*args: str) -> Any:
    return CliRunner().invoke(diff_command, list(args))


def test_text_output_groups_by_severity_and_operation(spec_files: Callable[[str, Edit], tuple[str, str]]) -> None:
    old, new = spec_files("datascaphe", remove_update_report)
    result = _run(old, new)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "Breaking (1)",
        "  PATCH /report/{id} (updateReport)",
        "    paths./report/{id}.patch: [operation_removed] PATCH /report/{id} (updateReport) was removed: clients"
        " calling it get 404 or 405",
        "1 breaking, 0 warnings, 0 info",
    ]


@pytest.mark.parametrize(("fail_on", "exit_code"), [("breaking", 0), ("warning", 0), ("info", 1)])
def test_fail_on_sets_the_threshold(
    spec_files: Callable[[str, Edit], tuple[str, str]], fail_on: str, exit_code: int
) -> None:
    old, new = spec_files("datascaphe", add_owner_filter)
    result = _run(old, new, "--fail-on", fail_on)
    assert result.exit_code == exit_code, result.output
    assert result.stdout.endswith("0 breaking, 0 warnings, 1 info\n")


def test_json_output_parses_and_lists_the_changes(spec_files: Callable[[str, Edit], tuple[str, str]]) -> None:
    old, new = spec_files("dataiku", drop_tsv_excel_header_format)
    result = _run(old, new, "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["summary"] == {"breaking": 2, "warning": 0, "info": 0}
    assert {c["rule"] for c in report["changes"]} == {"enum_changed"}
    assert {c["location"] for c in report["changes"]} == {"parameters.query.format.schema.enum"}


def test_markdown_output_to_a_file(spec_files: Callable[[str, Edit], tuple[str, str]], tmp_path: Path) -> None:
    old, new = spec_files("datascale", tighten_content_max_length)
    result = _run(old, new, "--format", "markdown", "--output", str(tmp_path / "diff.md"))
    assert result.exit_code == 1
    assert result.stdout == f"1 breaking, 0 warnings, 0 info; report written to {tmp_path / 'diff.md'}\n"
    markdown = (tmp_path / "diff.md").read_text(encoding="utf-8")
    assert markdown.startswith("## API changes: 1 breaking, 0 warnings, 0 info\n\n### Breaking (1)\n")
    assert (
        "| `PUT /ingest (ingestContent)` | `requestBody.content.application/json.schema.properties.content.maxLength`"
        in markdown
    )


def test_no_changes_exit_zero(spec_files: Callable[[str, Edit], tuple[str, str]]) -> None:
    old, _ = spec_files("datascale", document_409)
    result = _run(old, old, "--fail-on", "info")
    assert (result.exit_code, result.stdout) == (0, "no changes\n")


@pytest.mark.parametrize(
    "content", ["openapi: [unclosed\n", "swagger: '2.0'\ninfo: {title: old, version: '1'}\npaths: {}\n", "- a list\n"]
)
def test_an_unreadable_document_exits_2(
    spec_files: Callable[[str, Edit], tuple[str, str]], tmp_path: Path, content: str
) -> None:
    old, _ = spec_files("datascale", document_409)
    (tmp_path / "broken.yaml").write_text(content, encoding="utf-8")
    result = _run(old, str(tmp_path / "broken.yaml"))
    assert result.exit_code == 2 and result.stderr.startswith("apitwin diff: "), result.output


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    assert _run(str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml")).exit_code == 2
