"""A dataset's lifecycle over HTTP, on both Automation API twins: its status machine on the twin's clock
(publish, unpublish, abort), its versions and their restore, and copies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import runtime_of

TWINS = ("opendatasoft", "huwise")
REPLACE = {"type": "string_replace", "label": "N/A spelled out", "field": "status", "old": "N/A", "new": "None"}
REGEXP = {"type": "regexp_replace", "label": "Digits only", "field": "phone", "regexp": "[^0-9]", "new": ""}


class Portal:
    """One twin's Automation API, with its key and the shared clock frozen."""

    def __init__(self, client: TestClient, twin: str) -> None:
        self.client, self.base = client, f"/{twin}/api/automation/v1.0"
        key = runtime_of(client).twins[twin].credentials()[0]["credential"]
        self.headers = {"Authorization": f"apikey {key}"}
        self.clock = runtime_of(client).clock
        self.clock.freeze(datetime(2030, 1, 1, tzinfo=UTC))

    def get(self, path: str) -> Any:
        return self.client.get(self.base + path, headers=self.headers)

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(self.base + path, json=body, headers=self.headers)

    def put(self, path: str, body: Any) -> Any:
        return self.client.put(self.base + path, json=body, headers=self.headers)

    def delete(self, path: str) -> Any:
        return self.client.delete(self.base + path, headers=self.headers)

    def new_dataset(self, dataset_id: str = "trees") -> str:
        body = {"dataset_id": dataset_id, "metadata": {"default": {"title": {"value": "Trees"}}}}
        created = self.post("/datasets/", body)
        assert created.status_code == 201, created.text
        return str(created.json()["uid"])

    def status(self, uid: str) -> dict[str, Any]:
        answer = self.get(f"/datasets/{uid}/status/")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


@pytest.fixture(params=TWINS)
def portal(request: pytest.FixtureRequest, make_client: Any) -> Portal:
    return Portal(make_client(*TWINS), request.param)


def test_publish_goes_through_queued_and_processing_to_idle_and_published(portal: Portal) -> None:
    uid = portal.new_dataset()
    status = portal.status(uid)
    assert (status["status"], status["is_published"], status["since"]) == ("idle", False, "2030-01-01T00:00:00Z")
    refused = portal.post(f"/datasets/{uid}/unpublish/")
    assert refused.status_code == 400 and refused.json()["error_code"] == "invalid_dataset_status"
    assert portal.post(f"/datasets/{uid}/publish/").json() == {"detail": "ok"}
    assert (portal.status(uid)["status"], portal.status(uid)["next"]) == ("queued", "processing")
    portal.clock.advance(1)
    assert portal.status(uid)["status"] == "processing"
    again = portal.post(f"/datasets/{uid}/publish/")
    message = "Invalid precondition, dataset status is 'processing' but must be one of 'idle, error, limit_reached'"
    assert again.status_code == 400 and again.json() == {"error_code": "invalid_dataset_status", "message": message}
    portal.clock.advance(3)
    status = portal.status(uid)
    assert (status["status"], status["previous"], status["is_published"]) == ("idle", "processing", True)
    assert portal.get(f"/datasets/{uid}/").json()["is_published"] is True
    assert portal.post(f"/datasets/{uid}/unpublish/").json() == {"detail": "ok"}
    portal.clock.advance(1)
    assert portal.status(uid)["status"] == "deleting"
    portal.clock.advance(2)
    assert portal.status(uid)["status"] == "idle" and portal.get(f"/datasets/{uid}/").json()["is_published"] is False


def test_abort_passes_through_aborting_processing(portal: Portal) -> None:
    uid = portal.new_dataset()
    idle = portal.post(f"/datasets/{uid}/abort/")
    assert idle.status_code == 400 and "processing_all_dataset_data" in idle.json()["message"]
    portal.post(f"/datasets/{uid}/publish/")
    portal.clock.advance(2)
    assert portal.post(f"/datasets/{uid}/abort/").json() == {"detail": "ok"}
    assert portal.status(uid)["status"] == "aborting_processing"
    portal.clock.advance(1)
    assert portal.status(uid)["status"] == "idle" and portal.status(uid)["is_published"] is False


def test_a_processor_change_makes_a_version_that_restores_the_processor_list(portal: Portal) -> None:
    uid = portal.new_dataset()
    first = portal.post(f"/datasets/{uid}/processors/", REPLACE).json()["uid"]
    versions = portal.get(f"/datasets/{uid}/versions/").json()
    assert versions["total_count"] == 2 and [v["sections"] for v in versions["results"]][-1] == ["processors"]
    before_change = versions["results"][-1]["uid"]
    assert portal.put(f"/datasets/{uid}/processors/{first}/", REGEXP).status_code == 200
    portal.post(f"/datasets/{uid}/processors/", REPLACE)
    latest = portal.get(f"/datasets/{uid}/versions/?limit=1&offset=3").json()["results"][0]
    assert latest["sections"] == ["processors"] and latest["can_restore"] is True and latest["uid"].startswith("ch_")
    assert portal.get(f"/datasets/{uid}/versions/{latest['uid']}/").json() == latest
    restored = portal.post(f"/datasets/{uid}/versions/{before_change}/restore/")
    assert restored.status_code == 200 and restored.json()["uid"] == uid
    processors = portal.get(f"/datasets/{uid}/processors/").json()["results"]
    assert processors == [{"uid": first, **REPLACE}]
    assert portal.get(f"/datasets/{uid}/versions/").json()["total_count"] == 5
    gone = portal.post(f"/datasets/{uid}/versions/ch_absent/restore/")
    assert gone.status_code == 404 and gone.json()["error_code"] == "not_found"


def test_only_the_last_20_versions_are_kept_on_both_twins(portal: Portal) -> None:
    """Huwise's document: "at most 20 are stored"; the vendor's contract says so for Opendatasoft too."""
    uid = portal.new_dataset()
    made = [
        portal.post(f"/datasets/{uid}/processors/", {**REPLACE, "label": f"Step {n}"}).status_code for n in range(24)
    ]
    assert made == [201] * 24  # with the creation's, 25 changes
    versions = portal.get(f"/datasets/{uid}/versions/?limit=100").json()
    assert versions["total_count"] == 20 and len(versions["results"]) == 20
    oldest = portal.post(f"/datasets/{uid}/versions/{versions['results'][0]['uid']}/restore/")
    assert oldest.status_code == 200  # the oldest kept: the creation's and the first four appends' are gone
    assert portal.get(f"/datasets/{uid}/processors/").json()["total_count"] == 5


def test_a_copy_is_a_new_unpublished_dataset_with_the_originals_configuration(portal: Portal) -> None:
    uid = portal.new_dataset("trees")
    processor = portal.post(f"/datasets/{uid}/processors/", REPLACE).json()["uid"]
    portal.post(f"/datasets/{uid}/schedules/", {"cron_schedule": "0 4 * * *"})
    portal.post(f"/datasets/{uid}/publish/")
    portal.clock.advance(10)
    copied = portal.post(f"/datasets/{uid}/copy/")
    assert copied.status_code == 201, copied.text
    copy = copied.json()
    assert copy["uid"] != uid and copy["dataset_id"] == "trees-copy" and copy["is_published"] is False
    original = portal.get(f"/datasets/{uid}/").json()
    assert copy["metadata"]["default"]["title"] == original["metadata"]["default"]["title"]
    assert portal.status(copy["uid"])["status"] == "idle"
    processors = portal.get(f"/datasets/{copy['uid']}/processors/").json()["results"]
    assert [p["old"] for p in processors] == ["N/A"] and processors[0]["uid"] != processor
    assert portal.get(f"/datasets/{copy['uid']}/schedules/").json()["total_count"] == 0  # not configuration
    assert portal.post(f"/datasets/{uid}/copy/").json()["dataset_id"] == "trees-copy-2"


def test_the_twins_keep_their_lifecycles_apart(make_client: Any) -> None:
    client = make_client(*TWINS)
    ods, huwise = Portal(client, "opendatasoft"), Portal(client, "huwise")
    uid = ods.new_dataset()
    ods.post(f"/datasets/{uid}/publish/")
    assert huwise.get(f"/datasets/{uid}/status/").status_code == 404


def test_publishing_metadata_runs_a_processing_and_changes_nothing_else(portal: Portal) -> None:
    uid = portal.new_dataset()
    assert portal.post(f"/datasets/{uid}/publish_metadata/").json() == {"detail": "ok"}
    assert portal.status(uid)["next"] == "processing"
    portal.clock.advance(4)
    status = portal.status(uid)
    assert (status["status"], status["previous"], status["is_published"]) == ("idle", "processing", False)


def test_a_dataset_created_through_the_api_has_the_shape_of_the_fixtures_ones(portal: Portal) -> None:
    """Completed at every depth as the fixtures are (the same code path): every standard template, each metadata
    value with its remote_value and override_remote_value."""
    made = portal.get(f"/datasets/{portal.new_dataset()}/").json()
    fixture = portal.get("/datasets/da_kxbtjj/").json()
    assert set(made["metadata"]) == set(fixture["metadata"])
    assert made["metadata"]["default"]["title"] == {
        "value": "Trees",
        "remote_value": None,
        "override_remote_value": False,
    }
    assert set(made["metadata"]["default"]["title"]) == set(fixture["metadata"]["default"]["title"])
