"""The registry: one declarative record per twin. Adding an API means a spec, fixtures, a record here and
perhaps a behaviour module, and no change to the engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from apitwin.auth import (
    Authorizer,
    CredentialReader,
    DomainPermissions,
    KeysCollection,
    RateLimit,
    apikey_header_or_query,
    organization_key,
    project_privileges,
    whole_value,
)
from apitwin.behaviours import Behaviours
from apitwin.errors import ErrorShape, automation_error, dataiku_error, datascale_error, datascaphe_error
from apitwin.spec import FIXTURES_DIR, SPECS_DIR


@dataclass(frozen=True)
class Document:
    """Another API document a twin serves, at a base path of its own, on the twin's state, credentials, behaviours
    and error shape (Huwise's Portal API beside its Automation API): a second mount of the same twin."""

    name: str  # tells it from the twin's main document (connexion's API name: <twin>.<name>)
    spec_file: str
    base_path: str  # the real service's base path for this document

    @property
    def spec_path(self) -> Path:
        return SPECS_DIR / self.spec_file


@dataclass(frozen=True)
class Twin:
    name: str  # also its URL prefix when every twin is served together
    title: str
    spec_file: str
    base_path: str  # the real service's base path
    error_shape: ErrorShape
    behaviours_module: str  # imported when the app is built
    read_credential: CredentialReader = whole_value
    roles: tuple[str, ...] = ()  # ranked lowest first; empty when the API has no roles
    authorizer: Authorizer | None = None  # when access is not a ranking of roles (see auth.py)
    permissions: DomainPermissions | None = None  # when access follows the domain's users, groups and rulesets
    rate_limit: RateLimit | None = None
    malformed_credentials: str = "Malformed credentials"
    invalid_credentials: str = "Invalid credentials"
    auth_hint: str = "Authorization: {credential}"  # how a client sends the credential
    base_path_aliases: tuple[str, ...] = ()  # other real base paths that serve the same API
    response_headers: Mapping[str, str] = field(default_factory=dict)  # sent with every answer
    untyped_body_is: str | None = None  # media type of a request body sent without Content-Type
    form_body_may_be_json: bool = False  # a form-urlencoded body that is JSON is read as JSON (curl -d '{...}')
    # A request presenting several credentials (a header and a query key) is refused when any is bad, as a
    # service that checks every authenticator in turn does (Django REST framework), not served on the good one.
    every_credential_checked: bool = False
    keys: KeysCollection | None = None  # credentials kept in a collection of the twin, managed through its API
    max_behaviours: int | None = None  # ceiling on operations served by behaviours (`apitwin lint` enforces it)
    documents: tuple[Document, ...] = ()  # other documents served at their own base paths, sharing the twin's state

    @property
    def spec_path(self) -> Path:
        return SPECS_DIR / self.spec_file

    @property
    def fixtures_path(self) -> Path:
        return FIXTURES_DIR / f"{self.name}.json"

    def behaviours(self) -> Behaviours:
        import importlib

        registry = importlib.import_module(self.behaviours_module).behaviours
        assert isinstance(registry, Behaviours)
        return registry

    def credential_header(self, credential: str) -> dict[str, str]:
        """The header that sends a credential the way this API takes it, e.g. {"Authorization": "Bearer x"}."""
        name, _, value = self.auth_hint.format(credential=credential).partition(":")
        return {name.strip(): value.strip()}

    def mount_path(self, prefixed: bool, base_path: str | None = None) -> str:
        base = self.base_path if base_path is None else base_path
        return f"/{self.name}{base}" if prefixed else base


_RULESETS = {  # the items whose rulesets grant permissions on them, by the path parameter naming the item
    "dataset_uid": ("dataset_user_rulesets", "dataset_group_rulesets"),
    "connection_uid": ("connection_user_rulesets", "connection_group_rulesets"),
    "studio_page_uid": ("studio_page_user_rulesets", "studio_page_group_rulesets"),
    "page_slug": ("code_editor_page_user_rulesets", "code_editor_page_group_rulesets"),
}
_OPENDATASOFT = Twin(
    name="opendatasoft",
    title="Opendatasoft Automation API",
    spec_file="opendatasoft.yaml",
    base_path="/api/automation/v1.0",
    error_shape=automation_error,
    behaviours_module="apitwin.behaviours.automation",
    read_credential=apikey_header_or_query,
    every_credential_checked=True,
    keys=KeysCollection("apikeys"),
    permissions=DomainPermissions(rulesets=_RULESETS),
    max_behaviours=40,  # of 181 operations: the rest is the engine's (STYLE.md's budget)
    malformed_credentials="Authentication credentials were not provided.",
    invalid_credentials="Incorrect authentication credentials.",
    auth_hint="Authorization: apikey {credential}",
)

TWINS: Mapping[str, Twin] = {
    twin.name: twin
    for twin in (
        Twin(
            name="datascaphe",
            title="Datascaphe Uplink API",
            spec_file="datascaphe.yaml",
            base_path="/api/v1",
            error_shape=datascaphe_error,
            behaviours_module="apitwin.behaviours.datascaphe",
            read_credential=organization_key,
            roles=("viewer", "developer", "administrator"),
            # The document's own samples send JSON with curl -d and no Content-Type, which curl sends as
            # application/x-www-form-urlencoded: the service evidently reads them as JSON.
            form_body_may_be_json=True,
            malformed_credentials="The Authorization header must be {organization code}:{api key}",
            invalid_credentials="Your API key is wrong",
        ),
        Twin(
            name="datascale",
            title="Datascale ingest API",
            spec_file="datascale.yaml",
            base_path="/v1",
            error_shape=datascale_error,
            behaviours_module="apitwin.behaviours.datascale",
            rate_limit=RateLimit(requests=100, window_seconds=300),
            malformed_credentials="Invalid or missing API token",
            invalid_credentials="Invalid or missing API token",
            auth_hint="Authorization: Bearer {credential}",
        ),
        Twin(
            name="dataiku",
            title="Dataiku DSS public API",
            spec_file="dataiku.yaml",
            base_path="/dip/publicapi",  # where the official client sends every call
            base_path_aliases=("/public/api",),  # the base path Dataiku's reference documentation gives
            error_shape=dataiku_error,
            behaviours_module="apitwin.behaviours.dataiku",
            authorizer=project_privileges("projectKey"),
            response_headers={"DSS-API-Version": "1", "DSS-Version": "14.3.0"},
            untyped_body_is="application/json",  # the official client sends JSON without a Content-Type
            malformed_credentials="No API key in the request",
            invalid_credentials="Unknown API Key",
            auth_hint="Authorization: Bearer {credential}",
        ),
        _OPENDATASOFT,
        # Opendatasoft's API under its newer brand: the same common spec files, behaviours, auth and error shape
        replace(
            _OPENDATASOFT,
            name="huwise",
            title="Huwise Automation API",
            spec_file="huwise.yaml",
            max_behaviours=50,  # Opendatasoft's 40 and at most 10 for the Huwise-only operations (STYLE.md)
            # its forms' rulesets too (security.yaml)
            permissions=DomainPermissions(
                rulesets={**_RULESETS, "form_uid": ("form_user_rulesets", "form_group_rulesets")}
            ),
            # new form submissions arrive through the Portal API (huwise/portal.yaml's header)
            documents=(Document(name="portal", spec_file="huwise/portal.yaml", base_path="/api/portal/v1.0"),),
        ),
    )
}


def select(names: list[str] | tuple[str, ...] | None) -> list[Twin]:
    """The twins named (all when none), in registry order; unknown names raise KeyError."""
    if not names:
        return list(TWINS.values())
    unknown = sorted(set(names) - set(TWINS))
    if unknown:
        raise KeyError(f"unknown twin(s) {unknown}; known: {sorted(TWINS)}")
    return [twin for name, twin in TWINS.items() if name in names]
