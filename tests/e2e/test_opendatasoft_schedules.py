"""The Opendatasoft twin's dataset schedules and feedbacks over HTTP: schedules created, replaced and deleted under
their dataset with a cron expression checked field by field; feedbacks listed without the archived ones unless
asked, newest first, and archived."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.e2e.test_opendatasoft import NEW, auth

BASE = "/opendatasoft/api/automation/v1.0"


@pytest.fixture
def client(make_client: Any) -> TestClient:
    return make_client("opendatasoft")


def dataset_uids(client: TestClient) -> list[str]:
    page = client.get(f"{BASE}/datasets/", params={"limit": 100}, headers=auth(client)).json()
    return [dataset["uid"] for dataset in page["results"]]


def feedbacks(client: TestClient, dataset_uid: str, **params: str) -> list[dict[str, Any]]:
    answer = client.get(f"{BASE}/datasets/{dataset_uid}/feedbacks/", params=params, headers=auth(client))
    assert answer.status_code == 200, answer.text
    page = answer.json()
    assert page["total_count"] == len(page["results"]) and page["next"] is None
    results: list[dict[str, Any]] = page["results"]
    return results


def with_feedbacks(client: TestClient) -> str:
    """The fixture dataset with the most feedbacks, archived ones included."""
    counts = {
        uid: len(feedbacks(client, uid)) + len(feedbacks(client, uid, is_archived="true"))
        for uid in dataset_uids(client)
    }
    return max(counts, key=lambda uid: counts[uid])


def test_a_schedule_is_created_read_replaced_and_deleted_under_its_dataset(client: TestClient) -> None:
    dataset = dataset_uids(client)[0]
    before = client.get(f"{BASE}/datasets/{dataset}/schedules/", headers=auth(client)).json()["total_count"]

    created = client.post(
        f"{BASE}/datasets/{dataset}/schedules/", json={"cron_schedule": "0 * * * *"}, headers=auth(client)
    )
    assert created.status_code == 201, created.text
    uid = created.json()["uid"]
    assert re.fullmatch(r"sc_[a-z0-9]{6}", uid) and created.json() == {"uid": uid, "cron_schedule": "0 * * * *"}
    listed = client.get(f"{BASE}/datasets/{dataset}/schedules/", params={"limit": 100}, headers=auth(client)).json()
    assert listed["total_count"] == before + 1 and uid in [schedule["uid"] for schedule in listed["results"]]

    replaced = client.put(
        f"{BASE}/datasets/{dataset}/schedules/{uid}/", json={"cron_schedule": "30 6 * * MON-FRI"}, headers=auth(client)
    )
    assert replaced.status_code == 200 and replaced.json() == {"uid": uid, "cron_schedule": "30 6 * * MON-FRI"}
    assert (
        client.get(f"{BASE}/datasets/{dataset}/schedules/{uid}", headers=auth(client)).json()["cron_schedule"]
        == "30 6 * * MON-FRI"
    )

    assert client.delete(f"{BASE}/datasets/{dataset}/schedules/{uid}/", headers=auth(client)).status_code == 204
    gone = client.get(f"{BASE}/datasets/{dataset}/schedules/{uid}/", headers=auth(client))
    assert gone.status_code == 404 and gone.json()["error_code"] == "not_found"


@pytest.mark.parametrize(
    "cron",
    ["0 * * *", "0 * * * * *", "60 * * * *", "* 24 * * *", "0 0 0 * *", "0 0 * 13 *", "*/0 * * * *", "@hourly", "x"],
)
def test_a_cron_schedule_that_is_no_cron_expression_is_refused_by_field(client: TestClient, cron: str) -> None:
    dataset = dataset_uids(client)[0]
    for send in (client.post, client.put):
        url = f"{BASE}/datasets/{dataset}/schedules/"
        if send == client.put:
            url += client.post(url, json={"cron_schedule": "0 0 * * *"}, headers=auth(client)).json()["uid"] + "/"
        refused = send(url, json={"cron_schedule": cron}, headers=auth(client))
        assert refused.status_code == 400, (cron, refused.text)
        body = refused.json()
        assert body["error_code"] == "validation_error" and list(body["detail"]) == ["cron_schedule"]


@pytest.mark.parametrize("cron", ["*/15 9-17 * * MON-FRI", "0 0 1 jan,jul *", "5,35 */2 1-15/3 * 1-5", "0 0 31 12 7"])
def test_every_form_of_the_five_cron_fields_is_accepted(client: TestClient, cron: str) -> None:
    url = f"{BASE}/datasets/{dataset_uids(client)[0]}/schedules/"
    assert client.post(url, json={"cron_schedule": cron}, headers=auth(client)).status_code == 201


def test_schedules_belong_to_their_dataset_and_go_with_it(client: TestClient) -> None:
    first, second = dataset_uids(client)[:2]
    uid = client.post(
        f"{BASE}/datasets/{first}/schedules/", json={"cron_schedule": "0 4 * * SUN"}, headers=auth(client)
    )
    uid = uid.json()["uid"]
    assert client.get(f"{BASE}/datasets/{second}/schedules/{uid}/", headers=auth(client)).status_code == 404
    assert client.get(f"{BASE}/datasets/da_nope00/schedules/", headers=auth(client)).status_code == 404
    assert "dataset_uid" not in client.get(f"{BASE}/datasets/{first}/schedules/{uid}/", headers=auth(client)).json()

    assert client.delete(f"{BASE}/datasets/{first}/", headers=auth(client)).status_code == 204
    recreated = client.post(f"{BASE}/datasets/", json=NEW, headers=auth(client)).json()["uid"]
    assert client.get(f"{BASE}/datasets/{recreated}/schedules/", headers=auth(client)).json()["total_count"] == 0
    assert client.get(f"{BASE}/datasets/{first}/schedules/{uid}/", headers=auth(client)).status_code == 404


def test_the_schedule_list_is_paged(client: TestClient) -> None:
    url = f"{BASE}/datasets/{dataset_uids(client)[0]}/schedules/"
    for cron in ("0 1 * * *", "0 2 * * *", "0 3 * * *"):
        client.post(url, json={"cron_schedule": cron}, headers=auth(client))
    total = client.get(url, params={"limit": 0}, headers=auth(client)).json()
    assert total["results"] == [] and total["total_count"] >= 3
    first = client.get(url, params={"limit": 2}, headers=auth(client)).json()
    assert len(first["results"]) == 2 and first["next"] is not None and first["previous"] is None


def test_archived_feedbacks_are_listed_only_when_asked_for(client: TestClient) -> None:
    dataset = with_feedbacks(client)
    live, archived = feedbacks(client, dataset), feedbacks(client, dataset, is_archived="true")
    assert live and not any(feedback["is_archived"] for feedback in live)
    assert all(feedback["is_archived"] for feedback in archived)
    assert feedbacks(client, dataset, is_archived="false") == live
    assert all(re.fullmatch(r"df_[a-z0-9]{6}", feedback["uid"]) for feedback in live + archived)


def test_feedbacks_come_newest_first_unless_sorted_otherwise(client: TestClient) -> None:
    compared = 0
    for dataset in dataset_uids(client):
        newest_first = [feedback["created_at"] for feedback in feedbacks(client, dataset)]
        oldest_first = [feedback["created_at"] for feedback in feedbacks(client, dataset, sort="created_at")]
        assert newest_first == sorted(newest_first, reverse=True) and oldest_first == sorted(newest_first)
        compared += len(newest_first) >= 2
    assert compared >= 3
    dataset = with_feedbacks(client)
    refused = client.get(f"{BASE}/datasets/{dataset}/feedbacks/", params={"sort": "comment"}, headers=auth(client))
    assert refused.status_code == 400


def test_feedbacks_on_one_record_are_found_by_its_id(client: TestClient) -> None:
    dataset, record_id = next(
        (uid, feedback["record_id"])
        for uid in dataset_uids(client)
        for feedback in feedbacks(client, uid)
        if feedback["record_id"]
    )
    found = feedbacks(client, dataset, record_id=record_id)
    assert found and {feedback["record_id"] for feedback in found} == {record_id}


def test_an_archived_feedback_leaves_the_default_list(client: TestClient) -> None:
    dataset = with_feedbacks(client)
    feedback = feedbacks(client, dataset)[0]
    uid = feedback["uid"]

    archived = client.post(f"{BASE}/datasets/{dataset}/feedbacks/{uid}/archive/", headers=auth(client))
    assert archived.status_code == 200 and archived.json() == {**feedback, "is_archived": True}
    again = client.post(f"{BASE}/datasets/{dataset}/feedbacks/{uid}/archive", headers=auth(client))
    assert again.json()["is_archived"] is True  # again: no error
    assert client.get(f"{BASE}/datasets/{dataset}/feedbacks/{uid}/", headers=auth(client)).json()["is_archived"] is True
    assert feedback["uid"] not in [other["uid"] for other in feedbacks(client, dataset)]
    assert feedback["uid"] in [other["uid"] for other in feedbacks(client, dataset, is_archived="true")]
    missing = client.post(f"{BASE}/datasets/{dataset}/feedbacks/df_nope00/archive/", headers=auth(client))
    assert missing.status_code == 404 and missing.json()["error_code"] == "not_found"


def test_a_schedule_without_its_cron_schedule_names_the_field(client: TestClient) -> None:
    url = f"{BASE}/datasets/{dataset_uids(client)[0]}/schedules/"
    refused = client.post(url, json={}, headers=auth(client))
    assert refused.status_code == 400 and refused.json()["detail"] == {
        "cron_schedule": ["'cron_schedule' is a required property"]
    }
