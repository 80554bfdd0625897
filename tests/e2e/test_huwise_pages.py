"""Huwise's own page operations (specs/huwise/only.yaml) over HTTP on the Huwise twin: studio page contents and their
metadata, the pages' translation dictionaries, code editor page metadata and publication, and the two documented
differences they touch (a studio page is published with its draft's asset.title; code editor pages are published,
not archived); none of them is Opendatasoft's."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import runtime_of
from tests.e2e.test_automation_lifecycle import TWINS, Portal

STUDIO = "/studio_pages/sp_qf2hyt"  # published, with a draft and a published content (the fixtures)
DRAFT_ONLY = "/studio_pages/sp_w4k8zn"  # unpublished; its draft's metadata has no asset.title yet
CODE = "/code_editor_pages/mobility-dashboard"  # published
UNPUBLISHED_CODE = "/code_editor_pages/legacy-homepage"


@pytest.fixture
def huwise(make_client: Any) -> Portal:
    return Portal(make_client(*TWINS), "huwise")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", f"{STUDIO}/contents/draft/"),
        ("put", f"{STUDIO}/contents/draft/"),
        ("get", f"{STUDIO}/contents/draft/metadata/"),
        ("put", f"{STUDIO}/contents/draft/metadata/"),
        ("get", f"{STUDIO}/translations/"),
        ("put", f"{STUDIO}/translations/"),
        ("post", f"{CODE}/publish/"),
        ("post", f"{CODE}/unpublish/"),
        ("get", f"{CODE}/metadata/"),
        ("put", f"{CODE}/metadata/"),
        ("get", f"{CODE}/translations/"),
        ("put", f"{CODE}/translations/"),
    ],
)
def test_opendatasoft_serves_none_of_them(make_client: Any, method: str, path: str) -> None:
    ods = Portal(make_client(*TWINS), "opendatasoft")
    body = None if method == "get" else {}
    answer = ods.client.request(method.upper(), ods.base + path, json=body, headers=ods.headers)
    assert answer.status_code in (404, 405), answer.text


def test_opendatasoft_pages_keep_their_own_shape(make_client: Any) -> None:
    ods = Portal(make_client(*TWINS), "opendatasoft")
    page = ods.get(CODE + "/").json()
    assert page["title"]["fr"] == "Tableau de bord de la mobilité" and page["is_archived"] is False
    assert "is_published" not in page and "metadata" not in page and "translations" not in page
    studio = ods.get(STUDIO + "/").json()
    assert "translations" not in studio and studio["contents"][0]["title"] == "Mobility overview"
    created = ods.post("/studio_pages/", {"slug": "untitled"}).json()
    assert created["contents"] == []  # no draft apart: publishing needs no title there
    assert ods.post(f"/studio_pages/{created['uid']}/publish/").json() == {"detail": "ok"}


def test_a_studio_page_shows_its_content_versions_with_their_metadata_titles(huwise: Portal) -> None:
    page = huwise.get(STUDIO + "/").json()
    assert [(c["version_name"], c["title"]) for c in page["contents"]] == [
        ("draft", "Mobility overview"),
        ("published", "Mobility overview"),
    ]
    draft = huwise.get(f"{STUDIO}/contents/draft/").json()
    assert draft["version_name"] == "draft" and set(draft["blocks"]) == {"bl_title", "bl_bikes"}
    assert draft["metadata"]["asset"]["title"]["value"] == "Mobility overview"
    assert huwise.get(f"{STUDIO}/contents/published/").json()["blocks"] == draft["blocks"]
    unpublished = huwise.get(DRAFT_ONLY + "/").json()
    assert [c["version_name"] for c in unpublished["contents"]] == ["draft"]
    assert "title" not in unpublished["contents"][0]  # its metadata has none yet


def test_the_draft_content_is_replaced_whole_and_only_the_draft(huwise: Portal) -> None:
    huwise.clock.advance(60)
    body = {"blocks": {"bl_map": {"type": "map"}}, "layouts": {"main": {"rows": [["bl_map"]]}}}
    replaced = huwise.put(f"{STUDIO}/contents/draft/", body)
    assert replaced.status_code == 200, replaced.text
    content = replaced.json()
    assert content["blocks"] == body["blocks"] and content["data_providers"] == {} and content["filters"] == {}
    assert content["version_name"] == "draft" and content["updated_by"] == {"username": "admin"}
    assert content["metadata"]["asset"]["title"]["value"] == "Mobility overview"  # read-only here: kept
    assert content["updated_at"] == "2030-01-01T00:01:00Z"
    assert huwise.get(f"{STUDIO}/contents/draft/").json() == content
    assert huwise.get(f"{STUDIO}/contents/published/").json()["blocks"] != body["blocks"]  # until published
    refused = huwise.put(f"{STUDIO}/contents/published/", body)
    assert refused.status_code == 400 and "version_name" in refused.text
    assert huwise.put(f"{STUDIO}/contents/draft/", {"layouts": {}}).status_code == 400  # blocks are required
    assert huwise.put(f"{STUDIO}/contents/draft/", {"blocks": []}).status_code == 400


def test_content_metadata_is_read_and_replaced_whole_on_the_draft(huwise: Portal) -> None:
    metadata = huwise.get(f"{STUDIO}/contents/published/metadata/")
    assert metadata.status_code == 200 and metadata.json()["asset"]["title"]["value"] == "Mobility overview"
    new = {"asset": {"title": {"value": "Moving around"}}, "custom": {"theme": {"value": "transport"}}}
    replaced = huwise.put(f"{STUDIO}/contents/draft/metadata/", new)
    assert replaced.status_code == 200, replaced.text
    completed = {"remote_value": None, "override_remote_value": False}  # each value completed as stored
    assert replaced.json() == {
        template: {name: {**value, **completed} for name, value in fields.items()} for template, fields in new.items()
    }
    assert huwise.get(f"{STUDIO}/contents/draft/metadata/").json() == replaced.json()
    assert huwise.get(STUDIO + "/").json()["contents"][0]["title"] == "Moving around"
    for bad in ({"asset": {"colour": {"value": "red"}}}, {"asset": {"title": {"value": 3}}}, {"asset": "x"}):
        assert huwise.put(f"{STUDIO}/contents/draft/metadata/", bad).status_code == 400, bad
    assert huwise.put(f"{STUDIO}/contents/published/metadata/", new).status_code == 400


def test_a_studio_page_is_published_only_with_its_drafts_title(huwise: Portal) -> None:
    refused = huwise.post(f"{DRAFT_ONLY}/publish/")
    assert refused.status_code == 400 and refused.json() == {
        "error_code": "bad_request",
        "message": "The page content metadata must have a title (asset.title) before the page can be published.",
    }
    assert huwise.get(f"{DRAFT_ONLY}/contents/published/").status_code == 404  # nothing published
    blank = huwise.put(f"{DRAFT_ONLY}/contents/draft/metadata/", {"asset": {"title": {"value": "  "}}})
    assert blank.status_code == 200 and huwise.post(f"{DRAFT_ONLY}/publish/").status_code == 400
    titled = {"asset": {"title": {"value": "Budget 2026"}, "description": {"value": "<p>Where it goes.</p>"}}}
    assert huwise.put(f"{DRAFT_ONLY}/contents/draft/metadata/", titled).status_code == 200
    assert huwise.put(f"{DRAFT_ONLY}/contents/draft/", {"blocks": {"bl_chart": {"type": "chart"}}}).status_code == 200
    assert huwise.post(f"{DRAFT_ONLY}/publish/").json() == {"detail": "ok"}
    published = huwise.get(f"{DRAFT_ONLY}/contents/published/").json()
    assert published["blocks"] == {"bl_chart": {"type": "chart"}} and published["version_name"] == "published"
    assert published["metadata"]["asset"]["title"]["value"] == "Budget 2026"
    page = huwise.get(DRAFT_ONLY + "/").json()
    assert page["first_published_at"] == "2030-01-01T00:00:00Z"
    assert [(c["version_name"], c["description"]) for c in page["contents"]] == [
        ("draft", "<p>Where it goes.</p>"),
        ("published", "<p>Where it goes.</p>"),
    ]
    assert huwise.post(f"{DRAFT_ONLY}/unpublish/").json() == {"detail": "ok"}
    assert huwise.get(f"{DRAFT_ONLY}/contents/published/").status_code == 200  # unpublishing keeps it


def test_a_new_studio_page_has_an_empty_untitled_draft(huwise: Portal) -> None:
    created = huwise.post("/studio_pages/", {"slug": "air-quality-2026"}).json()
    uid = created["uid"]
    draft = huwise.get(f"/studio_pages/{uid}/contents/draft/").json()
    assert draft["blocks"] == {} and draft["layouts"] == {} and draft["metadata"] == {"asset": {}}
    assert huwise.get(f"/studio_pages/{uid}/translations/").json() == {}
    assert huwise.post(f"/studio_pages/{uid}/publish/").status_code == 400
    assert huwise.delete(f"/studio_pages/{uid}/").status_code == 204
    assert huwise.get(f"/studio_pages/{uid}/contents/draft/").status_code == 404  # gone with its page


def test_unknown_pages_and_versions_are_404(huwise: Portal) -> None:
    for path in (
        "/studio_pages/sp_nothing/contents/draft/",
        "/studio_pages/sp_nothing/contents/draft/metadata/",
        "/studio_pages/sp_nothing/translations/",
        f"{DRAFT_ONLY}/contents/published/",
        f"{DRAFT_ONLY}/contents/published/metadata/",
        f"{STUDIO}/contents/v2/",
        "/code_editor_pages/nothing/metadata/",
        "/code_editor_pages/nothing/translations/",
    ):
        assert huwise.get(path).status_code == 404, path
    for path, body in (
        ("/studio_pages/sp_nothing/contents/draft/", {"blocks": {}}),
        ("/studio_pages/sp_nothing/contents/draft/metadata/", {"asset": {}}),
        ("/studio_pages/sp_nothing/translations/", {}),
        ("/code_editor_pages/nothing/metadata/", {"asset": {}}),
        ("/code_editor_pages/nothing/translations/", {}),
    ):
        assert huwise.put(path, body).status_code == 404, path
    assert huwise.post("/code_editor_pages/nothing/publish/").status_code == 404
    assert huwise.post("/code_editor_pages/nothing/unpublish/").status_code == 404


@pytest.mark.parametrize("page", [STUDIO, CODE])
def test_a_pages_translations_round_trip_per_language(huwise: Portal, page: str) -> None:
    stored = huwise.get(f"{page}/translations/").json()
    assert stored and all(set(texts) == {"fr", "de"} for texts in stored.values())  # the fixtures'
    dictionary = {
        "Bicycle counts": {"fr": "Comptages vélo", "de": "Fahrradzählungen", "es": "Conteos de bicicletas"},
        "Hourly": {"fr": "Horaire"},
    }
    replaced = huwise.put(f"{page}/translations/", dictionary)
    assert replaced.status_code == 200 and replaced.json() == dictionary
    read = huwise.get(f"{page}/translations/").json()
    for term, texts in dictionary.items():  # every language of every term comes back as sent
        for language, text in texts.items():
            assert read[term][language] == text
    assert set(read) == set(dictionary)  # the fixture's terms, left out, are gone
    assert huwise.get(page + "/").json()["translations"] == dictionary
    suggested = huwise.get("/i18n/suggestions/?from_language=fr&to_language=es&keys=Comptages vélo").json()
    assert suggested == {"Comptages vélo": "Conteos de bicicletas"}


def test_each_page_holds_its_own_dictionary(huwise: Portal) -> None:
    assert huwise.put(f"{STUDIO}/translations/", {"Trees": {"fr": "Arbres"}}).status_code == 200
    assert huwise.put(f"{CODE}/translations/", {"Bikes": {"de": "Fahrräder"}}).status_code == 200
    assert huwise.get(f"{STUDIO}/translations/").json() == {"Trees": {"fr": "Arbres"}}
    assert huwise.get(f"{CODE}/translations/").json() == {"Bikes": {"de": "Fahrräder"}}
    assert huwise.put(f"{CODE}/translations/", {}).json() == {}  # an empty dictionary empties it
    assert huwise.get(f"{CODE}/translations/").json() == {}


@pytest.mark.parametrize("page", [STUDIO, CODE])
@pytest.mark.parametrize("bad", [{"Bikes": "Vélos"}, {"Bikes": {"fr": 1}}, {"Bikes": ["Vélos"]}, ["Bikes"]])
def test_a_term_that_does_not_map_languages_to_texts_is_a_400(huwise: Portal, page: str, bad: Any) -> None:
    refused = huwise.put(f"{page}/translations/", bad)
    assert refused.status_code == 400 and refused.json()["error_code"] in ("bad_request", "validation_error")
    assert "Bikes" not in huwise.get(f"{page}/translations/").json()


def test_a_page_put_keeps_its_translations_and_metadata(huwise: Portal) -> None:
    page = huwise.get(CODE + "/").json()
    body = {"content": page["content"], "description": "Renewed", "translations": {}, "metadata": {}}
    kept = huwise.put(CODE + "/", body)
    assert kept.status_code == 200, kept.text
    assert kept.json()["translations"] == page["translations"] and kept.json()["metadata"] == page["metadata"]
    studio = huwise.put(STUDIO + "/", {"slug": "mobility-overview", "public": True, "translations": {}}).json()
    assert studio["translations"]["Mobility overview"]["de"] == "Mobilität im Überblick"


def test_a_code_editor_page_has_no_title_tags_nor_archival_but_is_published(huwise: Portal) -> None:
    page = huwise.get(CODE + "/").json()
    assert not {"title", "tags", "is_archived"} & set(page)
    assert page["is_published"] is True and page["last_published_at"] == "2025-02-05T00:00:00Z"
    created = huwise.post("/code_editor_pages/", {"slug": "hello_world", "content": {}, "tags": ["x"]}).json()
    assert created["is_published"] is False and created["last_published_at"] is None and "tags" not in created
    assert created["metadata"] == {"asset": {}} and created["translations"] == {}
    assert huwise.post(f"{CODE}/archive/").status_code in (404, 405)


def test_publishing_a_code_editor_page_stamps_each_publication(huwise: Portal) -> None:
    assert huwise.post(f"{UNPUBLISHED_CODE}/unpublish/").json() == {"detail": "ok"}  # changes nothing
    page = huwise.get(UNPUBLISHED_CODE + "/").json()
    assert page["is_published"] is False and page["last_published_at"] is None
    assert huwise.post(f"{UNPUBLISHED_CODE}/publish/").json() == {"detail": "ok"}
    first = huwise.get(UNPUBLISHED_CODE + "/").json()
    assert first["is_published"] is True and first["last_published_at"] == "2030-01-01T00:00:00Z"
    assert first["updated_at"] == page["updated_at"]  # a state change, not an edit
    huwise.clock.advance(3600)
    assert huwise.post(f"{UNPUBLISHED_CODE}/publish/").json() == {"detail": "ok"}  # again, when published
    assert huwise.get(UNPUBLISHED_CODE + "/").json()["last_published_at"] == "2030-01-01T01:00:00Z"
    assert huwise.post(f"{UNPUBLISHED_CODE}/unpublish/").json() == {"detail": "ok"}
    last = huwise.get(UNPUBLISHED_CODE + "/").json()
    assert last["is_published"] is False and last["last_published_at"] == "2030-01-01T01:00:00Z"


def test_code_editor_page_metadata_is_read_replaced_whole_and_searched(huwise: Portal) -> None:
    metadata = huwise.get(f"{CODE}/metadata/").json()
    assert metadata["asset"]["title"]["value"] == "Mobility dashboard"
    new = {"asset": {"title": {"value": "Cycling barometer"}}}
    replaced = huwise.put(f"{CODE}/metadata/", new)
    assert replaced.status_code == 200 and replaced.json()["asset"]["title"]["value"] == "Cycling barometer"
    assert "description" not in huwise.get(f"{CODE}/metadata/").json()["asset"]  # replaced whole
    for bad in ({"asset": {"colour": {"value": "red"}}}, {"asset": {"title": {}}}, {"other": {"field": 1}}):
        assert huwise.put(f"{CODE}/metadata/", bad).status_code == 400, bad
    assert huwise.delete("/code_editor_pages/?search=BAROMETER").json() == ["mobility-dashboard"]  # its title


def test_page_writes_require_edit_page(huwise: Portal) -> None:
    keys = runtime_of(huwise.client).twins["huwise"].state.collection("apikeys")
    louise = {"Authorization": "apikey " + keys.get("ak_qf2hyt")["key"]}  # her key holds no edit_page
    base = huwise.base
    for path in (f"{STUDIO}/contents/draft/", f"{STUDIO}/contents/draft/metadata/", f"{STUDIO}/translations/",
                 f"{CODE}/metadata/", f"{CODE}/translations/"):  # fmt: skip
        assert huwise.client.get(base + path, headers=louise).status_code == 200, path
        refused = huwise.client.put(base + path, json={"blocks": {}}, headers=louise)
        assert refused.status_code == 403 and refused.json()["error_code"] == "permission_denied", path
    for action in ("publish", "unpublish"):
        assert huwise.client.post(f"{base}{CODE}/{action}/", headers=louise).status_code == 403
