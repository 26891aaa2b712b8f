"""Scheduled offline conversions: each day, the day's store purchases go from the warehouse to Snap.

The operator runs the query itself and streams its rows (no upstream task, no rows in XCom, memory
bounded however many rows the day has). ``CronDataIntervalTimetable`` gives each run the day before
it as its data interval: with a plain ``schedule="@daily"``, Airflow 3 (``[scheduler]
create_cron_data_intervals = False``) gives a zero-width interval and the query would match nothing.

Connections: ``warehouse_sqlite`` (any common-sql database works the same way: Postgres, Snowflake,
BigQuery, ...) and ``snap_capi_default`` (token, pixel id). Each purchase's order id is its
``event_id``, so a retry or a re-run of the same day sends the same ids and Snap keeps each purchase once.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag
from airflow.sdk.definitions.timetables.interval import CronDataIntervalTimetable

from snap_capi_provider.operators.snap_capi import SnapCapiSendEventsOperator

# [START howto_operator_snap_capi_send_sql]
PURCHASES_SQL = """
SELECT order_id, purchased_at, store_id, first_name, last_name, email, phone,
       city, state, zip, country, amount, currency, items
FROM purchases
WHERE purchased_at >= :start AND purchased_at < :end
ORDER BY purchased_at
"""


@dag(
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["snap", "conversions", "example"],
    doc_md=__doc__,
)
def example_snap_capi_offline_conversions():
    SnapCapiSendEventsOperator(
        task_id="send_purchases",
        sql=PURCHASES_SQL,
        sql_conn_id="warehouse_sqlite",
        sql_parameters={"start": "{{ data_interval_start.in_timezone('UTC').isoformat() }}",
                        "end": "{{ data_interval_end.in_timezone('UTC').isoformat() }}"},
        event_name="PURCHASE",
        action_source="OFFLINE",
        field_mapping={
            "event_id": "order_id",
            "event_time": "purchased_at",
            "email": "email",
            "phone": "phone",
            "first_name": "first_name",
            "last_name": "last_name",
            "city": "city",
            "state": "state",
            "zip": "zip",
            "country": "country",
            "value": "amount",
            "currency": "currency",
            "order_id": "order_id",
            "num_items": "items",
        },
        default_phone_region="US",
        rejected_rows_path="file:///tmp/snap_capi/rejected/{{ ds }}.csv",
        rejected_rows_columns=["order_id", "store_id"],
        max_rejected_ratio=0.1,
    )
# [END howto_operator_snap_capi_send_sql]


example_snap_capi_offline_conversions()
