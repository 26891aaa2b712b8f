"""Files from object storage: each day's exports (CSV, JSON lines or Parquet) go to Snap.

``path`` takes an ``ObjectStoragePath`` or a URL (``s3://``, ``gs://``, ``abfs://``, ``file://``; the
matching Airflow provider gives the credentials), a glob, or a list of them. Files are read chunk by
chunk, so a large export never sits in memory or in XCom. The ``exports`` param is the folder's URL.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import ObjectStoragePath, dag, task
from airflow.sdk.definitions.timetables.interval import CronDataIntervalTimetable

from snap_capi_provider.core.report import merge_reports
from snap_capi_provider.operators.snap_capi import SnapCapiSendEventsOperator

MAPPING = {"event_id": "order_id", "event_time": "purchased_at", "email": "email", "phone": "phone",
           "country": "country", "value": "amount", "currency": "currency"}


@dag(
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"exports": "file:///tmp/snap_capi/exports"},
    tags=["snap", "example"],
)
def example_snap_capi_files():
    # [START howto_operator_snap_capi_send_files]
    # Every CSV file of the run's day, e.g. s3://bucket/exports/day=2026-12-01/part-0001.csv
    SnapCapiSendEventsOperator(
        task_id="send_day_csv",
        path="{{ params.exports }}/day={{ ds }}/*.csv",
        file_format="csv",  # only needed when the extension does not tell
        event_name="PURCHASE",
        field_mapping=MAPPING,
        default_phone_region="US",
        rejected_rows_path="{{ params.exports }}/rejected/{{ ds }}.csv",
        rejected_rows_columns=["order_id"],
    )
    # [END howto_operator_snap_capi_send_files]

    # [START howto_operator_snap_capi_fan_out_files]
    @task
    def parquet_files(params=None, ds=None) -> list[str]:
        folder = ObjectStoragePath(f"{params['exports']}/day={ds}/")
        return sorted(str(path) for path in folder.glob("*.parquet"))

    # One mapped task per file: the executor spreads them over workers.
    per_file = SnapCapiSendEventsOperator.partial(
        task_id="send_parquet_file", event_name="PURCHASE", field_mapping=MAPPING, default_phone_region="US",
    ).expand(path=parquet_files())

    @task(trigger_rule="all_done")  # also when a file's task failed: its report is counted as missing
    def merge(reports) -> dict:
        return merge_reports(reports)

    merge(per_file.output)
    # [END howto_operator_snap_capi_fan_out_files]


example_snap_capi_files()
