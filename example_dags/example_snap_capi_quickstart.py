"""The smallest DAG: rows from an upstream task, sent to Snap as PURCHASE events.

Connection ``snap_capi_default``: a token and a ``pixel_id`` extra (see the Getting started page).
Run it without a scheduler: ``python example_dags/example_snap_capi_quickstart.py``. The rows pass
through XCom (Airflow's metadata database), PII included: for real exports prefer ``sql=`` or ``path=``.
"""

from __future__ import annotations

import time

import pendulum
from airflow.sdk import dag, task

from snap_capi_provider.operators.snap_capi import SnapCapiSendEventsOperator


# [START howto_operator_snap_capi_send_rows]
@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["snap", "example"])
def example_snap_capi_quickstart():
    # The rows hold PII: keep the returned value out of the task log.
    @task(show_return_value_in_logs=False)
    def purchases() -> list[dict]:
        now = int(time.time())  # Snap refuses events older than 37 days
        return [
            {"order_id": "order-1001", "purchased_at": now - 600, "email": " Person@Example.com ",
             "phone": "+44 844 412 4653", "amount": 42.50, "currency": "usd"},
            {"order_id": "order-1002", "purchased_at": now - 300, "email": "ana@example.org",
             "phone": "(650) 555-1212", "amount": 19.99, "currency": "USD"},
        ]

    SnapCapiSendEventsOperator(
        task_id="send_purchases",
        data=purchases(),
        event_name="PURCHASE",
        action_source="OFFLINE",
        field_mapping={"event_id": "order_id", "event_time": "purchased_at", "email": "email",
                       "phone": "phone", "value": "amount", "currency": "currency"},
        default_phone_region="US",  # national numbers of rows without a country
    )


# [END howto_operator_snap_capi_send_rows]
dag_object = example_snap_capi_quickstart()

if __name__ == "__main__":
    dag_object.test()
