"""Nested collections, sub-documents and list-valued filters: what the Dataiku twin declares."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from apitwin.clock import Clock
from apitwin.engine import OperationContext, SpecError, TwinState, build_model, handle
from apitwin.errors import ErrorKind, TwinError
from apitwin.store import Store

OK = {"200": {"description": "ok", "content": {"application/json": {"schema": {}}}}}
NO_BODY = {"204": {"description": "done"}}
PROJECT_KEY = {"name": "projectKey", "in": "path", "required": True}
SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "x-twin": {
        "date_format": "epoch_ms",
        "collections": {
            "projects": {"schema": "Project", "id": {"field": "projectKey", "style": "given"}},
            "datasets": {"schema": "Dataset", "id": {"field": "name", "style": "given"},
                         "parent": {"collection": "projects", "field": "projectKey"}},
            "jobs": {"schema": "Job", "id": {"field": "id", "style": "token"},
                     "parent": {"collection": "projects", "field": "projectKey"}},
        },
    },
    "components": {"schemas": {
        "Project": {"properties": {"projectKey": {}, "tags": {}, "metadata": {}, "columns": {}}},
        "Dataset": {"properties": {"projectKey": {}, "name": {}, "tags": {}}},
        "Job": {"properties": {"projectKey": {}, "id": {}}},
    }},
    "paths": {
        "/projects/": {
            "x-twin": {"collection": "projects"},
            "get": {"operationId": "listProjects", "x-twin": {"filters": {"tags": "any"}},
                    "parameters": [{"name": "tags", "in": "query"}], "responses": OK},
            "post": {"operationId": "createProject", "responses": OK},
        },
        "/projects/{projectKey}": {
            "x-twin": {"collection": "projects"}, "parameters": [PROJECT_KEY],
            "delete": {"operationId": "deleteProject", "responses": NO_BODY},
        },
        "/projects/{projectKey}/metadata": {
            "x-twin": {"collection": "projects", "part": "metadata"}, "parameters": [PROJECT_KEY],
            "get": {"operationId": "getProjectMetadata", "responses": OK},
            "put": {"operationId": "setProjectMetadata", "responses": NO_BODY},
        },
        "/projects/{projectKey}/columns/": {
            "x-twin": {"collection": "projects", "part": "columns"}, "parameters": [PROJECT_KEY],
            "get": {"operationId": "listColumns", "x-twin": {"action": "list", "paginate": {"offset": "offset"}},
                    "parameters": [{"name": "offset", "in": "query"}], "responses": OK},
        },
        "/projects/{projectKey}/columns/{column}": {
            "x-twin": {"collection": "projects", "part": "columns/{column}", "part_key": "name"},
            "parameters": [PROJECT_KEY, {"name": "column", "in": "path", "required": True}],
            "get": {"operationId": "getColumn", "responses": OK},
        },
        "/projects/{projectKey}/datasets/": {
            "x-twin": {"collection": "datasets"}, "parameters": [PROJECT_KEY],
            "get": {"operationId": "listDatasets", "responses": OK},
            "post": {"operationId": "createDataset", "responses": OK},
        },
        "/projects/{projectKey}/datasets/{datasetName}": {
            "x-twin": {"collection": "datasets"},
            "parameters": [PROJECT_KEY, {"name": "datasetName", "in": "path", "required": True}],
            "get": {"operationId": "getDataset", "responses": OK},
        },
        "/projects/{projectKey}/jobs/": {
            "x-twin": {"collection": "jobs"}, "parameters": [PROJECT_KEY],
            "post": {"operationId": "startJob", "responses": OK},
        },
    },
}  # fmt: skip


@pytest.fixture
def state() -> TwinState:
    model = build_model(SPEC)
    return TwinState("dss", Store(), Clock(), model.conventions, model.collections)


def call(state: TwinState, operation_id: str, **parts: Any) -> Any:
    route = build_model(SPEC).routes[operation_id]
    return handle(OperationContext(route=route, state=state, **parts)).body


def test_children_are_scoped_to_their_parent(state: TwinState) -> None:
    for key in ("SALES", "OPS"):
        call(state, "createProject", body={"projectKey": key})
    call(state, "createDataset", path={"projectKey": "SALES"}, body={"name": "orders"})
    call(state, "createDataset", path={"projectKey": "OPS"}, body={"name": "orders", "projectKey": "SALES"})
    assert call(state, "listDatasets", path={"projectKey": "OPS"}) == [
        {"projectKey": "OPS", "name": "orders", "tags": None}
    ]
    assert call(state, "getDataset", path={"projectKey": "SALES", "datasetName": "orders"})["projectKey"] == "SALES"


def test_unknown_parent_is_not_found(state: TwinState) -> None:
    with pytest.raises(TwinError) as info:
        call(state, "listDatasets", path={"projectKey": "NOPE"})
    assert info.value.kind is ErrorKind.NOT_FOUND and info.value.message == "Project NOPE not found"


def test_deleting_a_parent_deletes_its_children(state: TwinState) -> None:
    call(state, "createProject", body={"projectKey": "SALES"})
    call(state, "createDataset", path={"projectKey": "SALES"}, body={"name": "orders"})
    call(state, "startJob", path={"projectKey": "SALES"}, body={})
    call(state, "deleteProject", path={"projectKey": "SALES"})
    assert state.collection("datasets").all() == [] and state.collection("jobs").all() == []


def test_token_ids_are_opaque_strings(state: TwinState) -> None:
    call(state, "createProject", body={"projectKey": "SALES"})
    first = call(state, "startJob", path={"projectKey": "SALES"}, body={})["id"]
    second = call(state, "startJob", path={"projectKey": "SALES"}, body={})["id"]
    assert first != second and len(first) == 15 and first.isalnum()


def test_part_reads_and_replaces_a_sub_document(state: TwinState) -> None:
    call(state, "createProject", body={"projectKey": "SALES", "metadata": {"label": "Sales"}})
    assert call(state, "getProjectMetadata", path={"projectKey": "SALES"}) == {"label": "Sales"}
    assert call(state, "setProjectMetadata", path={"projectKey": "SALES"}, body={"tags": ["x"]}) is None
    assert call(state, "getProjectMetadata", path={"projectKey": "SALES"}) == {"tags": ["x"]}


def test_a_list_part_pages_and_a_part_key_picks_an_element_by_its_name(state: TwinState) -> None:
    columns = [{"name": "id", "type": "int"}, {"name": "2", "type": "text"}, {"name": "city", "type": "text"}]
    call(state, "createProject", body={"projectKey": "SALES", "columns": columns})
    listed = call(state, "listColumns", path={"projectKey": "SALES"}, query={"offset": 1}, url="http://t/p/")
    assert listed["total_count"] == 3 and listed["results"] == columns[1:]
    # the key names an element by its field, never by its position
    assert call(state, "getColumn", path={"projectKey": "SALES", "column": "2"}) == columns[1]
    with pytest.raises(TwinError) as info:
        call(state, "getColumn", path={"projectKey": "SALES", "column": "0"})
    assert info.value.kind is ErrorKind.NOT_FOUND


def test_a_part_key_applies_to_reads_only() -> None:
    spec = copy.deepcopy(SPEC)
    spec["paths"]["/projects/{projectKey}/columns/{column}"]["put"] = {"operationId": "setColumn", "responses": OK}
    with pytest.raises(SpecError, match="part_key"):
        build_model(spec)


def test_any_filter_matches_shared_list_values(state: TwinState) -> None:
    call(state, "createProject", body={"projectKey": "A", "tags": ["finance", "prod"]})
    call(state, "createProject", body={"projectKey": "B", "tags": ["dev"]})
    call(state, "createProject", body={"projectKey": "C"})
    keys = lambda tags: [p["projectKey"] for p in call(state, "listProjects", query={"tags": tags})]  # noqa: E731
    assert keys("prod,dev") == ["A", "B"] and keys(["finance"]) == ["A"] and keys("") == ["A", "B", "C"]


def test_child_path_must_carry_the_parent_parameter() -> None:
    spec = {
        **SPEC,
        "paths": {
            "/datasets/": {"x-twin": {"collection": "datasets"}, "get": {"operationId": "listAll", "responses": OK}}
        },
    }
    with pytest.raises(SpecError, match="needs the parameter 'projectKey'"):
        build_model(spec)


def _with_counts(counts: Any) -> dict[str, Any]:
    import copy

    spec = copy.deepcopy(SPEC)
    spec["x-twin"]["collections"]["projects"]["counts"] = counts
    spec["components"]["schemas"]["Project"]["properties"]["dataset_count"] = {"readOnly": True}
    return spec


def test_a_derived_count_follows_the_items_that_refer_to_this_one() -> None:
    spec = _with_counts({"dataset_count": {"collection": "datasets", "field": "projectKey"}})
    model = build_model(spec)
    state = TwinState("dss", Store(), Clock(), model.conventions, model.collections)

    def run(operation_id: str, **parts: Any) -> Any:
        return handle(OperationContext(route=model.routes[operation_id], state=state, **parts)).body

    run("createProject", body={"projectKey": "P"})
    run("createProject", body={"projectKey": "Q", "dataset_count": 99})  # a client cannot set it
    assert {p["projectKey"]: p["dataset_count"] for p in run("listProjects")} == {"P": 0, "Q": 0}
    for name in ("a", "b"):
        run("createDataset", path={"projectKey": "P"}, body={"name": name})
    assert {p["projectKey"]: p["dataset_count"] for p in run("listProjects")} == {"P": 2, "Q": 0}
    assert "dataset_count" not in state.store.get("dss/projects", "P")  # derived on reading, never stored


@pytest.mark.parametrize(
    ("counts", "fragment"),
    [
        ({"dataset_count": {"collection": "nothing", "field": "projectKey"}}, "unknown 'nothing'"),
        ({"dataset_count": {"collection": "datasets", "field": "projectKey", "where": 1}}, "unknown x-twin key"),
        ({"nope_count": {"collection": "datasets", "field": "projectKey"}}, "'nope_count' is not a property"),
    ],
)
def test_a_bad_count_declaration_stops_the_build(counts: Any, fragment: str) -> None:
    with pytest.raises(SpecError, match=fragment):
        build_model(_with_counts(counts))


def test_a_derived_list_collects_what_the_referring_items_hold_and_lists_sort_on_derived_fields() -> None:
    import copy

    spec = _with_counts({"dataset_count": {"collection": "datasets", "field": "projectKey"}})
    spec["x-twin"]["collections"]["projects"]["collects"] = {
        "datasets": {"collection": "datasets", "field": "projectKey", "take": "name", "wrap": "name"}
    }
    spec["components"]["schemas"]["Project"]["properties"]["datasets"] = {"readOnly": True}
    listing = copy.deepcopy(spec["paths"]["/projects/"]["get"])
    listing["parameters"] = [{"name": "sort", "in": "query"}]
    listing["x-twin"] = {"sort": {"fields": ["dataset_count", "projectKey"]}}
    spec["paths"]["/projects/"]["get"] = listing
    model = build_model(spec)
    state = TwinState("dss", Store(), Clock(), model.conventions, model.collections)

    def run(operation_id: str, **parts: Any) -> Any:
        return handle(OperationContext(route=model.routes[operation_id], state=state, **parts)).body

    for key in ("P", "Q", "R"):
        run("createProject", body={"projectKey": key})
    for project, name in (("Q", "a"), ("Q", "b"), ("R", "c")):
        run("createDataset", path={"projectKey": project}, body={"name": name})
    projects = run("listProjects", query={"sort": "-dataset_count"})
    assert [(p["projectKey"], p["datasets"]) for p in projects] == [
        ("Q", [{"name": "a"}, {"name": "b"}]),
        ("R", [{"name": "c"}]),
        ("P", []),
    ]
    assert "datasets" not in state.store.get("dss/projects", "Q")  # type: ignore[operator]


def test_a_derived_list_taking_a_mapping_shows_an_object_of_each_items_fields() -> None:
    spec = _with_counts({})
    spec["x-twin"]["collections"]["projects"]["collects"] = {
        "datasets": {"collection": "datasets", "field": "projectKey", "take": {"label": "name", "labels": "tags"}}
    }
    spec["components"]["schemas"]["Project"]["properties"]["datasets"] = {"readOnly": True}
    model = build_model(spec)
    state = TwinState("dss", Store(), Clock(), model.conventions, model.collections)

    def run(operation_id: str, **parts: Any) -> Any:
        return handle(OperationContext(route=model.routes[operation_id], state=state, **parts)).body

    run("createProject", body={"projectKey": "Q"})
    run("createDataset", path={"projectKey": "Q"}, body={"name": "a", "tags": ["x"]})
    run("createDataset", path={"projectKey": "Q"}, body={"name": "b"})  # a field the item lacks is left out
    shown = [p["datasets"] for p in run("listProjects")]
    assert shown == [[{"label": "a", "labels": ["x"]}, {"label": "b"}]]


@pytest.mark.parametrize("take", [{}, {"label": ""}])
def test_a_derived_list_taking_a_bad_mapping_stops_the_build(take: Any) -> None:
    spec = _with_counts({})
    spec["x-twin"]["collections"]["projects"]["collects"] = {
        "datasets": {"collection": "datasets", "field": "projectKey", "take": take}
    }
    spec["components"]["schemas"]["Project"]["properties"]["datasets"] = {"readOnly": True}
    with pytest.raises(SpecError, match="take as a mapping"):
        build_model(spec)


def test_a_parent_holds_at_most_its_most_children_and_refuses_one_more_in_the_apis_words() -> None:
    spec = copy.deepcopy(SPEC)
    spec["x-twin"]["collections"]["jobs"]["parent"].update(most=2, error={"code": "too_many", "message": "Two."})
    model = build_model(spec)
    state = TwinState("dss", Store(), Clock(), model.conventions, model.collections)
    route = model.routes["startJob"]
    for key in ("SALES", "OPS"):
        state.collection("projects").create({"projectKey": key})
    for _ in range(2):
        handle(OperationContext(route=route, state=state, path={"projectKey": "SALES"}, body={}))
    with pytest.raises(TwinError) as refused:
        handle(OperationContext(route=route, state=state, path={"projectKey": "SALES"}, body={}))
    assert (refused.value.kind, refused.value.code, refused.value.message) == (ErrorKind.INVALID, "too_many", "Two.")
    handle(OperationContext(route=route, state=state, path={"projectKey": "OPS"}, body={}))  # another parent's room
    assert len(state.collection("jobs").all()) == 3


def test_a_keyed_property_takes_only_keys_that_name_items_of_its_collection() -> None:
    spec = copy.deepcopy(SPEC)
    spec["x-twin"]["collections"]["templates"] = {"schema": "Template", "id": {"field": "name", "style": "given"}}
    spec["x-twin"]["collections"]["projects"]["keyed"] = {"metadata": "templates"}
    spec["components"]["schemas"]["Template"] = {"properties": {"name": {}}}
    model = build_model(spec)
    state = TwinState("dss", Store(), Clock(), model.conventions, model.collections)
    state.collection("templates").create({"name": "default"})
    projects = state.collection("projects")
    projects.create({"projectKey": "SALES", "metadata": {"default": {"label": "Sales"}}})
    with pytest.raises(TwinError) as refused:
        projects.create({"projectKey": "OPS", "metadata": {"dcat": {}}})
    assert refused.value.kind is ErrorKind.INVALID and refused.value.field_errors == {
        "metadata": ["dcat: no template with id dcat"]
    }
    with pytest.raises(TwinError) as absent:
        projects.set_part("SALES", ["metadata", "dcat"], {})
    assert absent.value.kind is ErrorKind.NOT_FOUND
    with pytest.raises(TwinError):
        projects.set_part("SALES", ["metadata"], {"dcat": {}})
    assert projects.set_part("SALES", ["metadata"], {"default": {}}) == {"default": {}}
    spec["x-twin"]["collections"]["projects"]["keyed"] = {"metadata": "datasets"}  # nested: not a catalogue
    with pytest.raises(SpecError, match="top-level"):
        build_model(spec)


def test_a_computed_field_is_the_functions_answer_on_every_read_and_never_stored() -> None:
    spec = copy.deepcopy(SPEC)
    spec["x-twin"]["collections"]["projects"]["computes"] = {"tags": "tag_count"}
    model = build_model(spec)

    def tag_count(projects: Any, project: Any) -> list[str]:
        return [f"{len(project.get('metadata') or {})} metadata"]

    state = TwinState("dss", Store(), Clock(), model.conventions, model.collections, {"tag_count": tag_count})
    projects = state.collection("projects")
    projects.create({"projectKey": "SALES", "tags": ["kept?"], "metadata": {"a": 1}})
    assert projects.public(projects.get("SALES"))["tags"] == ["1 metadata"]
    assert "tags" not in state.store.get("dss/projects", "SALES")  # type: ignore[operator]
    projects.update("SALES", {"metadata": {"a": 1, "b": 2}})
    assert projects.public(projects.get("SALES"))["tags"] == ["2 metadata"]
    spec["x-twin"]["collections"]["projects"]["computes"] = {"tags": ""}
    with pytest.raises(SpecError, match="computes"):
        build_model(spec)
