"""One chunk from rows to serialized events, grouped by asset: the CPU-bound half of the send path.

:func:`prepare_chunk` is a pure function of picklable arguments, so it runs in the task's process or
in worker processes (:func:`process_pool`) when one core cannot keep up.
"""

from __future__ import annotations

import gc
import hashlib
import math
import multiprocessing
import os
import pickle
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from snap_capi_provider.core import normalize as rules
from snap_capi_provider.core.events import EventChunk, EventOptions, build_events
from snap_capi_provider.core.options import MAX_PREPARE_PROCESSES
from snap_capi_provider.core.readiness import Readiness
from snap_capi_provider.core.sources import UNREADABLE
from snap_capi_provider.core.wire import payloads_v2, payloads_v3

if TYPE_CHECKING:
    from snap_capi_provider.core.pipeline import Assets


@dataclass(frozen=True)
class Shard:
    """Rows whose ``key`` column hashes to ``index`` out of ``count``: a stable subset of the input, so
    ``count`` mapped tasks over the same rows together send each row exactly once."""

    index: int
    count: int
    key: str

    def __post_init__(self) -> None:
        if not (isinstance(self.count, int) and isinstance(self.index, int) and 0 <= self.index < self.count):
            raise ValueError(f"shard_index must be in [0, shard_count), not {self.index!r} of {self.count!r}.")
        if not self.key:
            raise ValueError("shard_key must name the column that assigns rows to shards (e.g. an order id).")

    def selects(self, frame: pd.DataFrame) -> np.ndarray:
        return np.fromiter((shard_of(value, self.count) == self.index for value in frame[self.key].tolist()),
                           bool, len(frame))


def shard_of(value: object, count: int) -> int:
    """The shard of a key value: a hash of its text, the same on every machine and Python version."""
    try:
        text = rules.to_text(value) or ""
    except ValueError:
        text = repr(type(value))
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


AssetGroup = tuple[list[int], list[bytes], list[str], list[int]]
"""Rows, serialized events, event ids and identifier masks of one asset's events."""


@dataclass
class Prepared:
    rejected: list[tuple[int, str]] = field(default_factory=list)
    warnings: dict[str, int] = field(default_factory=dict)
    readiness: Readiness = field(default_factory=Readiness)
    groups: dict[str, AssetGroup] = field(default_factory=dict)


def prepare_chunk(frame: pd.DataFrame, mapping: Mapping[str, str], options: EventOptions,
                  numbers: Sequence[int], api_version: str, assets: Assets) -> Prepared:
    """Normalize, hash, validate and serialize one chunk; events grouped by the asset they go to."""
    result = build_events(frame, mapping, options, row_numbers=numbers)
    prepared = Prepared(list(result.rejected), dict(result.warnings), result.readiness)
    chunk = result.events
    if api_version == "v2" and "data_processing_options" in chunk.plain:
        chunk = _without_limited_data_use(chunk, prepared)
    if not len(chunk):
        return prepared
    by_asset: dict[str, list[int]] = {}
    for source in set(chunk.plain["action_source"]):
        asset_id = assets.for_source(str(source))
        positions = [i for i, value in enumerate(chunk.plain["action_source"]) if value == source]
        missing = _missing_asset(str(source), asset_id, assets, api_version)
        if missing:
            prepared.rejected.extend((chunk.rows[i], missing) for i in positions)
            continue
        by_asset.setdefault(str(asset_id), []).extend(positions)
    for asset_id, positions in by_asset.items():
        positions.sort()
        part = _take(chunk, positions)
        if api_version == "v2":
            asset = ({"pixel_id": asset_id} if asset_id == assets.pixel_id
                     else {"snap_app_id": asset_id, "app_id": str(assets.app_id)})
            payloads = payloads_v2(part, asset)
        else:
            payloads = payloads_v3(part, frozenset({"madid"}) if options.hash_madid else frozenset())
        masks = part.masks.tolist() if part.masks is not None else [0] * len(part)
        group: AssetGroup = ([], [], [], [])
        for row, payload, event_id, mask in zip(part.rows, payloads, part.event_ids, masks, strict=True):
            if payload is None:  # a value no JSON can carry: that row, not the run
                prepared.rejected.append((row, "unencodable_event"))
                continue
            group[0].append(row)
            group[1].append(payload)
            group[2].append(event_id)
            group[3].append(mask)
        prepared.groups[asset_id] = group
    return prepared


@dataclass(frozen=True)
class PackedFrame:
    """The columns of a chunk that preparing reads, in a form that pickles fast for a worker process: a
    column of text (or missing values) as one string (:class:`JoinedText`), any other column as its list
    of values. An ``object`` DataFrame pickles every value on its own (~4 µs a row of 14 columns, and as
    much again to unpickle); a joined column costs the task about 0.1 µs a value, and :meth:`frame`
    gives back the same values of the same types."""

    names: tuple[str, ...]
    columns: tuple[JoinedText | list[object], ...]
    length: int
    attrs: dict[str, Any]

    @classmethod
    def of(cls, frame: pd.DataFrame, needed: Sequence[str]) -> PackedFrame | pd.DataFrame:
        """``frame``'s ``needed`` columns packed (``frame`` itself when its column names repeat)."""
        if not frame.columns.is_unique:
            return frame
        names = tuple(dict.fromkeys(name for name in needed if name in frame.columns))
        return cls(names, tuple(_packed(frame[name].tolist()) for name in names), len(frame), dict(frame.attrs))

    def frame(self) -> pd.DataFrame:
        block = np.empty((len(self.names), self.length), dtype=object)
        for i, column in enumerate(self.columns):
            block[i] = column.values() if isinstance(column, JoinedText) else column
        frame = pd.DataFrame(block.T, columns=list(self.names), dtype=object, copy=False)
        frame.attrs.update(self.attrs)
        return frame


_SEPARATOR = "\x00"  # a control character: refused in every text field, so rarely in one
_TEXT_TYPES = frozenset({str, type(None)})


@dataclass(frozen=True)
class JoinedText:
    """A column of text as one string, its values joined by a NUL (one object to pickle, split in C),
    with the positions of its missing values."""

    text: str
    absent: tuple[int, ...]
    length: int

    def values(self) -> list[str | None]:
        if not self.length:
            return []
        values: list[str | None] = self.text.split(_SEPARATOR)  # type: ignore[assignment]
        for i in self.absent:
            values[i] = None
        return values


def _packed(values: list[object]) -> JoinedText | list[object]:
    if not set(map(type, values)) <= _TEXT_TYPES:
        return values
    absent = values.count(None)
    texts = ["" if value is None else value for value in values] if absent else values
    text = _SEPARATOR.join(texts)  # type: ignore[arg-type]
    if text.count(_SEPARATOR) != max(len(values) - 1, 0):  # a value holds the separator: sent as it is
        return values
    positions = tuple(i for i, value in enumerate(values) if value is None) if absent else ()
    return JoinedText(text, positions, len(values))


def prepare_packed(packed: PackedFrame | pd.DataFrame, mapping: Mapping[str, str], options: EventOptions,
                   numbers: Sequence[int], api_version: str, assets: Assets) -> Prepared:
    """:func:`prepare_chunk` in a worker process, the collector paused (see :func:`gc_paused`)."""
    with gc_paused():
        frame = packed.frame() if isinstance(packed, PackedFrame) else packed
        return prepare_chunk(frame, mapping, options, numbers, api_version, assets)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Preparing a chunk allocates many small objects that all live until the chunk is sent: the
    cyclic garbage collector would rescan them (and the input) over and over for nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _without_limited_data_use(chunk: EventChunk, prepared: Prepared) -> EventChunk:
    """v2 has no field for ``data_processing_options``: an event that asks for Limited Data Use is
    rejected, never sent without it."""
    options = chunk.plain["data_processing_options"]
    keep = [i for i, value in enumerate(options) if value is None]
    if len(keep) == len(chunk):
        return chunk
    prepared.rejected.extend((chunk.rows[i], "data_processing_options_not_in_v2")
                             for i, value in enumerate(options) if value is not None)
    return _take(chunk, keep)


def _missing_asset(source: str, asset_id: str | None, assets: Assets, api_version: str) -> str | None:
    if source != "MOBILE_APP":
        return None if asset_id else "missing_pixel_id"
    if not asset_id:
        return "missing_snap_app_id"
    if api_version == "v2" and not assets.app_id:
        return "missing_app_id"  # v2 app events carry the store app id beside the Snap app id
    return None


def _take(chunk: EventChunk, positions: list[int]) -> EventChunk:
    if len(positions) == len(chunk):
        return chunk
    return EventChunk(
        rows=[chunk.rows[i] for i in positions],
        plain={key: [values[i] for i in positions] for key, values in chunk.plain.items()},
        digests={key: [values[i] for i in positions] for key, values in chunk.digests.items()},
        event_ids=[chunk.event_ids[i] for i in positions],
        masks=chunk.masks[positions] if chunk.masks is not None else None,
    )


class WorkerPool:
    """Worker processes that prepare pieces (:func:`prepare_in_worker`); :func:`process_pool` makes one."""

    def __init__(self, executor: ProcessPoolExecutor, folder: str) -> None:
        self.executor, self.folder = executor, folder

    def submit(self, packed: PackedFrame, mapping: Mapping[str, str], options: EventOptions,
               numbers: Sequence[int], api_version: str, assets: Assets) -> Future[str | Prepared]:
        """The piece's preparation; its future's answer is read with :func:`prepared_result`."""
        with _naming_a_dead_worker():
            return self.executor.submit(prepare_in_worker, self.folder, packed, mapping, options, numbers,
                                        api_version, assets)


WORKER_DIED = ("A worker process preparing events died (killed for lack of memory?): lower prepare_processes or "
               "chunk_rows, or give the task more memory; re-running is safe")


@contextmanager
def _naming_a_dead_worker() -> Iterator[None]:
    """``BrokenProcessPool`` says what most likely happened and what to do."""
    try:
        yield
    except BrokenProcessPool as exc:
        raise BrokenProcessPool(f"{WORKER_DIED} ({exc})") from None


def prepared_result(future: Future[str | Prepared]) -> Prepared:
    """The prepared piece of a :meth:`WorkerPool.submit` future."""
    with _naming_a_dead_worker():
        answer = future.result()
    return answer if isinstance(answer, Prepared) else load_prepared(answer)


def prepare_in_worker(folder: str, packed: PackedFrame, mapping: Mapping[str, str], options: EventOptions,
                      numbers: Sequence[int], api_version: str, assets: Assets) -> str | Prepared:
    """:func:`prepare_packed`, its result left in a file of ``folder`` whose path is the answer.

    The answer through the pool's pipe stays a few bytes, written in one go. A prepared piece (megabytes)
    would go through in many writes, and a worker killed halfway (by the OOM killer, say) left half a
    message there, on which ``ProcessPoolExecutor`` then waited forever: the task hung instead of failing.
    """
    prepared = prepare_packed(packed, mapping, options, numbers, api_version, assets)
    path = None
    try:
        descriptor, path = tempfile.mkstemp(dir=folder, suffix=".pickle")
        with os.fdopen(descriptor, "wb") as out:
            pickle.dump(prepared, out, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError:  # the folder's file system is full (or gone): the answer goes through the pipe after all
        if path is not None:
            with suppress(OSError):
                os.unlink(path)
        return prepared
    return path


def load_prepared(path: str) -> Prepared:
    """The result :func:`prepare_in_worker` left at ``path``, the file removed."""
    try:
        with open(path, "rb") as file:
            return pickle.loads(file.read())
    finally:
        os.unlink(path)


@contextmanager
def process_pool(processes: int) -> Iterator[WorkerPool | None]:
    """Worker processes for :func:`prepare_chunk` (``None`` for 1: prepare in this process).

    Where the task process has no other thread yet (on Linux), the workers are forked from it at once:
    they start in milliseconds with everything imported, and ``gc.freeze`` keeps the pages they share
    with it untouched. Otherwise they are never forked from it (a fork would copy other threads' locks
    in whatever state they are): they fork from a fork server, a clean process that imports this module
    first (about 1.5 s), or are spawned where there is none (Windows, macOS). Their results wait in a
    private temporary folder (owner-only), removed with the pool.
    """
    if processes <= 1:
        yield None
        return
    parent = _memory_folder()
    _remove_orphaned_folders(parent or tempfile.gettempdir())
    folder = tempfile.mkdtemp(prefix=f"{_FOLDER_PREFIX}{os.getpid()}-", dir=parent)
    try:
        if _only_thread():
            executor = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"),
                                           initializer=_forked_worker_started)
            executor.submit(int).result()  # forks every worker now, while no other thread runs
        else:
            executor = ProcessPoolExecutor(processes, mp_context=_worker_context())
        try:
            yield WorkerPool(executor, folder)
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def usable_cpus(cgroup: str = "/sys/fs/cgroup") -> int:
    """The cores this process may use: its CPU affinity, capped by a container's CPU quota (cgroup v2
    ``cpu.max`` of its own group, or v1 ``cpu.cfs_quota_us``; rounded up), at most ``MAX_PREPARE_PROCESSES``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quota = _cpu_quota(Path(cgroup))
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, min(cores, MAX_PREPARE_PROCESSES))


def _cpu_quota(root: Path) -> float | None:
    """The CPU quota in cores, or None where there is none (or no cgroup to read)."""
    try:
        own = next((line.split(":", 2)[2].strip() for line in Path("/proc/self/cgroup").read_text().splitlines()
                    if line.startswith("0::")), "/")
    except OSError:
        own = "/"
    for group in dict.fromkeys((root / own.lstrip("/"), root)):
        try:
            quota, period = (group / "cpu.max").read_text().split()[:2]
        except (OSError, ValueError):
            continue
        return None if quota == "max" or int(period) <= 0 else int(quota) / int(period)
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


_FOLDER_PREFIX = "snap-capi-workers-"


def _remove_orphaned_folders(parent: str) -> None:
    """Remove the result folders of task processes that are gone (killed before they could): they hold
    prepared events, hashed PII and raw IP addresses among them."""
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    for entry in entries:
        pid = entry.name.removeprefix(_FOLDER_PREFIX).partition("-")[0]
        if not entry.name.startswith(_FOLDER_PREFIX) or not pid.isdigit():
            continue
        with suppress(OSError):
            if entry.stat(follow_symlinks=False).st_uid == os.getuid() and not _alive(int(pid)):
                shutil.rmtree(entry.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True


def _memory_folder(room: int = 1 << 30) -> str | None:
    """``/dev/shm`` where it is a memory file system with ``room`` free (a container's is often 64 MB),
    else None: the default temporary folder."""
    try:
        stats = os.statvfs("/dev/shm")
    except OSError:
        return None
    return "/dev/shm" if stats.f_bavail * stats.f_frsize >= room and os.access("/dev/shm", os.W_OK) else None


def _forked_worker_started() -> None:
    # The task's SIGTERM handler (Airflow's, which reports to the supervisor) is not the worker's; the
    # objects shared with the task are left out of the collector's scans, so their pages stay shared.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    gc.freeze()


def _only_thread() -> bool:
    # Before 3.10.5 a fork pool started its workers on demand, later, when the HTTP threads run.
    return sys.platform == "linux" and sys.version_info >= (3, 10, 5) and threading.active_count() == 1


def _worker_context() -> multiprocessing.context.BaseContext:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def pieces(chunks: Iterable[pd.DataFrame], rows: int) -> Iterator[pd.DataFrame]:
    """``chunks`` cut into pieces of at most ``rows`` rows, for the worker processes."""
    for frame in chunks:
        if len(frame) <= rows:
            yield frame
            continue
        for start in range(0, len(frame), rows):
            piece = frame.iloc[start:start + rows]
            yield keeping_unreadable(piece, frame, range(start, start + len(piece)))


def keeping_unreadable(part: pd.DataFrame, frame: pd.DataFrame, positions: Sequence[int]) -> pd.DataFrame:
    """``part`` (``frame``'s rows at ``positions``) with the source's unreadable rows renumbered to it."""
    unreadable = frame.attrs.get(UNREADABLE)
    if unreadable:
        moved = {old: new for new, old in enumerate(positions)}
        part.attrs = {**frame.attrs, UNREADABLE: {moved[old]: reason for old, reason in unreadable.items()
                                                  if old in moved}}
    return part


def gc_paused_iter(chunks: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """``chunks``, each read with the garbage collector paused: a database driver makes a few objects per
    cell, which would trigger collections that rescan everything alive (a quarter of a SQL run's time)."""
    source = iter(chunks)
    while True:
        with gc_paused():
            frame = next(source, _END)
        if frame is _END:
            return
        yield frame


_END = object()
