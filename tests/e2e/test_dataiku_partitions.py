"""Dataiku partition specs on every operation that takes them (GET data, POST data, DELETE data): every
documented spelling selects the same partitions, and a malformed spec or a partition the dataset does not
have is a 400 -- never an empty read, and never a clear that quietly clears nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dataikuapi
import pytest
from dataikuapi.utils import DataikuException
from starlette.testclient import TestClient

import tests.e2e.test_dataiku as dataiku_e2e
import tests.e2e.test_dataiku_client as dataiku_client_e2e
from tests.conftest import runtime_of
from tests.e2e.test_dataiku import BASE, P, as_key, assert_dss_error

DATASETS = f"{BASE}/projects/{P}/datasets"
DAYS = ["2025-09-01", "2025-09-02", "2025-09-03"]
client = dataiku_e2e.client  # Dataiku alone, on the module's one app (see tests/conftest.py)
twin, dss = dataiku_client_e2e.twin, dataiku_client_e2e.dss  # the official client over real HTTP
D1, D2, D3 = DAYS
# a spec as clients send it -> the orders partitions it selects, in the order named
SPELLINGS: list[tuple[Any, list[str]]] = [
    (D2, [D2]),
    (f"{D1}|{D3}", [D1, D3]),  # issue 9: GET answered [] (the REST reference's own example spells a list so)
    (f"{D3}|{D1}", [D3, D1]),
    (f"{D1},{D3}", [D1, D3]),  # comma-separated: dataikuapi's recipe docs
    (f" {D1} , {D3} ", [D1, D3]),
    ([D1, D3], [D1, D3]),  # repeated parameter: dataikuapi iter_rows(partitions=[...]) and clear(partitions=[...])
    (f'["{D1}", "{D3}"]', [D1, D3]),  # JSON list: the 2015 client's clear
    (f"{D2}/{D3}", [D2, D3]),  # DSS range syntax, bounds included
    (f"2025-08-15/{D1}", [D1]),
    (f"{D1}/{D1}|{D3}", [D1, D3]),
    (f"{D1},{D1}|{D1}", [D1]),  # named twice, read once
]
UNKNOWN = [
    ("2025-09-09", "Unknown partition(s) of SALES_FORECAST.orders: 2025-09-09 (it has 2025-09-01"),
    (f"{D1}|2025-09-09", "Unknown partition(s) of SALES_FORECAST.orders: 2025-09-09"),
    ([D1, "2025-09-09"], "Unknown partition(s) of SALES_FORECAST.orders: 2025-09-09"),
    ('["2025-09-09"]', "Unknown partition(s) of SALES_FORECAST.orders: 2025-09-09"),
    ("2025-10-01/2025-10-31", "No partition of SALES_FORECAST.orders in '2025-10-01/2025-10-31'"),
]
MALFORMED = [
    ("2025-13-45", "'2025-13-45' is not a DAY partition of dimension day"),
    ("yesterday", "'yesterday' is not a DAY partition of dimension day"),
    ("2025-09", "'2025-09' is not a DAY partition"),
    ("CURRENT_MONTH", "'CURRENT_MONTH' is not a DAY partition"),
    (f"{D3}/{D1}", "ends before it starts"),
    (f"{D1}/{D2}/{D3}", "a range is FIRST/LAST"),
    (f"{D1}/", "an empty value"),
    (f"{D1},,{D2}", "Empty partition spec"),
    ("", "Empty partition spec"),
    (f'["{D1}"', "Malformed partition list"),
    (f'["{D1}"]]', "Malformed partition list"),
    ("[1, 2]", "Malformed partition list"),
    ("[]", "Malformed partition list"),
    ("NP", "'NP' is not a DAY partition"),
]


def get(client: TestClient, dataset: str, spec: Any) -> Any:
    params = {"partitions": spec} if spec is not None else {}
    return client.get(f"{DATASETS}/{dataset}/data/", params=params, headers=as_key(client, "admin"))


def post(client: TestClient, dataset: str, spec: Any) -> Any:
    return client.post(f"{DATASETS}/{dataset}/data/", json={"partitions": spec}, headers=as_key(client, "admin"))


def clear(client: TestClient, dataset: str, spec: Any) -> Any:
    return client.delete(f"{DATASETS}/{dataset}/data", params={"partitions": spec}, headers=as_key(client, "admin"))


def partitions_of(client: TestClient, dataset: str) -> list[str]:
    response = client.get(f"{DATASETS}/{dataset}/partitions", headers=as_key(client, "admin"))
    return list(response.json())


def rows_of(client: TestClient, partitions: list[str]) -> list[list[str]]:
    """The orders of those partitions, one partition read at a time."""
    rows = [get(client, "orders", partition).json() for partition in partitions]
    assert all(rows)
    return [row for partition_rows in rows for row in partition_rows]


@pytest.mark.parametrize(("spec", "selected"), SPELLINGS)
def test_get_data_reads_the_partitions_every_spelling_names(client: TestClient, spec: Any, selected: list[str]) -> None:
    response = get(client, "orders", spec)
    assert response.status_code == 200, response.text
    assert response.json() == rows_of(client, selected)


@pytest.mark.parametrize(("spec", "selected"), [(s, p) for s, p in SPELLINGS if isinstance(s, str)])
def test_post_data_reads_the_partitions_every_spelling_names(
    client: TestClient, spec: str, selected: list[str]
) -> None:
    response = post(client, "orders", spec)
    assert response.status_code == 200, response.text
    assert response.json() == rows_of(client, selected)


@pytest.mark.parametrize(("spec", "selected"), SPELLINGS)
def test_clear_empties_the_partitions_every_spelling_names(client: TestClient, spec: Any, selected: list[str]) -> None:
    kept = [day for day in DAYS if day not in selected]
    before = rows_of(client, kept)
    response = clear(client, "orders", spec)
    assert response.status_code == 200, response.text
    assert partitions_of(client, "orders") == kept
    assert rows_of(client, kept) == before
    assert_dss_error(get(client, "orders", selected[0]), 400, "DSSIllegalArgumentException", "Unknown partition")


@pytest.mark.parametrize(("spec", "fragment"), UNKNOWN + MALFORMED)
def test_an_unknown_partition_or_malformed_spec_is_a_400_everywhere(
    client: TestClient, spec: Any, fragment: str
) -> None:
    operations = [get, clear] + ([post] if isinstance(spec, str) else [])
    for operation in operations:
        assert_dss_error(operation(client, "orders", spec), 400, "DSSIllegalArgumentException", fragment)
    assert partitions_of(client, "orders") == DAYS  # nothing was cleared


def test_without_a_spec_every_partition_is_read_and_cleared(client: TestClient) -> None:
    assert get(client, "orders", None).json() == rows_of(client, DAYS)
    assert post(client, "orders", None).json() == rows_of(client, DAYS)
    assert client.delete(f"{DATASETS}/orders/data", headers=as_key(client, "admin")).status_code == 200
    assert partitions_of(client, "orders") == [] and get(client, "orders", None).json() == []


def test_current_and_previous_keywords_follow_the_twins_clock(client: TestClient) -> None:
    runtime_of(client).clock.freeze(datetime(2025, 9, 2, 12, tzinfo=UTC))
    assert get(client, "orders", "CURRENT_DAY").json() == rows_of(client, [D2])
    assert get(client, "orders", "PREVIOUS_DAY/CURRENT_DAY").json() == rows_of(client, [D1, D2])
    runtime_of(client).clock.freeze(datetime(2025, 9, 10, tzinfo=UTC))
    assert_dss_error(get(client, "orders", "CURRENT_DAY"), 400, "DSSIllegalArgumentException", "2025-09-10")


def test_a_dataset_without_partitions_has_only_np(client: TestClient) -> None:
    everything = get(client, "customers", None).json()
    assert partitions_of(client, "customers") == ["NP"]
    assert get(client, "customers", "NP").json() == everything and post(client, "customers", "NP").json() == everything
    for operation in (get, post, clear):
        response = operation(client, "customers", D1)
        assert_dss_error(response, 400, "DSSIllegalArgumentException", "SALES_FORECAST.customers is not partitioned")
    assert clear(client, "customers", "NP").status_code == 200
    assert get(client, "customers", None).json() == []


@pytest.fixture
def by_day_and_country(client: TestClient) -> dict[str, list[list[Any]]]:
    """A dataset partitioned by day and country, as the partition identifiers documentation describes."""
    dimensions = [{"name": "day", "type": "time", "params": {"period": "DAY"}}, {"name": "country", "type": "value"}]
    dataset = {"name": "sales", "type": "Filesystem", "partitioning": {"dimensions": dimensions},
               "schema": {"columns": [{"name": "amount", "type": "int"}]}}  # fmt: skip
    assert client.post(f"{DATASETS}/", json=dataset, headers=as_key(client, "admin")).status_code == 200
    partitions = {f"{day}|{country}": [[n]] for n, (day, country) in
                  enumerate((day, country) for day in DAYS for country in ("FR", "IT"))}  # fmt: skip
    state = runtime_of(client).twins["dataiku"].state
    state.collection("dataset_data").under(P).create({"projectKey": P, "name": "sales", "partitions": partitions})
    return partitions


@pytest.mark.parametrize(
    ("spec", "selected"),
    [
        (f"{D1}|IT", [f"{D1}|IT"]),
        (f"{D1}/{D2}|FR/IT", [f"{D1}|FR", f"{D1}|IT", f"{D2}|FR", f"{D2}|IT"]),  # the documentation's example
        (f"{D2}/{D3}|IT", [f"{D2}|IT", f"{D3}|IT"]),
        (f"{D3}|IT,{D1}|FR", [f"{D3}|IT", f"{D1}|FR"]),
        ([f"{D3}|IT", f"{D1}|FR"], [f"{D3}|IT", f"{D1}|FR"]),
    ],
)
def test_several_dimensions_join_by_pipe_and_expand(
    client: TestClient, by_day_and_country: dict[str, list[list[Any]]], spec: Any, selected: list[str]
) -> None:
    expected = [[str(v) for v in row] for partition in selected for row in by_day_and_country[partition]]
    assert get(client, "sales", spec).json() == expected
    assert clear(client, "sales", spec).status_code == 200
    assert partitions_of(client, "sales") == sorted(set(by_day_and_country) - set(selected))


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (D1, f"Partition spec '{D1}' has 1 dimension value(s); SALES_FORECAST.sales is partitioned by 2"),
        (f"{D1}|FR|x", "has 3 dimension value(s)"),
        (f"{D1}|DE", f"Unknown partition(s) of SALES_FORECAST.sales: {D1}|DE"),
        (f"{D1}|FR/DE", f"Unknown partition(s) of SALES_FORECAST.sales: {D1}|DE"),
        ("2025-10-01/2025-10-02|FR", "No partition of SALES_FORECAST.sales"),
        ("FR|2025-09-01", "'FR' is not a DAY partition of dimension day"),
    ],
)
def test_several_dimensions_refuse_what_does_not_fit(
    client: TestClient, by_day_and_country: dict[str, list[list[Any]]], spec: str, fragment: str
) -> None:
    for operation in (get, post, clear):
        assert_dss_error(operation(client, "sales", spec), 400, "DSSIllegalArgumentException", fragment)
    assert partitions_of(client, "sales") == sorted(by_day_and_country)


@pytest.mark.slow
def test_the_official_client_reads_and_clears_by_every_spelling_it_sends(dss: dataikuapi.DSSClient) -> None:
    orders = dss.get_project(P).get_dataset("orders")
    by_day = {day: list(orders.iter_rows(partitions=day)) for day in DAYS}
    assert list(orders.iter_rows(partitions=[D1, D3])) == by_day[D1] + by_day[D3]
    assert list(orders.iter_rows(partitions=f"{D1}|{D3}")) == by_day[D1] + by_day[D3]
    assert list(orders.iter_rows(partitions=f"{D2}/{D3}")) == by_day[D2] + by_day[D3]
    with pytest.raises(DataikuException, match="Unknown partition"):
        list(orders.iter_rows(partitions="2025-09-09"))
    with pytest.raises(DataikuException, match="Unknown partition"):
        orders.clear(partitions=[D1, "2025-09-09"])
    assert orders.list_partitions() == DAYS
    orders.clear(partitions=[D1, D2])
    assert orders.list_partitions() == [D3]
    orders.clear(partitions=D3)
    assert orders.list_partitions() == []
