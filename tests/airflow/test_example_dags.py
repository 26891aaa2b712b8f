"""The example DAGs import cleanly; the warehouse one reads SQL (not XCom), has real data intervals even with
Airflow 3's production default ``create_cron_data_intervals = False``, and sends each row of each interval once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from tests.airflow_helpers import run_dag, task_state, xcom
from tests.conftest import PIXEL, ROOT

pytestmark = pytest.mark.usefixtures("airflow_db")
WAREHOUSE_DAG = "example_snap_capi_offline_conversions"


def load_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "example_dags"))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(dag_id)


def test_example_dags_import_and_each_dag_id_is_its_file_stem():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "example_dags"))
    assert not bag.import_errors
    stems = {path.stem for path in (ROOT / "example_dags").glob("example_*.py")}
    assert stems and stems == set(bag.dag_ids)


def test_the_warehouse_example_reads_sql_not_xcom():
    dag = load_dag(WAREHOUSE_DAG)
    send = dag.get_task("send_purchases")
    assert send.sql and send.sql_conn_id == "warehouse_sqlite" and send.data is None
    assert not send.upstream_task_ids  # no extract task whose rows would pass through XCom


def _seed(tmp_path, monkeypatch, days: int = 3, broken_every: int = 0):
    from demo import sample_warehouse

    warehouse = tmp_path / "warehouse.db"
    now = datetime.now(timezone.utc)
    sample_warehouse.seed(warehouse, now - timedelta(days=days), now, broken_every=broken_every)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(warehouse)}))
    return warehouse


def test_each_data_interval_sends_its_rows_once_and_a_rerun_sends_the_same_ids(snap_conn, tmp_path, monkeypatch):
    from demo import sample_warehouse

    warehouse = _seed(tmp_path, monkeypatch)
    dag = load_dag(WAREHOUSE_DAG)
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    runs = [run_dag(dag, logical_date=today - timedelta(days=1)), run_dag(dag, logical_date=today)]
    total = 0
    for dag_run in runs:
        assert task_state(dag_run, "send_purchases") == "success"
        assert dag_run.data_interval_end - dag_run.data_interval_start == timedelta(days=1)
        expected = sample_warehouse.count_between(warehouse, dag_run.data_interval_start, dag_run.data_interval_end)
        report = xcom(dag_run, "send_purchases")
        assert expected > 0 and report["rows"] == report["accepted"] == expected
        total += expected
    events = snap_conn.accepted_events(PIXEL)
    assert len(events) == total == len({event["event_id"] for event in events})  # two intervals, no overlap
    assert all(event["event_id"].startswith("ORD-") for event in events)

    # A re-run of an interval sends the same event ids: Snap keeps each purchase once.
    rerun = run_dag(dag, logical_date=today + timedelta(seconds=1))
    assert xcom(rerun, "send_purchases")["accepted"] == xcom(runs[1], "send_purchases")["accepted"]
    assert len(snap_conn.accepted_count_by_event_id(PIXEL)) == total


def test_a_broken_row_is_rejected_with_its_reason_and_written_out(snap_conn, tmp_path, monkeypatch):
    from demo import sample_warehouse

    warehouse = _seed(tmp_path, monkeypatch, broken_every=5)
    dag_run = run_dag(load_dag(WAREHOUSE_DAG))
    report = xcom(dag_run, "send_purchases")
    bad = sample_warehouse.count_between(warehouse, dag_run.data_interval_start, dag_run.data_interval_end, True)
    assert bad > 0 and report["rejected"] == bad
    assert report["rejections"]["by_reason"] == {"invalid_email": bad}
    # 1 of 5 rows rejected is over the example's max_rejected_ratio=0.1: the task fails, loudly.
    assert task_state(dag_run, "send_purchases") == "failed"
    path = report["rejected_rows_path"].removeprefix("file://")
    lines = open(path).read().splitlines()
    assert lines[0] == "row,status,reason,order_id,store_id" and len(lines) == bad + 1
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"


PRODUCTION_CHECK = """
import json, sys
import pendulum
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import dag
from airflow.timetables.interval import CronDataIntervalTimetable
from airflow.timetables.trigger import CronTriggerTimetable

example = DagBag(dag_folder=sys.argv[1]).dags[sys.argv[2]]
@dag(schedule="@daily", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
def plain_daily():
    pass
core = {"CronDataIntervalTimetable": CronDataIntervalTimetable, "CronTriggerTimetable": CronTriggerTimetable}
when = pendulum.datetime(2026, 6, 2, 6, tz="UTC")
widths = {}
for name, d in (("example", example), ("plain_daily", plain_daily())):
    kind = type(d.timetable).__name__
    interval = core[kind]("0 0 * * *", timezone="UTC").infer_manual_data_interval(run_after=when)
    widths[name] = [kind, (interval.end - interval.start).total_seconds()]
print(json.dumps(widths))
"""


def test_with_airflow_3_production_defaults_the_example_still_has_day_wide_intervals(tmp_path):
    """Unit-test mode flips ``create_cron_data_intervals`` on; a real deployment has it off, where a plain
    ``@daily`` gets zero-width intervals. The example's explicit timetable does not depend on it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW__")}
    env.update({"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/airflow.db"})
    out = subprocess.run([sys.executable, "-c", PRODUCTION_CHECK, str(ROOT / "example_dags"), WAREHOUSE_DAG],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    widths = json.loads(out.stdout.strip().splitlines()[-1])
    assert widths == {"example": ["CronDataIntervalTimetable", 86400.0],
                      "plain_daily": ["CronTriggerTimetable", 0.0]}
