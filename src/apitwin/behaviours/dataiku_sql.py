"""SQL queries for the Dataiku twin: run for real on an in-memory SQLite holding the tables of the
connection's datasets, the query translated from the connection's dialect by sqlglot."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot.errors import ParseError, TokenError

# Dataiku connection types -> sqlglot dialects (anything else: generic SQL)
DIALECTS = {
    "PostgreSQL": "postgres",
    "Redshift": "redshift",
    "Snowflake": "snowflake",
    "BigQuery": "bigquery",
    "MySQL": "mysql",
    "SQLServer": "tsql",
    "Oracle": "oracle",
    "Hive": "hive",
    "Impala": "hive",
}
_SQLITE_TYPES = {"tinyint": "INTEGER", "smallint": "INTEGER", "int": "INTEGER", "bigint": "INTEGER",
                 "float": "REAL", "double": "REAL", "boolean": "INTEGER"}  # fmt: skip


class QueryFailed(Exception):
    """The query does not parse or fails on the data; the message is the database's."""


@dataclass(frozen=True)
class Table:
    name: str  # as queries name it, e.g. "orders" or "public.orders"
    columns: list[Mapping[str, Any]]  # DSS schema columns: {name, type}
    rows: list[list[Any]]


@dataclass(frozen=True)
class QueryResult:
    columns: list[dict[str, str]]  # DSS schema of the result: {name, type}
    rows: list[list[Any]]


def run_query(sql: str, connection_type: str, tables: Iterable[Table], pre: Iterable[str] = ()) -> QueryResult:
    dialect = DIALECTS.get(connection_type)
    database = sqlite3.connect(":memory:")
    try:
        for table in tables:
            _load(database, table)
        for statement in [*pre, sql]:
            cursor = database.execute(_to_sqlite(statement, dialect))
        description = cursor.description or []
        rows = [list(row) for row in cursor.fetchall()]
    except sqlite3.Error as exc:
        raise QueryFailed(str(exc)) from None
    finally:
        database.close()
    names = [column[0] for column in description]
    return QueryResult([{"name": name, "type": _dss_type(rows, i)} for i, name in enumerate(names)], rows)


def _to_sqlite(statement: str, dialect: str | None) -> str:
    try:
        translated = sqlglot.transpile(statement, read=dialect, write="sqlite")
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f" at line {first.get('line')}, column {first.get('col')}" if first.get("line") else ""
        raise QueryFailed(f"syntax error{where}: {first.get('description') or 'invalid SQL'}") from None
    except TokenError as exc:  # its message is plain text, unlike ParseError's highlighted one
        raise QueryFailed(f"syntax error: {exc}") from None
    if len(translated) != 1:
        raise QueryFailed("Exactly one SQL statement is expected")
    return translated[0]


def _load(database: sqlite3.Connection, table: Table) -> None:
    parts = table.name.split(".")
    if len(parts) > 1:  # schema-qualified names resolve through an attached schema of that name
        schema = parts[0]
        attached = {row[1] for row in database.execute("PRAGMA database_list")}
        if schema not in attached:
            database.execute(f"ATTACH DATABASE ':memory:' AS {_quote(schema)}")
    qualified = ".".join(_quote(part) for part in parts)
    definitions = ", ".join(
        f"{_quote(c['name'])} {_SQLITE_TYPES.get(str(c.get('type')), 'TEXT')}" for c in table.columns
    )
    database.execute(f"CREATE TABLE {qualified} ({definitions})")
    placeholders = ", ".join("?" for _ in table.columns)
    width = len(table.columns)
    database.executemany(
        f"INSERT INTO {qualified} VALUES ({placeholders})",
        [[*row[:width], *([None] * (width - len(row)))] for row in table.rows],
    )


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _dss_type(rows: list[list[Any]], index: int) -> str:
    values = [row[index] for row in rows if row[index] is not None]
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "bigint"
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "double"
    return "string"
