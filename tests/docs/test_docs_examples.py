"""The example DAGs the docs include samples from run end to end against the emulator."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from tests.airflow_helpers import task_state, xcom
from tests.conftest import PIXEL, ROOT

pytestmark = pytest.mark.usefixtures("airflow_db")


def load_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "example_dags" / f"{dag_id}.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(dag_id)


def _warehouse(tmp_path, monkeypatch):
    from demo import sample_warehouse

    warehouse = tmp_path / "warehouse.db"
    now = datetime.now(timezone.utc)
    sample_warehouse.seed(warehouse, now - timedelta(days=3), now)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(warehouse)}))
    return warehouse


def _yesterday():
    return datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)


def test_quickstart_sends_its_rows(snap_conn):
    dag_run = load_dag("example_snap_capi_quickstart").test()
    report = xcom(dag_run, "send_purchases")
    assert task_state(dag_run, "send_purchases") == "success"
    assert report["rows"] == report["accepted"] == 2 and report["started_at_iso"].endswith("+00:00")
    assert {event["event_id"] for event in snap_conn.accepted_events(PIXEL)} == {"order-1001", "order-1002"}


def test_fan_out_over_shards_sends_each_row_once_and_merges_the_reports(snap_conn, tmp_path, monkeypatch):
    from demo import sample_warehouse

    warehouse = _warehouse(tmp_path, monkeypatch)
    dag_run = load_dag("example_snap_capi_fan_out").test(logical_date=_yesterday())
    expected = sample_warehouse.count_between(warehouse, dag_run.data_interval_start, dag_run.data_interval_end)
    merged = xcom(dag_run, "merge")
    assert expected > 0 and merged["tasks"] == 4 and merged["rows"] == merged["accepted"] == expected
    counts = snap_conn.accepted_count_by_event_id(PIXEL)
    assert len(counts) == expected and set(counts.values()) == {1}


def test_fan_out_over_sql_partitions_covers_the_interval(snap_conn, tmp_path, monkeypatch):
    from demo import sample_warehouse

    warehouse = _warehouse(tmp_path, monkeypatch)
    dag_run = load_dag("example_snap_capi_sql_partitions").test(logical_date=_yesterday())
    expected = sample_warehouse.count_between(warehouse, dag_run.data_interval_start, dag_run.data_interval_end)
    counts = snap_conn.accepted_count_by_event_id(PIXEL)
    assert expected > 0 and len(counts) == expected and set(counts.values()) == {1}


def test_files_example_reads_a_glob_and_maps_over_files(snap_conn, tmp_path):
    day = _yesterday()
    folder = tmp_path / f"day={day:%Y-%m-%d}"
    folder.mkdir()
    now = int(datetime.now(timezone.utc).timestamp())

    def rows(prefix: str, n: int) -> pd.DataFrame:
        return pd.DataFrame([{"order_id": f"{prefix}-{i}", "purchased_at": now - 60 * (i + 1),
                              "email": f"user{i}@example.com", "phone": "+1 650 555 1212", "country": "US",
                              "amount": 10.0 + i, "currency": "USD"} for i in range(n)])

    rows("csv-a", 3).to_csv(folder / "part-1.csv", index=False)
    rows("csv-b", 2).to_csv(folder / "part-2.csv", index=False)
    rows("pq-a", 4).to_parquet(folder / "a.parquet")
    rows("pq-b", 1).to_parquet(folder / "b.parquet")
    dag_run = load_dag("example_snap_capi_files").test(logical_date=day, run_conf={"exports": tmp_path.as_uri()})
    assert xcom(dag_run, "send_day_csv")["accepted"] == 5
    merged = xcom(dag_run, "merge")
    assert merged["tasks"] == 2 and merged["accepted"] == 5
    assert len(snap_conn.accepted_count_by_event_id(PIXEL)) == 10
