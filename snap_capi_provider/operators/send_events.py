"""Send rows to Snap's Conversions API as conversion events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, BaseOperator, ObjectStoragePath, XComArg

from snap_capi_provider.core.events import EventOptions, InvalidFieldPolicy
from snap_capi_provider.core.pipeline import DEFAULT_MAX_BATCH_BYTES, MAX_EVENTS_PER_REQUEST, DeliveryOptions
from snap_capi_provider.core.rejected_rows import RejectedRowsWriter, format_for
from snap_capi_provider.core.report import SendReport
from snap_capi_provider.hooks.snap_capi import SnapCapiHook

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class SnapCapiSendEventsOperator(BaseOperator):
    """Normalize, hash, validate and send rows to Snap CAPI; return a per-run report through XCom.

    Every input row ends in exactly one bucket (accepted, rejected with a reason, or failed after
    retries) and ``rows == accepted + rejected + failed``. The task fails when any row failed to be
    delivered, or when the share of rejected rows exceeds ``max_rejected_ratio``; the report is in
    XCom either way.

    :param data: Rows: a list of dicts or a DataFrame, typically the output (``XComArg``) of an
        upstream task. Not a template field, so rows never land in rendered template fields.
    :param field_mapping: Snap field or alias -> source column. Unmapped columns are not sent. When
        omitted, columns already named like Snap fields or aliases (``email``, ``phone``, ...) are used.
    :param event_name: Event name for all rows (or for rows whose mapped event column is empty).
    :param action_source: ``OFFLINE`` (default), ``WEB`` or ``MOBILE_APP``, for rows without a mapped value.
    :param pixel_id: Pixel id for WEB/OFFLINE events; overrides the connection.
    :param snap_app_id: Snap app id for MOBILE_APP events; overrides the connection.
    :param default_phone_region: Country (ISO alpha-2) for national phone numbers of rows without a country.
    :param timezone: Zone of naive timestamps (e.g. ``Europe/Paris``); naive timestamps are rejected otherwise.
    :param event_id_columns: Columns that derive a stable ``event_id`` when none is mapped.
    :param batch_size: Events per request (at most 2000).
    :param max_batch_bytes: Request body cap in bytes.
    :param concurrency: Requests in flight at once.
    :param max_event_age_days: Older events are rejected (Snap refuses events older than 37 days).
    :param max_future_skew_s: Events further in the future are rejected.
    :param max_rejected_ratio: Share of rejected rows tolerated (0 = any rejected row fails the task,
        after the valid rows were sent).
    :param invalid_field_policy: ``reject`` a row with an invalid PII value (default) or ``drop`` the value.
    :param rejected_rows_path: Where to write rejected and failed rows (any ``ObjectStoragePath``
        URL; ``.csv`` for CSV, JSON lines otherwise). Templated.
    :param rejected_rows_columns: Input columns copied into that file (choose non-PII ones, e.g. an order id).
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
        max_rejected_ratio: float = 0.0,
        invalid_field_policy: InvalidFieldPolicy = "reject",
        dedupe_event_ids: bool = True,
        rejected_rows_path: str | None = None,
        rejected_rows_columns: Sequence[str] | None = None,
        api_version: str | None = None,
        max_retries: int = 5,
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
        self.max_rejected_ratio = max_rejected_ratio
        self.invalid_field_policy = invalid_field_policy
        self.dedupe_event_ids = dedupe_event_ids
        self.rejected_rows_path = rejected_rows_path
        self.rejected_rows_columns = rejected_rows_columns
        self.api_version = api_version
        self.max_retries = max_retries
        self.request_timeout = request_timeout
        self.chunk_rows = chunk_rows
        self.debug = debug
        # ``data`` is deliberately not a template field (rendering would copy rows into the
        # rendered-fields table and walk every value through Jinja), so wire its XComArg by hand.
        if isinstance(data, XComArg):
            XComArg.apply_upstream_relationship(self, data)
        if not 0 <= max_rejected_ratio <= 1:
            raise ValueError("max_rejected_ratio must be between 0 and 1.")

    @cached_property
    def hook(self) -> SnapCapiHook:
        return SnapCapiHook(self.snap_capi_conn_id, api_version=self.api_version, max_retries=self.max_retries,
                            timeout=self.request_timeout, concurrency=self.concurrency, debug=self.debug)

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
        )

    def resolve_data(self, context: Context) -> Any:
        data = self.data
        return data.resolve(context) if isinstance(data, XComArg) else data

    def execute(self, context: Context) -> dict[str, Any]:
        data = self.resolve_data(context)
        delivery = DeliveryOptions(batch_size=self.batch_size, max_batch_bytes=self.max_batch_bytes,
                                   concurrency=self.concurrency, dedupe_event_ids=self.dedupe_event_ids)
        columns = tuple(self.rejected_rows_columns or ())
        with ExitStack() as stack:
            sink = None
            if self.rejected_rows_path:
                path = ObjectStoragePath(self.rejected_rows_path)
                path.parent.mkdir(parents=True, exist_ok=True)
                stream = stack.enter_context(path.open("w", encoding="utf-8", newline=""))
                sink = RejectedRowsWriter(stream, columns, format_for(self.rejected_rows_path))
            report = self.hook.send_events(
                data, field_mapping=self.field_mapping, event_options=self.event_options(), delivery=delivery,
                pixel_id=self.pixel_id, snap_app_id=self.snap_app_id, sink=sink, sink_columns=columns,
                chunk_rows=self.chunk_rows,
            )
        result = report.to_dict()
        if self.rejected_rows_path:
            result["rejected_rows_path"] = str(self.rejected_rows_path)
        self.log.info("Snap CAPI report: %s", _summary(result))
        problem = self._problem(report)
        if problem:
            context["ti"].xcom_push(key="return_value", value=result)
            raise AirflowException(problem)
        return result

    def _problem(self, report: SendReport) -> str | None:
        if report.error:
            return f"Snap CAPI run stopped: {report.error}. {report.failed} of {report.rows} rows were not delivered."
        if report.failed:
            reasons = ", ".join(f"{reason} ({count})" for reason, count in report.failures.by_reason.items())
            return f"{report.failed} of {report.rows} rows could not be delivered to Snap: {reasons}."
        if report.rows and report.rejected / report.rows > self.max_rejected_ratio:
            reasons = ", ".join(f"{reason} ({count})" for reason, count in report.rejections.by_reason.items())
            return (f"{report.rejected} of {report.rows} rows were rejected (max_rejected_ratio="
                    f"{self.max_rejected_ratio}); the {report.accepted} valid rows were sent. Reasons: {reasons}.")
        return None


def _summary(report: Mapping[str, Any]) -> str:
    keys = ("rows", "accepted", "rejected", "failed", "requests", "retries", "duration_s", "events_per_s")
    return ", ".join(f"{key}={report[key]}" for key in keys)
