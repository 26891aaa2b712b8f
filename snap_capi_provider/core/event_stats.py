"""Snap's test-event stats (spec section 5): how many test and live events arrived in the past hour."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from snap_capi_provider.core import normalize as rules

Source = Literal["test", "live"]
SOURCES: tuple[str, ...] = ("test", "live")



@dataclass(frozen=True)
class StatsWindow:
    """Events Snap saw in the past hour, for test or live events."""

    event_count_past_hour: int = 0
    latest_event_ts: int | None = None


@dataclass(frozen=True)
class TestEventStats:
    """The stats endpoint's answer (spec section 5): test and live counts of the past hour."""

    __test__ = False  # a result, not a test: pytest would collect a Test* class a test module imports

    status: str
    test: StatsWindow
    live: StatsWindow
    asset_id: str | None = None

    def window(self, source: str) -> StatsWindow:
        return self.live if check_source(source) == "live" else self.test

    def to_dict(self) -> dict[str, Any]:
        """JSON-native dict for XCom."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TestEventStats:
        return cls(str(data.get("status") or ""), StatsWindow(**data["test"]), StatsWindow(**data["live"]),
                   data.get("asset_id"))

    @classmethod
    def parse(cls, body: Any, asset_id: str | None = None) -> TestEventStats:
        """From a v3 or v2 stats body; raises ``ValueError`` when it is not one."""
        if not isinstance(body, dict):
            raise ValueError("the stats answer is not a JSON object")
        stats = body.get("stats") if isinstance(body.get("stats"), dict) else body
        if not any(isinstance(stats.get(source), dict) for source in SOURCES):
            raise ValueError("the stats answer has neither test nor live stats")
        return cls(str(body.get("status") or ""), _window(stats.get("test")), _window(stats.get("live")),
                   asset_id)


def _window(data: Any) -> StatsWindow:
    if not isinstance(data, dict):
        return StatsWindow()
    return StatsWindow(answer_int(data.get("event_count_past_hour")) or 0,
                       answer_int(data.get("latest_event_ts")))


def answer_int(value: Any) -> int | None:
    """A count or a Unix timestamp from an answer (milliseconds become seconds); None when it is not one."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    if number >= 10**11:  # milliseconds
        number /= 1000
    return int(number)


def check_source(source: str) -> str:
    text = str(source).strip().lower()
    if text not in SOURCES:
        raise ValueError(f"source must be 'test' or 'live', not {source!r}.")
    return text


def epoch_seconds(value: Any) -> int | None:
    """Unix seconds of a timestamp (aware datetime, ISO-8601, epoch s/ms); naive values are UTC."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return rules.event_time(value, "UTC")
    except rules.InvalidValue:
        raise ValueError(f"not a timestamp: {str(value)[:40]!r}") from None


def stats_reached(stats: TestEventStats, source: str, min_event_count: int,
                  newer_than: int | None = None) -> bool:
    """Whether ``source`` events of the past hour number at least ``min_event_count`` and, with
    ``newer_than`` (Unix seconds), the latest of them arrived at or after it."""
    window = stats.window(source)
    if window.event_count_past_hour < min_event_count:
        return False
    if newer_than is not None:
        return window.latest_event_ts is not None and window.latest_event_ts >= newer_than
    return True


