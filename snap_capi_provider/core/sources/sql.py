"""Rows of a SQL query, fetched ``chunk_rows`` at a time through any DB-API 2.0 connection.

PostgreSQL drivers (psycopg2, psycopg 3) get a named, server-side cursor, so the database holds the
result and only one chunk is in memory; other drivers stream with ``fetchmany`` as far as they can
(sqlite3 does natively).
"""

from __future__ import annotations

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


def uses_server_side_cursor(connection: Any) -> bool:
    """Whether ``connection`` is a PostgreSQL driver's, whose named cursors stay on the server."""
    return type(connection).__module__.split(".")[0] in ("psycopg2", "psycopg")


def iter_sql_chunks(connection: Any, sql: str, parameters: Sequence[Any] | Mapping[str, Any] | None = None,
                    chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Yield the result of ``sql`` as ``object``-column DataFrames of at most ``chunk_rows`` rows."""
    if uses_server_side_cursor(connection):
        cursor = connection.cursor(name=f"snap_capi_stream_{next(_cursor_names)}")
        cursor.itersize = chunk_rows
    else:
        cursor = connection.cursor()
        cursor.arraysize = chunk_rows
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
