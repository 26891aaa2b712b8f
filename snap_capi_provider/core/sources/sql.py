"""Rows of a SQL query, fetched ``chunk_rows`` at a time through any DB-API 2.0 connection.

PostgreSQL drivers (psycopg2, psycopg 3) get a named, server-side cursor and MySQL's (mysqlclient,
PyMySQL, mysql-connector-python) an unbuffered one (``SSCursor``, ``buffered=False``), so the database
holds the result and only one chunk is in memory; their default cursors load the whole result first.
pg8000 and ``redshift_connector`` (Airflow's Redshift hook), which read every row at ``execute()``, run
the query as a SQL cursor (``DECLARE`` ... ``FETCH FORWARD``). Other drivers stream with ``fetchmany``
as far as they can (sqlite3, Snowflake's, BigQuery's and Databricks' connectors do).
"""

from __future__ import annotations

import importlib
import itertools
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import pandas as pd

from snap_capi_provider.core.redact import scrub_pii
from snap_capi_provider.core.sources.memory import (
    DEFAULT_CHUNK_ROWS,
    InputError,
    frame_from_records,
    frame_from_rows,
)

log = logging.getLogger(__name__)
_cursor_names = itertools.count()


def _driver(connection: Any) -> str:
    return type(connection).__module__.split(".")[0]


def _streaming_cursor(connection: Any, chunk_rows: int) -> Any:
    driver = _driver(connection)
    if driver in ("psycopg2", "psycopg"):
        cursor = connection.cursor(name=f"snap_capi_stream_{next(_cursor_names)}")
        cursor.itersize = chunk_rows
        return cursor
    if driver in ("MySQLdb", "pymysql"):  # rows come off the socket as they are fetched
        _allow_slow_reading(connection)
        cursors = importlib.import_module(f"{driver}.cursors")
        cursor = connection.cursor(cursors.SSCursor)
    elif driver == "mysql":  # mysql-connector-python: unbuffered, whatever the connection's default
        _allow_slow_reading(connection)
        cursor = connection.cursor(buffered=False)
    else:
        cursor = connection.cursor()
    cursor.arraysize = chunk_rows
    return cursor


MYSQL_WRITE_TIMEOUT_S = 3600


def _allow_slow_reading(connection: Any) -> None:
    """A MySQL server streaming a result gives up on a reader that takes no rows for ``net_write_timeout``
    (60 s by default): longer than Snap may ask the task to wait (429, Retry-After). This session waits
    an hour; where the server or a proxy refuses the setting, the default stays."""
    cursor = connection.cursor()
    try:
        cursor.execute(f"SET SESSION net_write_timeout = {MYSQL_WRITE_TIMEOUT_S}")
    except Exception:  # noqa: BLE001 - a proxy without session variables: stream with the server's default
        pass
    finally:
        cursor.close()


class SqlQueryError(InputError):
    """The database failed the query: its error's type, SQLSTATE and message, with the values it quotes
    masked (a data error quotes the row's value: ``invalid input syntax for type integer: "***"``)."""


def iter_sql_chunks(connection: Any, sql: str, parameters: Sequence[Any] | Mapping[str, Any] | None = None,
                    chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Yield the result of ``sql`` as ``object``-column DataFrames of at most ``chunk_rows`` rows.

    An error of the database (a DB-API ``Error``) is a :class:`SqlQueryError`, not the driver's own:
    the driver's message can quote a row's value, and the task log and exception must not."""
    with _database_errors_named():
        yield from _sql_chunks(connection, sql, parameters, chunk_rows)


def _sql_chunks(connection: Any, sql: str, parameters: Sequence[Any] | Mapping[str, Any] | None,
                chunk_rows: int) -> Iterator[pd.DataFrame]:
    if _driver(connection) in _DECLARING_DRIVERS:
        declared = _declare(connection, sql, parameters)
        if declared is not None:
            yield from _declared_chunks(*declared, chunk_rows)
            return
    cursor = _streaming_cursor(connection, chunk_rows)
    try:
        _execute(cursor, sql, parameters)
        if cursor.description is None and not _named(cursor):  # a named cursor describes at its first fetch
            raise _no_result_set()
        yield from _chunks(cursor, lambda: cursor.fetchmany(chunk_rows))
    finally:
        if _driver(connection) == "mysql":  # mysql-connector refuses to close a cursor with rows unread
            connection.consume_results()
        cursor.close()


def _execute(cursor: Any, sql: str, parameters: Sequence[Any] | Mapping[str, Any] | None) -> None:
    if parameters is None:
        cursor.execute(sql)
    else:
        cursor.execute(sql, parameters)


def _no_result_set() -> InputError:
    return InputError("The SQL statement returned no result set: sql must be a query (SELECT ...) that returns "
                      "the rows to send.")


def _named(cursor: Any) -> bool:
    return bool(getattr(cursor, "name", None)) and _driver(cursor) in ("psycopg2", "psycopg")


def _statement(sql: str) -> str:
    """The query without its closing semicolon, to wrap in another statement."""
    return sql.strip().rstrip(";")


def _chunks(cursor: Any, fetch: Callable[[], Sequence[Any]]) -> Iterator[pd.DataFrame]:
    columns: list[str] | None = None
    while True:
        rows = fetch()
        if columns is None:
            if cursor.description is None:  # an UPDATE, a DDL statement, an empty string
                raise _no_result_set()
            columns = [str(description[0]) for description in cursor.description]
        if not rows:
            return
        if isinstance(rows[0], Mapping):  # a dict-row cursor (RealDictCursor, psycopg's dict_row)
            yield frame_from_records(rows, columns)
        else:
            yield frame_from_rows(rows, columns)


_DECLARING_DRIVERS = ("pg8000", "redshift_connector")
"""Drivers that read a whole result into memory at ``execute()``, with no cursor that streams: the query
runs as a SQL cursor (``DECLARE`` ... ``FETCH FORWARD``) on the server instead."""


def _declare(connection: Any, sql: str,
             parameters: Sequence[Any] | Mapping[str, Any] | None) -> tuple[Any, str, bool] | None:
    """(cursor, name, whether this opened the transaction) of a SQL cursor over ``sql``; None where the
    server refuses one (the query then runs as it is: a statement that is no query fails there clearly)."""
    name = f"snap_capi_stream_{next(_cursor_names)}"
    began = bool(getattr(connection, "autocommit", False))  # DECLARE needs a transaction block
    cursor = connection.cursor()
    try:
        if began:
            cursor.execute("BEGIN")
        _execute(cursor, f"DECLARE {name} CURSOR FOR {_statement(sql)}", parameters)
    except Exception as exc:  # noqa: BLE001 - any refusal: read the result the driver's way
        log.warning("The database refused a server-side cursor over the query (%s): its whole result is read "
                    "into memory at once, as the %s driver does.", type(exc).__name__, _driver(connection))
        with suppress(Exception):
            if began:
                cursor.execute("ROLLBACK")
            else:
                connection.rollback()
        cursor.close()
        return None
    return cursor, name, began


def _declared_chunks(cursor: Any, name: str, began: bool, chunk_rows: int) -> Iterator[pd.DataFrame]:
    def fetch() -> Sequence[Any]:
        cursor.execute(f"FETCH FORWARD {int(chunk_rows)} FROM {name}")
        return cursor.fetchall()

    try:
        yield from _chunks(cursor, fetch)
    finally:
        with suppress(Exception):
            cursor.execute(f"CLOSE {name}")
            if began:
                cursor.execute("COMMIT")
        cursor.close()


def count_sql_rows(connection: Any, sql: str,
                   parameters: Sequence[Any] | Mapping[str, Any] | None = None) -> int:
    """``SELECT COUNT(*)`` over the query, for progress and an ETA (one extra query: opt in)."""
    cursor = connection.cursor()
    try:
        with _database_errors_named():
            _execute(cursor, f"SELECT COUNT(*) FROM ({_statement(sql)}) AS snap_capi_count", parameters)
            return int(cursor.fetchone()[0])
    finally:
        cursor.close()


@contextmanager
def _database_errors_named() -> Iterator[None]:
    """A DB-API error raised inside as a :class:`SqlQueryError`; any other error as it is."""
    try:
        yield
    except Exception as exc:
        if not _is_database_error(exc):
            raise
        raise _query_failed(exc) from None


_DB_API_ERRORS = frozenset({"Error", "DatabaseError", "InterfaceError"})
_QUOTED = re.compile(r"""(["'`])(?:(?!\1).)*\1""")
_SQL_ONLY_STATES = ("42", "3D", "3F", "08", "28")
"""SQLSTATE classes whose messages quote the statement's words, not values: syntax or access rule,
unknown database or schema, connection, authorization."""
_SQL_ONLY_MYSQL = frozenset({1044, 1045, 1046, 1049, 1054, 1064, 1142, 1143, 1146, 1149})
"""MySQL's error numbers of the same kinds (access denied, unknown database, column or table, syntax)."""


def _is_database_error(exc: Exception) -> bool:
    """A DB-API 2.0 error (every driver derives its errors from a class named ``Error``)."""
    return any(cls.__name__ in _DB_API_ERRORS and cls.__module__ != "builtins" for cls in type(exc).__mro__)


def _query_failed(exc: Exception) -> SqlQueryError:
    message, state, sql_only = _described(exc)
    if not sql_only:
        message = _QUOTED.sub(lambda m: f"{m[1]}***{m[1]}", message)
    where = f" (SQLSTATE {state})" if state else ""
    return SqlQueryError(f"The SQL query failed: {type(exc).__name__}{where}: {scrub_pii(message[:500])}")


def _described(exc: Exception) -> tuple[str, str | None, bool]:
    """(message, SQLSTATE, whether what the message quotes is only the statement's words)."""
    args = exc.args
    if args and isinstance(args[0], Mapping):  # pg8000: the server's fields
        fields = args[0]
        state = fields.get("C")
        message = " ".join(str(fields[key]) for key in ("M", "D", "H") if fields.get(key))
    elif len(args) >= 2 and type(args[0]) is int and isinstance(args[1], str):  # MySQL: (errno, message)
        return args[1], None, args[0] in _SQL_ONLY_MYSQL
    else:
        state = getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None)  # psycopg2, psycopg 3
        lines = [line.strip() for line in str(exc).strip().splitlines()]
        # The first line and the server's details and hints; not PostgreSQL's echo of the statement
        # (LINE 1: ... ^), which cuts a quoted value off where it likes.
        message = " ".join(line for i, line in enumerate(lines)
                           if line and (i == 0 or line.startswith(("DETAIL:", "HINT:"))))
    if not (isinstance(state, str) and len(state) == 5):
        return message, None, type(exc).__module__ == "sqlite3"  # SQLite's messages quote the statement
    return message, state, state.startswith(_SQL_ONLY_STATES)
