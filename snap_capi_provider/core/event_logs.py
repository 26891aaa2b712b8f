"""Snap's test-event logs (spec section 5): the test events of the past 24 hours with Snap's verdicts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from snap_capi_provider.core.event_stats import answer_int
from snap_capi_provider.core.redact import scrub_pii

MAX_MESSAGES = 20
"""Distinct error or warning messages kept in a logs summary (the rest are counted as ``other``)."""



@dataclass(frozen=True)
class TestEventLog:
    """One test event as the logs endpoint lists it (no user data)."""

    __test__ = False  # a result, not a test: pytest would collect a Test* class a test module imports

    event_name: str | None
    event_time: int | None
    action_source: str | None
    status: str
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class TestEventLogs:
    """The logs endpoint's answer: test events of the past 24 hours, newest first."""

    __test__ = False  # a result, not a test: pytest would collect a Test* class a test module imports

    status: str
    logs: tuple[TestEventLog, ...] = field(default_factory=tuple)
    asset_id: str | None = None

    @classmethod
    def parse(cls, body: Any, asset_id: str | None = None) -> TestEventLogs:
        """From a v3 or v2 logs body; raises ``ValueError`` when it is not one."""
        if not isinstance(body, dict) or not isinstance(body.get("logs", []), list):
            raise ValueError("the logs answer is not a JSON object with a list of logs")
        logs = []
        for entry in body.get("logs") or ():
            if not isinstance(entry, dict):
                continue
            logs.append(TestEventLog(
                event_name=_short(entry.get("event_name", entry.get("event_type"))),
                event_time=answer_int(entry.get("event_time", entry.get("timestamp"))),
                action_source=_short(entry.get("action_source", entry.get("event_conversion_type"))),
                status=str(entry.get("status") or "").upper(),
                errors=_messages(entry.get("error_records")),
                warnings=_messages(entry.get("warning_records")),
            ))
        return cls(str(body.get("status") or ""), tuple(logs), asset_id)

    def summary(self, max_messages: int = MAX_MESSAGES) -> dict[str, Any]:
        """JSON-native, PII-free summary for XCom: counts by status, event name and action source,
        and how often each (scrubbed) error and warning message occurred."""
        return {
            "asset_id": self.asset_id,
            "events": len(self.logs),
            "by_status": _count(log.status or "UNKNOWN" for log in self.logs),
            "by_event_name": _count(log.event_name or "UNKNOWN" for log in self.logs),
            "by_action_source": _count(log.action_source or "UNKNOWN" for log in self.logs),
            "errors": _count((m for log in self.logs for m in log.errors), max_messages),
            "warnings": _count((m for log in self.logs for m in log.warnings), max_messages),
            "latest_event_time": max((log.event_time for log in self.logs if log.event_time), default=None),
        }


def _short(value: Any) -> str | None:
    return None if value is None else scrub_pii(str(value))[:64]


def _messages(records: Any) -> tuple[str, ...]:
    out = []
    for record in records if isinstance(records, list) else ():
        if isinstance(record, dict):
            keys = ("reason", "error_msg", "message", "code")
            record = next((record[key] for key in keys if record.get(key)), None)
        if record:
            out.append(scrub_pii(" ".join(str(record).split()))[:200])
    return tuple(out)


def _count(values: Iterable[str], limit: int | None = None) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if limit is None or len(ordered) <= limit:
        return dict(ordered)
    kept = dict(ordered[:limit])
    kept["other"] = sum(count for _, count in ordered[limit:])
    return kept
