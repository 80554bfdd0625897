"""Datascale ingest: parse the script with a real SQL parser in the platform's dialect, and store its tables
and views as assets of the token's workspace, counting what was added and what was modified."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import sqlglot
from sqlglot import TokenType
from sqlglot.errors import TokenError

from apitwin.behaviours import Behaviours
from apitwin.behaviours.sqlassets import SqlParseError, UnknownPlatformError, dialect_for, read_script
from apitwin.engine import OperationContext, Reply
from apitwin.errors import ErrorKind, TwinError

behaviours = Behaviours()


@behaviours.operation("ingestContent")
async def ingest_content(ctx: OperationContext) -> Reply:
    body = ctx.body if ctx.body is not None else {}
    if not isinstance(body, dict):  # e.g. JSON sent without a Content-Type: the document's requests declare it
        raise TwinError(ErrorKind.INVALID, "Invalid request parameters",
                        details="send a JSON object with Content-Type: application/json")  # fmt: skip
    content = body.get("content", "")
    platform = body.get("platform") or ""
    try:
        dialect = dialect_for(platform)
    except UnknownPlatformError as exc:
        raise TwinError(ErrorKind.INVALID, "Invalid request parameters", details=str(exc)) from None
    # Parsing a script of up to 1 MB takes seconds: in a worker thread, so other callers are served meanwhile.
    if not await asyncio.to_thread(_has_statements, content, dialect):
        raise TwinError(ErrorKind.INVALID, "Invalid request parameters", details="'content' holds no statement")
    try:
        script = await asyncio.to_thread(read_script, content, platform)
    except SqlParseError as exc:
        raise TwinError(ErrorKind.PARSE_FAILED, "Invalid syntax in SQL script", details=str(exc)) from None
    workspace = str(ctx.principal.get("workspace", "default"))
    collection = ctx.collection("assets")
    with ctx.state.transaction():
        docs: list[Mapping[str, Any]] = []
        for name in script.dropped:  # a lineage service forgets what the script drops
            if collection.find(f"{workspace}/{name}") is not None:
                collection.delete(f"{workspace}/{name}")
        for asset in script.assets:
            key = f"{workspace}/{asset.name}"
            previous = collection.find(key)
            docs.append(
                {
                    **asset.to_dict(),
                    "key": key,
                    "workspace": workspace,
                    "platform": platform.strip().lower(),
                    "version": (previous or {}).get("version", 0) + 1,
                }
            )
        added, modified = collection.upsert_many(docs)
    message = f"Successfully ingested {added + modified} assets [{added} added, {modified} modified]"
    return Reply({"success": True, "message": message})


def _has_statements(content: str, dialect: str | None) -> bool:
    """False for content that is blank or only comments and semicolons."""
    try:
        tokens = sqlglot.tokenize(content, read=dialect)
    except TokenError:
        return True  # something is there; the parser will say what is wrong with it
    return any(token.token_type != TokenType.SEMICOLON for token in tokens)
