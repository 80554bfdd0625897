"""Content negotiation, XML rendering, rate limiting and roles."""

from __future__ import annotations

import contextvars
import xml.etree.ElementTree as ElementTree

import pytest

from apitwin.auth import Authenticator, RateLimit, RateLimiter, organization_key, project_privileges, ranked_roles
from apitwin.clock import Clock
from apitwin.errors import ErrorKind, TwinError
from apitwin.rendering import JSON, XML, negotiate, to_xml
from apitwin.store import Store


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSON),
        ("*/*", JSON),
        ("application/xml", XML),
        ("text/xml", XML),
        ("application/json;q=0.5, application/xml", XML),
        ("application/*", JSON),
        ("text/csv", None),
        ("application/xml;q=0", None),
    ],
)
def test_negotiation(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept, (JSON, XML)) == expected


def test_xml_uses_the_schema_names() -> None:
    schema = {"xml": {"name": "reports"}, "items": {"xml": {"name": "report"}, "properties": {}}}
    root = ElementTree.fromstring(to_xml([{"id": 1, "name": None, "ok": True}], schema))
    assert root.tag == "reports" and root[0].tag == "report"
    assert [(c.tag, c.text) for c in root[0]] == [("id", "1"), ("name", None), ("ok", "true")]


def test_rate_limit_parse() -> None:
    assert RateLimit.parse("100/300") == RateLimit(100, 300)
    for bad in ("100", "0/5", "x/y", "5/-1"):
        with pytest.raises(ValueError):
            RateLimit.parse(bad)


def test_sliding_window_counts_per_key() -> None:
    clock = Clock()
    clock.freeze()
    limiter = RateLimiter(RateLimit(2, 10), clock)
    limiter.hit("a")
    clock.advance(5)
    limiter.hit("a")
    limiter.hit("b")
    with pytest.raises(TwinError) as info:
        limiter.hit("a")
    assert info.value.kind is ErrorKind.RATE_LIMITED and info.value.headers["Retry-After"] == "5"
    clock.advance(5)
    limiter.hit("a")  # the first hit left the window


def test_organization_key_needs_both_parts() -> None:
    assert organization_key("apiKey", "org:key") == "org:key"
    assert organization_key("apiKey", "org:") is None and organization_key("apiKey", "key") is None


def test_roles_rank_in_declared_order() -> None:
    authorizer = ranked_roles(("viewer", "developer", "administrator"))
    auth = Authenticator("t", Store(), RateLimiter(None, Clock()), authorizer=authorizer)
    auth.authorize({"role": "administrator"}, "developer")
    with pytest.raises(TwinError) as info:
        auth.authorize({"role": "viewer"}, "developer")
    assert info.value.kind is ErrorKind.FORBIDDEN


def test_project_privileges_are_scoped_to_the_project() -> None:
    authorize = project_privileges("projectKey")
    key = {"projects": {"SALES": ["READ_CONF"], "OPS": ["ADMIN"]}, "privileges": ["RUN_CODE"]}
    authorize(key, "READ_CONF", {"projectKey": "SALES"})
    authorize(key, "WRITE_CONF", {"projectKey": "OPS"})  # project admin implies every project privilege
    authorize(key, "RUN_CODE", {})
    authorize({"admin": True}, "GLOBAL_ADMIN", {})
    for required, path in (
        ("WRITE_CONF", {"projectKey": "SALES"}),
        ("READ_CONF", {"projectKey": "HR"}),
        ("GLOBAL_ADMIN", {}),
    ):
        with pytest.raises(TwinError) as info:
            authorize(key, required, path)
        assert info.value.kind is ErrorKind.FORBIDDEN


def test_xml_stays_well_formed_whatever_the_text_holds() -> None:
    text = "bell\x07 nul\x00 esc\x1b tab\t newline\n surrogate\ud800 end"
    parsed = ElementTree.fromstring(to_xml({"name": text}, {}))
    assert parsed.findtext("name") == "bell\ufffd nul\ufffd esc\ufffd tab\t newline\n surrogate\ufffd end"


@pytest.mark.parametrize(
    ("where", "sent", "key"),
    [
        ("header", "apikey K1", "K1"),
        ("header", "ApiKey K1", "K1"),
        ("header", "APIKEY  K1", "K1"),
        ("header", "K1", None),  # the header needs its scheme word
        ("header", "apikey", None),
        ("header", "Bearer K1", None),
        ("query", "K1", "K1"),  # the query parameter is the key alone
        ("query", "apikey K1", None),
    ],
)
def test_automation_api_keys_are_read_with_the_scheme_word_in_any_case(where: str, sent: str, key: str | None) -> None:
    from apitwin.auth import apikey_header_or_query

    assert apikey_header_or_query(f"apiKey/{where}", sent) == key


def test_automation_errors_are_drf_shaped_with_per_field_detail() -> None:
    from apitwin.errors import automation_error

    missing = automation_error(TwinError(ErrorKind.NOT_FOUND, "dataset da_x not found"))
    assert missing == {"error_code": "not_found", "message": "Not found."}
    invalid = automation_error(TwinError(ErrorKind.INVALID, "dup", field_errors={"dataset_id": ["already used"]}))
    assert invalid == {
        "error_code": "validation_error",
        "message": "Invalid input",
        "detail": {"dataset_id": ["already used"]},
    }
    assert automation_error(TwinError(ErrorKind.UNAUTHENTICATED, "no key"))["error_code"] == "authentication_failed"


def test_a_key_of_a_keys_collection_acts_for_its_user() -> None:
    from apitwin.auth import KeysCollection

    store = Store()
    store.put("t/apikeys", "ak_1", {"uid": "ak_1", "key": "K1", "label": "CI", "user": {"username": "louise.data"}})
    store.put("t/apikeys", "ak_2", {"uid": "ak_2", "key": "K2", "label": "old", "is_revoked": True})
    auth = Authenticator("t", store, RateLimiter(None, Clock()), keys=KeysCollection("apikeys"))
    principal = auth.authenticate("apiKey/query", "K1")
    assert (principal["username"], principal["name"]) == ("louise.data", "CI")
    # in a context of its own, as each request has: the refusal it notes must not outlive this test
    refused = contextvars.copy_context().run(_refusal, auth, "K2")
    assert refused.kind is ErrorKind.UNAUTHENTICATED


def _refusal(auth: Authenticator, key: str) -> TwinError:
    with pytest.raises(TwinError) as refused:
        auth.authenticate("apiKey/query", key)
    return refused.value
