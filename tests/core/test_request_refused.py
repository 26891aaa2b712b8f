"""A 400 about the request itself (a bad pixel id, a malformed request: a message naming no event) has
one effect: the batch fails once with Snap's message and the run stops. It is not bisected nor
validated event by event, and the requests made stay within a small multiple of the batches. Also:
the request refused with 401/403 is counted in ``report.requests``."""

from __future__ import annotations

import io
import json

import pytest

from snap_capi_provider.core.client import RetryPolicy, SnapCapiClient
from snap_capi_provider.core.delivery import REQUEST_REFUSED, deliver
from snap_capi_provider.core.events import EventOptions
from snap_capi_provider.core.pipeline import NOT_SENT_REFUSED, Assets, DeliveryOptions, send_rows
from snap_capi_provider.core.rejected_rows import RejectedRowsWriter
from snap_capi_provider.core.sources import iter_chunks
from snap_capi_provider.core.validation import validate_batch, validate_rows
from snap_capi_provider.emulator import Fault
from snap_capi_provider.emulator.faults import REQUEST_400_MESSAGE
from tests.conftest import PIXEL, TOKEN
from tests.reliability_helpers import MAPPING, batch_items, emulator, pii_rows

FAST = RetryPolicy(max_retries=2, backoff_initial_s=0.0, backoff_max_s=0.0)
REASON = f"{REQUEST_REFUSED}: {REQUEST_400_MESSAGE}"


@pytest.fixture
def emu():
    with emulator() as emu:
        yield emu


def send(emu, n: int = 40, api_version: str = "v3"):
    with SnapCapiClient(TOKEN, emu.url, api_version=api_version, retry=FAST) as client:
        return deliver(client, PIXEL, batch_items(pii_rows(n), api_version=api_version))


def assert_refused_once(outcome, n: int) -> None:
    assert outcome.accepted == [] and outcome.rejected == []  # no row is blamed
    assert len(outcome.failed) == n and {reason for _, reason in outcome.failed} == {REASON}
    assert outcome.fatal.startswith(REQUEST_REFUSED) and REQUEST_400_MESSAGE in outcome.fatal


@pytest.mark.parametrize("api_version", ["v3", "v2"])
def test_refused_while_validate_calls_every_event_valid_fails_the_batch_in_two_requests(emu, api_version):
    emu.set_fault_rate(1.0, kinds=("request_400",))  # every send request; validate answers normally
    outcome = send(emu, 40, api_version)
    assert_refused_once(outcome, 40)
    assert outcome.requests == 2  # the send, then the validate endpoint: never bisected
    assert emu.accepted_events() == []


def test_the_validate_endpoint_refusing_alike_fails_the_batch_in_two_requests(emu):
    emu.add_faults(Fault("request_400"), Fault("request_400", path_contains="/validate"))
    outcome = send(emu)
    assert_refused_once(outcome, 40)
    assert outcome.requests == 2


def test_without_the_validate_endpoint_both_first_halves_refused_alike_stop_the_bisection(emu):
    emu.add_faults(Fault("request_400"), *[Fault("503", path_contains="/validate")] * 3,
                   Fault("request_400"), Fault("request_400"))
    outcome = send(emu)
    assert_refused_once(outcome, 40)
    assert outcome.requests == 1 + 3 + 2  # send, validate with its retries, the two halves: no more


def test_a_half_refused_alike_while_its_sibling_is_accepted_is_still_narrowed(emu):
    """The first half's refusal alone proves nothing: once its sibling is accepted it is narrowed."""
    emu.add_faults(Fault("request_400"), *[Fault("503", path_contains="/validate")] * 3, Fault("request_400"))
    outcome = send(emu)
    assert len(outcome.accepted) == 40 and outcome.failed == [] and outcome.fatal is None
    assert outcome.requests == 1 + 3 + 2 + 2  # ... and the deferred half, bisected once more
    assert len(emu.accepted_events()) == 40


def test_events_named_by_index_are_still_rejected_one_by_one(emu):
    emu.add_faults(Fault("bad_event_400", event_index=3), Fault("bad_event_400", event_index=7))
    outcome = send(emu, 20)
    assert len(outcome.rejected) == 2 and len(outcome.accepted) == 18 and outcome.fatal is None


def test_a_run_stops_at_the_first_refused_batch_and_fails_every_row_with_the_message(emu):
    emu.set_fault_rate(1.0, kinds=("request_400",))
    stream = io.StringIO()
    with SnapCapiClient(TOKEN, emu.url, retry=FAST) as client:
        report = send_rows(client, iter_chunks(pii_rows(1000), 200), assets=Assets(pixel_id=PIXEL),
                           field_mapping=MAPPING, event_options=EventOptions(event_name="PURCHASE"),
                           delivery=DeliveryOptions(batch_size=50, concurrency=2),
                           sink=RejectedRowsWriter(stream, ["order_id"]), sink_columns=["order_id"])
    assert (report.rows, report.accepted, report.rejected, report.failed) == (1000, 0, 0, 1000)
    assert set(report.failures.by_reason) <= {REASON, NOT_SENT_REFUSED}
    assert report.failures.by_reason[REASON] >= 50
    assert REQUEST_400_MESSAGE in report.error
    # At most the batches in flight when the first refusal came back were sent, two requests each.
    assert report.requests <= 2 * 2 * 2 and len(emu.requests) == report.requests
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 1000 and {line["status"] for line in lines} == {"failed"}


def test_validate_batch_refused_as_a_whole_fails_once(emu):
    emu.add_faults(*[Fault("request_400", path_contains="/validate")] * 3)
    with SnapCapiClient(TOKEN, emu.url, retry=FAST) as client:
        outcome = validate_batch(client, PIXEL, batch_items(pii_rows(40)))
    assert_refused_once(outcome, 40)
    assert outcome.requests == 3  # the batch and its two halves, not 2 * 40


def test_validate_rows_stops_at_a_request_refused_as_a_whole(emu):
    emu.add_faults(*[Fault("request_400", path_contains="/validate")] * 100)
    with SnapCapiClient(TOKEN, emu.url, retry=FAST) as client:
        report = validate_rows(client, iter_chunks(pii_rows(400), 400), assets=Assets(pixel_id=PIXEL),
                               field_mapping=MAPPING, event_options=EventOptions(event_name="PURCHASE"),
                               delivery=DeliveryOptions(batch_size=100, concurrency=1))
    assert (report.valid, report.invalid, report.failed) == (0, 0, 400)
    # Three requests for each batch in flight when the first refusal came back (at most two), then none.
    assert report.requests in (3, 6) and REQUEST_400_MESSAGE in report.error


@pytest.mark.parametrize("refusal", ["401", "403"])
def test_the_request_refused_with_401_or_403_is_counted(refusal):
    with emulator(assets=(PIXEL,) if refusal == "401" else ("another-pixel",)) as emu:
        if refusal == "401":
            emu.set_fault_rate(1.0, kinds=("401",))
        with SnapCapiClient(TOKEN, emu.url, retry=FAST) as client:
            report = send_rows(client, iter_chunks(pii_rows(300), 300), assets=Assets(pixel_id=PIXEL),
                               field_mapping=MAPPING, event_options=EventOptions(event_name="PURCHASE"),
                               delivery=DeliveryOptions(batch_size=100, concurrency=1))
        assert report.error.startswith("auth_error") and f"HTTP {refusal}" in report.error
        # Each refused request is counted (up to two batches were in flight when the first was refused).
        assert report.failed == 300 and report.requests == len(emu.requests) in (1, 2)


def test_the_token_refused_while_a_half_waits_for_its_sibling_fails_that_half_too(emu):
    # First half refused alike (held back for its sibling), then the sibling's request gets a 401.
    emu.add_faults(Fault("request_400"), *[Fault("503", path_contains="/validate")] * 3, Fault("request_400"),
                   Fault("401"))
    outcome = send(emu)
    assert outcome.accepted == [] and outcome.rejected == []
    assert sorted(item.row for item, _ in outcome.failed) == list(range(40))  # every row in one bucket
    assert {reason for _, reason in outcome.failed} == {"auth_error"} and outcome.fatal.startswith("auth_error")
