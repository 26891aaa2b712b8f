"""Validate rows against Snap's validate endpoint before going live: per-row verdicts in XCom."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException

from snap_capi_provider.core.testing_api import ValidationReport
from snap_capi_provider.operators._rows import SnapCapiRowsOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class SnapCapiValidateOperator(SnapCapiRowsOperator):
    """Prepare rows exactly as :class:`~snap_capi_provider.operators.send_events.SnapCapiSendEventsOperator`
    does and post them to Snap's validate endpoint: test events, nothing recorded as live.

    Returns (XCom) a report with ``rows == valid + invalid + failed``: ``errors`` counts invalid rows
    per reason (the provider's own reasons such as ``invalid_email`` for rows rejected before
    sending, ``snap_rejected: ...`` for Snap's verdicts), ``examples`` gives row numbers per reason,
    ``invalid_rows`` lists invalid row numbers (0-based, input order; up to 1000), ``warnings``
    counts warnings. No value of a row is ever in the report. The report reaches XCom even when the
    task fails.

    Takes every argument of the send operator except ``max_rejected_ratio``, and:

    :param fail_on_invalid: Fail the task when any row is invalid (default). Rows that got no verdict
        (retries exhausted, token refused) always fail the task.
    :param sample_size: Validate only the first N rows of the input (the rest is never read).
    """

    def __init__(self, *, fail_on_invalid: bool = True, sample_size: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fail_on_invalid = fail_on_invalid
        self.sample_size = sample_size
        if sample_size is not None and sample_size < 1:
            raise ValueError("sample_size must be at least 1.")

    def execute(self, context: Context) -> dict[str, Any]:
        data = self.resolve_data(context)
        with ExitStack() as stack:
            report = self.hook.validate_events(
                data, field_mapping=self.field_mapping, event_options=self.event_options(),
                delivery=self.delivery_options(), pixel_id=self.pixel_id, snap_app_id=self.snap_app_id,
                sink=self.open_sink(stack), sink_columns=self.sink_columns, chunk_rows=self.chunk_rows,
                sample_size=self.sample_size,
            )
        result = report.to_dict()
        if self.rejected_rows_path:
            result["rejected_rows_path"] = str(self.rejected_rows_path)
        self.log.info("Snap CAPI validation: %s", _summary(result))
        problem = self._problem(report)
        if problem:
            context["ti"].xcom_push(key="return_value", value=result)
            raise AirflowException(problem)
        return result

    def _problem(self, report: ValidationReport) -> str | None:
        if report.error:
            return (f"Snap CAPI validation stopped: {report.error}. "
                    f"{report.failed} of {report.rows} rows got no verdict.")
        if report.failed:
            return (f"{report.failed} of {report.rows} rows got no verdict from Snap: "
                    f"{_reasons(report.failures)}.")
        if report.invalid and self.fail_on_invalid:
            rows = ", ".join(str(row) for row in report.invalid_rows[:20])
            more = "" if report.invalid <= 20 else ", ..."
            return (f"{report.invalid} of {report.rows} rows are invalid (rows {rows}{more}). "
                    f"Reasons: {_reasons(report.errors)}.")
        return None


def _reasons(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{reason} ({count})" for reason, count in counts.items())


def _summary(report: Mapping[str, Any]) -> str:
    keys = ("rows", "valid", "invalid", "failed", "requests", "duration_s")
    return ", ".join(f"{key}={report[key]}" for key in keys) + f", errors={report['errors']}"
