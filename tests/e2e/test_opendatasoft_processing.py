"""The Opendatasoft twin's processing over HTTP: a dataset's processors and fields configuration (ordered
stacks of typed objects, each type keeping its own fields, no dataset_uid shown), and the domain's catalogues
of processor types and extractors."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import runtime_of

BASE = "/opendatasoft/api/automation/v1.0"
REPLACE = {"type": "string_replace", "label": "N/A spelled out", "field": "status", "old": "N/A", "new": "None"}
REGEXP = {"type": "regexp_replace", "label": "Digits only", "field": "phone", "regexp": "[^0-9]", "new": ""}
RENAME = {"type": "rename", "label": "Rename nom", "from_name": "nom", "to_name": "name", "field_label": "Name"}
TYPE = {"type": "type", "label": "count is an integer", "field": "count", "type_param": "int"}


@pytest.fixture
def client(make_client: Any) -> TestClient:
    return make_client("opendatasoft")


def auth(client: TestClient) -> dict[str, str]:
    return {"Authorization": f"apikey {runtime_of(client).twins['opendatasoft'].credentials()[0]['credential']}"}


def new_dataset(client: TestClient) -> str:
    body = {"metadata": {"default": {"title": {"value": "Trees"}}}}
    return str(client.post(f"{BASE}/datasets/", json=body, headers=auth(client)).json()["uid"])


def test_a_string_replace_processor_keeps_its_own_fields_and_shows_no_dataset_uid(client: TestClient) -> None:
    uid = new_dataset(client)
    created = client.post(f"{BASE}/datasets/{uid}/processors/", json=REPLACE, headers=auth(client))
    assert created.status_code == 201, created.text
    processor = created.json()
    assert re.fullmatch(r"pr_[a-z0-9]{6}", processor["uid"])
    fetched = client.get(f"{BASE}/datasets/{uid}/processors/{processor['uid']}/", headers=auth(client))
    assert fetched.status_code == 200 and fetched.json() == {"uid": processor["uid"], **REPLACE}


@pytest.mark.parametrize(
    "body",
    [
        {**REGEXP, "type": "string_replace"},  # a regexp_replace's fields under another type
        {**REPLACE, "regexp": ".*"},  # a field its type does not have
        {key: value for key, value in REPLACE.items() if key != "old"},  # one of its type's fields missing
        {"type": "geocode", "label": "Unknown type", "field": "address"},
        RENAME,  # a field configuration is no processor
        {key: value for key, value in REPLACE.items() if key != "label"},
    ],
)
def test_a_processor_body_valid_for_another_type_is_400_with_the_field(
    client: TestClient, body: dict[str, Any]
) -> None:
    uid = new_dataset(client)
    refused = client.post(f"{BASE}/datasets/{uid}/processors/", json=body, headers=auth(client))
    assert refused.status_code == 400, refused.text
    assert set(refused.json()) >= {"error_code", "message"}
    assert client.get(f"{BASE}/datasets/{uid}/processors/", headers=auth(client)).json()["total_count"] == 0


def test_processors_are_appended_and_keep_their_place_when_replaced(client: TestClient) -> None:
    uid = new_dataset(client)
    stack = f"{BASE}/datasets/{uid}/processors/"
    first, second, third = (
        client.post(stack, json=b, headers=auth(client)).json()["uid"] for b in (REPLACE, REGEXP, REPLACE)
    )
    replaced = client.put(f"{stack}{first}/", json=REGEXP, headers=auth(client))
    assert replaced.status_code == 200 and replaced.json() == {"uid": first, **REGEXP}  # old/new of string_replace gone
    listed = client.get(stack, headers=auth(client)).json()
    assert listed["total_count"] == 3 and listed["next"] is None and listed["previous"] is None
    assert [p["uid"] for p in listed["results"]] == [first, second, third]
    assert all("dataset_uid" not in p for p in listed["results"])
    assert client.delete(f"{stack}{second}", headers=auth(client)).status_code == 204
    assert [p["uid"] for p in client.get(stack, headers=auth(client)).json()["results"]] == [first, third]
    gone = client.get(f"{stack}{second}/", headers=auth(client))
    assert gone.status_code == 404 and gone.json()["error_code"] == "not_found"


def test_a_processor_belongs_to_its_dataset_only(client: TestClient) -> None:
    mine, other = new_dataset(client), new_dataset(client)
    processor = client.post(f"{BASE}/datasets/{mine}/processors/", json=REPLACE, headers=auth(client)).json()["uid"]
    assert client.get(f"{BASE}/datasets/{other}/processors/{processor}/", headers=auth(client)).status_code == 404
    assert client.get(f"{BASE}/datasets/da_absent/processors/", headers=auth(client)).status_code == 404
    assert client.delete(f"{BASE}/datasets/{mine}/", headers=auth(client)).status_code == 204
    assert client.get(f"{BASE}/datasets/{mine}/processors/{processor}/", headers=auth(client)).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        RENAME,
        TYPE,
        {"type": "annotate", "label": "Facet", "field": "district", "annotation": "facet"},
        {"type": "annotate", "label": "Decimals", "field": "ratio", "annotation": "decimals", "args": [5]},
        {"type": "description", "label": "Describe", "field": "count", "description": "Bicycles per hour"},
        {"type": "order", "label": "Order", "args": ["field3", "field2", "field1"]},
        {"type": "delete", "label": "Delete", "field": "internal_id"},
    ],
)
def test_every_field_configuration_type_round_trips_its_own_fields(client: TestClient, body: dict[str, Any]) -> None:
    uid = new_dataset(client)
    created = client.post(f"{BASE}/datasets/{uid}/fields/", json=body, headers=auth(client))
    assert created.status_code == 201, created.text
    field_uid = created.json()["uid"]
    assert re.fullmatch(r"pr_[a-z0-9]{6}", field_uid)
    shown = client.get(f"{BASE}/datasets/{uid}/fields/{field_uid}", headers=auth(client)).json()
    no_args = {"args": []} if body["type"] == "annotate" else {}  # an annotation's args default to none
    assert shown == {"uid": field_uid, **no_args, **body}


@pytest.mark.parametrize(
    "body",
    [
        {**TYPE, "type_param": "integer"},  # not one of the platform's field types
        {"type": "rename", "label": "Half a rename", "field": "nom", "type_param": "int"},  # a type's fields
        {"type": "annotate", "label": "Unknown", "field": "x", "annotation": "bold"},
        REPLACE,  # a processor is no field configuration
    ],
)
def test_a_field_configuration_body_valid_for_another_type_is_400(client: TestClient, body: dict[str, Any]) -> None:
    uid = new_dataset(client)
    refused = client.post(f"{BASE}/datasets/{uid}/fields/", json=body, headers=auth(client))
    assert refused.status_code == 400, refused.text


def test_field_configurations_are_an_ordered_stack_of_their_own(client: TestClient) -> None:
    uid = new_dataset(client)
    stack = f"{BASE}/datasets/{uid}/fields/"
    first = client.post(stack, json=RENAME, headers=auth(client)).json()["uid"]
    second = client.post(stack, json=TYPE, headers=auth(client)).json()["uid"]
    changed = client.put(f"{stack}{first}/", json={**TYPE, "field": "nom"}, headers=auth(client))
    assert changed.status_code == 200 and set(changed.json()) == {"uid", "type", "label", "field", "type_param"}
    listed = client.get(stack, headers=auth(client)).json()
    assert [c["uid"] for c in listed["results"]] == [first, second] and listed["total_count"] == 2
    assert client.get(f"{BASE}/datasets/{uid}/processors/", headers=auth(client)).json()["total_count"] == 0
    assert client.delete(f"{stack}{first}/", headers=auth(client)).status_code == 204
    assert client.get(f"{stack}{first}/", headers=auth(client)).status_code == 404


def test_the_portal_has_processing_on_some_datasets(client: TestClient) -> None:
    datasets = client.get(f"{BASE}/datasets/", params={"limit": 100}, headers=auth(client)).json()["results"]
    counts = [
        client.get(f"{BASE}/datasets/{d['uid']}/{kind}/", headers=auth(client)).json()["total_count"]
        for d in datasets
        for kind in ("processors", "fields")
    ]
    assert 0 < sum(1 for count in counts if count) < len(counts)


def test_the_catalogues_are_bare_arrays_naming_each_type_and_its_parameters(client: TestClient) -> None:
    processors = client.get(f"{BASE}/processors/", headers=auth(client))
    assert processors.status_code == 200 and isinstance(processors.json(), list)
    by_type = {p["type"]: p for p in processors.json()}
    assert {"string_replace", "regexp_replace"} <= set(by_type)
    assert {p["name"] for p in by_type["string_replace"]["parameters"]} == {"field", "old", "new"}
    assert all(p["label"] and p["description"] for p in by_type.values())
    extractors = client.get(f"{BASE}/extractors", headers=auth(client)).json()
    assert isinstance(extractors, list) and {e["type"] for e in extractors} >= {"csvfile", "jsonfile"}
    json_file = next(e for e in extractors if e["type"] == "jsonfile")
    assert json_file["label"] == "JSON File" and "json_root" in {p["name"] for p in json_file["parameters"]}
    assert client.get(f"{BASE}/processors/").status_code == 401


@pytest.mark.parametrize("path", ["processors/pr_an35rk%0A", "processors/pr_an35rk%0A/", "fields/ab%0D"])
def test_a_uid_ending_in_a_line_break_is_a_404_not_a_redirect_loop(client: TestClient, path: str) -> None:
    answer = client.put(f"{BASE}/datasets/da_kxbtjj/{path}", json=REPLACE, headers=auth(client), follow_redirects=False)
    assert answer.status_code == 404 and answer.json()["error_code"] == "not_found"


def test_every_processor_type_of_the_catalogue_is_accepted_with_its_mandatory_parameters(client: TestClient) -> None:
    uid = new_dataset(client)
    for processor_type in client.get(f"{BASE}/processors/", headers=auth(client)).json():
        mandatory = {p["name"]: "x" for p in processor_type["parameters"] if p["is_mandatory"]}
        body = {"type": processor_type["type"], "label": processor_type["label"], **mandatory}
        created = client.post(f"{BASE}/datasets/{uid}/processors/", json=body, headers=auth(client))
        assert created.status_code == 201 and set(created.json()) == {"uid", *body}, created.text
