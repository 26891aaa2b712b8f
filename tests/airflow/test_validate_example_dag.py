"""The example DAG ``example_snap_capi_test_before_live`` runs green in ``dag.test()`` on v3 and v2."""

from __future__ import annotations

import importlib

import pytest

from tests.airflow_helpers import run_dag, task_state, xcom
from tests.conftest import PIXEL, conn_json

pytestmark = pytest.mark.usefixtures("airflow_db")

TASKS = ("extract_orders", "validate_sample", "send_test_events", "wait_for_test_events",
         "summarize_test_logs", "send_live")


@pytest.mark.parametrize("api_version", ["v3", "v2"])
def test_example_dag_runs_green(emulator, monkeypatch, api_version):
    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", conn_json(emulator.url, api_version=api_version))
    module = importlib.import_module("example_dags.example_snap_capi_test_before_live")

    dag_run = run_dag(module.dag_object)

    assert {task: task_state(dag_run, task) for task in TASKS} == dict.fromkeys(TASKS, "success")
    sample, test_events = xcom(dag_run, "validate_sample"), xcom(dag_run, "send_test_events")
    assert (sample["rows"], sample["valid"], sample["invalid"], sample["sample_size"]) == (3, 3, 0, 3)
    assert (test_events["rows"], test_events["valid"], test_events["api_version"]) == (5, 5, api_version)
    stats = xcom(dag_run, "wait_for_test_events")
    assert stats["test"]["event_count_past_hour"] == 8
    assert stats["test"]["latest_event_ts"] >= test_events["started_at"]
    logs = xcom(dag_run, "summarize_test_logs")
    assert logs["events"] == 8 and logs["by_status"] == {"VALID": 8}
    live = xcom(dag_run, "send_live")
    assert (live["rows"], live["accepted"], live["api_version"]) == (5, 5, api_version)
    assert len(emulator.accepted_events(PIXEL)) == 5 and len(emulator.test_events(PIXEL)) == 8
    assert {r.path for r in emulator.requests if r.method == "POST"} == (
        {f"/v3/{PIXEL}/events/validate", f"/v3/{PIXEL}/events"} if api_version == "v3"
        else {"/v2/conversion/validate", "/v2/conversion"})
