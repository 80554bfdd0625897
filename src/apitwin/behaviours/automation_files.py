"""The Automation API's dataset files (Opendatasoft and Huwise): what the engine's collections, file uploads and
downloads do not say. resources.yaml's header gives each decision.

- An uploaded resource file's uid is its name; a second upload of that name replaces its content, uid kept.
- Guessing and previewing read an uploaded file with `ods_processing`, in a worker thread; a remote datasource
  (http, ftp, ...) is a 400: the twin reads uploaded files only, and never makes a preview up.
- Recovering a realtime resource's data (or deleting it) needs a published dataset.
- A URL alternative export downloads as a 303 to its url; a PUT cannot change an export's type.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from apitwin.behaviours import ods_processing as processing
from apitwin.behaviours.automation import behaviours
from apitwin.engine import OperationContext, Reply, handle
from apitwin.errors import ErrorKind, TwinError

UPLOADED_FILE = "uploaded_file"
FILE_FIELD = "datasource.file.uid"  # where a datasource names its uploaded file
REMOTE_SOURCE = (
    "The twin reads uploaded files only, not a datasource of type {type}: upload the file "
    "(POST .../resources/files/) and name it in an uploaded_file datasource."
)
NOT_PUBLISHED = "Invalid precondition, the dataset is not published"  # the words of lifecycle.yaml's unpublish


@behaviours.operation("uploadDatasetResourceFile")
def upload_resource_file(ctx: OperationContext) -> Reply:
    files = ctx.collection()
    upload = ctx.files.get("file")
    name = PurePosixPath((upload.filename or "").replace("\\", "/")).name if upload is not None else ""
    if upload is None or name in ("", ".", ".."):  # a name that could not be the file's uid in a path
        message = "No file was submitted, or it has no name."
        raise TwinError(ErrorKind.INVALID, message, field_errors={"file": [message]})
    if files.find(name) is None:
        stored = files.create_with_file(None, upload, uid=name)
    else:
        stored = files.replace_file(name, upload)
    return Reply(files.public(stored), ctx.route.success_status)


# -- guesses and previews: the file an uploaded_file datasource names, read by ods_processing


def _source_file(ctx: OperationContext, datasource: Mapping[str, Any]) -> tuple[dict[str, Any], bytes]:
    """The uploaded file a datasource names, and its bytes; 400 for any other datasource, or an unknown file."""
    if datasource.get("type") != UPLOADED_FILE:
        raise TwinError(ErrorKind.INVALID, REMOTE_SOURCE.format(type=datasource.get("type")))
    files = ctx.collection("resource_files")
    uid = (datasource.get("file") or {}).get("uid")
    if files.find(uid) is None:
        message = f"no resource file with id {uid}"
        raise TwinError(ErrorKind.INVALID, f"{FILE_FIELD}: {message}", field_errors={FILE_FIELD: [message]})
    return files.file_of(uid)


def _resource(ctx: OperationContext) -> Mapping[str, Any]:
    return ctx.collection("resources").get(ctx.path["resource_uid"])


async def _inspected(function: Any, *args: Any, **kwargs: Any) -> Any:
    """What an ods_processing function finds, in a worker thread; its ProcessingError a 400."""
    try:
        return await asyncio.to_thread(function, *args, **kwargs)
    except processing.ProcessingError as error:
        raise TwinError(ErrorKind.INVALID, error.message) from None


async def _guessed_extractors(ctx: OperationContext, datasource: Mapping[str, Any]) -> Reply:
    doc, data = _source_file(ctx, datasource)
    types = await _inspected(processing.guess_extractors, data, doc.get("filename") or "", doc.get("mimetype") or "")
    catalogue = ctx.collection("extractors")
    found = [catalogue.public(extractor) for extractor in map(catalogue.find, types) if extractor is not None]
    return Reply(found, ctx.route.success_status)


async def _guessed_params(ctx: OperationContext, datasource: Mapping[str, Any], extractor: str) -> Reply:
    _, data = _source_file(ctx, datasource)
    params = await _inspected(processing.guess_params, extractor, data)
    return Reply({"extractor": extractor, "params": params}, ctx.route.success_status)


async def _preview(ctx: OperationContext, configuration: Mapping[str, Any]) -> Reply:
    doc, data = _source_file(ctx, configuration["datasource"])
    params, filename = configuration.get("params") or {}, doc.get("filename") or ""
    found = await _inspected(processing.preview, configuration["type"], params, data, filename=filename)
    return Reply(found, ctx.route.success_status)


@behaviours.operation("guessUnsavedResourceExtractors")
async def guess_unsaved_extractors(ctx: OperationContext) -> Reply:
    return await _guessed_extractors(ctx, ctx.body["datasource"])


@behaviours.operation("guessDatasetResourceExtractors")
async def guess_resource_extractors(ctx: OperationContext) -> Reply:
    return await _guessed_extractors(ctx, _resource(ctx)["datasource"])


@behaviours.operation("guessUnsavedResourceExtractorParams")
async def guess_unsaved_params(ctx: OperationContext) -> Reply:
    return await _guessed_params(ctx, ctx.body["datasource"], ctx.body["type"])


@behaviours.operation("guessDatasetResourceExtractorParams")
async def guess_resource_params(ctx: OperationContext) -> Reply:
    resource = _resource(ctx)
    return await _guessed_params(ctx, resource["datasource"], resource["type"])


@behaviours.operation("previewUnsavedResource")
async def preview_unsaved(ctx: OperationContext) -> Reply:
    return await _preview(ctx, ctx.body)


@behaviours.operation("previewDatasetResource")
async def preview_resource(ctx: OperationContext) -> Reply:
    return await _preview(ctx, _resource(ctx))


# -- realtime


@behaviours.operation("recoverDatasetResource")
@behaviours.operation("deleteDatasetResourceRecoveredData")
def recover_realtime_data(ctx: OperationContext) -> Reply:
    """Only on a published dataset (the documents: "The dataset must be published"), else lifecycle.yaml's status
    error; the resource as it is."""
    _resource(ctx)  # an unknown resource is a 404 first
    if not ctx.collection("datasets").get(ctx.path["dataset_uid"]).get("is_published"):
        raise TwinError(ErrorKind.INVALID, NOT_PUBLISHED, code="invalid_dataset_status")
    return handle(ctx)


# -- alternative exports


@behaviours.operation("downloadDatasetAlternativeExport")
def download_alternative_export(ctx: OperationContext) -> Reply:
    export = ctx.collection().get(ctx.item_id)
    if export.get("type") == "url":
        return Reply(None, 303, headers={"Location": str(export.get("url"))})
    return handle(ctx)


@behaviours.operation("updateDatasetAlternativeExport")
def update_alternative_export(ctx: OperationContext) -> Reply:
    own = ctx.collection().get(ctx.item_id).get("type")
    if (ctx.body or {}).get("type") != own:
        message = f"An alternative export's type cannot change: this one is {own}."
        raise TwinError(ErrorKind.INVALID, f"type: {message}", field_errors={"type": [message]})
    return handle(ctx)
