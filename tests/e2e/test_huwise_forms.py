"""Huwise's forms over HTTP: the forms, their content drafts and publication, their submissions and rulesets
(huwise/only.yaml, security.yaml) on the Automation API, and new submissions through the Portal API
(huwise/portal.yaml), served at a second base path of the Huwise twin on the same state."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from apitwin.app import create_app
from tests.conftest import runtime_of
from tests.e2e.test_automation_lifecycle import TWINS, Portal

SUBMIT = "/huwise/api/portal/v1.0/forms/{slug}/submit/"
CAT = {"cat_name": "Felix", "cat_breed": ["Persian"]}
NOT_JSON = "Expecting a JSON object of the submitted values"


@pytest.fixture
def huwise(make_client: Any) -> Portal:
    return Portal(make_client(*TWINS), "huwise")


def submit(client: TestClient, slug: str, data: Any, headers: dict[str, str] | None = None, url: str = SUBMIT) -> Any:
    """A Portal submission: multipart/form-data with one text field, `data`."""
    text = data if isinstance(data, str) else json.dumps(data)
    return client.post(url.format(slug=slug), files={"data": (None, text)}, headers=headers or {})


def update_submission(huwise: Portal, form: str, uid: str, data: Any) -> Any:
    text = data if isinstance(data, str) else json.dumps(data)
    path = f"/huwise/api/automation/v1.0/forms/{form}/submissions/{uid}/"
    return huwise.client.put(path, files={"data": (None, text)}, headers=huwise.headers)


def new_key(huwise: Portal, username: str, permissions: list[str]) -> dict[str, str]:
    """An API key of the user's, holding those permissions (the user must hold them too, by whatever way)."""
    keys = runtime_of(huwise.client).twins["huwise"].state.collection("apikeys")
    secret = (username.replace(".", "") * 56)[:56]
    keys.create({"label": f"{username}'s", "permissions": permissions}, key=secret, user={"username": username})
    return {"Authorization": f"apikey {secret}"}


def test_the_form_workflow_from_creation_to_an_updated_submission(huwise: Portal) -> None:
    created = huwise.post("/forms/", {"slug": "tree-planting", "title": "Tree planting", "access_type": "open"})
    assert created.status_code == 201, created.text
    form = created.json()
    uid = form["uid"]
    assert uid.startswith("fm_") and form["has_published_version"] is False and form["nb_submissions"] == 0
    assert form["created_by"] == form["updated_by"] == {"username": "admin"} and form["errors"] == {}
    assert form["published_at"] is None and form["first_published_at"] is None
    first = huwise.get(f"/forms/{uid}/drafts/1/").json()
    assert first["is_draft"] is True and first["is_published"] is False
    assert first["content"]["title"] == {"en": "Tree planting"} and first["content"]["sections"] == []
    assert submit(huwise.client, "tree-planting", {"species": "oak"}).status_code == 404  # not published yet
    content = {**first["content"], "sections": [{"uid": "trees", "blocks": [{"uid": "species", "type": "text"}]}]}
    edited = huwise.put(f"/forms/{uid}/drafts/1/", {"content": content})
    assert edited.status_code == 200, edited.text
    assert edited.json()["content"]["sections"][0]["uid"] == "trees"
    assert huwise.post(f"/forms/{uid}/publish/").json() == {"detail": "ok"}
    published = huwise.get(f"/forms/{uid}/").json()
    assert published["has_published_version"] is True and published["published_by"] == {"username": "admin"}
    assert published["first_published_at"] == published["published_at"] is not None
    versions = huwise.get(f"/forms/{uid}/drafts/").json()
    assert versions["total_count"] == 2
    assert [(v["version"], v["is_draft"], v["is_published"]) for v in versions["results"]] == [
        (1, False, True), (2, True, False)]  # fmt: skip
    assert versions["results"][1]["content"] == versions["results"][0]["content"]  # the next draft: a copy
    made = submit(huwise.client, "tree-planting", {"species": "oak"})  # open: no key
    assert made.status_code == 201, made.text
    submission = made.json()
    assert submission["content"] == {"species": "oak"} and submission["status"] == "approved"
    assert submission["created_by"] is None and submission["updated_by"] is None and submission["lang"] == "en"
    listed = huwise.get(f"/forms/{uid}/submissions/").json()
    assert [s["uid"] for s in listed["results"]] == [submission["uid"]]
    assert huwise.get(f"/forms/{uid}/").json()["nb_submissions"] == 1
    updated = update_submission(huwise, uid, submission["uid"], {"species": "beech", "count": 3})
    assert updated.status_code == 200, updated.text
    assert updated.json()["content"] == {"species": "beech", "count": 3}
    assert updated.json()["updated_by"] == {"username": "admin"} and updated.json()["status"] == "approved"
    assert huwise.get(f"/forms/{uid}/submissions/{submission['uid']}/").json()["content"]["species"] == "beech"


def test_publishing_again_publishes_the_new_draft_and_a_published_version_is_read_only(huwise: Portal) -> None:
    huwise.clock.advance(3600)
    before = huwise.get("/forms/fm_wztr5n/").json()
    refused = huwise.put("/forms/fm_wztr5n/drafts/1/", {"content": {"default_language": "en", "ending": {},
                                                                   "sections": []}})  # fmt: skip
    assert refused.status_code == 400 and refused.json() == {
        "error_code": "bad_request", "message": "Only a draft can be updated; version 1 is published."}  # fmt: skip
    assert huwise.post("/forms/fm_wztr5n/publish/").status_code == 200
    after = huwise.get("/forms/fm_wztr5n/").json()
    assert after["first_published_at"] == before["first_published_at"]
    assert after["published_at"] > before["published_at"]
    flags = [(v["version"], v["is_draft"]) for v in huwise.get("/forms/fm_wztr5n/drafts/").json()["results"]]
    assert flags == [(1, False), (2, False), (3, True)]
    assert huwise.get("/forms/fm_wztr5n/drafts/4/").status_code == 404
    assert huwise.put("/forms/fm_wztr5n/drafts/2/", {"content": {}}).status_code == 400  # content misses its parts


def test_unpublishing_takes_a_form_off_the_portal(huwise: Portal) -> None:
    assert submit(huwise.client, "form-automation", CAT).status_code == 201
    assert huwise.post("/forms/fm_wztr5n/unpublish/").json() == {"detail": "ok"}
    form = huwise.get("/forms/fm_wztr5n/").json()
    assert form["has_published_version"] is False and form["published_at"] is not None  # the last publication's
    refused = huwise.post("/forms/fm_wztr5n/unpublish/")
    assert refused.status_code == 400 and refused.json() == {
        "error_code": "bad_request", "message": "Invalid precondition, the form is not published"}  # fmt: skip
    gone = submit(huwise.client, "form-automation", CAT)
    assert gone.status_code == 404 and gone.json() == {"error_code": "not_found", "message": "Not found."}
    assert huwise.post("/forms/fm_wztr5n/publish/").status_code == 200
    assert submit(huwise.client, "form-automation", CAT).status_code == 201


def test_forms_are_listed_by_status_searched_and_sorted(huwise: Portal) -> None:
    def uids(query: str = "") -> list[str]:
        answer = huwise.get(f"/forms/{query}")
        assert answer.status_code == 200, answer.text
        return [form["uid"] for form in answer.json()["results"]]

    assert uids() == uids("?status=all") == ["fm_wztr5n", "fm_p3r6td", "fm_m8c2qe", "fm_k5b8xh"]
    assert uids("?status=published") == ["fm_wztr5n", "fm_p3r6td"]
    assert uids("?status=unpublished") == ["fm_m8c2qe", "fm_k5b8xh"]
    assert uids("?search=BIKE") == ["fm_p3r6td"] and uids("?search=cat adoption") == ["fm_wztr5n"]
    assert uids("?sort=-nb_submissions")[:2] == ["fm_wztr5n", "fm_p3r6td"]
    assert uids("?sort=slug&limit=1&offset=1") == ["fm_k5b8xh"]  # bike-parking, event-feedback, ...
    assert huwise.get("/forms/?sort=colour").status_code == 400
    assert huwise.get("/forms/?status=archived").status_code == 400
    assert huwise.get("/forms/fm_wztr5n/").json()["nb_submissions"] == 3


def test_a_slug_is_unique_required_and_may_be_null(huwise: Portal) -> None:
    taken = huwise.post("/forms/", {"slug": "form-automation", "access_type": "open"})
    assert taken.status_code == 400 and "slug" in taken.json()["detail"]
    assert huwise.post("/forms/", {"title": "No slug", "access_type": "open"}).status_code == 400
    assert huwise.post("/forms/", {"slug": "x", "access_type": "secret"}).status_code == 400
    nameless = huwise.post("/forms/", {"slug": None, "access_type": "open", "has_published_version": True})
    assert nameless.status_code == 201 and nameless.json()["has_published_version"] is False  # read-only
    assert huwise.post(f"/forms/{nameless.json()['uid']}/publish/").status_code == 200
    assert huwise.post("/forms/", {"slug": None, "access_type": "open"}).status_code == 201  # null twice is fine


def test_deleting_a_form_deletes_its_drafts_submissions_and_rulesets(huwise: Portal) -> None:
    assert huwise.delete("/forms/fm_p3r6td/").status_code == 204
    for path in ("/", "/drafts/", "/submissions/", "/security/users/", "/security/groups/"):
        assert huwise.get(f"/forms/fm_p3r6td{path}").status_code == 404
    state = runtime_of(huwise.client).twins["huwise"].state
    assert not [r for r in state.store.scan("huwise/form_user_rulesets") if r["form_uid"] == "fm_p3r6td"]
    assert huwise.get("/forms/fm_p3r6td/submissions/5e8a1d7c-3b2f-4a6e-9c0d-7f1b4e2a8c59/").status_code == 404
    assert huwise.delete("/forms/fm_p3r6td/").status_code == 404


def test_submissions_are_searched_ordered_expanded_and_deleted(huwise: Portal) -> None:
    base = "/forms/fm_wztr5n/submissions/"

    def uids(query: str = "") -> list[str]:
        answer = huwise.get(f"{base}{query}")
        assert answer.status_code == 200, answer.text
        return [submission["uid"][:8] for submission in answer.json()["results"]]

    assert uids() == uids("?ordering=asc") == ["4c7286ad", "2b0d9a4e", "9d3f6b2a"]
    assert uids("?ordering=desc") == ["9d3f6b2a", "2b0d9a4e", "4c7286ad"]
    assert uids("?sort=created_at&ordering=desc") == ["4c7286ad", "2b0d9a4e", "9d3f6b2a"]  # sort wins
    assert uids("?search=siberian") == ["4c7286ad"] and uids("?search=AMELIE") == ["9d3f6b2a"]
    assert uids("?limit=1&offset=2") == ["9d3f6b2a"]
    expanded = huwise.get(f"{base}?expand=created_by").json()["results"]
    assert expanded[0]["created_by"]["username"] == "hugo.vasseur" and "email" in expanded[0]["created_by"]
    assert expanded[1]["created_by"] is None  # an anonymous submission stays so
    one = huwise.get(f"{base}4c7286ad-6ede-4654-a1b3-3e39fcd199b7/").json()
    assert one["content"]["cat_name"] == "Rio" and one["revision"] is None and one["change_request_link"] is None
    assert huwise.delete(f"{base}2b0d9a4e-8f3c-4d71-9e55-61c7a3f0b8d2/").status_code == 204
    assert uids() == ["4c7286ad", "9d3f6b2a"]
    assert huwise.get(f"{base}2b0d9a4e-8f3c-4d71-9e55-61c7a3f0b8d2/").status_code == 404
    assert huwise.get("/forms/fm_nothing/submissions/").status_code == 404


def test_a_submission_update_takes_data_as_a_json_object_only(huwise: Portal) -> None:
    uid = "4c7286ad-6ede-4654-a1b3-3e39fcd199b7"
    for bad in ("not json", "[1, 2]", '"text"'):
        refused = update_submission(huwise, "fm_wztr5n", uid, bad)
        assert refused.status_code == 400, bad
        assert refused.json() == {"error_code": "validation_error", "message": "Invalid input",
                                  "detail": {"data": [NOT_JSON]}}  # fmt: skip
    path = f"{huwise.base}/forms/fm_wztr5n/submissions/{uid}/"
    assert huwise.client.put(path, files={"other": (None, "{}")}, headers=huwise.headers).status_code == 400
    assert update_submission(huwise, "fm_wztr5n", "no-such-submission", CAT).status_code == 404
    assert huwise.get(f"/forms/fm_wztr5n/submissions/{uid}/").json()["content"]["cat_name"] == "Rio"  # unchanged


def test_the_portal_refuses_what_it_cannot_take(huwise: Portal) -> None:
    client = huwise.client
    assert submit(client, "volunteer-sign-up", CAT, huwise.headers).status_code == 404  # exists, unpublished
    assert submit(client, "no-such-form", CAT).status_code == 404
    bad = submit(client, "form-automation", "{not json")
    assert bad.status_code == 400 and bad.json()["detail"] == {"data": [NOT_JSON]}
    assert submit(client, "form-automation", "[]").status_code == 400
    assert client.post(SUBMIT.format(slug="form-automation"), files={"other": (None, "{}")}).status_code == 400
    unknown = submit(client, "form-automation", CAT, {"Authorization": "apikey nosuchkey"})
    assert unknown.status_code == 401 and unknown.json()["error_code"] == "authentication_failed"
    restricted = submit(client, "bike-parking-requests", {"station": "Nation"})
    assert restricted.status_code == 401 and restricted.json()["error_code"] == "authentication_failed"


def test_a_submission_says_who_made_it_and_waits_for_moderation(huwise: Portal) -> None:
    made = submit(huwise.client, "form-automation", CAT, huwise.headers)  # a key on an open form: its user's
    assert made.status_code == 201 and made.json()["created_by"] == {"username": "admin"}
    moderated = submit(huwise.client, "bike-parking-requests", {"station": "Nation"}, huwise.headers)
    assert moderated.status_code == 201 and moderated.json()["status"] == "pending"
    huwise.post("/forms/", {"slug": "editable", "access_type": "authenticated",
                            "enable_frontoffice_submission_edition": True})  # fmt: skip
    uid = huwise.get("/forms/?search=editable").json()["results"][0]["uid"]
    assert huwise.post(f"/forms/{uid}/publish/").status_code == 200
    assert submit(huwise.client, "editable", CAT).status_code == 401  # authenticated: a key
    editable = submit(huwise.client, "editable", CAT, huwise.headers).json()
    assert editable["change_request_link"] == f"http://localhost/forms/editable/submissions/{editable['uid']}/"


def test_form_rulesets_grant_permissions_on_their_form(huwise: Portal) -> None:
    # amelie.roux belongs to content_designers, whose ruleset on fm_p3r6td grants submit_private_form
    amelie = new_key(huwise, "amelie.roux", ["submit_private_form", "edit_form"])
    louise = {"Authorization": "apikey " + runtime_of(huwise.client).twins["huwise"].state.collection(
        "apikeys").get("ak_qf2hyt")["key"]}  # fmt: skip
    assert submit(huwise.client, "bike-parking-requests", {"station": "Nation"}, amelie).status_code == 201
    refused = submit(huwise.client, "bike-parking-requests", {"station": "Nation"}, louise)  # her key lacks it
    assert refused.status_code == 403 and refused.json()["error_code"] == "permission_denied"
    assert huwise.delete("/forms/fm_p3r6td/security/groups/content_designers/").status_code == 204
    assert submit(huwise.client, "bike-parking-requests", {"station": "Nation"}, amelie).status_code == 403

    def rename(form: str) -> Any:
        return huwise.client.post(f"{huwise.base}/forms/{form}/publish/", headers=amelie)

    assert rename("fm_m8c2qe").status_code == 403  # amelie holds no edit_form
    ruleset = {"user": {"username": "amelie.roux"}, "permissions": ["edit_form"]}
    created = huwise.post("/forms/fm_m8c2qe/security/users/", ruleset)
    assert created.status_code == 200 and created.json() == ruleset
    assert huwise.post("/forms/fm_m8c2qe/security/users/", ruleset).status_code == 409
    assert rename("fm_m8c2qe").status_code == 200  # through her ruleset on that form
    assert rename("fm_k5b8xh").status_code == 403  # not on another
    assert huwise.client.post(f"{huwise.base}/forms/", json={"slug": "a", "access_type": "open"},
                              headers=amelie).status_code == 403  # fmt: skip
    path = "/forms/fm_m8c2qe/security/users/amelie.roux/"
    both = {**ruleset, "permissions": ["edit_form", "moderate_form"]}
    assert huwise.put(path, both).json()["permissions"] == ["edit_form", "moderate_form"]
    assert huwise.get(path).json() == both
    assert huwise.get("/forms/fm_m8c2qe/security/users/").json()["total_count"] == 1
    assert huwise.post("/forms/fm_m8c2qe/security/users/", {"user": {"username": "nobody"}}).status_code == 400
    assert huwise.client.delete(f"{huwise.base}{path}", headers=louise).status_code == 403
    assert huwise.delete(path).status_code == 204 and huwise.get(path).status_code == 404
    group = {"group": {"uid": "former_contractors"}, "permissions": ["submit_private_form"]}
    groups = "/forms/fm_m8c2qe/security/groups/"
    assert huwise.post(groups, group).status_code == 200
    assert huwise.put(f"{groups}former_contractors/", {**group, "permissions": []}).json()["permissions"] == []
    assert huwise.get(f"{groups}former_contractors/").status_code == 200
    assert huwise.get(groups).json()["total_count"] == 1
    assert huwise.post(groups, {"group": {"uid": "nobody"}}).status_code == 400
    assert huwise.delete(f"{groups}former_contractors/").status_code == 204
    assert huwise.get("/forms/fm_p3r6td/security/users/").json()["results"][0]["user"] == {"username": "hugo.vasseur"}


def test_form_writes_need_edit_form_and_reads_a_key(huwise: Portal) -> None:
    louise = new_key(huwise, "louise.data", ["explore_restricted_dataset"])
    base = f"{huwise.base}/forms/fm_wztr5n"
    assert huwise.client.get(f"{base}/", headers=louise).status_code == 200
    assert huwise.client.post(f"{base}/publish/", headers=louise).status_code == 403
    assert huwise.client.delete(f"{base}/", headers=louise).status_code == 403
    assert huwise.client.get(f"{base}/").status_code == 401


def test_forms_missing_answer_404(huwise: Portal) -> None:
    for path in ("/forms/fm_nothing/", "/forms/fm_nothing/drafts/", "/forms/fm_nothing/drafts/1/",
                 "/forms/fm_wztr5n/drafts/99/", "/forms/fm_wztr5n/submissions/nothing/",
                 "/forms/fm_nothing/security/users/", "/forms/fm_wztr5n/security/users/nobody/"):  # fmt: skip
        assert huwise.get(path).status_code == 404, path
    assert huwise.post("/forms/fm_nothing/publish/").status_code == 404
    assert huwise.get("/forms/fm_wztr5n/drafts/zero/").status_code == 404  # a version is a number: no such path


@pytest.mark.parametrize(
    "path", ["/forms/", "/forms/fm_wztr5n/", "/forms/fm_wztr5n/drafts/", "/forms/fm_wztr5n/submissions/",
             "/forms/fm_wztr5n/security/users/", "/forms/fm_wztr5n/security/groups/"],
)  # fmt: skip
def test_opendatasoft_serves_none_of_them(make_client: Any, path: str) -> None:
    assert Portal(make_client(*TWINS), "opendatasoft").get(path).status_code == 404


def test_opendatasoft_has_no_portal_path(make_client: Any) -> None:
    url = "/opendatasoft/api/portal/v1.0/forms/{slug}/submit/"
    assert submit(make_client(*TWINS), "form-automation", CAT, url=url).status_code == 404


def test_the_portal_shares_the_twins_state_at_its_real_base_path_with_api_huwise() -> None:
    client = TestClient(create_app(["huwise"], validate_responses=True), base_url="http://localhost")  # --api huwise
    key = runtime_of(client).twins["huwise"].credentials()[0]["credential"]
    headers = {"Authorization": f"apikey {key}"}
    made = submit(client, "form-automation", CAT, url="/api/portal/v1.0/forms/{slug}/submit")  # no trailing slash
    assert made.status_code == 201, made.text
    path = f"/api/automation/v1.0/forms/fm_wztr5n/submissions/{made.json()['uid']}/"
    assert client.get(path, headers=headers).json()["content"] == CAT
    assert client.get("/api/portal/v1.0/openapi.json").json()["paths"].keys() == {"/forms/{slug}/submit/"}
    assert client.get("/huwise/api/portal/v1.0/forms/form-automation/submit/").status_code == 404
    index = client.get("/").json()["twins"][0]
    assert index["documents"] == [{"name": "portal", "base_url": "http://localhost/api/portal/v1.0",
                                   "spec_url": "http://localhost/api/portal/v1.0/openapi.json"}]  # fmt: skip
    journal = client.get("/__apitwin/requests", params={"operation_id": "submitForm"}).json()["requests"]
    assert [(entry["twin"], entry["status"]) for entry in journal] == [("huwise", 201)]
