"""The operators' three sources, opened in the Airflow layer: rows from XCom or a value (``data``), a SQL
query on any Airflow database connection (``sql``), or files on any ``ObjectStoragePath`` (``path``).

Each opens to a stream of DataFrame chunks for the core's send path, plus the total row count when it
is known without reading the rows (Parquet metadata, or a ``COUNT(*)`` when asked for).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pandas as pd
from airflow.providers.common.compat.sdk import BaseHook, ObjectStoragePath, XComArg

from snap_capi_provider.core.sources import (
    FileSource,
    InputError,
    count_sql_rows,
    file_format_for,
    iter_chunks,
    iter_file_chunks,
    iter_sql_chunks,
)

log = logging.getLogger(__name__)
_GLOB_CHARS = frozenset("*?[")


@dataclass
class OpenedRows:
    chunks: Iterator[pd.DataFrame]
    total_rows: int | None
    description: str
    """What was read, for the task log (never a value, never a password)."""


def source_names(data: Any, sql: str | None, path: Any) -> list[str]:
    """The sources an operator was given (exactly one is allowed)."""
    given = []
    if data is not None:
        given.append("data")
    if sql is not None and str(sql).strip():
        given.append("sql")
    if path is not None and path != [] and path != "":
        given.append("path")
    return given


def check_one_source(data: Any, sql: str | None, path: Any) -> None:
    given = source_names(data, sql, path)
    if len(given) > 1:
        raise ValueError(f"Give exactly one source of rows, not {' and '.join(given)}: data (rows from an "
                         "upstream task), sql (with sql_conn_id) or path (files).")


def open_rows(*, data: Any, sql: str | None, sql_conn_id: str | None, sql_parameters: Any, path: Any,
              file_format: str | None, chunk_rows: int, count_rows: bool, context: Any,
              stack: ExitStack, file_encoding: str | None = None) -> OpenedRows:
    """Open the one source given; raises ``ValueError`` naming what is wrong."""
    given = source_names(data, sql, path)
    if len(given) != 1:
        raise ValueError("Give exactly one source of rows: data (rows from an upstream task), sql (with "
                         f"sql_conn_id) or path (files); got {given or 'none'}.")
    for name, value, reads_it in (("sql_parameters", sql_parameters, "sql"), ("file_format", file_format, "path"),
                                  ("file_encoding", file_encoding, "path")):
        if value is not None and given != [reads_it]:
            log.warning("%s is ignored: only %s reads it, and the rows come from %s.", name, reads_it, given[0])
    if given == ["sql"]:
        return _open_sql(str(sql), sql_conn_id, sql_parameters, chunk_rows, count_rows, stack)
    if given == ["path"]:
        return _open_files(path, file_format, chunk_rows, file_encoding)
    if isinstance(data, XComArg):
        data = data.resolve(context)
        how = "Rows arrived through XCom: they are"
    elif getattr(context.get("ti") if context else None, "map_index", -1) >= 0:  # resolved before execute
        how = "Rows arrived as a mapped data= argument (through XCom, or from the serialized DAG): they are"
    else:
        how = "Rows came in data=: rows written in a DAG file or returned by an upstream task are"
    log.warning("%s stored in Airflow's metadata database, raw PII included. For personal data prefer sql= or "
                "path=, which stream rows without storing them.", how)
    total = len(data) if isinstance(data, Sequence | pd.DataFrame) and not isinstance(data, str) else None
    return OpenedRows(iter_chunks(data, chunk_rows), total, "rows from data")


def _open_sql(sql: str, conn_id: str | None, parameters: Any, chunk_rows: int, count_rows: bool,
              stack: ExitStack) -> OpenedRows:
    if not conn_id:
        raise ValueError("sql needs sql_conn_id: the Airflow connection of the database to query.")
    try:
        from airflow.providers.common.sql.hooks.sql import DbApiHook
    except ImportError:  # pragma: no cover - common-sql is installed with every SQL provider
        raise ValueError("sql needs apache-airflow-providers-common-sql (pip install "
                         "'snap-capi-provider[sql]').") from None
    hook = BaseHook.get_connection(conn_id).get_hook()
    if not isinstance(hook, DbApiHook):
        raise ValueError(f"Connection {conn_id!r} has a {type(hook).__name__}, not a SQL hook (a common-sql "
                         "DbApiHook such as Postgres, Snowflake, BigQuery, MySQL or SQLite).")
    connection = hook.get_conn()
    stack.callback(connection.close)
    if parameters is not None and not isinstance(parameters, Mapping | Sequence) or isinstance(parameters, str):
        raise ValueError("sql_parameters must be a dict (named parameters) or a list (positional ones).")
    total = count_sql_rows(connection, sql, parameters) if count_rows else None
    chunks = iter_sql_chunks(connection, sql, parameters, chunk_rows)
    stack.callback(chunks.close)  # the cursor closes before the connection does
    return OpenedRows(chunks, total, f"rows of a SQL query on connection {conn_id!r}")


def expand_paths(path: Any) -> list[ObjectStoragePath]:
    """The files a ``path`` argument names: a path or URL, a glob, or a list of them, in a stable order."""
    items = list(path) if isinstance(path, list | tuple) else [path]
    files: list[ObjectStoragePath] = []
    for item in items:
        text = str(item)
        if any(ch in _GLOB_CHARS for ch in text):
            first_glob = min(text.index(ch) for ch in _GLOB_CHARS if ch in text)
            split = text.rfind("/", 0, first_glob)
            base, pattern = (text[:split] or "/", text[split + 1:]) if split >= 0 else (".", text)
            matches = sorted(ObjectStoragePath(base).glob(pattern), key=str)
            files.extend(match for match in matches if match.is_file())
        else:
            files.append(item if isinstance(item, ObjectStoragePath) else ObjectStoragePath(text))
    return files


def _open_files(path: Any, file_format: str | None, chunk_rows: int, encoding: str | None) -> OpenedRows:
    files = expand_paths(path)
    if not files:
        raise InputError(f"No file matches path {path!r}.")
    sources = [FileSource(str(file), (lambda file=file: file.open("rb")), file_format_for(str(file), file_format),
                          encoding or "utf-8") for file in files]
    counts = [source.row_count() for source in sources]
    total = sum(counts) if all(count is not None for count in counts) else None  # type: ignore[misc]
    chunks = itertools.chain.from_iterable(iter_file_chunks(source, chunk_rows) for source in sources)
    return OpenedRows(chunks, total, f"{len(files)} file(s)")
