"""Rows of a SQL query, fetched ``chunk_rows`` at a time through any DB-API 2.0 connection.

PostgreSQL drivers (psycopg2, psycopg 3) get a named, server-side cursor and MySQL's (mysqlclient,
PyMySQL) an unbuffered one (``SSCursor``), so the database holds the result and only one chunk is in
memory; their default cursors load the whole result first. Other drivers stream with ``fetchmany`` as far
as they can (sqlite3, mysql-connector, Snowflake's, BigQuery's and Databricks' connectors do).
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pandas as pd

from snap_capi_provider.core.sources.memory import (
    DEFAULT_CHUNK_ROWS,
    InputError,
    frame_from_records,
    frame_from_rows,
)

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
    cursor = _streaming_cursor(connection, chunk_rows)
    try:
        if parameters is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, parameters)
        columns: list[str] | None = None
        while True:
            rows = cursor.fetchmany(chunk_rows)
            if columns is None:
                if cursor.description is None:  # an UPDATE, a DDL statement, an empty string
                    raise InputError("The SQL statement returned no result set: sql must be a query "
                                     "(SELECT ...) that returns the rows to send.")
                columns = [str(description[0]) for description in cursor.description]
            if not rows:
                break
            if isinstance(rows[0], Mapping):  # a dict-row cursor (RealDictCursor, psycopg's dict_row)
                yield frame_from_records(rows, columns)
            else:
                yield frame_from_rows(rows, columns)
    finally:
        cursor.close()


def count_sql_rows(connection: Any, sql: str,
                   parameters: Sequence[Any] | Mapping[str, Any] | None = None) -> int:
    """``SELECT COUNT(*)`` over the query, for progress and an ETA (one extra query: opt in)."""
    cursor = connection.cursor()
    try:
        wrapped = f"SELECT COUNT(*) FROM ({sql.strip().rstrip(';')}) AS snap_capi_count"
        if parameters is None:
            cursor.execute(wrapped)
        else:
            cursor.execute(wrapped, parameters)
        return int(cursor.fetchone()[0])
    finally:
        cursor.close()
