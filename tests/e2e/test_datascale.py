"""The Datascale ingest twin over HTTP: parsing per dialect, added vs modified, errors, auth, rate limit."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from apitwin.auth import RateLimit
from tests.conftest import runtime_of

INGEST = "/datascale/v1/ingest"
WAREHOUSE = """
CREATE TABLE customers (id SERIAL PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE orders (id SERIAL PRIMARY KEY, customer_id INT REFERENCES customers(id), amount NUMERIC(10, 2));
CREATE VIEW customer_summary AS
SELECT c.id, c.name, COUNT(o.id) AS orders, SUM(o.amount) AS total
FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.id, c.name;
"""


@pytest.fixture
def client(make_client: Any) -> TestClient:
    """Only this twin: a smaller app per test."""
    return make_client("datascale")


def tokens(client: TestClient) -> list[str]:
    return [c["credential"] for c in runtime_of(client).twins["datascale"].credentials()]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ingest(client: TestClient, content: Any, platform: Any = "postgres", token: str | None = None, **extra: Any) -> Any:
    body = {"content": content, "platform": platform, **extra}
    return client.put(INGEST, json=body, headers=bearer(token or tokens(client)[1]))


def assets(client: TestClient) -> dict[str, dict[str, Any]]:
    docs = runtime_of(client).twins["datascale"].state.collection("assets").all()
    return {doc["key"]: doc for doc in docs}


def assert_error(response: Any, status: int, code: str, fragment: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and body["code"] == code
    assert fragment.lower() in (body["error"] + " " + body["details"]).lower()


def test_first_ingest_adds_every_table_and_view(client: TestClient) -> None:
    response = ingest(client, WAREHOUSE)
    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "Successfully ingested 3 assets [3 added, 0 modified]"}
    workspace = runtime_of(client).twins["datascale"].credentials()[1]["workspace"]
    stored = assets(client)
    view = stored[f"{workspace}/customer_summary"]
    assert view["kind"] == "view" and view["sources"] == ["customers", "orders"]
    assert [c["name"] for c in view["columns"]] == ["id", "name", "orders", "total"]
    assert stored[f"{workspace}/orders"]["foreign_keys"] == ["customers"]


def test_reingest_counts_added_and_modified_as_the_document_shows(client: TestClient) -> None:
    ingest(client, WAREHOUSE)
    changed = WAREHOUSE.replace("name TEXT NOT NULL", "name TEXT NOT NULL, email TEXT")
    script = changed.split(";")[0] + ";" + changed.split(";")[1] + ";\nCREATE TABLE refunds (id INT, order_id INT);"
    response = ingest(client, script)
    assert response.json()["message"] == "Successfully ingested 3 assets [1 added, 2 modified]"
    workspace = runtime_of(client).twins["datascale"].credentials()[1]["workspace"]
    customers = assets(client)[f"{workspace}/customers"]
    assert customers["version"] == 2 and "email" in [c["name"] for c in customers["columns"]]


def test_fixture_workspace_already_knows_its_warehouse(client: TestClient) -> None:
    script = "CREATE TABLE analytics.customers (id BIGINT PRIMARY KEY, email VARCHAR(320) NOT NULL);"
    response = ingest(client, script, token=tokens(client)[0])
    assert response.json()["message"] == "Successfully ingested 1 assets [0 added, 1 modified]"


def test_workspaces_are_separate_per_token(client: TestClient) -> None:
    ingest(client, WAREHOUSE, token=tokens(client)[1])
    response = ingest(client, WAREHOUSE, token=tokens(client)[0])
    assert response.json()["message"] == "Successfully ingested 3 assets [3 added, 0 modified]"


def test_snowflake_names_fold_to_upper_case(client: TestClient) -> None:
    ingest(client, "create table analytics.public.users (id int)", platform="snowflake")
    response = ingest(
        client, "CREATE OR REPLACE TABLE ANALYTICS.PUBLIC.USERS (ID INT, EMAIL STRING)", platform="Snowflake"
    )
    assert response.json()["message"] == "Successfully ingested 1 assets [0 added, 1 modified]"
    assert any(key.endswith("/ANALYTICS.PUBLIC.USERS") for key in assets(client))


@pytest.mark.parametrize(
    ("platform", "script"),
    [
        (
            "bigquery",
            "CREATE TABLE `proj.ds.events` (ts TIMESTAMP, payload JSON) "
            "PARTITION BY DATE(ts) OPTIONS(description='x');",
        ),
        (
            "redshift",
            "CREATE TABLE sales (id INT ENCODE az64, region VARCHAR(20)) "
            "DISTSTYLE KEY DISTKEY(id) COMPOUND SORTKEY(id);",
        ),
        ("", "CREATE TABLE users (id INT, email VARCHAR(255));"),
    ],
)
def test_each_documented_platform_parses_its_dialect(client: TestClient, platform: str, script: str) -> None:
    assert ingest(client, script, platform=platform).json()["message"].startswith("Successfully ingested 1 assets")


def test_script_without_tables_succeeds_with_zero_assets(client: TestClient) -> None:
    response = ingest(client, "INSERT INTO t SELECT * FROM s; UPDATE t SET a = 1;")
    assert response.json()["message"] == "Successfully ingested 0 assets [0 added, 0 modified]"


def test_syntax_error_is_a_parser_error_with_its_line(client: TestClient) -> None:
    before = assets(client)
    response = ingest(client, "CREATE TABLE a (x INT);\n\nCREATE TABLE b (y INT,\n z INT")
    assert_error(response, 400, "PARSER_ERROR", "Error at line 4")
    assert response.json()["error"] == "Invalid syntax in SQL script"
    assert assets(client) == before  # all or nothing: table a was not stored


def test_deep_nesting_is_a_parser_error_not_a_crash(client: TestClient) -> None:
    response = ingest(client, "CREATE VIEW v AS SELECT " + "(" * 200 + "1" + ")" * 200 + " AS one;")
    assert_error(response, 400, "PARSER_ERROR", "nested too deeply")
    assert ingest(client, WAREHOUSE).status_code == 200


@pytest.mark.slow
@pytest.mark.alone  # timed: see tests/conftest.py
def test_a_large_script_never_holds_the_server() -> None:
    import httpx

    from apitwin.app import create_app
    from apitwin.serving import serve_in_background
    from tests.support.responsiveness import BLOCKED_SECONDS, slowest_health_during

    script = "".join(f"CREATE TABLE t{i} (id INT PRIMARY KEY, name VARCHAR(20));\n" for i in range(3000))
    app = create_app(["datascale"], prefixed=True, rate_limits={"datascale": None})
    token = app.state.runtime.twins["datascale"].credentials()[1]["credential"]
    with serve_in_background(app) as origin:
        response, slowest = slowest_health_during(
            origin,
            lambda: httpx.put(
                f"{origin}{INGEST}", json={"content": script, "platform": "postgres"}, headers=bearer(token), timeout=60
            ),  # fmt: skip
        )
    assert response.status_code == 200 and "3000 added" in response.json()["message"]
    assert slowest < BLOCKED_SECONDS, f"health took {slowest:.3f} s while a script was parsed"


@pytest.mark.parametrize(
    ("script", "line", "near"),
    [
        ("CREATE TABLE t (id INT,, name TEXT);", 1, ","),
        ("CREATE TABLE t (\n  id INT,\n);", 3, ")"),
        ("hello world", 1, "hello"),
        ("YOUR_SCRIPT_HERE", 1, "YOUR_SCRIPT_HERE"),  # the document's own placeholder
        ("CREATE TABLE a (id INT);\n'oops';", 2, "'oops'"),
    ],
)
def test_what_no_database_accepts_is_a_parser_error_with_its_line(
    client: TestClient, script: str, line: int, near: str
) -> None:
    before = assets(client)
    assert_error(ingest(client, script), 400, "PARSER_ERROR", f"line {line}")
    assert near.strip("'") in ingest(client, script).json()["details"]
    assert assets(client) == before  # nothing of a refused script is kept


def test_dropping_a_table_removes_its_asset(client: TestClient) -> None:
    token = tokens(client)[1]
    ingest(client, WAREHOUSE, token=token)
    keys = set(assets(client))
    assert (
        ingest(client, "DROP VIEW customer_summary; DROP TABLE IF EXISTS orders, nothing;", token=token).status_code
        == 200
    )
    assert keys - set(assets(client)) == {key for key in keys if key.endswith(("/customer_summary", "/orders"))}
    assert ingest(client, "DROP TABLE customers; CREATE TABLE customers (id INT);", token=token).status_code == 200
    assert any(key.endswith("/customers") for key in assets(client))  # dropped, then defined again


def test_an_oversized_script_is_refused_without_echoing_it(client: TestClient) -> None:
    response = ingest(client, "x" * 1_048_577)
    assert_error(response, 400, "INVALID_INPUT", "1048577 long")
    assert len(response.content) < 1000


def test_json_without_a_content_type_is_invalid_input_not_a_crash(client: TestClient) -> None:
    response = client.put(INGEST, content=b'{"content": "select 1"}', headers=bearer(tokens(client)[1]))
    assert_error(response, 400, "INVALID_INPUT", "Content-Type")


def test_misspelt_keyword_is_a_parser_error_not_silently_accepted(client: TestClient) -> None:
    assert_error(
        ingest(client, "CREATE TABLE a (x INT);\n\nCREATE TABEL users (id int);"), 400, "PARSER_ERROR", "line 3"
    )


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"platform": "postgres"}, "content"),
        ({"content": 42}, "content"),
        ({"content": ""}, "content"),
        ({"content": "-- only a comment\n"}, "no statement"),
        ({"content": "select 1", "platform": "oracle9"}, "oracle9"),
        ({"content": "select 1", "platform": 7}, "platform"),
        ({"content": "select 1", "extra_config": []}, "extra_config"),
    ],
)
def test_invalid_input(client: TestClient, body: dict[str, Any], fragment: str) -> None:
    response = client.put(INGEST, json=body, headers=bearer(tokens(client)[1]))
    assert_error(response, 400, "INVALID_INPUT", fragment)


def test_body_that_is_not_json_is_invalid_input(client: TestClient) -> None:
    headers = {**bearer(tokens(client)[1]), "Content-Type": "application/json"}
    assert_error(client.put(INGEST, content=b"\xff\xfe", headers=headers), 400, "INVALID_INPUT")
    assert_error(client.put(INGEST, content=b"CREATE TABLE", headers=headers), 400, "INVALID_INPUT")


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic dXNlcjpwYXNz", "dsk_no_scheme"])
def test_bad_tokens_are_authentication_errors(client: TestClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.put(INGEST, json={"content": "select 1"}, headers=headers)
    assert_error(response, 401, "AUTHENTICATION_ERROR")


def test_rate_limit_is_per_token_and_window(make_client: Any) -> None:
    client = make_client("datascale", rate_limits={"datascale": RateLimit(3, 60)})
    runtime_of(client).clock.freeze()
    first, second = tokens(client)
    for _ in range(3):
        assert ingest(client, "select 1", token=first).status_code == 200
    limited = ingest(client, "select 1", token=first)
    assert_error(limited, 429, "RATE_LIMIT_EXCEEDED")
    assert limited.headers["retry-after"] == "60"
    assert ingest(client, "select 1", token=second).status_code == 200
    runtime_of(client).clock.advance(60)
    assert ingest(client, "select 1", token=first).status_code == 200


def test_default_rate_limit_is_100_per_5_minutes(client: TestClient) -> None:
    runtime_of(client).clock.freeze()
    token = tokens(client)[1]
    statuses = [ingest(client, "select 1", token=token).status_code for _ in range(101)]
    assert statuses[:100] == [200] * 100 and statuses[100] == 429
    runtime_of(client).clock.advance(300)
    assert ingest(client, "select 1", token=token).status_code == 200


def test_other_methods_are_405(client: TestClient) -> None:
    response = client.post(INGEST, json={"content": "select 1"}, headers=bearer(tokens(client)[1]))
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "PUT"


def test_ci_pipeline_syncs_lineage_as_schema_evolves(client: TestClient) -> None:
    """A CI job ingests the migrations folder on each merge; the lineage store follows the schema."""
    token = tokens(client)[1]
    migrations = [
        "CREATE TABLE raw.events (id BIGINT, user_id BIGINT, kind TEXT, at TIMESTAMP);",
        "CREATE TABLE raw.users (id BIGINT PRIMARY KEY, email TEXT);",
        "CREATE VIEW mart.daily_active AS SELECT CAST(e.at AS DATE) AS day, COUNT(DISTINCT e.user_id) AS users "
        "FROM raw.events e JOIN raw.users u ON u.id = e.user_id GROUP BY 1;",
    ]
    messages = []
    for merged in range(1, len(migrations) + 1):
        messages.append(
            ingest(client, "\n".join(migrations[:merged]), platform="postgres", token=token).json()["message"]
        )
    assert messages == [
        "Successfully ingested 1 assets [1 added, 0 modified]",
        "Successfully ingested 2 assets [1 added, 1 modified]",
        "Successfully ingested 3 assets [1 added, 2 modified]",
    ]
    workspace = runtime_of(client).twins["datascale"].credentials()[1]["workspace"]
    assert assets(client)[f"{workspace}/mart.daily_active"]["sources"] == ["raw.events", "raw.users"]
