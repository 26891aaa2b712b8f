"""Wait until Snap's test-event stats show that events arrived."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowSensorTimeout,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from snap_capi_provider.core.client import SnapCapiError, SnapCapiRetriesExhausted
from snap_capi_provider.core.event_stats import TestEventStats, check_source, epoch_seconds, stats_reached
from snap_capi_provider.hooks.snap_capi import SnapCapiHook, merge_hook_params
from snap_capi_provider.triggers.snap_capi import SnapCapiTestEventStatsTrigger

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class SnapCapiTestEventStatsSensor(BaseSensorOperator):
    """Wait until the stats endpoint shows at least ``min_event_count`` test (or live) events of the
    past hour, optionally the latest of them at or after ``newer_than``. Returns the stats (XCom):
    ``{"status", "asset_id", "test": {"event_count_past_hour", "latest_event_ts"}, "live": {...}}``.

    .. seealso::
        For more information on how to use this sensor, take a look at the guide:
        :ref:`howto/operator:SnapCapiTestEventStatsSensor`

    Works in ``poke`` and ``reschedule`` mode, and deferrable (``deferrable=True``, default from
    ``[operators] default_deferrable``): the wait then runs in the triggerer, which gives up at
    ``timeout`` on its own.

    :param snap_capi_conn_id: The ``snap_capi`` connection.
    :param asset_id: Pixel id or Snap app id (default: the connection's pixel id, else its app id). Templated.
    :param source: ``test`` (events posted to the validate endpoint) or ``live``. Templated.
    :param min_event_count: Events of the past hour needed. Templated.
    :param newer_than: A timestamp (aware datetime, ISO-8601, or Unix seconds; naive values are UTC)
        the latest event must not be older than, e.g. the ``started_at`` of a validation report:
        ``"{{ ti.xcom_pull('send_test_events')['started_at'] }}"``. Snap only gives the count of the
        whole past hour, so the count may include older events. Templated.
    :param hook_params: Transport settings of :class:`~snap_capi_provider.hooks.snap_capi.SnapCapiHook`:
        ``api_version`` (``v3``/``v2``, overrides the connection), ``timeout`` (seconds one stats request
        may take, default 30), ``max_retries`` (default 1 per poke, 0 per poll in the triggerer: the next
        poke tries again), ``debug`` (log each request, token and PII redacted; overrides the connection's
        ``debug`` extra), ... The flat ``api_version``, ``request_timeout`` and ``debug`` arguments are
        deprecated.
    :param deferrable: Wait in the triggerer instead of a worker slot (default from
        ``[operators] default_deferrable``).
    """

    template_fields: Sequence[str] = ("asset_id", "source", "min_event_count", "newer_than")
    ui_color = "#FFFC00"

    def __init__(self, *, snap_capi_conn_id: str = SnapCapiHook.default_conn_name,
                 asset_id: str | None = None, source: str = "test", min_event_count: int | str = 1,
                 newer_than: Any = None, hook_params: dict[str, Any] | None = None,
                 deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
                 **kwargs: Any) -> None:
        params = merge_hook_params(type(self).__name__, hook_params, kwargs)  # pops the deprecated flat ones
        super().__init__(**kwargs)
        self.snap_capi_conn_id = snap_capi_conn_id
        self.asset_id = asset_id
        self.source = source
        self.min_event_count = min_event_count
        self.newer_than = newer_than
        self.hook_params = params
        self.deferrable = deferrable

    @cached_property
    def hook(self) -> SnapCapiHook:
        # A poke that cannot read the stats tries again at the next poke: keep its own retries short.
        return SnapCapiHook(self.snap_capi_conn_id, **{"timeout": 30.0, "max_retries": 1, **self.hook_params})

    def _condition(self) -> tuple[str, int, int | None]:
        """``source``, ``min_event_count`` and ``newer_than`` (Unix seconds), checked after rendering."""
        try:
            source = check_source(self.source)
            count = _whole_number(self.min_event_count)
            newer_than = epoch_seconds(self.newer_than)
        except (TypeError, ValueError, OverflowError) as exc:
            raise AirflowException(f"Invalid sensor argument: {exc}") from None
        if count < 1:
            raise AirflowException("min_event_count must be at least 1.")
        return source, count, newer_than

    def poke(self, context: Context) -> PokeReturnValue:
        source, count, newer_than = self._condition()
        try:
            stats = self.hook.get_test_event_stats(self.asset_id or None)
        except SnapCapiRetriesExhausted as exc:
            self.log.warning("Snap CAPI stats not read (%s); trying again at the next poke.", exc)
            return PokeReturnValue(False)
        except SnapCapiError as exc:  # refused token, unknown asset: waiting cannot help
            raise AirflowException(str(exc)) from None
        except ValueError as exc:
            self.log.warning("Unexpected Snap CAPI stats answer (%s); trying again at the next poke.", exc)
            return PokeReturnValue(False)
        window = stats.window(source)
        done = stats_reached(stats, source, count, newer_than)
        newer = f" newer than {newer_than}" if newer_than is not None else ""
        self.log.info("Snap CAPI %s events of asset %s in the past hour: %d (latest at %s); "
                      "waiting for %d%s: %s", source, stats.asset_id, window.event_count_past_hour,
                      window.latest_event_ts, count, newer, "met" if done else "not yet")
        return PokeReturnValue(done, stats.to_dict() if done else None)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if first.is_done:
            return first.xcom_value
        source, count, newer_than = self._condition()
        self.defer(
            trigger=SnapCapiTestEventStatsTrigger(
                snap_capi_conn_id=self.snap_capi_conn_id, asset_id=self.hook.asset_id(self.asset_id or None),
                source=source, min_event_count=count, newer_than=newer_than, poll_interval=self.poke_interval,
                deadline=time.time() + self.timeout, hook_params=self.hook_params,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Back from the triggerer: the stats on success, else a clear failure (skip with ``soft_fail``)."""
        if not event:
            raise AirflowException("The Snap CAPI stats trigger ended without an event.")
        status = event.get("status")
        if status == "success":
            stats = TestEventStats.from_dict(event["stats"])
            self.log.info("Snap CAPI stats condition met: %s", stats.to_dict())
            return stats.to_dict()
        if status == "timeout":
            raise AirflowSensorTimeout(event.get("message") or "Snap CAPI stats sensor timed out.")
        raise AirflowException(event.get("message") or f"Snap CAPI stats trigger failed ({status}).")


def _whole_number(value: object) -> int:
    """``min_event_count`` as rendered: an int, or text of one (``"5"``); not a bool, a fraction or inf."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"min_event_count must be a whole number, not {value!r}")
    return int(value)  # type: ignore[call-overload]
