"""Dataiku SQL queries in their sandbox: nothing a query says reaches the host or outlives the query, a
runaway query fails alone and never holds the server, privileges hold, and odd results or datasets break
nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from apitwin.behaviours import dataiku_sql
from tests.conftest import runtime_of
from tests.e2e.test_dataiku import BASE, as_key
from tests.support.responsiveness import BLOCKED_SECONDS, slowest_health_during

QUERIES = f"{BASE}/sql/queries/"
POSTGRES = "warehouse-postgres"
RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


def start(client: TestClient, query: str, key: str = "admin", **extra: Any) -> Any:
    body = {"query": query, "connection": POSTGRES, **extra}
    return client.post(QUERIES, json=body, headers=as_key(client, key))


def rows_of(client: TestClient, started: Any) -> list[list[Any]]:
    assert started.status_code == 200, started.text
    stream = client.get(f"{QUERIES}{started.json()['queryId']}/stream", headers=as_key(client, "admin"))
    assert stream.status_code == 200, stream.text
    return list(stream.json())


def assert_refused(response: Any, fragment: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["errorType"] == "java.sql.SQLException" and fragment in body["message"]


@pytest.mark.parametrize(
    ("pre", "query"),
    [
        (["COMMIT"], "VACUUM INTO '{file}'"),
        ([], "ATTACH('{file}') AS p"),
        ([], "ATTACH DATABASE '{file}' AS p"),
        (["BEGIN"], "SELECT 1"),
    ],
)
def test_a_query_cannot_touch_the_host(client: TestClient, tmp_path: Path, pre: list[str], query: str) -> None:
    target = tmp_path / "escaped.db"
    response = start(client, query.format(file=target), preQueries=pre)
    assert response.status_code == 400, response.text
    assert not target.exists()


def test_pragmas_and_extensions_are_not_authorized(client: TestClient) -> None:
    assert_refused(start(client, "PRAGMA user_version = 3"), "not authorized")
    assert_refused(start(client, "PRAGMA table_info(orders)"), "not authorized")
    assert_refused(start(client, "SELECT load_extension('/tmp/x')"), "")


def test_a_runaway_query_is_cancelled_by_the_time_budget(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dataiku_sql, "QUERY_SECONDS", 0.5)
    assert_refused(start(client, RUNAWAY), "budget of 0.5 s")
    assert rows_of(client, start(client, "SELECT 1 AS one")) == [["1"]]


def test_a_result_over_the_row_budget_is_refused(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dataiku_sql, "MAX_RESULT_ROWS", 10)
    many = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 11) SELECT x FROM c"
    assert_refused(start(client, many), "more than 10 rows")
    assert len(rows_of(client, start(client, many.replace("x < 11", "x < 10")))) == 10


def test_deep_nesting_is_a_syntax_error_not_a_crash(client: TestClient) -> None:
    assert_refused(start(client, "SELECT " + "(" * 400 + "1" + ")" * 400), "syntax error")
    assert rows_of(client, start(client, "SELECT " + "(" * 20 + "1" + ")" * 20 + " AS one")) == [["1"]]


def test_a_blob_or_an_infinity_in_a_result_breaks_no_later_write(client: TestClient) -> None:
    assert rows_of(client, start(client, "SELECT x'41' AS b, 1e999 AS big")) == [["QQ==", "Infinity"]]
    created = client.post(f"{BASE}/projects/", json={"projectKey": "AFTER", "name": "After", "owner": "admin"},
                          headers=as_key(client, "admin"))  # fmt: skip
    assert created.status_code == 200, created.text


def test_results_are_not_state_and_are_released_when_streaming_finishes(client: TestClient) -> None:
    started = start(client, "SELECT order_id FROM orders")
    query_id = started.json()["queryId"]
    stored = runtime_of(client).twins["dataiku"].state.collection("sql_queries").get(query_id)
    assert "rows" not in stored  # the store holds the query, never its result
    assert rows_of(client, started)
    admin = as_key(client, "admin")
    assert client.get(f"{QUERIES}{query_id}/finish-streaming", headers=admin).status_code == 200
    gone = client.get(f"{QUERIES}{query_id}/stream", headers=admin)
    assert gone.status_code == 404 and "no longer available" in gone.json()["message"]


def test_unfinished_results_expire_on_the_clock(client: TestClient) -> None:
    started = start(client, "SELECT 1 AS one")
    runtime_of(client).clock.advance(3601)
    stream = client.get(f"{QUERIES}{started.json()['queryId']}/stream", headers=as_key(client, "admin"))
    assert stream.status_code == 404


def _add_dataset(client: TestClient, project: str, name: str, table: str, columns: list[str]) -> None:
    admin = as_key(client, "admin")
    if client.get(f"{BASE}/projects/{project}/metadata", headers=admin).status_code == 404:
        client.post(f"{BASE}/projects/", json={"projectKey": project, "name": project, "owner": "admin"}, headers=admin)
    body = {"name": name, "type": "PostgreSQL", "projectKey": project,
            "params": {"connection": POSTGRES, "schema": "public", "table": table}}  # fmt: skip
    assert client.post(f"{BASE}/projects/{project}/datasets/", json=body, headers=admin).status_code == 200
    schema = {"columns": [{"name": column, "type": "string"} for column in columns]}
    client.put(f"{BASE}/projects/{project}/datasets/{name}/schema", json=schema, headers=admin)


def test_a_second_dataset_on_the_same_table_is_the_same_table(client: TestClient) -> None:
    before = rows_of(client, start(client, "SELECT count(*) FROM public.orders"))
    _add_dataset(client, "SALES_FORECAST", "orders_again", "orders", ["order_id"])
    _add_dataset(client, "OTHER", "orders", "orders", ["order_id"])  # one name in two projects, one table
    assert rows_of(client, start(client, "SELECT count(*) FROM public.orders")) == before
    assert rows_of(client, start(client, "SELECT 1 AS one")) == [["1"]]


def test_a_dataset_that_cannot_load_fails_only_the_queries_that_read_it(client: TestClient) -> None:
    _add_dataset(client, "SALES_FORECAST", "broken", "broken", ["a", "a"])  # a duplicated column name
    assert_refused(start(client, "SELECT * FROM broken"), "public.broken cannot be read")
    assert rows_of(client, start(client, "SELECT count(*) FROM orders"))
    assert rows_of(client, start(client, "SELECT 1 AS one")) == [["1"]]


def test_a_connection_usable_by_some_groups_refuses_other_keys(client: TestClient) -> None:
    denied = start(client, "SELECT 1", key="pipeline", connection="snowflake-prod")
    assert denied.status_code == 403 and "usable by data_team only" in denied.json()["message"]
    assert rows_of(client, start(client, "SELECT 1 AS one", key="pipeline")) == [["1"]]  # warehouse: usable by all
    assert start(client, "SELECT 1 AS one", connection="snowflake-prod").status_code == 200  # admin


def test_a_query_through_a_dataset_needs_read_data_on_its_project(client: TestClient) -> None:
    body = {"query": "SELECT 1", "datasetFullName": "CHURN.subscriptions"}
    denied = client.post(QUERIES, json=body, headers=as_key(client, "pipeline"))
    assert denied.status_code == 403 and "READ_DATA on project CHURN" in denied.json()["message"]


def test_a_job_may_not_build_outputs_in_a_project_the_key_cannot_run_jobs_in(client: TestClient) -> None:
    body = {"outputs": [{"projectKey": "CHURN", "id": "subscriptions"}]}
    denied = client.post(f"{BASE}/projects/SALES_FORECAST/jobs/", json=body, headers=as_key(client, "pipeline"))
    assert denied.status_code == 403 and "RUN_JOBS on project CHURN" in denied.json()["message"]
    assert runtime_of(client).twins["dataiku"].state.collection("jobs").all()  # fixtures' jobs only, none added
    own = {"outputs": [{"id": "orders"}]}
    assert client.post(f"{BASE}/projects/SALES_FORECAST/jobs/", json=own, headers=as_key(client, "pipeline")).is_success


@pytest.mark.slow
@pytest.mark.alone  # timed: see tests/conftest.py
def test_a_runaway_query_never_holds_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    from apitwin.app import create_app
    from apitwin.serving import serve_in_background

    monkeypatch.setattr(dataiku_sql, "QUERY_SECONDS", 2.0)
    app = create_app(["dataiku"], prefixed=True)
    key = app.state.runtime.twins["dataiku"].credentials()[0]["credential"]
    with serve_in_background(app) as origin:
        body = {"query": RUNAWAY, "connection": POSTGRES}
        headers = {"Authorization": f"Bearer {key}"}
        response, slowest = slowest_health_during(
            origin, lambda: httpx.post(f"{origin}{QUERIES}", json=body, headers=headers, timeout=30)
        )
    assert response.status_code == 400
    assert slowest < BLOCKED_SECONDS, f"health took {slowest:.3f} s while a query ran"


def test_result_types_come_from_the_dataset_schema_for_columns_taken_as_they_are(client: TestClient) -> None:
    started = start(client, "SELECT ordered_at, amount AS total, country, count(*) AS n FROM public.orders "
                    "GROUP BY ordered_at, amount, country")  # fmt: skip
    assert started.status_code == 200, started.text
    types = {column["name"]: column["type"] for column in started.json()["schema"]}
    assert types == {"ordered_at": "date", "total": "double", "country": "string", "n": "bigint"}
    star = start(client, "SELECT * FROM orders").json()["schema"]
    assert [column["type"] for column in star] == ["bigint", "bigint", "string", "double", "date"]
