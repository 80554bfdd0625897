"""The domain's metadata templates and image assets (specs/common/templates.yaml, whose header holds every
decision): what CRUD cannot express.

The engine serves templates and assets as collections; these behaviours add what the documents describe beyond
that: system templates only enabled or disabled and never removed, suggestions from a field's choices and the
datasets' values, and an image asset named by its uploaded file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from apitwin.behaviours.automation import behaviours
from apitwin.engine import OperationContext, Reply, handle
from apitwin.engine.schemas import defaults
from apitwin.errors import ErrorKind, TwinError

REMOVABLE_TYPES = frozenset({"basic", "admin"})
ASSET_URL = "/assets/theme_image/{name}"


def _unique_field_names(body: Any) -> None:
    names = [str(field.get("name")) for field in (body or {}).get("schema") or [] if isinstance(field, Mapping)]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        message = f"Field names are unique within a template: {', '.join(repeated)} repeated."
        raise TwinError(ErrorKind.INVALID, f"schema: {message}", field_errors={"schema": [message]})


def _written(ctx: OperationContext) -> Reply:
    """A create or PUT of a template's whole body, its fields shown whole: each with every property of
    MetadataTemplateField, its default where the client gave none (is_hidden, read-only, false)."""
    _unique_field_names(ctx.body)
    reply = handle(ctx)
    templates = ctx.collection()
    item_schema = templates.definition.schema["properties"]["schema"]["items"]
    whole = [defaults(item_schema, field) for field in reply.body.get("schema") or []]
    return Reply(templates.public(templates.set(reply.body["name"], {"schema": whole})), reply.status)


@behaviours.operation("createMetadataTemplate")
def create_metadata_template(ctx: OperationContext) -> Reply:
    return _written(ctx)


@behaviours.operation("updateMetadataTemplate")
def update_metadata_template(ctx: OperationContext) -> Reply:
    """A system template takes only `is_active`, and one always active cannot be disabled."""
    templates = ctx.collection()
    template = templates.get(ctx.item_id)
    if not template.get("is_system"):
        return _written(ctx)
    active = bool((ctx.body or {}).get("is_active", template.get("is_active")))
    if not active and template.get("is_always_active"):
        raise TwinError(ErrorKind.INVALID, "This template can't be disabled.")
    return Reply(templates.public(templates.set(ctx.item_id, {"is_active": active})))


@behaviours.operation("deleteMetadataTemplate")
def delete_metadata_template(ctx: OperationContext) -> Reply:
    template = ctx.collection().get(ctx.item_id)
    if template.get("is_system") or template.get("type") not in REMOVABLE_TYPES:
        raise TwinError(ErrorKind.INVALID, "Only non-system templates of type basic or admin can be removed.")
    return handle(ctx)


def _field(ctx: OperationContext) -> dict[str, Any]:
    name = ctx.path["template_field_name"]
    template = ctx.collection("metadata_templates").get(ctx.path["template_name"])
    for field in template.get("schema") or []:
        if field.get("name") == name:
            return dict(field)
    raise TwinError(ErrorKind.NOT_FOUND, f"No field {name} in the template {ctx.path['template_name']}.")


@behaviours.operation("suggestMetadataTemplateFieldValues")
def suggest_metadata_template_field_values(ctx: OperationContext) -> Reply:
    """The field's choices that start with the query, then the values the datasets' metadata holds for it."""
    field = _field(ctx)
    query, count = str(ctx.query.get("query") or ""), int(ctx.query.get("count") or 10)
    template, name = ctx.path["template_name"], field["name"]
    held: list[str] = []
    for dataset in ctx.collection("datasets").views():
        value = (((dataset.get("metadata") or {}).get(template) or {}).get(name) or {}).get("value")
        held += [str(item) for item in (value if isinstance(value, list) else [value]) if item is not None]
    prefix = query.lower()
    choices = [str(choice) for choice in field.get("choices") or [] if str(choice).lower().startswith(prefix)]
    values = sorted({value for value in held if value.lower().startswith(prefix)} - set(choices))
    hits = list(dict.fromkeys(choices + values))
    return Reply({
        "hits": hits[:count], "nb_hits": len(hits), "page": 0, "hits_per_page": count, "exhaustive_nb_hits": True,
        "exhaustive_typo": True, "exhaustive": {"nbHits": True, "typo": True}, "query": query,
        "params": f"query={query}&hitsPerPage={count}", "processing_time_ms": 0,
    })  # fmt: skip


@behaviours.operation("createImageAsset")
def create_image_asset(ctx: OperationContext) -> Reply:
    """An asset is served under its file's name; an upload under a taken name replaces that asset's bytes."""
    assets = ctx.collection()
    upload = ctx.files.get("file")
    name = PurePosixPath((upload.filename or "").replace("\\", "/")).name if upload is not None else ""
    if upload is None or name in ("", ".", ".."):
        message = "No file was submitted, or it has no name."
        raise TwinError(ErrorKind.INVALID, message, field_errors={"file": [message]})
    url = ASSET_URL.format(name=name)
    stored = (
        assets.create_with_file(None, upload, url=url) if assets.find(url) is None else assets.replace_file(url, upload)
    )
    return Reply(assets.public(stored), ctx.route.success_status)
