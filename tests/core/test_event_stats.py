"""Test-event stats: parsing v3 and flat answers, the condition the sensor waits for, timestamps."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from snap_capi_provider.core.event_stats import TestEventStats, epoch_seconds, stats_reached


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
