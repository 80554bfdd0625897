"""Huwise's own operations (specs/huwise/only.yaml, whose header holds every decision): what CRUD cannot express.

Registered on the Automation registry like its siblings; the Opendatasoft spec has no such operation, so nothing
here asks which twin it serves. The engine serves the glossary, the user requests and the assets' translation
dictionaries; these behaviours add the glossary's bulk delete, the user requests' days and expansion, and the
translation suggestions.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, timedelta
from typing import Any

from apitwin.behaviours.automation import behaviours
from apitwin.engine import Collection, OperationContext, Reply, handle


@behaviours.operation("bulkDeleteGlossaryTerms")
def bulk_delete_glossary_terms(ctx: OperationContext) -> Reply:
    """The terms `uid_list` names, at once; a uid that names no term is ignored."""
    terms = ctx.collection("glossary_terms")
    named = set((ctx.body or {}).get("uid_list") or [])
    with ctx.state.transaction():
        for term in terms.views():
            if term["uid"] in named:
                terms.delete(term["uid"])
    return Reply(None, ctx.route.success_status)


@behaviours.operation("listUserRequests")
def list_user_requests(ctx: OperationContext) -> Reply:
    """`raised_in` N and `raised_before` X count days back from the start of the clock's today (UTC): the route's
    bounds on created_at, made dates here; `expand` shows the whole user instead of {username}."""
    today = ctx.state.clock.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    query = dict(ctx.query)
    if query.get("raised_in") is not None:
        query["raised_in"] = ctx.state.timestamp(today - timedelta(days=int(query["raised_in"])))
    if query.get("raised_before") is not None:
        query["raised_before"] = ctx.state.timestamp(today - timedelta(days=int(query["raised_before"]), seconds=1))
    ctx.query = query
    return with_users_expanded(ctx, handle(ctx))


def with_users_expanded(ctx: OperationContext, reply: Reply) -> Reply:
    """A page of items (user requests, form submissions) with the authors the query's `expand` names shown whole."""
    expand = ctx.query.get("expand") or []
    fields = [expand] if isinstance(expand, str) else list(expand)
    if not fields:
        return reply
    users = ctx.collection("users")
    results = [_expanded(users, item, fields) for item in reply.body["results"]]
    return Reply({**reply.body, "results": results}, reply.status)


def _expanded(users: Collection, item: Mapping[str, Any], fields: list[str]) -> dict[str, Any]:
    """The item with each named author shown whole (people.yaml's User); an anonymous one (a guest, null) stays as it
    is."""
    shown = dict(item)
    for name in fields:
        author = shown.get(name)
        user = users.find(author["username"]) if isinstance(author, Mapping) and author.get("username") else None
        if user is not None:
            shown[name] = users.public(user)
    return shown


_DICTIONARY_HOLDERS = ("datasets", "studio_pages", "code_editor_pages")  # looked up in this order


@behaviours.operation("getI18nSuggestions")
def get_i18n_suggestions(ctx: OperationContext) -> Reply:
    """Each key's translation into `to_language` from the first entry that has one, among the dictionaries of the
    datasets, studio pages then code editor pages (oldest first), whose source term is the key or whose text in
    `from_language` is; a key with none is left out."""
    keys = ctx.query.get("keys") or []
    source, target = str(ctx.query["from_language"]), str(ctx.query["to_language"])
    entries = [
        (term, texts)
        for name in _DICTIONARY_HOLDERS
        for asset in sorted(ctx.collection(name).views(), key=lambda asset: str(asset.get("created_at") or ""))
        for term, texts in (asset.get("translations") or {}).items()
        if isinstance(texts, Mapping) and isinstance(texts.get(target), str)
    ]
    found: dict[str, str] = {}
    for key in [keys] if isinstance(keys, str) else keys:
        match = next((texts[target] for term, texts in entries if key in (term, texts.get(source))), None)
        if match is not None:
            found[key] = match
    return Reply(found)


# -- a Huwise resource's computed fields (huwise.yaml's DatasetResource)


def _resource_location(resource: Mapping[str, Any]) -> tuple[str, str | None]:
    """(the kind of source, the address it reads) of a resource: its datasource's, else its `url`'s."""
    datasource = resource.get("datasource") or {}
    kind = str(datasource.get("type") or ("url" if resource.get("url") else "none"))
    if kind == "uploaded_file":
        return kind, str((datasource.get("file") or {}).get("uid") or "") or None
    # http and ftp: the connection's server and the file's path on it; S3 and Azure: the file's own url
    base = str((datasource.get("connection") or {}).get("url") or "").rstrip("/")
    path = datasource.get("relative_url")
    address = f"{base}{path or ''}" if base or path else datasource.get("url") or resource.get("url")
    return kind, str(address) if address else None


@behaviours.effect("resource_display_name")
def resource_display_name(resources: Collection, resource: Mapping[str, Any]) -> str:
    """The name of what the resource reads (a file's name, the last segment of a URL or path), else its title."""
    _, address = _resource_location(resource)
    name = (address or "").split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    return name or str(resource.get("title") or "")


@behaviours.effect("resource_origin")
def resource_origin(resources: Collection, resource: Mapping[str, Any]) -> dict[str, Any]:
    """Where the resource comes from: the kind of source and the address it reads."""
    kind, address = _resource_location(resource)
    return {"type": kind, "location": address}
