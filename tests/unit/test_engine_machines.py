"""State machines declared as data (x-twin machine) and run on the clock: Opendatasoft's dataset status is the
model (publish: idle -> queued -> processing -> idle and published; unpublish; abort)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from apitwin.clock import Clock
from apitwin.engine import OperationContext, SpecError, TwinState, build_model, handle
from apitwin.engine.collections import Collection
from apitwin.errors import ErrorKind, TwinError
from apitwin.store import Store

OK = {"200": {"description": "ok", "content": {"application/json": {"schema": {}}}}}
UID = {"name": "uid", "in": "path", "required": True}
START = datetime(2030, 1, 1, tzinfo=UTC)
MACHINE: dict[str, Any] = {
    "field": "status_machine",
    "states": ["idle", "error", "limit_reached", "queued", "aborting_processing", "processing", "deleting"],
    "initial": "idle",
    "error": {
        "code": "invalid_dataset_status",
        "message": "Invalid precondition, dataset status is '{status}' but must be one of '{allowed}'",
    },
    "reply": {"detail": "ok"},
    "shows": ["is_published"],
    "automatic": {
        "queued": {"after": 1},
        "processing": {"after": 3, "to": "idle"},
        "deleting": {"after": 2, "to": "idle"},
        "aborting_processing": {"after": 1, "to": "idle"},
    },
    "actions": {
        "publish": {
            "from": ["idle", "error", "limit_reached"],
            "to": "queued",
            "next": "processing",
            "set": {"is_published": True},
            "effect": "process",
        },
        "unpublish": {
            "from": ["idle", "error", "limit_reached"],
            "to": "queued",
            "next": "deleting",
            "when": {"is_published": True},
            "set": {"is_published": False},
            "refusal": "Invalid precondition, the dataset is not published",
        },
        "abort": {
            "from": ["processing"],
            "to": "aborting_processing",
            "expects": "processing_all_dataset_data, processing_dataset, processing_resource_records",
        },
    },
}
SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "x-twin": {"date_format": "iso", "collections": {"datasets": {
        "schema": "Dataset", "id": {"field": "uid", "style": "prefixed", "prefix": "da_"},
        "created": "created_at", "updated": "updated_at", "machine": MACHINE}}},
    "components": {"schemas": {"Dataset": {"properties": {
        "uid": {"readOnly": True}, "title": {}, "records_count": {"readOnly": True}, "metadata": {},
        "is_published": {"readOnly": True, "default": False},
        "created_at": {"readOnly": True}, "updated_at": {"readOnly": True}}}}},
    "paths": {
        "/datasets/": {"x-twin": {"collection": "datasets"}, "post": {"operationId": "create", "responses": OK},
                       "get": {"operationId": "list", "responses": OK}},
        "/datasets/{uid}/": {"x-twin": {"collection": "datasets"}, "parameters": [UID],
                             "get": {"operationId": "get", "responses": OK}},
        "/datasets/{uid}/status/": {"x-twin": {"collection": "datasets", "action": "state"}, "parameters": [UID],
                                    "get": {"operationId": "status", "responses": OK}},
        **{f"/datasets/{{uid}}/{action}/": {"x-twin": {"collection": "datasets", "transition": action},
                                           "parameters": [UID], "post": {"operationId": action, "responses": OK}}
           for action in ("publish", "unpublish", "abort")},
    },
}  # fmt: skip
MODEL = build_model(SPEC)


def process(datasets: Collection, dataset: Any) -> dict[str, Any]:
    """What publishing computes from the dataset: here, an error for a dataset titled 'broken'."""
    if dataset.get("title") == "broken":
        return {"to": "error", "set": {"is_published": False}, "message": "1 record failed"}
    return {"set": {"records_count": 42, "metadata.default.count": 42}}


@pytest.fixture
def clock() -> Clock:
    frozen = Clock()
    frozen.freeze(START)
    return frozen


@pytest.fixture
def state(clock: Clock) -> TwinState:
    return TwinState("ods", Store(), clock, MODEL.conventions, MODEL.collections, {"process": process})


def call(state: TwinState, operation_id: str, uid: str | None = None, **parts: Any) -> Any:
    path = {"uid": uid} if uid else {}
    return handle(OperationContext(route=MODEL.routes[operation_id], state=state, path=path, **parts)).body


def test_publish_runs_on_the_clock_and_ends_published(state: TwinState, clock: Clock) -> None:
    uid = call(state, "create", body={"title": "Trees"})["uid"]
    status = call(state, "status", uid)
    assert status == {"status": "idle", "previous": None, "next": None, "since": "2030-01-01T00:00:00Z",
                      "message": None, "params": {}, "records_errors": [], "is_published": False}  # fmt: skip
    assert call(state, "publish", uid) == {"detail": "ok"}
    assert (call(state, "status", uid)["status"], call(state, "status", uid)["next"]) == ("queued", "processing")
    clock.advance(0.5)
    assert call(state, "status", uid)["status"] == "queued"  # not a moment early
    clock.advance(0.5)
    assert call(state, "status", uid)["status"] == "processing" and call(state, "status", uid)["next"] == "idle"
    assert call(state, "get", uid)["is_published"] is False  # not until the run ends
    clock.advance(3)
    status = call(state, "status", uid)
    assert (status["status"], status["previous"], status["is_published"]) == ("idle", "processing", True)
    assert status["since"] == "2030-01-01T00:00:04Z"  # when it happened, not when it was read
    assert call(state, "get", uid)["records_count"] == 42
    assert [d["is_published"] for d in call(state, "list")] == [True]
    assert "status_machine" not in call(state, "get", uid)


def test_a_state_that_does_not_allow_an_action_refuses_it_in_the_apis_words(state: TwinState, clock: Clock) -> None:
    uid = call(state, "create", body={"title": "Trees"})["uid"]
    with pytest.raises(TwinError) as not_published:
        call(state, "unpublish", uid)
    assert (not_published.value.code, not_published.value.message) == (
        "invalid_dataset_status",
        "Invalid precondition, the dataset is not published",
    )
    with pytest.raises(TwinError) as idle:
        call(state, "abort", uid)
    assert idle.value.kind is ErrorKind.INVALID and idle.value.message == (
        "Invalid precondition, dataset status is 'idle' but must be one of "
        "'processing_all_dataset_data, processing_dataset, processing_resource_records'"
    )
    call(state, "publish", uid)
    clock.advance(1)
    with pytest.raises(TwinError, match="dataset status is 'processing' but must be one of 'idle, error"):
        call(state, "publish", uid)


def test_abort_passes_through_aborting_and_keeps_the_dataset_unpublished(state: TwinState, clock: Clock) -> None:
    uid = call(state, "create", body={"title": "Trees"})["uid"]
    call(state, "publish", uid)
    clock.advance(1.5)
    call(state, "abort", uid)
    assert call(state, "status", uid)["status"] == "aborting_processing"
    clock.advance(1)
    assert call(state, "status", uid)["status"] == "idle" and call(state, "get", uid)["is_published"] is False


def test_an_effect_may_end_the_run_in_error_and_unpublish_undoes_a_publish(state: TwinState, clock: Clock) -> None:
    broken = call(state, "create", body={"title": "broken"})["uid"]
    call(state, "publish", broken)
    clock.advance(10)  # every automatic step at once, each at its own instant
    status = call(state, "status", broken)
    assert (status["status"], status["message"]) == ("error", "1 record failed")
    assert status["since"] == "2030-01-01T00:00:04Z"
    uid = call(state, "create", body={"title": "Trees"})["uid"]
    call(state, "publish", uid)
    clock.advance(4)
    call(state, "unpublish", uid)
    assert call(state, "status", uid)["next"] == "deleting"
    clock.advance(3)
    assert call(state, "status", uid)["status"] == "idle" and call(state, "get", uid)["is_published"] is False


def test_the_settled_state_is_stored_with_the_next_write(state: TwinState, clock: Clock) -> None:
    uid = call(state, "create", body={"title": "Trees"})["uid"]
    call(state, "publish", uid)
    clock.advance(5)
    state.collection("datasets").update(uid, {"title": "Trees, 2030"})
    clock.freeze(START, rewind=True)  # even with time put back, what was stored stays
    assert state.store.get("ods/datasets", uid)["is_published"] is True  # type: ignore[index]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"initial": "new"}, "initial 'new' is not one of the states"),
        ({"field": "title"}, "field 'title' is a property"),
        ({"actions": {"go": {"from": ["idle"], "to": "gone"}}}, "'gone' is not one of the machine's states"),
        ({"actions": {"go": {"from": ["idle"], "to": "queued", "when": {"nope": 1}}}}, "'nope' is not a property"),
        ({"actions": {"go": {"from": ["idle"], "to": "queued", "after": 1}}}, r"unknown x-twin key\(s\) \['after'\]"),
        ({"automatic": {"queued": {"after": "soon"}}}, "after must be a number of seconds"),
        ({"error": {"code": "x"}}, "give the code and message"),
    ],
)
def test_a_wrong_machine_stops_the_build(change: dict[str, Any], message: str) -> None:
    machine = {**MACHINE, **change}
    spec = {**SPEC, "x-twin": {"date_format": "iso", "collections": {"datasets": {
        **SPEC["x-twin"]["collections"]["datasets"], "machine": machine}}}}  # fmt: skip
    if "actions" in change:  # the routes name the model's actions
        spec["paths"] = {k: v for k, v in SPEC["paths"].items() if "x-twin" not in v or "transition" not in v["x-twin"]}
    with pytest.raises(SpecError, match=message):
        build_model(spec)


def test_a_transition_route_names_an_action_of_the_machine() -> None:
    spec = {**SPEC, "paths": {**SPEC["paths"], "/datasets/{uid}/copy/": {
        "x-twin": {"collection": "datasets", "transition": "copy"}, "parameters": [UID],
        "post": {"operationId": "copy", "responses": OK}}}}  # fmt: skip
    with pytest.raises(SpecError, match="transition 'copy' is not one of the machine's actions"):
        build_model(spec)


def test_a_run_sets_a_nested_field_alone_keeping_what_changed_meanwhile(state: TwinState, clock: Clock) -> None:
    uid = call(state, "create", body={"title": "Trees", "metadata": {"default": {"title": "Trees"}}})["uid"]
    call(state, "publish", uid)
    state.collection("datasets").update(uid, {"metadata": {"default": {"title": "Trees of Lyon"}}})
    clock.advance(4)
    assert call(state, "get", uid)["metadata"] == {"default": {"title": "Trees of Lyon", "count": 42}}
