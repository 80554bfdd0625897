"""The portal's pages (specs/common/pages.yaml, whose header holds every decision): what CRUD cannot express.

The engine serves studio pages and code editor pages as collections (their publication and archival as machines
that end at once); these behaviours add the bulk delete by slugs and search, the refusal to edit an archived
page, and the first publication's date.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apitwin.behaviours.automation import behaviours
from apitwin.engine import Collection, OperationContext, Reply, handle
from apitwin.errors import ErrorKind, TwinError


@behaviours.effect("first_publication")
def first_publication(pages: Collection, page: Mapping[str, Any]) -> dict[str, Any]:
    """A page's first publication stamps first_published_at; a later one keeps it."""
    if page.get("first_published_at") is not None:
        return {"set": {}}
    return {"set": {"first_published_at": pages.state.timestamp()}}


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
    """A case-insensitive part of the page's slug, its title in any language or its description."""
    title = page.get("title") or {}
    texts = [page.get("slug"), page.get("description"), *(title.values() if isinstance(title, Mapping) else [])]
    return any(search.lower() in str(text).lower() for text in texts if text)


@behaviours.operation("updateCodeEditorPage")
def update_code_editor_page(ctx: OperationContext) -> Reply:
    """An archived page can't be edited, but for unarchiving it (a PUT with `is_archived: false`)."""
    page = ctx.collection().get(ctx.item_id)
    if page.get("is_archived") and (ctx.body or {}).get("is_archived", True) is not False:
        raise TwinError(ErrorKind.INVALID, "An archived page can't be edited.")
    return handle(ctx)
