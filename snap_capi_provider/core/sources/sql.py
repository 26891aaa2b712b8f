"""Rows of a SQL query, fetched ``chunk_rows`` at a time through any DB-API 2.0 connection.

PostgreSQL drivers (psycopg2, psycopg 3) get a named, server-side cursor and MySQL's (mysqlclient,
PyMySQL) an unbuffered one (``SSCursor``), so the database holds the result and only one chunk is in
memory; their default cursors load the whole result first. pg8000 and ``redshift_connector`` (Airflow's
Redshift hook), which read every row at ``execute()``, run the query as a SQL cursor (``DECLARE`` ...
``FETCH FORWARD``). Other drivers stream with ``fetchmany`` as far as they can (sqlite3, mysql-connector,
Snowflake's, BigQuery's and Databricks' connectors do).
"""

from __future__ import annotations

import importlib
import itertools
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import suppress
from typing import Any

import pandas as pd

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


def iter_sql_chunks(connection: Any, sql: str, parameters: Sequence[Any] | Mapping[str, Any] | None = None,
                    chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Yield the result of ``sql`` as ``object``-column DataFrames of at most ``chunk_rows`` rows."""
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
        _execute(cursor, f"SELECT COUNT(*) FROM ({_statement(sql)}) AS snap_capi_count", parameters)
        return int(cursor.fetchone()[0])
    finally:
        cursor.close()
