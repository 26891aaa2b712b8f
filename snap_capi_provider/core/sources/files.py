"""Rows of CSV, JSON-lines and Parquet files, read chunk by chunk from any file-like storage.

- CSV: comma-separated, or as the header line shows (``;``, tab, ``|`` where it has no comma) or an Excel
  ``sep=;`` line before it names; UTF-16 when it starts with that byte order mark; every cell as
  text (a zip's or phone's leading zero survives), an empty cell is absent; bytes
  that are not UTF-8 become a row-level rejection, never a crash, and so does a line with more fields
  than the header (``malformed_csv_line``).
- JSON lines: one object per line, values keep their JSON types (the same rows as a list of dicts; integers
  exact at any size);
  a line that is not a JSON object is rejected with ``unreadable_json_line``.
- Parquet: one record batch at a time through ``pyarrow``, values as Python objects.

``.gz`` files are decompressed on the fly.
"""

from __future__ import annotations

import codecs
import functools
import gzip
import io
import itertools
import json
import re
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson
import pandas as pd

from snap_capi_provider.core.sources.memory import (
    DEFAULT_CHUNK_ROWS,
    UNREADABLE,
    InputError,
    frame_from_column_values,
    frame_from_records,
)
from snap_capi_provider.core.text import looks_like_a_value

FILE_FORMATS = ("csv", "jsonl", "parquet")
_READ_ERRORS = (OSError, EOFError, ValueError, zlib.error)  # pyarrow's and pandas' errors are ValueErrors
_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
             ".parquet": "parquet", ".pq": "parquet"}


def file_format_for(name: str, file_format: str | None = None) -> str:
    """``csv``, ``jsonl`` or ``parquet``: ``file_format`` when given, else told by the file's extension."""
    if file_format:
        chosen = str(file_format).lower().lstrip(".")
        chosen = {"json": "jsonl", "ndjson": "jsonl", "pq": "parquet"}.get(chosen, chosen)
        if chosen not in FILE_FORMATS:
            raise InputError(f"file_format must be one of {list(FILE_FORMATS)}, not {file_format!r}.")
        return chosen
    lowered = str(name).lower().removesuffix(".gz")
    for suffix, fmt in _SUFFIXES.items():
        if lowered.endswith(suffix):
            return fmt
    raise InputError(f"Cannot tell the format of {name!r} from its extension; pass file_format "
                     f"({', '.join(FILE_FORMATS)}).")


@dataclass(frozen=True)
class FileSource:
    """One file: a display name and how to open it for reading bytes."""

    name: str
    open: Callable[[], IO[bytes]]
    file_format: str
    encoding: str = "utf-8"
    """The text encoding of a CSV file (``cp1252`` for Excel's on Windows); JSON lines are UTF-8."""

    def __post_init__(self) -> None:
        try:
            codecs.lookup(self.encoding)
        except (LookupError, TypeError):
            raise InputError(f"file_encoding {self.encoding!r} is no text encoding Python knows (e.g. 'utf-8', "
                             "'cp1252', 'latin-1').") from None

    @classmethod
    def local(cls, path: str, file_format: str | None = None, encoding: str | None = None) -> FileSource:
        return cls(str(path), lambda: open(path, "rb"), file_format_for(str(path), file_format),
                   encoding or "utf-8")

    def row_count(self) -> int | None:
        """Rows in the file when its metadata says so without reading it (Parquet), else None."""
        if self.file_format != "parquet" or self.name.lower().endswith(".gz"):
            return None  # a gzipped Parquet file is read whole through gzip: no metadata to peek at
        import pyarrow.parquet as pq

        try:
            with self.open() as stream:
                return pq.ParquetFile(stream).metadata.num_rows
        except _READ_ERRORS as exc:
            raise _unreadable(self, exc, 0) from exc


def iter_file_chunks(source: FileSource, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Yield the file's rows as ``object``-column DataFrames of at most ``chunk_rows`` rows.

    A file that cannot be read (not Parquet, a truncated ``.gz``, a CSV quote never closed) raises
    InputError naming the file and how many of its rows were read, the reader's error as its cause.
    """
    rows_read = 0
    try:
        for frame in _file_chunks(source, chunk_rows):
            rows_read += len(frame)
            yield frame
    except _READ_ERRORS as exc:
        if isinstance(exc, InputError):  # the readers' own clear errors, with the file named
            raise InputError(f"{source.name}: {exc}") from None
        raise _unreadable(source, exc, rows_read) from exc


def _unreadable(source: FileSource, exc: BaseException, rows_read: int) -> InputError:
    reason = (str(exc).strip().splitlines() or [""])[0][:200]
    return InputError(f"Cannot read {source.name} as {source.file_format} after {rows_read} rows: "
                      f"{type(exc).__name__}: {reason}")


def _file_chunks(source: FileSource, chunk_rows: int) -> Iterator[pd.DataFrame]:
    with source.open() as raw:
        stream: IO[bytes] = gzip.GzipFile(fileobj=raw) if source.name.lower().endswith(".gz") else raw
        if source.file_format == "parquet":
            yield from _parquet_chunks(stream, chunk_rows)
        elif source.file_format == "csv":
            stream, encoding = _utf16_as_utf8(stream, source.encoding)
            header = stream.readline(_MAX_HEADER_BYTES)
            separator = _separator_line(header, encoding)
            if separator is not None:  # Excel's "sep=;" line, before the header
                header = stream.readline(_MAX_HEADER_BYTES)
            elif source.name.lower().removesuffix(".gz").endswith(".tsv"):
                separator = "\t"
            else:
                separator = _separator_of(header.decode(encoding, "replace"))
            yield from _csv_chunks(io.BufferedReader(_Replayed(header, stream)), chunk_rows, separator, encoding)
        else:
            yield from _jsonl_chunks(_utf16_as_utf8(stream, "utf-8")[0], chunk_rows)  # PowerShell's > writes UTF-16


_MAX_HEADER_BYTES = 1 << 20
_OTHER_SEPARATORS = (";", "\t", "|")
_SEPARATOR_LINE = re.compile(r'\ufeff?"?sep=(.)"?\s*', re.IGNORECASE)


def _utf16_as_utf8(stream: IO[bytes], encoding: str) -> tuple[IO[bytes], str]:
    """A file that starts with a UTF-16 byte order mark (Excel's "Unicode text" export) is read as UTF-16,
    re-encoded as UTF-8 on the way, when ``file_encoding`` was left at UTF-8: the mark is unambiguous."""
    start = stream.read(2)
    replayed = io.BufferedReader(_Replayed(start, stream))
    utf8 = codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")
    if utf8 and start in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return codecs.EncodedFile(replayed, "utf-8", "utf-16"), "utf-8"  # type: ignore[return-value]
    return replayed, encoding


def _separator_line(line: bytes, encoding: str) -> str | None:
    """The separator an Excel ``sep=;`` first line names, else None."""
    if b"sep=" not in line[:12].lower():
        return None
    match = _SEPARATOR_LINE.fullmatch(line.decode(encoding, "replace"))
    return match[1] if match else None


def _separator_of(header: str) -> str:
    """``,`` unless the header line has no comma but another separator: ``;`` (Excel's CSV where the
    comma is the decimal mark), a tab or ``|``. Only the header decides, never a value."""
    if "," in header:
        return ","
    counts = {separator: header.count(separator) for separator in _OTHER_SEPARATORS}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] and list(counts.values()).count(counts[best]) == 1 else ","


class _Replayed(io.RawIOBase):
    """A stream whose first bytes (the header line, already read to choose the separator) come again."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head, self._rest = memoryview(head), rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n], self._head = self._head[:n], self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        n = min(len(buffer), len(data))  # a re-encoding stream may give more than it was asked for
        buffer[:n], self._head = data[:n], memoryview(data)[n:]
        return n


def _csv_chunks(stream: IO[bytes], chunk_rows: int, separator: str, encoding: str) -> Iterator[pd.DataFrame]:
    try:
        # index_col=False: a trailing separator on every row is not read as a first column of row labels
        # (which shifted every value one column left). A later line with more fields than the header is
        # skipped by pandas with a warning naming it: it comes back as a rejected row.
        reader = pd.read_csv(stream, sep=separator, dtype=object, keep_default_na=False, na_values=[""],
                             chunksize=chunk_rows, encoding=encoding, encoding_errors="surrogateescape",
                             index_col=False, on_bad_lines="warn" if _bad_lines_warn() else "error")
    except pd.errors.EmptyDataError:
        return
    except UnicodeError:
        raise InputError(_not_text(encoding)) from None
    rows_before = 0  # data rows of the earlier chunks, malformed lines included
    columns: list[str] = []
    with reader:
        try:
            while True:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", pd.errors.ParserWarning)
                    frame = next(reader, None)
                malformed = _malformed_lines(caught)
                if frame is None:
                    if malformed:  # past the last good line
                        yield _with_malformed(_empty_like(columns), malformed, rows_before)
                    return
                columns = list(frame.columns)
                _check_header(columns, encoding)
                frame = frame.where(frame.notna(), None)
                frame.index = range(len(frame))
                frame = _with_malformed(frame, malformed, rows_before)
                rows_before += len(frame)
                yield frame
        except UnicodeError:  # pandas reading the header's names (a cell's odd bytes are that row's rejection)
            raise InputError(_not_text(encoding)) from None


_SKIPPED_LINE = re.compile(r"Skipping line (\d+): expected \d+ fields, saw \d+")


@functools.cache
def _bad_lines_warn() -> bool:
    """Whether this pandas names a skipped line in a ``ParserWarning`` (else a bad line fails the file, as
    it would be skipped without a word)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        pd.read_csv(io.StringIO("a,b\n1,2\n1,2,3\n"), dtype=object, index_col=False, on_bad_lines="warn")
    return any(_SKIPPED_LINE.search(str(warning.message)) for warning in caught)


def _malformed_lines(caught: list[warnings.WarningMessage]) -> list[int]:
    """The line numbers pandas skipped (a first row it truncated is a file it cannot read right)."""
    lines = []
    for warning in caught:
        text = str(warning.message)
        found = _SKIPPED_LINE.findall(text) if issubclass(warning.category, pd.errors.ParserWarning) else []
        if found:
            lines.extend(int(line) for line in found)
        elif text.startswith("Length of header or names does not match"):  # the first row's extras dropped
            raise InputError("The CSV's first data row has more fields than its header: its extra values would "
                             "be dropped. Name every column in the header or fix the export.")
        else:  # another thread's, or another of the parser's: passed on
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return lines


def _with_malformed(frame: pd.DataFrame, lines: list[int], rows_before: int) -> pd.DataFrame:
    """``frame`` with an empty row rejected as ``malformed_csv_line`` for each skipped line, where the line
    was (its line number less the header's, exact unless blank lines or multi-line cells came before)."""
    if not lines:
        return frame
    good = len(frame)
    total = good + len(lines)
    positions: list[int] = []
    for line in sorted(lines):  # distinct, in order, and within the chunk
        positions.append(max(line - 2 - rows_before, positions[-1] + 1 if positions else 0))
    for index in reversed(range(len(positions))):
        positions[index] = min(positions[index], positions[index + 1] - 1 if index + 1 < len(positions) else total - 1)
    order, bad = iter(range(good)), set(positions)
    take = [good if position in bad else next(order) for position in range(total)]  # good: the empty row
    empty = pd.DataFrame([[None] * len(frame.columns)], columns=frame.columns, dtype=object)
    rows = pd.concat([frame, empty], ignore_index=True).iloc[take]
    rows.index = range(total)
    rows.attrs = {**frame.attrs, UNREADABLE: {**frame.attrs.get(UNREADABLE, {}),
                                               **dict.fromkeys(positions, "malformed_csv_line")}}
    return rows


def _empty_like(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series([], dtype=object) for column in columns})


def _not_text(encoding: str) -> str:
    return (f"The CSV header is not {'UTF-8' if codecs.lookup(encoding).name == 'utf-8' else encoding} text (a "
            "Latin-1 or UTF-16 export?): save the file as UTF-8, or pass its file_encoding.")


def _check_header(columns: list[str], encoding: str) -> None:
    """Each header name once: pandas renames a repeated header (``email``, ``email.1``), and which one is
    the email would be a guess. NUL characters in it are UTF-16 text without its byte order mark."""
    if any("\x00" in str(column) for column in columns):
        raise InputError(_not_text(encoding))
    for position, column in enumerate(columns, 1):
        if "@" in str(column) and looks_like_a_value(column):  # never printed: it is someone's address
            raise InputError(f"The CSV's first line looks like data, not a header (column {position} holds "
                             "an e-mail address): add a header line naming the columns.")
    names = set(columns)
    for column in columns:
        base, dot, number = str(column).rpartition(".")
        if dot and number.isdigit() and base in names:
            raise InputError(f"The CSV header names column {base!r} more than once: rename the copies.")


def _jsonl_chunks(stream: IO[bytes], chunk_rows: int) -> Iterator[pd.DataFrame]:
    records: list[dict[str, Any]] = []
    unreadable: dict[int, str] = {}
    lines: Iterator[bytes] = iter(stream)
    first = next(lines, b"").removeprefix(b"\xef\xbb\xbf")  # a BOM some Windows tools write first
    if first.lstrip().startswith(b"["):  # a .json file holding one array of rows, not JSON lines
        yield from _json_array_chunks(first + stream.read(), chunk_rows)
        return
    for line in itertools.chain([first], lines):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
            if isinstance(record, dict) and _holds_big_integer(record.values()):
                record = _exact_loads(line)
        except (orjson.JSONDecodeError, ValueError):
            record = None
        if not isinstance(record, dict):
            unreadable[len(records)] = "unreadable_json_line"
            record = {}
        records.append(record)
        if len(records) >= chunk_rows:
            yield _with_unreadable(frame_from_records(records), unreadable)
            records, unreadable = [], {}
    if records:
        yield _with_unreadable(frame_from_records(records), unreadable)


def _json_array_chunks(content: bytes, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The rows of a JSON array (held whole: a JSON document cannot be streamed row by row)."""
    try:
        items = orjson.loads(content)
        if isinstance(items, list) and any(_holds_big_integer(item.values()) for item in items
                                           if isinstance(item, dict)):
            items = _exact_loads(content)
    except (orjson.JSONDecodeError, ValueError) as exc:
        raise InputError(f"The file starts a JSON array but is not valid JSON ({exc}).") from None
    if not isinstance(items, list):
        raise InputError("The file starts a JSON array but is not one.")
    for start in range(0, len(items), chunk_rows):
        part = items[start:start + chunk_rows]
        unreadable = {i: "unreadable_json_line" for i, item in enumerate(part) if not isinstance(item, dict)}
        records = [item if isinstance(item, dict) else {} for item in part]
        yield _with_unreadable(frame_from_records(records), unreadable)


def _holds_big_integer(values: Any) -> bool:
    """Whether orjson read a number as a float that may be an integer too big for 64 bits: it reads
    those as floats, so an order id of 20 or more digits would lose its last digits."""
    for value in values:
        if value.__class__ is float and not -9.3e18 < value < 1.8e19:
            return True
    return False


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _exact_loads(content: bytes) -> Any:
    """The standard library's reading, which keeps every integer exact (orjson's rules otherwise:
    ``NaN`` and ``Infinity`` are not JSON)."""
    return json.loads(content, parse_constant=_refuse_constant)


def _with_unreadable(frame: pd.DataFrame, unreadable: dict[int, str]) -> pd.DataFrame:
    if unreadable:
        frame.attrs[UNREADABLE] = unreadable
    return frame


def _parquet_chunks(stream: IO[bytes], chunk_rows: int) -> Iterator[pd.DataFrame]:
    # One block of the batch's columns; a repeated column name stays repeated, so the mapping refuses it.
    for batch in _parquet_batches(stream, chunk_rows):
        yield frame_from_column_values((column.to_pylist() for column in batch.columns), batch.schema.names,
                                       batch.num_rows)


def _parquet_batches(stream: IO[bytes], chunk_rows: int) -> Iterator[Any]:
    """The file's rows as Arrow tables of exactly ``chunk_rows`` rows (the last one fewer), read one row
    group at a time.

    One ``iter_batches`` over the whole file keeps every column chunk it pre-buffered until the end: memory
    grew with the file (about its compressed size, +135 MB for 2 million rows). A reader per row group
    drops its buffers when the group is done, so at most one row group's bytes and two chunks' rows are
    held, however long the file. Batches are regrouped across row groups, so the chunks are the same as
    before (``chunk_rows`` rows each) whatever the row group size.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(stream)
    pending: list[Any] = []
    held = 0
    for group in range(parquet.num_row_groups):
        for batch in parquet.iter_batches(batch_size=chunk_rows, row_groups=[group]):
            if not batch.num_rows:
                continue
            pending.append(batch)
            held += batch.num_rows
            while held >= chunk_rows:
                table = pa.Table.from_batches(pending)
                yield table.slice(0, chunk_rows)
                rest = table.slice(chunk_rows)
                pending, held = rest.to_batches(), rest.num_rows
                del table, rest
    if held:
        yield pa.Table.from_batches(pending)
