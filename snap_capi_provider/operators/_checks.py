"""Argument checks and task messages of the row operators (kept apart so the operators stay readable)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from snap_capi_provider.core.events import DATE_ORDERS, INVALID_FIELD_POLICIES
from snap_capi_provider.core.options import MAX_PREPARE_PROCESSES
from snap_capi_provider.hooks.snap_capi import check_hook_params, is_finite_number

MAX_EVENTS_PER_REQUEST = 2000
_POSITIVE_INTS = ("chunk_rows", "batch_size", "max_batch_bytes", "shard_count")
_RATIOS = ("max_rejected_ratio", "min_match_ready_ratio")
_FLAGS = ("fail_on_empty", "dedupe_event_ids", "hash_madid", "count_rows")


def check_arguments(op: Any) -> None:
    """Range checks of the operator's numeric arguments, at construction and again after rendering."""
    for name in _POSITIVE_INTS:
        value = getattr(op, name, None)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}.")
    processes = op.prepare_processes
    if processes != "auto" and (not isinstance(processes, int) or isinstance(processes, bool)
                                or not 1 <= processes <= MAX_PREPARE_PROCESSES):
        raise ValueError(f"prepare_processes must be a whole number between 1 and {MAX_PREPARE_PROCESSES} or "
                         f"'auto' (the task's cores), not {processes!r}.")
    if op.batch_size > MAX_EVENTS_PER_REQUEST:
        raise ValueError(f"batch_size must be at most {MAX_EVENTS_PER_REQUEST} (Snap's limit per request), "
                         f"not {op.batch_size!r}.")
    for name in _RATIOS:
        value = getattr(op, name, None)
        if value is not None and (not is_finite_number(value) or not 0 <= value <= 1):
            raise ValueError(f"{name} must be between 0 and 1, not {value!r}.")
    if op.min_rows is not None and (not isinstance(op.min_rows, int) or op.min_rows < 0):
        raise ValueError(f"min_rows must be a whole number of at least 0, not {op.min_rows!r}.")
    if not isinstance(op.shard_index, int) or not 0 <= op.shard_index < op.shard_count:
        raise ValueError(f"shard_index must be in [0, shard_count={op.shard_count}), not {op.shard_index!r}.")
    if op.max_requests_per_second is not None and (not is_finite_number(op.max_requests_per_second)
                                                   or op.max_requests_per_second <= 0):
        raise ValueError(f"max_requests_per_second must be positive, not {op.max_requests_per_second!r}.")
    for name in ("max_event_age_days", "max_future_skew_s", "progress_interval_s"):
        value = getattr(op, name)
        if not is_finite_number(value) or value < 0:
            raise ValueError(f"{name} must be a number of at least 0, not {value!r}.")
    check_hook_params(op.hook_params)
    mapping = op.field_mapping
    if isinstance(mapping, str) and "{{" not in mapping:  # a template not rendered yet is fine
        raise ValueError("field_mapping is text, not a dict of Snap field -> column. A Jinja template renders "
                         "to text unless the DAG sets render_template_as_native_obj=True; or pass a dict.")
    for name in _FLAGS:
        value = getattr(op, name, False)
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"{name} must be True or False, not {value!r}.")
    if op.invalid_field_policy not in INVALID_FIELD_POLICIES:
        raise ValueError(f"invalid_field_policy must be 'reject' or 'drop', not {op.invalid_field_policy!r}.")
    if op.date_order not in DATE_ORDERS:
        raise ValueError(f"date_order must be 'MDY' (US) or 'DMY', not {op.date_order!r}.")
    for name in ("rejected_rows_columns", "event_id_columns"):
        columns = getattr(op, name)
        if columns is not None and (not isinstance(columns, list | tuple)
                                    or not all(isinstance(c, str) and c for c in columns)):
            raise ValueError(f"{name} must be a column name or a list of column names, not {columns!r}.")


def check_logs_arguments(fail_on_invalid: object, max_messages: object) -> None:
    """The test-event logs operator's own arguments (``ValueError`` naming the one that is wrong)."""
    if not isinstance(fail_on_invalid, bool):
        raise ValueError(f"fail_on_invalid must be True or False, not {fail_on_invalid!r}.")
    if isinstance(max_messages, bool) or not isinstance(max_messages, int) or max_messages < 1:
        raise ValueError(f"max_messages must be a whole number of at least 1, not {max_messages!r}.")


def reasons_text(by_reason: Mapping[str, int], limit: int = 10) -> str:
    ordered = sorted(by_reason.items(), key=lambda kv: -kv[1])
    text = ", ".join(f"{reason} ({count})" for reason, count in ordered[:limit])
    return text + (f", and {len(ordered) - limit} more reasons" if len(ordered) > limit else "")


def summary_text(report: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    shown = [f"{key}={report[key]}" for key in keys if key in report]
    if report.get("dry_run"):
        shown.insert(1, f"would_send={report.get('would_send')}")
    readiness = report.get("match_readiness") or {}
    if readiness.get("events"):
        shown.append(f"strong_identifier_share={readiness['share_with_strong_identifier']:.0%}")
    if report.get("errors") and isinstance(report["errors"], dict):
        shown.append(f"errors={report['errors']}")
    return ", ".join(shown)


def problem_text(report: Any, rejected_rows_path: str | None, max_rejected_ratio: float) -> str | None:
    """Why a send run fails its task, or None."""
    where = (f" They are in {rejected_rows_path}, marked 'failed'." if rejected_rows_path
             else " Set rejected_rows_path to get them in a file.")
    again = " Re-running is safe: the same rows get the same event_ids and Snap deduplicates them."
    if report.error:
        return (f"Snap CAPI run stopped: {report.error}. {report.failed} of {report.rows} rows were not "
                f"delivered.{where}")
    if report.failed:
        return (f"{report.failed} of {report.rows} rows could not be delivered to Snap "
                f"({reasons_text(report.failures.by_reason)}); {report.accepted} were accepted."
                f"{where}{again}")
    if report.rows and report.rejected / report.rows > max_rejected_ratio:
        return (f"{report.rejected} of {report.rows} rows were rejected (max_rejected_ratio="
                f"{max_rejected_ratio}); the {report.accepted} valid rows were sent. "
                f"Reasons: {reasons_text(report.rejections.by_reason)}.")
    return None


def known_total_problem(op: Any, total_rows: int | None) -> str | None:
    """Why the task fails before anything is sent, when the row count, known up front (SQL ``COUNT``,
    Parquet metadata, in-memory rows), is already below ``min_rows`` or zero under ``fail_on_empty``."""
    if total_rows is None:
        return None
    if op.fail_on_empty and total_rows == 0:
        return "The source holds no rows (fail_on_empty=True); nothing was sent."
    if op.min_rows is not None and total_rows < op.min_rows:
        return f"The source holds {total_rows} rows, fewer than min_rows={op.min_rows}; nothing was sent."
    return None


def common_problem(op: Any, rows: int, readiness: Mapping[str, Any] | None) -> str | None:
    """Why a send or validate run fails its task for the checks both share, or None."""
    if op.fail_on_empty and rows == 0:
        return "The source gave no rows (fail_on_empty=True)."
    if op.min_rows is not None and rows < op.min_rows:
        return f"The source gave {rows} rows, fewer than min_rows={op.min_rows}."
    if op.min_match_ready_ratio is not None and readiness and readiness.get("events"):
        share = readiness["share_with_strong_identifier"]
        if share < op.min_match_ready_ratio:
            return (f"Only {share:.1%} of the events carry a strong identifier (email, phone, mobile ad id, "
                    f"click id or cookie), below min_match_ready_ratio={op.min_match_ready_ratio}. "
                    "See match_readiness in the report.")
    return None
