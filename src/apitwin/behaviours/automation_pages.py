"""The portal's pages (specs/common/pages.yaml, whose header holds every decision): what CRUD cannot express.

The engine serves studio pages and code editor pages as collections (their publication and archival as machines
that end at once); these behaviours add the bulk delete by slugs and search, the refusal to edit an archived
page, Huwise's draft content of a new studio page, and what publications compute: the first publication's date,
Huwise's publication of a studio page's draft content (which needs its asset.title) and its code editor pages'
last publication date.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from apitwin.behaviours.automation import behaviours
from apitwin.engine import Collection, OperationContext, Reply, handle
from apitwin.engine.schemas import dig
from apitwin.errors import ErrorKind, TwinError


@behaviours.effect("first_publication")
def first_publication(pages: Collection, page: Mapping[str, Any]) -> dict[str, Any]:
    """A page's first publication stamps first_published_at; a later one keeps it."""
    if page.get("first_published_at") is not None:
        return {"set": {}}
    return {"set": {"first_published_at": pages.state.timestamp()}}


@behaviours.operation("createStudioPage")
def create_studio_page(ctx: OperationContext) -> Reply:
    """Where a page's content versions live apart (Huwise), a new page has its draft: empty blocks, layouts, data
    providers and filters, and metadata without a title yet; Opendatasoft's pages have none."""
    if "studio_page_contents" not in ctx.state.definitions:
        return handle(ctx)
    with ctx.state.transaction():
        uid = handle(ctx).body["uid"]
        ctx.collection("studio_page_contents").under(uid).create({"blocks": {}}, version_name="draft")
        pages = ctx.collection()
        return Reply(pages.public(pages.get(uid)), ctx.route.success_status)


@behaviours.effect("publish_draft")
def publish_draft(pages: Collection, page: Mapping[str, Any]) -> Mapping[str, Any]:
    """Huwise's publication: the draft content, whose metadata must have an asset.title, becomes the `published`
    content version (made, or replaced); the first publication stamps first_published_at."""
    contents = pages.state.collection("studio_page_contents").by(pages.caller).under(page["uid"])
    draft = contents.find("draft")
    title = dig(draft, "metadata.asset.title.value") if draft is not None else None
    if draft is None or not isinstance(title, str) or not title.strip():
        message = "The page content metadata must have a title (asset.title) before the page can be published."
        raise TwinError(ErrorKind.INVALID, message)
    published = {name: copy.deepcopy(draft.get(name)) for name in _CONTENT_FIELDS}
    if contents.find("published") is None:
        contents.create_as_is({**published, "version_name": "published"})
    else:
        contents.set("published", published)
    return first_publication(pages, page)


_CONTENT_FIELDS = ("blocks", "layouts", "data_providers", "filters", "metadata")  # what a publication copies


@behaviours.effect("last_publication")
def last_publication(pages: Collection, page: Mapping[str, Any]) -> dict[str, Any]:
    """Each publication of a (Huwise) code editor page stamps last_published_at."""
    return {"set": {"last_published_at": pages.state.timestamp()}}


@behaviours.operation("deleteCodeEditorPages")
def delete_code_editor_pages(ctx: OperationContext) -> Reply:
    """The pages named by `slug` (repeated) and, with `search`, matching it; their slugs in list order."""
    slugs = ctx.query.get("slug")
    named = {slugs} if isinstance(slugs, str) else set(slugs) if slugs else None
    search = ctx.query.get("search")
    if named is None and not search:
        raise TwinError(ErrorKind.INVALID, "Give the pages to delete: slug, search or both.")
    pages = ctx.collection()
    doomed = [
        str(page["slug"])
        for page in pages.views()
        if (named is None or page["slug"] in named) and (not search or _matches(page, str(search)))
    ]
    with ctx.state.transaction():
        for slug in doomed:
            pages.delete(slug)
    return Reply(doomed)


def _matches(page: Mapping[str, Any], search: str) -> bool:
    """A case-insensitive part of the page's slug, its title in any language (Huwise's: its metadata's asset title)
    or its description."""
    title = page.get("title") or {}
    titles = [*(title.values() if isinstance(title, Mapping) else []), dig(page, "metadata.asset.title.value")]
    texts = [page.get("slug"), page.get("description"), *titles]
    return any(search.lower() in str(text).lower() for text in texts if text)


@behaviours.operation("updateCodeEditorPage")
def update_code_editor_page(ctx: OperationContext) -> Reply:
    """An archived page can't be edited, but for unarchiving it (a PUT with `is_archived: false`)."""
    page = ctx.collection().get(ctx.item_id)
    if page.get("is_archived") and (ctx.body or {}).get("is_archived", True) is not False:
        raise TwinError(ErrorKind.INVALID, "An archived page can't be edited.")
    return handle(ctx)
