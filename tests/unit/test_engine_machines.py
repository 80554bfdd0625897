"""State machines declared as data (x-twin machine) and run on the clock: Opendatasoft's dataset status is the
model (publish: idle -> queued -> processing -> idle and published; unpublish; abort)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from apitwin.clock import Clock
from apitwin.engine import OperationContext, SpecError, TwinState, build_model, handle, machines
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


HARVESTER_MACHINE: dict[str, Any] = {
    "field": "run", "states": ["new", "idle", "queued", "processing", "aborting"], "initial": "new",
    "status_field": "status",
    "error": {"code": "invalid_harvester_status", "message": "Invalid transition from {status} to {allowed}"},
    "automatic": {"queued": {"after": 1}, "processing": {"after": 3, "to": "idle"},
                  "aborting": {"after": 1, "to": "idle"}},
    "actions": {
        "start": {"from": ["new", "idle"], "to": "queued", "next": "processing", "effect": "harvest",
                  "expects": "processing"},
        "abort": {"from": ["queued", "processing"], "to": "aborting", "expects": "aborting"},
    },
}  # fmt: skip
HARVESTER_SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "x-twin": {"date_format": "iso", "collections": {"harvesters": {
        "schema": "Harvester", "id": {"field": "uid", "style": "prefixed", "prefix": "ha_"},
        "machine": HARVESTER_MACHINE}}},
    "components": {"schemas": {"Harvester": {"properties": {
        "uid": {"readOnly": True}, "name": {}, "status": {"readOnly": True},
        "last_started_at": {"readOnly": True, "default": None},
        "last_success_at": {"readOnly": True, "default": None}, "runs": {"readOnly": True, "default": 0}}}}},
    "paths": {
        "/harvesters/": {"x-twin": {"collection": "harvesters"}, "post": {"operationId": "create", "responses": OK},
                         "get": {"operationId": "list", "responses": OK}},
        "/harvesters/{uid}/": {"x-twin": {"collection": "harvesters"}, "parameters": [UID],
                               "get": {"operationId": "get", "responses": OK}},
        **{f"/harvesters/{{uid}}/{action}/": {"x-twin": {"collection": "harvesters", "transition": action},
                                             "parameters": [UID], "post": {"operationId": action, "responses": OK}}
           for action in ("start", "abort")},
    },
}  # fmt: skip
HARVESTER_MODEL = build_model(HARVESTER_SPEC)


def test_a_status_field_shows_the_state_and_an_effect_runs_only_for_an_allowed_action(clock: Clock) -> None:
    runs: list[str] = []

    def harvest(harvesters: Collection, harvester: Any) -> dict[str, Any]:
        runs.append(harvester["uid"])  # stands for the writes a real effect makes elsewhere
        now = harvesters.state.clock.timestamp()
        ends = machines.ends_at(harvesters.definition.machine, "start", now)  # type: ignore[arg-type]
        runs_after = harvester["runs"] + 1
        return {"now": {"last_started_at": harvesters.state.timestamp(now)},
                "set": {"last_success_at": harvesters.state.timestamp(ends), "runs": runs_after}}  # fmt: skip

    state = TwinState("ods", Store(), clock, HARVESTER_MODEL.conventions, HARVESTER_MODEL.collections,
                      {"harvest": harvest})  # fmt: skip

    def run(operation_id: str, uid: str | None = None, **parts: Any) -> Any:
        path = {"uid": uid} if uid else {}
        return handle(
            OperationContext(route=HARVESTER_MODEL.routes[operation_id], state=state, path=path, **parts)
        ).body

    uid = run("create", body={"name": "CSW", "status": "idle"})["uid"]
    assert run("get", uid)["status"] == "new"  # read-only: the machine's initial state, not the body's
    started = run("start", uid)  # no reply declared: the action answers the item
    assert (started["status"], started["last_started_at"], started["last_success_at"]) == (
        "queued", "2030-01-01T00:00:00Z", None)  # fmt: skip
    with pytest.raises(TwinError) as refused:
        run("start", uid)
    assert refused.value.code == "invalid_harvester_status"
    assert refused.value.message == "Invalid transition from queued to processing"
    assert runs == [uid]  # the refused start computed nothing
    clock.advance(1)
    assert run("get", uid)["status"] == "processing" and [h["status"] for h in run("list")] == ["processing"]
    clock.advance(3)
    done = run("get", uid)
    assert (done["status"], done["last_success_at"], done["runs"]) == ("idle", "2030-01-01T00:00:04Z", 1)
    run("start", uid)
    aborted = run("abort", uid)
    assert aborted["status"] == "aborting" and aborted["last_started_at"] == "2030-01-01T00:00:04Z"
    clock.advance(1)
    after = run("get", uid)  # an aborted run sets nothing of its outcome
    assert (after["status"], after["runs"], after["last_success_at"]) == ("idle", 1, "2030-01-01T00:00:04Z")
    with pytest.raises(TwinError, match="Invalid transition from idle to aborting"):
        run("abort", uid)


def test_a_status_field_must_be_a_property() -> None:
    spec = copy.deepcopy(HARVESTER_SPEC)
    spec["x-twin"]["collections"]["harvesters"]["machine"]["status_field"] = "state"
    with pytest.raises(SpecError, match="status_field: 'state' is not a property"):
        build_model(spec)
