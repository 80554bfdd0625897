"""Huwise's own operations (specs/huwise/only.yaml), over HTTP on the Huwise twin: the glossary, the user
requests, the translation suggestions and the assets' translation dictionaries; none of them is Opendatasoft's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import runtime_of
from tests.e2e.test_automation_lifecycle import TWINS, Portal


@pytest.fixture
def huwise(make_client: Any) -> Portal:
    return Portal(make_client(*TWINS), "huwise")


@pytest.mark.parametrize(
    "path",
    [
        "/glossary/terms/",
        "/glossary/terms/te_abc123/",
        "/user_requests/",
        "/i18n/suggestions/?from_language=en&to_language=fr&keys=a",
    ],
)
def test_opendatasoft_has_none_of_them(make_client: Any, path: str) -> None:
    assert Portal(make_client(*TWINS), "opendatasoft").get(path).status_code == 404


def test_glossary_terms_are_ordered_searched_and_named_once(huwise: Portal) -> None:
    names = [term["name"] for term in huwise.get("/glossary/terms/?ordering=-name").json()["results"]]
    assert names == sorted(names, reverse=True) and len(names) == 6
    found = huwise.get("/glossary/terms/?search=programming").json()
    assert [term["uid"] for term in found["results"]] == ["te_abc123"]
    created = huwise.post("/glossary/terms/", {"name": "SDMX"})
    assert created.status_code == 201, created.text
    term = created.json()
    assert term["uid"].startswith("te_") and term["description"] == "" and term["aliases"] == []
    assert term["created_by"] == {"username": "admin"}
    assert huwise.post("/glossary/terms/", {"name": "SDMX"}).status_code == 400
    replaced = huwise.put(f"/glossary/terms/{term['uid']}/", {"name": "SDMX", "aliases": ["sdmx"]})
    assert replaced.status_code == 200 and replaced.json()["aliases"] == ["sdmx"]
    assert huwise.delete(f"/glossary/terms/{term['uid']}/").status_code == 204
    assert huwise.get(f"/glossary/terms/{term['uid']}/").status_code == 404


def test_bulk_delete_removes_the_named_terms_and_ignores_unknown_ones(huwise: Portal) -> None:
    gone = huwise.post("/glossary/terms/bulk_delete/", {"uid_list": ["te_b5n1ts", "te_g7w2ly", "te_nothing"]})
    assert gone.status_code == 204, gone.text
    left = [term["uid"] for term in huwise.get("/glossary/terms/").json()["results"]]
    assert len(left) == 4 and "te_b5n1ts" not in left and "te_g7w2ly" not in left and "te_abc123" in left


def test_glossary_writes_require_manage_glossary(huwise: Portal) -> None:
    keys = runtime_of(huwise.client).twins["huwise"].state.collection("apikeys")
    louise = {"Authorization": "apikey " + keys.get("ak_qf2hyt")["key"]}  # her key holds no manage_glossary
    refused = huwise.client.post(f"{huwise.base}/glossary/terms/", json={"name": "SDMX"}, headers=louise)
    assert refused.status_code == 403 and refused.json()["error_code"] == "permission_denied"
    assert huwise.client.get(f"{huwise.base}/glossary/terms/", headers=louise).status_code == 200


def test_user_requests_are_filtered_by_the_days_they_were_raised_on_the_clock(huwise: Portal) -> None:
    huwise.clock.freeze(datetime(2026, 11, 30, 10, 0, tzinfo=UTC), rewind=True)  # the fixtures' today

    def uids(query: str) -> list[str]:
        answer = huwise.get(f"/user_requests/?{query}")
        assert answer.status_code == 200, answer.text
        return [request["uid"][:8] for request in answer.json()["results"]]

    assert uids("raised_in=6") == ["c4d8e2f1"]  # since 24 November
    assert uids("raised_in=17") == ["fc50dcdf", "c4d8e2f1"]  # since 13 November, its whole day
    assert uids("raised_before=17") == ["0b6f3c2e", "7e2a9d14"]  # before 13 November
    assert uids("raised_before=16") == ["fc50dcdf", "0b6f3c2e", "7e2a9d14"]  # before 14 November
    assert uids("status=pending&search=GUEST@") == ["c4d8e2f1"]
    assert uids("type=external_asset_access") == ["7e2a9d14"]


def test_expand_shows_the_whole_requester_but_a_guest_as_it_is(huwise: Portal) -> None:
    one = huwise.get("/user_requests/fc50dcdf-ab41-4ed8-bc65-070278ba2363/").json()
    assert one["created_by"] == {"username": "amelie.roux"} and one["request_message"] == "let me in!"
    requests = huwise.get("/user_requests/?expand=created_by").json()["results"]
    by_uid = {request["uid"][:8]: request for request in requests}
    assert by_uid["fc50dcdf"]["created_by"]["username"] == "amelie.roux" and "email" in by_uid["fc50dcdf"]["created_by"]
    assert by_uid["c4d8e2f1"]["created_by"] == {"username": None, "email": "guest@example.org"}
    assert huwise.get("/user_requests/nothing/").status_code == 404


def test_suggestions_come_from_the_assets_dictionaries_by_term_or_by_source_text(huwise: Portal) -> None:
    datasets = runtime_of(huwise.client).twins["huwise"].state.collection("datasets")
    uid = datasets.views()[0]["uid"]
    datasets.set(uid, {"translations": {"Trees": {"fr": "Arbres", "de": "Bäume"}, "Bikes": {"de": "Fahrräder"}}})
    answer = huwise.get("/i18n/suggestions/?from_language=de&to_language=fr&keys=Trees&keys=Bäume&keys=Bikes")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"Trees": "Arbres", "Bäume": "Arbres"}  # Bikes has no French
    assert huwise.get("/i18n/suggestions/?from_language=en&to_language=it&keys=Trees").json() == {}


def test_a_datasets_translations_are_read_and_replaced_whole(huwise: Portal) -> None:
    assert "Climate Data Analysis 2023" in huwise.get("/datasets/da_kxbtjj/translations/").json()
    uid = huwise.new_dataset()
    assert huwise.get(f"/datasets/{uid}/translations/").json() == {}  # a new dataset has none
    replaced = huwise.put(f"/datasets/{uid}/translations/", {"Trees": {"fr": "Arbres"}})
    assert replaced.status_code == 200 and replaced.json() == {"Trees": {"fr": "Arbres"}}
    assert huwise.put(f"/datasets/{uid}/translations/", {"Bikes": {"fr": "Vélos"}}).json() == {"Bikes": {"fr": "Vélos"}}
    assert huwise.get(f"/datasets/{uid}/").json()["translations"] == {
        "Bikes": {"fr": "Vélos"}
    }  # a term left out is gone
    assert huwise.put(f"/datasets/{uid}/translations/", {"Bikes": "Vélos"}).status_code == 400
    kept = huwise.put(f"/datasets/{uid}/", {"dataset_id": "renamed", "translations": {}})
    assert kept.status_code == 200 and kept.json()["translations"] == {"Bikes": {"fr": "Vélos"}}  # read-only there
    assert huwise.get("/datasets/da_nothing/translations/").status_code == 404


def test_opendatasoft_datasets_have_no_translations(make_client: Any) -> None:
    portal = Portal(make_client(*TWINS), "opendatasoft")
    assert portal.get("/datasets/da_kxbtjj/translations/").status_code == 404
    assert "translations" not in portal.get("/datasets/da_kxbtjj/").json()
