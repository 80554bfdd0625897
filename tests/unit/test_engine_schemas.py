"""Effective schemas (allOf, discriminated subtypes, readOnly/writeOnly at any depth), parent links the API does
not show, and parts of a document addressed by path parameters: what Opendatasoft's processors, connections and
dataset metadata need, declared in x-twin."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from apitwin.clock import Clock
from apitwin.engine import OperationContext, SpecError, TwinState, build_model, handle
from apitwin.engine.schemas import writable
from apitwin.errors import ErrorKind, TwinError
from apitwin.spec import load_resolved
from apitwin.store import Store
from apitwin.twins import TWINS
from tests.support.tiny_twin import tiny_twin

OK = {"200": {"description": "ok", "content": {"application/json": {"schema": {}}}}}
CREATED = {"201": OK["200"]}
GONE = {"204": {"description": "gone"}}
TEXT = {"type": "string"}


def path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": TEXT}


def subtype(name: str, required: list[str], properties: Mapping[str, Any]) -> dict[str, Any]:
    """A processor type: the common base merged with its own fields, its `type` pinned to its name."""
    own = {
        "type": "object",
        "required": ["type", *required],
        "properties": {"type": {"type": "string", "enum": [name]}, **properties},
    }
    return {"allOf": [{"$ref": "#/components/schemas/ProcessorBase"}, own]}


def body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


DATASET_UID, PROCESSOR_UID = path_param("dataset_uid"), path_param("processor_uid")
SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Tiny automation", "version": "1.0"},
    "x-twin": {
        "collections": {
            "datasets": {"schema": "Dataset", "id": {"field": "uid", "style": "given"}},
            "processors": {"schema": "Processor", "id": {"field": "uid", "style": "token"},
                           "parent": {"collection": "datasets", "field": "dataset_uid", "public": False}},
            "connections": {"schema": "Connection", "id": {"field": "name", "style": "given"}, "write_only": "null"},
        },
    },
    "components": {
        "securitySchemes": {"QueryAPIKey": {"type": "apiKey", "in": "query", "name": "apikey"}},
        "schemas": {
            "Dataset": {"type": "object", "properties": {
                "uid": TEXT,
                "metadata": {"type": "object", "default": {"default": {}},
                             "additionalProperties": {"type": "object", "additionalProperties": {
                                 "$ref": "#/components/schemas/MetadataValue"}}},
            }},
            "MetadataValue": {"type": "object", "properties": {
                "value": {}, "remote_value": {"readOnly": True, "nullable": True},
                "override_remote_value": {"type": "boolean"}}},
            "ProcessorBase": {"type": "object", "properties": {
                "uid": {"type": "string", "readOnly": True},
                "label": {"type": "string", "nullable": True},
                "stats": {"type": "object", "properties": {"rows": {"type": "integer", "readOnly": True},
                                                          "note": TEXT}},
            }},
            "StringReplace": subtype("string_replace", ["field", "old", "new"],
                                     {"field": TEXT, "old": TEXT, "new": TEXT}),
            "HttpEnrich": subtype("http_enrich", ["url"], {
                "url": TEXT,
                "options": {"type": "object", "additionalProperties": True, "properties": {"mode": TEXT}},
                "auth": {"oneOf": [  # no discriminator: the variant is the one the value fits
                    {"type": "object", "required": ["username"], "properties": {
                        "username": TEXT, "password": {"type": "string", "writeOnly": True}}},
                    {"type": "object", "required": ["token"], "properties": {
                        "token": {"type": "string", "writeOnly": True}, "scheme": {"enum": ["bearer"]}}},
                ]},
                "headers": {"type": "array", "items": {"type": "object", "properties": {
                    "name": TEXT, "value": {"type": "string", "writeOnly": True}}}},
            }),
            "Processor": {"oneOf": [{"$ref": "#/components/schemas/StringReplace"},
                                    {"$ref": "#/components/schemas/HttpEnrich"}],
                          "discriminator": {"propertyName": "type"}},
            "Connection": {"type": "object", "properties": {
                "name": TEXT,
                "token": {"type": "string", "nullable": True, "writeOnly": True},
                "credentials": {"type": "object", "properties": {
                    "user": TEXT, "secret": {"type": "string", "nullable": True, "writeOnly": True}}},
            }},
        },
    },
    "security": [{"QueryAPIKey": []}],
    "paths": {
        "/datasets/": {
            "x-twin": {"collection": "datasets"},
            "post": {"operationId": "createDataset", "requestBody": body("Dataset"), "responses": CREATED},
        },
        "/datasets/{dataset_uid}/": {
            "x-twin": {"collection": "datasets"}, "parameters": [DATASET_UID],
            "get": {"operationId": "getDataset", "responses": OK},
        },
        "/datasets/{dataset_uid}/metadata/{template}/{field}/": {
            "x-twin": {"collection": "datasets", "part": "metadata/{template}/{field}"},
            "parameters": [DATASET_UID, path_param("template"), path_param("field")],
            "get": {"operationId": "getMetadataField", "responses": OK},
            "put": {"operationId": "setMetadataField", "requestBody": body("MetadataValue"), "responses": OK},
            "patch": {"operationId": "updateMetadataField", "responses": OK},
            "delete": {"operationId": "deleteMetadataField", "responses": GONE},
        },
        "/datasets/{dataset_uid}/processors/": {
            "x-twin": {"collection": "processors"}, "parameters": [DATASET_UID],
            "get": {"operationId": "listProcessors", "responses": OK},
            "post": {"operationId": "createProcessor", "requestBody": body("Processor"), "responses": CREATED},
        },
        "/datasets/{dataset_uid}/processors/{processor_uid}/": {
            "x-twin": {"collection": "processors"}, "parameters": [DATASET_UID, PROCESSOR_UID],
            "get": {"operationId": "getProcessor", "responses": OK},
            "put": {"operationId": "replaceProcessor", "requestBody": body("Processor"), "responses": OK},
            "patch": {"operationId": "updateProcessor", "responses": OK},
        },
        "/connections/": {
            "x-twin": {"collection": "connections"},
            "post": {"operationId": "createConnection", "requestBody": body("Connection"),
                     "responses": {"201": {"description": "made", "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/Connection"}}}}}},
        },
        "/connections/{name}": {
            "x-twin": {"collection": "connections"}, "parameters": [path_param("name")],
            "get": {"operationId": "getConnection", "responses": OK},
            "put": {"operationId": "replaceConnection", "responses": OK},
        },
    },
}  # fmt: skip
REPLACE = {"type": "string_replace", "field": "city", "old": "Paris", "new": "PARIS"}
ENRICH = {"type": "http_enrich", "url": "https://geo.example/api",
          "auth": {"username": "geo", "password": "s3cret"},
          "headers": [{"name": "X-Key", "value": "k-123"}]}  # fmt: skip


def resolved(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec as the engine reads it: $refs inlined."""
    from connexion.json_schema import resolve_refs

    inlined: dict[str, Any] = resolve_refs(copy.deepcopy(dict(spec)))
    return inlined


def spec_with(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    spec = copy.deepcopy(SPEC)
    change(spec)
    return resolved(spec)


MODEL = build_model(resolved(SPEC))


@pytest.fixture
def state() -> TwinState:
    state = TwinState("tiny", Store(), Clock(), MODEL.conventions, MODEL.collections)
    for uid in ("da_one", "da_two"):
        call(state, "createDataset", body={"uid": uid})
    return state


def call(state: TwinState, operation_id: str, **parts: Any) -> Any:
    return handle(OperationContext(route=MODEL.routes[operation_id], state=state, **parts)).body


def create_processor(state: TwinState, given: Mapping[str, Any], dataset: str = "da_one") -> Any:
    return call(state, "createProcessor", path={"dataset_uid": dataset}, body=copy.deepcopy(dict(given)))


def processor_path(made: Mapping[str, Any], dataset: str = "da_one") -> dict[str, Any]:
    return {"dataset_uid": dataset, "processor_uid": made["uid"]}


# effective schemas


def test_each_subtype_keeps_its_own_fields_and_the_merged_base(state: TwinState) -> None:
    replace = create_processor(state, {**REPLACE, "label": "Upper-case Paris"})
    enrich = create_processor(state, ENRICH)
    shown = call(state, "getProcessor", path=processor_path(replace))
    assert {key: shown[key] for key in (*REPLACE, "label")} == {**REPLACE, "label": "Upper-case Paris"}
    assert "url" not in shown  # the other subtype's fields are not this one's properties
    assert call(state, "getProcessor", path=processor_path(enrich))["url"] == "https://geo.example/api"


def test_read_only_fields_are_ignored_at_every_depth(state: TwinState) -> None:
    made = create_processor(state, {**REPLACE, "uid": "mine", "stats": {"rows": 99, "note": "checked"}})
    assert made["uid"] != "mine" and made["stats"] == {"note": "checked"}


def test_a_field_one_untagged_subtype_lets_a_client_write_stays_writable() -> None:
    """A connection by reference ({uid}) or written in place (its uid the server's): the uid is written."""
    reference = {"type": "object", "properties": {"uid": {"type": "string"}}}
    in_place = {
        "type": "object",
        "properties": {"uid": {"type": "string", "readOnly": True}, "url": {"type": "string"}},
    }
    connection = {"oneOf": [reference, in_place]}
    assert writable({"uid": "co_qf2hyt"}, connection) == {"uid": "co_qf2hyt"}
    both_read_only = {"oneOf": [in_place, in_place]}
    assert writable({"uid": "co_qf2hyt", "url": "u"}, both_read_only) == {"url": "u"}


def test_undeclared_fields_are_dropped_where_the_schema_allows_none(state: TwinState) -> None:
    made = create_processor(state, {**REPLACE, "url": "https://elsewhere.example", "stats": {"extra": 1}})
    assert "url" not in made and made["stats"] == {}


def test_undeclared_fields_are_kept_where_additional_properties_allows(state: TwinState) -> None:
    made = create_processor(state, {**ENRICH, "options": {"mode": "batch", "retries": 3}})
    assert made["options"] == {"mode": "batch", "retries": 3}


def test_dataiku_partitioning_keeps_the_settings_its_client_adds() -> None:
    datasets = build_model(load_resolved(TWINS["dataiku"].spec_path)).collections["datasets"]
    given = {"name": "orders", "partitioning": {"dimensions": [], "filePathPattern": "%Y/%M/.*"}}
    assert writable(given, datasets.schema)["partitioning"]["filePathPattern"] == "%Y/%M/.*"


def test_write_only_fields_are_withheld_at_every_depth_and_kept_in_the_store(state: TwinState) -> None:
    made = create_processor(state, ENRICH)
    shown = call(state, "getProcessor", path=processor_path(made))
    assert shown["auth"] == {"username": "geo"} and shown["headers"] == [{"name": "X-Key"}]
    bearer = create_processor(state, {**ENRICH, "auth": {"token": "t-1", "scheme": "bearer"}})
    assert call(state, "getProcessor", path=processor_path(bearer))["auth"] == {"scheme": "bearer"}
    stored = state.collection("processors").under("da_one").get(made["uid"])
    assert stored["auth"]["password"] == "s3cret" and stored["headers"][0]["value"] == "k-123"


def test_a_collection_may_show_write_only_fields_as_null(state: TwinState) -> None:
    call(state, "createConnection", body={"name": "geo", "token": "t", "credentials": {"user": "u", "secret": "s"}})
    assert call(state, "getConnection", path={"name": "geo"}) == {
        "name": "geo",
        "token": None,
        "credentials": {"user": "u", "secret": None},
    }


def test_sending_back_the_nulls_shown_keeps_the_secrets(state: TwinState) -> None:
    call(state, "createConnection", body={"name": "geo", "token": "t", "credentials": {"user": "u", "secret": "s"}})
    shown = call(state, "getConnection", path={"name": "geo"})
    call(state, "replaceConnection", path={"name": "geo"}, body={**shown, "credentials": {"user": "v", "secret": None}})
    stored = state.collection("connections").get("geo")
    assert stored["token"] == "t" and stored["credentials"] == {"user": "v", "secret": "s"}


def test_an_unknown_subtype_is_a_400(state: TwinState) -> None:
    with pytest.raises(TwinError) as info:
        create_processor(state, {"type": "regex_replace", "field": "city"})
    assert info.value.kind is ErrorKind.INVALID
    assert info.value.message == "type: 'regex_replace' is not one of ['string_replace', 'http_enrich']"
    assert info.value.field_errors == {"type": ["'regex_replace' is not one of ['string_replace', 'http_enrich']"]}


def test_a_partial_update_writes_only_fields_of_the_stored_subtype(state: TwinState) -> None:
    made = create_processor(state, REPLACE)
    updated = call(state, "updateProcessor", path=processor_path(made), body={"new": "Paname", "url": "https://x"})
    assert updated["new"] == "Paname" and "url" not in updated


def test_replacing_with_another_subtype_drops_the_former_fields(state: TwinState) -> None:
    made = create_processor(state, REPLACE)
    replaced = call(state, "replaceProcessor", path=processor_path(made), body=ENRICH)
    assert replaced["type"] == "http_enrich" and not {"field", "old", "new"} & set(replaced)
    assert replaced["uid"] == made["uid"]


# parent links


def test_the_parent_link_is_stored_but_never_shown_nor_written(state: TwinState) -> None:
    made = create_processor(state, {**REPLACE, "dataset_uid": "da_two"})
    assert "dataset_uid" not in made
    assert "dataset_uid" not in call(state, "listProcessors", path={"dataset_uid": "da_one"})[0]
    assert state.collection("processors").under("da_one").get(made["uid"])["dataset_uid"] == "da_one"


def test_an_update_cannot_move_a_child_to_another_parent(state: TwinState) -> None:
    made = create_processor(state, REPLACE)
    call(state, "updateProcessor", path=processor_path(made), body={"dataset_uid": "da_two", "label": "moved?"})
    assert state.collection("processors").under("da_one").get(made["uid"])["dataset_uid"] == "da_one"


def test_a_child_is_found_only_under_its_own_parent(state: TwinState) -> None:
    made = create_processor(state, REPLACE)
    assert call(state, "listProcessors", path={"dataset_uid": "da_two"}) == []
    with pytest.raises(TwinError) as info:
        call(state, "getProcessor", path=processor_path(made, "da_two"))
    assert info.value.kind is ErrorKind.NOT_FOUND


# parts addressed by path parameters


def test_a_metadata_field_is_put_read_and_deleted_by_its_path(state: TwinState) -> None:
    where = {"dataset_uid": "da_one", "template": "default", "field": "title"}
    put = call(state, "setMetadataField", path=where, body={"value": "Trees", "remote_value": "ignored"})
    assert put == {"value": "Trees"} == call(state, "getMetadataField", path=where)
    assert call(state, "getDataset", path={"dataset_uid": "da_one"})["metadata"] == {"default": {"title": put}}
    assert call(state, "deleteMetadataField", path=where) is None
    with pytest.raises(TwinError) as info:
        call(state, "getMetadataField", path=where)
    assert info.value.kind is ErrorKind.NOT_FOUND
    assert info.value.message == "Dataset da_one has no metadata/default/title"


def test_a_put_of_a_part_keeps_the_read_only_fields_the_client_cannot_write(state: TwinState) -> None:
    state.collection("datasets").set(
        "da_one", {"metadata": {"default": {"title": {"value": "a", "remote_value": "r"}}}}
    )
    where = {"dataset_uid": "da_one", "template": "default", "field": "title"}
    assert call(state, "setMetadataField", path=where, body={"value": "b"}) == {"value": "b", "remote_value": "r"}


def test_a_patch_merges_into_an_object_part_and_refuses_other_values(state: TwinState) -> None:
    where = {"dataset_uid": "da_one", "template": "default", "field": "title"}
    call(state, "setMetadataField", path=where, body={"value": "Trees"})
    merged = call(state, "updateMetadataField", path=where, body={"override_remote_value": True})
    assert merged == {"value": "Trees", "override_remote_value": True}
    with pytest.raises(TwinError) as info:
        call(state, "updateMetadataField", path=where, body=["not", "an", "object"])
    assert info.value.kind is ErrorKind.INVALID


@pytest.mark.parametrize("operation_id", ["getMetadataField", "setMetadataField", "deleteMetadataField"])
def test_a_part_under_an_absent_key_is_not_found(state: TwinState, operation_id: str) -> None:
    with pytest.raises(TwinError) as info:
        call(state, operation_id, path={"dataset_uid": "da_one", "template": "nope", "field": "title"}, body={})
    assert info.value.kind is ErrorKind.NOT_FOUND and info.value.message == "Dataset da_one has no metadata/nope"


def test_a_part_under_a_value_that_is_no_object_is_not_found(state: TwinState) -> None:
    state.collection("datasets").set("da_one", {"metadata": {"legacy": "free text"}})
    with pytest.raises(TwinError) as info:
        call(state, "setMetadataField", path={"dataset_uid": "da_one", "template": "legacy", "field": "title"}, body={})
    assert info.value.kind is ErrorKind.NOT_FOUND
    assert info.value.message == "Dataset da_one has no metadata/legacy/title"


# the vocabulary, checked at build time


def schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = spec["components"]["schemas"][name]
    return found


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: schema(s, "StringReplace")["allOf"][1]["properties"]["type"].pop("enum"),
         r"schema Processor\.oneOf\[0\]: a subtype must pin 'type' with an enum"),
        (lambda s: schema(s, "HttpEnrich")["allOf"][1]["properties"]["type"].update(enum=["string_replace"]),
         r"subtypes 0 and 1 both pin type='string_replace'"),
        (lambda s: s["x-twin"]["collections"]["processors"]["parent"].update(public="no"),
         r"collections\.processors\.parent: public must be true or false"),
        (lambda s: s["x-twin"]["collections"]["processors"]["parent"].update(shown=False),
         r"collections\.processors\.parent: unknown x-twin key\(s\) \['shown'\]"),
        (lambda s: s["x-twin"]["collections"]["connections"].update(write_only="hide"),
         r"collections\.connections\.write_only: 'hide' is not one of \['null', 'omit'\]"),
        (lambda s: s["paths"]["/datasets/{dataset_uid}/metadata/{template}/{field}/"]["x-twin"].update(
            part="metadata/{template}/{name}"), r"names 'name', which is not a path parameter"),
        (lambda s: s["paths"]["/datasets/{dataset_uid}/metadata/{template}/{field}/"]["x-twin"].update(
            part="meta/{template}"), r"part 'meta/\{template\}' does not start at a property of 'datasets'"),
    ],
)  # fmt: skip
def test_a_wrong_declaration_stops_the_build(change: Callable[[dict[str, Any]], object], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        build_model(spec_with(change), "tiny.yaml")


def test_a_collection_on_an_all_of_schema_builds_with_its_merged_properties() -> None:
    def on_all_of(spec: dict[str, Any]) -> None:
        spec["x-twin"]["collections"]["datasets"]["schema"] = "Wrapped"
        spec["components"]["schemas"]["Wrapped"] = {"allOf": [{"$ref": "#/components/schemas/Dataset"}]}

    assert set(build_model(spec_with(on_all_of)).collections["datasets"].properties) == {"uid", "metadata"}


# over HTTP


def tiny_error(error: TwinError) -> Mapping[str, Any]:
    return {"error_code": error.kind.value, "message": error.message}


@pytest.fixture
def http(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The spec served at /tiny/api with the dataset da_one and the key K."""
    fixtures = {
        "credentials": [{"name": "ci", "credential": "K"}],
        "collections": {"datasets": [{"uid": "da_one", "metadata": {"default": {}}}]},
    }
    with tiny_twin(tmp_path, monkeypatch, SPEC, fixtures, tiny_error, validate_responses=True) as client:
        yield client


def test_over_http_a_processor_keeps_its_type_fields_and_another_types_body_is_a_400(http: TestClient) -> None:
    processors = "/tiny/api/datasets/da_one/processors/"
    made = http.post(f"{processors}?apikey=K", json=REPLACE)
    assert made.status_code == 201, made.text
    shown = http.get(f"{processors}{made.json()['uid']}/?apikey=K").json()
    assert {key: shown[key] for key in REPLACE} == REPLACE and "dataset_uid" not in shown
    for wrong in ({"type": "string_replace", "url": "https://geo.example"}, {"type": "regex", "field": "city"}):
        refused = http.post(f"{processors}?apikey=K", json=wrong)
        assert refused.status_code == 400 and refused.json()["error_code"] == "invalid", wrong
    assert len(http.get(f"{processors}?apikey=K").json()) == 1


def test_over_http_secrets_shown_as_null_pass_response_validation(http: TestClient) -> None:
    given = {"name": "geo", "token": "t", "credentials": {"user": "u", "secret": "s"}}
    made = http.post("/tiny/api/connections/?apikey=K", json=given)
    assert made.status_code == 201, made.text
    assert made.json() == {"name": "geo", "token": None, "credentials": {"user": "u", "secret": None}}


def test_over_http_a_metadata_field_put_then_deleted_is_not_found(http: TestClient) -> None:
    title = "/tiny/api/datasets/da_one/metadata/default/title/?apikey=K"
    assert http.put(title, json={"value": "Trees"}).json() == {"value": "Trees"}
    assert http.delete(title).status_code == 204
    gone = http.get(title)
    assert gone.status_code == 404 and gone.json()["error_code"] == "not_found"
