"""The base of the operators that take rows: one set of inputs, mapping and event options for sending
and validating, so the two can never drift apart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator, ObjectStoragePath, XComArg

from snap_capi_provider.core.events import EventOptions, InvalidFieldPolicy
from snap_capi_provider.core.pipeline import (
    DEFAULT_MAX_BATCH_BYTES,
    MAX_EVENTS_PER_REQUEST,
    DeliveryOptions,
    RowSink,
)
from snap_capi_provider.core.rejected_rows import RejectedRowsWriter, format_for
from snap_capi_provider.hooks.snap_capi import SnapCapiHook

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class SnapCapiRowsOperator(BaseOperator):
    """Rows in, Snap events out: the inputs shared by the send and validate operators.

    :param data: Rows: a list of dicts or a DataFrame, typically the output (``XComArg``) of an
        upstream task. Not a template field, so rows never land in rendered template fields.
    :param field_mapping: Snap field or alias -> source column. Unmapped columns are not sent. When
        omitted, columns already named like Snap fields or aliases (``email``, ``phone``, ...) are used.
    :param event_name: Event name for all rows (or for rows whose mapped event column is empty).
    :param action_source: ``OFFLINE`` (default), ``WEB`` or ``MOBILE_APP``, for rows without a mapped value.
    :param snap_capi_conn_id: The ``snap_capi`` connection.
    :param pixel_id: Pixel id for WEB/OFFLINE events; overrides the connection.
    :param snap_app_id: Snap app id for MOBILE_APP events; overrides the connection.
    :param default_phone_region: Country (ISO alpha-2) for national phone numbers of rows without a country.
    :param timezone: Zone of naive timestamps (e.g. ``Europe/Paris``); naive timestamps are rejected
        otherwise.
    :param event_id_columns: Columns that derive a stable ``event_id`` when none is mapped.
    :param batch_size: Events per request (at most 2000).
    :param max_batch_bytes: Request body cap in bytes.
    :param concurrency: Requests in flight at once.
    :param max_event_age_days: Older events are rejected (Snap refuses events older than 37 days).
    :param max_future_skew_s: Events further in the future are rejected.
    :param invalid_field_policy: ``reject`` a row with an invalid PII value (default) or ``drop`` the value.
    :param hash_madid: Send the mobile ad id SHA-256 hashed in v3 (default: raw, lower case; Snap's docs
        are ambiguous, see ``docs/configuration.md``).
    :param dedupe_event_ids: Reject a repeated ``event_id`` within one run.
    :param rejected_rows_path: Where to write rejected and failed rows (any ``ObjectStoragePath``
        URL; ``.csv`` for CSV, JSON lines otherwise). Templated.
    :param rejected_rows_columns: Input columns copied into that file (choose non-PII ones, e.g. an order id).
    :param api_version: ``v3`` or ``v2``; overrides the connection.
    :param max_retries: Retries of a request on 429, 5xx, timeouts and dropped connections.
    :param retry_backoff_s: First retry delay in seconds (doubling, with jitter); a ``Retry-After``
        header takes precedence.
    :param retry_backoff_max_s: Longest delay between two retries, in seconds.
    :param request_timeout: Read timeout of one request, in seconds.
    :param chunk_rows: Rows prepared at a time.
    :param debug: Log every request (method, path, status, event count, timing, response; token and PII
        redacted); overrides the connection's ``debug`` extra.
    """

    template_fields: Sequence[str] = (
        "field_mapping", "event_name", "action_source", "pixel_id", "snap_app_id", "default_phone_region",
        "timezone", "event_id_columns", "rejected_rows_path", "rejected_rows_columns",
    )
    template_fields_renderers = {"field_mapping": "json"}
    ui_color = "#FFFC00"

    def __init__(
        self,
        *,
        data: Any = None,
        field_mapping: Mapping[str, str] | None = None,
        event_name: str | None = None,
        action_source: str = "OFFLINE",
        snap_capi_conn_id: str = SnapCapiHook.default_conn_name,
        pixel_id: str | None = None,
        snap_app_id: str | None = None,
        default_phone_region: str | None = None,
        timezone: str | None = None,
        event_id_columns: Sequence[str] | None = None,
        batch_size: int = MAX_EVENTS_PER_REQUEST,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        concurrency: int = 4,
        max_event_age_days: float = 37,
        max_future_skew_s: float = 300,
        invalid_field_policy: InvalidFieldPolicy = "reject",
        hash_madid: bool = False,
        dedupe_event_ids: bool = True,
        rejected_rows_path: str | None = None,
        rejected_rows_columns: Sequence[str] | None = None,
        api_version: str | None = None,
        max_retries: int = 5,
        retry_backoff_s: float = 0.5,
        retry_backoff_max_s: float = 30.0,
        request_timeout: float = 30.0,
        chunk_rows: int = 20_000,
        debug: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data = data
        self.field_mapping = field_mapping
        self.event_name = event_name
        self.action_source = action_source
        self.snap_capi_conn_id = snap_capi_conn_id
        self.pixel_id = pixel_id
        self.snap_app_id = snap_app_id
        self.default_phone_region = default_phone_region
        self.timezone = timezone
        self.event_id_columns = event_id_columns
        self.batch_size = batch_size
        self.max_batch_bytes = max_batch_bytes
        self.concurrency = concurrency
        self.max_event_age_days = max_event_age_days
        self.max_future_skew_s = max_future_skew_s
        self.invalid_field_policy = invalid_field_policy
        self.hash_madid = hash_madid
        self.dedupe_event_ids = dedupe_event_ids
        self.rejected_rows_path = rejected_rows_path
        self.rejected_rows_columns = rejected_rows_columns
        self.api_version = api_version
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self.retry_backoff_max_s = retry_backoff_max_s
        self.request_timeout = request_timeout
        self.chunk_rows = chunk_rows
        self.debug = debug
        # ``data`` is deliberately not a template field (rendering would copy rows into the
        # rendered-fields table and walk every value through Jinja), so wire its XComArg by hand.
        if isinstance(data, XComArg):
            XComArg.apply_upstream_relationship(self, data)

    @cached_property
    def hook(self) -> SnapCapiHook:
        return SnapCapiHook(self.snap_capi_conn_id, api_version=self.api_version,
                            max_retries=self.max_retries, retry_backoff_s=self.retry_backoff_s,
                            retry_backoff_max_s=self.retry_backoff_max_s, timeout=self.request_timeout,
                            concurrency=self.concurrency, debug=self.debug)

    def event_options(self) -> EventOptions:
        return EventOptions(
            event_name=self.event_name,
            action_source=self.action_source or "OFFLINE",
            default_phone_region=self.default_phone_region,
            timezone=self.timezone,
            max_event_age_days=self.max_event_age_days,
            max_future_skew_s=self.max_future_skew_s,
            event_id_columns=tuple(self.event_id_columns or ()),
            invalid_field_policy=self.invalid_field_policy,
            hash_madid=self.hash_madid,
        )

    def delivery_options(self) -> DeliveryOptions:
        return DeliveryOptions(batch_size=self.batch_size, max_batch_bytes=self.max_batch_bytes,
                               concurrency=self.concurrency, dedupe_event_ids=self.dedupe_event_ids)

    def resolve_data(self, context: Context) -> Any:
        data = self.data
        return data.resolve(context) if isinstance(data, XComArg) else data

    @property
    def sink_columns(self) -> tuple[str, ...]:
        return tuple(self.rejected_rows_columns or ())

    def open_sink(self, stack: ExitStack) -> RowSink | None:
        """The rejected-rows file writer, closed with ``stack`` (None without ``rejected_rows_path``)."""
        if not self.rejected_rows_path:
            return None
        path = ObjectStoragePath(self.rejected_rows_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        stream = stack.enter_context(path.open("w", encoding="utf-8", newline=""))
        return RejectedRowsWriter(stream, self.sink_columns, format_for(self.rejected_rows_path))
