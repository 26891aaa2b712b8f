"""Deliver one batch and account for every event in it.

A batch ends with each event accepted, rejected by Snap with a reason, or failed (not known to be
delivered). What an answer means:

============================================  ==============================================================
answer                                        outcome
============================================  ==============================================================
2xx, status ``VALID`` / ``SUCCESS``           every event accepted
v2 ``error_records`` (200 PARTIAL or 400)     the named events rejected; on a 2xx the others were recorded
                                              (accepted), on a 400 they are sent again
400, or 2xx with status ``INVALID`` /         refused because of some events: narrowed down (below); a single
``FAILED`` / ``PARTIAL``                      event with such an answer is rejected with Snap's reason; a
                                              refusal naming no event that the request itself earns
                                              (``request_refused``) fails the batch and stops the run
2xx with any other body (not JSON, not an     delivery unconfirmed: *not* retried, every event failed as
object, unknown status: a "garbage 200"),     ``unconfirmed_response`` so the task fails and the rows are
or whose body breaks off                      written out for a re-send (safe: stable ``event_id``)
413                                           halves; one event alone too large is rejected
401 / 403, or a 400 about the token           :class:`SnapCapiAuthError`: the caller stops the run
408 / 429 / 5xx / timeout / dropped           retried by the client; when retries run out every event
connection                                    failed as ``retries_exhausted: <last error>``
any other status (a 3xx too: redirects are     every event failed as ``http_<status>``
not followed)
============================================  ==============================================================

Narrowing never sends a refused request unchanged: the index Snap names (v3 ``event``) is rejected
and the rest sent again; when no index is given, or a second one would be needed, the part is
checked once on the validate endpoint (per-event verdicts, nothing recorded as live) and the events
it calls invalid are rejected; otherwise the part is bisected. The request itself is at fault, not
its events, when a 400 naming no event comes back while the validate endpoint calls every event
valid (or refuses alike), or when both halves of the first bisection are refused with the first
answer's message and no event named (a 400 or a 2xx ``INVALID``). Re-sent events carry the same
``event_id``, so Snap deduplicates any it had already kept (a partial-accepting server).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from snap_capi_provider.core.client import (
    ApiResponse,
    SnapCapiAuthError,
    SnapCapiClient,
    SnapCapiRetriesExhausted,
    is_token_message,
)
from snap_capi_provider.core.redact import scrub_pii

ACCEPTED_STATUSES = frozenset({"VALID", "SUCCESS"})
"""Statuses of a successful answer from v2 (``SUCCESS``) or a validate endpoint; v3 send answers ``VALID``."""
_SEND_ACCEPTED = {"v3": frozenset({"VALID"}), "v2": ACCEPTED_STATUSES}
NEGATIVE_STATUSES = frozenset({"INVALID", "FAILED", "PARTIAL"})
UNCONFIRMED = "unconfirmed_response"


@dataclass(slots=True)
class BatchItem:
    """One serialized event and the input row it came from."""

    row: int
    payload: bytes
    extra: dict[str, object] | None = None
    mask: int = 0
    """Identifier bit mask of the event (:mod:`snap_capi_provider.core.readiness`)."""


@dataclass
class BatchOutcome:
    accepted: list[BatchItem] = field(default_factory=list)
    rejected: list[tuple[BatchItem, str]] = field(default_factory=list)
    failed: list[tuple[BatchItem, str]] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    warnings: dict[str, int] = field(default_factory=dict)
    fatal: str | None = None
    """Set when the token was refused mid-batch: the events not settled by then are failed, and the
    caller stops the run."""

    def warn(self, code: str) -> None:
        self.warnings[code] = self.warnings.get(code, 0) + 1


REQUEST_REFUSED = "request_refused"
"""Reason of the events of a batch refused as a whole (an error about the request, naming no event)."""


class RequestRefused(Exception):
    """A 400 about the request itself (a bad pixel id, a malformed request): every batch would get it."""


@dataclass
class _Split:
    """The two halves of the first bisection of a refused batch, and the message that refused it."""

    message: str
    deferred: tuple[dict | None, Part] | None = None
    """The first half, refused with the same message, waiting for its sibling's answer."""


@dataclass
class Part:
    """Events still to be sent together, and how they were narrowed so far."""

    items: list[BatchItem]
    validated: bool = False
    """Already checked on the validate endpoint (done at most once per batch lineage)."""
    indexed: int = 0
    """Times an index named by Snap was rejected on the way to this part."""
    split: _Split | None = None
    """Set on the halves of a batch's first bisection: both refused alike means the request is at fault."""
    bisected: bool = False


def encode_body(items: Sequence[BatchItem], api_version: str) -> bytes:
    joined = b",".join(item.payload for item in items)
    return b"[" + joined + b"]" if api_version == "v2" else b'{"data":[' + joined + b"]}"


def deliver(client: SnapCapiClient, asset_id: str, items: Sequence[BatchItem]) -> BatchOutcome:
    """Send ``items`` to the events endpoint until every one is accepted, rejected or failed.

    When the token is refused the events settled so far keep their outcome, the others are failed
    as ``auth_error`` and :attr:`BatchOutcome.fatal` tells the caller to stop the run.
    """
    outcome = BatchOutcome()
    pending: list[Part] = [Part(list(items))] if items else []
    while pending:
        part = pending.pop()
        split = part.split
        try:
            response = post_batch(client, asset_id, part.items, outcome, validate=False)
            settle_part(response, part, pending, outcome, client.api_version, client, asset_id)
            release_deferred(split, part, client, asset_id, pending, outcome)
        except SnapCapiRetriesExhausted as exc:
            outcome.failed.extend((item, failure_reason(str(exc))) for item in part.items)
            release_deferred(split, part, client, asset_id, pending, outcome)
        except SnapCapiAuthError as exc:
            outcome.fatal = f"auth_error: {exc}"
            fail_unsettled(part, pending, outcome, "auth_error")
            break
        except RequestRefused as exc:
            fail_refused(exc, part, pending, outcome)
            break
    return outcome


def fail_refused(exc: RequestRefused, part: Part, pending: list[Part], outcome: BatchOutcome) -> None:
    """Not the events' fault: no row is rejected, every one not settled is failed with Snap's message
    (re-sendable once the request is fixed) and the run stops instead of sending every batch to the
    same end."""
    outcome.fatal = f"{REQUEST_REFUSED}: Snap refused the request as a whole (no event named): {exc}"
    fail_unsettled(part, pending, outcome, f"{REQUEST_REFUSED}: {exc}")


def fail_unsettled(part: Part, pending: list[Part], outcome: BatchOutcome, reason: str) -> None:
    """Fail ``part``, every part still to send and any half held back while its sibling was sent."""
    for unsettled in (part, *pending):
        outcome.failed.extend((item, reason) for item in unsettled.items)
        if unsettled.split is not None and unsettled.split.deferred is not None:
            outcome.failed.extend((item, reason) for item in unsettled.split.deferred[1].items)
            unsettled.split.deferred = None
    pending.clear()


def settle_response(response: ApiResponse, items: list[BatchItem], pending: list[list[BatchItem]],
                    outcome: BatchOutcome, api_version: str) -> None:
    """Settle one answer for ``items`` as :func:`deliver` does, without the validate step: events are
    added to ``outcome``; parts still to be sent go to ``pending``."""
    parts: list[Part] = []
    settle_part(response, Part(list(items), validated=True), parts, outcome, api_version)
    pending.extend(part.items for part in parts)


def post_batch(client: SnapCapiClient, asset_id: str, items: Sequence[BatchItem], outcome: BatchOutcome,
               *, validate: bool) -> ApiResponse:
    """Post ``items`` (to the validate endpoint with ``validate``), counting requests and retries in
    ``outcome`` also when the retries run out."""
    body = encode_body(items, client.api_version)
    try:
        response = client.post_events(asset_id, body, validate=validate, n_events=len(items))
    except SnapCapiRetriesExhausted as exc:
        outcome.requests += exc.retries + 1
        outcome.retries += exc.retries
        raise
    except SnapCapiAuthError as exc:  # the refused request (401/403) counts too
        made = getattr(exc, "requests", 1)
        outcome.requests += made
        outcome.retries += made - 1
        raise
    outcome.requests += response.retries + 1
    outcome.retries += response.retries
    return response


def settle_part(response: ApiResponse, part: Part, pending: list[Part], outcome: BatchOutcome,
                 api_version: str, client: SnapCapiClient | None = None, asset_id: str = "",
                 *, sent: bool = True) -> None:
    """Settle one answer for ``part``: ``sent`` for the send endpoint (where v3 success is ``VALID``
    alone: a 2xx with any other status is not success), False for the validate endpoint."""
    body = response.body if isinstance(response.body, dict) else None
    status = str(body.get("status") or "").upper() if body else ""
    accepted = _SEND_ACCEPTED.get(api_version, ACCEPTED_STATUSES) if sent else ACCEPTED_STATUSES
    code = response.status_code
    refused = code == 400 or (response.ok and status in NEGATIVE_STATUSES)
    if refused and _looks_like_auth(body, response.text):
        raise SnapCapiAuthError(f"Snap CAPI refused the request as unauthorized (HTTP {code}): "
                                f"{snap_reason(_message(body))}")
    if api_version == "v2" and body is not None and (refused or status in accepted):
        named = _v2_named(body, len(part.items))
        if named:
            rest = [item for i, item in enumerate(part.items) if i not in named]
            outcome.rejected.extend((part.items[i], reason) for i, reason in sorted(named.items()))
            if response.ok and status in accepted | {"PARTIAL"}:
                outcome.accepted.extend(rest)  # v2 partial success: the others were recorded
            elif rest:
                pending.append(Part(rest, part.validated, part.indexed + 1))
            return
    if response.ok and status in accepted:
        outcome.accepted.extend(part.items)
    elif refused:
        _narrow(client, asset_id, body, part, pending, outcome, code)
    elif code == 413:
        if len(part.items) == 1:
            outcome.rejected.append((part.items[0], "event_too_large"))
        else:
            pending.extend(_halves(part))
    elif response.ok:
        # Neither success nor a verdict. It may have been recorded, so it is not retried blindly
        # (mistake 12); the rows are reported failed and can be re-sent safely (stable event_ids).
        detail = ("a JSON object without a known status" if body is not None
                  else "a body that is not a JSON object")
        outcome.failed.extend((item, f"{UNCONFIRMED}: HTTP {code} with {detail}") for item in part.items)
        outcome.warn(UNCONFIRMED)
    else:
        outcome.failed.extend((item, f"http_{code}") for item in part.items)


def _narrow(client: SnapCapiClient | None, asset_id: str, body: dict | None, part: Part,
            pending: list[Part], outcome: BatchOutcome, code: int = 400) -> None:
    items = part.items
    reason = snap_reason(_message(body))
    index = body.get("event") if body else None
    if not (isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(items)):
        index = None
    split = part.split
    if split is not None and index is None and reason == split.message:
        if split.deferred is None and any(p.split is split for p in pending):
            split.deferred = (body, part)  # wait for the sibling: both refused alike = the request's fault
            return
        if split.deferred is not None:
            raise RequestRefused(_plain_reason(reason))
    part.split = None
    if len(items) == 1:
        outcome.rejected.append((items[0], reason))
        return
    if index is not None and (part.indexed == 0 or part.validated):
        outcome.rejected.append((items[index], reason))
        pending.append(Part(items[:index] + items[index + 1:], part.validated, part.indexed + 1, bisected=True))
        return
    if not part.validated and client is not None:
        verdicts = _validate(client, asset_id, items, outcome, reason if index is None and code == 400 else None)
        if verdicts is not None:
            if index is not None:
                verdicts.setdefault(index, reason)
            if verdicts:
                outcome.rejected.extend((items[i], why) for i, why in sorted(verdicts.items()))
                rest = [item for i, item in enumerate(items) if i not in verdicts]
                if rest:
                    pending.append(Part(rest, True, part.indexed, bisected=True))
                return
    halves = _halves(Part(items, True, part.indexed))
    if not part.bisected and index is None:  # a 400 or a 2xx INVALID naming no event
        shared = _Split(reason)
        for half in halves:
            half.split = shared
    for half in halves:
        half.bisected = True
    pending.extend(halves)


def release_deferred(split: _Split | None, part: Part, client: SnapCapiClient | None, asset_id: str,
                     pending: list[Part], outcome: BatchOutcome) -> None:
    """The sibling of a deferred half was answered otherwise: narrow the deferred half as usual."""
    if split is None or split.deferred is None or split.deferred[1] is part:
        return
    body, deferred = split.deferred
    split.deferred = None
    deferred.split = None
    _narrow(client, asset_id, body, deferred, pending, outcome)


def _validate(client: SnapCapiClient, asset_id: str, items: list[BatchItem],
              outcome: BatchOutcome, request_message: str | None = None) -> dict[int, str] | None:
    """Per-event verdicts of the validate endpoint: ``{index: reason}`` of the invalid ones, or None
    when the answer says nothing usable (then the caller bisects).

    ``request_message`` is the reason of a 400 naming no event: when the validate endpoint calls every
    event valid, or refuses the request with that same message and no event, the request itself is at
    fault (:class:`RequestRefused`), not its events.
    """
    outcome.warn("narrowed_with_validate")
    try:
        response = post_batch(client, asset_id, items, outcome, validate=True)
    except SnapCapiRetriesExhausted:
        return None
    body = response.body if isinstance(response.body, dict) else None
    if (request_message is not None and response.status_code == 400
            and snap_reason(_message(body)) == request_message
            and not (body and isinstance(body.get("event"), int))):
        raise RequestRefused(_plain_reason(request_message))
    if not response.ok or body is None:
        return None
    logs = body.get("event_logs")
    if isinstance(logs, list) and logs:
        verdicts: dict[int, str] = {}
        seen = 0
        for entry in logs:
            if not isinstance(entry, dict):
                continue
            index = entry.get("event")
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(items):
                continue
            seen += 1
            if not entry_is_valid(entry):
                verdicts[index] = snap_reason(_message(entry) or _message(body))
        if request_message is not None and seen == len(items) and not verdicts:
            raise RequestRefused(_plain_reason(request_message))  # every event valid, yet refused
        return verdicts if seen else None
    named = _v2_named(body, len(items))
    return named or None


def entry_is_valid(entry: dict) -> bool:
    """A validate answer's verdict on one event: its status, else valid when it names no error."""
    status = str(entry.get("status") or "").upper()
    if status:
        return status in ACCEPTED_STATUSES
    errors = entry.get("errors") if isinstance(entry.get("errors"), dict) else {}
    return not (errors.get("codes") or errors.get("error_msgs"))


def _v2_named(body: dict, n: int) -> dict[int, str]:
    named: dict[int, str] = {}
    for record in body.get("error_records") or []:
        if not isinstance(record, dict):
            continue
        for index in record.get("record_indexes") or []:
            if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < n:
                named.setdefault(index, snap_reason(record.get("reason")))
    return named


def _plain_reason(reason: str) -> str:
    return reason.removeprefix("snap_rejected").removeprefix(": ") or "no message"


def _halves(part: Part) -> list[Part]:
    middle = len(part.items) // 2
    return [Part(part.items[middle:], part.validated, part.indexed),
            Part(part.items[:middle], part.validated, part.indexed)]


def _message(body: dict | None) -> str:
    if not body:
        return ""
    errors = body.get("errors")
    if isinstance(errors, dict):
        messages = errors.get("error_msgs") or errors.get("messages")
        if isinstance(messages, list) and messages:
            return str(messages[0])
    return str(body.get("reason") or "")


def snap_reason(message: object) -> str:
    """The reason of an event Snap refused: ``snap_rejected: <Snap's message, scrubbed of PII>``."""
    text = scrub_pii(" ".join(str(message or "").split()))[:160]
    return f"snap_rejected: {text}" if text else "snap_rejected"


def failure_reason(message: str) -> str:
    """The reason of events whose retries ran out: ``retries_exhausted: <last error>``."""
    return "retries_exhausted: " + message.rsplit(": ", 1)[-1]


def _looks_like_auth(body: dict | None, text: str) -> bool:
    return is_token_message(_message(body) or text or "")
