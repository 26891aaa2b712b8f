"""Rows given in ``data=`` are stored in Airflow's metadata database (an upstream task's XCom, a mapped
argument, values in the DAG), raw PII included: the task log says so at every run, and the docs say so
plainly instead of promising that rows never enter XCom. Rows read with ``sql=`` or ``path=`` are not
stored and get no such warning."""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path

import pendulum
import pytest

from tests.airflow_helpers import run_dag, xcom
from tests.conftest import ROOT

pytestmark = pytest.mark.usefixtures("airflow_db")

WARNING = "stored in Airflow's metadata database, raw PII included"
KWARGS = {"field_mapping": {"em": "email", "event_id": "order_id", "event_time": "ts"}, "event_name": "SIGN_UP"}


def rows(n: int = 3) -> list[dict]:
    return [{"order_id": f"x-{i}", "email": f"buyer.{i}@example.com", "ts": int(time.time()) - 60} for i in range(n)]


def _run(dag_id: str, how: str, tmp_path: Path):
    from airflow.sdk import dag, task

    from snap_capi_provider.operators.snap_capi import SnapCapiSendEventsOperator

    @dag(dag_id=dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
    def pipeline():
        @task(show_return_value_in_logs=False)
        def extract() -> list[dict]:
            return rows()

        @task
        def halves() -> list[list[dict]]:
            data = rows(4)
            return [data[:2], data[2:]]

        if how == "xcom":
            SnapCapiSendEventsOperator(task_id="send", data=extract(), **KWARGS)
        elif how == "mapped":
            SnapCapiSendEventsOperator.partial(task_id="send", **KWARGS).expand(data=halves())
        elif how == "literal":
            SnapCapiSendEventsOperator(task_id="send", data=rows(), **KWARGS)
        else:
            path = tmp_path / "rows.csv"
            with path.open("w", newline="") as stream:
                writer = csv.DictWriter(stream, ["order_id", "email", "ts"])
                writer.writeheader()
                writer.writerows(rows())
            SnapCapiSendEventsOperator(task_id="send", path=str(path), **KWARGS)

    return run_dag(pipeline())


@pytest.mark.parametrize("how", ["xcom", "mapped", "literal", "path"])
def test_rows_in_data_are_warned_about_in_the_task_log(snap_conn, caplog, tmp_path, how):
    caplog.set_level(logging.INFO)
    dag_run = _run(f"xcom_rows_{how}", how, tmp_path)
    assert {ti.state for ti in dag_run.get_task_instances() if ti.task_id == "send"} == {"success"}
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING and WARNING in r.getMessage()]
    if how == "path":
        assert warnings == []
        assert xcom(dag_run, "send")["accepted"] == 3
        return
    assert len(warnings) == (2 if how == "mapped" else 1), warnings  # once per task (each mapped instance)
    assert "prefer sql= or path=" in warnings[0]
    assert {"xcom": "arrived through XCom", "mapped": "mapped data= argument (through XCom",
            "literal": "came in data="}[how] in warnings[0]
    assert len(snap_conn.accepted_events()) == (4 if how == "mapped" else 3)


def test_the_docs_no_longer_promise_that_rows_never_enter_xcom():
    text = "\n".join(path.read_text("utf-8") for path in (ROOT / "docs").rglob("*.md")) + \
        (ROOT / "README.md").read_text("utf-8")
    assert "never enter logs, exceptions, XCom" not in text
    reliability = (ROOT / "docs" / "reliability.md").read_text("utf-8")
    assert "raw PII included" in reliability and "sql=" in reliability and "path=" in reliability
