"""Deliver one batch and account for every event in it.

A batch ends with each event accepted, rejected by Snap with a reason, or failed (not delivered
after retries). A 400 or an INVALID answer is narrowed down to the bad events (the index Snap names,
v2's ``record_indexes``, else bisection) and the good events are sent again: they carry stable
``event_id``s, so Snap deduplicates any that it had already kept.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from snap_capi_provider.core.client import (
    ApiResponse,
    SnapCapiAuthError,
    SnapCapiClient,
    SnapCapiRetriesExhausted,
)

_AUTH_HINTS = ("access token", "access_token", "unauthorized", "authentication", "oauth")


@dataclass
class BatchItem:
    """One serialized event and the input row it came from."""

    row: int
    payload: bytes
    extra: dict[str, object] | None = None


@dataclass
class BatchOutcome:
    accepted: list[BatchItem] = field(default_factory=list)
    rejected: list[tuple[BatchItem, str]] = field(default_factory=list)
    failed: list[tuple[BatchItem, str]] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    warnings: dict[str, int] = field(default_factory=dict)


def encode_body(items: Sequence[BatchItem], api_version: str) -> bytes:
    joined = b",".join(item.payload for item in items)
    return b"[" + joined + b"]" if api_version == "v2" else b'{"data":[' + joined + b"]}"


def deliver(client: SnapCapiClient, asset_id: str, items: Sequence[BatchItem]) -> BatchOutcome:
    """Send ``items`` to the events endpoint until every one is accepted, rejected or failed.

    Raises :class:`SnapCapiAuthError` (the token was refused): the caller stops the run.
    """
    outcome = BatchOutcome()
    pending: list[list[BatchItem]] = [list(items)]
    while pending:
        part = pending.pop()
        try:
            response = client.post_events(asset_id, encode_body(part, client.api_version), n_events=len(part))
        except SnapCapiRetriesExhausted as exc:
            outcome.requests += exc.retries + 1
            outcome.retries += exc.retries
            outcome.failed.extend((item, _failure_reason(str(exc))) for item in part)
            continue
        outcome.requests += response.retries + 1
        outcome.retries += response.retries
        _settle(response, part, pending, outcome, client.api_version)
    return outcome


def _settle(response: ApiResponse, part: list[BatchItem], pending: list[list[BatchItem]],
            outcome: BatchOutcome, api_version: str) -> None:
    body = response.body if isinstance(response.body, dict) else None
    status = str(body.get("status", "")).upper() if body else ""
    if response.ok and status in ("VALID", "SUCCESS"):
        outcome.accepted.extend(part)
        return
    if response.ok and body is None:
        # Delivery is uncertain: neither success nor a verdict. Not retried blindly (mistake 12);
        # reported as failed so the rows can be re-sent (their event_ids make that safe).
        outcome.failed.extend((item, "unexpected_response") for item in part)
        return
    if response.status_code == 413:
        if len(part) == 1:
            outcome.rejected.append((part[0], "event_too_large"))
        else:
            pending.extend(_halves(part))
        return
    if response.ok or response.status_code == 400:
        if response.status_code == 400 and _looks_like_auth(body, response.text):
            raise SnapCapiAuthError(f"Snap CAPI refused the request as unauthorized (HTTP 400): {_message(body)}")
        if api_version == "v2" and body is not None:
            _settle_v2(response, body, part, pending, outcome)
        else:
            _narrow(body, part, pending, outcome)
        return
    outcome.failed.extend((item, f"http_{response.status_code}") for item in part)


def _settle_v2(response: ApiResponse, body: dict, part: list[BatchItem], pending: list[list[BatchItem]],
               outcome: BatchOutcome) -> None:
    named: dict[int, str] = {}
    for record in body.get("error_records") or []:
        if not isinstance(record, dict):
            continue
        for index in record.get("record_indexes") or []:
            if isinstance(index, int) and 0 <= index < len(part):
                named.setdefault(index, _snap_reason(record.get("reason")))
    if not named:
        _narrow(body, part, pending, outcome)
        return
    rest = [item for i, item in enumerate(part) if i not in named]
    outcome.rejected.extend((part[i], reason) for i, reason in sorted(named.items()))
    if response.ok:
        outcome.accepted.extend(rest)  # v2 partial success: the others were recorded
    elif rest:
        pending.append(rest)


def _narrow(body: dict | None, part: list[BatchItem], pending: list[list[BatchItem]],
            outcome: BatchOutcome) -> None:
    reason = _snap_reason(_message(body))
    if len(part) == 1:
        outcome.rejected.append((part[0], reason))
        return
    index = body.get("event") if body else None
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(part):
        outcome.rejected.append((part[index], reason))
        rest = part[:index] + part[index + 1:]
        if rest:
            pending.append(rest)
        return
    pending.extend(_halves(part))


def _halves(part: list[BatchItem]) -> list[list[BatchItem]]:
    middle = len(part) // 2
    return [part[middle:], part[:middle]]


def _message(body: dict | None) -> str:
    if not body:
        return ""
    errors = body.get("errors")
    if isinstance(errors, dict):
        messages = errors.get("error_msgs") or errors.get("messages")
        if isinstance(messages, list) and messages:
            return str(messages[0])
    return str(body.get("reason") or "")


def _snap_reason(message: object) -> str:
    text = " ".join(str(message or "").split())[:160]
    return f"snap_rejected: {text}" if text else "snap_rejected"


def _failure_reason(message: str) -> str:
    return "retries_exhausted: " + message.rsplit(": ", 1)[-1]


def _looks_like_auth(body: dict | None, text: str) -> bool:
    message = (_message(body) or text or "").lower()
    return any(hint in message for hint in _AUTH_HINTS)


def parse_json(data: bytes) -> object:
    return json.loads(data)
