"""The Huwise twin over HTTP: the Opendatasoft twin's operations on the same common spec files, with a state and
a portal of its own, and the documented differences of those operations (a dataset's PUT takes no metadata)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import runtime_of

HUWISE = "/huwise/api/automation/v1.0"
ODS = "/opendatasoft/api/automation/v1.0"
NEW = {"dataset_id": "glossary-2026", "metadata": {"default": {"title": {"value": "Glossary"}}}}


@pytest.fixture
def client(make_client: Any) -> TestClient:
    return make_client("opendatasoft", "huwise")


def auth(client: TestClient, twin: str = "huwise") -> dict[str, str]:
    return {"Authorization": f"apikey {runtime_of(client).twins[twin].credentials()[0]['credential']}"}


HARVESTED = 9  # the datasets the fixtures' harvesters made (ha_k3v9qp's 5, ha_x7d2mw's 4)


def datasets(client: TestClient, base: str, twin: str) -> list[dict[str, Any]]:
    page = client.get(f"{base}/datasets/", params={"limit": 100}, headers=auth(client, twin)).json()
    results: list[dict[str, Any]] = page["results"]
    return results


def test_each_twin_has_its_own_portal_and_key(client: TestClient) -> None:
    huwise, ods = datasets(client, HUWISE, "huwise"), datasets(client, ODS, "opendatasoft")
    # the city's own 24 datasets (not harvested: no remote title); the fixtures' harvesters read the same sources
    own = [d for d in huwise if d["metadata"]["default"]["title"]["remote_value"] is None]
    assert len(huwise) == HARVESTED + 24 and len(own) == 24
    assert {d["dataset_id"] for d in own}.isdisjoint(d["dataset_id"] for d in ods)
    assert "Metropolitan Area" in huwise[0]["metadata"]["default"]["publisher"]["value"]
    assert client.get(f"{HUWISE}/datasets/", headers=auth(client, "opendatasoft")).status_code == 401


def test_a_dataset_created_on_one_twin_is_invisible_on_the_other(client: TestClient) -> None:
    created = client.post(f"{HUWISE}/datasets/", json=NEW, headers=auth(client))
    assert created.status_code == 201 and re.fullmatch(r"da_[a-z0-9]{6}", created.json()["uid"])
    uid = created.json()["uid"]
    assert client.get(f"{ODS}/datasets/{uid}/", headers=auth(client, "opendatasoft")).status_code == 404
    on_ods = client.post(f"{ODS}/datasets/", json=NEW, headers=auth(client, "opendatasoft"))
    assert on_ods.status_code == 201  # the same dataset_id: unique within each domain only
    assert client.get(f"{HUWISE}/datasets/{on_ods.json()['uid']}/", headers=auth(client)).status_code == 404
    again = client.post(f"{HUWISE}/datasets/", json=NEW, headers=auth(client))
    assert again.status_code == 400 and list(again.json()["detail"]) == ["dataset_id"]


def test_the_catalogue_pages_and_authenticates_as_on_opendatasoft(client: TestClient) -> None:
    key = auth(client)["Authorization"].split()[1]
    first = client.get(f"{HUWISE}/datasets/", params={"limit": 10, "apikey": key}).json()
    assert first["total_count"] == HARVESTED + 24 and first["next"].startswith(f"http://localhost{HUWISE}/datasets/")
    seen, url = [], f"{HUWISE}/datasets/?limit=10"
    while url:
        page = client.get(url, headers={"Authorization": f"ApiKey {key}"}).json()
        seen, url = seen + [dataset["uid"] for dataset in page["results"]], page["next"]
    assert len(set(seen)) == HARVESTED + 24
    refused = client.get(f"{HUWISE}/datasets/")
    assert refused.status_code == 401 and set(refused.json()) == {"error_code", "message"}


def test_a_put_keeps_the_metadata_on_huwise_and_replaces_it_on_opendatasoft(client: TestClient) -> None:
    """Huwise's PUT takes dataset_id, is_restricted and default_security; metadata has its own operations."""
    body = {"is_restricted": True, "metadata": {"default": {"title": {"value": "Renamed"}}}}
    for base, twin in ((HUWISE, "huwise"), (ODS, "opendatasoft")):
        dataset = datasets(client, base, twin)[0]
        updated = client.put(f"{base}/datasets/{dataset['uid']}/", json=body, headers=auth(client, twin))
        assert updated.status_code == 200 and updated.json()["is_restricted"] is True
        title = updated.json()["metadata"]["default"]["title"]["value"]
        assert title == (dataset["metadata"]["default"]["title"]["value"] if twin == "huwise" else "Renamed")
    without = client.put(f"{HUWISE}/datasets/da_kxbtjj/", json={"dataset_id": "kept"}, headers=auth(client))
    assert without.status_code == 200 and without.json()["metadata"]["default"]["title"]["value"]
    refused = client.put(f"{ODS}/datasets/da_kxbtjj/", json={"dataset_id": "x"}, headers=auth(client, "opendatasoft"))
    assert refused.status_code == 400 and list(refused.json()["detail"]) == ["metadata"]


def test_the_put_body_each_twin_documents(client: TestClient) -> None:
    huwise = client.get(f"{HUWISE}/openapi.json").json()["components"]["schemas"]["DatasetUpdate"]
    ods = client.get(f"{ODS}/openapi.json").json()["components"]["schemas"]
    assert set(huwise["properties"]) == {"dataset_id", "is_restricted", "default_security"}
    assert "metadata" in ods["DatasetFields"]["required"]  # ODS's PUT body is the whole dataset (allOf of it)


def test_schedules_and_feedbacks_are_served_as_on_opendatasoft(client: TestClient) -> None:
    created = client.post(
        f"{HUWISE}/datasets/da_kxbtjj/schedules/", json={"cron_schedule": "0 6 * * MON"}, headers=auth(client)
    )
    assert created.status_code == 201 and re.fullmatch(r"sc_[a-z0-9]{6}", created.json()["uid"])
    uid = created.json()["uid"]
    replaced = client.put(
        f"{HUWISE}/datasets/da_kxbtjj/schedules/{uid}/", json={"cron_schedule": "every day"}, headers=auth(client)
    )
    assert replaced.status_code == 400 and list(replaced.json()["detail"]) == ["cron_schedule"]
    assert client.get(f"{HUWISE}/datasets/da_kxbtjj/schedules/{uid}/", headers=auth(client)).status_code == 200
    assert client.delete(f"{HUWISE}/datasets/da_kxbtjj/schedules/{uid}/", headers=auth(client)).status_code == 204
    assert client.get(f"{HUWISE}/datasets/da_kxbtjj/schedules/", headers=auth(client)).json()["total_count"] >= 1
    assert client.get(f"{HUWISE}/datasets/da_kxbtjj/feedbacks/df_qf2hyt/", headers=auth(client)).status_code == 200
    archived = client.post(f"{HUWISE}/datasets/da_kxbtjj/feedbacks/df_qf2hyt/archive/", headers=auth(client))
    assert archived.json()["is_archived"] is True
    listed = client.get(f"{HUWISE}/datasets/da_kxbtjj/feedbacks/", headers=auth(client)).json()["results"]
    assert "df_qf2hyt" not in [other["uid"] for other in listed]
    on_ods = f"{ODS}/datasets/da_kxbtjj/feedbacks/df_qf2hyt/"  # the same uid on the other portal: untouched
    assert client.get(on_ods, headers=auth(client, "opendatasoft")).json()["is_archived"] is False


def test_processors_fields_and_metadata_are_served_as_on_opendatasoft(client: TestClient) -> None:
    """Each shared operation once, on Huwise's own state (Opendatasoft's tests hold the behaviour in detail)."""
    replace = {"type": "string_replace", "label": "N/A spelled out", "field": "status", "old": "N/A", "new": "None"}
    uid = client.post(f"{HUWISE}/datasets/", json=NEW, headers=auth(client)).json()["uid"]
    processor = client.post(f"{HUWISE}/datasets/{uid}/processors/", json=replace, headers=auth(client))
    assert processor.status_code == 201 and processor.json()["field"] == "status"
    pr = processor.json()["uid"]
    assert client.get(f"{HUWISE}/datasets/{uid}/processors/", headers=auth(client)).json()["total_count"] == 1
    assert (
        client.put(f"{HUWISE}/datasets/{uid}/processors/{pr}/", json=replace, headers=auth(client)).status_code == 200
    )
    assert client.get(f"{HUWISE}/datasets/{uid}/processors/{pr}/", headers=auth(client)).json()["old"] == "N/A"
    assert client.delete(f"{HUWISE}/datasets/{uid}/processors/{pr}/", headers=auth(client)).status_code == 204
    rename = {"type": "rename", "label": "Rename nom", "from_name": "nom", "to_name": "name", "field_label": "Name"}
    field = client.post(f"{HUWISE}/datasets/{uid}/fields/", json=rename, headers=auth(client))
    assert field.status_code == 201
    fc = field.json()["uid"]
    assert client.get(f"{HUWISE}/datasets/{uid}/fields/", headers=auth(client)).json()["total_count"] == 1
    assert client.put(f"{HUWISE}/datasets/{uid}/fields/{fc}/", json=rename, headers=auth(client)).status_code == 200
    assert client.get(f"{HUWISE}/datasets/{uid}/fields/{fc}/", headers=auth(client)).json()["to_name"] == "name"
    assert client.delete(f"{HUWISE}/datasets/{uid}/fields/{fc}/", headers=auth(client)).status_code == 204
    assert client.get(f"{HUWISE}/processors/", headers=auth(client)).status_code == 200
    assert client.get(f"{HUWISE}/extractors/", headers=auth(client)).status_code == 200
    metadata = client.get(f"{HUWISE}/datasets/{uid}/metadata/", headers=auth(client)).json()
    assert metadata["default"]["title"]["value"] == "Glossary"
    template = client.get(f"{HUWISE}/datasets/{uid}/metadata/default/", headers=auth(client)).json()
    assert client.put(f"{HUWISE}/datasets/{uid}/metadata/", json=metadata, headers=auth(client)).status_code == 200
    assert (
        client.put(f"{HUWISE}/datasets/{uid}/metadata/default/", json=template, headers=auth(client)).status_code == 200
    )
    title = {"value": "Glossary terms"}
    assert (
        client.put(f"{HUWISE}/datasets/{uid}/metadata/default/title/", json=title, headers=auth(client)).status_code
        == 200
    )
    assert (
        client.get(f"{HUWISE}/datasets/{uid}/metadata/default/title/", headers=auth(client)).json()["value"]
        == "Glossary terms"
    )
    assert client.delete(f"{HUWISE}/datasets/{uid}/metadata/default/title/", headers=auth(client)).status_code == 204


def test_huwise_datasets_say_who_created_and_last_changed_them(client: TestClient) -> None:
    """Huwise's Dataset has created_by and updated_by (its document's samples); Opendatasoft's has neither."""
    created = client.post(f"{HUWISE}/datasets/", json=NEW, headers=auth(client)).json()
    assert created["created_by"] == {"username": "admin"} and created["updated_by"] == {"username": "admin"}
    assert datasets(client, HUWISE, "huwise")[0]["created_by"] == {"username": "admin"}
    keys = runtime_of(client).twins["huwise"].state.collection("apikeys")
    keys.create({"label": "louise's", "permissions": ["edit_dataset"]}, key="l" * 56, user={"username": "louise.data"})
    louise = {"Authorization": "apikey " + "l" * 56}
    ruleset = {"user": {"username": "louise.data"}, "permissions": ["edit_dataset"]}
    client.post(f"{HUWISE}/datasets/{created['uid']}/security/users/", json=ruleset, headers=auth(client))
    changed = client.put(f"{HUWISE}/datasets/{created['uid']}/", json={"is_restricted": True}, headers=louise)
    assert changed.status_code == 200, changed.text
    assert changed.json()["created_by"] == {"username": "admin"}
    assert changed.json()["updated_by"] == {"username": "louise.data"}
    ods = client.post(f"{ODS}/datasets/", json=NEW, headers=auth(client, "opendatasoft")).json()
    assert "created_by" not in ods and "updated_by" not in ods


def test_huwise_metadata_is_a_dictionary_of_the_domains_templates_where_opendatasoft_takes_its_three(
    client: TestClient,
) -> None:
    custom = {"default": {"title": {"value": "Quality"}}, "data-quality": {"completeness": {"value": "complete"}}}
    made = client.post(f"{HUWISE}/datasets/", json={"dataset_id": "quality", "metadata": custom}, headers=auth(client))
    assert made.status_code == 201 and made.json()["metadata"]["data-quality"] == custom["data-quality"]
    uid = made.json()["uid"]
    unknown = client.post(f"{HUWISE}/datasets/", json={"metadata": {**custom, "dcat": {}}}, headers=auth(client))
    assert unknown.status_code == 400 and unknown.json()["detail"] == {
        "metadata": ["dcat: no metadata template with id dcat"]
    }
    content = {"facets": {"value": ["theme"]}}
    path = f"{HUWISE}/datasets/{uid}/metadata/asset_content_configuration/"
    assert client.put(path, json=content, headers=auth(client)).status_code == 200
    assert client.get(path, headers=auth(client)).json() == {  # each value completed as stored
        "facets": {"value": ["theme"], "remote_value": None, "override_remote_value": False}
    }
    assert client.put(f"{HUWISE}/datasets/{uid}/metadata/dcat/", json={}, headers=auth(client)).status_code == 404
    templates = client.get(f"{HUWISE}/metadata/templates/", headers=auth(client)).json()["results"]
    assert "asset_content_configuration" in {template["name"] for template in templates}
    fixture = client.get(f"{HUWISE}/datasets/da_kxbtjj/metadata/", headers=auth(client)).json()
    assert {"default", "visualization", "internal", "asset_content_configuration"} <= set(fixture)
    # Opendatasoft's portal: its three standard templates, no custom one, no asset_content_configuration
    ods = auth(client, "opendatasoft")
    refused = client.post(f"{ODS}/datasets/", json={"dataset_id": "quality", "metadata": custom}, headers=ods)
    assert refused.status_code == 400 and "data-quality" in str(refused.json()["detail"])
    ods_uid = client.post(f"{ODS}/datasets/", json=NEW, headers=ods).json()["uid"]
    put = client.put(f"{ODS}/datasets/{ods_uid}/metadata/asset_content_configuration/", json=content, headers=ods)
    assert put.status_code == 404


def test_huwise_pages_the_processors_and_fields_lists_where_opendatasoft_answers_one_page(client: TestClient) -> None:
    for kind in ("processors", "fields"):
        whole = client.get(f"{HUWISE}/datasets/da_kxbtjj/{kind}/", headers=auth(client)).json()
        assert whole["total_count"] >= 2 and len(whole["results"]) == whole["total_count"]
        second = client.get(f"{HUWISE}/datasets/da_kxbtjj/{kind}/?limit=1&offset=1", headers=auth(client)).json()
        assert second["results"] == whole["results"][1:2] and second["next"] is not None
        assert client.get(f"{HUWISE}/datasets/da_kxbtjj/{kind}/?limit=x", headers=auth(client)).status_code == 400
        ods = client.get(f"{ODS}/datasets/da_kxbtjj/{kind}/", headers=auth(client, "opendatasoft")).json()
        assert ods["total_count"] == len(ods["results"]) and ods["next"] is None


def test_huwise_resources_name_their_source_and_take_a_url_where_opendatasoft_needs_a_datasource(
    client: TestClient,
) -> None:
    uid = client.post(f"{HUWISE}/datasets/", json=NEW, headers=auth(client)).json()["uid"]
    linked = {"type": "csvfile", "title": "Counts", "url": "https://data.example.org/exports/counts.csv?v=2"}
    made = client.post(f"{HUWISE}/datasets/{uid}/resources/", json=linked, headers=auth(client))
    assert made.status_code == 201, made.text
    resource = made.json()
    assert resource["url"] == linked["url"] and "datasource" not in resource
    assert resource["display_name"] == "counts.csv" and resource["extraction_infos"] is None
    assert resource["origin"] == {"type": "url", "location": linked["url"]}
    path = f"{HUWISE}/datasets/{uid}/resources/{resource['uid']}/"
    http = {"type": "http", "connection": {"type": "http", "url": "https://files.example.org"},
            "relative_url": "/2026/fromages.csv"}  # fmt: skip
    changed = client.put(path, json={"type": "csvfile", "title": "Cheeses", "datasource": http}, headers=auth(client))
    assert changed.status_code == 200, changed.text
    assert changed.json()["display_name"] == "fromages.csv"
    assert changed.json()["origin"] == {"type": "http", "location": "https://files.example.org/2026/fromages.csv"}
    written = client.put(path, json={"type": "csvfile", "title": "X", "display_name": "mine"}, headers=auth(client))
    assert written.status_code == 200 and written.json()["display_name"] == "X"  # read-only: computed, not kept
    listed = client.get(f"{HUWISE}/datasets/da_q7fmxr/resources/", headers=auth(client)).json()["results"]
    uploaded = next(r for r in listed if r["datasource"]["type"] == "uploaded_file")
    assert uploaded["display_name"] == uploaded["datasource"]["file"]["uid"]
    # Opendatasoft's resource: a datasource required, none of these fields
    ods = auth(client, "opendatasoft")
    ods_uid = client.post(f"{ODS}/datasets/", json=NEW, headers=ods).json()["uid"]
    refused = client.post(f"{ODS}/datasets/{ods_uid}/resources/", json=linked, headers=ods)
    assert refused.status_code == 400
    ods_listed = client.get(f"{ODS}/datasets/da_q7fmxr/resources/", headers=ods).json()["results"]
    assert not {"display_name", "origin", "extraction_infos", "url"} & set(ods_listed[0])
