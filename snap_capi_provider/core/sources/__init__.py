"""Where rows come from: in-memory rows, a SQL cursor, or files, always as a stream of DataFrame chunks.

Every source yields DataFrames of at most ``chunk_rows`` rows whose columns are ``object`` dtype, so the
normalizers see the values as the source gave them and the events are the same whichever way the rows
arrived. A chunk may carry rows the source could not read (a broken JSON line): their positions and
reasons are in ``frame.attrs[UNREADABLE]``, and the send path rejects them with that reason.
"""

from snap_capi_provider.core.sources.files import FILE_FORMATS, FileSource, file_format_for, iter_file_chunks
from snap_capi_provider.core.sources.memory import (
    DEFAULT_CHUNK_ROWS,
    SPARSE_COLUMNS,
    UNREADABLE,
    InputError,
    frame_from_columns,
    frame_from_records,
    iter_chunks,
)
from snap_capi_provider.core.sources.sql import count_sql_rows, iter_sql_chunks

__all__ = [
    "DEFAULT_CHUNK_ROWS", "FILE_FORMATS", "SPARSE_COLUMNS", "UNREADABLE", "FileSource", "InputError", "count_sql_rows",
    "file_format_for", "frame_from_columns", "frame_from_records", "iter_chunks", "iter_file_chunks",
    "iter_sql_chunks",
]
