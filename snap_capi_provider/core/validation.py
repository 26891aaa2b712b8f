"""Validate rows before going live (spec section 2): Snap's validate endpoint as a batch function.

Typed answers of the validate endpoint (v3 and v2), :func:`validate_batch`, which posts a batch there
and turns Snap's per-event verdicts into the send path's accounting, and :func:`validate_rows`, which
runs the very input, mapping and normalization of the send path
(:func:`~snap_capi_provider.core.pipeline.send_rows`) against the validate endpoint.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from snap_capi_provider.core.client import ApiResponse, SnapCapiClient, SnapCapiRetriesExhausted
from snap_capi_provider.core.delivery import (
    ACCEPTED_STATUSES,
    BatchItem,
    BatchOutcome,
    Part,
    RequestRefused,
    entry_is_valid,
    fail_refused,
    failure_reason,
    post_batch,
    release_deferred,
    settle_part,
    snap_reason,
)
from snap_capi_provider.core.pipeline import MAX_WARNING_KEYS, OTHER_WARNINGS, RowSink, send_rows
from snap_capi_provider.core.redact import scrub_pii
from snap_capi_provider.core.report import SendReport

EXAMPLES_PER_REASON = 10
"""The first row numbers kept as examples of each reason."""
LISTED_INVALID_ROWS = 1000
"""The first this many invalid row numbers are listed in a validation report (all are counted)."""



@dataclass(frozen=True)
class EventVerdict:
    """Snap's verdict on one posted event (by its index in the request)."""

    index: int
    valid: bool
    codes: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        """The reason an invalid event gets in reports: the same text the send path would give."""
        return snap_reason(self.messages[0] if self.messages else (self.codes[0] if self.codes else ""))


@dataclass(frozen=True)
class ValidateResponse:
    """A validate endpoint answer: overall status and, when Snap gave them, per-event verdicts.

    v3 answers with ``event_logs``; a v2 answer's ``error_records`` (``record_indexes``) name the
    invalid events, the others are valid.
    """

    status: str
    reason: str
    test_event: bool
    verdicts: tuple[EventVerdict, ...]

    @property
    def ok(self) -> bool:
        return self.status in ACCEPTED_STATUSES

    def covers(self, n_events: int) -> bool:
        """Whether there is exactly one verdict for each of ``n_events`` posted events."""
        return sorted(v.index for v in self.verdicts) == list(range(n_events))

    @classmethod
    def parse(cls, body: Any, n_events: int) -> ValidateResponse:
        if not isinstance(body, dict):
            return cls("", "", False, ())
        status = str(body.get("status") or "").upper()
        verdicts: dict[int, EventVerdict] = {}
        for entry in body.get("event_logs") or ():
            verdict = _verdict(entry, n_events)
            if verdict is not None:
                verdicts.setdefault(verdict.index, verdict)
        if not verdicts and isinstance(body.get("error_records"), list) and body["error_records"]:
            for record in body["error_records"]:
                if not isinstance(record, dict):
                    continue
                message = str(record.get("reason") or "")
                for index in record.get("record_indexes") or ():
                    if _index(index, n_events) is not None and index not in verdicts:
                        verdicts[index] = EventVerdict(index, False, messages=(message,))
            if verdicts:
                for index in range(n_events):
                    verdicts.setdefault(index, EventVerdict(index, True))
        return cls(status, str(body.get("reason") or ""), bool(body.get("test_event")),
                   tuple(verdicts[i] for i in sorted(verdicts)))


def _index(value: Any, n_events: int) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < n_events:
        return value
    return None


def _verdict(entry: Any, n_events: int) -> EventVerdict | None:
    if not isinstance(entry, dict):
        return None
    index = _index(entry.get("event"), n_events)
    if index is None:
        return None
    errors = entry.get("errors") if isinstance(entry.get("errors"), dict) else {}
    codes = tuple(str(code) for code in errors.get("codes") or ())
    messages = tuple(str(message) for message in errors.get("error_msgs") or ())
    warnings = tuple(str(warning) for warning in entry.get("warnings") or ())
    return EventVerdict(index, entry_is_valid(entry), codes, messages, warnings)


def validate_batch(client: SnapCapiClient, asset_id: str, items: Sequence[BatchItem]) -> BatchOutcome:
    """Post ``items`` to the validate endpoint; each ends valid (``accepted``), invalid (``rejected``
    with Snap's reason) or ``failed`` (no verdict after retries). A ``batch_fn`` for ``send_rows``.

    Per-event verdicts are used when Snap gives one for every event; any other answer is settled as
    the send path settles it (the index Snap names, v2 ``record_indexes``, else bisection).
    """
    outcome = BatchOutcome()
    pending: list[Part] = [Part(list(items), validated=True)] if items else []
    while pending:
        part = pending.pop()
        split = part.split
        try:
            response = post_batch(client, asset_id, part.items, outcome, validate=True)
            if not _settle_verdicts(response, part.items, outcome):
                settle_part(response, part, pending, outcome, client.api_version, sent=False)
        except SnapCapiRetriesExhausted as exc:
            outcome.failed.extend((item, failure_reason(str(exc))) for item in part.items)
        except RequestRefused as exc:  # a bad pixel id, say: once, not bisected down to every event
            fail_refused(exc, part, pending, outcome)
            break
        release_deferred(split, part, None, asset_id, pending, outcome)
    return outcome


def _settle_verdicts(response: ApiResponse, part: list[BatchItem], outcome: BatchOutcome) -> bool:
    if not response.ok:
        return False
    parsed = ValidateResponse.parse(response.body, len(part))
    if not parsed.covers(len(part)):
        return False
    for verdict in parsed.verdicts:
        item = part[verdict.index]
        if verdict.valid:
            outcome.accepted.append(item)
        else:
            outcome.rejected.append((item, verdict.reason))
        for warning in verdict.warnings:
            code = "snap_warning: " + scrub_pii(" ".join(warning.split()))[:160]
            if code not in outcome.warnings and len(outcome.warnings) >= MAX_WARNING_KEYS:
                code = OTHER_WARNINGS
            outcome.warnings[code] = outcome.warnings.get(code, 0) + 1
    return True


# ------------------------------------------------------------------------------------ validate rows


class VerdictCollector:
    """A :class:`~snap_capi_provider.core.pipeline.RowSink` that keeps the first row numbers of invalid
    and failed rows (never values), passing every row on to an optional inner sink (a rejected-rows file)."""

    def __init__(self, inner: RowSink | None = None, listed: int = LISTED_INVALID_ROWS) -> None:
        self.inner = inner
        self.listed = listed
        self.invalid_rows: list[int] = []
        self.examples: dict[str, list[int]] = {}
        self.failed_examples: dict[str, list[int]] = {}

    def write(self, row: int, status: str, reason: str, values: Mapping[str, object] | None) -> None:
        if status == "rejected":
            _keep_first(self.invalid_rows, row, self.listed)
            _keep_first(self.examples.setdefault(reason, []), row, EXAMPLES_PER_REASON)
        else:
            _keep_first(self.failed_examples.setdefault(reason, []), row, EXAMPLES_PER_REASON)
        if self.inner is not None:
            self.inner.write(row, status, reason, values)


def _keep_first(rows: list[int], row: int, limit: int) -> None:
    """Keep the ``limit`` smallest row numbers, sorted (verdicts arrive in any order)."""
    if len(rows) < limit:
        bisect.insort(rows, row)
    elif limit and row < rows[-1]:
        rows.pop()
        bisect.insort(rows, row)


@dataclass
class ValidationReport:
    """Verdicts on every input row: ``rows == valid + invalid + failed``.

    Invalid rows are those the provider rejected before sending (with its reason, e.g.
    ``invalid_email``) and those Snap's validate endpoint found invalid (``snap_rejected: ...``).
    Failed rows got no verdict (retries exhausted, token refused). Row numbers count from 0 in input
    order; no value of a row is ever kept.
    """

    api_version: str
    rows: int
    valid: int
    invalid: int
    failed: int
    errors: dict[str, int]
    examples: dict[str, list[int]]
    invalid_rows: list[int]
    warnings: dict[str, int]
    failures: dict[str, int]
    failure_examples: dict[str, list[int]]
    requests: int
    duration_s: float
    started_at: int
    sample_size: int | None = None
    error: str | None = None
    match_readiness: dict[str, Any] = field(default_factory=dict)

    @property
    def invalid_rows_complete(self) -> bool:
        return len(self.invalid_rows) == self.invalid

    @classmethod
    def build(cls, report: SendReport, verdicts: VerdictCollector, started_at: float,
              sample_size: int | None = None) -> ValidationReport:
        errors = dict(sorted(report.rejections.by_reason.items(), key=lambda kv: (-kv[1], kv[0])))
        return cls(
            api_version=report.api_version,
            rows=report.rows,
            valid=report.accepted,
            invalid=report.rejected,
            failed=report.failed,
            errors=errors,
            examples={reason: list(verdicts.examples.get(reason, [])) for reason in errors},
            invalid_rows=list(verdicts.invalid_rows),
            warnings=dict(sorted(report.warnings.items())),
            failures=dict(report.failures.by_reason),
            failure_examples={reason: list(rows) for reason, rows in verdicts.failed_examples.items()},
            requests=report.requests,
            duration_s=report.duration_s,
            started_at=math.floor(started_at),
            sample_size=sample_size,
            error=report.error,
            match_readiness=report.readiness.to_dict(),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-native dict for XCom."""
        out = asdict(self)
        out["duration_s"] = round(self.duration_s, 3)
        out["invalid_rows_complete"] = self.invalid_rows_complete
        out["started_at_iso"] = dt.datetime.fromtimestamp(self.started_at, dt.timezone.utc).isoformat()
        return out


def head_rows(chunks: Iterable[pd.DataFrame], limit: int) -> Iterator[pd.DataFrame]:
    """The first ``limit`` rows of a stream of chunks; the rest of the stream is never read."""
    if limit < 0:
        raise ValueError(f"sample_size must be at least 0, not {limit}.")
    left = limit
    if left == 0:
        return
    for frame in chunks:
        if len(frame) >= left:
            yield frame.iloc[:left]
            return
        left -= len(frame)
        yield frame


def validate_rows(
    client: SnapCapiClient,
    chunks: Iterable[pd.DataFrame],
    *,
    sink: RowSink | None = None,
    sample_size: int | None = None,
    **options: Any,
) -> ValidationReport:
    """Prepare rows exactly as :func:`send_rows` does and post them to the validate endpoint;
    ``options`` are the keyword arguments of :func:`send_rows` (``assets``, ``field_mapping``, ...).

    Nothing is recorded as live; the events count as test events in Snap's stats and logs.
    """
    started_at = time.time()
    verdicts = VerdictCollector(sink)
    if sample_size is not None:
        chunks = head_rows(chunks, sample_size)
    report = send_rows(client, chunks, sink=verdicts, batch_fn=validate_batch, **options)
    return ValidationReport.build(report, verdicts, started_at, sample_size)


