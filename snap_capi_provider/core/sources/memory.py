"""In-memory rows (a DataFrame, a list of dicts, a dict of columns, or an iterable of those) as chunks."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import pandas as pd

DEFAULT_CHUNK_ROWS = 20_000
UNREADABLE = "snap_capi_unreadable"
"""``frame.attrs`` key: ``{position in the chunk: reason}`` of rows the source could not read."""


class InputError(ValueError):
    """The input is not rows: raised before anything is sent, with a clear message."""


def iter_chunks(data: Any, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Yield DataFrames of at most ``chunk_rows`` rows from a DataFrame, a list of dicts, a dict of
    columns, or an iterable of DataFrames / lists of dicts (e.g. a chunked SQL cursor). Columns are
    kept as ``object`` so values reach the normalizers as they were given.

    A list of dicts whose rows omit empty keys gets the union of every row's keys in every chunk, so a
    column seen only in later rows is still mapped.
    """
    if data is None:
        return
    if isinstance(data, pd.DataFrame):
        yield from _slices(data, chunk_rows)
        return
    if isinstance(data, Mapping):
        yield from _slices(frame_from_columns(data), chunk_rows)
        return
    if isinstance(data, str | bytes):
        raise InputError("data must be rows (a DataFrame or a list of dicts), not a string.")
    if not isinstance(data, Iterable):
        raise InputError(f"data must be a DataFrame or a list of dicts, not {type(data).__name__}.")
    columns = _union_of_keys(data) if isinstance(data, Sequence) else None
    batch: list[Mapping[str, Any]] = []
    for position, item in enumerate(data):
        if type(item) is dict:  # the common case, without the slower ABC checks below
            batch.append(item)
            if len(batch) >= chunk_rows:
                yield frame_from_records(batch, columns)
                batch = []
            continue
        if isinstance(item, pd.DataFrame):
            if batch:
                yield frame_from_records(batch, columns)
                batch = []
            yield from _slices(item, chunk_rows)
            continue
        if not isinstance(item, Mapping):
            raise InputError(f"row {position} is a {type(item).__name__}, not a dict of column values.")
        batch.append(item)
        if len(batch) >= chunk_rows:
            yield frame_from_records(batch, columns)
            batch = []
    if batch:
        yield frame_from_records(batch, columns)


def _union_of_keys(rows: Sequence[Any]) -> list[str]:
    mappings = [row for row in rows if type(row) is dict or isinstance(row, Mapping)]
    return list(dict.fromkeys(str(key) for key in dict.fromkeys(itertools.chain.from_iterable(mappings))))


def _slices(frame: pd.DataFrame, chunk_rows: int) -> Iterator[pd.DataFrame]:
    frame = frame.rename(columns=str)
    for start in range(0, len(frame), chunk_rows):
        yield frame.iloc[start:start + chunk_rows]


def frame_from_records(records: Sequence[Mapping[Any, Any]], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """An ``object``-column DataFrame from dict rows; keys are read as text (``{1: "x"}`` is column ``"1"``)."""
    keys = dict.fromkeys(itertools.chain.from_iterable(records))
    if any(type(key) is not str for key in keys):
        records = [{str(key): value for key, value in record.items()} for record in records]
        keys = dict.fromkeys(str(key) for key in keys)
    if columns is None:
        columns = list(keys)
    if all(type(record) is dict for record in records):
        get = dict.get
        series = {column: pd.Series(list(map(get, records, itertools.repeat(column))), dtype=object)
                  for column in columns}
    else:
        series = {column: pd.Series([record.get(column) for record in records], dtype=object) for column in columns}
    return pd.DataFrame(series, index=range(len(records)))


def frame_from_columns(columns: Mapping[Any, Any]) -> pd.DataFrame:
    """An ``object``-column DataFrame from ``{column: values}``."""
    try:
        return pd.DataFrame({str(key): pd.Series(list(values), dtype=object) for key, values in columns.items()})
    except TypeError as exc:
        raise InputError(f"data given as a dict must map column names to lists of values ({exc}).") from None
