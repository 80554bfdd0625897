"""Dataiku filter formulas over HTTP: the GET `filter` and the POST `filterExpression` keep exactly the rows the
formula selects, and a formula outside the language is a 400 in Dataiku's error shape that names the problem
and its position -- quickly, whatever the input."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

import tests.e2e.test_dataiku as dataiku_e2e
from tests.e2e.test_dataiku import BASE, P, as_key, assert_dss_error

ORDERS = f"{BASE}/projects/{P}/datasets/orders"
Row = dict[str, str]
client = dataiku_e2e.client  # Dataiku alone, on the module's one app (see tests/conftest.py)


def read(client: TestClient, formula: str, method: str = "GET", **options: Any) -> Any:
    """The orders the formula keeps, by GET `filter` or by the POST body's `filterExpression`."""
    if method == "GET":
        return client.get(f"{ORDERS}/data/", params={"filter": formula, **options}, headers=as_key(client, "admin"))
    body = {"format": "json", "filterExpression": formula, **options}
    return client.post(f"{ORDERS}/data/", json=body, headers=as_key(client, "admin"))


def every_order(client: TestClient) -> list[Row]:
    columns = [c["name"] for c in client.get(f"{ORDERS}/schema", headers=as_key(client, "admin")).json()["columns"]]
    rows = client.get(f"{ORDERS}/data/", headers=as_key(client, "admin")).json()
    return [dict(zip(columns, row, strict=True)) for row in rows]


def amount(row: Row) -> float:
    return float(row["amount"])


SELECTIONS: list[tuple[str, Callable[[Row], bool]]] = [
    # issue 8: both tails were compared as text and the answer was a 200 with the wrong rows
    ("amount > 400 || country == 'MA'", lambda r: amount(r) > 400 or r["country"] == "MA"),
    ("amount > 400 and country != 'CA'", lambda r: amount(r) > 400 and r["country"] != "CA"),
    ("amount<400&&country=='MA'", lambda r: amount(r) < 400 and r["country"] == "MA"),
    ('(amount < 100 or amount > 700) and not (country == "TH")',
     lambda r: (amount(r) < 100 or amount(r) > 700) and r["country"] != "TH"),
    ("!(amount >= 300) && startsWith(ordered_at, '2025-09-02')",
     lambda r: amount(r) < 300 and r["ordered_at"].startswith("2025-09-02")),
    ("toLowercase(country) == 'ma' || contains(country, 'G') && amount > 200",
     lambda r: r["country"] == "MA" or ("G" in r["country"] and amount(r) > 200)),
    ("amount * 2 - 1 > 1000 && isNonBlank(country)", lambda r: amount(r) * 2 - 1 > 1000),
    ("customer_id > 99", lambda r: int(r["customer_id"]) > 99),  # numerically: "305" > 99, though "305" < "99"
    ("ordered_at >= '2025-09-02T12:00' && ordered_at < '2025-09-03'",
     lambda r: "2025-09-02T12:00" <= r["ordered_at"] < "2025-09-03"),
]  # fmt: skip


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(("formula", "selects"), SELECTIONS, ids=[formula for formula, _ in SELECTIONS])
def test_a_formula_keeps_exactly_the_rows_it_selects(
    client: TestClient, method: str, formula: str, selects: Callable[[Row], bool]
) -> None:
    orders = every_order(client)
    expected = [list(row.values()) for row in orders if selects(row)]
    assert 0 < len(expected) < len(orders)  # the formula tells rows apart
    response = read(client, formula, method)
    assert response.status_code == 200, response.text
    assert response.json() == expected


def test_val_and_strval_read_a_column_whose_name_has_spaces(client: TestClient) -> None:
    admin = as_key(client, "admin")
    schema = client.get(f"{ORDERS}/schema", headers=admin).json()
    schema["columns"][2]["name"] = "order country"
    assert client.put(f"{ORDERS}/schema", json=schema, headers=admin).status_code in (200, 204)
    kept = read(client, 'strval("order country") == "MA" && val("amount") > 100').json()
    assert [row[2] for row in kept] == ["MA"]
    assert_dss_error(read(client, "country == 'MA'"), 400, "DSSIllegalArgumentException", "unknown column 'country'")


def test_a_filter_combines_with_partitions_columns_and_sampling(client: TestClient) -> None:
    body = {"partitions": "2025-09-02", "columns": ["country", "amount"], "sampling": {"maxRecords": 2}}
    response = read(client, "amount > 100", "POST", **body)
    assert response.json() == [["LS", "773.55"], ["BN", "770.34"]]
    response = read(client, "amount > 100", partitions="2025-09-03", columns="country")
    assert response.json() == [["GR"], ["MA"], ["IQ"], ["RS"], ["CA"]]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    ("formula", "fragment"),
    [
        ("amount > 400 || nope == 'FR'", "unknown column 'nope' at position 16"),
        ("lower(country) == 'ma'", "unknown function lower() at position 0"),
        ("startsWith(country) ", "startsWith() takes 2 argument(s), got 1 at position 0"),
        ("amount > 400 country", "unexpected 'country' after a complete expression at position 13"),
        ("amount >> 400", "unexpected '>' where an operand is expected at position 8"),
        ("amount > 400 & country == 'MA'", "unexpected character '&' at position 13"),
        ("country == 'MA", "unterminated string at position 11"),
        ("(amount > 400", "expected ')', found 'end of formula' at position 13"),
        ("amount + 1", "a filter needs a boolean, not a number or text at position 0"),
        ("100 < amount < 400", "comparisons do not chain"),
        ("!amount > 400", "> orders numbers or text, not booleans at position 8"),
        ("(" * 500 + "true" + ")" * 500, "nested more than 64 levels deep at position 64"),
    ],
)
def test_a_formula_outside_the_language_is_a_400_naming_problem_and_position(
    client: TestClient, method: str, formula: str, fragment: str
) -> None:
    response = read(client, formula, method)
    assert_dss_error(response, 400, "DSSIllegalArgumentException", fragment)
    assert "Invalid filter formula" in response.json()["message"]


@pytest.mark.parametrize(
    ("formula", "status"),
    [("amount > 1" + " " * 30_000 + "!", 400), ("amount >" + " " * 30_000 + "400", 200)],
)
def test_a_long_formula_is_answered_at_once(client: TestClient, formula: str, status: int) -> None:
    started = time.perf_counter()
    response = read(client, formula, "POST")  # issue 8: 30k spaces held the server for 3 s
    assert time.perf_counter() - started < 1
    assert response.status_code == status
    if status == 200:
        assert response.json() == read(client, "amount > 400").json()
    else:
        assert "at position 30010" in response.json()["message"] and len(response.json()["message"]) < 300
