"""Airflow hook for Snap's Conversions API: a ``snap_capi`` connection turned into a client."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
from airflow.providers.common.compat.sdk import BaseHook, mask_secret

from snap_capi_provider.core.client import (
    DEFAULT_BASE_URL,
    ApiResponse,
    RetryPolicy,
    SnapCapiClient,
    SnapCapiError,
)
from snap_capi_provider.core.events import EventOptions
from snap_capi_provider.core.pipeline import Assets, DeliveryOptions, RowSink, send_rows
from snap_capi_provider.core.report import SendReport
from snap_capi_provider.core.sources import iter_chunks
from snap_capi_provider.core.testing_api import TestEventLogs, TestEventStats, ValidationReport, validate_rows

CONN_EXTRA_FIELDS = ("pixel_id", "snap_app_id", "app_id", "api_version", "debug")


@dataclass(frozen=True)
class SnapCapiSettings:
    """What a ``snap_capi`` connection says (the token is kept out of ``repr``)."""

    access_token: str
    base_url: str
    pixel_id: str | None
    snap_app_id: str | None
    app_id: str | None
    api_version: str
    debug: bool

    def __repr__(self) -> str:
        return (f"SnapCapiSettings(base_url={self.base_url!r}, pixel_id={self.pixel_id!r}, "
                f"snap_app_id={self.snap_app_id!r}, api_version={self.api_version!r}, access_token='***')")


class SnapCapiHook(BaseHook):
    """Interact with Snap's Conversions API.

    Connection: password = access token; host = base URL (default ``https://tr.snapchat.com``, any
    https Launch Pad URL, or plain http to a loopback host such as the local emulator); extras
    ``pixel_id``, ``snap_app_id``, ``app_id`` (v2 app events), ``api_version`` (``v3`` or ``v2``),
    ``debug``.

    :param snap_capi_conn_id: The ``snap_capi`` connection id.
    :param api_version: Overrides the connection's ``api_version``.
    :param timeout: (connect, read) timeout in seconds for one HTTP request.
    :param max_retries: Retries of a request on 429, 5xx, timeouts and dropped connections.
    :param debug: Log every request's method, path, status, event count, timing and response body.
    """

    conn_name_attr = "snap_capi_conn_id"
    default_conn_name = "snap_capi_default"
    conn_type = "snap_capi"
    hook_name = "Snap Conversions API"

    def __init__(self, snap_capi_conn_id: str = default_conn_name, *, api_version: str | None = None,
                 timeout: float | tuple[float, float] = (5.0, 30.0), max_retries: int = 5,
                 retry_backoff_s: float = 0.5, retry_backoff_max_s: float = 30.0, concurrency: int = 4,
                 compress: bool = False, debug: bool | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.snap_capi_conn_id = snap_capi_conn_id
        self.api_version = api_version
        self.timeout = timeout if isinstance(timeout, tuple) else (min(float(timeout), 10.0), float(timeout))
        self.retry = RetryPolicy(max_retries=max_retries, backoff_initial_s=retry_backoff_s,
                                 backoff_max_s=retry_backoff_max_s)
        self.concurrency = concurrency
        self.compress = compress
        self.debug = debug

    @cached_property
    def settings(self) -> SnapCapiSettings:
        conn = self.get_connection(self.snap_capi_conn_id)
        extra = conn.extra_dejson or {}

        def option(name: str) -> Any:
            value = extra.get(name, extra.get(f"extra__snap_capi__{name}"))
            return None if value in ("", None) else value

        token = conn.password or option("access_token")
        if not token:
            raise SnapCapiError(
                f"Connection {self.snap_capi_conn_id!r} has no access token (set its password).")
        mask_secret(token)
        host = _with_port(conn.host or DEFAULT_BASE_URL, conn.port)
        api_version = str(self.api_version or option("api_version") or "v3").lower()
        debug = self.debug if self.debug is not None else str(option("debug")).lower() in ("true", "1", "yes")
        return SnapCapiSettings(
            access_token=token,
            base_url=host,
            pixel_id=_text(option("pixel_id")),
            snap_app_id=_text(option("snap_app_id")),
            app_id=_text(option("app_id")),
            api_version=api_version,
            debug=debug,
        )

    def get_conn(self) -> SnapCapiClient:
        """A new client (one pooled HTTP session); close it when done."""
        settings = self.settings
        return SnapCapiClient(
            access_token=settings.access_token,
            base_url=settings.base_url,
            api_version=settings.api_version,
            timeout=self.timeout,
            retry=self.retry,
            pool_size=max(self.concurrency, 1),
            compress=self.compress,
            debug=settings.debug,
        )

    def assets(self, pixel_id: str | None = None, snap_app_id: str | None = None) -> Assets:
        settings = self.settings
        return Assets(pixel_id=pixel_id or settings.pixel_id, snap_app_id=snap_app_id or settings.snap_app_id,
                      app_id=settings.app_id)

    def _targets(self, pixel_id: str | None, snap_app_id: str | None,
                 delivery: DeliveryOptions | None) -> tuple[Assets, DeliveryOptions]:
        assets = self.assets(pixel_id, snap_app_id)
        if not (assets.pixel_id or assets.snap_app_id):
            raise SnapCapiError("No pixel_id or snap_app_id: set one on the connection or the operator.")
        return assets, delivery or DeliveryOptions(concurrency=self.concurrency)

    def send_events(
        self,
        data: pd.DataFrame | Iterable[Mapping[str, Any]] | Iterable[pd.DataFrame],
        *,
        field_mapping: Mapping[str, str] | None = None,
        event_options: EventOptions | None = None,
        delivery: DeliveryOptions | None = None,
        pixel_id: str | None = None,
        snap_app_id: str | None = None,
        sink: RowSink | None = None,
        sink_columns: tuple[str, ...] = (),
        chunk_rows: int = 20_000,
    ) -> SendReport:
        """Normalize, hash, validate and send rows; returns the report of what happened to each row."""
        assets, delivery = self._targets(pixel_id, snap_app_id, delivery)
        with self.get_conn() as client:
            return send_rows(client, iter_chunks(data, chunk_rows), assets=assets,
                             field_mapping=field_mapping, event_options=event_options, delivery=delivery,
                             sink=sink, sink_columns=sink_columns)

    def test_connection(self) -> tuple[bool, str]:
        """Read the test-event stats of the configured asset: checks URL, token and access, sends nothing."""
        try:
            settings = self.settings
            asset_id = self.asset_id()
            with self.get_conn() as client:
                path, params = client.stats_path(asset_id)
                response = client.get_json(path, params)
        except Exception as exc:  # the UI shows the message; our errors never carry the token
            return False, str(exc)
        if response.ok:
            return True, f"Connected to Snap CAPI {settings.api_version} for asset {asset_id}."
        return False, f"Snap CAPI answered HTTP {response.status_code}: {response.text[:200]}"

    # ------------------------------------------------------------------------ test before going live

    def asset_id(self, asset_id: str | None = None) -> str:
        """``asset_id``, else the connection's pixel id, else its Snap app id."""
        settings = self.settings
        chosen = asset_id or settings.pixel_id or settings.snap_app_id
        if not chosen:
            raise SnapCapiError("No asset id: pass asset_id, or set pixel_id or snap_app_id on the "
                                "connection.")
        return str(chosen)

    def validate_events(
        self,
        data: pd.DataFrame | Iterable[Mapping[str, Any]] | Iterable[pd.DataFrame],
        *,
        field_mapping: Mapping[str, str] | None = None,
        event_options: EventOptions | None = None,
        delivery: DeliveryOptions | None = None,
        pixel_id: str | None = None,
        snap_app_id: str | None = None,
        sink: RowSink | None = None,
        sink_columns: tuple[str, ...] = (),
        chunk_rows: int = 20_000,
        sample_size: int | None = None,
    ) -> ValidationReport:
        """Prepare rows exactly as :meth:`send_events` does and post them to the validate endpoint
        (test events: nothing is recorded as live). ``sample_size`` validates only the first rows."""
        assets, delivery = self._targets(pixel_id, snap_app_id, delivery)
        with self.get_conn() as client:
            return validate_rows(client, iter_chunks(data, chunk_rows), assets=assets,
                                 field_mapping=field_mapping, event_options=event_options, delivery=delivery,
                                 sink=sink, sink_columns=sink_columns, sample_size=sample_size)

    def get_test_event_stats(self, asset_id: str | None = None) -> TestEventStats:
        """Test and live event counts of the past hour for an asset (default: the connection's).

        Raises :class:`SnapCapiError` when Snap refuses the request, ``ValueError`` when the answer
        is not stats."""
        asset = self.asset_id(asset_id)
        with self.get_conn() as client:
            response = client.get_json(*client.stats_path(asset))
        return TestEventStats.parse(_checked(response, "test-event stats"), asset)

    def get_test_event_logs(self, asset_id: str | None = None) -> TestEventLogs:
        """Test events of the past 24 hours with Snap's verdicts, for an asset (default: the connection's).

        Raises :class:`SnapCapiError` when Snap refuses the request, ``ValueError`` when the answer
        is not logs."""
        asset = self.asset_id(asset_id)
        with self.get_conn() as client:
            response = client.get_json(*client.logs_path(asset))
        return TestEventLogs.parse(_checked(response, "test-event logs"), asset)


def _checked(response: ApiResponse, what: str) -> Any:
    """The body of a 2xx answer; else a :class:`SnapCapiError` with Snap's reason (never the token)."""
    body = response.body
    if not response.ok:
        reason = body.get("reason") if isinstance(body, dict) else response.text[:200]
        raise SnapCapiError(f"Snap CAPI answered HTTP {response.status_code} to the {what} request: {reason}")
    return body


def _with_port(host: str, port: int | None) -> str:
    """The base URL with the connection's port put into its network location (a Launch Pad URL may
    carry a path prefix, which stays after the port)."""
    if not port:
        return host
    parts = urlsplit(host if "://" in host else "https://" + host)
    if parts.port is not None or not parts.hostname:
        return host
    return urlunsplit(parts._replace(netloc=f"{parts.netloc}:{port}"))


def _text(value: Any) -> str | None:
    return None if value is None else str(value).strip() or None
