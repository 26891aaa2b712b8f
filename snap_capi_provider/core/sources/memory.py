"""In-memory rows (a DataFrame, a list of dicts, a dict of columns, or an iterable of those) as chunks."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_CHUNK_ROWS = 20_000
UNREADABLE = "snap_capi_unreadable"
"""``frame.attrs`` key: ``{position in the chunk: reason}`` of rows the source could not read."""
SPARSE_COLUMNS = "snap_capi_sparse_columns"
"""``frame.attrs`` key, set when a chunk's columns are the keys its own rows have (JSON lines, a stream of
dicts): a column it lacks may be in other chunks, its rows' values absent."""


class InputError(ValueError):
    """The input is not rows, or a file of them cannot be read: a clear message, never a library's error."""


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
    if type(data) is list:  # the common case: slices of dict rows, without a step per row
        for start in range(0, len(data), chunk_rows):
            part = data[start:start + chunk_rows]
            if all(type(item) is dict for item in part):
                yield frame_from_records(part, columns)
            else:
                yield from _frames_of_items(part, start, columns, chunk_rows)
        return
    yield from _frames_of_items(data, 0, columns, chunk_rows)


def _frames_of_items(items: Iterable[Any], first_position: int, columns: list[str] | None,
                     chunk_rows: int) -> Iterator[pd.DataFrame]:
    batch: list[Mapping[str, Any]] = []
    for position, item in enumerate(items, first_position):
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
    """The columns of dict rows given as one list; an item that is no row (nor a DataFrame of rows) is an
    InputError here, before any chunk is sent, not when its chunk is reached."""
    mappings = [row for row in rows if type(row) is dict or isinstance(row, Mapping)]
    if len(mappings) != len(rows):
        for position, row in enumerate(rows):
            if not isinstance(row, Mapping | pd.DataFrame):
                raise InputError(f"row {position} is a {type(row).__name__}, not a dict of column values.")
    return list(dict.fromkeys(str(key) for key in dict.fromkeys(itertools.chain.from_iterable(mappings))))


def _slices(frame: pd.DataFrame, chunk_rows: int) -> Iterator[pd.DataFrame]:
    if isinstance(frame.columns, pd.MultiIndex):
        raise InputError("The DataFrame's columns have several levels (a MultiIndex): flatten them to one name "
                         "each, e.g. frame.columns = ['_'.join(map(str, c)) for c in frame.columns].")
    frame = _with_index_columns(frame).rename(columns=str)
    for start in range(0, len(frame), chunk_rows):
        yield frame.iloc[start:start + chunk_rows]


def _with_index_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """A named index (``frame.set_index("email")``, a ``groupby``'s keys) holds the rows' values: its levels
    become columns, as ``reset_index`` makes them; unnamed levels (row labels) are no data, and a level
    named like a column is left to that column."""
    columns = {str(column) for column in frame.columns}
    levels = [name for name in frame.index.names if name is not None and str(name) not in columns]
    return frame.reset_index(level=levels) if levels else frame


def frame_from_records(records: Sequence[Mapping[Any, Any]], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """An ``object``-column DataFrame from dict rows; keys are read as text (``{1: "x"}`` is column ``"1"``)."""
    frame = _frame_of_uniform_records(records, columns) if columns is not None else None
    if frame is not None:
        return frame
    keys = dict.fromkeys(itertools.chain.from_iterable(records))
    if any(type(key) is not str for key in keys):
        records = [{str(key): value for key, value in record.items()} for record in records]
        keys = dict.fromkeys(str(key) for key in keys)
    if columns is None:
        columns = list(keys)
        frame = _frame_of_uniform_records(records, columns)  # e.g. JSON lines that all have every key
        if frame is not None:
            frame.attrs[SPARSE_COLUMNS] = True
            return frame
        sparse = True
    else:
        sparse = False
    if all(type(record) is dict for record in records):
        get = dict.get
        series = {column: pd.Series(list(map(get, records, itertools.repeat(column))), dtype=object)
                  for column in columns}
    else:
        series = {column: pd.Series([record.get(column) for record in records], dtype=object) for column in columns}
    frame = pd.DataFrame(series, index=range(len(records)))
    if sparse:
        frame.attrs[SPARSE_COLUMNS] = True
    return frame


def _frame_of_uniform_records(records: Sequence[Mapping[Any, Any]], columns: Sequence[str]) -> pd.DataFrame | None:
    """The frame when every row is a dict with exactly ``columns`` as keys (else None): one C-level pass
    per row, then a transpose. Column by column, each pass over the rows would reach every dict again
    (~3x slower on 20,000 rows, which do not fit in the CPU's caches)."""
    if len(columns) <= 1 or not all(type(record) is dict and len(record) == len(columns) for record in records):
        return None
    try:
        return frame_from_rows(list(map(itemgetter(*columns), records)), columns)
    except KeyError:  # some row lacks a column, or names one with a key that is not text
        return None


def frame_from_rows(rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> pd.DataFrame:
    """An ``object``-column DataFrame from row tuples (a cursor's), one value per column each; columns
    may repeat (two tables' ``id``), so a mapping can name the ambiguity instead of one being lost."""
    return frame_from_column_values(zip(*rows, strict=True), columns, len(rows))


def frame_from_column_values(values: Iterable[Iterable[Any]], columns: Sequence[str], length: int) -> pd.DataFrame:
    """:func:`frame_from_rows` from each column's ``length`` values (a Parquet batch's), in one block."""
    block = np.empty((len(columns), length), dtype=object)
    for i, column_values in enumerate(values):
        block[i] = np.fromiter(column_values, dtype=object, count=length)  # lists stay one value each
    return pd.DataFrame(block.T, columns=list(columns), index=range(length), dtype=object, copy=False)


def frame_from_columns(columns: Mapping[Any, Any]) -> pd.DataFrame:
    """An ``object``-column DataFrame from ``{column: values}``; every value a list (or array, Series) of
    one length: text or a number there would be one row's value, never split into characters."""
    lengths = set()
    for key, values in columns.items():
        if isinstance(values, str | bytes | Mapping) or not hasattr(values, "__len__"):
            raise InputError(f"data given as a dict must map column names to lists of values; {key!r} holds "
                             f"a {type(values).__name__}. Pass one row as a list of one dict.")
        lengths.add(len(values))
    if len(lengths) > 1:
        raise InputError(f"data given as a dict of columns has columns of different lengths ({sorted(lengths)}).")
    try:
        return pd.DataFrame({str(key): pd.Series(list(values), dtype=object) for key, values in columns.items()})
    except TypeError as exc:
        raise InputError(f"data given as a dict must map column names to lists of values ({exc}).") from None
