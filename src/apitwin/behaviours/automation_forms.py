"""Huwise's forms (huwise/only.yaml and huwise/portal.yaml, whose headers hold every decision): what CRUD cannot
express.

The engine serves the forms, their content versions, submissions and rulesets as collections, the forms' list
filters, and their publication as a machine; these behaviours add a new form's first draft, the draft being the
only version written, the submissions' multipart `data`, their list's `ordering` and `expand`, the Portal's
submission (served at the Huwise twin's second base path), and what publishing does to the versions (an effect).
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from apitwin.behaviours.automation import behaviours
from apitwin.behaviours.automation_huwise import with_users_expanded
from apitwin.engine import Collection, OperationContext, Reply, handle
from apitwin.errors import ErrorKind, TwinError

_NOT_JSON = "Expecting a JSON object of the submitted values"


def _versions(forms: Collection, form_uid: Any) -> Collection:
    """A form's content versions, written on behalf of whoever writes the form."""
    return Collection(forms.state, forms.state.definitions["form_versions"], form_uid, forms.caller)


@behaviours.operation("createForm")
def create_form(ctx: OperationContext) -> Reply:
    """A new form comes with its first draft, version 1, in the same transaction."""
    with ctx.state.transaction():
        reply = handle(ctx)
        form = reply.body
        content = {
            "default_language": "en",
            "title": {"en": form["title"]},
            "ending": {},
            "sections": [],
            "enable_notifications_on_submission": form["enable_notifications_on_submission"],
        }
        _versions(ctx.collection(), form["uid"]).create({"content": content}, version=1)
    return reply


@behaviours.effect("form_publication")
def form_publication(forms: Collection, form: Mapping[str, Any]) -> dict[str, Any]:
    """Publishing makes the draft the published version and opens the next draft (a copy of it), in the action's
    transaction; the form says when and by whom it was (first) published."""
    versions = _versions(forms, form["uid"])
    draft = next((version for version in reversed(versions.views()) if version.get("is_draft")), None)
    if draft is None:  # every form has one (its creation opens it); never a StopIteration on the writer thread
        raise TwinError(ErrorKind.INVALID, "The form has no draft to publish.", code="bad_request")
    number = int(draft["version"])
    versions.set(number, {"is_draft": False, "is_published": True})
    versions.create({"content": copy.deepcopy(draft["content"])}, version=number + 1)
    now = forms.state.timestamp()
    published = {"published_at": now, "published_by": {"username": forms.caller}}
    return {"set": {**published, "first_published_at": form.get("first_published_at") or now}}


@behaviours.operation("updateFormDraft")
def update_form_draft(ctx: OperationContext) -> Reply:
    """Only the draft is written: a version once published is read-only."""
    version = ctx.collection().get(ctx.item_id)
    if not version.get("is_draft"):
        message = f"Only a draft can be updated; version {version['version']} is published."
        raise TwinError(ErrorKind.INVALID, message, code="bad_request")
    return handle(ctx)


def _submitted(body: Any) -> dict[str, Any]:
    """The submission's values: the multipart `data` field, a JSON object as a string (400 naming `data` else)."""
    raw = body.get("data") if isinstance(body, Mapping) else None
    try:
        values = json.loads(raw) if isinstance(raw, str | bytes) else None
    except ValueError:
        values = None
    if not isinstance(values, dict):
        raise TwinError(ErrorKind.INVALID, f"data: {_NOT_JSON}", field_errors={"data": [_NOT_JSON]})
    return values


@behaviours.operation("updateFormSubmission")
def update_form_submission(ctx: OperationContext) -> Reply:
    """`data` replaces the submission's content whole; the engine records who updated it and when."""
    submissions = ctx.collection()
    return Reply(submissions.public(submissions.update(ctx.item_id, {"content": _submitted(ctx.body)})))


@behaviours.operation("listFormSubmissions")
def list_form_submissions(ctx: OperationContext) -> Reply:
    """`ordering` orders by creation date when `sort` is not given; `expand` shows the whole users."""
    query = dict(ctx.query)
    if not query.get("sort") and query.get("ordering") == "desc":
        query["sort"] = "-created_at"
    ctx.query = query
    return with_users_expanded(ctx, handle(ctx))


@behaviours.operation("submitForm")
def submit_form(ctx: OperationContext) -> Reply:
    """The Portal's submission to the published form of that slug: no key needed for an open form, a key for the
    others, and for a restricted one submit_private_form (the key's user's own, its groups' or the form's
    rulesets')."""
    forms = ctx.collection("forms")
    slug = ctx.path["slug"]
    form = next((f for f in forms.views() if f.get("slug") == slug and f.get("has_published_version")), None)
    if form is None:
        raise TwinError(ErrorKind.NOT_FOUND, "Not found.")
    if form["access_type"] != "open" and not ctx.principal:
        raise TwinError(ErrorKind.UNAUTHENTICATED, "Authentication credentials were not provided.")
    if form["access_type"] == "restricted":
        ctx.require("submit_private_form", {"form_uid": form["uid"]})
    values = _submitted(ctx.body)
    published = [v for v in _versions(forms, form["uid"]).views() if v.get("is_published")]
    uid = str(uuid.uuid4())
    link = None
    if form.get("enable_frontoffice_submission_edition"):
        origin = urlsplit(ctx.url)
        link = f"{origin.scheme}://{origin.netloc}/forms/{slug}/submissions/{uid}/"
    submissions = Collection(ctx.state, ctx.state.definitions["form_submissions"], form["uid"], ctx.caller)
    made = submissions.create(
        {"content": values},
        uid=uid,
        lang=published[-1]["content"].get("default_language") if published else None,
        status="pending" if form.get("enable_moderation") else "approved",
        change_request_link=link,
        created_by={"username": ctx.caller} if ctx.principal else None,
        updated_by=None,
    )
    return Reply(submissions.public(made), ctx.route.success_status)
