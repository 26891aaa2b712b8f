"""Scheduled offline conversions: each day, send the day's store purchases from the warehouse to Snap.

Connections: ``warehouse_sqlite`` (any SQL database works the same way through its hook) and
``snap_capi_default`` (token, pixel id). Each purchase's order id is its ``event_id``, so a retry or
a re-run of the same day sends the same ids and Snap keeps each purchase once.
"""

from __future__ import annotations

import pendulum
from airflow.providers.sqlite.hooks.sqlite import SqliteHook
from airflow.sdk import dag, task

from snap_capi_provider.operators.snap_capi import SnapCapiSendEventsOperator

PURCHASES_SQL = """
SELECT order_id, purchased_at, store_id, first_name, last_name, email, phone,
       city, state, zip, country, amount, currency, items
FROM purchases
WHERE purchased_at >= :start AND purchased_at < :end
ORDER BY purchased_at
"""


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["snap", "conversions", "example"],
    doc_md=__doc__,
)
def snap_offline_conversions():
    # The rows hold customers' PII: keep the returned value out of the task log.
    @task(show_return_value_in_logs=False)
    def extract_purchases(data_interval_start=None, data_interval_end=None):
        window = {"start": data_interval_start.in_timezone("UTC").isoformat(),
                  "end": data_interval_end.in_timezone("UTC").isoformat()}
        return SqliteHook(sqlite_conn_id="warehouse_sqlite").get_df(PURCHASES_SQL, parameters=window)

    SnapCapiSendEventsOperator(
        task_id="send_purchases",
        data=extract_purchases(),
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
        rejected_rows_columns=["order_id", "store_id"],
    )


snap_offline_conversions()
