"""What publishing computes (the dataset status machine's effects, specs/common/collections.yaml): the dataset's
resources read from their uploaded files through their extractor, its processors and its fields configuration
(ods_processing.py does the work), so the run's outcome follows from the data: idle with the record count, or
error with the message the platform would give, or limit_reached past the domain's record limit, with the
records errors either way. The outcome is computed when the action is taken and shown when the run ends. A
harvested dataset's linked resources are read from its harvester's stand-in source (harvest_source.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apitwin.behaviours import harvest_source, ods_processing
from apitwin.behaviours.automation import behaviours
from apitwin.engine import Collection

# The domain's licence: how many records its datasets may hold together on a real portal, here per dataset
# (the documents give no number; tests lower it to see limit_reached).
RECORD_LIMIT = 10_000_000
# Budgets of one publication, so a huge or hostile upload cannot hold the writer thread for long.
MAX_BYTES = ods_processing.DEFAULT_MAX_BYTES
MAX_ROWS = 1_000_000


@behaviours.effect("process_dataset")
def process_dataset(datasets: Collection, dataset: Mapping[str, Any]) -> dict[str, Any]:
    """The outcome of publishing: every resource's records through the processing stack."""
    uid = datasets.definition.id_of(dataset)
    state = datasets.state
    processors = [dict(p) for p in Collection(state, state.definitions["processors"], uid).views()]
    configurations = [dict(c) for c in Collection(state, state.definitions["field_configurations"], uid).views()]
    files = Collection(state, state.definitions["resource_files"], uid)
    total, errors = 0, []
    harvested = _harvested(state, uid)
    for resource in Collection(state, state.definitions["resources"], uid).views():
        datasource = resource.get("datasource") or {}
        standin = _standin_data(datasource) if harvested else None
        if datasource.get("type") != "uploaded_file" and standin is None:
            kind = datasource.get("type") or "none"
            message = f"Resource {resource.get('uid')} reads a {kind} datasource: apitwin reads uploaded files only"
            return _error(message)
        file_uid = (datasource.get("file") or {}).get("uid")
        if standin is not None:
            file_doc, data = {"filename": resource.get("title")}, standin
        elif files.find(file_uid) is None:
            return _error(f"Resource {resource.get('uid')}: the file {file_uid} does not exist")
        else:
            file_doc, data = files.file_of(file_uid)
        try:
            result = ods_processing.process(
                str(resource.get("type")),
                resource.get("params") or {},
                data,
                processors,
                configurations,
                RECORD_LIMIT - total,
                filename=str(file_doc.get("filename") or file_uid),
                max_bytes=MAX_BYTES,
                max_rows=MAX_ROWS,
            )
        except ods_processing.ProcessingError as exc:
            return _error(exc.message)
        total += result.record_count
        errors += result.records_errors
        if result.limit_reached:
            return {"to": "limit_reached", "params": result.params, "records_errors": errors,
                    "message": f"The dataset reached the domain's limit of {RECORD_LIMIT} records"}  # fmt: skip
    now = state.timestamp()
    sets: dict[str, Any] = {
        "is_published": True,
        "metadata.default.records_count": {"value": total},
        "metadata.default.data_processed": {"value": now},
        "metadata.default.metadata_processed": {"value": now},
    }
    if _flag(dataset, "modified_updates_on_data_change"):
        sets["metadata.default.modified"] = {"value": now}
    return {"set": sets, "records_errors": errors}


@behaviours.effect("process_metadata")
def process_metadata(datasets: Collection, dataset: Mapping[str, Any]) -> dict[str, Any]:
    """Publishing metadata reprocesses them alone: when, and `modified` if the dataset wants it on that change."""
    now = datasets.state.timestamp()
    sets: dict[str, Any] = {"metadata.default.metadata_processed": {"value": now}}
    if _flag(dataset, "modified_updates_on_metadata_change"):
        sets["metadata.default.modified"] = {"value": now}
    return {"set": sets}


def _harvested(state: Any, dataset_uid: str) -> bool:
    """Whether a harvester attached the dataset: its linked resources are then its stand-in source's files."""
    table = f"{state.name}/harvested_datasets"
    return "harvested_datasets" in state.definitions and any(
        record.get("dataset_uid") == dataset_uid for record in state.store.scan(table)
    )


def _standin_data(datasource: Mapping[str, Any]) -> bytes | None:
    """The file a harvested dataset's http datasource links, as the stand-in source serves it."""
    if datasource.get("type") != "http":
        return None
    base = str((datasource.get("connection") or {}).get("url") or "")
    return harvest_source.data_at(base.rstrip("/") + str(datasource.get("relative_url") or ""))


def _flag(dataset: Mapping[str, Any], name: str) -> bool:
    default = (dataset.get("metadata") or {}).get("default") or {}
    return bool((default.get(name) or {}).get("value"))


def _error(message: str) -> dict[str, Any]:
    return {"to": "error", "message": message, "set": {}}
