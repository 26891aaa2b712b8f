"""The send path: DataFrame chunks in, concurrent batches out, a report folded as it goes.

Memory stays bounded: one chunk is prepared at a time and at most ``2 * concurrency`` batches are
in flight, so millions of rows stream through with the footprint of a few chunks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Protocol

import orjson
import pandas as pd

from snap_capi_provider.core.client import SnapCapiAuthError, SnapCapiClient
from snap_capi_provider.core.delivery import BatchItem, BatchOutcome, deliver
from snap_capi_provider.core.events import (
    EventChunk,
    EventOptions,
    MappingError,
    build_events,
    resolve_mapping,
)
from snap_capi_provider.core.report import SendReport
from snap_capi_provider.core.wire import encode_v2, encode_v3

log = logging.getLogger(__name__)

MAX_EVENTS_PER_REQUEST = 2000
DEFAULT_MAX_BATCH_BYTES = 2_000_000
NOT_SENT = "not_sent_after_auth_error"
"""Reason of the rows left unsent once the token was refused (the run stops sending)."""


@dataclass(frozen=True)
class Assets:
    """Where events go: WEB and OFFLINE to the pixel, MOBILE_APP to the Snap app (v2 also needs app_id)."""

    pixel_id: str | None = None
    snap_app_id: str | None = None
    app_id: str | None = None

    def for_source(self, action_source: str) -> str | None:
        return self.snap_app_id if action_source == "MOBILE_APP" else self.pixel_id


@dataclass(frozen=True)
class DeliveryOptions:
    batch_size: int = MAX_EVENTS_PER_REQUEST
    max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES
    concurrency: int = 4
    dedupe_event_ids: bool = True
    """Reject a repeated ``event_id`` within one run (Snap would drop it anyway)."""

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_EVENTS_PER_REQUEST:
            raise ValueError(f"batch_size must be between 1 and {MAX_EVENTS_PER_REQUEST}, "
                             f"not {self.batch_size}.")
        if self.max_batch_bytes < 1024:
            raise ValueError("max_batch_bytes must be at least 1024.")
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1.")


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
    batch_fn: Callable[[SnapCapiClient, str, Sequence[BatchItem]], BatchOutcome] = deliver,
) -> SendReport:
    """Send every row of ``chunks``; returns the report (``rows == accepted + rejected + failed``).

    Raises :class:`MappingError` before sending anything when the mapping does not fit the columns.
    """
    run = _Run(client, assets, event_options or EventOptions(), delivery or DeliveryOptions(), sink,
               tuple(sink_columns), batch_fn)
    return run.execute(chunks, field_mapping)


class _Run:
    def __init__(self, client: SnapCapiClient, assets: Assets, options: EventOptions,
                 delivery: DeliveryOptions, sink: RowSink | None, sink_columns: tuple[str, ...],
                 batch_fn: Callable[[SnapCapiClient, str, Sequence[BatchItem]], BatchOutcome]):
        self.client, self.assets, self.options, self.delivery = client, assets, options, delivery
        self.sink, self.sink_columns, self.batch_fn = sink, sink_columns, batch_fn
        self.report = SendReport(api_version=client.api_version)
        self.open_batches: dict[str, tuple[list[BatchItem], int]] = {}
        self.seen_ids: dict[str, set[str]] = {}
        self.inflight: dict[Future[BatchOutcome], list[BatchItem]] = {}
        self.aborted: str | None = None

    def execute(self, chunks: Iterable[pd.DataFrame], field_mapping: Mapping[str, str] | None) -> SendReport:
        started = time.monotonic()
        mapping: dict[str, str] | None = None
        with ThreadPoolExecutor(self.delivery.concurrency, thread_name_prefix="snap-capi") as pool:
            self.pool = pool
            try:
                for frame in chunks:
                    first_row = self.report.rows
                    self.report.rows += len(frame)
                    if mapping is None:
                        mapping = resolve_mapping(list(frame.columns), field_mapping)
                        self._check_columns(frame)
                    if self.aborted:
                        self._fail_unsent(frame, first_row)
                        continue
                    self._prepare(frame, mapping, first_row)
                for asset_id in list(self.open_batches):
                    self._flush(asset_id)
                while self.inflight:
                    self._collect(wait(self.inflight, return_when=FIRST_COMPLETED).done)
            except BaseException:
                for future in self.inflight:
                    future.cancel()
                raise
        self.report.duration_s = time.monotonic() - started
        if self.aborted:
            self.report.error = self.aborted
        return self.report

    def _check_columns(self, frame: pd.DataFrame) -> None:
        missing = [c for c in (*self.options.event_id_columns, *self.sink_columns) if c not in frame.columns]
        if missing:
            raise MappingError(f"Column(s) {missing} are not in the input; "
                               f"available columns: {list(frame.columns)[:50]}.")

    # ------------------------------------------------------------------------------ preparing

    def _prepare(self, frame: pd.DataFrame, mapping: dict[str, str], first_row: int) -> None:
        # A later chunk of dict rows may lack a column that no row of it has: its values are absent.
        absent = [c for c in {*mapping.values(), *self.options.event_id_columns, *self.sink_columns}
                  if c not in frame.columns]
        if absent:
            frame = frame.assign(**dict.fromkeys(absent))
        result = build_events(frame, mapping, self.options, first_row)
        extras = self._extras(frame, first_row)
        for row, reason in result.rejected:
            self._reject(row, reason, extras)
        for code, count in result.warnings.items():
            self.report.warn(code, count)
        chunk = result.events
        if not len(chunk):
            return
        by_asset: dict[str, list[int]] = {}
        for i, source in enumerate(chunk.plain["action_source"]):
            asset_id = self.assets.for_source(str(source))
            missing = self._missing_asset(str(source), asset_id)
            if missing:
                self._reject(chunk.rows[i], missing, extras)
                continue
            if self.delivery.dedupe_event_ids:
                seen = self.seen_ids.setdefault(asset_id, set())
                if chunk.event_ids[i] in seen:
                    self._reject(chunk.rows[i], "duplicate_event_id", extras)
                    continue
                seen.add(chunk.event_ids[i])
            by_asset.setdefault(asset_id, []).append(i)
        for asset_id, positions in by_asset.items():
            events = self._encode(_take(chunk, positions), asset_id)
            for position, event in zip(positions, events, strict=True):
                row = chunk.rows[position]
                try:
                    payload = orjson.dumps(event)
                except orjson.JSONEncodeError:  # a value no JSON can carry: that row, not the run
                    self._reject(row, "unencodable_event", extras)
                    continue
                self._add(asset_id, BatchItem(row, payload, extras.get(row) if extras else None))

    def _missing_asset(self, source: str, asset_id: str | None) -> str | None:
        if source != "MOBILE_APP":
            return None if asset_id else "missing_pixel_id"
        if not asset_id:
            return "missing_snap_app_id"
        if self.client.api_version == "v2" and not self.assets.app_id:
            return "missing_app_id"  # v2 app events carry the store app id beside the Snap app id
        return None

    def _encode(self, chunk: EventChunk, asset_id: str) -> list[dict[str, object]]:
        if self.client.api_version == "v2":
            if asset_id == self.assets.pixel_id:
                asset = {"pixel_id": asset_id}
            else:
                asset = {"snap_app_id": asset_id, "app_id": str(self.assets.app_id)}
            return encode_v2(chunk, asset)
        return encode_v3(chunk, frozenset({"madid"}) if self.options.hash_madid else frozenset())

    def _extras(self, frame: pd.DataFrame, first_row: int) -> dict[int, dict[str, object]] | None:
        if self.sink is None or not self.sink_columns:
            return None
        records = frame[list(self.sink_columns)].to_dict("records")
        return {first_row + i: record for i, record in enumerate(records)}

    # ------------------------------------------------------------------------------- batching

    def _add(self, asset_id: str, item: BatchItem) -> None:
        if len(item.payload) + 16 > self.delivery.max_batch_bytes:
            self._reject(item.row, "event_too_large", None, item.extra)
            return
        items, size = self.open_batches.get(asset_id, ([], 16))
        if items and (len(items) >= self.delivery.batch_size
                      or size + len(item.payload) + 1 > self.delivery.max_batch_bytes):
            self._flush(asset_id)
            items, size = [], 16
        items.append(item)
        self.open_batches[asset_id] = (items, size + len(item.payload) + 1)

    def _flush(self, asset_id: str) -> None:
        items, _ = self.open_batches.pop(asset_id, ([], 0))
        if not items:
            return
        if self.aborted:
            self._fail_items(items, NOT_SENT)
            return
        while len(self.inflight) >= 2 * self.delivery.concurrency:
            self._collect(wait(self.inflight, return_when=FIRST_COMPLETED).done)
        if self.aborted:  # the run stopped while this batch waited for a free slot
            self._fail_items(items, NOT_SENT)
            return
        self.report.batches += 1
        self.inflight[self.pool.submit(self.batch_fn, self.client, asset_id, items)] = items

    def _collect(self, done: Iterable[Future[BatchOutcome]]) -> None:
        for future in done:
            items = self.inflight.pop(future)
            try:
                outcome = future.result()
            except SnapCapiAuthError as exc:
                self.aborted = self.aborted or f"auth_error: {exc}"
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
        report.requests += outcome.requests
        report.retries += outcome.retries
        for code, count in outcome.warnings.items():
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

    def _fail_items(self, items: Sequence[BatchItem], reason: str | None,
                    reasons: Sequence[str] = ()) -> None:
        for i, item in enumerate(items):
            why = reason if reason is not None else reasons[i]
            self.report.failures.add(item.row, why)
            if self.sink is not None:
                self.sink.write(item.row, "failed", why, item.extra)

    def _fail_unsent(self, frame: pd.DataFrame, first_row: int) -> None:
        extras = self._extras(frame, first_row)
        for row in range(first_row, first_row + len(frame)):
            self._fail_items([BatchItem(row, b"", (extras or {}).get(row))], NOT_SENT)


def _take(chunk: EventChunk, positions: list[int]) -> EventChunk:
    if len(positions) == len(chunk):
        return chunk
    return EventChunk(
        rows=[chunk.rows[i] for i in positions],
        plain={key: [values[i] for i in positions] for key, values in chunk.plain.items()},
        digests={key: [values[i] for i in positions] for key, values in chunk.digests.items()},
        event_ids=[chunk.event_ids[i] for i in positions],
    )
