"""Test-event logs: a PII-free, bounded summary of v3 and v2 answers."""

from __future__ import annotations

import json

from snap_capi_provider.core.event_logs import TestEventLogs


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
