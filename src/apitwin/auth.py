"""Who is calling: each twin's credentials, roles and rate limit, plugged into connexion's security layer.

Credentials live in the store (table `<twin>/credentials`, seeded from fixtures), so a reset restores them.
connexion extracts the credential as the spec's security scheme says (header API key, bearer token, basic
user/password); `Authenticator` decides who that is, or answers 401, or 429 past the rate limit.
"""

from __future__ import annotations

import collections
import contextvars
import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from apitwin.clock import Clock
from apitwin.engine.schemas import dig
from apitwin.errors import ErrorKind, TwinError
from apitwin.store import StoreBackend

Principal = Mapping[str, Any]
CREDENTIALS = "credentials"


@dataclass(frozen=True)
class RateLimit:
    requests: int
    window_seconds: float

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """'100/300' means 100 requests per 300 seconds."""
        try:
            count, window = text.split("/", 1)
            limit = cls(int(count), float(window))
        except ValueError:
            raise ValueError(f"a rate limit is REQUESTS/SECONDS, e.g. 100/300, not {text!r}") from None
        if limit.requests < 1 or limit.window_seconds <= 0:
            raise ValueError("a rate limit needs at least 1 request and a positive window")
        return limit


class RateLimiter:
    """Sliding window per credential, on the twin's clock."""

    def __init__(self, limit: RateLimit | None, clock: Clock) -> None:
        self.limit = limit
        self._clock = clock
        self._hits: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)

    def hit(self, key: str) -> None:
        if self.limit is None:
            return
        now = self._clock.timestamp()
        hits = self._hits[key]
        while hits and hits[0] <= now - self.limit.window_seconds:
            hits.popleft()
        if len(hits) >= self.limit.requests:
            retry_after = max(1, math.ceil(hits[0] + self.limit.window_seconds - now))
            raise TwinError(
                ErrorKind.RATE_LIMITED,
                "Too many requests",
                details=f"The limit is {self.limit.requests} requests per {self.limit.window_seconds:g} seconds",
                headers={"Retry-After": str(retry_after)},
            )
        hits.append(now)

    def reset(self) -> None:
        self._hits.clear()


# Set when a credential the request presents is refused, even if another one it presents is accepted (connexion
# accepts a request when any of the spec's security alternatives does). Read by twins whose service refuses
# a request with any bad credential (`Twin.every_credential_checked`). Each request runs in a task of its own,
# so the value never leaks into the next request.
REFUSED_CREDENTIAL: contextvars.ContextVar[str | None] = contextvars.ContextVar("refused_credential", default=None)

CredentialReader = Callable[[str, Any], str | None]
"""Turns what connexion extracted for a scheme kind ('apiKey/header', 'apiKey/query', 'bearer', 'basic') into the
credential string stored for the twin, or None when it is malformed."""


def whole_value(kind: str, extracted: Any) -> str | None:
    if kind == "basic":
        username, password = extracted
        return str(username or password) or None  # the key as user name, or as password
    return str(extracted) if extracted else None


def organization_key(kind: str, extracted: Any) -> str | None:
    """Datascaphe: `{organization code}:{api key}`, both parts present."""
    value = str(extracted or "")
    org, sep, key = value.partition(":")
    return value if sep and org.strip() and key.strip() else None


_APIKEY = re.compile(r"apikey\s+(\S+)", re.IGNORECASE)


def apikey_header_or_query(kind: str, extracted: Any) -> str | None:
    """Opendatasoft/Huwise: `Authorization: apikey KEY` (the scheme word in any case, as clients send it) or
    `?apikey=KEY`. A header without the word is malformed, as the document's scheme says."""
    value = str(extracted or "").strip()
    if kind == "apiKey/query":
        return value if value and " " not in value else None
    matched = _APIKEY.fullmatch(value)
    return matched.group(1) if matched else None


Authorizer = Callable[[Principal, str, Mapping[str, Any]], None]
"""Raises FORBIDDEN unless the caller (principal) may do what an operation `requires`, given its path
parameters."""


def ranked_roles(order: Sequence[str]) -> Authorizer:
    """Roles ranked lowest first: a role may do what any lower role may (Datascaphe's viewer < developer <
    administrator)."""

    def authorize(principal: Principal, required: str, path: Mapping[str, Any]) -> None:
        held = principal.get("role")
        if held not in order or order.index(held) < order.index(required):
            raise TwinError(ErrorKind.FORBIDDEN, f"This action needs the {required} role; your API key is {held}")

    return authorize


def project_privileges(
    project_param: str, global_admin: str = "GLOBAL_ADMIN", project_admin: str = "ADMIN"
) -> Authorizer:
    """Keys that are global admins may do anything; other keys hold privileges per project
    (`{"projects": {KEY: [READ_CONF, ...]}}`, project ADMIN implying all) and global ones (`privileges`)."""

    def authorize(principal: Principal, required: str, path: Mapping[str, Any]) -> None:
        if principal.get("admin"):
            return
        held: set[str] = set(principal.get("privileges", []))
        project = path.get(project_param)
        if project is not None:
            held |= set(principal.get("projects", {}).get(str(project), []))
        if required != global_admin and (required in held or (project is not None and project_admin in held)):
            return
        scope = f" on project {project}" if project is not None and required != global_admin else ""
        raise TwinError(ErrorKind.FORBIDDEN, f"Action forbidden: this API key lacks {required}{scope}")

    return authorize


@dataclass(frozen=True)
class KeysCollection:
    """Where a twin whose API manages its own keys keeps them: a collection of the twin (so a key created
    through the API authenticates at once), the field holding the secret, and the one that revokes it."""

    collection: str
    key_field: str = "key"
    revoked_field: str = "is_revoked"
    name_field: str = "label"
    owner_field: str | None = "user.username"  # the key's user: the caller, as created_by/updated_by record it

    def find(self, store: StoreBackend, twin: str, credential: str) -> dict[str, Any] | None:
        keys = store.scan(f"{twin}/{self.collection}")  # per request: read in place, only the match copied
        found = next((doc for doc in keys if doc.get(self.key_field) == credential), None)
        return None if found is None else dict(found)

    def all(self, store: StoreBackend, twin: str) -> list[dict[str, Any]]:
        return store.all(f"{twin}/{self.collection}")


@dataclass(frozen=True)
class DomainPermissions:
    """Who may do what on a domain whose people live in the twin's own collections (the Automation APIs): a
    request's key must hold the permission an operation requires (x-twin `requires`), and so must the key's user,
    directly, through one of its groups, or, on an item such as a dataset, through a ruleset of that item for the
    user or one of its groups. The domain's administrator permission stands for every other."""

    administrator: str = "edit_domain"
    users: str = "users"
    groups: str = "groups"
    members: str = "group_members"
    rulesets: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # path parameter -> (user, group) rulesets

    def authorizer(self, store: StoreBackend, twin: str) -> Authorizer:
        def authorize(principal: Principal, required: str, path: Mapping[str, Any]) -> None:
            key_holds = self._holds(set(principal.get("permissions") or []), required)
            if not key_holds or not self._holds(self._granted(store, twin, principal.get("username"), path), required):
                raise TwinError(ErrorKind.FORBIDDEN, "You do not have permission to perform this action.")

        return authorize

    def _holds(self, permissions: set[str], required: str) -> bool:
        return required in permissions or self.administrator in permissions

    def _granted(self, store: StoreBackend, twin: str, username: Any, path: Mapping[str, Any]) -> set[str]:
        """What a user holds: its own permissions, its groups', and on the items the path names, its rulesets'."""
        user = store.get(f"{twin}/{self.users}", str(username)) if username else None
        if user is None:
            return set()
        groups = [
            group
            for group in store.scan(f"{twin}/{self.groups}")
            if store.get(f"{twin}/{self.members}", f"{group['uid']}/{username}") is not None
        ]
        granted = set(user.get("permissions") or [])
        for group in groups:
            granted |= set(group.get("permissions") or [])
        for parameter, (user_rulesets, group_rulesets) in self.rulesets.items():
            if parameter not in path:
                continue
            item = path[parameter]
            own = store.get(f"{twin}/{user_rulesets}", f"{item}/{username}")
            granted |= set((own or {}).get("permissions") or [])
            for group in groups:
                through = store.get(f"{twin}/{group_rulesets}", f"{item}/{group['uid']}")
                granted |= set((through or {}).get("permissions") or [])
        return granted


class Authenticator:
    def __init__(
        self,
        twin: str,
        store: StoreBackend,
        limiter: RateLimiter,
        read_credential: CredentialReader = whole_value,
        authorizer: Authorizer | None = None,
        malformed_message: str = "Malformed credentials",
        invalid_message: str = "Invalid credentials",
        keys: KeysCollection | None = None,
    ) -> None:
        self.twin = twin
        self._store = store
        self._limiter = limiter
        self._read = read_credential
        self._authorizer = authorizer
        self._malformed = malformed_message
        self._invalid = invalid_message
        self._keys = keys

    def authenticate(self, kind: str, extracted: Any) -> dict[str, Any]:
        credential = self._read(kind, extracted)
        if credential is None:
            REFUSED_CREDENTIAL.set(self._malformed)
            raise TwinError(ErrorKind.UNAUTHENTICATED, self._malformed)
        if self._keys is not None:
            key = self._keys.find(self._store, self.twin, credential)
            usable = key is not None and not key.get(self._keys.revoked_field)
            record: Mapping[str, Any] | None = None
            if key is not None and usable:
                owner = dig(key, self._keys.owner_field) if self._keys.owner_field else None
                record = {**key, "name": key.get(self._keys.name_field), "username": owner}
        else:
            record = self._store.read(f"{self.twin}/{CREDENTIALS}", credential)
        if record is None or not record.get("active", True):
            REFUSED_CREDENTIAL.set(self._invalid)
            raise TwinError(ErrorKind.UNAUTHENTICATED, self._invalid)
        self._limiter.hit(credential)
        return {**record, "sub": record.get("name", "caller")}

    def authorize(self, principal: Principal, required: str | None, path: Mapping[str, Any] | None = None) -> None:
        """FORBIDDEN unless the caller may do what the operation requires."""
        if required is not None and self._authorizer is not None:
            self._authorizer(principal, required, path or {})

    def permits(self, principal: Principal, required: str, path: Mapping[str, Any]) -> bool:
        try:
            self.authorize(principal, required, path)
        except TwinError:
            return False
        return True


def security_map(authenticator: Callable[[], Authenticator]) -> dict[str, type]:
    """connexion security handler classes whose check is the `authenticator()` of the moment (the request's
    session's), one per scheme kind."""
    from connexion.security import ApiKeySecurityHandler, BasicSecurityHandler, BearerSecurityHandler

    def verifier(kind: str) -> Callable[..., dict[str, Any]]:
        if kind == "basic":
            return lambda username, password, **_: authenticator().authenticate(kind, (username, password))
        return lambda value, *_, **__: authenticator().authenticate(kind, value)

    def handler(base: type, kind: str) -> type:
        def resolve(self: object, scheme: Mapping[str, Any]) -> Callable[..., dict[str, Any]]:
            # an API key says where it travelled (apiKey/header, apiKey/query): some APIs read them differently
            return verifier(f"{kind}/{scheme.get('in')}" if kind == "apiKey" else kind)

        # connexion asks twice per request whether the verifier takes a keyword, through inspect.signature
        accepts = staticmethod(functools.cache(base._accepts_kwarg))  # type: ignore[attr-defined]
        # `twin_verifier`: the verifier is apitwin's (credential in, principal out), which stack.CredentialCheck calls
        members = {"_resolve_func": resolve, "_accepts_kwarg": accepts, "twin_verifier": True}
        return type(f"Twin{base.__name__}", (base,), members)

    return {
        "apiKey": handler(ApiKeySecurityHandler, "apiKey"),
        "bearer": handler(BearerSecurityHandler, "bearer"),
        "basic": handler(BasicSecurityHandler, "basic"),
    }
