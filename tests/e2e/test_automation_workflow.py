"""A client's whole workflow on both Automation API twins, over HTTP as a client script does it: create a dataset,
upload a CSV, make it a resource, configure processing and fields, publish, watch the status reach idle with the
records the file holds, unpublish, delete. The file's content decides what publishing yields."""

from __future__ import annotations

from typing import Any

import pytest

import apitwin.behaviours.automation_processing as processing
from tests.e2e.test_automation_lifecycle import TWINS, Portal

CSV = "nom;ville;population\r\nLyon;Lyon;522250\r\nVilleurbanne;Villeurbanne;156928\r\nBron;Bron;42000\r\n"


@pytest.fixture(params=TWINS)
def portal(request: pytest.FixtureRequest, make_client: Any) -> Portal:
    return Portal(make_client(*TWINS), request.param)


def upload(portal: Portal, uid: str, name: str, content: bytes) -> Any:
    files = {"file": (name, content, "text/csv")}
    return portal.client.post(f"{portal.base}/datasets/{uid}/resources/files/", files=files, headers=portal.headers)


def resource_from(portal: Portal, uid: str, content: str) -> str:
    assert upload(portal, uid, "communes.csv", content.encode("latin-1")).status_code == 200
    guessed = portal.post(
        f"/datasets/{uid}/resources/guess_extractor_params/",
        {"type": "csvfile", "datasource": {"type": "uploaded_file", "file": {"uid": "communes.csv"}}},
    )
    assert guessed.status_code == 200, guessed.text
    resource = {
        "type": "csvfile",
        "title": "Communes",
        "params": guessed.json()["params"],
        "datasource": {"type": "uploaded_file", "file": {"uid": "communes.csv"}},
    }
    created = portal.post(f"/datasets/{uid}/resources/", resource)
    assert created.status_code == 201, created.text
    return str(created.json()["uid"])


def test_a_csv_becomes_a_published_dataset_with_its_records(portal: Portal) -> None:
    uid = portal.new_dataset("communes")
    resource = resource_from(portal, uid, CSV)
    preview = portal.get(f"/datasets/{uid}/resources/{resource}/preview/").json()
    assert [f["name"] for f in preview["fields"]] == ["nom", "ville", "population"]
    assert len(preview["records"]) == 3
    processor = {"type": "string_replace", "label": "Shorter", "field": "ville", "old": "Villeurbanne", "new": "Vbanne"}
    assert portal.post(f"/datasets/{uid}/processors/", processor).status_code == 201
    rename = {"type": "rename", "label": "Name", "from_name": "nom", "to_name": "name", "field_label": "Name"}
    assert portal.post(f"/datasets/{uid}/fields/", rename).status_code == 201
    assert portal.post(f"/datasets/{uid}/publish/").json() == {"detail": "ok"}
    portal.clock.advance(4)
    status = portal.status(uid)
    assert (status["status"], status["is_published"], status["records_errors"]) == ("idle", True, [])
    default = portal.get(f"/datasets/{uid}/metadata/default/").json()
    assert default["records_count"]["value"] == 3
    assert default["data_processed"]["value"] == "2030-01-01T00:00:00Z"  # when published (the clock is frozen)
    assert portal.post(f"/datasets/{uid}/unpublish/").json() == {"detail": "ok"}
    portal.clock.advance(3)
    assert portal.status(uid)["is_published"] is False
    assert portal.client.delete(f"{portal.base}/datasets/{uid}/", headers=portal.headers).status_code == 204
    assert portal.get(f"/datasets/{uid}/resources/").status_code == 404


def test_a_broken_file_ends_the_publication_in_error_and_a_limit_in_limit_reached(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = portal.new_dataset("communes")
    resource_from(portal, uid, CSV)
    upload(portal, uid, "communes.csv", b'nom;ville\r\n"Lyon;Lyon\r\n')  # a quote never closed
    portal.post(f"/datasets/{uid}/publish/")
    portal.clock.advance(4)
    status = portal.status(uid)
    assert status["status"] == "error" and status["message"] and status["is_published"] is False
    upload(portal, uid, "communes.csv", CSV.encode("latin-1"))
    monkeypatch.setattr(processing, "RECORD_LIMIT", 2)
    portal.post(f"/datasets/{uid}/publish/")
    portal.clock.advance(4)
    status = portal.status(uid)
    assert status["status"] == "limit_reached" and status["params"]["error"]["limit"] == 2


def test_a_harvested_catalogue_is_published_then_removed_with_its_harvester(portal: Portal) -> None:
    """A client script's harvesting: configure, preview, schedule, run and poll, publish what came in, clean up."""
    body = {"type": "datajson", "name": "Regional catalogue", "url": "https://region.example.org/data.json",
            "download_resources": True}  # fmt: skip
    harvester = portal.post("/harvesters/", body).json()
    uid = harvester["uid"]
    preview = portal.get(f"/harvesters/{uid}/preview/").json()
    assert preview["total_count"] == len(preview["results"]) > 0
    schedule = portal.post(f"/harvesters/{uid}/schedules/", {"cron_schedule": "0 3 * * *", "timezone": "Europe/Paris"})
    assert schedule.status_code == 201
    assert portal.post(f"/harvesters/{uid}/start/").json()["status"] == "queued"
    polls = 0
    while (current := portal.get(f"/harvesters/{uid}/").json())["status"] != "idle":
        portal.clock.advance(1)
        polls += 1
    assert polls == 4 and current["harvested_datasets_count"] == preview["total_count"]
    assert current["attached_datasets_count"] == preview["total_count"] and not current["has_error"]
    assert portal.post(f"/harvesters/{uid}/publish/").json() == {"detail": "ok"}
    portal.clock.advance(4)
    titles = {result["title"] for result in preview["results"]}
    harvested = [
        dataset
        for dataset in portal.get("/datasets/?limit=1000").json()["results"]
        if dataset["metadata"]["default"]["title"]["remote_value"] in titles and dataset["is_published"]
    ]
    assert len(harvested) == preview["total_count"]  # the fixtures' harvested datasets are unpublished
    for dataset in harvested:
        records = dataset["metadata"]["default"]["records_count"]["value"]
        resource = portal.get(f"/datasets/{dataset['uid']}/resources/").json()["results"][0]
        assert records > 0 and resource["datasource"]["type"] == "uploaded_file"  # downloaded into the dataset
    assert portal.delete(f"/harvesters/{uid}/?delete_attached_datasets=true").status_code == 204
    assert portal.get(f"/harvesters/{uid}/schedules/").status_code == 404
    assert all(portal.get(f"/datasets/{dataset['uid']}/").status_code == 404 for dataset in harvested)
