"""The Automation API (Opendatasoft and Huwise, one module for both): what CRUD cannot express.

The dataset catalogue is the engine's (paged lists, prefixed uids, a unique dataset_id) but for the
rules of `dataset_id` below. The dataset status machine, publishing, versions, copies and files arrive with
the next parts.
"""

from __future__ import annotations

from apitwin.behaviours import Behaviours
from apitwin.engine import OperationContext, Reply, handle
from apitwin.errors import ErrorKind, TwinError

behaviours = Behaviours()


@behaviours.operation("createDataset")
def create_dataset(ctx: OperationContext) -> Reply:
    """A dataset created without a `dataset_id` still has one: the contract does not require it, the platform
    always shows one. The twin uses the dataset's uid, unique by construction (the real platform's choice
    of identifier for such a dataset is not documented)."""
    reply = handle(ctx)
    if not reply.body.get("dataset_id"):
        datasets = ctx.collection()
        reply = Reply(datasets.public(datasets.set(reply.body["uid"], {"dataset_id": reply.body["uid"]})), reply.status)
    return reply


# Huwise's dataset PUT takes dataset_id, is_restricted and default_security only ("to update dataset metadata use
# the dedicated Dataset Metadata endpoints"): metadata in its body is ignored, as the framework ignores any field
# an operation does not take, and the dataset keeps its own.
_PUT_KEEPS_METADATA = frozenset({"huwise"})


@behaviours.operation("updateDataset")
def update_dataset(ctx: OperationContext) -> Reply:
    """`dataset_id` "can be modified when the dataset is not published"; absent from the body, it is kept."""
    datasets = ctx.collection()
    current = datasets.get(ctx.item_id)
    body = dict(ctx.body or {})
    if ctx.state.name in _PUT_KEEPS_METADATA:
        body["metadata"] = current["metadata"]
    wanted = body.get("dataset_id") or current["dataset_id"]
    if wanted != current["dataset_id"] and current.get("is_published"):
        message = "The dataset_id of a published dataset cannot be changed; unpublish it first."
        raise TwinError(ErrorKind.INVALID, message, field_errors={"dataset_id": [message]})
    ctx.body = {**body, "dataset_id": wanted}
    return handle(ctx)


@behaviours.operation("copyDataset")
def copy_dataset(ctx: OperationContext) -> Reply:
    """The engine copies the dataset with its configuration; the copy's `dataset_id`, unique, is the original's
    followed by `-copy` (`-copy-2`, ... when taken): the documents do not say how the platform names it."""
    datasets = ctx.collection()
    original = datasets.get(ctx.item_id)["dataset_id"]
    taken = {dataset.get("dataset_id") for dataset in datasets.views()}
    name, number = f"{original}-copy", 2
    while name in taken:
        name, number = f"{original}-copy-{number}", number + 1
    return Reply(datasets.public(datasets.copy(ctx.item_id, {"dataset_id": name})), ctx.route.success_status)


# registered on this module's registry: the dataset files' behaviours, the publication's effects, the people's
from apitwin.behaviours import (  # noqa: E402,F401
    automation_files,
    automation_forms,
    automation_harvesters,
    automation_huwise,
    automation_pages,
    automation_people,
    automation_processing,
    automation_templates,
)
