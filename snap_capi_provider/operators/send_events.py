"""Send rows to Snap's Conversions API as conversion events."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException

from snap_capi_provider.core.report import SendReport
from snap_capi_provider.operators._rows import SnapCapiRowsOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class SnapCapiSendEventsOperator(SnapCapiRowsOperator):
    """Normalize, hash, validate and send rows to Snap CAPI; return a per-run report through XCom.

    Every input row ends in exactly one bucket (accepted, rejected with a reason, or failed: not
    known to be delivered) and ``rows == accepted + rejected + failed``. The task fails when any row
    failed, or when the share of rejected rows exceeds ``max_rejected_ratio``; the report is in XCom
    either way, and with ``rejected_rows_path`` every rejected and failed row is in that file.

    Re-running is safe: each event carries a stable ``event_id`` (the mapped one, one derived from
    ``event_id_columns``, a PURCHASE's order id, else a hash of the event's content; never random),
    so a task retry or a re-run of the same data interval sends the same ids and Snap deduplicates
    them. See ``docs/reliability.md``.

    Takes every argument of :class:`~snap_capi_provider.operators._rows.SnapCapiRowsOperator`, and:

    :param max_rejected_ratio: Share of rejected rows tolerated (0 = any rejected row fails the task,
        after the valid rows were sent).
    """

    def __init__(self, *, max_rejected_ratio: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_rejected_ratio = max_rejected_ratio
        if not 0 <= max_rejected_ratio <= 1:
            raise ValueError("max_rejected_ratio must be between 0 and 1.")

    def execute(self, context: Context) -> dict[str, Any]:
        data = self.resolve_data(context)
        with ExitStack() as stack:
            report = self.hook.send_events(
                data, field_mapping=self.field_mapping, event_options=self.event_options(),
                delivery=self.delivery_options(), pixel_id=self.pixel_id, snap_app_id=self.snap_app_id,
                sink=self.open_sink(stack), sink_columns=self.sink_columns, chunk_rows=self.chunk_rows,
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
        where = (f" They are in {self.rejected_rows_path}, marked 'failed'." if self.rejected_rows_path
                 else " Set rejected_rows_path to get them in a file.")
        again = " Re-running is safe: the same rows get the same event_ids and Snap deduplicates them."
        if report.error:
            return (f"Snap CAPI run stopped: {report.error}. {report.failed} of {report.rows} rows were not "
                    f"delivered.{where}")
        if report.failed:
            return (f"{report.failed} of {report.rows} rows could not be delivered to Snap "
                    f"({_reasons(report.failures.by_reason)}); {report.accepted} were accepted."
                    f"{where}{again}")
        if report.rows and report.rejected / report.rows > self.max_rejected_ratio:
            return (f"{report.rejected} of {report.rows} rows were rejected (max_rejected_ratio="
                    f"{self.max_rejected_ratio}); the {report.accepted} valid rows were sent. "
                    f"Reasons: {_reasons(report.rejections.by_reason)}.")
        return None


def _reasons(by_reason: Mapping[str, int], limit: int = 10) -> str:
    ordered = sorted(by_reason.items(), key=lambda kv: -kv[1])
    text = ", ".join(f"{reason} ({count})" for reason, count in ordered[:limit])
    return text + (f", and {len(ordered) - limit} more reasons" if len(ordered) > limit else "")


def _summary(report: Mapping[str, Any]) -> str:
    keys = ("rows", "accepted", "rejected", "failed", "requests", "retries", "duration_s", "events_per_s")
    return ", ".join(f"{key}={report[key]}" for key in keys)
