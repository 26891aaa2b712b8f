"""Wait, without holding a worker slot, until Snap's stats show enough test or live events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from snap_capi_provider.core.client import SnapCapiRetriesExhausted
from snap_capi_provider.core.event_stats import TestEventStats, check_source, stats_reached
from snap_capi_provider.hooks.snap_capi import SnapCapiHook, merge_hook_params

#: Transport defaults of the trigger's hook: one request of at most 30 s, no retries of its own (a poll
#: that cannot read the stats tries again at the next poll). ``hook_params`` override them.
TRIGGER_HOOK_DEFAULTS = {"timeout": 30.0, "max_retries": 0}


class SnapCapiTestEventStatsTrigger(BaseTrigger):
    """Poll the stats endpoint until ``source`` events reach ``min_event_count`` (and, with
    ``newer_than``, the latest arrived at or after it), or until the deadline.

    Each poll is one call of :meth:`SnapCapiHook.a_get_test_event_stats` (the hook's async client
    does the HTTP, auth and redaction); this class only polls, keeps the deadline and fires one event:
    ``{"status": "success", "stats": {...}}``, ``{"status": "timeout", "message", "stats"}`` or
    ``{"status": "error", "message"}``. Serialized kwargs carry the connection id, never
    the token; the deadline is absolute, so a restarted triggerer does not extend the wait.

    .. seealso::
        The sensor that defers to it: :ref:`howto/operator:SnapCapiTestEventStatsSensor`

    :param snap_capi_conn_id: The ``snap_capi`` connection (read in the triggerer).
    :param asset_id: Pixel id or Snap app id whose stats are read.
    :param source: ``test`` or ``live``.
    :param min_event_count: Events of the past hour needed.
    :param newer_than: Unix seconds the latest event must not be older than (None: any).
    :param poll_interval: Seconds between polls.
    :param timeout: Seconds from now before giving up (used when ``deadline`` is not given).
    :param deadline: Unix time at which to give up.
    :param hook_params: Transport settings of :class:`~snap_capi_provider.hooks.snap_capi.SnapCapiHook`
        (``api_version``, ``timeout``, ``debug``, ...; default: 30 s per request, no retries).
    :param api_version: Read from triggers serialized before ``hook_params`` (as ``hook_params["api_version"]``).
    :param request_timeout: Likewise (as ``hook_params["timeout"]``).
    :param debug: Likewise (as ``hook_params["debug"]``).
    """

    def __init__(self, *, snap_capi_conn_id: str, asset_id: str, source: str = "test",
                 min_event_count: int = 1, newer_than: int | None = None, poll_interval: float = 30.0,
                 timeout: float | None = None, deadline: float | None = None,
                 hook_params: dict[str, Any] | None = None, api_version: str | None = None,
                 request_timeout: float | None = None, debug: bool | None = None) -> None:
        super().__init__()
        if deadline is None and timeout is None:
            raise ValueError("Give the trigger a timeout or a deadline: it must never wait forever.")
        self.snap_capi_conn_id = snap_capi_conn_id
        self.asset_id = asset_id
        self.source = check_source(source)
        self.min_event_count = int(min_event_count)
        self.newer_than = newer_than
        self.poll_interval = max(float(poll_interval), 0.05)
        self.timeout = timeout
        self.deadline = float(deadline) if deadline is not None else time.time() + float(timeout or 0)
        # A trigger serialized before hook_params carries these three; fold them in (no warning: the
        # triggerer, not a DAG author, passes them).
        legacy = {"api_version": api_version, "timeout": request_timeout, "debug": debug}
        self.hook_params = {**{k: v for k, v in legacy.items() if v is not None},
                            **merge_hook_params(type(self).__name__, hook_params)}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}", {
            "snap_capi_conn_id": self.snap_capi_conn_id,
            "asset_id": self.asset_id,
            "source": self.source,
            "min_event_count": self.min_event_count,
            "newer_than": self.newer_than,
            "poll_interval": self.poll_interval,
            "timeout": self.timeout,
            "deadline": self.deadline,
            "hook_params": self.hook_params,
        })

    def _hook(self) -> SnapCapiHook:
        return SnapCapiHook(self.snap_capi_conn_id, **{**TRIGGER_HOOK_DEFAULTS, **self.hook_params})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self._hook()
        last: TestEventStats | None = None
        problem = "no answer yet"
        while True:
            try:
                last = await hook.a_get_test_event_stats(self.asset_id)
                problem = ""
            except (SnapCapiRetriesExhausted, ValueError) as exc:  # transient: poll on until the deadline
                problem = str(exc) or type(exc).__name__
                self.log.warning("Snap CAPI stats of asset %s not read (%s); polling on.", self.asset_id, problem)
            except Exception as exc:  # refused token, unknown asset, bad connection: waiting cannot help
                yield TriggerEvent({"status": "error", "message": str(exc) or type(exc).__name__})
                return
            if last is not None and self._reached(last):
                yield TriggerEvent({"status": "success", "stats": last.to_dict()})
                return
            remaining = self.deadline - time.time()
            if remaining <= 0:
                yield TriggerEvent({"status": "timeout", "message": self._timeout_message(last, problem),
                                    "stats": last.to_dict() if last else None})
                return
            await asyncio.sleep(min(self.poll_interval, remaining))

    def _reached(self, stats: TestEventStats) -> bool:
        return stats_reached(stats, self.source, self.min_event_count, self.newer_than)

    def _timeout_message(self, last: TestEventStats | None, problem: str) -> str:
        if last is None:
            seen = "no stats could be read"
        else:
            window = last.window(self.source)
            seen = (f"last seen: {window.event_count_past_hour} {self.source} events in the past hour, "
                    f"latest at {window.latest_event_ts}")
        wanted = f"at least {self.min_event_count} {self.source} events"
        if self.newer_than is not None:
            wanted += f", the latest at or after {self.newer_than}"
        return (f"Snap CAPI stats of asset {self.asset_id} did not show {wanted} before the deadline; {seen}"
                + (f" ({problem})." if problem else "."))
