"""The rejected-rows file on any ``ObjectStoragePath``, written so an interrupted try cannot spoil it.

Rows are written to a temporary file beside the target and moved into place when the run ends (atomic
on a local disk), so the file of an earlier try survives a try that dies before writing. A local file
is created readable by its owner only, and never through a symlink.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator, Sequence

from airflow.providers.common.compat.sdk import ObjectStoragePath

from snap_capi_provider.core.rejected_rows import RejectedRowsWriter, format_for

_LOCAL = ("file", "local", "")


@contextlib.contextmanager
def rejected_rows_file(path: str, columns: Sequence[str]) -> Iterator[RejectedRowsWriter]:
    """A writer to ``path``; the file appears (or is replaced) when the block ends, even on an error.

    A ``path`` that is not text nor a path, or names a folder, is a ``ValueError`` here, before any row
    is sent."""
    if not isinstance(path, str | os.PathLike | ObjectStoragePath):
        raise ValueError(f"rejected_rows_path must be a path or URL, not {type(path).__name__} ({path!r}).")
    target = ObjectStoragePath(path)
    if target.is_dir():
        raise ValueError(f"rejected_rows_path {str(path)!r} is a folder: name a file in it, e.g. "
                         f"'{str(path).rstrip('/')}/rejected.csv'.")
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.tmp"
    local = target.protocol in _LOCAL
    if local:
        fd = os.open(temporary.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        stream = open(fd, "w", encoding="utf-8", newline="")
    else:
        stream = temporary.open("w", encoding="utf-8", newline="")
    try:
        with stream:
            yield RejectedRowsWriter(stream, columns, format_for(path))
    except BaseException:
        _move(temporary, target, local)
        raise
    _move(temporary, target, local)


def _move(temporary: ObjectStoragePath, target: ObjectStoragePath, local: bool) -> None:
    if local:
        if os.path.islink(target.path):  # replace the link itself, never the file it points at
            os.unlink(target.path)
        os.replace(temporary.path, target.path)
    else:
        temporary.rename(target)
