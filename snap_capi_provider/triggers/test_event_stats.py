"""Wait, without holding a worker slot, until Snap's stats show enough test or live events."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from airflow.triggers.base import BaseTrigger, TriggerEvent
from asgiref.sync import sync_to_async

from snap_capi_provider.core.client import RETRYABLE_STATUS, auth, check_base_url, endpoint, log_exchange
from snap_capi_provider.core.redact import install_log_filters, redact
from snap_capi_provider.core.testing_api import TestEventStats, check_source, stats_reached
from snap_capi_provider.hooks.snap_capi import SnapCapiHook, SnapCapiSettings


class _Fatal(Exception):
    """An answer that waiting longer cannot change (refused token, unknown asset, bad request)."""


class SnapCapiTestEventStatsTrigger(BaseTrigger):
    """Poll the stats endpoint until ``source`` events reach ``min_event_count`` (and, with
    ``newer_than``, the latest arrived at or after it), or until the deadline.

    Fires one event: ``{"status": "success", "stats": {...}}``, ``{"status": "timeout", "message",
    "stats"}`` or ``{"status": "error", "message"}``. Serialized kwargs carry the connection id, never
    the token; the deadline is absolute, so a restarted triggerer does not extend the wait.

    :param snap_capi_conn_id: The ``snap_capi`` connection (read in the triggerer).
    :param asset_id: Pixel id or Snap app id whose stats are read.
    :param source: ``test`` or ``live``.
    :param min_event_count: Events of the past hour needed.
    :param newer_than: Unix seconds the latest event must not be older than (None: any).
    :param poll_interval: Seconds between polls.
    :param timeout: Seconds from now before giving up (used when ``deadline`` is not given).
    :param deadline: Unix time at which to give up.
    :param api_version: ``v3`` or ``v2``; overrides the connection.
    :param request_timeout: Seconds one request may take.
    :param debug: Log each request (token and PII redacted); overrides the connection.
    """

    def __init__(self, *, snap_capi_conn_id: str, asset_id: str, source: str = "test",
                 min_event_count: int = 1, newer_than: int | None = None, poll_interval: float = 30.0,
                 timeout: float | None = None, deadline: float | None = None, api_version: str | None = None,
                 request_timeout: float = 30.0, debug: bool | None = None) -> None:
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
        self.api_version = api_version
        self.request_timeout = float(request_timeout)
        self.debug = debug

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
            "api_version": self.api_version,
            "request_timeout": self.request_timeout,
            "debug": self.debug,
        })

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            # The connection is read in a worker thread (BaseHook.get_connection), as the compat
            # layer's get_async_connection does where the async path could deadlock.
            settings = await sync_to_async(self._settings)()
        except Exception as exc:  # our errors never carry the token
            yield TriggerEvent({"status": "error", "message": f"Cannot read the Snap CAPI connection: {exc}"})
            return
        install_log_filters()
        last: TestEventStats | None = None
        problem = "no answer yet"
        async with aiohttp.ClientSession(headers={"User-Agent": "snap-capi-provider"}) as session:
            while True:
                try:
                    last = await self._fetch(session, settings)
                    problem = ""
                except _Fatal as exc:
                    yield TriggerEvent({"status": "error", "message": str(exc)})
                    return
                except Exception as exc:  # transient: keep polling until the deadline
                    problem = redact(str(exc) or type(exc).__name__, (settings.access_token,))
                    self.log.warning("Snap CAPI stats of asset %s not read (%s); polling on.",
                                     self.asset_id, problem)
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

    def _settings(self) -> SnapCapiSettings:
        hook = SnapCapiHook(self.snap_capi_conn_id, api_version=self.api_version, debug=self.debug)
        settings = hook.settings
        return dataclasses.replace(settings, base_url=check_base_url(settings.base_url))

    async def _fetch(self, session: aiohttp.ClientSession, settings: SnapCapiSettings) -> TestEventStats:
        path, query = endpoint(settings.api_version, "stats", self.asset_id)
        headers, token_query = auth(settings.api_version, settings.access_token)
        url = settings.base_url + path
        limit = max(min(self.request_timeout, self.deadline - time.time()), 1.0)
        started = time.monotonic()
        try:
            async with session.get(url, params={**query, **token_query}, headers=headers,
                                   timeout=aiohttp.ClientTimeout(total=limit)) as response:
                status, text = response.status, await response.text()
        except asyncio.TimeoutError:
            raise RuntimeError("timed out") from None
        except aiohttp.ClientError as exc:  # the text may hold the URL, and the URL the token
            raise RuntimeError(f"connection error ({type(exc).__name__})") from None
        text = redact(text[:2000], (settings.access_token,))
        if settings.debug:
            log_exchange("GET", path, status, 0, time.monotonic() - started, text)
        if status in RETRYABLE_STATUS:
            raise RuntimeError(f"HTTP {status}")
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = None
        if not 200 <= status < 300:
            reason = body.get("reason") if isinstance(body, dict) else text[:200]
            raise _Fatal(f"Snap CAPI answered HTTP {status} to the test-event stats request for asset "
                         f"{self.asset_id}: {reason}")
        try:
            return TestEventStats.parse(body, self.asset_id)
        except ValueError as exc:
            raise RuntimeError(f"unexpected stats answer ({exc})") from None

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
