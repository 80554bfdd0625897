"""Harvesters over HTTP on both Automation API twins: every type as a subtype, the status machine on the clock,
runs that really write datasets from the stand-in source, previews, publish and unpublish of what was harvested,
the errors, the delete with or without the attached datasets, and the one schedule per harvester."""

from __future__ import annotations

import re
from typing import Any

import pytest

from apitwin.behaviours import harvest_source
from tests.e2e.test_automation_lifecycle import TWINS, Portal

CSW = {"type": "csw", "name": "Regional geocatalogue", "url": "https://geo.example.org/csw"}


@pytest.fixture(params=TWINS)
def portal(request: pytest.FixtureRequest, make_client: Any) -> Portal:
    return Portal(make_client(*TWINS), request.param)


def _create(portal: Portal, body: dict[str, Any]) -> dict[str, Any]:
    created = portal.post("/harvesters/", body)
    assert created.status_code == 201, created.text
    return dict(created.json())


def _all(portal: Portal) -> list[dict[str, Any]]:
    return list(portal.get("/datasets/?limit=1000").json()["results"])


def _harvested(portal: Portal, harvester: dict[str, Any], before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The portal's datasets made of the harvester's source since `before` (the fixtures' harvesters have
    harvested datasets of these names too: a new one's dataset_id then ends in -2)."""
    remote_ids = {remote.id for remote in harvest_source.catalogue(harvester)}
    known = {dataset["uid"] for dataset in before}
    return [
        dataset
        for dataset in _all(portal)
        if dataset["uid"] not in known and re.sub(r"-[0-9]+$", "", dataset["dataset_id"]) in remote_ids
    ]


def test_a_run_goes_through_queued_and_processing_and_creates_the_sources_datasets(portal: Portal) -> None:
    before = _all(portal)
    harvester = _create(portal, {**CSW, "forced_metas": {"default": {"publisher": "Regional mapping office"}}})
    uid = harvester["uid"]
    assert uid.startswith("ha_") and harvester["status"] == "new" and harvester["attached_datasets_count"] == 0
    assert harvester["last_started_at"] is None and harvester["remote_datasets_count"] is None
    preview = portal.get(f"/harvesters/{uid}/preview/").json()
    expected = harvest_source.catalogue(harvester)
    assert preview["total_count"] == len(expected) >= 3
    assert [r["id"] for r in preview["results"]] == [remote.id for remote in expected]
    started = portal.post(f"/harvesters/{uid}/start/")
    assert started.status_code == 200 and started.json()["status"] == "queued"
    assert started.json()["last_started_at"] == "2030-01-01T00:00:00Z"
    refused = portal.post(f"/harvesters/{uid}/start/")
    assert refused.status_code == 400
    assert refused.json() == {"error_code": "invalid_harvester_status",
                              "message": "Invalid transition from queued to processing"}  # fmt: skip
    portal.clock.advance(1)
    assert portal.get(f"/harvesters/{uid}/").json()["status"] == "processing"
    again = portal.post(f"/harvesters/{uid}/start/").json()
    assert again["message"] == "Invalid transition from processing to processing"  # the documents' sample
    assert portal.get(f"/harvesters/{uid}/").json()["remote_datasets_count"] is None  # not until the run ends
    portal.clock.advance(3)
    done = portal.get(f"/harvesters/{uid}/").json()
    assert done["status"] == "idle" and done["last_success_at"] == "2030-01-01T00:00:04Z"
    counts = {name: done[name] for name in ("remote_datasets_count", "harvested_datasets_count",
                                            "attached_datasets_count", "published_datasets_count")}  # fmt: skip
    assert counts == {"remote_datasets_count": len(expected), "harvested_datasets_count": len(expected),
                      "attached_datasets_count": len(expected), "published_datasets_count": 0}  # fmt: skip
    datasets = _harvested(portal, harvester, before)
    assert sorted(re.sub(r"-[0-9]+$", "", d["dataset_id"]) for d in datasets) == sorted(r.id for r in expected)
    first = next(d for d in datasets if d["dataset_id"].startswith(expected[0].id))
    title = first["metadata"]["default"]["title"]
    assert title == {"value": expected[0].title, "remote_value": expected[0].title, "override_remote_value": False}
    publisher = first["metadata"]["default"]["publisher"]
    assert publisher["value"] == "Regional mapping office" and publisher["override_remote_value"] is True
    assert first["is_published"] is False
    resources = portal.get(f"/datasets/{first['uid']}/resources/").json()
    assert resources["results"][0]["datasource"]["type"] == "http"
    assert portal.get(f"/harvesters/{uid}/errors/").json() == {"harvester": None, "resources": {}}


def test_a_second_run_updates_what_it_harvested_and_deletes_the_missing_when_asked(portal: Portal) -> None:
    before = _all(portal)
    ckan = {"type": "ckan", "name": "Open data", "url": "https://ckan.example.org", "delete_missing_datasets": True}
    uid = _create(portal, ckan)["uid"]
    portal.post(f"/harvesters/{uid}/start/")
    portal.clock.advance(4)
    harvester = portal.get(f"/harvesters/{uid}/").json()
    datasets = _harvested(portal, harvester, before)
    everything = harvest_source.catalogue(harvester)
    assert len(datasets) == len(everything)
    # someone overrides a title: a run keeps it, and gives the field the source's value as remote_value
    chosen = next(d for d in datasets if d["dataset_id"].startswith(everything[0].id))
    changed = portal.put(f"/datasets/{chosen['uid']}/metadata/default/title/",
                         {"value": "Our own title", "override_remote_value": True})  # fmt: skip
    assert changed.status_code == 200, changed.text
    narrowed = portal.put(f"/harvesters/{uid}/", {**ckan, "limit": 2})
    assert narrowed.status_code == 200, narrowed.text
    assert portal.post(f"/harvesters/{uid}/start/").status_code == 200
    portal.clock.advance(4)
    done = portal.get(f"/harvesters/{uid}/").json()
    assert (done["remote_datasets_count"], done["attached_datasets_count"]) == (2, 2)
    kept = _harvested(portal, done, before)
    assert sorted(re.sub(r"-[0-9]+$", "", d["dataset_id"]) for d in kept) == sorted(r.id for r in everything[:2])
    gone = {d["uid"] for d in datasets} - {d["uid"] for d in kept}
    assert len(gone) == len(everything) - 2 and all(portal.get(f"/datasets/{uid}/").status_code == 404 for uid in gone)
    title = portal.get(f"/datasets/{chosen['uid']}/").json()["metadata"]["default"]["title"]
    assert title == {"value": "Our own title", "remote_value": everything[0].title, "override_remote_value": True}


def test_a_deleted_dataset_is_harvested_again_and_restrict_sets_is_restricted(portal: Portal) -> None:
    before = _all(portal)
    uid = _create(portal, {**CSW, "restrict_datasets_visibility": True, "metadata_only": True})["uid"]
    portal.post(f"/harvesters/{uid}/start/")
    portal.clock.advance(4)
    harvester = portal.get(f"/harvesters/{uid}/").json()
    datasets = _harvested(portal, harvester, before)
    assert all(d["is_restricted"] for d in datasets)
    assert portal.get(f"/datasets/{datasets[0]['uid']}/resources/").json()["total_count"] == 0  # metadata only
    assert portal.delete(f"/datasets/{datasets[0]['uid']}/").status_code == 204
    portal.post(f"/harvesters/{uid}/start/")
    portal.clock.advance(4)
    assert len(_harvested(portal, harvester, before)) == len(datasets)
    assert portal.get(f"/harvesters/{uid}/").json()["attached_datasets_count"] == len(datasets)


def test_publish_publishes_the_harvested_datasets_from_the_sources_files(portal: Portal) -> None:
    before = _all(portal)
    for extra in ({}, {"download_resources": True}):  # linked by URL, then downloaded into the dataset
        body = {"type": "arcgis", "name": "City GIS", "url": f"https://gis{len(extra)}.example.com/arcgis", **extra}
        uid = _create(portal, body)["uid"]
        portal.post(f"/harvesters/{uid}/start/")
        portal.clock.advance(4)
        harvester = portal.get(f"/harvesters/{uid}/").json()
        assert portal.post(f"/harvesters/{uid}/publish/").json() == {"detail": "ok"}
        assert (
            portal.get(f"/harvesters/{uid}/").json()["published_datasets_count"] == harvester["attached_datasets_count"]
        )
        portal.clock.advance(4)
        datasets = _harvested(portal, harvester, before)
        for dataset in datasets:
            status = portal.status(dataset["uid"])
            assert (status["status"], status["message"]) == ("idle", None), status
            assert dataset["is_published"] is True
            assert dataset["metadata"]["default"]["records_count"]["value"] > 0
        assert portal.post(f"/harvesters/{uid}/unpublish/").json() == {"detail": "ok"}
        assert portal.get(f"/harvesters/{uid}/").json()["published_datasets_count"] == 0
        portal.clock.advance(4)
        assert not any(d["is_published"] for d in _harvested(portal, harvester, before))
        portal.delete(f"/harvesters/{uid}/?delete_attached_datasets=true")  # the next source may hold these ids


def test_abort_ends_a_run_without_its_counts(portal: Portal) -> None:
    uid = _create(portal, CSW)["uid"]
    refused = portal.post(f"/harvesters/{uid}/abort/")
    assert refused.json() == {
        "error_code": "invalid_harvester_status",
        "message": "Invalid transition from new to aborting",
    }
    portal.post(f"/harvesters/{uid}/start/")
    portal.clock.advance(1)
    aborted = portal.post(f"/harvesters/{uid}/abort/")
    assert aborted.status_code == 200 and aborted.json()["status"] == "aborting"
    portal.clock.advance(1)
    after = portal.get(f"/harvesters/{uid}/").json()
    assert (after["status"], after["last_success_at"], after["remote_datasets_count"]) == ("idle", None, None)


def test_an_unreachable_source_ends_the_run_with_its_critical_error(portal: Portal) -> None:
    uid = _create(portal, {**CSW, "url": "https://catalogue.invalid/csw"})["uid"]
    assert portal.get(f"/harvesters/{uid}/preview/").json() == {"total_count": 0, "results": []}
    portal.post(f"/harvesters/{uid}/start/")
    portal.clock.advance(4)
    done = portal.get(f"/harvesters/{uid}/").json()
    assert (done["status"], done["has_error"], done["last_success_at"]) == ("idle", True, None)
    errors = portal.get(f"/harvesters/{uid}/errors/").json()
    assert errors == {"harvester": harvest_source.UNREACHABLE, "resources": {}}


def test_every_type_is_a_subtype_with_its_own_fields_and_secrets_read_back_as_null(portal: Portal) -> None:
    ods = _create(portal, {"type": "ods", "name": "Partner portal", "domain": "partner.example.org", "api_key": "s3"})
    assert ods["api_key"] is None and ods["domain"] == "partner.example.org" and "url" not in ods
    ftp = {"type": "ftp_csv", "name": "Drop", "host": "ftp.example.org", "user": "u", "password": "p",
           "metadata_file": "meta.csv"}  # fmt: skip
    created = _create(portal, ftp)
    assert created["password"] is None and created["metadata_join_key"] == "source_dataset"
    unknown = portal.post("/harvesters/", {"type": "gopher", "name": "Old", "url": "gopher://x"})
    assert unknown.status_code == 400 and unknown.json()["error_code"] == "validation_error"
    missing = portal.post("/harvesters/", {"type": "csw", "name": "No URL"})
    assert missing.status_code == 400
    # a PUT without the secret keeps it (its preview still answers), a change of type drops the former fields
    kept = portal.put(f"/harvesters/{ods['uid']}/", {"type": "ods", "name": "Partner", "domain": "partner.example.org"})
    assert kept.status_code == 200 and kept.json()["api_key"] is None
    moved = portal.put(f"/harvesters/{ods['uid']}/", CSW).json()
    assert moved["type"] == "csw" and "domain" not in moved and moved["url"] == CSW["url"]


def test_unsaved_preview_merges_the_body_over_the_saved_configuration_and_changes_nothing(portal: Portal) -> None:
    saved = _create(portal, {"type": "ckan", "name": "Open data", "url": "https://ckan.example.org"})
    uid = saved["uid"]
    preview = portal.post(f"/harvesters/{uid}/unsaved_preview/", {**saved, "limit": 1, "api_key": None})
    assert preview.status_code == 200, preview.text
    assert preview.json()["total_count"] == 1
    assert portal.get(f"/harvesters/{uid}/").json().get("limit") is None
    full = portal.get(f"/harvesters/{uid}/preview/").json()
    assert full["total_count"] == len(harvest_source.catalogue(saved)) > 1


def test_delete_needs_delete_attached_datasets_and_takes_them_or_leaves_them(portal: Portal) -> None:
    before = _all(portal)
    for take in (True, False):
        uid = _create(portal, {**CSW, "url": f"https://geo{take}.example.org/csw"})["uid"]
        portal.post(f"/harvesters/{uid}/start/")
        portal.clock.advance(4)
        harvester = portal.get(f"/harvesters/{uid}/").json()
        datasets = _harvested(portal, harvester, before)
        assert datasets
        assert portal.delete(f"/harvesters/{uid}/").status_code == 400  # the parameter is required
        assert portal.delete(f"/harvesters/{uid}/?delete_attached_datasets=maybe").status_code == 400
        assert portal.delete(f"/harvesters/{uid}/?delete_attached_datasets={str(take).lower()}").status_code == 204
        assert portal.get(f"/harvesters/{uid}/").status_code == 404
        left = [portal.get(f"/datasets/{d['uid']}/").status_code for d in datasets]
        assert left == [404 if take else 200] * len(datasets)
        if not take:
            for dataset in datasets:
                portal.delete(f"/datasets/{dataset['uid']}/")


def test_a_harvester_has_one_schedule(portal: Portal) -> None:
    uid = _create(portal, CSW)["uid"]
    created = portal.post(f"/harvesters/{uid}/schedules/", {"cron_schedule": "30 1 * * *", "timezone": "Europe/Berlin"})
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert schedule["uid"].startswith("sc_")
    second = portal.post(f"/harvesters/{uid}/schedules/", {"cron_schedule": "0 2 * * *", "timezone": "UTC"})
    assert second.json() == {"error_code": "bad_request", "message": "A harvester can only have one schedule."}
    assert second.status_code == 400
    path = f"/harvesters/{uid}/schedules/{schedule['uid']}/"
    assert portal.get(f"/harvesters/{uid}/schedules/").json()["total_count"] == 1
    assert portal.get(f"/harvesters/{uid}/schedules/{schedule['uid']}/").json() == schedule
    updated = portal.put(path, {"cron_schedule": "0 3 * * MON-FRI", "timezone": "Europe/Paris"})
    assert updated.json()["cron_schedule"] == "0 3 * * MON-FRI"
    bad = portal.put(path, {"cron_schedule": "1 30 * * *", "timezone": "Europe/Paris"})  # the documents' own sample
    assert bad.status_code == 400
    assert portal.delete(path).status_code == 204
    assert (
        portal.post(f"/harvesters/{uid}/schedules/", {"cron_schedule": "0 2 * * *", "timezone": "UTC"}).status_code
        == 201
    )
    assert portal.delete(f"/harvesters/{uid}/?delete_attached_datasets=false").status_code == 204
    assert portal.get(f"/harvesters/{uid}/schedules/").status_code == 404


def test_the_list_is_paginated_oldest_first(portal: Portal) -> None:
    before = portal.get("/harvesters/").json()["total_count"]
    made = [_create(portal, {**CSW, "name": f"H{n}"})["uid"] for n in range(3)]
    page = portal.get(f"/harvesters/?limit=2&offset={before + 1}").json()
    assert page["total_count"] == before + 3 and [h["uid"] for h in page["results"]] == made[1:]


def test_the_twins_keep_their_harvesters_apart(make_client: Any) -> None:
    client = make_client(*TWINS)
    opendatasoft, huwise = Portal(client, "opendatasoft"), Portal(client, "huwise")
    uid = _create(huwise, CSW)["uid"]
    assert huwise.get(f"/harvesters/{uid}/").status_code == 200
    assert opendatasoft.get(f"/harvesters/{uid}/").status_code == 404
    assert uid not in [h["uid"] for h in opendatasoft.get("/harvesters/?limit=100").json()["results"]]
