"""Parse SQL DDL scripts into data assets (tables, views) with columns and lineage.

Pure layer under the ingest endpoint: stdlib + sqlglot only, no HTTP concerns.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import sqlglot.dialects
from sqlglot import Token, TokenType, exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

__all__ = [
    "SUPPORTED_PLATFORMS",
    "Asset",
    "Column",
    "SqlParseError",
    "UnknownPlatformError",
    "dialect_for",
    "extract_assets",
]


@dataclass(frozen=True)
class Column:
    """One column of an asset."""

    name: str
    type: str
    nullable: bool
    primary_key: bool


@dataclass(frozen=True)
class Asset:
    """A table or view defined by a script."""

    name: str
    kind: str
    columns: tuple[Column, ...]
    sources: tuple[str, ...]
    foreign_keys: tuple[str, ...]
    definition: str

    def to_dict(self) -> dict[str, object]:
        """JSON-serialisable form (tuples become lists)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "columns": [asdict(column) for column in self.columns],
            "sources": list(self.sources),
            "foreign_keys": list(self.foreign_keys),
            "definition": self.definition,
        }


class SqlParseError(Exception):
    """The script is not valid SQL for the platform; `line` is 1-based."""

    def __init__(self, line: int, description: str) -> None:
        super().__init__(f"Error at line {line}: {description}")
        self.line = line
        self.description = description


class UnknownPlatformError(ValueError):
    """The platform names no sqlglot dialect (nor a known alias of one)."""

    def __init__(self, platform: str) -> None:
        super().__init__(f"Unknown platform {platform!r}; supported platforms: {', '.join(SUPPORTED_PLATFORMS)}")
        self.platform = platform


_DIALECTS: frozenset[str] = frozenset(name for name in sqlglot.dialects.DIALECT_MODULE_NAMES if name)

# Common alternative spellings clients send; values must be sqlglot dialect names.
_ALIASES: dict[str, str] = {
    "postgresql": "postgres",
    "pg": "postgres",
    "bq": "bigquery",
    "sqlserver": "tsql",
    "sql server": "tsql",
    "sql-server": "tsql",
    "mssql": "tsql",
    "ms-sql": "tsql",
    "mariadb": "mysql",
    "sparksql": "spark",
}

SUPPORTED_PLATFORMS: tuple[str, ...] = tuple(sorted(_DIALECTS | _ALIASES.keys()))


def dialect_for(platform: str | None) -> str | None:
    """Map a client platform string to a sqlglot dialect name; None means sqlglot's generic dialect."""
    if platform is None:
        return None
    key = platform.strip().lower()
    if not key:
        return None
    if key in _DIALECTS:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    raise UnknownPlatformError(platform)


# --- logging: sqlglot warns (instead of raising) when it falls back to exp.Command ---

_quiet = threading.local()


class _QuietInThisThread(logging.Filter):
    """Drops sqlglot warnings emitted while this thread is inside extract_assets.

    A filter keyed on a thread-local flag, rather than changing the logger level, so concurrent callers and
    other threads' sqlglot logging are unaffected.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or not getattr(_quiet, "depth", 0)


_QUIET_FILTER = _QuietInThisThread()
logging.getLogger("sqlglot").addFilter(_QUIET_FILTER)


@contextmanager
def _sqlglot_quiet() -> Iterator[None]:
    _quiet.depth = getattr(_quiet, "depth", 0) + 1
    try:
        yield
    finally:
        _quiet.depth -= 1


# --- exp.Command policy ---
#
# sqlglot parses unsupported syntax as exp.Command instead of raising, e.g. `CREATE TABEL t (...)`. Such a
# statement is an error, except where it cannot define an asset anyway: CREATE of a non-asset object kind that
# sqlglot does not model (CREATE EXTENSION, plpgsql CREATE FUNCTION, Snowflake TASK/STREAM/PIPE, ...), and
# non-CREATE statements starting with a real statement verb (DO, REFRESH, EXPLAIN, UNLOAD, ALTER ... OWNER TO).
# Misspelt verbs (INSRT, DROPP) never reach here: sqlglot raises ParseError for them.

_CREATE_MODIFIERS = frozenset(
    {"OR", "REPLACE", "ALTER", "TEMP", "TEMPORARY", "VOLATILE", "GLOBAL", "LOCAL", "SECURE", "TRUSTED",
     "PROCEDURAL", "UNIQUE", "DEFAULT", "RECURSIVE", "EXTERNAL", "CONSTRAINT"}
)  # fmt: skip

_NON_ASSET_CREATE_KINDS = frozenset(
    {"ACCESS", "AGGREGATE", "ALERT", "API", "APPLICATION", "ASSIGNMENT", "CAPACITY", "CAST", "CATALOG", "COLLATION",
     "CONNECTION", "CONVERSION", "DATABASE", "DATASHARE", "DOMAIN", "EVENT", "EXTENSION", "FILE", "FOREIGN",
     "FUNCTION", "GROUP", "INDEX", "INTEGRATION", "LANGUAGE", "LIBRARY", "LOGIN", "MASKING", "MODEL", "NETWORK",
     "NOTIFICATION", "OPERATOR", "PACKAGE", "PIPE", "POLICY", "PROCEDURE", "PUBLICATION", "RESERVATION",
     "RESOURCE", "ROLE", "ROW", "RULE", "SCHEMA", "SECRET", "SECURITY", "SEQUENCE", "SERVER", "SHARE", "STAGE",
     "STATISTICS", "STORAGE", "STREAM", "SUBSCRIPTION", "SYNONYM", "TABLESPACE", "TAG", "TASK", "TEXT",
     "TRANSFORM", "TRIGGER", "TYPE", "USER", "VOLUME", "WAREHOUSE"}
)  # fmt: skip

_NON_ASSET_VERBS = frozenset(
    {"ABORT", "ALTER", "ANALYZE", "BEGIN", "CALL", "CHECKPOINT", "CLOSE", "CLUSTER", "COMMENT", "COMMIT", "COPY",
     "DEALLOCATE", "DECLARE", "DELETE", "DESC", "DESCRIBE", "DISCARD", "DO", "DROP", "END", "EXEC", "EXECUTE",
     "EXPLAIN", "EXPORT", "FETCH", "GET", "GRANT", "IMPORT", "INSERT", "LIST", "LISTEN", "LOAD", "LOCK", "MERGE",
     "MOVE", "MSCK", "NOTIFY", "OPTIMIZE", "PREPARE", "PUT", "REFRESH", "REINDEX", "RELEASE", "REMOVE", "RESET",
     "REVOKE", "ROLLBACK", "SAVEPOINT", "SET", "SHOW", "START", "TRUNCATE", "UNDROP", "UNLISTEN", "UNLOAD",
     "UPDATE", "USE", "VACUUM"}
)  # fmt: skip

_ASSET_WORDS = frozenset({"TABLE", "VIEW"})


def _command_is_harmless(words: Sequence[str]) -> bool:
    """True when an exp.Command statement (given its upper-cased token texts) cannot define an asset."""
    if not words:
        return True
    if words[0] != "CREATE":
        return words[0] in _NON_ASSET_VERBS
    rest = list(words[1:])
    while rest and rest[0] in _CREATE_MODIFIERS:
        rest.pop(0)
    if not rest or rest[0] not in _NON_ASSET_CREATE_KINDS:
        return False
    # e.g. CREATE FOREIGN TABLE: a table-like object we failed to parse, so still an error.
    return not (len(rest) > 1 and rest[1] in _ASSET_WORDS)


# --- parsing ---


def _split_chunks(tokens: Sequence[Token]) -> list[list[Token]]:
    """Split tokens into statements exactly as sqlglot's Parser._parse does, so results map 1:1 by index."""
    chunks: list[list[Token]] = [[]]
    total = len(tokens)
    for i, token in enumerate(tokens):
        if token.token_type == TokenType.SEMICOLON:
            if token.comments:
                chunks.append([token])
            if i < total - 1:
                chunks.append([])
        else:
            chunks[-1].append(token)
    return chunks


def _chunk_tokens(chunk: Sequence[Token]) -> list[Token]:
    # Athena prepends a synthetic marker token that has no position in the content.
    return [token for token in chunk if token.token_type != TokenType.HIVE_TOKEN_STREAM]


def _token_error(error: TokenError, content: str) -> SqlParseError:
    """Locate a tokenizer error: sqlglot's cause may say 'Missing ' from LINE:OFFSET', else only a context window."""
    cause = str(error.__cause__ or "")
    match = re.fullmatch(r"(.*) from \d+:(\d+)", cause, flags=re.DOTALL)
    if match:
        # The second number is a character offset (where the literal started), more useful than the line.
        offset = int(match.group(2))
        return SqlParseError(content.count("\n", 0, offset) + 1, match.group(1))
    if error.start:
        # The context window starts 50 characters before the failing position.
        offset = error.start + 50
    else:
        offset = error.end if error.end is not None else 0
    return SqlParseError(content.count("\n", 0, offset) + 1, "Unexpected end of input or invalid token")


def _parse_error(error: ParseError) -> SqlParseError:
    first = error.errors[0] if error.errors else {}
    line = first.get("line")
    if not isinstance(line, int):
        match = re.search(r"Line (\d+)", str(error))
        line = int(match.group(1)) if match else 1
    description = first.get("description") or str(error).split("\n", 1)[0]
    return SqlParseError(max(line, 1), str(description))


def _parse(content: str, dialect: str | None) -> list[tuple[exp.Expr, list[Token]]]:
    """Parse the script (same as sqlglot.parse) and pair each statement with its tokens."""
    engine = Dialect.get_or_raise(dialect)
    try:
        tokens = engine.tokenize(content)
        statements = engine.parser().parse(tokens, content)
    except ParseError as error:
        raise _parse_error(error) from error
    except TokenError as error:
        raise _token_error(error, content) from error
    except SqlglotError as error:
        raise SqlParseError(1, str(error)) from error
    chunks = _split_chunks(tokens)
    return [
        (statement, _chunk_tokens(chunks[i]) if i < len(chunks) else [])
        for i, statement in enumerate(statements)
        if statement is not None
    ]


def _command_error(content: str, chunk: Sequence[Token]) -> SqlParseError:
    line = chunk[0].line if chunk else 1
    snippet = " ".join(content[chunk[0].start : chunk[-1].end + 1].split()) if chunk else ""
    if len(snippet) > 80:
        snippet = snippet[:77] + "..."
    return SqlParseError(line, f"Unsupported or invalid statement: {snippet}")


# --- asset extraction ---


def _qualified_name(table: exp.Table) -> str:
    # Join the parts' plain names: exp.table_name would quote parts such as `my-project`, and names carry no quotes.
    return ".".join(part.name for part in table.parts)


def _key_names(keys: Sequence[exp.Expr]) -> set[str]:
    names: set[str] = set()
    for key in keys:
        node = key.this if isinstance(key, exp.Ordered) else key
        if isinstance(node, (exp.Identifier, exp.Column)):
            names.add(node.name)
    return names


def _primary_key_names(schema: exp.Schema) -> set[str]:
    """Columns named by a table-level PRIMARY KEY (a, b), bare or inside CONSTRAINT name PRIMARY KEY."""
    names: set[str] = set()
    for item in schema.expressions:
        if isinstance(item, exp.PrimaryKey):
            names |= _key_names(item.expressions)
        elif isinstance(item, exp.Constraint):
            for pk in item.find_all(exp.PrimaryKey):
                names |= _key_names(pk.expressions)
    return names


def _table_columns(schema: exp.Schema, dialect: str | None) -> list[Column]:
    table_pk = _primary_key_names(schema)
    columns: list[Column] = []
    for item in schema.expressions:
        if not isinstance(item, exp.ColumnDef):
            continue
        kinds = [constraint.args.get("kind") for constraint in item.constraints]
        primary_key = item.name in table_pk or any(isinstance(k, exp.PrimaryKeyColumnConstraint) for k in kinds)
        not_null = any(isinstance(k, exp.NotNullColumnConstraint) and not k.args.get("allow_null") for k in kinds)
        data_type = item.args.get("kind")
        columns.append(
            Column(
                name=item.name,
                type=data_type.sql(dialect=dialect) if isinstance(data_type, exp.Expr) else "",
                nullable=not (not_null or primary_key),
                primary_key=primary_key,
            )
        )
    return columns


def _query_columns(query: exp.Expr) -> list[Column]:
    """Output columns of a query whose names are knowable without a catalog (no `*`, no bare literals)."""
    if not isinstance(query, exp.Query):
        return []
    columns: list[Column] = []
    for projection in query.selects:
        if isinstance(projection, (exp.Star, exp.Literal)) or projection.is_star:
            continue
        name = projection.output_name
        if name:
            columns.append(Column(name=name, type="", nullable=True, primary_key=False))
    return columns


def _sources(query: exp.Expr | None) -> tuple[str, ...]:
    if query is None:
        return ()
    cte_names = {cte.alias_or_name for cte in query.find_all(exp.CTE)}
    names: set[str] = set()
    for table in query.find_all(exp.Table):
        # Table functions (generate_series(...), Snowflake @stage) are not tables.
        if not isinstance(table.this, exp.Identifier):
            continue
        if not table.args.get("db") and not table.args.get("catalog") and table.name in cte_names:
            continue
        names.add(_qualified_name(table))
    return tuple(sorted(names))


def _foreign_keys(schema: exp.Expr) -> tuple[str, ...]:
    names: set[str] = set()
    for reference in schema.find_all(exp.Reference):
        target = reference.this
        table = target.this if isinstance(target, exp.Schema) else target
        if isinstance(table, exp.Table):
            names.add(_qualified_name(table))
    return tuple(sorted(names))


def _asset_kind(create: exp.Create) -> str | None:
    kind = (create.kind or "").upper()
    if kind == "MATERIALIZED VIEW":
        return "materialized_view"
    if kind == "VIEW":
        properties = create.args.get("properties")
        if isinstance(properties, exp.Properties) and properties.find(exp.MaterializedProperty):
            return "materialized_view"
        return "view"
    # TABLE covers TEMPORARY/TRANSIENT/EXTERNAL/DYNAMIC tables too: they are tables the script defines.
    if kind == "TABLE":
        return "table"
    return None


def _asset_from_create(create: exp.Create, dialect: str | None, chunk: Sequence[Token]) -> Asset | None:
    kind = _asset_kind(create)
    if kind is None:
        return None
    create = normalize_identifiers(create, dialect=dialect)
    target = create.this
    schema = target if isinstance(target, exp.Schema) else None
    table = target.this if isinstance(target, exp.Schema) else target
    if not isinstance(table, exp.Table):
        return None
    query = create.expression if isinstance(create.expression, exp.Expr) else None
    if kind != "table" and query is None:
        # sqlglot accepts `CREATE VIEW v AS` with nothing after it.
        line = chunk[-1].line if chunk else 1
        raise SqlParseError(line, f"View {_qualified_name(table)} has no query")

    columns: list[Column] = []
    if schema is not None:
        columns = _table_columns(schema, dialect)
        if not columns and kind != "table":
            # View column list: CREATE VIEW v (a, b) AS ...
            columns = [
                Column(name=item.name, type="", nullable=True, primary_key=False)
                for item in schema.expressions
                if isinstance(item, exp.Identifier)
            ]
    if not columns and query is not None:
        columns = _query_columns(query)

    return Asset(
        name=_qualified_name(table),
        kind=kind,
        columns=tuple(columns),
        sources=_sources(query),
        foreign_keys=_foreign_keys(schema) if schema is not None else (),
        # Comments are dropped so editing one does not count as a change to the asset.
        definition=create.sql(dialect=dialect, comments=False),
    )


@dataclass(frozen=True)
class Script:
    """What a script leaves behind: the tables and views it defines, and those it drops."""

    assets: list[Asset]
    dropped: list[str]  # names of tables and views dropped and not defined again later in the script


def extract_assets(content: str, platform: str | None = None) -> list[Asset]:
    """The tables and views a script defines (see `read_script`)."""
    return read_script(content, platform).assets


def read_script(content: str, platform: str | None = None) -> Script:
    """Parse a script of ;-separated statements: the tables/views it defines, and the ones it drops.

    Order is first appearance; a name defined twice keeps its first position and its last definition; a
    statement order of CREATE then DROP leaves the name dropped, DROP then CREATE leaves it defined.
    Raises SqlParseError (invalid SQL) or UnknownPlatformError.
    """
    dialect = dialect_for(platform)
    assets: dict[str, Asset] = {}
    dropped: dict[str, None] = {}
    with _sqlglot_quiet():
        try:
            for statement, chunk in _parse(content, dialect):
                _check_strictly(chunk)
                if isinstance(statement, exp.Command):
                    if _command_is_harmless([token.text.upper() for token in chunk]):
                        continue
                    raise _command_error(content, chunk)
                if isinstance(statement, exp.Create):
                    asset = _asset_from_create(statement, dialect, chunk)
                    if asset is not None:
                        assets[asset.name] = asset
                        dropped.pop(asset.name, None)
                elif isinstance(statement, exp.Drop) and str(statement.args.get("kind", "")).upper() in _ASSET_WORDS:
                    drop = normalize_identifiers(statement, dialect=dialect)
                    # DROP TABLE a, b names several (sqlglot keeps them in `tables`; a lone one may be `this`)
                    for table in [*(drop.args.get("tables") or []), drop.this]:
                        if isinstance(table, exp.Table):
                            assets.pop(_qualified_name(table), None)
                            dropped[_qualified_name(table)] = None
        except RecursionError:
            # sqlglot recurses once per nesting level; Python's stack runs out near 60 parentheses
            raise SqlParseError(1, "an expression is nested too deeply for the parser") from None
    return Script(list(assets.values()), list(dropped))


# Tokens no statement of any dialect starts with: a name, a literal. sqlglot would read `hello world` as a
# column with an alias, and a placeholder such as YOUR_SCRIPT_HERE as a column; a database says syntax error.
_NOT_A_STATEMENT_START = frozenset({TokenType.VAR, TokenType.IDENTIFIER, TokenType.STRING, TokenType.NUMBER})


def _check_strictly(chunk: Sequence[Token]) -> None:
    """What sqlglot forgives and the databases do not: a statement that starts with a name or a literal, and
    empty list items (`a,, b`, `(a, b,)`)."""
    if not chunk:
        return
    first = chunk[0]
    if first.token_type in _NOT_A_STATEMENT_START and first.text.upper() not in _NON_ASSET_VERBS:
        raise SqlParseError(first.line, f'syntax error at or near "{first.text}"')
    for previous, token in zip(chunk, chunk[1:], strict=False):
        if previous.token_type == TokenType.COMMA and token.token_type in (TokenType.COMMA, TokenType.R_PAREN):
            raise SqlParseError(token.line, f'syntax error at or near "{token.text}"')
