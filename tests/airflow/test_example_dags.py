"""The example DAGs import cleanly and the offline-conversions one runs green against the emulator."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.airflow_helpers import run_dag, task_state, xcom
from tests.conftest import PIXEL, ROOT

pytestmark = pytest.mark.usefixtures("airflow_db")


def load_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "example_dags"))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(dag_id)


def test_example_dags_import_without_errors():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "example_dags"))
    assert not bag.import_errors
    assert "snap_offline_conversions" in bag.dag_ids


def test_offline_conversions_sends_every_purchase_of_the_interval(snap_conn, tmp_path, monkeypatch):
    from example_dags import sample_warehouse

    warehouse = tmp_path / "warehouse.db"
    now = datetime.now(timezone.utc)
    sample_warehouse.seed(warehouse, now - timedelta(days=3), now)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(warehouse)}))

    dag_run = run_dag(load_dag("snap_offline_conversions"))
    assert task_state(dag_run, "send_purchases") == "success"
    report = xcom(dag_run, "send_purchases")
    expected = sample_warehouse.count_between(warehouse, dag_run.data_interval_start, dag_run.data_interval_end)
    assert expected > 0
    assert report["rows"] == report["accepted"] == expected
    events = snap_conn.accepted_events(PIXEL)
    assert len(events) == expected
    assert all(event["event_id"].startswith("ORD-") for event in events)

    # A re-run of the same interval sends the same event ids: Snap keeps each purchase once.
    rerun = run_dag(load_dag("snap_offline_conversions"), logical_date=dag_run.logical_date + timedelta(seconds=1))
    assert xcom(rerun, "send_purchases")["accepted"] == expected
    assert len(snap_conn.accepted_events(PIXEL)) == expected
    assert set(snap_conn.accepted_count_by_event_id(PIXEL).values()) == {2}
