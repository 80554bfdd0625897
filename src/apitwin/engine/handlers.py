"""The one generic handler: what a route's action means on its collection."""

from __future__ import annotations

import copy

from apitwin.engine.collections import Collection
from apitwin.engine.context import OperationContext, Reply
from apitwin.engine.query import check_bounds, matches, page, project, requested_fields, sort_docs


def handle(ctx: OperationContext) -> Reply:
    route = ctx.route
    coll = ctx.collection()
    fields = requested_fields(ctx.query, ctx.state.conventions.projection)
    status = route.success_status
    if route.part is not None:
        return _handle_part(ctx, coll, route.part_keys(ctx.path), status)
    match route.action:
        case "list":
            check_bounds(route.filters, ctx.query, ctx.state.conventions.date_format)
            # filtered and sorted on the stored documents themselves; only what is shown is copied
            docs = sort_docs([d for d in coll.views() if matches(d, route.filters, ctx.query)], route.sort, ctx.query)
            if route.paginate is None:
                return Reply([project(coll.public(copy.deepcopy(d)), fields) for d in docs], status)
            total, shown, following, previous = page(docs, route.paginate, ctx.query, ctx.url)
            results = [project(coll.public(copy.deepcopy(d)), fields) for d in shown]
            return Reply({"total_count": total, "next": following, "previous": previous, "results": results}, status)
        case "get":
            doc = coll.get(ctx.item_id)
        case "create":
            doc = coll.create(ctx.body)
        case "update":
            doc = coll.update(ctx.item_id, ctx.body)
        case "replace":
            doc = coll.replace(ctx.item_id, ctx.body)
        case "set":
            doc = coll.set(ctx.item_id, route.set_fields)
        case "delete":
            coll.delete(ctx.item_id)
            return Reply(None, status)
        case _:
            raise ValueError(f"{route.operation_id}: no engine action {route.action!r}")
    return Reply(project(coll.public(doc), fields), status)


def _handle_part(ctx: OperationContext, coll: Collection, keys: tuple[str, ...], status: int) -> Reply:
    match ctx.route.action:
        case "get":
            return Reply(coll.get_part(ctx.item_id, keys), status)
        case "replace":
            value = coll.set_part(ctx.item_id, keys, ctx.body)
        case "update":
            value = coll.update_part(ctx.item_id, keys, ctx.body)
        case "delete":
            coll.delete_part(ctx.item_id, keys)
            return Reply(None, status)
        case _:
            raise ValueError(f"{ctx.route.operation_id}: action {ctx.route.action!r} does not apply to a part")
    return Reply(None if status == 204 else value, status)
