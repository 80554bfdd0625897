"""The domain's people and who may do what, over HTTP on both Automation API twins: users, groups and their
members, invitations answered per payload position, the CSV export, datasource connections and their secrets,
the security rulesets, and permissions enforced from keys, users, groups and rulesets."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from tests.conftest import runtime_of
from tests.e2e.test_automation_lifecycle import TWINS, Portal


@pytest.fixture(params=["opendatasoft", "huwise"])
def portal(request: pytest.FixtureRequest, make_client: Any) -> Portal:
    return Portal(make_client(*TWINS), request.param)


def test_invitations_answer_each_user_by_its_position(portal: Portal) -> None:
    invited = portal.post("/users/invite/", [
        {"email": "jules.martin@example.org", "first_name": "Jules", "groups": [{"uid": "content_designers"}]},
        {"email": "louise.data@example.org"},  # taken
        {"email": "nina@example.org", "groups": [{"uid": "no_such_group"}]},
    ])  # fmt: skip
    assert invited.status_code == 200, invited.text
    outcome = invited.json()
    assert list(outcome) == ["0", "1", "2"]
    assert outcome["0"]["status_code"] == "success" and outcome["0"]["data"]["username"] == "jules.martin"
    assert outcome["0"]["data"]["groups"] == [{"uid": "content_designers"}]
    assert outcome["1"]["status_code"] == "error" and outcome["1"]["error"]["error_code"] == "validation_error"
    assert outcome["2"]["status_code"] == "error" and portal.get("/users/nina/").status_code == 404  # nothing kept
    group = portal.get("/groups/content_designers/").json()
    assert group["user_count"] == 3


def test_groups_are_named_from_their_title_and_their_members_are_users(portal: Portal) -> None:
    created = portal.post("/groups/", {"title": "Data Stewards!", "permissions": ["edit_dataset"]})
    assert created.status_code == 201 and created.json()["uid"] == "data_stewards"
    assert created.json()["created_by"] == {"username": "admin"}
    again = portal.post("/groups/", {"title": "Data stewards"}).json()
    assert again["uid"] == "data_stewards_2"
    added = portal.post("/groups/data_stewards/users/", {"username": "hugo.vasseur"})
    assert added.status_code == 201 and added.json()["username"] == "hugo.vasseur"
    assert portal.post("/groups/data_stewards/users/", {"username": "hugo.vasseur"}).status_code == 201  # again
    members = portal.get("/groups/data_stewards/users/").json()
    assert [m["username"] for m in members["results"]] == ["hugo.vasseur"] and "email" in members["results"][0]
    assert portal.get("/users/hugo.vasseur/").json()["groups"] == [{"uid": "data_stewards"}]
    batch = portal.post("/groups/data_stewards/users/batch/", [{"username": "louise.data"}, {"username": "nobody"}])
    assert [batch.json()[k]["status_code"] for k in ("0", "1")] == ["success", "error"]
    biggest = portal.get("/groups/?sort=-user_count").json()["results"][0]
    assert biggest["uid"] in ("data_stewards", "content_designers") and biggest["user_count"] == 2
    gone = portal.delete("/groups/data_stewards/users/hugo.vasseur/")
    assert gone.status_code == 204 and portal.get("/users/hugo.vasseur/").json()["groups"] == []


def test_the_export_is_csv_with_the_delimiter_asked(portal: Portal) -> None:
    answer = portal.get("/users/export/?delimiter=;")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.text), delimiter=";"))
    assert rows[0] == ["username", "last_name", "first_name", "email", "date_joined", "last_seen", "groups",
                       "permissions"]  # fmt: skip
    louise = next(row for row in rows if row[0] == "louise.data")
    assert louise[6] == "Content Designers" and louise[4].endswith("+00:00")


def test_the_last_administrator_cannot_be_deleted_or_demoted(portal: Portal) -> None:
    refused = portal.delete("/users/admin/")
    assert refused.status_code == 400 and "only domain administrator" in refused.json()["message"]
    demoted = portal.put("/users/admin/", {"email": "admin@example.org", "permissions": []})
    assert demoted.status_code == 400 and portal.get("/users/admin/").json()["permissions"] == ["edit_domain"]
    assert portal.delete("/users/hugo.vasseur/").status_code == 204


def test_a_connections_secret_reads_back_as_null_and_is_kept(portal: Portal) -> None:
    auth = {"type": "basic_auth", "username": "etl", "password": "s3cret"}
    created = portal.post("/datasource_connections/", {"type": "http", "url": "https://data.example.org", "auth": auth})
    assert created.status_code == 201, created.text
    connection = created.json()
    assert connection["auth"] == {"type": "basic_auth", "username": "etl", "password": None}
    store = runtime_of(portal.client).store
    twin = portal.base.split("/")[1]
    assert store.get(f"{twin}/datasource_connections", connection["uid"])["auth"]["password"] == "s3cret"  # type: ignore[index]


def test_rulesets_answer_as_each_parent_documents_and_name_existing_people(portal: Portal) -> None:
    body = {"user": {"username": "hugo.vasseur"}, "permissions": ["edit_dataset"]}
    on_dataset = portal.post("/datasets/da_kxbtjj/security/users/", body)
    assert on_dataset.status_code == 201 and on_dataset.json()["user"] == {"username": "hugo.vasseur"}
    on_connection = portal.post("/datasource_connections/co_qf2hyt/security/users/", {**body, "permissions": []})
    assert on_connection.status_code == 200
    group = portal.post("/datasets/da_kxbtjj/security/groups/", {"group": {"uid": "content_designers"}})
    assert group.status_code == 201
    unknown = portal.post("/datasets/da_kxbtjj/security/users/", {"user": {"username": "nobody"}})
    assert unknown.status_code == 400 and "user.username" in unknown.json()["detail"]
    assert portal.get("/datasets/da_kxbtjj/security/users/hugo.vasseur/").json()["permissions"] == ["edit_dataset"]


def test_permissions_follow_the_key_its_user_groups_and_rulesets(portal: Portal) -> None:
    twin = portal.base.split("/")[1]
    keys = runtime_of(portal.client).twins[twin].state.collection("apikeys")
    keys.create({"label": "hugo's", "permissions": ["edit_dataset"]}, key="h" * 56, user={"username": "hugo.vasseur"})
    hugo = {"Authorization": "apikey " + "h" * 56}
    louise = {"Authorization": "apikey " + keys.get("ak_qf2hyt")["key"]}  # her key holds no edit_dataset

    def rename(headers: dict[str, str], uid: str) -> Any:
        return portal.client.put(f"{portal.base}/datasets/{uid}/", json={"dataset_id": f"renamed-{uid}",
                                 "metadata": {"default": {"title": {"value": "t"}}}}, headers=headers)  # fmt: skip

    refused = rename(louise, "da_kxbtjj")
    assert refused.status_code == 403 and refused.json() == {
        "error_code": "permission_denied", "message": "You do not have permission to perform this action."}  # fmt: skip
    assert rename(hugo, "da_kxbtjj").status_code == 403  # the key may, its user may not
    ruleset = {"user": {"username": "hugo.vasseur"}, "permissions": ["edit_dataset"]}
    assert portal.post("/datasets/da_kxbtjj/security/users/", ruleset).status_code == 201
    assert rename(hugo, "da_kxbtjj").status_code == 200  # a ruleset on this dataset grants it
    assert rename(hugo, "da_h4v2qa").status_code == 403  # not on another
    assert portal.client.get(f"{portal.base}/datasets/da_h4v2qa/", headers=hugo).status_code == 200  # reads: open


def test_huwise_has_its_own_five_more_permissions(make_client: Any) -> None:
    client = make_client(*TWINS)
    body = {"email": "louise.data@example.org", "permissions": ["manage_glossary"]}
    huwise, ods = Portal(client, "huwise"), Portal(client, "opendatasoft")
    assert huwise.put("/users/louise.data/", body).status_code == 200
    refused = ods.put("/users/louise.data/", body)
    assert refused.status_code == 400 and refused.json()["error_code"] == "validation_error"


def test_provisioned_users_are_linked_to_their_identity_provider(portal: Portal) -> None:
    provisioned = portal.post("/users/provision/", {"email": "ines@example.org", "identity_provider": {"uid": "sso"}})
    user = provisioned.json()["0"]["data"]
    assert (user["username"], user["account_type"], user["identity_providers"]) == ("ines", "linked", [{"uid": "sso"}])


def test_a_group_is_updated_and_deleted_with_its_memberships(portal: Portal) -> None:
    updated = portal.put("/groups/content_designers/", {"title": "Designers", "permissions": ["edit_page"]})
    assert updated.status_code == 200 and updated.json()["uid"] == "content_designers"
    assert updated.json()["title"] == "Designers" and updated.json()["user_count"] == 2
    assert portal.delete("/groups/content_designers/").status_code == 204
    assert portal.get("/users/louise.data/").json()["groups"] == []


def test_api_keys_are_listed_read_and_relabelled(portal: Portal) -> None:
    listed = portal.get("/apikeys/").json()
    assert listed["total_count"] == 2 and {k["uid"] for k in listed["results"]} >= {"ak_qf2hyt"}
    assert portal.get("/apikeys/ak_qf2hyt/").json()["user"] == {"username": "louise.data"}
    relabelled = portal.put("/apikeys/ak_qf2hyt/", {"label": "Weekly export", "permissions": ["edit_dataset"]})
    assert relabelled.json()["label"] == "Weekly export" and relabelled.json()["key"] == listed["results"][1]["key"]


def test_connections_are_listed_changed_and_deleted(portal: Portal) -> None:
    assert portal.get("/datasource_connections/").json()["total_count"] == 2
    connection = portal.get("/datasource_connections/co_qf2hyt/").json()
    assert connection["type"] == "http" and connection["dataset_count"] == 0
    changed = portal.put("/datasource_connections/co_qf2hyt/", {"type": "http", "url": "https://new.example.org"})
    assert changed.status_code == 200 and changed.json()["url"] == "https://new.example.org"
    assert portal.delete("/datasource_connections/co_5vb8ne/").status_code == 204
    assert portal.get("/datasource_connections/co_5vb8ne/").status_code == 404


def test_dataset_rulesets_are_listed_changed_and_deleted(portal: Portal) -> None:
    portal.post("/datasets/da_kxbtjj/security/users/", {"user": {"username": "louise.data"}})
    portal.post("/datasets/da_kxbtjj/security/groups/", {"group": {"uid": "content_designers"}})
    assert portal.get("/datasets/da_kxbtjj/security/users/").json()["total_count"] == 1
    assert portal.get("/datasets/da_kxbtjj/security/groups/").json()["total_count"] == 1
    users = {"user": {"username": "louise.data"}, "permissions": ["manage_dataset"]}
    assert portal.put("/datasets/da_kxbtjj/security/users/louise.data/", users).json()["permissions"] == [
        "manage_dataset"
    ]
    groups = {"group": {"uid": "content_designers"}, "permissions": ["edit_dataset"]}
    assert portal.put("/datasets/da_kxbtjj/security/groups/content_designers/", groups).status_code == 200
    assert portal.get("/datasets/da_kxbtjj/security/groups/content_designers/").json()["permissions"] == [
        "edit_dataset"
    ]
    assert portal.delete("/datasets/da_kxbtjj/security/users/louise.data/").status_code == 204
    assert portal.delete("/datasets/da_kxbtjj/security/groups/content_designers/").status_code == 204
    assert portal.get("/datasets/da_kxbtjj/security/users/").json()["total_count"] == 0


def test_connection_rulesets_are_created_listed_changed_and_deleted(portal: Portal) -> None:
    user = {"user": {"username": "louise.data"}, "permissions": ["manage_connection"]}
    group = {"group": {"uid": "content_designers"}, "permissions": []}
    assert portal.post("/datasource_connections/co_qf2hyt/security/users/", user).status_code == 200
    assert portal.post("/datasource_connections/co_qf2hyt/security/groups/", group).status_code == 200
    assert portal.get("/datasource_connections/co_qf2hyt/security/users/").json()["total_count"] == 1
    assert portal.get("/datasource_connections/co_qf2hyt/security/groups/").json()["total_count"] == 1
    assert portal.get("/datasource_connections/co_qf2hyt/").json()["user_count"] == 1
    assert portal.get("/datasource_connections/co_qf2hyt/security/users/louise.data/").json() == user
    changed = portal.put("/datasource_connections/co_qf2hyt/security/users/louise.data/", {**user, "permissions": []})
    assert changed.json()["permissions"] == []
    assert portal.put("/datasource_connections/co_qf2hyt/security/groups/content_designers/", group).status_code == 200
    assert portal.get("/datasource_connections/co_qf2hyt/security/groups/content_designers/").json() == group
    assert portal.delete("/datasource_connections/co_qf2hyt/security/users/louise.data/").status_code == 204
    assert portal.delete("/datasource_connections/co_qf2hyt/security/groups/content_designers/").status_code == 204


def test_a_key_made_through_the_api_acts_until_revoked_and_is_found_by_its_secret(portal: Portal) -> None:
    created = portal.post("/apikeys/", {"label": "ci", "permissions": ["edit_dataset"]})
    assert created.status_code == 201 and created.json()["user"] == {"username": "admin"}
    key = created.json()
    fresh = {"Authorization": f"apikey {key['key']}"}
    assert portal.client.get(f"{portal.base}/datasets/?limit=1", headers=fresh).status_code == 200
    assert portal.post(f"/apikeys/{key['uid']}/revoke/", {"reason": "rotated"}).json()["is_revoked"] is True
    assert portal.client.get(f"{portal.base}/datasets/?limit=1", headers=fresh).status_code == 401
    found = portal.post("/apikeys/search_key/", {"key": key["key"]}).json()
    assert found["found"] is True and found["result"]["uid"] == key["uid"]
