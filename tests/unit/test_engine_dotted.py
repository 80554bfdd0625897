"""Dotted id fields (a ruleset named by `user.username`) and references to siblings under the same parent:
what the Automation APIs' security rulesets and dataset versions need."""

from __future__ import annotations

from typing import Any

import pytest

from apitwin.clock import Clock
from apitwin.engine import OperationContext, SpecError, TwinState, build_model, handle
from apitwin.errors import ErrorKind, TwinError
from apitwin.store import Store

OK = {"200": {"description": "ok", "content": {"application/json": {"schema": {}}}}}
NO_BODY = {"204": {"description": "done"}}
DATASET_UID = {"name": "dataset_uid", "in": "path", "required": True}
USERNAME = {"name": "username", "in": "path", "required": True}
USER_REF = {"type": "object", "properties": {"username": {"type": "string"}, "first_name": {"type": "string"}}}
SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "x-twin": {
        "collections": {
            "datasets": {"schema": "Dataset", "id": {"field": "uid", "style": "prefixed", "prefix": "da_"}},
            "users": {"schema": "User", "id": {"field": "username", "style": "given"}},
            "user_rulesets": {"schema": "UserRuleset", "id": {"field": "user.username", "style": "given"},
                              "references": {"user.username": "users"},
                              "parent": {"collection": "datasets", "field": "dataset_uid", "public": False}},
            "versions": {"schema": "Version", "id": {"field": "number", "style": "given"},
                         "parent": {"collection": "datasets", "field": "dataset_uid", "public": False}},
            "labels": {"schema": "Label", "id": {"field": "name", "style": "given"},
                       "references": {"version": "versions"}, "unique": ["owner.username"],
                       "parent": {"collection": "datasets", "field": "dataset_uid", "public": False}},
        },
    },
    "components": {"schemas": {
        "Dataset": {"properties": {"uid": {"readOnly": True}, "title": {}}},
        "User": {"properties": {"username": {}, "first_name": {}}},
        "UserRuleset": {"properties": {"user": USER_REF, "permissions": {"type": "array"}}},
        "Version": {"properties": {"number": {}}},
        "Label": {"properties": {"name": {}, "version": {}, "owner": USER_REF}},
    }},
    "paths": {
        "/datasets/": {"x-twin": {"collection": "datasets"},
                       "post": {"operationId": "createDataset", "responses": OK}},
        "/datasets/{dataset_uid}/": {"x-twin": {"collection": "datasets"}, "parameters": [DATASET_UID],
                                     "delete": {"operationId": "deleteDataset", "responses": NO_BODY}},
        "/users/": {"x-twin": {"collection": "users"}, "post": {"operationId": "createUser", "responses": OK}},
        "/datasets/{dataset_uid}/security/users/": {
            "x-twin": {"collection": "user_rulesets"}, "parameters": [DATASET_UID],
            "get": {"operationId": "listUserRulesets", "responses": OK},
            "post": {"operationId": "createUserRuleset", "responses": OK},
        },
        "/datasets/{dataset_uid}/security/users/{username}/": {
            "x-twin": {"collection": "user_rulesets"}, "parameters": [DATASET_UID, USERNAME],
            "get": {"operationId": "getUserRuleset", "responses": OK},
            "put": {"operationId": "updateUserRuleset", "responses": OK},
            "delete": {"operationId": "deleteUserRuleset", "responses": NO_BODY},
        },
        "/datasets/{dataset_uid}/versions/": {"x-twin": {"collection": "versions"}, "parameters": [DATASET_UID],
                                              "post": {"operationId": "createVersion", "responses": OK}},
        "/datasets/{dataset_uid}/labels/": {"x-twin": {"collection": "labels"}, "parameters": [DATASET_UID],
                                            "post": {"operationId": "createLabel", "responses": OK}},
    },
}  # fmt: skip
MODEL = build_model(SPEC)


@pytest.fixture
def state() -> TwinState:
    twin = TwinState("ods", Store(), Clock(), MODEL.conventions, MODEL.collections)
    for name in ("alice", "bob"):
        call(twin, "createUser", body={"username": name, "first_name": name.title()})
    return twin


def call(state: TwinState, operation_id: str, **parts: Any) -> Any:
    return handle(OperationContext(route=MODEL.routes[operation_id], state=state, **parts)).body


def new_dataset(state: TwinState) -> str:
    uid: str = call(state, "createDataset", body={"title": "t"})["uid"]
    return uid


def test_an_item_is_named_by_a_field_of_its_nested_object(state: TwinState) -> None:
    uid = new_dataset(state)
    created = call(state, "createUserRuleset", path={"dataset_uid": uid},
                   body={"user": {"username": "alice"}, "permissions": ["edit_dataset"]})  # fmt: skip
    assert created == {"user": {"username": "alice"}, "permissions": ["edit_dataset"]}
    path = {"dataset_uid": uid, "username": "alice"}
    assert call(state, "getUserRuleset", path=path)["permissions"] == ["edit_dataset"]
    # the path names the item: a body cannot rename it
    replaced = call(state, "updateUserRuleset", path=path, body={"user": {"username": "bob"}, "permissions": []})
    assert replaced["user"]["username"] == "alice"
    with pytest.raises(TwinError) as renamed:
        call(state, "getUserRuleset", path={"dataset_uid": uid, "username": "bob"})
    assert renamed.value.kind is ErrorKind.NOT_FOUND


def test_an_item_named_by_a_dotted_field_is_found_deleted_and_conflicts_by_it(state: TwinState) -> None:
    uid = new_dataset(state)
    body = {"user": {"username": "alice"}, "permissions": []}
    call(state, "createUserRuleset", path={"dataset_uid": uid}, body=body)
    with pytest.raises(TwinError) as conflict:
        call(state, "createUserRuleset", path={"dataset_uid": uid}, body=body)
    assert conflict.value.kind is ErrorKind.CONFLICT
    # the same user has a ruleset of its own on another dataset
    other = new_dataset(state)
    call(state, "createUserRuleset", path={"dataset_uid": other}, body=body)
    call(state, "deleteUserRuleset", path={"dataset_uid": uid, "username": "alice"})
    with pytest.raises(TwinError) as gone:
        call(state, "getUserRuleset", path={"dataset_uid": uid, "username": "alice"})
    assert gone.value.kind is ErrorKind.NOT_FOUND
    assert call(state, "getUserRuleset", path={"dataset_uid": other, "username": "alice"})["user"]["username"]


def test_a_dotted_reference_must_name_an_existing_item(state: TwinState) -> None:
    uid = new_dataset(state)
    with pytest.raises(TwinError) as unknown:
        call(state, "createUserRuleset", path={"dataset_uid": uid}, body={"user": {"username": "mallory"}})
    assert unknown.value.kind is ErrorKind.INVALID
    assert "user.username" in unknown.value.message


def test_a_reference_to_a_sibling_collection_looks_under_the_same_parent(state: TwinState) -> None:
    first, second = new_dataset(state), new_dataset(state)
    call(state, "createVersion", path={"dataset_uid": first}, body={"number": "v1"})
    call(state, "createLabel", path={"dataset_uid": first}, body={"name": "stable", "version": "v1"})
    with pytest.raises(TwinError) as elsewhere:  # v1 exists, but under the other dataset
        call(state, "createLabel", path={"dataset_uid": second}, body={"name": "stable", "version": "v1"})
    assert elsewhere.value.kind is ErrorKind.INVALID


def test_a_dotted_unique_field_is_unique_within_the_parent(state: TwinState) -> None:
    first, second = new_dataset(state), new_dataset(state)
    owner = {"owner": {"username": "alice"}}
    call(state, "createLabel", path={"dataset_uid": first}, body={"name": "a", **owner})
    with pytest.raises(TwinError) as taken:
        call(state, "createLabel", path={"dataset_uid": first}, body={"name": "b", **owner})
    assert taken.value.field_errors == {"owner.username": ["Label with this owner.username already exists."]}
    call(state, "createLabel", path={"dataset_uid": second}, body={"name": "b", **owner})


def test_deleting_the_parent_deletes_items_named_by_dotted_fields(state: TwinState) -> None:
    uid = new_dataset(state)
    call(state, "createUserRuleset", path={"dataset_uid": uid}, body={"user": {"username": "bob"}})
    call(state, "deleteDataset", path={"dataset_uid": uid})
    assert state.store.all("ods/user_rulesets") == []


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"id": {"field": "user.email", "style": "given"}}, "'user.email' is not a property"),
        ({"references": {"user.username": "versions"}}, "only a collection under the same parent"),
    ],
)
def test_a_bad_dotted_or_scoped_declaration_stops_the_build(change: dict[str, Any], fragment: str) -> None:
    spec = {**SPEC, "x-twin": {"collections": {**SPEC["x-twin"]["collections"]}}}
    rulesets = {**spec["x-twin"]["collections"]["user_rulesets"], **change}
    if "references" in change:  # a top-level collection referring to a nested one
        rulesets.pop("parent")
    spec["x-twin"]["collections"]["user_rulesets"] = rulesets
    with pytest.raises(SpecError, match=fragment):
        build_model(spec)


def test_who_created_and_changed_an_item_may_be_a_dotted_field() -> None:
    spec = {**SPEC, "x-twin": {"collections": {**SPEC["x-twin"]["collections"]}}}
    spec["components"] = {"schemas": {**SPEC["components"]["schemas"], "Dataset": {"properties": {
        "uid": {"readOnly": True}, "title": {}, "created_by": USER_REF, "updated_by": USER_REF}}}}  # fmt: skip
    spec["x-twin"]["collections"]["datasets"] = {
        **SPEC["x-twin"]["collections"]["datasets"],
        "created_by": "created_by.username",
        "updated_by": "updated_by.username",
    }
    model = build_model(spec)
    state = TwinState("ods", Store(), Clock(), model.conventions, model.collections)
    created = state.collection("datasets").by("ana").create({"title": "t"})
    assert created["created_by"] == {"username": "ana"} and created["updated_by"] == {"username": "ana"}
    changed = state.collection("datasets").by("bob").update(created["uid"], {"title": "u"})
    assert changed["created_by"] == {"username": "ana"} and changed["updated_by"] == {"username": "bob"}
