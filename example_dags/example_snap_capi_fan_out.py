"""Fan out one day of a warehouse table over several workers: mapped shards, then one merged report.

Each mapped task reads the same query and keeps only the rows whose ``shard_key`` hashes to its
``shard_index``: every row is sent by exactly one shard, and a re-run sends the same rows from the
same shard. With the CeleryExecutor or the KubernetesExecutor the shards run on different machines.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task
from airflow.sdk.definitions.timetables.interval import CronDataIntervalTimetable

from snap_capi_provider.core.report import merge_reports
from snap_capi_provider.operators.snap_capi import SnapCapiSendEventsOperator

PURCHASES_SQL = """
SELECT order_id, purchased_at, email, phone, country, amount, currency
FROM purchases
WHERE purchased_at >= :start AND purchased_at < :end
"""
INTERVAL = {"start": "{{ data_interval_start.in_timezone('UTC').isoformat() }}",
            "end": "{{ data_interval_end.in_timezone('UTC').isoformat() }}"}
MAPPING = {"event_id": "order_id", "event_time": "purchased_at", "email": "email", "phone": "phone",
           "country": "country", "value": "amount", "currency": "currency"}


@dag(
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["snap", "example"],
)
def example_snap_capi_fan_out():
    # [START howto_operator_snap_capi_fan_out_shards]
    shards = 4
    sends = SnapCapiSendEventsOperator.partial(
        task_id="send_shard",
        sql=PURCHASES_SQL,
        sql_conn_id="warehouse_sqlite",
        sql_parameters=INTERVAL,
        event_name="PURCHASE",
        field_mapping=MAPPING,
        default_phone_region="US",
        shard_count=shards,
        shard_key="order_id",  # a stable column: the same row always lands in the same shard
    ).expand(shard_index=list(range(shards)))
    # [END howto_operator_snap_capi_fan_out_shards]

    # [START howto_merge_reports]
    @task(trigger_rule="all_done")  # runs even when a shard failed; a missing report is counted
    def merge(reports) -> dict:
        return merge_reports(reports)

    merge(sends.output)
    # [END howto_merge_reports]


example_snap_capi_fan_out()
