"""Test before going live: validate a sample, send test events, wait until Snap saw them, then send for real.

1. ``validate_sample`` posts the first rows to Snap's validate endpoint; any invalid row stops the
   run here (the report, with the bad row numbers and reasons, is in XCom).
2. ``send_test_events`` posts every row as test events (validate endpoint: nothing recorded as live).
3. ``wait_for_test_events`` waits until Snap's stats count them (deferrable: the wait runs in the
   triggerer, with its own deadline).
4. ``summarize_test_logs`` puts a PII-free summary of the test-event logs in XCom.
5. ``send_live`` sends the same rows for real.

Connection ``snap_capi_default`` (``AIRFLOW_CONN_SNAP_CAPI_DEFAULT``): token, ``pixel_id`` extra, and
optionally ``api_version: "v2"`` and ``debug: true``. Against the local emulator::

    snap-capi-emulator --port 8787 --token demo-token &
    export AIRFLOW_CONN_SNAP_CAPI_DEFAULT='{"conn_type": "snap_capi", "host": "http://127.0.0.1:8787",
        "password": "demo-token", "extra": {"pixel_id": "demo-pixel"}}'
    python example_dags/example_snap_capi_test_before_live.py
"""

from __future__ import annotations

import time

import pendulum
from airflow.sdk import chain, dag, task

from snap_capi_provider.operators.snap_capi import (
    SnapCapiSendEventsOperator,
    SnapCapiTestEventLogsOperator,
    SnapCapiValidateOperator,
)
from snap_capi_provider.sensors.snap_capi import SnapCapiTestEventStatsSensor

# How the rows become events: the same for validating, test events and the live send.
EVENTS = {
    "field_mapping": {
        "order_id": "order_id", "event_time": "purchased_at", "email": "email",
        "phone": "phone", "first_name": "first_name", "last_name": "last_name", "city": "city",
        "state": "state", "zip": "zip", "ip_address": "ip", "user_agent": "user_agent",
        "value": "amount", "currency": "currency",
    },
    "event_name": "PURCHASE",
    "action_source": "OFFLINE",
    "default_phone_region": "US",
}


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["snap", "conversions", "example", "testing"],
    doc_md=__doc__,
)
def example_snap_capi_test_before_live():
    # The rows hold customers' PII: keep the returned value out of the task log.
    @task(show_return_value_in_logs=False)
    def extract_orders() -> list[dict]:
        """Recent orders (Snap refuses events older than 37 days, so the times are relative to now)."""
        now = int(time.time())
        people = [
            ("Person@Example.com", "+44 844 412 4653", "John", "Smith", "Los Angeles", "CA", "90001"),
            ("raphael@example.com", "(650) 555-1212", "Raphaël", "O'Brien", "Menlo Park", "California",
             "94025-1234"),
            ("ana@example.org", "+1 415 555 0100", "Ana", "García", "San Francisco", "CA", "94103"),
            ("lee@example.net", "212-555-0188", "Lee", "Wong", "New York", "NY", "10001"),
            ("sam@example.com", None, "Sam", "Taylor", "Austin", "Texas", "73301"),
        ]
        return [
            {"order_id": f"order-{1000 + i}", "purchased_at": now - 3600 * (i + 1), "email": email,
             "phone": phone, "first_name": first, "last_name": last, "city": city, "state": state,
             "zip": zip_, "ip": f"203.0.113.{10 + i}", "user_agent": "Mozilla/5.0",
             "amount": 19.99 + 10 * i, "currency": "usd"}
            for i, (email, phone, first, last, city, state, zip_) in enumerate(people)
        ]

    orders = extract_orders()
    # [START howto_operator_snap_capi_validate]
    validate_sample = SnapCapiValidateOperator(task_id="validate_sample", data=orders, sample_size=3,
                                               fail_on_invalid=True, **EVENTS)
    send_test_events = SnapCapiValidateOperator(task_id="send_test_events", data=orders, **EVENTS)
    # [END howto_operator_snap_capi_validate]
    # [START howto_sensor_snap_capi_test_event_stats]
    wait_for_test_events = SnapCapiTestEventStatsSensor(
        task_id="wait_for_test_events",
        source="test",
        # As many test events as were valid, the latest sent by this run.
        min_event_count="{{ ti.xcom_pull(task_ids='send_test_events')['valid'] }}",
        newer_than="{{ ti.xcom_pull(task_ids='send_test_events')['started_at'] }}",
        deferrable=True,
        poke_interval=10,
        timeout=600,
    )
    # [END howto_sensor_snap_capi_test_event_stats]
    # [START howto_operator_snap_capi_test_event_logs]
    summarize_test_logs = SnapCapiTestEventLogsOperator(task_id="summarize_test_logs")
    send_live = SnapCapiSendEventsOperator(task_id="send_live", data=orders, **EVENTS)
    # [END howto_operator_snap_capi_test_event_logs]

    chain(validate_sample, send_test_events, wait_for_test_events, [summarize_test_logs, send_live])


dag_object = example_snap_capi_test_before_live()

if __name__ == "__main__":
    dag_object.test()
