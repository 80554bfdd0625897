"""Unit tests for the SQL script -> assets parsing layer."""

from __future__ import annotations

import json
import logging

import pytest

from apitwin.behaviours.sqlassets import (
    SUPPORTED_PLATFORMS,
    Asset,
    Column,
    SqlParseError,
    UnknownPlatformError,
    dialect_for,
    extract_assets,
)


def _only(content: str, platform: str | None = None) -> Asset:
    assets = extract_assets(content, platform)
    assert len(assets) == 1, assets
    return assets[0]


def _columns(asset: Asset) -> dict[str, Column]:
    return {column.name: column for column in asset.columns}


# --- Snowflake ---

SNOWFLAKE_TABLE = """
CREATE OR REPLACE TRANSIENT TABLE analytics.public.users (
    id NUMBER(38,0) NOT NULL,
    "Email" VARCHAR(255),
    created_at TIMESTAMP_NTZ,
    CONSTRAINT pk_users PRIMARY KEY (id)
) CLUSTER BY (created_at) COMMENT='app users';
"""


def test_snowflake_unquoted_names_are_upper_cased() -> None:
    asset = _only(SNOWFLAKE_TABLE, "snowflake")
    assert asset.name == "ANALYTICS.PUBLIC.USERS"
    assert asset.kind == "table"
    assert [c.name for c in asset.columns] == ["ID", "Email", "CREATED_AT"]


def test_snowflake_transient_table_columns_have_dialect_types() -> None:
    columns = _columns(_only(SNOWFLAKE_TABLE, "snowflake"))
    assert columns["ID"] == Column(name="ID", type="DECIMAL(38, 0)", nullable=False, primary_key=True)
    assert columns["Email"] == Column(name="Email", type="VARCHAR(255)", nullable=True, primary_key=False)
    assert columns["CREATED_AT"].type == "TIMESTAMPNTZ"


def test_snowflake_secure_view_with_copy_grants_has_columns_and_sources() -> None:
    asset = _only(
        "CREATE OR REPLACE SECURE VIEW analytics.public.active_users COPY GRANTS AS\n"
        'SELECT u.id, u."Email" AS email FROM analytics.public.users u WHERE u.id > 0;',
        "snowflake",
    )
    assert asset.name == "ANALYTICS.PUBLIC.ACTIVE_USERS"
    assert asset.kind == "view"
    assert [c.name for c in asset.columns] == ["ID", "EMAIL"]
    assert asset.sources == ("ANALYTICS.PUBLIC.USERS",)


# --- BigQuery ---

BIGQUERY_TABLE = """
CREATE TABLE IF NOT EXISTS `proj.ds.Events` (
  event_id STRING NOT NULL,
  ts TIMESTAMP,
  amount NUMERIC(10, 2)
)
PARTITION BY DATE(ts)
CLUSTER BY event_id
OPTIONS(description='raw events', partition_expiration_days=30);
"""


def test_bigquery_backquoted_name_keeps_case_and_has_no_quotes() -> None:
    asset = _only(BIGQUERY_TABLE, "bigquery")
    assert asset.name == "proj.ds.Events"


def test_bigquery_table_with_options_and_partitioning_has_typed_columns() -> None:
    asset = _only(BIGQUERY_TABLE, "bigquery")
    assert [(c.name, c.type, c.nullable) for c in asset.columns] == [
        ("event_id", "STRING", False),
        ("ts", "TIMESTAMP", True),
        ("amount", "NUMERIC(10, 2)", True),
    ]


def test_bigquery_ctas_with_cluster_by_takes_columns_and_sources_from_select() -> None:
    asset = _only(
        "CREATE OR REPLACE TABLE `proj.ds.daily` PARTITION BY day CLUSTER BY user_id AS\n"
        "SELECT DATE(e.ts) AS day, e.user_id, COUNT(*) AS n FROM `proj.ds.Events` AS e GROUP BY 1, 2",
        "bigquery",
    )
    assert asset.kind == "table"
    assert [(c.name, c.type) for c in asset.columns] == [("day", ""), ("user_id", ""), ("n", "")]
    assert asset.sources == ("proj.ds.Events",)


def test_bigquery_project_with_hyphen_is_not_quoted_in_name() -> None:
    asset = _only("CREATE TABLE `my-proj.ds.t` (id INT64)", "bigquery")
    assert asset.name == "my-proj.ds.t"


# --- Redshift ---

REDSHIFT_TABLE = """
CREATE TABLE IF NOT EXISTS public.sales (
  sale_id BIGINT IDENTITY(1,1) ENCODE az64,
  customer_id INTEGER NOT NULL ENCODE az64,
  amount DECIMAL(12,2) ENCODE az64,
  PRIMARY KEY (sale_id)
)
DISTSTYLE KEY
DISTKEY(customer_id)
COMPOUND SORTKEY(customer_id, sale_id);
"""


def test_redshift_encode_distkey_and_sortkey_table_is_parsed() -> None:
    asset = _only(REDSHIFT_TABLE, "redshift")
    assert asset.name == "public.sales"
    assert [(c.name, c.type, c.nullable, c.primary_key) for c in asset.columns] == [
        ("sale_id", "BIGINT", False, True),
        ("customer_id", "INTEGER", False, False),
        ("amount", "DECIMAL(12, 2)", True, False),
    ]


def test_redshift_folds_even_quoted_identifiers_to_lower_case() -> None:
    # Redshift is case-insensitive for quoted identifiers too (sqlglot's normalisation strategy for it).
    assert _only('CREATE TABLE public."Sales" (a INT)', "redshift").name == "public.sales"


def test_redshift_interleaved_sortkey_is_unsupported_by_sqlglot() -> None:
    # sqlglot falls back to a Command here; an asset definition we cannot read is reported, not dropped.
    with pytest.raises(SqlParseError) as caught:
        extract_assets("CREATE TABLE t (a INT) INTERLEAVED SORTKEY (a)", "redshift")
    assert caught.value.line == 1


# --- Postgres ---

POSTGRES_SCRIPT = """
CREATE TABLE IF NOT EXISTS public.orders (
  id SERIAL PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES public.users(id) ON DELETE CASCADE,
  product_id INTEGER,
  data JSONB,
  CONSTRAINT fk_product FOREIGN KEY (product_id) REFERENCES products (id) ON DELETE SET NULL
);
"""


def test_postgres_serial_and_jsonb_columns_keep_their_types() -> None:
    columns = _columns(_only(POSTGRES_SCRIPT, "postgres"))
    assert columns["id"] == Column(name="id", type="SERIAL", nullable=False, primary_key=True)
    assert columns["data"].type == "JSONB"


def test_postgres_references_and_named_foreign_key_constraint_are_foreign_keys() -> None:
    assert _only(POSTGRES_SCRIPT, "postgres").foreign_keys == ("products", "public.users")


def test_postgres_unquoted_names_are_lower_cased_and_quoted_case_is_kept() -> None:
    asset = _only('CREATE TABLE Public."Users" (Id INT, "DisplayName" TEXT)', "postgres")
    assert asset.name == "public.Users"
    assert [c.name for c in asset.columns] == ["id", "DisplayName"]


def test_postgres_materialized_view_has_its_own_kind() -> None:
    asset = _only("CREATE MATERIALIZED VIEW IF NOT EXISTS totals AS SELECT user_id FROM orders", "postgres")
    assert asset.kind == "materialized_view"
    assert asset.sources == ("orders",)


# --- generic dialect ---


def test_generic_dialect_parses_ansi_ddl() -> None:
    asset = _only("CREATE TABLE sales.customers (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL, born DATE)")
    assert asset.name == "sales.customers"
    assert [(c.name, c.type, c.nullable, c.primary_key) for c in asset.columns] == [
        ("id", "INT", False, True),
        ("name", "VARCHAR(100)", False, False),
        ("born", "DATE", True, False),
    ]


# --- platforms ---


@pytest.mark.parametrize(
    ("platform", "dialect"),
    [
        ("postgresql", "postgres"),
        ("bq", "bigquery"),
        ("sqlserver", "tsql"),
        ("mssql", "tsql"),
        ("ms-sql", "tsql"),
        (" Snowflake ", "snowflake"),
        ("REDSHIFT", "redshift"),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_dialect_for_maps_aliases_and_blank_platforms(platform: str | None, dialect: str | None) -> None:
    assert dialect_for(platform) == dialect


def test_unknown_platform_is_rejected_with_supported_list() -> None:
    with pytest.raises(UnknownPlatformError) as caught:
        dialect_for("oracle-ish")
    assert caught.value.platform == "oracle-ish"
    assert "snowflake" in str(caught.value) and "postgresql" in str(caught.value)


def test_extract_assets_rejects_unknown_platform() -> None:
    with pytest.raises(UnknownPlatformError):
        extract_assets("CREATE TABLE t (a INT)", "nosuchdb")


def test_supported_platforms_are_sorted_dialects_plus_aliases() -> None:
    assert list(SUPPORTED_PLATFORMS) == sorted(SUPPORTED_PLATFORMS)
    assert {"snowflake", "bigquery", "redshift", "postgres", "postgresql", "bq", "tsql", "mssql"} <= set(
        SUPPORTED_PLATFORMS
    )
    assert "" not in SUPPORTED_PLATFORMS
    assert all(dialect_for(name) is not None for name in SUPPORTED_PLATFORMS)


# --- errors ---


def test_syntax_error_reports_line_of_first_error() -> None:
    with pytest.raises(SqlParseError) as caught:
        extract_assets("CREATE TABLE a (x INT);\n\nCREATE TABLE b (y INT,\n z INT")
    assert caught.value.line == 4
    assert caught.value.description == "Expecting )"
    assert str(caught.value) == "Error at line 4: Expecting )"


def test_misspelt_create_keyword_is_parse_error_at_its_line() -> None:
    script = "CREATE TABLE a (x INT);\n-- next one is broken\nCREATE TABEL users (id int);\nCREATE TABLE c (z INT);"
    with pytest.raises(SqlParseError) as caught:
        extract_assets(script)
    assert caught.value.line == 3
    assert "CREATE TABEL users" in caught.value.description


def test_sqlglot_command_fallback_warning_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING), pytest.raises(SqlParseError):
        extract_assets("CREATE TABEL users (id int)")
    assert caplog.records == []


def test_unterminated_string_reports_line_where_it_starts() -> None:
    with pytest.raises(SqlParseError) as caught:
        extract_assets("CREATE TABLE a (x INT);\n\nSELECT 'abc\n\nmore")
    assert caught.value.line == 3


def test_view_without_query_is_a_parse_error() -> None:
    with pytest.raises(SqlParseError):
        extract_assets("CREATE VIEW v AS")


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE EXTENSION IF NOT EXISTS pgcrypto",
        "CREATE OR REPLACE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
        "DO $$ BEGIN PERFORM 1; END $$",
        "REFRESH MATERIALIZED VIEW totals",
        "ALTER TABLE t OWNER TO app",
    ],
)
def test_valid_statements_sqlglot_cannot_model_are_skipped(statement: str) -> None:
    assets = extract_assets(f"{statement};\nCREATE TABLE t (a INT);", "postgres")
    assert [a.name for a in assets] == ["t"]


# --- views, CTAS, keys ---


def test_view_columns_come_from_aliases_and_sources_drop_aliases_and_ctes() -> None:
    asset = _only(
        "CREATE VIEW reporting.order_totals AS\n"
        "WITH recent AS (SELECT user_id, amount FROM sales.orders o WHERE o.ts > now())\n"
        "SELECT r.user_id, SUM(r.amount) AS total, u.name\n"
        "FROM recent r JOIN crm.users AS u ON u.id = r.user_id GROUP BY r.user_id, u.name"
    )
    assert asset.kind == "view"
    assert [(c.name, c.type) for c in asset.columns] == [("user_id", ""), ("total", ""), ("name", "")]
    assert asset.sources == ("crm.users", "sales.orders")


def test_view_explicit_column_list_names_the_columns() -> None:
    asset = _only("CREATE VIEW v (a, b) AS SELECT x, y FROM t")
    assert [c.name for c in asset.columns] == ["a", "b"]


def test_view_star_and_literal_projections_add_no_columns() -> None:
    asset = _only("CREATE VIEW v AS SELECT *, t.*, 1, k FROM t")
    assert [c.name for c in asset.columns] == ["k"]


def test_view_sources_ignore_table_functions() -> None:
    asset = _only("CREATE VIEW v AS SELECT g FROM generate_series(1, 3) AS g, s.t", "postgres")
    assert asset.sources == ("s.t",)


def test_ctas_is_a_table_with_select_columns_and_sources() -> None:
    asset = _only(
        "CREATE TABLE s.summary AS SELECT a.id, COUNT(*) AS n FROM s.a AS a JOIN s.b ON a.id = b.id GROUP BY 1"
    )
    assert asset.kind == "table"
    assert [c.name for c in asset.columns] == ["id", "n"]
    assert asset.sources == ("s.a", "s.b")


def test_column_level_primary_key_and_references() -> None:
    asset = _only("CREATE TABLE o (id INT PRIMARY KEY, user_id INT REFERENCES app.users(id))")
    columns = _columns(asset)
    assert (columns["id"].primary_key, columns["id"].nullable) == (True, False)
    assert (columns["user_id"].primary_key, columns["user_id"].nullable) == (False, True)
    assert asset.foreign_keys == ("app.users",)


def test_table_level_composite_primary_key_and_foreign_key() -> None:
    asset = _only(
        "CREATE TABLE line (order_id INT, n INT, sku TEXT,\n"
        " PRIMARY KEY (order_id, n),\n"
        " FOREIGN KEY (order_id) REFERENCES orders (id),\n"
        " CONSTRAINT fk_sku FOREIGN KEY (sku) REFERENCES catalog.products (sku))",
        "postgres",
    )
    assert [(c.name, c.primary_key, c.nullable) for c in asset.columns] == [
        ("order_id", True, False),
        ("n", True, False),
        ("sku", False, True),
    ]
    assert asset.foreign_keys == ("catalog.products", "orders")


def test_explicit_null_constraint_keeps_column_nullable() -> None:
    columns = _columns(_only("CREATE TABLE t (a INT NULL, b INT NOT NULL)"))
    assert (columns["a"].nullable, columns["b"].nullable) == (True, False)


def test_temporary_table_counts_as_table() -> None:
    assert _only("CREATE TEMPORARY TABLE scratch (a INT)", "postgres").kind == "table"


# --- script-level behaviour ---


def test_duplicate_definition_keeps_first_position_and_last_definition() -> None:
    assets = extract_assets(
        "CREATE TABLE a (x INT);\nCREATE TABLE b (y INT);\nCREATE OR REPLACE TABLE a (x INT, z TEXT);"
    )
    assert [a.name for a in assets] == ["a", "b"]
    assert [c.name for c in assets[0].columns] == ["x", "z"]


def test_duplicate_detection_uses_normalised_names() -> None:
    assets = extract_assets("CREATE TABLE Users (a INT);\nCREATE TABLE USERS (b INT);", "snowflake")
    assert [(a.name, [c.name for c in a.columns]) for a in assets] == [("USERS", ["B"])]


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO t VALUES (1)",
        "SELECT * FROM t",
        "DROP TABLE IF EXISTS old",
        "ALTER TABLE t ADD COLUMN b INT",
        "GRANT SELECT ON t TO analyst",
        "USE analytics",
        "CREATE INDEX idx ON t (a)",
        "CREATE SCHEMA IF NOT EXISTS s",
        "CREATE DATABASE d",
        "CREATE SEQUENCE seq",
        "CREATE FUNCTION f() RETURNS INT AS 'select 1'",
    ],
)
def test_non_asset_statements_are_skipped(statement: str) -> None:
    assets = extract_assets(f"CREATE TABLE t (a INT);\n{statement};")
    assert [a.name for a in assets] == ["t"]


@pytest.mark.parametrize(
    "statement",
    ["CREATE OR REPLACE STAGE st URL='s3://bucket/p/'", "CREATE OR REPLACE STREAM s ON TABLE t", "USE WAREHOUSE wh"],
)
def test_snowflake_non_asset_statements_are_skipped(statement: str) -> None:
    assert [a.name for a in extract_assets(f"{statement};\nCREATE TABLE t (a INT);", "snowflake")] == ["T"]


@pytest.mark.parametrize("content", ["", "   \n\t", "-- just a comment", "/* block\ncomment */", ";;", "-- a\n;\n"])
def test_empty_or_comment_only_content_has_no_assets(content: str) -> None:
    assert extract_assets(content) == []


def test_comments_do_not_shift_assets_or_error_lines() -> None:
    script = "/* header\n   block */\n-- note\nCREATE TABLE a (x INT); -- trailing\nCREATE TABLE b (\n  y INT z INT);"
    with pytest.raises(SqlParseError) as caught:
        extract_assets(script)
    assert caught.value.line == 6
    assert [a.name for a in extract_assets(script.replace("INT z", "INT, z"))] == ["a", "b"]


# --- definition & serialisation ---


def test_definition_is_deterministic_and_ignores_comments() -> None:
    first = _only("CREATE TABLE t (a INT) -- v1", "snowflake").definition
    again = _only("/* edited */ CREATE TABLE t (a INT)", "snowflake").definition
    assert first == again


@pytest.mark.parametrize(
    "changed",
    ["CREATE TABLE t (a INT, b TEXT)", "CREATE TABLE t (a BIGINT)", "CREATE TABLE t (a INT NOT NULL)"],
)
def test_definition_changes_when_a_column_changes(changed: str) -> None:
    assert _only("CREATE TABLE t (a INT)").definition != _only(changed).definition


def test_to_dict_is_json_serialisable() -> None:
    asset = _only(POSTGRES_SCRIPT, "postgres")
    data = json.loads(json.dumps(asset.to_dict()))
    assert data["name"] == "public.orders"
    assert data["kind"] == "table"
    assert data["columns"][0] == {"name": "id", "type": "SERIAL", "nullable": False, "primary_key": True}
    assert data["foreign_keys"] == ["products", "public.users"]
    assert data["sources"] == []
    assert data["definition"] == asset.definition
