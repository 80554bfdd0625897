"""Versions recorded by the engine on every write under an item, restored in one transaction, and copies of an item
with everything under it: Opendatasoft's dataset versions and dataset copy, declared in x-twin."""

from __future__ import annotations

from typing import Any

import pytest

from apitwin.clock import Clock
from apitwin.engine import OperationContext, SpecError, TwinState, build_model, handle
from apitwin.engine.collections import UploadedFile
from apitwin.errors import TwinError
from apitwin.store import Store

OK = {"200": {"description": "ok", "content": {"application/json": {"schema": {}}}}}
UID = {"name": "dataset_uid", "in": "path", "required": True}
VERSION = {"name": "version_uid", "in": "path", "required": True}
UNDER = {"collection": "datasets", "field": "dataset_uid", "public": False}
SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "x-twin": {"collections": {
        "datasets": {"schema": "Dataset", "id": {"field": "uid", "style": "prefixed", "prefix": "da_"},
                     "created": "created_at", "unique": ["dataset_id"],
                     "versions": {"collection": "versions", "keep": 5,
                                  "sections": {"metadata": ["metadata"], "processors": "processors",
                                               "files": "files"}}},
        "notes": {"schema": "Processor", "id": {"field": "uid", "style": "prefixed", "prefix": "no_"},
                  "parent": UNDER},
        "processors": {"schema": "Processor", "id": {"field": "uid", "style": "prefixed", "prefix": "pr_"},
                       "parent": UNDER},
        "files": {"schema": "File", "id": {"field": "uid", "style": "prefixed", "prefix": "fi_"}, "parent": UNDER,
                  "file": {"filename": "filename"}},
        "versions": {"schema": "Version", "id": {"field": "uid", "style": "prefixed", "prefix": "ch_"},
                     "created": "created_at", "parent": UNDER},
    }},
    "components": {"schemas": {
        "Dataset": {"properties": {"uid": {"readOnly": True}, "dataset_id": {}, "metadata": {},
                                   "created_at": {"readOnly": True}}},
        "Processor": {"properties": {"uid": {"readOnly": True}, "label": {}}},
        "File": {"properties": {"uid": {"readOnly": True}, "filename": {"readOnly": True}}},
        "Version": {"properties": {"uid": {"readOnly": True}, "sections": {"readOnly": True},
                                   "created_by": {"readOnly": True}, "can_restore": {"readOnly": True},
                                   "created_at": {"readOnly": True}}},
    }},
    "paths": {
        "/datasets/{dataset_uid}/versions/": {"x-twin": {"collection": "versions"}, "parameters": [UID],
                                      "get": {"operationId": "listVersions", "responses": OK}},
        "/datasets/{dataset_uid}/versions/{version_uid}/restore/": {
            "x-twin": {"collection": "versions", "action": "restore"}, "parameters": [UID, VERSION],
            "post": {"operationId": "restoreVersion", "responses": OK}},
        "/datasets/{dataset_uid}/copy/": {"x-twin": {"collection": "datasets", "action": "copy"}, "parameters": [UID],
                                  "post": {"operationId": "copyDataset", "responses": OK}},
    },
}  # fmt: skip
MODEL = build_model(SPEC)


@pytest.fixture
def state() -> TwinState:
    return TwinState("ods", Store(), Clock(), MODEL.conventions, MODEL.collections)


def call(state: TwinState, operation_id: str, **path: str) -> Any:
    context = OperationContext(route=MODEL.routes[operation_id], state=state, path=path, principal={"name": "ana"})
    return handle(context).body


def test_each_write_under_an_item_records_which_sections_it_changed(state: TwinState) -> None:
    datasets = state.collection("datasets").by("ana")
    uid = datasets.create({"dataset_id": "trees", "metadata": {"title": "Trees"}})["uid"]
    processors = state.collection("processors").by("ana").under(uid)
    first = processors.create({"label": "one"})["uid"]
    processors.update(first, {"label": "uno"})
    datasets.update(uid, {"metadata": {"title": "Trees of Paris"}})
    datasets.update(uid, {"dataset_id": "trees-paris"})  # no section changed: no version
    listed = call(state, "listVersions", dataset_uid=uid)
    assert [v["sections"] for v in listed] == [
        ["metadata", "processors", "files"],
        ["processors"],
        ["processors"],
        ["metadata"],
    ]
    assert all(v["created_by"] == {"username": "ana"} and v["can_restore"] is True for v in listed)
    assert all("snapshot" not in v and "dataset_uid" not in v and v["uid"].startswith("ch_") for v in listed)


def test_a_restore_brings_back_the_sections_and_records_a_version(state: TwinState) -> None:
    datasets = state.collection("datasets")
    uid = datasets.create({"dataset_id": "trees", "metadata": {"title": "Trees"}})["uid"]
    processors = state.collection("processors").under(uid)
    kept = processors.create({"label": "kept"})["uid"]
    before = call(state, "listVersions", dataset_uid=uid)[-1]["uid"]  # one processor, the first title
    processors.create({"label": "added later"})
    processors.delete(kept)
    datasets.update(uid, {"metadata": {"title": "Renamed"}})
    latest = call(state, "listVersions", dataset_uid=uid)[-1]["uid"]
    restored = call(state, "restoreVersion", dataset_uid=uid, version_uid=before)
    assert call(state, "listVersions", dataset_uid=uid)[-2]["uid"] == latest  # one version for the restore
    assert restored["metadata"] == {"title": "Trees"} and restored["dataset_id"] == "trees"
    assert [p["label"] for p in processors.all()] == ["kept"] and processors.all()[0]["uid"] == kept
    assert call(state, "listVersions", dataset_uid=uid)[-1]["sections"] == ["metadata", "processors", "files"]


def test_only_the_latest_versions_are_kept(state: TwinState) -> None:
    uid = state.collection("datasets").create({"dataset_id": "trees", "metadata": {}})["uid"]
    processors = state.collection("processors").under(uid)
    labels = [processors.create({"label": str(n)})["label"] for n in range(5)]
    versions = state.collection("versions").under(uid).all()
    assert [len(v["snapshot"]["processors"]) for v in versions] == [1, 2, 3, 4, 5]  # the first (none) is gone
    assert labels == ["0", "1", "2", "3", "4"]


def test_deleting_the_item_takes_its_history_and_records_nothing(state: TwinState) -> None:
    uid = state.collection("datasets").create({"dataset_id": "trees", "metadata": {}})["uid"]
    state.collection("processors").under(uid).create({"label": "one"})
    state.collection("datasets").delete(uid)
    assert state.store.all("ods/versions") == [] and state.store.all("ods/processors") == []


def test_a_copy_duplicates_everything_under_new_ids_and_starts_its_own_history(state: TwinState) -> None:
    datasets = state.collection("datasets")
    uid = datasets.create({"dataset_id": "trees", "metadata": {"title": "Trees"}})["uid"]
    state.collection("processors").under(uid).create({"label": "one"})
    upload = UploadedFile("trees.csv", "text/csv", b"a;b\n1;2\n")
    original_file = state.collection("files").under(uid).create_with_file(None, upload)
    state.collection("notes").under(uid).create({"label": "not configuration: not copied"})
    copied = datasets.copy(uid, {"dataset_id": "trees-copy"})
    assert state.collection("notes").under(copied["uid"]).all() == []
    assert copied["uid"] != uid and copied["dataset_id"] == "trees-copy" and copied["metadata"] == {"title": "Trees"}
    copy_processors = state.collection("processors").under(copied["uid"]).all()
    assert [p["label"] for p in copy_processors] == ["one"] and copy_processors[0]["uid"].startswith("pr_")
    copy_files = state.collection("files").under(copied["uid"])
    copy_file = copy_files.all()[0]
    assert copy_file["uid"] != original_file["uid"] and copy_file["filename"] == "trees.csv"
    assert copy_files.file_of(copy_file["uid"])[1] == b"a;b\n1;2\n"  # the same bytes, shared
    assert [v["sections"] for v in state.collection("versions").under(copied["uid"]).all()] == [
        ["metadata", "processors", "files"]
    ]
    assert len(state.collection("processors").under(uid).all()) == 1  # the original is untouched


def test_a_copy_that_would_repeat_a_unique_value_is_refused_whole(state: TwinState) -> None:
    datasets = state.collection("datasets")
    uid = datasets.create({"dataset_id": "trees", "metadata": {}})["uid"]
    state.collection("processors").under(uid).create({"label": "one"})
    with pytest.raises(TwinError, match="dataset_id"):
        call(state, "copyDataset", dataset_uid=uid)  # the engine copies dataset_id as is: a behaviour names the copy
    assert len(state.store.all("ods/datasets")) == 1 and len(state.store.all("ods/processors")) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"collection": "nowhere", "sections": {"m": ["metadata"]}}, "'nowhere', which must be a collection"),
        ({"collection": "versions", "sections": {"m": ["nope"]}}, "'nope' is not a property"),
        ({"collection": "versions", "sections": {"p": "datasets"}}, "'datasets' is not a collection under it"),
        ({"collection": "versions", "sections": {}}, "name the sections"),
        ({"collection": "versions", "sections": {"m": ["metadata"]}, "keep": 0}, "keep: a positive number"),
    ],
)
def test_a_wrong_versions_declaration_stops_the_build(change: dict[str, Any], message: str) -> None:
    collections = {**SPEC["x-twin"]["collections"]}
    collections["datasets"] = {**collections["datasets"], "versions": change}
    spec = {**SPEC, "x-twin": {"collections": collections}}
    if change["collection"] != "versions":
        spec["paths"] = {k: v for k, v in SPEC["paths"].items() if "restore" not in k}
    with pytest.raises(SpecError, match=message):
        build_model(spec)
