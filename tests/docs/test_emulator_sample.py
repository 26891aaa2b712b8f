"""The sample of the "emulator in your own DAG tests" page: a test as a user would write it."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.usefixtures("airflow_db")


# [START howto_emulator_in_dag_tests]
import json  # noqa: E402

from snap_capi_provider.emulator import CapiEmulator  # noqa: E402


@pytest.fixture
def snap_emulator(monkeypatch):
    """A local Snap CAPI on a free loopback port, and ``snap_capi_default`` pointing at it."""
    with CapiEmulator(access_tokens=("test-token",)) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", json.dumps({
            "conn_type": "snap_capi", "host": emulator.url, "password": "test-token",
            "extra": {"pixel_id": "test-pixel"}}))
        yield emulator


def test_my_dag_sends_each_purchase_once(snap_emulator):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(ROOT / "example_dags" / "example_snap_capi_quickstart.py")).get_dag(
        "example_snap_capi_quickstart")
    dag_run = dag.test()
    report = dag_run.get_task_instance("send_purchases").xcom_pull(task_ids="send_purchases")
    assert report["accepted"] == 2 and report["failed"] == 0
    assert snap_emulator.accepted_count_by_event_id("test-pixel") == {"order-1001": 1, "order-1002": 1}
# [END howto_emulator_in_dag_tests]
