"""The one generic handler: what a route's action means on its collection."""

from __future__ import annotations

from urllib.parse import quote

from apitwin.engine.collections import Collection
from apitwin.engine.context import OperationContext, Reply
from apitwin.engine.query import check_bounds, page, predicate, requested_fields, sort_docs
from apitwin.errors import ErrorKind, TwinError


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
            # filtered and sorted on the stored documents themselves; what is shown is public()'s copy
            docs = coll.views(where=predicate(route.filters, ctx.query))
            if route.sort is not None and (
                coll.definition.derived or coll.definition.computes
            ):  # a derived field (user_count) sorts as shown
                docs = [{**d, **coll.derived(d)} for d in docs]
            docs = sort_docs(docs, route.sort, ctx.query)
            if route.paginate is None:
                return Reply([coll.shown(d, fields) for d in docs], status)
            total, shown, following, previous = page(docs, route.paginate, ctx.query, ctx.url)
            results = [coll.shown(d, fields) for d in shown]
            return Reply({"total_count": total, "next": following, "previous": previous, "results": results}, status)
        case "get":
            doc = coll.view(ctx.item_id)  # only shown: public() copies it
        case "create":
            file = coll.definition.file
            upload = ctx.files.get(file.part) if file is not None else None
            if file is not None and upload is None:  # a text field of that name is no file
                message = "No file was submitted."
                raise TwinError(ErrorKind.INVALID, f"{file.part}: {message}", field_errors={file.part: [message]})
            doc = coll.create(ctx.body) if upload is None else coll.create_with_file(ctx.body, upload)
        case "download":
            return _download(coll, ctx.item_id, route.media_types, status)
        case "transition":
            assert route.transition is not None and coll.definition.machine is not None
            moved = coll.transition(ctx.item_id, route.transition)
            reply = coll.definition.machine.reply
            return Reply(coll.shown(moved, fields) if reply is None else reply, status)
        case "state":
            return Reply(coll.state_of(ctx.item_id), status)
        case "copy":
            doc = coll.copy(ctx.item_id)
        case "restore":
            versioned = coll.definition.versions_of
            assert versioned is not None
            root = ctx.collection(versioned)
            return Reply(root.shown(coll.restore(ctx.item_id), fields), status)
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
    if status == 204:  # documented as no content: the action's item is not shown (a cache cleaned)
        return Reply(None, status)
    return Reply(coll.shown(doc, fields), status)


def _handle_part(ctx: OperationContext, coll: Collection, keys: tuple[str, ...], status: int) -> Reply:
    match ctx.route.action:
        case "get":
            return Reply(coll.get_part(ctx.item_id, keys, ctx.route.part_key), status)
        case "list":
            elements = coll.get_part(ctx.item_id, keys, ctx.route.part_key)
            if not isinstance(elements, list):
                raise ValueError(f"{ctx.route.operation_id}: the part {'/'.join(keys)} is no list")
            if ctx.route.paginate is None:
                return Reply(elements, status)
            total, shown, following, previous = page(elements, ctx.route.paginate, ctx.query, ctx.url)
            results = list(shown)
            return Reply({"total_count": total, "next": following, "previous": previous, "results": results}, status)
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


def _download(coll: Collection, item_id: object, route_media_types: tuple[str, ...], status: int) -> Reply:
    """The bytes of an item's file, and its name for the client to save it under; in the file's media type when
    the operation documents it (or any, `*/*`), else in the one it documents (application/octet-stream)."""
    doc, data = coll.file_of(item_id)
    file = coll.definition.file
    assert file is not None
    own = doc.get(file.mimetype) if file.mimetype else None
    documented = route_media_types or ("application/octet-stream",)
    media_type = own if own and (own in documented or "*/*" in documented) else documented[0]
    filename = doc.get(file.filename) if file.filename else None
    headers = {"Content-Disposition": _disposition(str(filename))} if filename else {}
    return Reply(data, status, headers=headers, media_type=str(media_type))


def _disposition(filename: str) -> str:
    """`attachment` with the name as plain ASCII and, when it is not, in RFC 5987 form too."""
    printable = "".join(c if c.isprintable() else "_" for c in filename)  # no line break may end the header
    ascii_name = printable.encode("ascii", "replace").decode().replace('"', "_").replace("\\", "_")
    if ascii_name == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(printable, safe='')}"
