"""Test before going live, in one import: :mod:`.validation` (the validate endpoint and
:func:`validate_rows`), :mod:`.event_stats` (test-event stats) and :mod:`.event_logs` (test-event logs).

Kept for the code that imported these names from here; new code imports them from their own module.
"""

from __future__ import annotations

from snap_capi_provider.core.event_logs import MAX_MESSAGES, TestEventLog, TestEventLogs
from snap_capi_provider.core.event_stats import (
    SOURCES,
    Source,
    StatsWindow,
    TestEventStats,
    check_source,
    epoch_seconds,
    stats_reached,
)
from snap_capi_provider.core.validation import (
    EXAMPLES_PER_REASON,
    LISTED_INVALID_ROWS,
    EventVerdict,
    ValidateResponse,
    ValidationReport,
    VerdictCollector,
    head_rows,
    validate_batch,
    validate_rows,
)

__all__ = [
    "EXAMPLES_PER_REASON", "LISTED_INVALID_ROWS", "MAX_MESSAGES", "SOURCES", "EventVerdict", "Source",
    "StatsWindow", "TestEventLog", "TestEventLogs", "TestEventStats", "ValidateResponse", "ValidationReport",
    "VerdictCollector", "check_source", "epoch_seconds", "head_rows", "stats_reached", "validate_batch",
    "validate_rows",
]
