"""A rejected-rows file: row number, status (rejected / failed), reason, and the columns named safe."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import IO

from snap_capi_provider.core.normalize import to_text


class RejectedRowsWriter:
    """Writes one record per row that did not end accepted, as JSON lines or CSV (by ``fmt``).

    Only ``columns`` (chosen by the user as safe, e.g. an order id) are copied from the input.
    """

    def __init__(self, stream: IO[str], columns: Sequence[str] = (), fmt: str = "jsonl"):
        if fmt not in ("jsonl", "csv"):
            raise ValueError(f"rejected rows format must be 'jsonl' or 'csv', not {fmt!r}.")
        self.stream, self.columns, self.fmt = stream, tuple(columns), fmt
        self.count = 0
        self._csv = None
        if fmt == "csv":
            self._csv = csv.writer(stream)
            self._csv.writerow(["row", "status", "reason", *self.columns])

    def write(self, row: int, status: str, reason: str, values: Mapping[str, object] | None) -> None:
        values = values or {}
        picked = {column: _plain(values.get(column)) for column in self.columns}
        if self._csv is not None:
            cells = ["" if v is None else _defused(str(v)) for v in picked.values()]
            self._csv.writerow([row, status, _defused(reason), *cells])
        else:
            record = {"row": row, "status": status, "reason": reason, **picked}
            self.stream.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self.count += 1


def _plain(value: object) -> object:
    try:
        return to_text(value)
    except ValueError:
        return None


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _defused(cell: str) -> str:
    """A cell a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``) gets a leading quote."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def format_for(path: str) -> str:
    return "csv" if str(path).lower().endswith(".csv") else "jsonl"


def open_text(stream: IO[bytes]) -> IO[str]:
    return io.TextIOWrapper(stream, encoding="utf-8", newline="")
