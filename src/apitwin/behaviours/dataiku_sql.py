"""SQL queries for the Dataiku twin: run for real on an in-memory SQLite holding the tables the query names,
the query translated from the connection's dialect by sqlglot, inside a sandbox.

The sandbox is what keeps a caller's SQL inside that throwaway database:
- an authorizer refuses what could reach the host or outlive the query: ATTACH/DETACH (and VACUUM INTO, which
  attaches its target), PRAGMA, transaction control, extension loading;
- a time budget (a progress handler), a row budget and a value-size limit, so a recursive CTE or a huge
  result fails that one query with a clear message instead of holding the server;
- only the tables the query names are loaded, each once: a dataset that cannot be loaded (say, a duplicated
  column name) fails the queries that need it, not every query on the connection.
`run_query` is plain blocking code: the behaviour runs it in a worker thread (SQLite releases the GIL).
"""

from __future__ import annotations

import base64
import math
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError, TokenError

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

QUERY_SECONDS = 5.0  # a twin's tables are small: a query running longer is runaway (a recursive CTE, say)
MAX_RESULT_ROWS = 100_000
MAX_VALUE_BYTES = 16 * 1024 * 1024  # the longest string or blob a query may build
_PROGRESS_EVERY = 10_000  # SQLite virtual-machine steps between two looks at the clock
_DENIED = {
    sqlite3.SQLITE_ATTACH: "ATTACH",
    sqlite3.SQLITE_DETACH: "DETACH",
    sqlite3.SQLITE_TRANSACTION: "transaction control",
    sqlite3.SQLITE_SAVEPOINT: "savepoints",
    sqlite3.SQLITE_PRAGMA: "PRAGMA",  # SQLite's own; no warehouse dialect has it, and some change the database
}


class QueryFailed(Exception):
    """The query does not parse, is not allowed, or fails on the data; the message says which."""


@dataclass(frozen=True)
class Table:
    schema: str | None  # as the database names it: e.g. "public" for public.orders
    name: str
    columns: list[Mapping[str, Any]]  # DSS schema columns: {name, type}
    rows: list[list[Any]]

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


@dataclass(frozen=True)
class QueryResult:
    columns: list[dict[str, str]]  # DSS schema of the result: {name, type}
    rows: list[list[Any]]


def referenced_tables(statements: Iterable[str], connection_type: str) -> set[tuple[str | None, str]]:
    """The (schema, table) pairs the statements name, lower-cased; CTE names come along and match nothing."""
    dialect = DIALECTS.get(connection_type)
    names: set[tuple[str | None, str]] = set()
    for statement in statements:
        for tree in _parse(statement, dialect):
            for table in tree.find_all(exp.Table) if tree is not None else ():
                names.add(((table.db or None) and table.db.lower(), table.name.lower()))
    return names


def run_query(sql: str, connection_type: str, tables: Iterable[Table], pre: Sequence[str] = ()) -> QueryResult:
    """Run the statements (pre-queries first) in a fresh sandboxed database holding `tables`."""
    dialect = DIALECTS.get(connection_type)
    tables = list(tables)
    statements = [_to_sqlite(statement, dialect) for statement in [*pre, sql]]
    # isolation_level=None: Python issues no BEGIN of its own, which the authorizer would refuse
    database = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    try:
        for table in tables:
            _load(database, table)
        _sandbox(database)
        deadline = time.monotonic() + QUERY_SECONDS
        database.set_progress_handler(lambda: int(time.monotonic() > deadline), _PROGRESS_EVERY)
        for statement in statements:
            cursor = database.execute(statement)
        description = cursor.description or []
        rows = cursor.fetchmany(MAX_RESULT_ROWS + 1)
    except sqlite3.DatabaseError as exc:
        raise QueryFailed(_explain(exc)) from None
    finally:
        database.close()
    if len(rows) > MAX_RESULT_ROWS:
        raise QueryFailed(f"the result has more than {MAX_RESULT_ROWS} rows, the twin's limit: add a LIMIT")
    result_rows = [[_json_value(value) for value in row] for row in rows]
    names = [column[0] for column in description]
    declared = _declared_types(sql, dialect, tables)
    return QueryResult(
        [{"name": n, "type": declared.get(n.lower()) or _dss_type(rows, i)} for i, n in enumerate(names)], result_rows
    )


def _declared_types(sql: str, dialect: str | None, tables: Sequence[Table]) -> dict[str, str]:
    """The DSS type of each result column that is a table column as it is (selected by name or by *): the
    dataset schema's, as DSS reports it (a `date` column is a date, whatever SQLite stores it as). Computed
    columns get the type of their values."""
    tree = next((tree for tree in _parse(sql, dialect) if tree is not None), None)
    if not isinstance(tree, exp.Query):
        return {}
    selected = {item.unalias().name.lower() for item in tree.selects if isinstance(item.unalias(), exp.Column)}
    starred = any(
        isinstance(item, exp.Star) or (isinstance(item, exp.Column) and item.is_star) for item in tree.selects
    )
    types: dict[str, set[str]] = {}
    for table in tables:
        for column in table.columns:
            name = str(column["name"]).lower()
            if (starred or name in selected) and column.get("type"):
                types.setdefault(name, set()).add(str(column["type"]))
    # a name two tables type differently stays undecided: the values say
    aliased = {item.alias_or_name.lower(): item.unalias().name.lower() for item in tree.selects
               if isinstance(item.unalias(), exp.Column)}  # fmt: skip
    result = {name: next(iter(kinds)) for name, kinds in types.items() if len(kinds) == 1}
    result.update({alias: result[source] for alias, source in aliased.items() if source in result})
    return result


def _sandbox(database: sqlite3.Connection) -> None:
    def authorize(action: int, first: str | None, second: str | None, schema: str | None, source: str | None) -> int:
        if action in _DENIED:
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_FUNCTION and (second or "").lower() == "load_extension":
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    attached = len(database.execute("PRAGMA database_list").fetchall()) - 1  # less main
    database.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, attached)  # no room for one more, whatever the route
    database.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    database.set_authorizer(authorize)


def _explain(exc: sqlite3.DatabaseError) -> str:
    message = str(exc)
    if message == "interrupted":
        return f"the query ran longer than the twin's budget of {QUERY_SECONDS:g} s and was cancelled"
    if message == "not authorized":
        return (
            "not authorized: queries may not ATTACH or DETACH databases, VACUUM INTO a file, control "
            "transactions, load extensions or use PRAGMA"
        )
    return message


def _parse(statement: str, dialect: str | None) -> list[exp.Expr | None]:
    try:
        return sqlglot.parse(statement, read=dialect)
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f" at line {first.get('line')}, column {first.get('col')}" if first.get("line") else ""
        raise QueryFailed(f"syntax error{where}: {first.get('description') or 'invalid SQL'}") from None
    except TokenError as exc:  # its message is plain text, unlike ParseError's highlighted one
        raise QueryFailed(f"syntax error: {exc}") from None
    except (SqlglotError, RecursionError):
        raise QueryFailed("syntax error: the statement is nested too deeply to parse") from None


def _to_sqlite(statement: str, dialect: str | None) -> str:
    trees = [tree for tree in _parse(statement, dialect) if tree is not None]
    if len(trees) != 1:
        raise QueryFailed("Exactly one SQL statement is expected")
    try:
        return trees[0].sql(dialect="sqlite")
    except (SqlglotError, RecursionError):
        raise QueryFailed("syntax error: the statement is nested too deeply to translate") from None


def _load(database: sqlite3.Connection, table: Table) -> None:
    if table.schema:  # schema-qualified names resolve through an attached schema of that name
        attached = {row[1] for row in database.execute("PRAGMA database_list")}
        if table.schema not in attached:
            database.execute(f"ATTACH DATABASE ':memory:' AS {_quote(table.schema)}")
    qualified = ".".join(_quote(part) for part in (table.schema, table.name) if part)
    definitions = ", ".join(
        f"{_quote(c['name'])} {_SQLITE_TYPES.get(str(c.get('type')), 'TEXT')}" for c in table.columns
    )
    try:
        database.execute(f"CREATE TABLE {qualified} ({definitions})")
    except sqlite3.DatabaseError as exc:
        raise QueryFailed(f"table {table.qualified} cannot be read: {exc}") from None
    placeholders = ", ".join("?" for _ in table.columns)
    width = len(table.columns)
    database.executemany(
        f"INSERT INTO {qualified} VALUES ({placeholders})",
        [[*row[:width], *([None] * (width - len(row)))] for row in table.rows],
    )


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _json_value(value: Any) -> Any:
    """What a result cell becomes in JSON: a BLOB as base64 text, a non-finite REAL as its name."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _dss_type(rows: list[tuple[Any, ...]], index: int) -> str:
    values = [row[index] for row in rows if row[index] is not None]
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "bigint"
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        return "double"
    return "string"
