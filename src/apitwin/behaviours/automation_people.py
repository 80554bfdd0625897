"""The domain's people (specs/common/people.yaml, whose header holds every decision): what CRUD cannot express.

The engine serves users, groups, memberships and keys as collections (a user's `groups` derived from the
memberships, a group's `user_count` counted); these behaviours add what the documents describe beyond that:
invitations and provisioning answered per payload position, the CSV export, a group's uid made from its title,
memberships answered as users, the last administrator kept, keys generated, revoked and searched.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from apitwin.behaviours.automation import behaviours
from apitwin.engine import Collection, OperationContext, Reply, handle
from apitwin.errors import ErrorKind, TwinError, automation_error

ADMIN_PERMISSION = "edit_domain"
EXPORT_COLUMNS = ("username", "last_name", "first_name", "email", "date_joined", "last_seen", "groups", "permissions")


def _per_position(items: list[Any], each: Callable[[Any], Mapping[str, Any]]) -> dict[str, Any]:
    """The API's bulk answer: for each item of the payload, by its position, its outcome; one item's error does
    not stop the others (and takes back only its own writes)."""
    outcomes: dict[str, Any] = {}
    for position, item in enumerate(items):
        try:
            outcomes[str(position)] = {"status_code": "success", "data": dict(each(item))}
        except TwinError as error:
            outcomes[str(position)] = {"status_code": "error", "error": dict(automation_error(error))}
    return outcomes


def _user_view(ctx: OperationContext, username: str) -> dict[str, Any]:
    users = ctx.collection("users")
    return dict(users.public(users.get(username)))


def _new_user(ctx: OperationContext, given: Mapping[str, Any], account_type: str, providers: list[Any]) -> Any:
    """A user as invitation or provisioning makes one (people.yaml's header: what the server sets)."""
    users = ctx.collection("users")
    email = str(given.get("email") or "")
    if any(other.get("email") == email for other in users.views()):
        message = "A user with this email already exists."
        raise TwinError(ErrorKind.INVALID, f"email: {message}", field_errors={"email": [message]})
    wanted = email.split("@")[0].lower() or "user"
    username = given.get("username") or _free(wanted, {u["username"] for u in users.views()})
    groups = _group_uids(ctx, given.get("groups") or [])
    with ctx.state.transaction():
        body = {key: value for key, value in given.items() if key not in ("groups", "identity_provider")}
        digest = hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()
        users.create(
            {**body, "username": username},
            display_name=username,
            account_type=account_type,
            identity_providers=providers,
            gravatar_url=f"//www.gravatar.com/avatar/{digest}?d=mm&s=80",
        )
        for uid in groups:
            _join(ctx, uid, username)
    return _user_view(ctx, username)


def _group_uids(ctx: OperationContext, groups: list[Any]) -> list[str]:
    """The uids a body's `groups` names (each group is named by its uid); 400 for one the domain lacks."""
    uids = []
    for group in groups:
        uid = group.get("uid") if isinstance(group, Mapping) else None
        if not isinstance(uid, str) or ctx.collection("groups").find(uid) is None:
            message = f"no group with id {uid}" if uid is not None else "a group is named by its uid"
            raise TwinError(ErrorKind.INVALID, f"groups: {message}", field_errors={"groups": [message]})
        uids.append(uid)
    return uids


def _free(wanted: str, taken: set[str], separator: str = "") -> str:
    """`wanted`, or with 2, 3, ... appended (after `separator`) when taken."""
    name, number = wanted, 2
    while name in taken:
        name, number = f"{wanted}{separator}{number}", number + 1
    return name


def _join(ctx: OperationContext, group_uid: str, username: str) -> None:
    members = ctx.collection("group_members").under(group_uid)
    if members.find(username) is None:
        members.create({"username": username})


@behaviours.operation("inviteUsers")
def invite_users(ctx: OperationContext) -> Reply:
    return Reply(_per_position(list(ctx.body or []), lambda user: _new_user(ctx, user, "global", [])))


@behaviours.operation("provisionUsers")
def provision_users(ctx: OperationContext) -> Reply:
    """One user or several (people.yaml's header), each linked to its identity provider."""
    given = ctx.body if isinstance(ctx.body, list) else [ctx.body or {}]

    def provision(user: Mapping[str, Any]) -> Any:
        provider = user.get("identity_provider") or {}
        return _new_user(ctx, user, "linked", [{"uid": provider.get("uid")}])

    return Reply(_per_position(given, provision))


@behaviours.operation("updateUser")
def update_user(ctx: OperationContext) -> Reply:
    """A PUT's `groups` sets the user's memberships; without it they stay (the username is never renamed)."""
    body = dict(ctx.body or {})
    wanted = body.pop("groups", None)
    username = ctx.item_id
    with ctx.state.transaction():
        users = ctx.collection("users")
        users.replace(username, {**body, "username": username})
        if wanted is not None:
            uids = _group_uids(ctx, wanted)
            for group in ctx.collection("groups").views():
                members = ctx.collection("group_members").under(group["uid"])
                if group["uid"] in uids:
                    _join(ctx, group["uid"], username)
                elif members.find(username) is not None:
                    members.delete(username)
        _keep_an_administrator(ctx)
    return Reply(_user_view(ctx, username))


def _keep_an_administrator(ctx: OperationContext) -> None:
    """The domain keeps an administrator: a change that leaves none (a demotion, a deletion) is refused whole."""
    if not any(ADMIN_PERMISSION in _permissions(ctx, user) for user in ctx.collection("users").views()):
        raise TwinError(ErrorKind.INVALID, "Removing the only domain administrator is not allowed.")


@behaviours.operation("deleteUser")
def delete_user(ctx: OperationContext) -> Reply:
    """A deleted user leaves every group; the domain keeps an administrator."""
    username = ctx.item_id
    users = ctx.collection("users")
    users.get(username)
    with ctx.state.transaction():
        for group in ctx.collection("groups").views():
            members = ctx.collection("group_members").under(group["uid"])
            if members.find(username) is not None:
                members.delete(username)
        users.delete(username)
        _keep_an_administrator(ctx)
    return Reply(None, ctx.route.success_status)


def _permissions(ctx: OperationContext, user: Mapping[str, Any]) -> set[str]:
    """What a user holds, directly or through its groups."""
    held = set(user.get("permissions") or [])
    for group in ctx.collection("groups").views():
        if ctx.collection("group_members").under(group["uid"]).find(user["username"]) is not None:
            held |= set(group.get("permissions") or [])
    return held


@behaviours.operation("exportUsers")
def export_users(ctx: OperationContext) -> Reply:
    delimiter = str(ctx.query.get("delimiter") or ",")
    titles = {group["uid"]: group.get("title") or group["uid"] for group in ctx.collection("groups").views()}
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    users = ctx.collection("users")
    for user in users.views():
        groups = sorted(titles[g["uid"]] for g in users.derived(user)["groups"] if g["uid"] in titles)
        writer.writerow([
            user["username"], user.get("last_name") or "", user.get("first_name") or "", user.get("email") or "",
            _csv_date(user.get("joined_at")), _csv_date(user.get("last_seen_at")),
            ";".join(groups), ";".join(sorted(user.get("permissions") or [])),
        ])  # fmt: skip
    return Reply(out.getvalue(), media_type="text/csv")


def _csv_date(value: Any) -> str:
    """The export's date form: 2022-08-19 11:43:58+00:00 (empty for never)."""
    if not value:
        return ""
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).isoformat(sep=" ")


@behaviours.operation("createUserGroup")
def create_user_group(ctx: OperationContext) -> Reply:
    """A group's uid is made from its title: lower case, each run of other characters one `_`."""
    groups = ctx.collection()
    wanted = re.sub(r"[^a-z0-9]+", "_", str((ctx.body or {}).get("title") or "").lower()).strip("_") or "group"
    uid = _free(wanted, {group["uid"] for group in groups.views()}, "_")
    return Reply(groups.public(groups.create(ctx.body, uid=uid)), ctx.route.success_status)


@behaviours.operation("listUserGroupUsers")
def list_group_users(ctx: OperationContext) -> Reply:
    """The members, as users."""
    reply = handle(ctx)
    members = [_user_view(ctx, member["username"]) for member in reply.body["results"]]
    return Reply({**reply.body, "results": members}, reply.status)


@behaviours.operation("addUserGroupUser")
def add_group_user(ctx: OperationContext) -> Reply:
    """Answered with the user; adding a member again changes nothing and answers the same."""
    username = (ctx.body or {}).get("username")
    ctx.collection("group_members")  # the group must exist: 404 otherwise
    if ctx.collection("users").find(username) is None:
        message = f"no user with id {username}"
        raise TwinError(ErrorKind.INVALID, f"username: {message}", field_errors={"username": [message]})
    _join(ctx, ctx.path["group_uid"], str(username))
    return Reply(_user_view(ctx, str(username)), ctx.route.success_status)


@behaviours.operation("batchAddUserGroupUsers")
def batch_add_group_users(ctx: OperationContext) -> Reply:
    ctx.collection("group_members")  # 404 for an unknown group, before any member

    def add(member: Mapping[str, Any]) -> Any:
        username = member.get("username")
        if ctx.collection("users").find(username) is None:
            message = f"no user with id {username}"
            raise TwinError(ErrorKind.INVALID, f"username: {message}", field_errors={"username": [message]})
        _join(ctx, ctx.path["group_uid"], str(username))
        return _user_view(ctx, str(username))

    return Reply(_per_position(list(ctx.body or []), add))


@behaviours.operation("createApiKey")
def create_api_key(ctx: OperationContext) -> Reply:
    """The secret: 56 lower-case hex characters, as the documents' keys; the key acts for its creator."""
    keys = ctx.collection()
    taken = {key.get("key") for key in keys.views()}
    secret = secrets.token_hex(28)
    while secret in taken:
        secret = secrets.token_hex(28)
    return Reply(keys.public(keys.create(ctx.body, key=secret)), ctx.route.success_status)


@behaviours.operation("revokeApiKey")
def revoke_api_key(ctx: OperationContext) -> Reply:
    """Revoked from now on (authentication refuses it); revoking again changes nothing."""
    keys = ctx.collection("apikeys")
    key = keys.get(ctx.item_id)
    if not key.get("is_revoked"):
        reason = str((ctx.body or {}).get("reason") or "")
        status = {"revoked_at": ctx.state.timestamp(), "revocation_reason": reason}
        key = keys.set(ctx.item_id, {"is_revoked": True, "revocation_status": status})
    return Reply(keys.public(key))


@behaviours.operation("searchApiKey")
def search_api_key(ctx: OperationContext) -> Reply:
    keys: Collection = ctx.collection("apikeys")
    wanted = (ctx.body or {}).get("key")
    found = next((key for key in keys.views() if key.get("key") == wanted), None)
    return Reply({"found": found is not None, "result": None if found is None else keys.public(dict(found))})
