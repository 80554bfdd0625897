"""`apitwin lint`: the real specs lint clean, and each rule catches its defect in a small spec (and not the fix)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from apitwin.behaviours import Behaviours
from apitwin.engine import OperationContext, Reply
from apitwin.lint import RULES, Context, Problem, lint_specs
from apitwin.twins import TWINS, Twin

ERROR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
THING = {"$ref": "#/components/schemas/Thing"}
BASE: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Things", "version": "1"},
    "security": [{"key": []}],
    "x-twin": {"collections": {"things": {"schema": "Thing"}}},
    "paths": {
        "/things": {
            "x-twin": {"collection": "things"},
            "post": {
                "operationId": "createThing",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": THING,
                            "examples": {"plain": {"value": {"name": "lamp", "note": None}}},
                        }
                    },
                },
                "responses": {
                    "201": {
                        "description": "created",
                        "content": {"application/json": {"schema": THING, "example": {"id": 1, "name": "lamp"}}},
                        "links": {
                            "GetThing": {"operationId": "getThing", "parameters": {"thingId": "$response.body#/id"}},
                            "GetThingByRef": {
                                "operationRef": "#/paths/~1things~1{thingId}/get",
                                "parameters": {"path.thingId": "$response.body#/id"},
                            },
                        },
                    },
                    "400": ERROR,
                    "401": ERROR,
                },
            },
        },
        "/things/{thingId}": {
            "x-twin": {"collection": "things"},
            "parameters": [
                {"name": "thingId", "in": "path", "required": True, "schema": {"type": "integer"}, "example": 1}
            ],
            "get": {
                "operationId": "getThing",
                "responses": {
                    "200": {"description": "the thing", "content": {"application/json": {"schema": THING}}},
                    "401": ERROR,
                    "404": ERROR,
                },
            },
        },
        "/ping": {
            "get": {
                "operationId": "ping",
                "security": [],
                "responses": {"200": {"description": "pong"}, "429": {"description": "slow down"}},
            }
        },
    },
    "components": {
        "securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "Authorization"}},
        "schemas": {
            "Thing": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "id": {"type": "integer", "readOnly": True},
                    "name": {"type": "string", "example": "lamp"},
                    "note": {"type": "string", "nullable": True},
                    "secret": {"type": "string", "writeOnly": True},
                },
            },
            "Error": {"type": "object", "properties": {"message": {"type": "string"}}},
        },
    },
}
FIXTURES: dict[str, Any] = {
    "credentials": [{"credential": "k1", "role": "viewer"}, {"credential": "k2", "role": "admin"}],
    "collections": {"things": [{"id": 1, "name": "lamp", "note": None, "secret": "s"}, {"id": 2, "name": "desk"}]},
}


def lint(tmp_path: Path, doc: dict[str, Any], name: str = "things.yaml") -> list[Problem]:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return lint_specs([path])


def edited(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    change(doc)
    return doc


def by_rule(problems: list[Problem], rule: str) -> list[str]:
    return [f"{problem.where}: {problem.message}" for problem in problems if problem.rule == rule]


def twin_context(**twin: Any) -> Context:
    return Context(spec="things.yaml", raw=copy.deepcopy(BASE), fixtures_file="fixtures/things.json", **twin)


def run(rule: str, ctx: Context) -> list[str]:
    return [f"{problem.where}: {problem.message}" for problem in RULES[rule](ctx)]


def test_the_twins_specs_and_fixtures_lint_clean() -> None:
    assert [str(problem) for problem in lint_specs(None)] == []


def test_the_small_spec_lints_clean(tmp_path: Path) -> None:
    assert lint(tmp_path, BASE) == []


def test_the_rules_and_the_problem_format() -> None:
    assert list(RULES) == [
        "openapi_valid",
        "x_twin_valid",
        "operations_have_ids",
        "links_resolve",
        "examples_match_schemas",
        "handlers_exist",
        "behaviour_budget",
        "fixtures_match_schemas",
        "errors_documented",
    ]
    problem = Problem("a.yaml", "paths./a.get", "links_resolve", "broken")
    assert str(problem) == "a.yaml: paths./a.get: [links_resolve] broken"


def test_openapi_valid_wants_3_0(tmp_path: Path) -> None:
    problems = lint(tmp_path, edited(lambda doc: doc.update(openapi="3.1.0")))
    assert by_rule(problems, "openapi_valid") == [
        "openapi: version is '3.1.0'; connexion 3.3 serves OpenAPI 3.0.x only"
    ]


def test_openapi_valid_reports_a_missing_ref_where_it_is_written(tmp_path: Path) -> None:
    def break_ref(doc: dict[str, Any]) -> None:
        doc["paths"]["/things/{thingId}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = {
            "$ref": "#/components/schemas/Thingy"
        }

    problems = lint(tmp_path, edited(break_ref))
    assert [str(problem) for problem in problems] == [
        "things.yaml: paths./things/{thingId}.get.responses.200.content.application/json.schema.$ref: "
        "[openapi_valid] $ref '/components/schemas/Thingy' does not resolve"
    ]


def test_openapi_valid_reports_what_the_validator_rejects(tmp_path: Path) -> None:
    problems = lint(tmp_path, edited(lambda doc: doc["components"]["schemas"]["Error"].update(type="strin")))
    assert len(by_rule(problems, "openapi_valid")) == 1
    assert by_rule(problems, "openapi_valid")[0].startswith("components.schemas.Error:")


def test_x_twin_valid_reports_an_unknown_key(tmp_path: Path) -> None:
    problems = lint(tmp_path, edited(lambda doc: doc["paths"]["/things"]["x-twin"].update(colection="things")))
    assert by_rule(problems, "x_twin_valid") == [
        "paths./things.x-twin: unknown x-twin key(s) ['colection']; allowed: "
        "['action', 'collection', 'filters', 'id', 'paginate', 'part', 'part_key', 'requires', 'set', 'sort', "
        "'transition']"
    ]


def test_x_twin_valid_names_the_operation_like_the_other_rules(tmp_path: Path) -> None:
    problems = lint(tmp_path, edited(lambda doc: doc["paths"]["/ping"]["get"].update({"x-twin": {"action": "list"}})))
    assert by_rule(problems, "x_twin_valid") == ["paths./ping.get: x-twin action 'list' needs a collection"]


def test_operations_have_ids(tmp_path: Path) -> None:
    problems = lint(tmp_path, edited(lambda doc: doc["paths"]["/ping"]["get"].pop("operationId")))
    assert by_rule(problems, "operations_have_ids") == ["paths./ping.get: operation has no operationId"]


LINK = "paths./things.post.responses.201.links.GetThing"


def set_link(**link: Any) -> Callable[[dict[str, Any]], object]:
    return lambda doc: doc["paths"]["/things"]["post"]["responses"]["201"]["links"]["GetThing"].update(link)


@pytest.mark.parametrize(
    ("link", "message"),
    [
        ({"operationId": "getThng"}, "operationId 'getThng' names no operation; did you mean 'getThing'?"),
        (
            {"parameters": {"id": "$response.body#/id"}},
            "parameter 'id' is not a parameter of getThing (it has: thingId)",
        ),
        (
            {"parameters": {"query.thingId": "$response.body#/id"}},
            "parameter 'query.thingId' is not a parameter of getThing (it has: thingId)",
        ),
        (
            {"parameters": {"thingId": "$response.body#/colour"}},
            "'$response.body#/colour': the 201 response has no property 'colour'; it has: id, name, note, secret",
        ),
        (
            {"parameters": {"thingId": "$response.bdy#/id"}},
            "'$response.bdy#/id' is not a runtime expression ($response.body#/..., $request.path.NAME, ...)",
        ),
        (
            {"parameters": {"thingId": "$response.body#/idd"}},
            "'$response.body#/idd': the 201 response has no property 'idd'; did you mean 'id'?",
        ),
        (
            {"operationId": None, "operationRef": "#/paths/~1thing/get"},
            "operationRef '#/paths/~1thing/get' does not resolve to an operation in this document",
        ),
    ],
)
def test_links_resolve(tmp_path: Path, link: dict[str, Any], message: str) -> None:
    doc = edited(set_link(**link))
    if link.get("operationId", "") is None:
        del doc["paths"]["/things"]["post"]["responses"]["201"]["links"]["GetThing"]["operationId"]
    assert by_rule(lint(tmp_path, doc), "links_resolve") == [f"{LINK}: {message}"]


def test_links_resolve_follows_an_operation_ref(tmp_path: Path) -> None:
    def rename(doc: dict[str, Any]) -> None:
        links = doc["paths"]["/things"]["post"]["responses"]["201"]["links"]
        links["GetThingByRef"]["parameters"] = {"path.id": "$response.body#/id"}

    assert by_rule(lint(tmp_path, edited(rename)), "links_resolve") == [
        "paths./things.post.responses.201.links.GetThingByRef: "
        "parameter 'path.id' is not a parameter of getThing (it has: thingId)"
    ]


def test_links_resolve_accepts_constants_and_other_expressions(tmp_path: Path) -> None:
    problems = lint(tmp_path, edited(set_link(parameters={"thingId": "$request.header.X-Thing"})))
    assert problems == []
    assert lint(tmp_path, edited(set_link(parameters={"thingId": 7}))) == []


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        (
            lambda doc: doc["paths"]["/things"]["post"]["responses"]["201"]["content"]["application/json"].update(
                example={"id": "one", "name": "lamp"}
            ),
            "paths./things.post.responses.201.content.application/json.example",
            "'one' is not of type 'integer' (at $.id)",
        ),
        (
            lambda doc: doc["paths"]["/things"]["post"]["requestBody"]["content"]["application/json"]["examples"][
                "plain"
            ].update(value={"note": "no name"}),
            "paths./things.post.requestBody.content.application/json.examples.plain.value",
            "'name' is a required property",
        ),
        (
            lambda doc: doc["paths"]["/things/{thingId}"]["parameters"][0].update(example="one"),
            "paths./things/{thingId}.parameters.0.example",
            "'one' is not of type 'integer'",
        ),
        (
            lambda doc: doc["components"]["schemas"]["Thing"]["properties"]["name"].update(example=None),
            "components.schemas.Thing.properties.name.example",
            "None is not of type 'string'",
        ),
    ],
)
def test_examples_match_schemas(
    tmp_path: Path, change: Callable[[dict[str, Any]], object], where: str, message: str
) -> None:
    problems = lint(tmp_path, edited(change))
    assert by_rule(problems, "examples_match_schemas") == [f"{where}: example does not match its schema: {message}"]


def test_errors_documented(tmp_path: Path) -> None:
    problems = lint(tmp_path, edited(lambda doc: doc["paths"]["/things/{thingId}"]["get"]["responses"].pop("401")))
    assert by_rule(problems, "errors_documented") == [
        "paths./things/{thingId}.get.responses: the operation is secured but documents no 401 response"
    ]
    problems = lint(tmp_path, edited(lambda doc: doc["paths"]["/ping"]["get"]["responses"].pop("429")))
    assert by_rule(problems, "errors_documented") == [
        "paths./ping.get.responses: the operation documents no 4xx response"
    ]


def test_handlers_exist() -> None:
    assert run("handlers_exist", twin_context(behaviours=frozenset({"ping"}))) == []
    assert run("handlers_exist", twin_context(behaviours=frozenset())) == [
        "paths./ping.get: ping has no registered behaviour and no x-twin collection action"
    ]
    assert run("handlers_exist", twin_context(behaviours=frozenset({"ping", "getThings"}))) == [
        "paths: a behaviour is registered for 'getThings', which no operation has"
    ]


def test_fixtures_match_schemas() -> None:
    ctx = twin_context(fixtures=FIXTURES, roles=("viewer", "admin"))
    assert run("fixtures_match_schemas", ctx) == []  # writeOnly `secret` and a null `note` are fine
    broken = copy.deepcopy(FIXTURES)
    broken["credentials"] += [{"credential": "", "role": "viewer"}, {"credential": "k1", "role": "root"}]
    broken["collections"]["things"] += [{"id": 3, "name": 5}, {"name": "no id"}, {"id": 1, "name": "again"}]
    broken["collections"]["gadgets"] = []
    assert run("fixtures_match_schemas", twin_context(fixtures=broken, roles=("viewer", "admin"))) == [
        "fixtures/things.json:collections.things.2: document does not match schema: "
        "5 is not of type 'string' (at $.name)",
        "fixtures/things.json:collections.things.3: document has no id field 'id'",
        "fixtures/things.json:collections.things.4: duplicate id 1",
        "fixtures/things.json:collections.gadgets: collection 'gadgets' is not declared in x-twin.collections (things)",
        "fixtures/things.json:credentials.2: credential needs a non-empty 'credential' string",
        "fixtures/things.json:credentials.3: duplicate credential (credentials are stored by value)",
        "fixtures/things.json:credentials.3: role 'root' is not one of the twin's roles ['viewer', 'admin']",
    ]


def unused(ctx: OperationContext) -> Reply:
    raise AssertionError("lint never calls a behaviour")


def test_twin_rules_apply_to_a_twins_own_spec_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    twin = TWINS["datascale"]
    stale = Behaviours()
    for operation_id in (*twin.behaviours().operation_ids(), "deleteAsset"):
        stale.operation(operation_id)(unused)
    monkeypatch.setattr(Twin, "behaviours", lambda self: stale)
    assert [str(problem) for problem in lint_specs([twin.spec_path])] == [
        "datascale.yaml: paths: [handlers_exist] a behaviour is registered for 'deleteAsset', which no operation has"
    ]
    copied = tmp_path / "datascale.yaml"
    copied.write_text(twin.spec_path.read_text(encoding="utf-8"), encoding="utf-8")
    assert lint_specs([copied]) == []


def test_an_unreadable_file_is_a_finding(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("openapi: [3.0.3\n", encoding="utf-8")
    [problem] = lint_specs([path])
    assert (problem.spec, problem.where, problem.rule) == ("broken.yaml", "(file)", "readable")


def test_the_lint_command_exits_1_on_findings_and_0_when_clean(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from apitwin.cli import main

    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(edited(lambda doc: doc.update(openapi="3.1.0"))), encoding="utf-8")
    failed = CliRunner().invoke(main, ["lint", str(broken)])
    assert failed.exit_code == 1, failed.output
    assert "[openapi_valid]" in failed.output and "1 problem(s)" in failed.output
    clean = tmp_path / "things.yaml"
    clean.write_text(yaml.safe_dump(BASE), encoding="utf-8")
    passed = CliRunner().invoke(main, ["lint", str(clean)])
    assert passed.exit_code == 0 and "no problems" in passed.output


def _common_thing(tmp_path: Path, thing: dict[str, Any], root_thing: dict[str, Any] | None = None) -> Path:
    """things.yaml whose Thing comes from common/things.yaml (or is the root's own `root_thing`)."""
    (tmp_path / "common").mkdir(exist_ok=True)
    common = {"components": {"schemas": {"Thing": thing}}}
    (tmp_path / "common" / "things.yaml").write_text(yaml.safe_dump(common), encoding="utf-8")
    imported = {"$ref": "common/things.yaml#/components/schemas/Thing"}
    listed = {"type": "array", "items": imported}  # refers to the common Thing, whoever defines Thing
    doc = edited(lambda doc: doc["components"]["schemas"].update(Thing=root_thing or imported, Things=listed))
    path = tmp_path / "things.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def test_a_bad_example_in_a_common_file_is_reported_with_that_files_name(tmp_path: Path) -> None:
    thing = copy.deepcopy(BASE["components"]["schemas"]["Thing"])
    thing["properties"]["name"]["example"] = 5

    assert by_rule(lint_specs([_common_thing(tmp_path, thing)]), "examples_match_schemas") == [
        "components.schemas.Thing.properties.name.example (in common/things.yaml#/components/schemas/Thing"
        "/properties/name/example): example does not match its schema: 5 is not of type 'string'"
    ]


def test_a_ref_to_a_missing_common_file_is_a_bundling_problem(tmp_path: Path) -> None:
    doc = edited(lambda doc: doc["components"]["schemas"].update(Thing={"$ref": "common/nope.yaml#/x"}))
    [problem] = lint(tmp_path, doc)

    assert (problem.where, problem.rule) == ("(file)", "bundles") and "no file common/nope.yaml" in problem.message


def test_an_override_of_a_common_component_is_a_note_not_a_problem(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from apitwin.cli import main
    from apitwin.lint import lint_report

    thing = copy.deepcopy(BASE["components"]["schemas"]["Thing"])
    path = _common_thing(tmp_path, {"type": "string"}, root_thing=thing)
    report = lint_report([path])

    assert report.problems == []
    assert [str(note) for note in report.notes] == [
        "things.yaml: components.schemas.Thing: [overrides_listed] note: overrides common/things.yaml"
    ]
    result = CliRunner().invoke(main, ["lint", str(path)])
    assert result.exit_code == 0 and "note: overrides common/things.yaml" in result.output, result.output
    assert "no problems (1 note(s))" in result.output


def _sharing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, registered: set[str]) -> Twin:
    """datascale and a copy of it named `other` whose spec has one more operation, `extraOp`; both twins'
    behaviours are `registered` (as from one module)."""
    shared = Behaviours()
    for operation_id in sorted(registered):
        shared.operation(operation_id)(unused)
    monkeypatch.setattr(Twin, "behaviours", lambda self: shared)
    spec = yaml.safe_load(TWINS["datascale"].spec_path.read_text(encoding="utf-8"))
    spec["paths"]["/extra"] = {"get": {"operationId": "extraOp", "responses": {"200": {"description": "ok"}}}}
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    other = Twin(**{**TWINS["datascale"].__dict__, "name": "other", "spec_file": str(tmp_path / "other.yaml")})
    monkeypatch.setitem(TWINS, "other", other)  # type: ignore[index]
    return TWINS["datascale"]


def test_a_shared_registration_is_not_dangling_for_the_twin_that_lacks_the_operation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    twin = _sharing(monkeypatch, tmp_path, {*TWINS["datascale"].behaviours().operation_ids(), "extraOp", "nobodys"})

    assert [str(problem) for problem in lint_specs([twin.spec_path])] == [
        "datascale.yaml: paths: [handlers_exist] a behaviour is registered for 'nobodys', which no operation has"
    ]


def test_behaviours_over_the_twins_ceiling_are_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = twin_context(behaviours=frozenset({"ping", "getThing"}), max_behaviours=1)

    assert run("behaviour_budget", ctx) == [
        "paths: 2 of 3 operations are served by behaviours, over the twin's ceiling of 1: "
        "look for the engine capability several of them share"
    ]
    assert run("behaviour_budget", twin_context(behaviours=frozenset({"ping", "getThing"}), max_behaviours=2)) == []


def test_coverage_says_who_serves_each_operation_and_which_test_sends_it(tmp_path: Path) -> None:
    from apitwin.lint import coverage, coverage_table

    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_x.py").write_text(
        'BASE = "/datascaphe/api/v1"\nREPORT = f"{BASE}/report"\n\n'
        "def test_a(client):\n    client.get(f\"{BASE}/report/{'r1'}?x=1\")\n"
        "    client.post(\n        REPORT, json={})\n"
        '    client.get("/datascaphe/api/v1/report/r1/refresh")  # wrong method\n'
        '    assert "updateReport"\n'
        "\ndef test_b(client):\n"
        '    target = f"{BASE}/nothing"\n'
        '    target = f"{BASE}/service-principal/{uid}"\n'
        "    client.get(target, headers={})\n"
        "\ndef test_c(client):\n"
        '    target = f"{BASE}/report"\n'
        "    client.get(target)\n",
        encoding="utf-8",
    )
    (tests / "test_bound.py").write_text(  # a client bound to the twin's base: paths relative to it
        'TWIN = "datascaphe"\n\ndef test_d(portal):\n    portal.post("/report/r1/refresh")\n',
        encoding="utf-8",
    )
    twin = TWINS["datascaphe"].__class__(**{**TWINS["datascaphe"].__dict__, "max_behaviours": 3})
    rows = {row.operation_id: row for row in coverage([twin], tests)}

    assert (rows["getReport"].served_by, rows["getReport"].tests) == ("engine", ("tests/test_x.py:5",))
    assert rows["createReport"].tests == ("tests/test_x.py:6",)
    assert rows["updateReport"].tests == ("tests/test_x.py:9",)
    assert (rows["refreshReport"].served_by, rows["refreshReport"].test()) == ("behaviour", "tests/test_bound.py:4")
    # a local variable holding the path, as last assigned before the call
    assert rows["getServicePrincipal"].tests == ("tests/test_x.py:14",)
    assert rows["listReports"].tests == ("tests/test_x.py:18",)
    assert coverage_table(list(rows.values()), [twin])[-1] == (
        "datascaphe: 9 operations, 1 served by behaviours (ceiling 3), 8 by the engine; 6 with a test, 3 with none"
    )


def test_the_lint_command_prints_coverage_as_a_table_or_json() -> None:
    import json

    from click.testing import CliRunner

    from apitwin.cli import main

    spec = str(TWINS["datascale"].spec_path)
    table = CliRunner().invoke(main, ["lint", "--coverage", spec])
    assert table.exit_code == 0, table.output
    assert table.output.splitlines()[0].split() == ["twin", "operationId", "method", "path", "served", "by", "test"]
    assert "datascale  ingestContent  PUT     /ingest  behaviour  tests/" in table.output
    document = json.loads(CliRunner().invoke(main, ["lint", "--coverage", "--json", spec]).output)
    assert document["problems"] == [] and [row["operation_id"] for row in document["coverage"]] == ["ingestContent"]
