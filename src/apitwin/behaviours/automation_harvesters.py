"""Harvesters (specs/common/harvesters.yaml, whose header holds every decision): what their collection and status
machine do not say.

- A run (the machine's `harvest` effect) reads the harvester's stand-in source (harvest_source.py) when it is
  started: it creates a dataset for each remote dataset not yet harvested and updates the ones it harvested
  before, deletes the missing ones when asked, and records which datasets it attached (harvested_datasets); the
  counts and last_success_at show when the run ends, as the machine applies a run's outcome.
- Previews list what a run would harvest; publish and unpublish take each attached dataset's own action; a
  delete takes the attached datasets with it, or leaves them, as `delete_attached_datasets` says.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from apitwin.behaviours import harvest_source
from apitwin.behaviours.automation import behaviours
from apitwin.engine import Collection, OperationContext, Reply, machines
from apitwin.engine.collections import UploadedFile
from apitwin.errors import ErrorKind, TwinError

RUN = "start"  # the machine action that harvests
CSV_PARAMS = {"doublequote": True, "encoding": "utf-8", "first_row_no": 1, "headers_first_row": True, "separator": ";"}


def _attached(harvesters: Collection, harvester_uid: str) -> Collection:
    state = harvesters.state
    return Collection(state, state.definitions["harvested_datasets"], harvester_uid, harvesters.caller)


def _metadata_field(value: Any, forced: bool = False, remote: Any = None) -> dict[str, Any]:
    """A harvested metadata field: the source's value as remote_value; a forced value wins over it."""
    return {"value": value, "remote_value": remote if forced else value, "override_remote_value": forced}


def _metadata(remote: harvest_source.RemoteDataset, forced_metas: Mapping[str, Any]) -> dict[str, Any]:
    harvested = {
        "title": remote.title,
        "description": f"<p>{remote.description}</p>",
        "keyword": list(remote.keywords),
        "publisher": remote.publisher,
        "modified": remote.modified,
        "language": "en",
    }
    metadata: dict[str, Any] = {"default": {name: _metadata_field(value) for name, value in harvested.items()}}
    for template, fields in (forced_metas or {}).items():
        for name, value in (fields or {}).items():
            remote_value = harvested.get(name) if template == "default" else None
            metadata.setdefault(template, {})[name] = _metadata_field(value, forced=True, remote=remote_value)
    return metadata


def _refreshed(current: Mapping[str, Any], harvested: Mapping[str, Any]) -> dict[str, Any]:
    """A dataset's metadata after a new harvest: each field takes the new remote value, and its value too unless
    someone chose to override it."""
    metadata = copy.deepcopy(dict(current))
    for template, fields in harvested.items():
        for name, field in fields.items():
            mine = metadata.setdefault(template, {}).get(name)
            if isinstance(mine, Mapping) and mine.get("override_remote_value") and not field["override_remote_value"]:
                metadata[template][name] = {**mine, "remote_value": field["remote_value"]}
            else:
                metadata[template][name] = field
    return metadata


def _free_dataset_id(datasets: Collection, wanted: str) -> str:
    taken = {dataset.get("dataset_id") for dataset in datasets.views()}
    name, number = wanted, 2
    while name in taken:
        name, number = f"{wanted}-{number}", number + 1
    return name


def _new_dataset(
    datasets: Collection, harvester: Mapping[str, Any], remote: harvest_source.RemoteDataset
) -> Mapping[str, Any]:
    """A dataset made of a remote one, as a client would make it: created, then its resource."""
    metadata = _metadata(remote, harvester.get("forced_metas") or {})
    body = {
        "dataset_id": _free_dataset_id(datasets, remote.id),
        "is_restricted": bool(harvester.get("restrict_datasets_visibility")),
        "metadata": metadata,
    }
    dataset = datasets.create(body)
    uid = dataset["uid"]
    dataset = datasets.set(uid, {"metadata": metadata})  # remote_value is the server's to write
    if not harvester.get("metadata_only"):
        _add_resource(datasets, uid, harvester, remote)
    return dataset


def _add_resource(
    datasets: Collection, uid: str, harvester: Mapping[str, Any], remote: harvest_source.RemoteDataset
) -> None:
    """The remote dataset's file: downloaded into the dataset (download_resources) or linked by its URL."""
    state = datasets.state
    resources = Collection(state, state.definitions["resources"], uid, datasets.caller)
    filename = f"{remote.id}.csv"
    if harvester.get("download_resources"):
        files = Collection(state, state.definitions["resource_files"], uid, datasets.caller)
        content = harvest_source.data_at(remote.data_url) or b""
        files.create_with_file(None, UploadedFile(filename, "text/csv", content), uid=filename)
        datasource: dict[str, Any] = {"type": "uploaded_file", "file": {"uid": filename}}
    else:
        base, _, path = remote.data_url.partition("/datasets/")
        connection: dict[str, Any] = {"type": "http", "url": base, "headers": [], "auth": None}
        datasource = {"type": "http", "connection": connection, "relative_url": f"/datasets/{path}", "headers": []}
    resources.create({"type": "csvfile", "title": filename, "params": CSV_PARAMS, "datasource": datasource})


@behaviours.effect("harvest")
def harvest(harvesters: Collection, harvester: Mapping[str, Any]) -> dict[str, Any]:
    """A run: the datasets written now, the counts shown when the machine ends the run."""
    state = harvesters.state
    uid = str(harvesters.definition.id_of(harvester))
    machine = harvesters.definition.machine
    assert machine is not None
    now = state.clock.timestamp()
    started = {"last_started_at": state.timestamp(now)}
    error = harvest_source.unreachable(harvester)
    if error is not None:
        counts = {"remote_datasets_count": None, "harvested_datasets_count": 0, "resource_errors_count": 0}
        return {"now": started, "set": {**counts, "has_error": True}, "message": error}
    remotes = harvest_source.catalogue(harvester)
    datasets = state.collection("datasets").by(harvesters.caller)
    attached = _attached(harvesters, uid)
    records: dict[str, dict[str, Any]] = {}
    for kept in attached.all():
        if datasets.find(kept["dataset_uid"]) is None:  # deleted on its own: harvested again
            attached.delete(kept["dataset_uid"])
        else:
            records[kept["remote_id"]] = kept
    for remote in remotes:
        record = records.get(remote.id)
        if record is None:
            made = _new_dataset(datasets, harvester, remote)
            attached.create({"dataset_uid": made["uid"], "remote_id": remote.id})
        else:
            current = datasets.get(record["dataset_uid"])
            metadata = _refreshed(current.get("metadata") or {}, _metadata(remote, harvester.get("forced_metas") or {}))
            restricted = bool(harvester.get("restrict_datasets_visibility"))
            datasets.set(record["dataset_uid"], {"metadata": metadata, "is_restricted": restricted})
    if harvester.get("delete_missing_datasets"):
        found = {remote.id for remote in remotes}
        for remote_id, record in records.items():
            if remote_id not in found:
                datasets.delete(record["dataset_uid"])
                attached.delete(record["dataset_uid"])
    ends = machines.ends_at(machine, RUN, now)
    counts = {
        "remote_datasets_count": len(remotes),
        "harvested_datasets_count": len(remotes),
        "published_datasets_count": _published(harvesters, uid),
        "resource_errors_count": 0,
    }
    return {"now": started, "set": {**counts, "has_error": False, "last_success_at": state.timestamp(ends)}}


def _published(harvesters: Collection, uid: str) -> int:
    datasets = harvesters.state.collection("datasets")
    attached = [datasets.find(record["dataset_uid"]) for record in _attached(harvesters, uid).views()]
    return sum(1 for dataset in attached if dataset is not None and dataset.get("is_published"))


def _harvester(ctx: OperationContext) -> tuple[Collection, str, dict[str, Any]]:
    """The harvesters, the path's harvester's uid and the harvester itself (404 when there is none)."""
    harvesters = ctx.collection("harvesters")
    uid = str(ctx.path["harvester_uid"])
    return harvesters, uid, harvesters.get(uid)


def _each_attached(ctx: OperationContext, action: str) -> Reply:
    """Take `action` on every attached dataset whose status allows it; the others are left as they are."""
    harvesters, uid, _ = _harvester(ctx)
    datasets = ctx.collection("datasets")
    with ctx.state.transaction():
        published = 0  # how many will be published once the accepted actions have run
        for record in _attached(harvesters, uid).views():
            dataset = datasets.find(record["dataset_uid"])
            if dataset is None:
                continue
            try:
                datasets.transition(record["dataset_uid"], action)
                published += action == "publish"
            except TwinError:  # its status refuses the action (busy, or not published): it stays as it is
                published += bool(dataset.get("is_published"))
        harvesters.set(uid, {"published_datasets_count": published})
    return Reply({"detail": "ok"}, ctx.route.success_status)


@behaviours.operation("publishHarvester")
def publish_harvester(ctx: OperationContext) -> Reply:
    return _each_attached(ctx, "publish")


@behaviours.operation("unpublishHarvester")
def unpublish_harvester(ctx: OperationContext) -> Reply:
    return _each_attached(ctx, "unpublish")


@behaviours.operation("deleteHarvester")
def delete_harvester(ctx: OperationContext) -> Reply:
    """The attached datasets go with the harvester, or stay on the portal detached, as the caller says."""
    harvesters, uid, _ = _harvester(ctx)
    with ctx.state.transaction():
        if _flag(ctx.query.get("delete_attached_datasets")):
            datasets = ctx.collection("datasets")
            for record in _attached(harvesters, uid).views():
                if datasets.find(record["dataset_uid"]) is not None:
                    datasets.delete(record["dataset_uid"])
        harvesters.delete(uid)  # its schedule and its records of attached datasets with it
    return Reply(None, ctx.route.success_status)


def _flag(value: Any) -> bool:
    """A boolean query parameter, as the validator left it (a bool, or its text)."""
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    message = "Must be a valid boolean."
    raise TwinError(
        ErrorKind.INVALID, f"delete_attached_datasets: {message}", field_errors={"delete_attached_datasets": [message]}
    )


def _preview(configuration: Mapping[str, Any]) -> Reply:
    remotes = harvest_source.catalogue(configuration)
    return Reply({"total_count": len(remotes), "results": [remote.preview() for remote in remotes]})


@behaviours.operation("previewHarvester")
def preview_harvester(ctx: OperationContext) -> Reply:
    return _preview(_harvester(ctx)[2])


@behaviours.operation("previewUnsavedHarvester")
def preview_unsaved_harvester(ctx: OperationContext) -> Reply:
    """The saved configuration with the body's fields over it; a change of type starts from the body alone."""
    saved = _harvester(ctx)[2]
    body = dict(ctx.body or {})
    configuration = {**saved, **body} if body.get("type") == saved.get("type") else body
    return _preview(configuration)


@behaviours.operation("listHarvesterErrors")
def list_harvester_errors(ctx: OperationContext) -> Reply:
    """The last run's critical error (its machine record's message) and its resources' errors (none: every
    stand-in resource can be read)."""
    harvesters, _, harvester = _harvester(ctx)
    machine = harvesters.definition.machine
    assert machine is not None
    record = harvester.get(machine.field) or {}
    return Reply({"harvester": record.get("message"), "resources": {}})
