"""Typed results of the validate, stats and logs endpoints; the validate batch function; the trigger."""

from __future__ import annotations

import asyncio
import json
import time

import pandas as pd
import pytest

from snap_capi_provider.core.client import SnapCapiClient
from snap_capi_provider.core.delivery import BatchItem
from snap_capi_provider.core.testing_api import (
    TestEventLogs,
    TestEventStats,
    ValidateResponse,
    epoch_seconds,
    head_rows,
    stats_reached,
    validate_batch,
)
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


@pytest.mark.parametrize("body", [
    {"status": "SUCCESS", "stats": {"test": {"latest_event_ts": 1_700_000_000, "event_count_past_hour": 3},
                                    "live": {"latest_event_ts": None, "event_count_past_hour": 0}}},
    {"status": "SUCCESS", "test": {"latest_event_ts": 1_700_000_000_000, "event_count_past_hour": "3"}},
])
def test_stats_parse_v3_and_flat_shapes(body):
    stats = TestEventStats.parse(body, "A")
    assert (stats.test.event_count_past_hour, stats.test.latest_event_ts) == (3, 1_700_000_000)
    assert stats.live.event_count_past_hour == 0 and stats.asset_id == "A"
    assert TestEventStats.from_dict(json.loads(json.dumps(stats.to_dict()))) == stats


@pytest.mark.parametrize("body", [None, [], {"status": "SUCCESS"}, {"stats": "nope"}])
def test_stats_parse_refuses_other_answers(body):
    with pytest.raises(ValueError):
        TestEventStats.parse(body)


def test_stats_reached():
    stats = TestEventStats.parse({"stats": {"test": {"latest_event_ts": 1000, "event_count_past_hour": 2},
                                            "live": {"latest_event_ts": 2000, "event_count_past_hour": 9}}})
    assert stats_reached(stats, "test", 2) and not stats_reached(stats, "test", 3)
    assert stats_reached(stats, "test", 1, newer_than=1000)
    assert not stats_reached(stats, "test", 1, newer_than=1001)
    assert stats_reached(stats, "LIVE", 9, newer_than=1500)
    with pytest.raises(ValueError, match="source"):
        stats_reached(stats, "both", 1)


@pytest.mark.parametrize(("value", "seconds"), [
    (None, None), ("", None), (1_700_000_000, 1_700_000_000), ("1700000000", 1_700_000_000),
    (1_700_000_000_500, 1_700_000_000), ("2023-11-14T22:13:20+00:00", 1_700_000_000),
    ("2023-11-14T22:13:20", 1_700_000_000), (pd.Timestamp("2023-11-14 23:13:20+01:00"), 1_700_000_000),
])
def test_epoch_seconds_of_templated_timestamps(value, seconds):
    assert epoch_seconds(value) == seconds


def test_epoch_seconds_refuses_garbage():
    with pytest.raises(ValueError, match="not a timestamp"):
        epoch_seconds("yesterday-ish")


def test_logs_summary_is_pii_free_and_bounded():
    body = {"status": "SUCCESS", "logs": [
        {"event_name": "PURCHASE", "event_time": 1_700_000_100, "action_source": "WEB", "status": "INVALID",
         "error_records": ["value for someone@example.com is wrong", {"reason": "from 203.0.113.9"}],
         "warning_records": ["event_source_url is recommended"]},
        {"event_type": "SIGN_UP", "timestamp": "1700000000", "event_conversion_type": "OFFLINE",
         "status": "VALID", "error_records": [], "warning_records": []},
    ] + [{"event_name": "SAVE", "status": "INVALID", "error_records": [f"error {i}"]} for i in range(25)]}
    summary = TestEventLogs.parse(body, "A").summary(max_messages=5)
    assert summary["events"] == 27 and summary["asset_id"] == "A"
    assert summary["by_status"] == {"INVALID": 26, "VALID": 1}
    assert summary["by_event_name"] == {"SAVE": 25, "PURCHASE": 1, "SIGN_UP": 1}
    assert summary["by_action_source"] == {"UNKNOWN": 25, "OFFLINE": 1, "WEB": 1}
    assert summary["warnings"] == {"event_source_url is recommended": 1}
    assert len(summary["errors"]) == 6 and sum(summary["errors"].values()) == 27
    assert summary["latest_event_time"] == 1_700_000_100
    text = json.dumps(summary)
    assert "someone@example.com" not in text and "203.0.113.9" not in text


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
    from snap_capi_provider.core.testing_api import VerdictCollector

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


# ------------------------------------------------------------------------------------------ trigger


def first_event(trigger):
    async def run():
        async for fired in trigger.run():
            return fired.payload
    return asyncio.run(run())


def trigger(monkeypatch, emulator, token: str = TOKEN, **kwargs):
    from snap_capi_provider.triggers.snap_capi import SnapCapiTestEventStatsTrigger
    from tests.conftest import conn_json

    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_T", conn_json(emulator.url, token=token))
    return SnapCapiTestEventStatsTrigger(snap_capi_conn_id="snap_capi_t", asset_id=PIXEL, poll_interval=0.05,
                                        **kwargs)


def test_trigger_serializes_the_conn_id_never_the_token(monkeypatch, fresh):
    classpath, kwargs = trigger(monkeypatch, fresh, timeout=5, newer_than=1_700_000_000).serialize()
    assert classpath == "snap_capi_provider.triggers.snap_capi.SnapCapiTestEventStatsTrigger"
    assert kwargs["snap_capi_conn_id"] == "snap_capi_t" and TOKEN not in json.dumps(kwargs)
    assert kwargs["deadline"] == pytest.approx(time.time() + 5, abs=2)
    from snap_capi_provider.triggers.snap_capi import SnapCapiTestEventStatsTrigger

    again = SnapCapiTestEventStatsTrigger(**kwargs)  # a restarted triggerer keeps the same deadline
    assert again.deadline == kwargs["deadline"] and again.serialize() == (classpath, kwargs)


@pytest.mark.parametrize("api_version", ["v3", "v2"])
def test_trigger_fires_success_with_the_stats(monkeypatch, fresh, api_version):
    with SnapCapiClient(TOKEN, fresh.url) as client:
        client.post_events(PIXEL, b'{"data":[' + event(0).payload + b"]}", validate=True)
    payload = first_event(trigger(monkeypatch, fresh, timeout=5, hook_params={"api_version": api_version}))
    assert payload["status"] == "success" and payload["stats"]["test"]["event_count_past_hour"] == 1
    assert {r.path for r in fresh.requests if r.method == "GET"} == (
        {f"/v3/{PIXEL}/events/validate/stats"} if api_version == "v3" else {"/v2/conversion/validate/stats"})


def test_trigger_gives_up_at_its_deadline(monkeypatch, fresh):
    started = time.monotonic()
    payload = first_event(trigger(monkeypatch, fresh, timeout=0.4, min_event_count=2))
    assert 0.3 < time.monotonic() - started < 3
    assert payload["status"] == "timeout" and "did not show at least 2 test events" in payload["message"]
    assert payload["stats"]["test"]["event_count_past_hour"] == 0


def test_trigger_keeps_polling_through_transient_errors(monkeypatch, fresh):
    fresh.add_faults(Fault("503", path_contains="/stats"), Fault("drop", path_contains="/stats"))
    with SnapCapiClient(TOKEN, fresh.url) as client:
        client.post_events(PIXEL, b'{"data":[' + event(0).payload + b"]}", validate=True)
    payload = first_event(trigger(monkeypatch, fresh, timeout=5))
    assert payload["status"] == "success"
    assert [r.status for r in fresh.requests if r.path.endswith("/stats")] == [503, 0, 200]


def test_trigger_reports_a_refused_token_at_once(monkeypatch, fresh):
    started = time.monotonic()
    payload = first_event(trigger(monkeypatch, fresh, token="tok-WRONG-55443322", timeout=30))
    assert time.monotonic() - started < 5
    assert payload["status"] == "error" and "HTTP 401" in payload["message"]
    assert "tok-WRONG-55443322" not in json.dumps(payload)
