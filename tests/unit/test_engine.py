"""The spec-driven engine: x-twin interpretation, collection semantics, filters and projection."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apitwin.clock import Clock
from apitwin.engine import OperationContext, SpecError, TwinState, build_model, handle
from apitwin.engine.query import predicate, project, requested_fields
from apitwin.engine.routes import Filter
from apitwin.errors import ErrorKind, TwinError
from apitwin.store import Store

OK = {"200": {"description": "ok", "content": {"application/json": {"schema": {}}}}}
SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "x-twin": {
        "date_format": "%Y-%m-%d",
        "projection": ["fields"],
        "collections": {
            "owners": {"schema": "Owner"},
            "pets": {"schema": "Pet", "created": "born", "updated": "seen", "references": {"owner": "owners"}},
        },
    },
    "components": {
        "schemas": {
            "Owner": {"type": "object", "properties": {"id": {"type": "integer", "readOnly": True}}},
            "Pet": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer", "readOnly": True},
                    "name": {"type": "string"},
                    "kind": {"type": "string", "default": "cat"},
                    "chip": {"type": "string", "writeOnly": True},
                    "owner": {"type": "integer", "nullable": True},
                    "born": {"type": "string", "readOnly": True},
                    "seen": {"type": "string", "readOnly": True},
                },
            },
        }
    },
    "paths": {
        "/pets": {
            "x-twin": {"collection": "pets"},
            "get": {
                "operationId": "listPets",
                "x-twin": {"filters": {"name": "like", "born_min": "gte", "owner": {"field": "owner", "op": "eq"}}},
                "parameters": [{"name": n, "in": "query"} for n in ("name", "born_min", "owner", "fields")],
                "responses": OK,
            },
            "post": {"operationId": "createPet", "responses": {"201": OK["200"]}},
        },
        "/pets/{petId}": {
            "x-twin": {"collection": "pets"},
            "parameters": [{"name": "petId", "in": "path", "required": True}],
            "get": {"operationId": "getPet", "responses": OK},
            "put": {"operationId": "replacePet", "responses": OK},
            "patch": {"operationId": "updatePet", "responses": OK},
            "delete": {"operationId": "deletePet", "responses": {"204": {"description": "gone"}}},
        },
        "/pets/{petId}/adopt": {
            "x-twin": {"collection": "pets", "action": "set", "set": {"kind": "adopted"}},
            "parameters": [{"name": "petId", "in": "path", "required": True}],
            "post": {"operationId": "adoptPet", "responses": OK},
        },
    },
}


def spec_with(change: Any) -> dict[str, Any]:
    spec = copy.deepcopy(SPEC)
    change(spec)
    return spec


def test_actions_are_inferred_from_method_and_path_shape() -> None:
    routes = build_model(SPEC).routes
    actions = {op: route.action for op, route in routes.items()}
    assert actions == {
        "listPets": "list", "createPet": "create", "getPet": "get", "replacePet": "replace",
        "updatePet": "update", "deletePet": "delete", "adoptPet": "set",
    }  # fmt: skip
    assert routes["createPet"].success_status == 201 and routes["getPet"].id_param == "petId"
    assert Filter("born_min", "born", "gte") in routes["listPets"].filters


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["paths"]["/pets"]["x-twin"].update(colection="pets"), "unknown x-twin key"),
        (lambda s: s["paths"]["/pets"]["x-twin"].update(collection="cats"), "'cats' is not declared"),
        (lambda s: s["paths"]["/pets/{petId}"]["x-twin"].update(action="archive"), "'archive' is not one of"),
        (lambda s: s["paths"]["/pets"]["get"]["x-twin"]["filters"].update(size="eq"), "not a query parameter"),
        (lambda s: s["paths"]["/pets"]["get"]["x-twin"]["filters"].update(name="regex"), "op 'regex'"),
        (lambda s: s["x-twin"]["collections"]["pets"].update(schema="Dog"), "schema 'Dog'"),
        (lambda s: s["x-twin"]["collections"]["pets"].update(references={"owner": "people"}), "unknown 'people'"),
        (lambda s: s["x-twin"]["collections"]["pets"].update(created="birthday"), "'birthday' is not a property"),
        (lambda s: s["paths"]["/pets"]["post"].pop("operationId"), "needs an operationId"),
    ],
)
def test_wrong_declarations_stop_the_build_naming_the_place(change: Any, message: str) -> None:
    with pytest.raises(SpecError, match=message.replace("(", r"\(")) as info:
        build_model(spec_with(change), source="pets.yaml")
    assert str(info.value).startswith("pets.yaml")


@pytest.fixture
def state() -> TwinState:
    model = build_model(SPEC)
    clock = Clock()
    clock.freeze()
    return TwinState("zoo", Store(), clock, model.conventions, model.collections)


def call(state: TwinState, operation_id: str, **parts: Any) -> Any:
    route = build_model(SPEC).routes[operation_id]
    return handle(OperationContext(route=route, state=state, **parts))


def test_create_fills_defaults_ids_and_timestamps_and_hides_write_only(state: TwinState) -> None:
    reply = call(state, "createPet", body={"name": "Rex", "chip": "123", "id": 99, "born": "x"})
    assert reply.status == 201
    today = state.clock.now().strftime("%Y-%m-%d")
    assert reply.body == {"id": 1, "name": "Rex", "kind": "cat", "owner": None, "born": today, "seen": today}
    assert state.collection("pets").get(1)["chip"] == "123"


def test_update_changes_only_given_writable_fields(state: TwinState) -> None:
    call(state, "createPet", body={"name": "Rex", "kind": "dog"})
    state.clock.advance(86400)
    pet = call(state, "updatePet", path={"petId": 1}, body={"name": "Max", "seen": "never"}).body
    assert pet["name"] == "Max" and pet["kind"] == "dog" and pet["seen"] > pet["born"]


def test_replace_resets_what_is_not_given(state: TwinState) -> None:
    call(state, "createPet", body={"name": "Rex", "kind": "dog"})
    pet = call(state, "replacePet", path={"petId": 1}, body={"name": "Max"}).body
    assert pet["kind"] == "cat" and pet["id"] == 1


def test_set_action_applies_declared_fields(state: TwinState) -> None:
    call(state, "createPet", body={"name": "Rex"})
    assert call(state, "adoptPet", path={"petId": 1}).body["kind"] == "adopted"


def test_references_must_exist(state: TwinState) -> None:
    with pytest.raises(TwinError) as info:
        call(state, "createPet", body={"name": "Rex", "owner": 5})
    assert info.value.kind is ErrorKind.INVALID and "owner" in info.value.message
    state.collection("owners").create({})
    assert call(state, "createPet", body={"name": "Rex", "owner": 1}).body["owner"] == 1


def test_delete_then_get_is_not_found(state: TwinState) -> None:
    call(state, "createPet", body={"name": "Rex"})
    assert call(state, "deletePet", path={"petId": 1}).status == 204
    with pytest.raises(TwinError) as info:
        call(state, "getPet", path={"petId": 1})
    assert info.value.kind is ErrorKind.NOT_FOUND and info.value.message == "Pet 1 not found"


def test_list_filters_and_projects(state: TwinState) -> None:
    for name in ("Rex", "Rexy", "Tom"):
        call(state, "createPet", body={"name": name})
    reply = call(state, "listPets", query={"name": "REX", "fields": ["id", "name"]})
    assert reply.body == [{"id": 1, "name": "Rex"}, {"id": 2, "name": "Rexy"}]


def test_non_object_body_is_invalid(state: TwinState) -> None:
    with pytest.raises(TwinError):
        call(state, "createPet", body=["Rex"])


@pytest.mark.parametrize(
    ("op", "stored", "wanted", "expected"),
    [
        ("like", "Main SP", "main", True),
        ("like", None, "x", False),
        ("eq", 1, 1, True),
        ("eq", 1, "1", True),
        ("gte", "2025-02-26 14:09:55", "2025-02-26 14:09:55", True),
        ("lte", "2025-02-26 14:09:56", "2025-02-26 14:09:55", False),
        ("gte", None, "2025", False),
        ("gte", 10, "9", True),
    ],
)
def test_filter_operators(op: str, stored: Any, wanted: Any, expected: bool) -> None:
    test = predicate([Filter("p", "f", op)], {"p": wanted})
    assert test is not None and test({"f": stored}) is expected


def test_projection_takes_the_first_parameter_given() -> None:
    assert requested_fields({"field": "a, b"}, ["fields", "field"]) == ["a", "b"]
    assert requested_fields({}, ["fields"]) is None
    assert project({"a": 1, "b": 2}, ["b", "zzz"]) == {"b": 2}


def test_a_filter_maps_its_parameter_values_to_field_values_and_null_filters_nothing(state: TwinState) -> None:
    def with_adopted(spec: dict[str, Any]) -> None:
        spec["paths"]["/pets"]["get"]["parameters"].append(
            {"name": "adopted", "in": "query", "schema": {"enum": ["yes", "no", "any"], "default": "any"}}
        )
        values = {"yes": "adopted", "no": "cat", "any": None}
        spec["paths"]["/pets"]["get"]["x-twin"]["filters"]["adopted"] = {"field": "kind", "values": values}

    route = build_model(spec_with(with_adopted)).routes["listPets"]
    call(state, "createPet", body={"name": "Rex"})
    call(state, "createPet", body={"name": "Tom"})
    call(state, "adoptPet", path={"petId": 2})

    def names(**query: Any) -> list[str]:
        return [pet["name"] for pet in handle(OperationContext(route=route, state=state, query=query)).body]

    assert names(adopted="yes") == ["Tom"] and names(adopted="no") == ["Rex"]
    assert names() == names(adopted="any") == ["Rex", "Tom"]  # the default, null: no filter
    partly = {"yes": "adopted"}
    with pytest.raises(SpecError, match=r"say what \['no', 'any'\] mean"):
        build_model(spec_with(lambda s: (with_adopted(s), s["paths"]["/pets"]["get"]["x-twin"]["filters"]["adopted"]
                                         .update(values=partly))))  # fmt: skip


def _matches_per_document(doc: Any, filters: list[Filter], query: dict[str, Any]) -> bool:
    """`matches` as it was before `predicate`: every filter's parameter read again for each document."""
    from apitwin.engine.query import _compare
    from apitwin.engine.schemas import dig

    for flt in filters:
        wanted = query.get(flt.param)
        if wanted is None:
            wanted = flt.default
        if flt.values is not None:
            wanted = flt.values.get(str(wanted), wanted)
        if wanted is None:
            continue
        if not any(_compare(dig(doc, target), flt.op, wanted) for target in flt.targets):
            return False
    return True


_FIELD_VALUES = st.sampled_from([None, True, False, 0, 1, 2, "1", "a", "B", "x,a", ""])
_DOCS = st.fixed_dictionaries(
    {},
    optional={
        "f": _FIELD_VALUES,
        "g": st.one_of(_FIELD_VALUES, st.lists(st.sampled_from(["a", "b", "1"]), max_size=3)),
        "user": st.one_of(st.fixed_dictionaries({}, optional={"name": _FIELD_VALUES}), _FIELD_VALUES),
    },
)
_FILTERS = st.builds(
    Filter,
    param=st.sampled_from(["p", "q"]),
    field=st.sampled_from(["f", "g", "user.name", "user"]),
    op=st.sampled_from(["eq", "like", "any", "gte", "lte"]),
    fields=st.sampled_from([(), ("f", "user.name"), ("g",)]),
    default=st.one_of(st.none(), _FIELD_VALUES),
    values=st.one_of(st.none(), st.just({"1": True, "0": False, "all": None})),
)


@settings(max_examples=1000, deadline=None)
@given(
    docs=st.lists(_DOCS, max_size=4),
    filters=st.lists(_FILTERS, max_size=3),
    query=st.fixed_dictionaries({}, optional={"p": _FIELD_VALUES, "q": st.sampled_from(["1", "0", "all", "a", 2])}),
)
def test_a_compiled_filter_keeps_every_document_the_per_document_reading_keeps(
    docs: list[dict[str, Any]], filters: list[Filter], query: dict[str, Any]
) -> None:
    def outcome(keep: Any) -> Any:
        try:
            return [doc for doc in docs if keep(doc)]
        except TypeError as error:  # an `any` filter on a scalar field: the same failure either way
            return type(error)

    test = predicate(filters, query)
    compiled = outcome(lambda doc: test is None or test(doc))
    assert compiled == outcome(lambda doc: _matches_per_document(doc, filters, query))
