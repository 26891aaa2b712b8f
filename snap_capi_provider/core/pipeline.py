"""The send path: DataFrame chunks in, concurrent batches out, a report folded as it goes.

Memory stays bounded whatever the input's size: one chunk is prepared at a time (or one per worker
process), at most ``2 * concurrency`` batches are in flight, and the run-wide set of event ids takes
8 bytes an id. A run stops early, accounting for every row it read, when the token is refused, when
``stop`` is set (the task is killed) or when an exception interrupts it: rows not known to be
delivered are failed, and an exception carries the report as ``exc.snap_capi_report``.
"""

from __future__ import annotations

import itertools
import logging
import pickle
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol

import numpy as np
import pandas as pd

from snap_capi_provider.core.client import SnapCapiAuthError, SnapCapiClient
from snap_capi_provider.core.delivery import BatchItem, BatchOutcome, deliver
from snap_capi_provider.core.events import EventOptions, MappingError, resolve_mapping
from snap_capi_provider.core.fields import BY_KEY
from snap_capi_provider.core.fields import resolve as resolve_field
from snap_capi_provider.core.options import (  # noqa: F401  (re-exported: the send path's own options)
    DEFAULT_MAX_BATCH_BYTES,
    MAX_EVENTS_PER_REQUEST,
    Assets,
    DeliveryOptions,
    asset_text,
)
from snap_capi_provider.core.pacing import EventIdSet, PacedClient, Progress, RateLimiter
from snap_capi_provider.core.prepare import (
    PackedFrame,
    Prepared,
    Shard,
    gc_paused,
    gc_paused_iter,
    keeping_unreadable,
    pieces,
    prepare_chunk,
    prepared_result,
    process_pool,
)
from snap_capi_provider.core.report import SendReport
from snap_capi_provider.core.sources import SPARSE_COLUMNS
from snap_capi_provider.core.text import column_names

log = logging.getLogger(__name__)

NOT_SENT = "not_sent_after_auth_error"
"""Reason of the rows left unsent once the token was refused (the run stops sending)."""
NOT_SENT_REFUSED = "not_sent_after_request_refused"
"""Reason of the rows left unsent once Snap refused a request as a whole (a bad pixel id, say)."""
INTERRUPTED = "not_sent_interrupted"
"""Reason of the rows read but not sent when the run was stopped or interrupted by an error."""
MAX_WARNING_KEYS = 50
"""Distinct Snap warning messages a report counts; the rest are counted under :data:`OTHER_WARNINGS`."""
OTHER_WARNINGS = "snap_warning: other"

WORKER_CHUNK_ROWS = 5000
"""Rows a worker process prepares at a time: a source's chunks are cut to this size, so the workers start
sending sooner and finish together (at 20,000 rows, the first and last chunks left a core idle)."""
_ENVELOPE_BYTES = 16
"""Bytes a batch counts before its first event: room for ``encode_body``'s envelope (``{"data":[...]}``)."""
STOP_GRACE_S = 3.0
"""How long a stopped run waits for the requests already in flight to settle. Airflow's supervisor
sends SIGKILL 5 s after its SIGTERM (``kill(escalation_delay=5.0)``): the report and the rejected-rows
file must be written before then, so requests still in flight after this are failed, not awaited."""
BatchFn = Callable[[SnapCapiClient, str, Sequence[BatchItem]], BatchOutcome]


class RowSink(Protocol):
    """Receives every row that did not end accepted (for a rejected-rows file)."""

    def write(self, row: int, status: str, reason: str, values: Mapping[str, object] | None) -> None: ...


def send_rows(
    client: SnapCapiClient,
    chunks: Iterable[pd.DataFrame],
    *,
    assets: Assets,
    field_mapping: Mapping[str, str] | None = None,
    event_options: EventOptions | None = None,
    delivery: DeliveryOptions | None = None,
    sink: RowSink | None = None,
    sink_columns: Sequence[str] = (),
    batch_fn: BatchFn = deliver,
    shard: Shard | None = None,
    total_rows: int | None = None,
    stop: threading.Event | None = None,
) -> SendReport:
    """Send every row of ``chunks``; returns the report (``rows == accepted + rejected + failed``).

    Raises :class:`MappingError` before sending anything when the mapping does not fit the columns.
    ``shard`` keeps only the rows of one shard (the others are not counted); ``total_rows`` gives the
    progress lines an ETA; setting ``stop`` ends the run after the requests in flight.
    """
    delivery = delivery or DeliveryOptions()
    if delivery.max_requests_per_second:
        client = PacedClient(client, RateLimiter(delivery.max_requests_per_second))  # type: ignore[assignment]
    run = _Run(client, assets, event_options or EventOptions(), delivery, sink, tuple(sink_columns),
               _dry_run_batch if delivery.dry_run else batch_fn, shard, stop or threading.Event())
    return run.execute(chunks, field_mapping, total_rows)


def _dry_run_batch(client: SnapCapiClient, asset_id: str, items: Sequence[BatchItem]) -> BatchOutcome:
    return BatchOutcome(accepted=list(items))


class _Run:
    def __init__(self, client: SnapCapiClient, assets: Assets, options: EventOptions,
                 delivery: DeliveryOptions, sink: RowSink | None, sink_columns: tuple[str, ...],
                 batch_fn: BatchFn, shard: Shard | None, stop: threading.Event):
        self.client, self.assets, self.options, self.delivery = client, assets, options, delivery
        self.sink, self.sink_columns, self.batch_fn, self.shard, self.stop = (
            sink, sink_columns, batch_fn, shard, stop)
        self.report = SendReport(api_version=client.api_version, dry_run=delivery.dry_run,
                                 prepare_processes=delivery.prepare_processes)
        self.open_batches: dict[str, tuple[list[BatchItem], int]] = {}
        self.seen_ids: dict[str, EventIdSet] = {}
        self.inflight: dict[Future[BatchOutcome], list[BatchItem]] = {}
        self.aborted: str | None = None
        self.mapping: dict[str, str] | None = None
        self.unmapped_snap_columns: set[str] = set()
        self.unseen_columns: set[str] = set()
        """Mapped columns that no row of a JSON-lines source has had so far."""
        self.not_in_v2: list[str] = []
        """Mapped fields the v2 event has no name for (``api_version="v2"``)."""
        self.unaccounted: deque[tuple[pd.DataFrame, list[int], set[int] | None]] = deque()
        """Chunks read (their rows counted) but not yet accounted, with the rows already accounted of
        the one being accounted: an interruption fails the others."""

    def execute(self, chunks: Iterable[pd.DataFrame], field_mapping: Mapping[str, str] | None,
                total_rows: int | None) -> SendReport:
        started = time.monotonic()
        self.field_mapping = field_mapping
        progress = Progress(self.delivery.progress_interval_s, total_rows)
        self.pool = pool = ThreadPoolExecutor(self.delivery.concurrency, thread_name_prefix="snap-capi")
        try:
            for frame, numbers, prepared in self._prepared(chunks, field_mapping):
                with gc_paused():  # the batch items made here live until sent: no rescans of them
                    self._account(frame, numbers, prepared)
                progress.maybe_log(self.report)
            for asset_id in list(self.open_batches):
                self._flush(asset_id)
            self._settle(None if not self.stop.is_set() else STOP_GRACE_S)
        except BaseException as exc:
            self._interrupted(f"interrupted: {type(exc).__name__}")
            self.report.duration_s = time.monotonic() - started
            self.report.error = self.report.error or self.aborted
            exc.snap_capi_report = self.report  # type: ignore[attr-defined]
            raise
        finally:
            # A stopped run does not wait for requests past the grace period (already failed).
            pool.shutdown(wait=not self.stop.is_set(), cancel_futures=True)
        if self.unseen_columns:
            log.warning("Column(s) %s named by field_mapping, event_id_columns or rejected_rows_columns were in "
                        "no row of the input: their values were absent from every row.", sorted(self.unseen_columns))
            self.report.warn("mapped_column_not_in_input", self.report.rows)
        if self.stop.is_set() and not self.aborted:
            self.aborted = "stopped: the task was asked to stop; rows not sent are failed as " + INTERRUPTED
        self.report.duration_s = time.monotonic() - started
        if self.aborted:
            self.report.error = self.aborted
        progress.maybe_log(self.report, final=True)
        return self.report

    # ------------------------------------------------------------------------------ preparing

    def _prepared(self, chunks: Iterable[pd.DataFrame], field_mapping: Mapping[str, str] | None,
                  ) -> Iterator[tuple[pd.DataFrame, list[int], Prepared | None]]:
        """Each chunk with its row numbers and prepared events (None once the run stopped sending),
        prepared here or, with ``prepare_processes`` > 1, in worker processes, in input order."""
        processes = self.delivery.prepare_processes
        with process_pool(processes) as workers:
            pending: deque[tuple[pd.DataFrame, list[int], Future[str | Prepared] | None]] = deque()
            for frame in gc_paused_iter(chunks if workers is None else pieces(chunks, WORKER_CHUNK_ROWS)):
                frame, numbers = self._select(frame)
                if self.stop.is_set() or self.aborted:
                    pending.append((frame, numbers, None))
                elif workers is None:
                    with gc_paused():
                        prepared = self._prepare_here(frame, numbers)
                    yield frame, numbers, prepared  # accounted with the collector paused too (execute)
                    continue
                else:
                    pending.append((frame, numbers, workers.submit(*self._prepare_call(frame, numbers))))
                while pending and (len(pending) > 2 * processes or pending[0][2] is None):
                    yield self._ready(pending.popleft())
                if self.stop.is_set():
                    break
            while pending:
                yield self._ready(pending.popleft())

    def _ready(self, entry: tuple[pd.DataFrame, list[int], Future[str | Prepared] | None],
               ) -> tuple[pd.DataFrame, list[int], Prepared | None]:
        frame, numbers, future = entry
        if future is None:
            return frame, numbers, None
        try:
            return frame, numbers, prepared_result(future)
        except (TypeError, AttributeError, pickle.PicklingError) as exc:
            if "pickle" not in str(exc).lower():
                raise
            # A cell a worker cannot receive (a lock, a generator, a lambda in a list of dicts): the piece
            # is prepared here, where such a value is a row-level invalid_value_type like any object.
            with gc_paused():
                return frame, numbers, self._prepare_here(frame, numbers)

    def _select(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[int]]:
        """The chunk's rows of this run's shard, numbered by their position in the whole input."""
        first_row = self.report.rows_seen
        self.report.rows_seen += len(frame)
        if self.mapping is None:
            if frame.attrs.get(SPARSE_COLUMNS):  # JSON lines: a key no row of this chunk has
                named = [*(self.field_mapping or {}).values(), *self.options.event_id_columns, *self.sink_columns]
                self.unseen_columns = {c for c in named if c not in frame.columns}
                frame = frame.assign(**dict.fromkeys(self.unseen_columns)) if self.unseen_columns else frame
            self.mapping = resolve_mapping(list(frame.columns), self.field_mapping)
            self._check_columns(frame)
            _log_mapping(self.mapping, list(frame.columns), explicit=self.field_mapping is not None)
            if self.client.api_version == "v2":  # v2 has no name for these: say so, never drop them quietly
                self.not_in_v2 = [key for key in self.mapping if BY_KEY[key].v2_key is None]
        else:
            self._check_late_columns(frame)
            self.unseen_columns.difference_update(frame.columns)
        numbers = list(range(first_row, first_row + len(frame)))
        if self.shard is not None:
            keep = self.shard.selects(frame)
            if not keep.all():
                frame = keeping_unreadable(frame[keep], frame, np.flatnonzero(keep).tolist())
                numbers = [number for number, kept in zip(numbers, keep.tolist(), strict=True) if kept]
        self.report.rows += len(frame)
        for key in self.not_in_v2:
            self.report.warn(f"{key}_not_sent_in_v2", len(frame))
        self.unaccounted.append((frame, numbers, None))
        return frame, numbers

    def _prepare_call(self, frame: pd.DataFrame, numbers: list[int]) -> tuple[Any, ...]:
        """A worker's call: only the columns preparing reads, packed to pickle fast."""
        assert self.mapping is not None
        packed = PackedFrame.of(self._with_mapped_columns(frame),
                                [*self.mapping.values(), *self.options.event_id_columns])
        return packed, self.mapping, self.options, numbers, self.client.api_version, self.assets

    def _prepare_here(self, frame: pd.DataFrame, numbers: list[int]) -> Prepared:
        return prepare_chunk(self._with_mapped_columns(frame), self.mapping, self.options, numbers,
                             self.client.api_version, self.assets)

    def _with_mapped_columns(self, frame: pd.DataFrame) -> pd.DataFrame:
        # A later chunk of dict rows may lack a column that no row of it has: its values are absent.
        assert self.mapping is not None
        absent = [c for c in {*self.mapping.values(), *self.options.event_id_columns, *self.sink_columns}
                  if c not in frame.columns]
        return frame.assign(**dict.fromkeys(absent)) if absent else frame

    def _check_columns(self, frame: pd.DataFrame) -> None:
        missing = [c for c in (*self.options.event_id_columns, *self.sink_columns) if c not in frame.columns]
        if self.shard is not None and self.shard.key not in frame.columns:
            missing.append(self.shard.key)
        if missing:
            raise MappingError(f"Column(s) {missing} are not in the input; "
                               f"available columns: {column_names(frame.columns)}.")

    def _check_late_columns(self, frame: pd.DataFrame) -> None:
        """Without an explicit mapping, a column named like a Snap field that first appears in a later
        chunk would be silently ignored: fail clearly instead."""
        if self.field_mapping is not None or self.mapping is None:
            return
        mapped = set(self.mapping.values())
        for column in frame.columns:
            column = str(column)
            if column in mapped or column in self.unmapped_snap_columns:
                continue
            snap_field = resolve_field(column)
            if snap_field is not None:  # a new field, or another column for one mapped (e-mail, email)
                raise MappingError(
                    f"Column {column!r} (Snap field {snap_field.key!r}) first appears after row "
                    f"{self.report.rows_seen - len(frame)}, after the mapping was decided from the first "
                    "chunk; pass field_mapping to name every column to send.")
            self.unmapped_snap_columns.add(column)

    # ------------------------------------------------------------------------------ accounting

    def _account(self, frame: pd.DataFrame, numbers: list[int], prepared: Prepared | None) -> None:
        done: set[int] = set()
        self.unaccounted[0] = (frame, numbers, done)
        extras = self._extras(frame, numbers)
        if prepared is None:
            for row in numbers:
                self._fail_row(row, self._not_sent_reason(), extras)
                done.add(row)
            self.unaccounted.popleft()
            return
        for row, reason in prepared.rejected:
            self._reject(row, reason, extras)
            done.add(row)
        for code, count in prepared.warnings.items():
            self.report.warn(code, count)
        self.report.readiness.merge(prepared.readiness)
        for asset_id, (rows, payloads, event_ids, masks) in prepared.groups.items():
            if self.delivery.dedupe_event_ids:
                fresh = self.seen_ids.setdefault(asset_id, EventIdSet()).add_new(event_ids)
                if not fresh.all():
                    keep = fresh.tolist()
                    for row, kept in zip(rows, keep, strict=True):
                        if not kept:
                            self._reject(row, "duplicate_event_id", extras)
                            done.add(row)
                    rows, payloads, masks = ([value for value, kept in zip(values, keep, strict=True) if kept]
                                             for values in (rows, payloads, masks))
            found = map(extras.get, rows) if extras else itertools.repeat(None)
            self._add_all(asset_id, list(map(BatchItem, rows, payloads, found, masks)), done)
        self.unaccounted.popleft()

    def _extras(self, frame: pd.DataFrame, numbers: list[int]) -> dict[int, dict[str, object]] | None:
        if self.sink is None or not self.sink_columns:
            return None
        frame = self._with_mapped_columns(frame) if self.mapping else frame
        records = frame[list(self.sink_columns)].to_dict("records")
        return dict(zip(numbers, records, strict=True))

    # ------------------------------------------------------------------------------- batching

    def _add_all(self, asset_id: str, items: list[BatchItem], done: set[int]) -> None:
        """Append ``items`` to the asset's open batch, flushing it whenever it is full; each row is
        marked ``done`` once it sits in a batch (or is rejected)."""
        max_bytes, batch_size = self.delivery.max_batch_bytes, self.delivery.batch_size
        batch, size = self.open_batches.get(asset_id, ([], _ENVELOPE_BYTES))
        self.open_batches[asset_id] = (batch, size)  # the live list: an interruption finds its items
        for item in items:
            payload_bytes = len(item.payload)
            if _ENVELOPE_BYTES + payload_bytes > max_bytes:  # too large even alone in a batch
                self._reject(item.row, "event_too_large", None, item.extra)
                done.add(item.row)
                continue
            if batch and (len(batch) >= batch_size or size + payload_bytes + 1 > max_bytes):
                self._flush(asset_id)
                batch, size = [], _ENVELOPE_BYTES
                self.open_batches[asset_id] = (batch, size)
            batch.append(item)
            done.add(item.row)
            size += payload_bytes + 1  # with its comma
        if batch:
            self.open_batches[asset_id] = (batch, size)
        else:  # nothing was added to a batch that was empty
            del self.open_batches[asset_id]

    def _flush(self, asset_id: str) -> None:
        # The batch stays in open_batches until it is in flight: an exception raised while waiting for
        # room (an execution_timeout's, say) finds it there and fails its rows instead of losing them.
        items = self.open_batches.get(asset_id, ([], 0))[0]
        while items and len(self.inflight) >= 2 * self.delivery.concurrency and not self.stop.is_set():
            self._collect(wait(self.inflight, timeout=1.0, return_when=FIRST_COMPLETED).done)
        if not items or self.aborted or self.stop.is_set():
            self.open_batches.pop(asset_id, None)
            self._fail_items(items, self._not_sent_reason())
            return
        self.report.batches += 1
        self.inflight[self.pool.submit(self.batch_fn, self.client, asset_id, items)] = items
        del self.open_batches[asset_id]

    def _not_sent_reason(self) -> str:
        if not self.aborted or (self.stop.is_set() and not self.aborted.startswith(("auth_error", "request_"))):
            return INTERRUPTED
        return NOT_SENT_REFUSED if self.aborted.startswith("request_refused") else NOT_SENT

    def _settle(self, grace_s: float | None) -> None:
        """Wait for the batches in flight; past ``grace_s`` the unsettled ones are failed."""
        deadline = None if grace_s is None else time.monotonic() + grace_s
        while self.inflight:
            if self.stop.is_set() and deadline is None:
                deadline = time.monotonic() + STOP_GRACE_S
            timeout = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic()))
            self._collect(wait(self.inflight, timeout=timeout, return_when=FIRST_COMPLETED).done)
            if deadline is not None and time.monotonic() >= deadline:
                for future, items in list(self.inflight.items()):
                    if not future.cancel():  # running: its request was made, its outcome is unknown
                        self.report.requests += 1
                    self._fail_items(items, INTERRUPTED)
                self.inflight.clear()

    def _interrupted(self, why: str) -> None:
        """An exception ends the run: settle what is in flight briefly, fail everything unsent."""
        self.stop.set()
        self.aborted = self.aborted or why
        while self.unaccounted:  # read, not yet (or only partly) accounted: failed
            frame, numbers, done = self.unaccounted.popleft()
            try:
                extras = self._extras(frame, numbers)
            except Exception:  # the values for the file are a courtesy; the rows are counted regardless
                extras = None
            for row in numbers:
                if not done or row not in done:
                    self._fail_row(row, INTERRUPTED, extras)
        in_flight = {id(items) for items in self.inflight.values()}
        for asset_id in list(self.open_batches):
            items, _ = self.open_batches.pop(asset_id)
            if id(items) not in in_flight:  # interrupted between submitting a batch and closing it
                self._fail_items(items, INTERRUPTED)
        try:
            self._settle(STOP_GRACE_S)
        except BaseException:  # a second interruption: account for the rest without waiting
            for items in self.inflight.values():
                self._fail_items(items, INTERRUPTED)
            self.inflight.clear()

    def _collect(self, done: Iterable[Future[BatchOutcome]]) -> None:
        for future in done:
            items = self.inflight.pop(future, None)
            if items is None:
                continue
            try:
                outcome = future.result()
            except SnapCapiAuthError as exc:
                self.aborted = self.aborted or f"auth_error: {exc}"
                self.report.requests += getattr(exc, "requests", 1)
                self._fail_items(items, "auth_error")
                continue
            except Exception as exc:  # a bug must not lose rows: account them and say what happened
                log.exception("Unexpected error while sending a batch")
                self._fail_items(items, f"internal_error: {type(exc).__name__}")
                continue
            self._fold(outcome)

    def _fold(self, outcome: BatchOutcome) -> None:
        report = self.report
        if outcome.fatal:
            self.aborted = self.aborted or outcome.fatal
        report.accepted += len(outcome.accepted)
        report.readiness.count([item.mask for item in outcome.accepted])
        report.requests += outcome.requests
        report.retries += outcome.retries
        for code, count in outcome.warnings.items():
            if (code.startswith("snap_warning: ") and code not in report.warnings
                    and sum(key.startswith("snap_warning: ") for key in report.warnings) >= MAX_WARNING_KEYS):
                code = OTHER_WARNINGS
            report.warn(code, count)
        for item, reason in outcome.rejected:
            self._reject(item.row, reason, None, item.extra)
        self._fail_items([item for item, _ in outcome.failed], None, [reason for _, reason in outcome.failed])

    # ------------------------------------------------------------------------------- outcomes

    def _reject(self, row: int, reason: str, extras: dict[int, dict[str, object]] | None,
                values: dict[str, object] | None = None) -> None:
        self.report.rejections.add(row, reason)
        if self.sink is not None:
            if values is None:
                values = (extras or {}).get(row)
            self.sink.write(row, "rejected", reason, values)

    def _fail_row(self, row: int, reason: str, extras: dict[int, dict[str, object]] | None) -> None:
        self._fail_items([BatchItem(row, b"", (extras or {}).get(row))], reason)

    def _fail_items(self, items: Sequence[BatchItem], reason: str | None,
                    reasons: Sequence[str] = ()) -> None:
        for i, item in enumerate(items):
            why = reason if reason is not None else reasons[i]
            self.report.failures.add(item.row, why)
            if self.sink is not None:
                self.sink.write(item.row, "failed", why, item.extra)


def _log_mapping(mapping: Mapping[str, str], columns: list[object], explicit: bool) -> None:
    """The fields and the columns they come from, and the columns not sent (names only, never values):
    where a column named unlike any field (``pn``, ``mobile``) was meant to be sent, the log says so."""
    mapped = set(mapping.values())
    unsent = [str(column) for column in columns if str(column) not in mapped]
    log.info("Snap fields from columns (%s): %s.%s", "field_mapping" if explicit else "by column name",
             ", ".join(f"{key} <- {column!r}" for key, column in mapping.items()),
             f" Columns not sent: {column_names(unsent)[1:-1]}." if unsent else "")
