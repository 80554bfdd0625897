"""The portal's pages over HTTP on both Automation API twins: studio pages and their publication, code editor pages,
their archival (Opendatasoft's), the bulk delete, and the pages' security rulesets and permissions."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import runtime_of
from tests.e2e.test_automation_lifecycle import TWINS, Portal


@pytest.fixture(params=TWINS)
def portal(request: pytest.FixtureRequest, make_client: Any) -> Portal:
    return Portal(make_client(*TWINS), request.param)


def test_a_studio_page_is_first_published_once(portal: Portal) -> None:
    created = portal.post("/studio_pages/", {"slug": "air-quality-2026"})
    assert created.status_code == 201, created.text
    page = created.json()
    assert page["uid"].startswith("sp_") and page["first_published_at"] is None
    assert page["public"] is False and page["created_by"] == {"username": "admin"}
    uid = page["uid"]
    if portal.base.startswith("/huwise"):  # a new page's draft, which needs a title to be published there
        assert [content["version_name"] for content in page["contents"]] == ["draft"]
        titled = portal.put(f"/studio_pages/{uid}/contents/draft/metadata/", {"asset": {"title": {"value": "Air"}}})
        assert titled.status_code == 200, titled.text
    else:
        assert page["contents"] == []
    taken = portal.post("/studio_pages/", {"slug": "mobility-overview"})
    assert taken.status_code == 400 and taken.json()["error_code"] == "validation_error"
    assert portal.post(f"/studio_pages/{uid}/publish/").json() == {"detail": "ok"}
    first = portal.get(f"/studio_pages/{uid}/").json()["first_published_at"]
    assert first is not None
    portal.clock.advance(60)
    assert portal.post(f"/studio_pages/{uid}/unpublish/").json() == {"detail": "ok"}
    assert portal.post(f"/studio_pages/{uid}/publish/").status_code == 200
    assert portal.get(f"/studio_pages/{uid}/").json()["first_published_at"] == first
    updated = portal.put(f"/studio_pages/{uid}/", {"slug": "air-quality", "public": True})
    assert updated.status_code == 200 and updated.json()["slug"] == "air-quality" and updated.json()["public"]
    listed = portal.get("/studio_pages/?limit=1&offset=0").json()
    assert listed["total_count"] == 3 and listed["results"][0]["uid"] == "sp_qf2hyt"
    assert portal.delete(f"/studio_pages/{uid}/").status_code == 204
    assert portal.get(f"/studio_pages/{uid}/").status_code == 404


def test_a_code_editor_page_is_named_by_its_slug(portal: Portal) -> None:
    body = {"slug": "hello_world", "title": {"en": "Hello"}, "content": {"html": {"en": "<p>Hi</p>"}}}
    created = portal.post("/code_editor_pages/", body)
    assert created.status_code == 201, created.text
    shown = created.json()
    assert shown["slug"] == "hello_world"
    if portal.base.startswith("/huwise"):  # its pages have no title nor tags, and are published or not
        assert "title" not in shown and "tags" not in shown and shown["is_published"] is False
    else:
        assert shown["tags"] == [] and shown["title"] == {"en": "Hello"}
    assert portal.post("/code_editor_pages/", body).status_code == 409
    assert portal.post("/code_editor_pages/", {"content": {}}).status_code == 400
    renamed = portal.put("/code_editor_pages/hello_world/", {**body, "slug": "other", "description": "Hello"})
    assert renamed.status_code == 200 and renamed.json()["slug"] == "hello_world"
    assert renamed.json()["updated_by"] == {"username": "admin"}
    assert portal.get("/code_editor_pages/").json()["total_count"] == 6
    assert portal.get("/code_editor_pages/hello_world/").json()["description"] == "Hello"
    assert portal.delete("/code_editor_pages/hello_world/").status_code == 204


def test_the_bulk_delete_answers_the_deleted_slugs(portal: Portal) -> None:
    gone = portal.delete("/code_editor_pages/?slug=press-2020&slug=press-2019&slug=no-such-page")
    assert gone.status_code == 200 and gone.json() == ["press-2019", "press-2020"]  # in list order
    assert portal.get("/code_editor_pages/press-2019/").status_code == 404
    term = "MOBILITÉ" if portal.base.startswith("/opendatasoft") else "MOBILITY DASHBOARD"  # a French title (ODS)
    assert portal.delete(f"/code_editor_pages/?search={term}").json() == ["mobility-dashboard"]
    both = portal.delete("/code_editor_pages/?slug=legacy-homepage&slug=pricing-2024&search=pricing")
    assert both.json() == ["pricing-2024"]
    refused = portal.delete("/code_editor_pages/")
    assert refused.status_code == 400 and refused.json()["error_code"] == "bad_request"
    assert portal.get("/code_editor_pages/legacy-homepage/").status_code == 200


def test_an_archived_page_cannot_be_edited_but_unarchived(make_client: Any) -> None:
    portal = Portal(make_client(*TWINS), "opendatasoft")
    assert portal.post("/code_editor_pages/pricing-2024/archive/").json() == {"detail": "ok"}
    page = portal.get("/code_editor_pages/pricing-2024/").json()
    assert page["is_archived"] is True
    body = {"content": page["content"], "description": "New prices"}
    refused = portal.put("/code_editor_pages/pricing-2024/", body)
    assert refused.status_code == 400 and refused.json() == {
        "error_code": "bad_request", "message": "An archived page can't be edited."}  # fmt: skip
    assert portal.post("/code_editor_pages/pricing-2024/unarchive/").json() == {"detail": "ok"}
    assert portal.put("/code_editor_pages/pricing-2024/", body).status_code == 200
    assert portal.post("/code_editor_pages/pricing-2024/archive/").status_code == 200
    unarchived = portal.put("/code_editor_pages/pricing-2024/", {**body, "is_archived": False})
    assert unarchived.status_code == 200 and unarchived.json()["is_archived"] is False
    huwise = Portal(portal.client, "huwise")  # Huwise's pages are not archived
    assert huwise.post("/code_editor_pages/pricing-2024/archive/").status_code in (404, 405)


def test_page_rulesets_grant_page_permissions(portal: Portal) -> None:
    twin = portal.base.split("/")[1]
    keys = runtime_of(portal.client).twins[twin].state.collection("apikeys")
    keys.create({"label": "hugo's", "permissions": ["edit_page", "manage_page"]}, key="h" * 56,
                user={"username": "hugo.vasseur"})  # fmt: skip
    hugo = {"Authorization": "apikey " + "h" * 56}
    page = "/code_editor_pages/mobility-dashboard"

    def describe() -> Any:
        body = {"content": {}, "description": "by hugo"}
        return portal.client.put(f"{portal.base}{page}/", json=body, headers=hugo)

    assert describe().status_code == 403
    ruleset = {"user": {"username": "hugo.vasseur"}, "permissions": ["edit_page"]}
    assert portal.post(f"{page}/security/users/", ruleset).status_code == 200
    assert describe().status_code == 200
    assert portal.get(f"{page}/security/users/hugo.vasseur/").json()["permissions"] == ["edit_page"]
    again = portal.put(f"{page}/security/users/hugo.vasseur/", {**ruleset, "permissions": ["edit_page", "manage_page"]})
    assert again.status_code == 200 and again.json()["permissions"] == ["edit_page", "manage_page"]
    assert portal.get(f"{page}/security/users/").json()["total_count"] == 1
    group = {"group": {"uid": "former_contractors"}, "permissions": []}
    assert portal.post(f"{page}/security/groups/", group).status_code == 200
    assert portal.put(f"{page}/security/groups/former_contractors/", group).status_code == 200
    assert portal.get(f"{page}/security/groups/former_contractors/").status_code == 200
    assert portal.get(f"{page}/security/groups/").json()["total_count"] == 1
    assert portal.delete(f"{page}/security/groups/former_contractors/").status_code == 204
    assert portal.delete(f"{page}/security/users/hugo.vasseur/").status_code == 204
    assert describe().status_code == 403
    studio = "/studio_pages/sp_qf2hyt"
    assert portal.client.post(f"{portal.base}{studio}/publish/", headers=hugo).status_code == 403
    assert portal.post(f"{studio}/security/users/", ruleset).status_code == 200
    assert portal.client.post(f"{portal.base}{studio}/publish/", headers=hugo).status_code == 200
    assert portal.put(f"{studio}/security/users/hugo.vasseur/", ruleset).status_code == 200
    assert portal.get(f"{studio}/security/users/hugo.vasseur/").status_code == 200
    assert portal.get(f"{studio}/security/users/").json()["total_count"] == 1
    assert portal.post(f"{studio}/security/groups/", group).status_code == 200
    assert portal.put(f"{studio}/security/groups/former_contractors/", group).status_code == 200
    assert portal.get(f"{studio}/security/groups/former_contractors/").status_code == 200
    assert portal.get(f"{studio}/security/groups/").json()["total_count"] == 1
    assert portal.delete(f"{studio}/security/groups/former_contractors/").status_code == 204
    assert portal.delete(f"{studio}/security/users/hugo.vasseur/").status_code == 204
    assert portal.delete(f"{studio}/").status_code == 204  # its rulesets with it
