"""Operators that take rows and turn them into Snap conversion events: send them, or validate them."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from airflow.providers.common.compat.sdk import AirflowException, BaseOperator

from snap_capi_provider.core.event_logs import MAX_MESSAGES
from snap_capi_provider.core.events import DateOrder, EventOptions, InvalidFieldPolicy
from snap_capi_provider.core.pipeline import DEFAULT_MAX_BATCH_BYTES, MAX_EVENTS_PER_REQUEST, DeliveryOptions
from snap_capi_provider.core.prepare import Shard, usable_cpus
from snap_capi_provider.core.readiness import readiness_advice
from snap_capi_provider.core.sources import DEFAULT_CHUNK_ROWS
from snap_capi_provider.hooks.snap_capi import SnapCapiHook, merge_hook_params
from snap_capi_provider.operators._checks import (
    check_arguments,
    check_logs_arguments,
    common_problem,
    known_total_problem,
    problem_text,
    reasons_text,
    summary_text,
)
from snap_capi_provider.utils.rejected_rows import rejected_rows_file
from snap_capi_provider.utils.sources import check_one_source, open_rows

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

HOOK_PARAMS = ("api_version", "max_retries", "retry_backoff_s", "retry_backoff_max_s", "timeout", "concurrency",
               "compress", "debug")
"""Keys of ``hook_params``: the transport settings of :class:`SnapCapiHook`."""
_DEPRECATED_TO_HOOK = {"api_version": "api_version", "max_retries": "max_retries",
                       "retry_backoff_s": "retry_backoff_s", "retry_backoff_max_s": "retry_backoff_max_s",
                       "request_timeout": "timeout", "concurrency": "concurrency", "debug": "debug"}


class SnapCapiRowsOperator(BaseOperator):
    """Rows in, Snap events out: the arguments and the ``execute`` shared by the send and validate operators.

    .. seealso::
        For more information on how to use the row operators, take a look at the guide:
        :ref:`howto/operator:SnapCapiRowsOperator`

    Exactly one source of rows:

    :param data: Rows: a list of dicts or a DataFrame, typically an upstream task's output (``XComArg``).
        Not templated, so rows never reach rendered template fields; they do pass through XCom, which
        stores them (raw PII included) in Airflow's metadata database: prefer ``sql`` or ``path`` for PII.
    :param sql: A query whose rows are the input (templated; a ``.sql`` file is read as a template), e.g.
        ``... WHERE ts >= '{{ data_interval_start }}' AND ts < '{{ data_interval_end }}'``. Streamed
        ``chunk_rows`` at a time (a server-side cursor on PostgreSQL, MySQL and Redshift); never held whole in memory.
    :param sql_conn_id: The Airflow connection of the database (any common-sql hook: Postgres, Snowflake,
        BigQuery, MySQL, SQLite, ...). Templated.
    :param sql_parameters: Parameters of ``sql`` (a dict or a list, as the driver takes them). Templated.
    :param path: Files: an ``ObjectStoragePath`` or URL (``s3://``, ``gs://``, ``file://``, a local path),
        a glob (``s3://bucket/day=2026-12-01/*.parquet``) or a list of them. CSV, JSON lines and Parquet,
        told by extension; read chunk by chunk. Templated.
    :param file_format: ``csv``, ``jsonl`` or ``parquet``, when the extension does not tell. Templated.
    :param file_encoding: The text encoding of CSV files (default ``utf-8``; ``cp1252`` for Excel's CSV on
        Windows). Templated.

    How rows become events:

    :param field_mapping: Snap field or alias -> source column. Unmapped columns are not sent. When
        omitted, columns already named like Snap fields or aliases (``email``, ``phone``, ...) are used.
        Templated.
    :param event_name: Event name for all rows (or rows whose mapped event column is empty). Templated.
    :param action_source: ``OFFLINE`` (default), ``WEB`` or ``MOBILE_APP``, for rows without a mapped
        value. Templated.
    :param pixel_id: Pixel id for WEB/OFFLINE events; overrides the connection. Templated.
    :param snap_app_id: Snap app id for MOBILE_APP events; overrides the connection. Templated.
    :param default_phone_region: Country (ISO alpha-2) for national phone numbers of rows without a
        country. Templated.
    :param timezone: Zone of naive timestamps (e.g. ``Europe/Paris``); naive timestamps are rejected
        otherwise. Templated.
    :param event_id_columns: Columns that derive a stable ``event_id`` when none is mapped. Templated.
    :param max_event_age_days: Older events are rejected (Snap refuses events older than 37 days).
    :param max_future_skew_s: Events further in the future are rejected.
    :param invalid_field_policy: ``reject`` a row with an invalid PII value (default) or ``drop`` the value.
    :param hash_madid: Send the mobile ad id SHA-256 hashed in v3 (default: raw, lower case; Snap's docs
        are ambiguous, see ``docs/configuration.md``).
    :param date_order: How a birth date such as ``12/11/1997`` reads when both first parts could be the
        month: ``MDY`` (US, the default) or ``DMY`` (most of the world).
    :param dedupe_event_ids: Reject a repeated ``event_id`` within one run.

    Where rows that were not accepted go, and when the task fails:

    :param rejected_rows_path: File receiving rejected and failed rows (any ``ObjectStoragePath`` URL;
        ``.csv`` for CSV, JSON lines otherwise); replaced when the run ends. Templated.
    :param rejected_rows_columns: Input columns copied into that file (choose non-PII ones, e.g. an
        order id). Templated.
    :param fail_on_empty: Fail the task when the source gave no rows (default: a warning in the log).
    :param min_rows: Fail the task when the source gave fewer rows than this. Checked before anything is
        sent when the count is known up front (in-memory rows, Parquet metadata, ``sql`` with
        ``count_rows=True``), otherwise at the end of the run, after the rows were sent.
    :param min_match_ready_ratio: Fail the task (after sending) when the share of accepted events carrying a
        strong identifier (email, phone, mobile ad id, click id or ``_scid`` cookie) is below this.

    Scale:

    :param chunk_rows: Rows read and prepared at a time (memory grows with it, not with the input).
    :param batch_size: Events per request (at most 2000).
    :param max_batch_bytes: Request body cap in bytes.
    :param max_requests_per_second: Client-side cap on requests started per second.
    :param prepare_processes: Worker processes that normalize and encode chunks (default 1: the task's
        own process); use the task's cores when one cannot keep up with the input. ``"auto"``: as many as
        the task may use (its CPU affinity, capped by a container's CPU quota).
    :param shard_index: With ``shard_count``, send only the rows whose ``shard_key`` hashes to this shard:
        map ``shard_index`` over ``range(shard_count)`` to fan one input out over workers.
    :param shard_count: Number of shards (default 1: every row).
    :param shard_key: Column that assigns rows to shards (default: the mapped ``event_id``, ``order_id``,
        ``client_dedup_id`` or ``transaction_id`` column, the first found).
    :param count_rows: Run ``SELECT COUNT(*)`` over ``sql`` first, for an ETA in the progress lines.
    :param progress_interval_s: Seconds between progress lines in the task log.

    Connection:

    :param snap_capi_conn_id: The ``snap_capi`` connection.
    :param hook_params: Transport settings of :class:`~snap_capi_provider.hooks.snap_capi.SnapCapiHook`:
        ``api_version`` (``v3``/``v2``, overrides the connection), ``max_retries``, ``retry_backoff_s``,
        ``retry_backoff_max_s``, ``timeout`` (seconds per request attempt), ``concurrency`` (requests in
        flight), ``compress`` (gzip bodies), ``debug`` (log every request, token and PII redacted). The
        same keys as flat arguments are deprecated.
    """

    template_fields: Sequence[str] = (
        "sql", "sql_conn_id", "sql_parameters", "path", "file_format", "file_encoding", "field_mapping", "event_name",
        "action_source", "pixel_id", "snap_app_id", "default_phone_region", "timezone", "event_id_columns",
        "rejected_rows_path", "rejected_rows_columns",
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers = {"sql": "sql", "field_mapping": "json", "sql_parameters": "json"}
    ui_color = "#FFFC00"

    def __init__(
        self,
        *,
        data: Any = None,
        sql: str | None = None,
        sql_conn_id: str | None = None,
        sql_parameters: Mapping[str, Any] | Sequence[Any] | None = None,
        path: Any = None,
        file_format: str | None = None,
        file_encoding: str | None = None,
        field_mapping: Mapping[str, str] | None = None,
        event_name: str | None = None,
        action_source: str = "OFFLINE",
        snap_capi_conn_id: str = SnapCapiHook.default_conn_name,
        pixel_id: str | None = None,
        snap_app_id: str | None = None,
        default_phone_region: str | None = None,
        timezone: str | None = None,
        event_id_columns: Sequence[str] | None = None,
        max_event_age_days: float = 37,
        max_future_skew_s: float = 300,
        invalid_field_policy: InvalidFieldPolicy = "reject",
        hash_madid: bool = False,
        date_order: DateOrder = "MDY",
        dedupe_event_ids: bool = True,
        rejected_rows_path: str | None = None,
        rejected_rows_columns: Sequence[str] | str | None = None,
        fail_on_empty: bool = False,
        min_rows: int | None = None,
        min_match_ready_ratio: float | None = None,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        batch_size: int = MAX_EVENTS_PER_REQUEST,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        max_requests_per_second: float | None = None,
        prepare_processes: int | Literal["auto"] = 1,
        shard_index: int = 0,
        shard_count: int = 1,
        shard_key: str | None = None,
        count_rows: bool = False,
        progress_interval_s: float = 5.0,
        hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        deprecated = {name: kwargs.pop(name) for name in list(kwargs) if name in _DEPRECATED_TO_HOOK}
        super().__init__(**kwargs)
        self.data, self.sql, self.sql_conn_id, self.sql_parameters = data, sql, sql_conn_id, sql_parameters
        self.path, self.file_format, self.file_encoding = path, file_format, file_encoding
        self.field_mapping, self.event_name, self.action_source = field_mapping, event_name, action_source
        self.snap_capi_conn_id, self.pixel_id, self.snap_app_id = snap_capi_conn_id, pixel_id, snap_app_id
        self.default_phone_region, self.timezone = default_phone_region, timezone
        self.event_id_columns = [event_id_columns] if isinstance(event_id_columns, str) else event_id_columns
        self.max_event_age_days, self.max_future_skew_s = max_event_age_days, max_future_skew_s
        self.invalid_field_policy, self.hash_madid, self.date_order = invalid_field_policy, hash_madid, date_order
        self.dedupe_event_ids = dedupe_event_ids
        self.rejected_rows_path = rejected_rows_path
        self.rejected_rows_columns = ([rejected_rows_columns] if isinstance(rejected_rows_columns, str)
                                      else rejected_rows_columns)
        self.fail_on_empty, self.min_rows, self.min_match_ready_ratio = fail_on_empty, min_rows, min_match_ready_ratio
        self.chunk_rows, self.batch_size, self.max_batch_bytes = chunk_rows, batch_size, max_batch_bytes
        self.max_requests_per_second, self.prepare_processes = max_requests_per_second, prepare_processes
        self.shard_index, self.shard_count, self.shard_key = shard_index, shard_count, shard_key
        self.count_rows, self.progress_interval_s = count_rows, progress_interval_s
        self.hook_params = dict(hook_params or {})
        for name, value in deprecated.items():
            warnings.warn(f"{type(self).__name__}({name}=...) is deprecated; pass hook_params="
                          f"{{'{_DEPRECATED_TO_HOOK[name]}': ...}} instead.", DeprecationWarning, stacklevel=2)
            if value is not None:
                self.hook_params.setdefault(_DEPRECATED_TO_HOOK[name], value)
        unknown = sorted(set(self.hook_params) - set(HOOK_PARAMS))
        if unknown:
            raise ValueError(f"Unknown hook_params {unknown}; known: {list(HOOK_PARAMS)}.")
        check_one_source(data, sql if isinstance(sql, str) else None, path)
        check_arguments(self)
        # Made by execute(), not here: an Event holds a lock, and operators must stay deep-copyable
        # (``copy.deepcopy``, ``DAG.partial_subset``).
        self._stop: threading.Event | None = None
        # ``data`` is deliberately not a template field (rendering would copy rows into the
        # rendered-fields table and walk every value through Jinja), so wire its XComArg by hand.
        from airflow.providers.common.compat.sdk import XComArg

        if isinstance(data, XComArg):
            XComArg.apply_upstream_relationship(self, data)

    @cached_property
    def hook(self) -> SnapCapiHook:
        return SnapCapiHook(self.snap_capi_conn_id, **self.hook_params)

    def event_options(self) -> EventOptions:
        return EventOptions(
            event_name=self.event_name, action_source=self.action_source or "OFFLINE",
            default_phone_region=self.default_phone_region, timezone=self.timezone,
            max_event_age_days=self.max_event_age_days, max_future_skew_s=self.max_future_skew_s,
            event_id_columns=_columns(self.event_id_columns), invalid_field_policy=self.invalid_field_policy,
            hash_madid=self.hash_madid, date_order=self.date_order,
        )

    def delivery_options(self) -> DeliveryOptions:
        return DeliveryOptions(batch_size=self.batch_size, max_batch_bytes=self.max_batch_bytes,
                               concurrency=int(self.hook_params.get("concurrency", 4)),
                               dedupe_event_ids=self.dedupe_event_ids,
                               max_requests_per_second=self.max_requests_per_second,
                               dry_run=bool(getattr(self, "is_dry_run", False)),
                               prepare_processes=(usable_cpus() if self.prepare_processes == "auto"
                                                  else self.prepare_processes),
                               progress_interval_s=self.progress_interval_s)

    def shard(self) -> Shard | None:
        if self.shard_count == 1:
            return None
        ids = ("event_id", "order_id", "client_dedup_id", "transaction_id")  # the mapped id, unless named
        key = self.shard_key or next((column for name, column in (self.field_mapping or {}).items() if name in ids),
                                     None)
        if not key:
            raise ValueError("shard_count > 1 needs shard_key: the column that assigns each row to one shard "
                             "(e.g. an order id).")
        return Shard(self.shard_index, self.shard_count, key)

    @property
    def sink_columns(self) -> tuple[str, ...]:
        return _columns(self.rejected_rows_columns)

    # ---------------------------------------------------------------------------------- execute

    def execute(self, context: Context) -> dict[str, Any]:
        check_arguments(self)
        sent: list[Any] = []  # the run's report, once it has one
        self._stop = threading.Event()
        try:
            self._read_and_run(context, sent)
        except BaseException:
            if sent:  # sent, then closing the source or moving the rejected-rows file into place failed
                context["ti"].xcom_push(key="return_value", value=self._result(sent[0]))
            raise
        finally:
            self._stop = None
        return self._finish(context, sent[0])

    def _read_and_run(self, context: Context, sent: list[Any]) -> None:
        with ExitStack() as stack:
            rows = open_rows(data=self.data, sql=self.sql, sql_conn_id=self.sql_conn_id,
                             sql_parameters=self.sql_parameters, path=self.path, file_format=self.file_format,
                             chunk_rows=self.chunk_rows, count_rows=self.count_rows, context=context,
                             stack=stack, file_encoding=self.file_encoding)
            self.log.info("Reading %s%s.", rows.description,
                          f" ({rows.total_rows:,} rows)" if rows.total_rows is not None else "")
            problem = known_total_problem(self, rows.total_rows)
            if problem:
                raise AirflowException(problem)
            sink = (stack.enter_context(rejected_rows_file(self.rejected_rows_path, self.sink_columns))
                    if self.rejected_rows_path else None)
            try:
                sent.append(self._run(rows.chunks, sink, rows.total_rows))
            except BaseException as exc:
                partial = getattr(exc, "snap_capi_report", None)
                if partial is not None:
                    result = self._result(partial)
                    self.log.error("Snap CAPI run interrupted (%s); report so far: %s", type(exc).__name__,
                                   summary_text(result, self.summary_keys))
                    context["ti"].xcom_push(key="return_value", value=result)
                raise

    def _finish(self, context: Context, report: Any) -> dict[str, Any]:
        result = self._result(report)
        self.log.info("%s: %s", self.summary_title, summary_text(result, self.summary_keys))
        self._warn_about(result, report)
        problem = self._problem(report, result)
        if problem:
            context["ti"].xcom_push(key="return_value", value=result)
            raise AirflowException(problem)
        return result

    def on_kill(self) -> None:
        """Stop sending: batches in flight settle briefly, every row read but not sent is failed as
        ``not_sent_interrupted``, the rejected-rows file is written and the report pushed."""
        if self._stop is not None:
            self._stop.set()

    def _result(self, report: Any) -> dict[str, Any]:
        result = report.to_dict()
        if self.rejected_rows_path:
            result["rejected_rows_path"] = str(self.rejected_rows_path)
        return result

    def _warn_about(self, result: Mapping[str, Any], report: Any) -> None:
        if not result["rows"]:
            self.log.warning("The source gave no rows: nothing was sent. If this is unexpected, check the "
                             "query's data interval (a zero-width interval matches nothing) or the path.")
        advice = readiness_advice(result.get("match_readiness") or {})
        if advice:
            self.log.warning(advice)

    summary_title = "Snap CAPI report"
    summary_keys: tuple[str, ...] = ()

    def _run(self, chunks: Any, sink: Any, total_rows: int | None) -> Any:
        raise NotImplementedError

    def _problem(self, report: Any, result: Mapping[str, Any]) -> str | None:
        raise NotImplementedError


def _columns(columns: str | Sequence[str] | None) -> tuple[str, ...]:
    """Column names: one string (also once rendered from a template) is one column, not its letters."""
    return (columns,) if isinstance(columns, str) else tuple(columns or ())


class SnapCapiSendEventsOperator(SnapCapiRowsOperator):
    """Normalize, hash, validate and send rows to Snap CAPI; return a per-run report through XCom.

    .. seealso::
        For more information on how to use this operator, take a look at the guide:
        :ref:`howto/operator:SnapCapiSendEventsOperator`

    Every input row ends in exactly one bucket (accepted, rejected with a reason, or failed: not
    known to be delivered) and ``rows == accepted + rejected + failed``. The task fails when any row
    failed, or when the share of rejected rows exceeds ``max_rejected_ratio``; the report is in XCom
    either way, and with ``rejected_rows_path`` every rejected and failed row is in that file.

    Re-running is safe: each event carries a stable ``event_id`` (the mapped one, one derived from
    ``event_id_columns``, a PURCHASE's order id, else a hash of the event's content; never random),
    so a task retry or a re-run of the same data interval sends the same ids and Snap deduplicates them.

    Takes every argument of :class:`SnapCapiRowsOperator`, and:

    :param max_rejected_ratio: Share of rejected rows tolerated (0 = any rejected row fails the task,
        after the valid rows were sent).
    :param dry_run: Read, map, normalize, hash and validate every row, write the rejected-rows file and
        the report (``would_send`` instead of ``accepted``), and send nothing.
    """

    summary_keys = ("rows", "accepted", "rejected", "failed", "requests", "retries", "duration_s",
                    "events_per_s")

    def __init__(self, *, max_rejected_ratio: float = 0.0, dry_run: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_rejected_ratio = max_rejected_ratio
        # Not ``self.dry_run``: that name is BaseOperator's method that renders templates only.
        self.is_dry_run = dry_run
        if not isinstance(max_rejected_ratio, int | float) or not 0 <= max_rejected_ratio <= 1:
            raise ValueError("max_rejected_ratio must be between 0 and 1.")

    @property
    def summary_title(self) -> str:  # type: ignore[override]
        return "Snap CAPI dry run (nothing sent)" if self.is_dry_run else "Snap CAPI report"

    def _run(self, chunks: Any, sink: Any, total_rows: int | None) -> Any:
        return self.hook.send_events(
            chunks, field_mapping=self.field_mapping, event_options=self.event_options(),
            delivery=self.delivery_options(), pixel_id=self.pixel_id, snap_app_id=self.snap_app_id,
            sink=sink, sink_columns=self.sink_columns, chunk_rows=self.chunk_rows, shard=self.shard(),
            total_rows=total_rows, stop=self._stop)

    def _problem(self, report: Any, result: Mapping[str, Any]) -> str | None:
        return problem_text(report, self.rejected_rows_path, self.max_rejected_ratio) or common_problem(
            self, report.rows, result.get("match_readiness"))


class SnapCapiValidateOperator(SnapCapiRowsOperator):
    """Prepare rows exactly as :class:`SnapCapiSendEventsOperator` does and post them to Snap's validate
    endpoint: test events, nothing recorded as live.

    .. seealso::
        For more information on how to use this operator, take a look at the guide:
        :ref:`howto/operator:SnapCapiValidateOperator`

    Returns (XCom) a report with ``rows == valid + invalid + failed``: ``errors`` counts invalid rows
    per reason (the provider's own reasons such as ``invalid_email`` for rows rejected before
    sending, ``snap_rejected: ...`` for Snap's verdicts), ``examples`` gives row numbers per reason,
    ``invalid_rows`` lists invalid row numbers (0-based, input order; up to 1000), ``warnings``
    counts warnings, ``match_readiness`` shows which identifiers the valid events carry. No value of a
    row is ever in the report. The report reaches XCom even when the task fails.

    Takes every argument of :class:`SnapCapiRowsOperator`, and:

    :param fail_on_invalid: Fail the task when any row is invalid (default). Rows that got no verdict
        (retries exhausted, token refused) always fail the task.
    :param sample_size: Validate only the first N rows of the input (the rest is never read).
    """

    summary_title = "Snap CAPI validation"
    summary_keys = ("rows", "valid", "invalid", "failed", "requests", "duration_s")

    def __init__(self, *, fail_on_invalid: bool = True, sample_size: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fail_on_invalid = fail_on_invalid
        self.sample_size = sample_size
        if sample_size is not None and (not isinstance(sample_size, int) or sample_size < 1):
            raise ValueError("sample_size must be a whole number of at least 1.")

    def _run(self, chunks: Any, sink: Any, total_rows: int | None) -> Any:
        return self.hook.validate_events(
            chunks, field_mapping=self.field_mapping, event_options=self.event_options(),
            delivery=self.delivery_options(), pixel_id=self.pixel_id, snap_app_id=self.snap_app_id,
            sink=sink, sink_columns=self.sink_columns, chunk_rows=self.chunk_rows, sample_size=self.sample_size,
            shard=self.shard(), total_rows=total_rows, stop=self._stop)

    def _problem(self, report: Any, result: Mapping[str, Any]) -> str | None:
        if report.error:
            return (f"Snap CAPI validation stopped: {report.error}. "
                    f"{report.failed} of {report.rows} rows got no verdict.")
        if report.failed:
            return f"{report.failed} of {report.rows} rows got no verdict from Snap: {reasons_text(report.failures)}."
        if report.invalid and self.fail_on_invalid:
            rows = ", ".join(str(row) for row in report.invalid_rows[:20])
            more = "" if report.invalid <= 20 else ", ..."
            return (f"{report.invalid} of {report.rows} rows are invalid (rows {rows}{more}). "
                    f"Reasons: {reasons_text(report.errors)}.")
        return common_problem(self, report.rows, result.get("match_readiness"))


# ------------------------------------------------------------------------------------ test-event logs


class SnapCapiTestEventLogsOperator(BaseOperator):
    """Fetch Snap's test-event logs (past 24 hours) of an asset and return a PII-free summary (XCom).

    .. seealso::
        For more information on how to use this operator, take a look at the guide:
        :ref:`howto/operator:SnapCapiTestEventLogsOperator`

    The summary: ``events``, counts ``by_status``, ``by_event_name`` and ``by_action_source``, how often
    each ``errors`` and ``warnings`` message occurred, and ``latest_event_time``. Snap's logs carry no
    user data; messages are scrubbed of anything that looks like an e-mail address, phone number or IP
    address all the same.

    :param snap_capi_conn_id: The ``snap_capi`` connection.
    :param asset_id: Pixel id or Snap app id (default: the connection's pixel id, else its app id). Templated.
    :param fail_on_invalid: Fail the task (the summary still reaches XCom) when a logged event is INVALID.
    :param max_messages: Distinct error and warning messages kept (the rest are counted as ``other``).
    :param hook_params: Transport settings of :class:`~snap_capi_provider.hooks.snap_capi.SnapCapiHook`:
        ``api_version`` (``v3``/``v2``, overrides the connection), ``timeout`` (seconds the logs request
        may take, default 30), ``max_retries``, ``debug`` (log the request, token and PII redacted;
        overrides the connection's ``debug`` extra), ... The flat ``api_version``, ``request_timeout`` and
        ``debug`` arguments are deprecated.
    :return: The summary.
    """

    template_fields: Sequence[str] = ("asset_id",)
    ui_color = "#FFFC00"

    def __init__(self, *, snap_capi_conn_id: str = SnapCapiHook.default_conn_name,
                 asset_id: str | None = None, fail_on_invalid: bool = False, max_messages: int = MAX_MESSAGES,
                 hook_params: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        params = merge_hook_params(type(self).__name__, hook_params, kwargs)  # pops the deprecated flat ones
        super().__init__(**kwargs)
        self.snap_capi_conn_id, self.asset_id, self.hook_params = snap_capi_conn_id, asset_id, params
        check_logs_arguments(fail_on_invalid, max_messages)
        self.fail_on_invalid, self.max_messages = fail_on_invalid, max_messages

    @cached_property
    def hook(self) -> SnapCapiHook:
        return SnapCapiHook(self.snap_capi_conn_id, **{"timeout": 30.0, **self.hook_params})

    def execute(self, context: Context) -> dict[str, Any]:
        summary = self.hook.get_test_event_logs(self.asset_id or None).summary(self.max_messages)
        self.log.info("Snap CAPI test-event logs of asset %s: %d events, by status %s, errors %s",
                      summary["asset_id"], summary["events"], summary["by_status"], summary["errors"])
        invalid = summary["by_status"].get("INVALID", 0)
        if invalid and self.fail_on_invalid:
            context["ti"].xcom_push(key="return_value", value=summary)
            raise AirflowException(f"{invalid} of {summary['events']} logged test events are INVALID: "
                                   f"{summary['errors']}.")
        return summary
