"""One batch against the emulator: every answer Snap can give ends with each event accepted, rejected
or failed, never lost, never counted twice (SNAP_CAPI.md section 5; mistakes 9 and 12)."""

from __future__ import annotations

import pytest

from snap_capi_provider.core.client import ApiResponse, RetryPolicy, SnapCapiAuthError, SnapCapiClient
from snap_capi_provider.core.delivery import BatchItem, BatchOutcome, deliver, settle_response
from snap_capi_provider.core.events import EventOptions
from snap_capi_provider.emulator import Fault
from tests.conftest import PIXEL, TOKEN
from tests.reliability_helpers import batch_items, emulator, pii_rows, wait_for_requests

FAST = RetryPolicy(max_retries=2, backoff_initial_s=0.0, backoff_max_s=0.0)
# The client accepts events up to 37 days old; these emulators keep only 7, so events 10 days old
# pass the client's checks and are refused by the server, as Snap may refuse what we cannot foresee.
OLD = 10 * 86400


@pytest.fixture(params=["whole", "partial"])
def emu(request):
    with emulator(batch_mode=request.param, max_event_age_days=7) as emu:
        yield emu


def rows_with_old(n: int, old: set[int]) -> list[dict]:
    rows = pii_rows(n)
    for i in old:
        rows[i]["ts"] -= OLD
    return rows


def send(emu, items: list[BatchItem], api_version: str = "v3", retry: RetryPolicy = FAST) -> BatchOutcome:
    with SnapCapiClient(TOKEN, emu.url, api_version=api_version, retry=retry) as client:
        return deliver(client, PIXEL, items)


def rows_of(pairs) -> set[int]:
    return {item.row for item, _ in pairs}


def accepted_ids(emu) -> set[str]:
    return set(emu.accepted_count_by_event_id())


def test_a_valid_batch_is_accepted_in_one_request(emu):
    outcome = send(emu, batch_items(pii_rows(50)))
    assert (len(outcome.accepted), outcome.rejected, outcome.failed, outcome.requests) == (50, [], [], 1)
    assert accepted_ids(emu) == {f"o-{i}" for i in range(50)}


def test_a_400_naming_one_event_rejects_it_and_sends_the_others(emu):
    items = batch_items(pii_rows(10))
    emu.add_faults(Fault("bad_event_400", event_index=3))
    outcome = send(emu, items)
    assert outcome.rejected == [(items[3], "snap_rejected: Event at index 3 is invalid.")]
    assert {item.row for item in outcome.accepted} == set(range(10)) - {3}
    assert accepted_ids(emu) == {f"o-{i}" for i in range(10)} - {"o-3"}
    assert outcome.requests == 2


def test_server_side_invalid_events_are_narrowed_down_and_row_numbers_line_up(emu):
    # Row numbers of the items are not positions in the batch: rows 100..139.
    items = batch_items(rows_with_old(40, {1, 5, 6, 30}))
    for item in items:
        item.row += 100
    outcome = send(emu, items)
    assert rows_of(outcome.rejected) == {101, 105, 106, 130}
    assert all("too old" in reason for _, reason in outcome.rejected)
    assert {item.row for item in outcome.accepted} == set(range(100, 140)) - {101, 105, 106, 130}
    assert accepted_ids(emu) == {f"o-{i}" for i in range(40)} - {"o-1", "o-5", "o-6", "o-30"}
    # 400 naming the first bad event, 400 naming the next, one validate call, then the clean send:
    # never one request per bad event, never one per event.
    assert outcome.requests == 4 and outcome.warnings == {"narrowed_with_validate": 1}


def test_many_server_side_invalid_events_cost_a_few_requests_not_one_each(emu):
    old = set(range(0, 400, 4))
    outcome = send(emu, batch_items(rows_with_old(400, old)))
    assert rows_of(outcome.rejected) == old and len(outcome.accepted) == 300
    assert outcome.requests <= 4
    assert accepted_ids(emu) == {f"o-{i}" for i in range(400) if i not in old}


def test_a_200_invalid_without_an_index_is_never_success_and_is_narrowed(emu):
    items = batch_items(pii_rows(8))
    emu.add_faults(Fault("invalid_200"))
    outcome = send(emu, items)
    # validate found nothing wrong, so the batch was bisected: both halves went through
    assert (len(outcome.accepted), outcome.rejected, outcome.failed) == (8, [], [])
    assert outcome.requests == 4
    assert accepted_ids(emu) == {f"o-{i}" for i in range(8)}


@pytest.mark.parametrize("n", [8, 2000])
def test_a_persistent_200_invalid_naming_no_event_fails_the_batch_as_refused_and_stops(emu, n):
    # The validate endpoint calls every event valid and both halves get the same answer: the request is
    # at fault, not its events. Bisecting to single events took 2n requests and blamed every row.
    items = batch_items(pii_rows(n))
    emu.set_fault_rate(1.0, kinds=("invalid_200",))
    outcome = send(emu, items)
    assert outcome.accepted == [] and outcome.rejected == [] and rows_of(outcome.failed) == set(range(n))
    assert {why for _, why in outcome.failed} == {"request_refused: The request could not be processed."}
    assert outcome.fatal.startswith("request_refused")
    assert outcome.requests == 1 + 1 + 2  # send, validate, the two halves
    assert emu.accepted_events() == []


def test_a_single_event_answered_invalid_is_rejected_not_accepted(emu):
    emu.add_faults(Fault("invalid_200"))
    outcome = send(emu, batch_items(pii_rows(1)))
    assert outcome.accepted == [] and len(outcome.rejected) == 1 and outcome.requests == 1


def test_a_garbage_200_is_reported_failed_and_not_retried(emu):
    items = batch_items(pii_rows(5))
    emu.add_faults(Fault("garbage_200"))
    outcome = send(emu, items)
    assert outcome.accepted == [] and outcome.rejected == []
    assert rows_of(outcome.failed) == set(range(5))
    assert {reason for _, reason in outcome.failed} == {
        "unconfirmed_response: HTTP 200 with a body that is not a JSON object"}
    assert outcome.requests == 1 and len(emu.requests) == 1  # not retried into duplicates (mistake 12)


def test_when_retries_run_out_every_event_is_failed_with_the_last_error(emu):
    emu.set_fault_rate(1.0, kinds=("502",))
    outcome = send(emu, batch_items(pii_rows(5)))
    assert rows_of(outcome.failed) == set(range(5))
    assert {reason for _, reason in outcome.failed} == {"retries_exhausted: HTTP 502"}
    assert (outcome.requests, outcome.retries) == (3, 2)


def test_transient_faults_mixed_with_a_bad_event(emu):
    items = batch_items(rows_with_old(20, {7}))
    emu.add_faults(Fault("429", retry_after=0), Fault("drop"), Fault("500"))
    outcome = send(emu, items, retry=RetryPolicy(max_retries=5, backoff_initial_s=0.0))
    assert rows_of(outcome.rejected) == {7} and len(outcome.accepted) == 19 and outcome.failed == []
    assert outcome.retries == 3


def test_a_refused_token_stops_delivery_and_keeps_what_was_settled(emu):
    items = batch_items(pii_rows(6))
    emu.add_faults(Fault("bad_event_400", event_index=2), Fault("401"))
    outcome = send(emu, items)
    assert outcome.fatal.startswith("auth_error: Snap CAPI refused the access token")
    assert TOKEN not in outcome.fatal
    assert outcome.rejected == [(items[2], "snap_rejected: Event at index 2 is invalid.")]
    assert rows_of(outcome.failed) == {0, 1, 3, 4, 5} and outcome.accepted == []
    assert {reason for _, reason in outcome.failed} == {"auth_error"}


def test_a_body_too_large_is_halved_and_an_event_too_large_alone_is_rejected():
    rows = pii_rows(12)
    rows[4]["items"] = ["x" * 900 + str(i) for i in range(7)]  # fields under their caps, the event not
    mapping = {"event_id": "order_id", "em": "email", "event_time": "ts", "value": "amount",
               "currency": "currency", "content_ids": "items"}
    items = batch_items(rows, mapping)
    assert len(items[0].payload) < 1000 < 5000 < len(items[4].payload)
    with emulator(max_body_bytes=5000) as emu:
        outcome = send(emu, items)
        assert rows_of(outcome.rejected) == {4} and outcome.rejected[0][1] == "event_too_large"
        assert len(outcome.accepted) == 11 and accepted_ids(emu) == {f"o-{i}" for i in range(12)} - {"o-4"}


@pytest.mark.parametrize("batch_mode", ["whole", "partial"])
def test_v2_error_records_name_the_bad_events(batch_mode):
    rows = rows_with_old(10, {2, 8})
    with emulator(batch_mode=batch_mode, max_event_age_days=7) as emu:
        items = batch_items(rows, options=EventOptions(event_name="PURCHASE"), api_version="v2")
        outcome = send(emu, items, api_version="v2")
        assert rows_of(outcome.rejected) == {2, 8} and len(outcome.accepted) == 8
        assert accepted_ids(emu) == {f"o-{i}" for i in range(10)} - {"o-2", "o-8"}
        # partial: 200 PARTIAL names them and the rest was recorded; whole: 400 names them, rest re-sent
        assert outcome.requests == (1 if batch_mode == "partial" else 2)


def test_delayed_answers_past_the_timeout_are_resent_and_deduplicated_by_event_id():
    with emulator() as emu:
        emu.add_faults(Fault("delay", delay_s=1.0))
        with SnapCapiClient(TOKEN, emu.url, timeout=(1.0, 0.4), retry=FAST) as client:
            outcome = deliver(client, PIXEL, batch_items(pii_rows(4)))
        assert len(outcome.accepted) == 4 and outcome.retries == 1
        wait_for_requests(emu, 2)  # the slow request is processed after the client gave up on it
        assert emu.accepted_count_by_event_id() == {f"o-{i}": 2 for i in range(4)}
        assert len(emu.accepted_events()) == 4


# ------------------------------------------------------------------ answers the emulator never gives


def item(row: int) -> BatchItem:
    return BatchItem(row, b"{}")


@pytest.mark.parametrize(("status", "body", "expect"), [
    (200, {"status": "VALID"}, "accepted"),
    (200, {"status": "valid", "reason": "ok"}, "accepted"),
    (202, {"status": "SUCCESS"}, "unconfirmed"),  # v2's word: a v3 send succeeds with VALID alone
    (200, {"status": "MAYBE"}, "unconfirmed"),
    (200, {}, "unconfirmed"),
    (200, [], "unconfirmed"),
    (200, None, "unconfirmed"),
    (204, None, "unconfirmed"),
    (404, {"status": "INVALID"}, "http_404"),
    (409, None, "http_409"),
])
def test_settling_answers(status, body, expect):
    items = [item(10), item(11)]
    outcome, pending = BatchOutcome(), []
    settle_response(ApiResponse(status, body, ""), items, pending, outcome, "v3")
    if expect == "accepted":
        assert outcome.accepted == items and not outcome.failed
    elif expect == "unconfirmed":
        assert outcome.accepted == [] and pending == []
        assert all(reason.startswith("unconfirmed_response: ") for _, reason in outcome.failed)
    else:
        assert {reason for _, reason in outcome.failed} == {expect}
    assert len(outcome.accepted) + len(outcome.rejected) + len(outcome.failed) + sum(map(len, pending)) == 2


def test_a_400_about_the_token_is_an_auth_error():
    with pytest.raises(SnapCapiAuthError):
        settle_response(ApiResponse(400, {"status": "INVALID", "reason": "Invalid access token"}, ""),
                        [item(0), item(1)], [], BatchOutcome(), "v3")


def test_a_message_echoing_pii_is_scrubbed_from_the_reason():
    outcome = BatchOutcome()
    body = {"status": "INVALID", "reason": "bad email person@example.com or phone +1 650 555 1212"}
    settle_response(ApiResponse(400, body, ""), [item(0)], [], outcome, "v3")
    assert outcome.rejected[0][1] == "snap_rejected: bad email <email> or phone <number>"
