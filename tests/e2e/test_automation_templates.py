"""The domain's metadata templates and image assets over HTTP on both Automation API twins: system templates only
enabled or disabled and never removed, a template's fields and their suggestions, images uploaded as blobs."""

from __future__ import annotations

from typing import Any

import pytest

from apitwin.spec import load_resolved
from apitwin.twins import TWINS as REGISTRY
from tests.conftest import runtime_of
from tests.e2e.test_automation_files import Files, part
from tests.e2e.test_automation_lifecycle import TWINS


@pytest.fixture(params=("opendatasoft", "huwise"))  # TWINS, named so that lint --coverage sees both
def portal(request: pytest.FixtureRequest, make_client: Any) -> Files:
    return Files(make_client(*TWINS), request.param)


def test_the_default_template_has_the_fields_of_a_datasets_default_metadata(portal: Files) -> None:
    twin = portal.base.split("/")[1]
    spec = load_resolved(REGISTRY[twin].spec_path)
    documented = list(spec["components"]["schemas"]["DatasetMetadataDefault"]["properties"])
    fields = portal.get("/metadata/templates/default/fields/").json()
    assert fields["total_count"] == len(documented) and [f["name"] for f in fields["results"]] == documented
    second = portal.get("/metadata/templates/default/fields/?limit=1&offset=1").json()
    assert [f["name"] for f in second["results"]] == ["description"] and second["next"] is not None
    assert portal.get("/metadata/templates/default/fields/title/").json()["requirement_level"] == "mandatory"
    assert portal.get("/metadata/templates/default/fields/nothing/").status_code == 404
    assert portal.get("/metadata/templates/nothing/fields/").status_code == 404
    listed = portal.get("/metadata/templates/?is_active=true").json()
    standard = ["default", "visualization", "internal", *(["asset_content_configuration"] if twin == "huwise" else [])]
    assert [t["name"] for t in listed["results"]] == standard  # Huwise's fourth standard template is its own


def test_system_templates_are_only_enabled_and_never_removed(portal: Files) -> None:
    refused = portal.delete("/metadata/templates/default/")
    assert refused.status_code == 400 and refused.json()["error_code"] == "bad_request"
    assert refused.json()["message"] == "Only non-system templates of type basic or admin can be removed."
    disabled = portal.put("/metadata/templates/internal/", {"name": "x", "title": "Mine", "is_active": False,
                          "schema": [], "type": "basic"})  # fmt: skip
    assert disabled.status_code == 400 and disabled.json()["message"] == "This template can't be disabled."
    kept = portal.put("/metadata/templates/internal/", {"name": "x", "title": "Mine", "is_active": True,
                      "schema": [], "type": "basic"}).json()  # fmt: skip
    assert kept["title"] == "Internal" and kept["type"] == "admin" and len(kept["schema"]) == 2
    assert portal.delete("/metadata/templates/old-internal-notes/").status_code == 204


def test_custom_templates_are_written_whole(portal: Files) -> None:
    body = {"name": "field-survey", "title": "Field survey", "is_active": False, "type": "basic",
            "schema": [{"name": "surveyor", "label": "Surveyor"}]}  # fmt: skip
    created = portal.post("/metadata/templates/", body)
    assert created.status_code == 201, created.text
    assert created.json()["schema"][0]["type"] == "text" and created.json()["created_by"] == {"username": "admin"}
    assert portal.post("/metadata/templates/", body).status_code == 409
    twice = {**body, "name": "twice", "schema": [{"name": "a"}, {"name": "a"}]}
    assert portal.post("/metadata/templates/", twice).json()["detail"] == {
        "schema": ["Field names are unique within a template: a repeated."]}  # fmt: skip
    assert portal.post("/metadata/templates/", {**body, "name": "extra", "type": "extra"}).status_code == 400
    updated = portal.put("/metadata/templates/field-survey/", {**body, "title": "Survey", "name": "renamed"})
    assert updated.status_code == 200 and updated.json()["name"] == "field-survey"
    assert portal.get("/metadata/templates/field-survey/").json()["title"] == "Survey"
    assert portal.put("/metadata/templates/field-survey/", twice).status_code == 400
    assert portal.delete("/metadata/templates/field-survey/").status_code == 204


def test_suggestions_come_from_choices_then_the_datasets_values(portal: Files) -> None:
    answer = portal.get("/metadata/templates/default/fields/keyword/suggest/?query=MOB&count=5")
    assert answer.status_code == 200, answer.text
    assert answer.json()["hits"] == ["mobility"] and answer.json()["params"] == "query=MOB&hitsPerPage=5"
    assert portal.put("/datasets/da_kxbtjj/metadata/default/language/", {"value": "eu"}).status_code == 200
    languages = portal.get("/metadata/templates/default/fields/language/suggest/?query=E").json()
    assert languages["hits"] == ["en", "es", "eu"] and languages["nb_hits"] == 3  # the choices, then the values
    every = portal.get("/metadata/templates/default/fields/keyword/suggest/?query=&count=100").json()["hits"]
    assert len(every) > 2 and every == sorted(every)
    few = portal.get("/metadata/templates/default/fields/keyword/suggest/?query=&count=2").json()
    assert few["hits"] == every[:2] and few["nb_hits"] == len(every)
    assert portal.get("/metadata/templates/default/fields/nothing/suggest/?query=a").status_code == 404


def test_an_image_is_named_by_its_file_and_uploaded_again_under_it(portal: Files) -> None:
    twin = portal.base.split("/")[1]
    logo = part("Acronym-Turquoise.svg", b"<svg/>", "image/svg+xml")
    created = portal.post("/medias/images/", files=logo)
    assert created.status_code == 201 and created.json() == {"url": "/assets/theme_image/Acronym-Turquoise.svg"}
    again = portal.post("/medias/images/", files=part("Acronym-Turquoise.svg", b"<svg></svg>", "image/svg+xml"))
    assert again.status_code == 201 and again.json() == created.json()
    listed = portal.get("/medias/images/").json()
    assert listed["total_count"] == 2 and listed["results"][1] == created.json()
    assets = runtime_of(portal.client).twins[twin].state.collection("image_assets")
    assert assets.file_of("/assets/theme_image/Acronym-Turquoise.svg")[1] == b"<svg></svg>"
    refused = portal.post("/medias/images/", files={"file": ("", b"x", "image/png")})
    assert refused.status_code == 400
