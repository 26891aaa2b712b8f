"""The validate endpoint's answers, the validate batch function, and validating rows (core/validation.py)."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest

from snap_capi_provider.core.client import SnapCapiClient
from snap_capi_provider.core.delivery import BatchItem
from snap_capi_provider.core.validation import ValidateResponse, head_rows, validate_batch
from snap_capi_provider.emulator import Fault
from tests.conftest import PIXEL, TOKEN

EM = "542d240129883c019e106e3b1b2d3f3cb3537c43c425364de8e951d5a3083345"


@pytest.fixture
def fresh(emulator):
    """The session's emulator (tests/conftest.py), reset for this test."""
    return emulator


def event(row: int, *, age_s: int = 60, **extra: object) -> BatchItem:
    payload = {"event_name": "SIGN_UP", "action_source": "OFFLINE", "event_time": int(time.time()) - age_s,
               "event_id": f"e-{row}", "user_data": {"em": [EM]}, **extra}
    return BatchItem(row, json.dumps(payload).encode())


# ------------------------------------------------------------------------------------------ parsing


def test_v3_validate_answer_gives_one_verdict_per_event():
    body = {"status": "INVALID", "test_event": True, "reason": "1 of 2 events are invalid", "event_logs": [
        {"event": 1, "status": "INVALID", "errors": {"codes": ["INVALID_HASH"], "error_msgs": ["bad hash"]},
         "warnings": []},
        {"event": 0, "status": "VALID", "errors": {"codes": [], "error_msgs": []}, "warnings": ["no url"]},
    ]}
    parsed = ValidateResponse.parse(body, 2)
    assert parsed.covers(2) and not parsed.ok and parsed.test_event
    assert [(v.index, v.valid, v.codes, v.warnings) for v in parsed.verdicts] == [
        (0, True, (), ("no url",)), (1, False, ("INVALID_HASH",), ())]
    assert parsed.verdicts[1].reason == "snap_rejected: bad hash"


def test_v2_validate_answer_with_error_records_only():
    body = {"status": "FAILED", "error_records": [{"reason": "bad hash", "record_indexes": [2, 0, 9, True]}]}
    parsed = ValidateResponse.parse(body, 3)
    assert parsed.covers(3)
    assert [(v.index, v.valid) for v in parsed.verdicts] == [(0, False), (1, True), (2, False)]


@pytest.mark.parametrize("body", [None, "OK", [], {"status": "VALID"}, {"event_logs": [{"event": 5}]}])
def test_answers_without_verdicts_cover_nothing(body):
    assert not ValidateResponse.parse(body, 2).covers(2)


def test_head_rows_never_reads_past_the_sample():
    read: list[int] = []

    def chunks():
        for start in range(0, 100, 10):
            read.append(start)
            yield pd.DataFrame({"n": range(start, start + 10)})

    frames = list(head_rows(chunks(), 25))
    assert [len(f) for f in frames] == [10, 10, 5] and read == [0, 10, 20]
    assert list(head_rows(chunks(), 0)) == []


def test_verdicts_keep_the_first_rows_whatever_order_they_arrive_in():
    from snap_capi_provider.core.validation import VerdictCollector

    written: list[tuple[int, str]] = []

    class Inner:
        def write(self, row, status, reason, values):
            written.append((row, status))

    collector = VerdictCollector(Inner(), listed=5)
    for row in [40, 7, 33, 2, 19, 25, 1, 8, 12, 30, 3, 50, 11, 5]:
        collector.write(row, "rejected", "bad" if row % 2 else "worse", None)
    collector.write(99, "failed", "http_500", None)
    assert collector.invalid_rows == [1, 2, 3, 5, 7]
    assert collector.examples == {"worse": [2, 8, 12, 30, 40, 50], "bad": [1, 3, 5, 7, 11, 19, 25, 33]}
    assert collector.failed_examples == {"http_500": [99]} and len(written) == 15


# ------------------------------------------------------------------------------- validate_batch


def test_validate_batch_uses_the_per_event_verdicts(fresh):
    items = [event(0), event(1, age_s=40 * 86400), event(2, event_source_url="https://x.example/")]
    with SnapCapiClient(TOKEN, fresh.url) as client:
        outcome = validate_batch(client, PIXEL, items)
    assert [item.row for item in outcome.accepted] == [0, 2]
    assert [(item.row, reason) for item, reason in outcome.rejected] == [
        (1, "snap_rejected: Param data['event_time'] is older than 37 days; the event is too old.")]
    assert (outcome.requests, outcome.failed) == (1, [])
    assert [r.path for r in fresh.requests] == [f"/v3/{PIXEL}/events/validate"]
    assert fresh.accepted_events() == [] and len(fresh.test_events(PIXEL)) == 3


def test_an_answer_without_verdicts_is_narrowed_not_taken_for_every_event(fresh):
    fresh.add_faults(Fault("invalid_200", path_contains="/validate"))
    with SnapCapiClient(TOKEN, fresh.url) as client:
        outcome = validate_batch(client, PIXEL, [event(i) for i in range(4)])
    assert sorted(item.row for item in outcome.accepted) == [0, 1, 2, 3] and outcome.rejected == []
    assert outcome.requests == 3  # the verdict-less answer, then each half


def test_an_unconfirmed_answer_fails_the_events(fresh):
    fresh.add_faults(Fault("garbage_200", path_contains="/validate"))
    with SnapCapiClient(TOKEN, fresh.url) as client:
        outcome = validate_batch(client, PIXEL, [event(0), event(1)])
    assert outcome.accepted == [] and [item.row for item, _ in outcome.failed] == [0, 1]


def test_retries_exhausted_fail_the_events(fresh):
    from snap_capi_provider.core.client import RetryPolicy

    fresh.add_faults(Fault("503", path_contains="/validate"), Fault("503", path_contains="/validate"))
    with SnapCapiClient(TOKEN, fresh.url, retry=RetryPolicy(max_retries=1, backoff_initial_s=0)) as client:
        outcome = validate_batch(client, PIXEL, [event(0)])
    assert outcome.failed == [(outcome.failed[0][0], "retries_exhausted: HTTP 503")]
    assert (outcome.requests, outcome.retries) == (2, 1)
