"""Fan out over SQL partitions: the day's data interval split into slices, one mapped task per slice.

Where the table is partitioned (or indexed) by time, each task then reads only its slice.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task
from airflow.sdk.definitions.timetables.interval import CronDataIntervalTimetable

from snap_capi_provider.operators.snap_capi import SnapCapiSendEventsOperator

PURCHASES_SQL = """
SELECT order_id, purchased_at, email, phone, country, amount, currency
FROM purchases
WHERE purchased_at >= :start AND purchased_at < :end
"""
MAPPING = {"event_id": "order_id", "event_time": "purchased_at", "email": "email", "phone": "phone",
           "country": "country", "value": "amount", "currency": "currency"}


@dag(
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["snap", "example"],
)
def example_snap_capi_sql_partitions():
    # [START howto_operator_snap_capi_fan_out_partitions]
    @task
    def slices(data_interval_start=None, data_interval_end=None, parts: int = 4) -> list[dict]:
        start, end = data_interval_start.in_timezone("UTC"), data_interval_end.in_timezone("UTC")
        step = (end - start) / parts
        return [{"start": (start + step * i).isoformat(), "end": (start + step * (i + 1)).isoformat()}
                for i in range(parts)]

    SnapCapiSendEventsOperator.partial(
        task_id="send_slice",
        sql=PURCHASES_SQL,
        sql_conn_id="warehouse_sqlite",
        event_name="PURCHASE",
        field_mapping=MAPPING,
        default_phone_region="US",
    ).expand(sql_parameters=slices())
    # [END howto_operator_snap_capi_fan_out_partitions]


example_snap_capi_sql_partitions()
