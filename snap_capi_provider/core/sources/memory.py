"""Input rows as a stream of DataFrame chunks, whatever they came as."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pandas as pd

DEFAULT_CHUNK_ROWS = 20_000


class InputError(ValueError):
    """The input is not rows: raised before anything is sent, with a clear message."""


def iter_chunks(data: Any, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Yield DataFrames of at most ``chunk_rows`` rows from a DataFrame, a list of dicts, a dict of
    columns, or an iterable of DataFrames / lists of dicts (e.g. a chunked SQL cursor). Columns are
    kept as ``object`` so values reach the normalizers as they were given."""
    if data is None:
        return
    if isinstance(data, pd.DataFrame):
        yield from _slices(data, chunk_rows)
        return
    if isinstance(data, Mapping):
        yield from _slices(_frame_from_columns(data), chunk_rows)
        return
    if isinstance(data, str | bytes):
        raise InputError("data must be rows (a DataFrame or a list of dicts), not a string.")
    if not isinstance(data, Iterable):
        raise InputError(f"data must be a DataFrame or a list of dicts, not {type(data).__name__}.")
    batch: list[Mapping[str, Any]] = []
    for position, item in enumerate(data):
        if isinstance(item, pd.DataFrame):
            if batch:
                yield _frame_from_records(batch)
                batch = []
            yield from _slices(item, chunk_rows)
            continue
        if not isinstance(item, Mapping):
            raise InputError(f"row {position} is a {type(item).__name__}, not a dict of column values.")
        batch.append(item)
        if len(batch) >= chunk_rows:
            yield _frame_from_records(batch)
            batch = []
    if batch:
        yield _frame_from_records(batch)


def _slices(frame: pd.DataFrame, chunk_rows: int) -> Iterator[pd.DataFrame]:
    frame = frame.rename(columns=str)
    for start in range(0, len(frame), chunk_rows):
        yield frame.iloc[start:start + chunk_rows]


def _frame_from_records(records: list[Mapping[str, Any]]) -> pd.DataFrame:
    columns: dict[str, None] = {}
    for record in records:
        columns.update(dict.fromkeys(str(key) for key in record))
    return pd.DataFrame({column: pd.Series([record.get(column) for record in records], dtype=object)
                         for column in columns}, index=range(len(records)))


def _frame_from_columns(columns: Mapping[str, Any]) -> pd.DataFrame:
    try:
        return pd.DataFrame({str(key): pd.Series(list(values), dtype=object) for key, values in columns.items()})
    except TypeError as exc:
        raise InputError(f"data given as a dict must map column names to lists of values ({exc}).") from None
