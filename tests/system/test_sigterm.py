"""A real Airflow CLI process, killed with SIGTERM while it sends: ``airflow tasks test`` (and
``airflow dags test``). Both run the task through Airflow 3's in-process runner
(``_run_task`` -> ``run_task_in_process``), whose SIGTERM handler calls ``on_kill`` in the task's main
thread: the run stops submitting, settles the request in flight, fails every row read but not sent as
``not_sent_interrupted``, writes the rejected-rows file and pushes the report to XCom (read back here
from the subprocess's metadata database). A second run then sends the same ``event_id`` for every row.

``airflow tasks test`` without a run id makes a temporary DAG run and deletes it (its XCom with it)
when it ends, so the test first creates a run (``trigger_dag``, as ``airflow dags trigger`` does) and
runs the task on that run id, twice: the killed try and its re-run."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from snap_capi_provider.core.pipeline import STOP_GRACE_S
from snap_capi_provider.emulator import Fault
from tests.conftest import AIRFLOW_HOME, ROOT, conn_json
from tests.reliability_helpers import emulator

pytestmark = pytest.mark.usefixtures("airflow_db")

ROWS = 300
DAG_ID = "sigterm_send"

DAG_FILE = textwrap.dedent('''
    import pendulum
    from airflow.sdk import dag

    from snap_capi_provider.operators.snap_capi import SnapCapiSendEventsOperator


    @dag(dag_id="{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
    def sigterm_send():
        SnapCapiSendEventsOperator(
            task_id="send", path="{rows}", event_name="PURCHASE",
            field_mapping={{"event_id": "order_id", "em": "email", "value": "amount", "currency": "currency",
                           "event_time": "ts"}},
            batch_size=10, chunk_rows=50, rejected_rows_path="{rejected}", rejected_rows_columns="order_id",
            hook_params={{"concurrency": 1, "max_retries": 0, "timeout": 30}}, progress_interval_s=0)


    sigterm_send()
''')


def _home(tmp_path: Path, emu_url: str) -> dict[str, str]:
    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    # A copy of the session's freshly reset metadata database: its own, without a second migration.
    with sqlite3.connect(AIRFLOW_HOME / "airflow.db") as source, sqlite3.connect(home / "airflow.db") as copy:
        source.backup(copy)
    rows = tmp_path / "rows.csv"
    now = int(time.time())
    with rows.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["order_id", "email", "amount", "currency", "ts"])
        for i in range(ROWS):
            writer.writerow([f"o-{i}", f"buyer.{i}@example.com", 10 + i, "USD", now - 60 - i])
    (home / "dags" / "sigterm_dag.py").write_text(DAG_FILE.format(
        dag_id=DAG_ID, rows=rows, rejected=tmp_path / "out" / "rejected.csv"))
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW_CONN_SNAP_CAPI_DEFAULT": conn_json(emu_url),
        "PYTHONPATH": str(ROOT),
    })
    return env


RUN_ID = "sigterm_run"
#: Serialize the DAG file and create a queued run, as ``airflow dags reserialize`` and ``airflow dags
#: trigger --run-id`` do, in one process.
CREATE_RUN = textwrap.dedent('''
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.utils.types import DagRunTriggeredByType

    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(DagBag(), "dags-folder", None)
    trigger_dag("{dag_id}", run_id="{run_id}", triggered_by=DagRunTriggeredByType.CLI)
''')


def _create_run(env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-c", CREATE_RUN.format(dag_id=DAG_ID, run_id=RUN_ID)], env=env,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]


def _airflow_test(command: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """``airflow dags test DAG`` (a new run each time) or ``airflow tasks test DAG send RUN_ID``."""
    airflow = Path(sys.executable).with_name("airflow")
    args = ["dags", "test", DAG_ID] if command == "dags" else ["tasks", "test", DAG_ID, "send", RUN_ID]
    return subprocess.Popen([str(airflow), *args], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _reports(env: dict[str, str]) -> list[dict]:
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as db:
        rows = db.execute("SELECT value FROM xcom WHERE dag_id = ? AND task_id = 'send' AND key = 'return_value' "
                          "ORDER BY timestamp", (DAG_ID,)).fetchall()
    return [json.loads(value) if isinstance(value, str | bytes) else value for (value,) in rows]


def _last_state(env: dict[str, str]) -> str:
    """The state of the latest try of the task (``airflow tasks test`` exits 0 even when it failed)."""
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as db:
        [(state,)] = db.execute("SELECT state FROM task_instance WHERE dag_id = ? AND task_id = 'send' "
                                "ORDER BY start_date DESC LIMIT 1", (DAG_ID,)).fetchall()
    return state


@pytest.mark.parametrize("command", ["tasks", "dags"])
def test_sigterm_mid_send_accounts_for_every_row_and_a_rerun_sends_the_same_event_ids(tmp_path, command):
    with emulator() as emu:
        env = _home(tmp_path, emu.url)
        if command == "tasks":
            _create_run(env)
        emu.set_fault_rate(1.0, kinds=("delay",), delay_s=0.25)  # every request slow: 30 batches, ~8 s
        log, rejected = tmp_path / "first.log", tmp_path / "out" / "rejected.csv"
        proc = _airflow_test(command, env, log)
        try:
            deadline = time.monotonic() + 120
            while len(emu.accepted_count_by_event_id()) < 30 and time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
                time.sleep(0.05)
            assert len(emu.accepted_count_by_event_id()) >= 30, log.read_text(errors="replace")[-3000:]
            # The next request hangs far beyond the stop grace period: it must not hold the task up.
            emu.add_faults(Fault("delay", delay_s=8.0))
            time.sleep(0.6)
            proc.send_signal(signal.SIGTERM)
            killed = time.monotonic()
            while not rejected.exists() and time.monotonic() - killed < 30:
                time.sleep(0.05)
            written_after = time.monotonic() - killed
            first = dict(emu.accepted_count_by_event_id())  # before the hung request ends (and is kept)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        output = log.read_text(errors="replace")
        assert 30 <= len(first) < ROWS, output[-3000:]
        # Within the 5 s Airflow's supervisor waits between its SIGTERM and a SIGKILL.
        assert written_after < STOP_GRACE_S + 2.0, (written_after, output[-3000:])

        assert _last_state(env) == "failed", output[-3000:]
        [report] = _reports(env)
        assert report["rows"] == report["accepted"] + report["rejected"] + report["failed"], report
        assert report["accepted"] == len(first) and report["rejected"] == 0
        assert report["failed"] == report["rows"] - len(first) > 0
        assert set(report["failures"]["by_reason"]) == {"not_sent_interrupted"}, report
        assert "stopped" in (report["error"] or ""), report

        with rejected.open(newline="") as stream:
            written = list(csv.DictReader(stream))
        assert {row["status"] for row in written} == {"failed"}
        assert {row["reason"] for row in written} == {"not_sent_interrupted"}
        unsent = {row["order_id"] for row in written}
        # Every row the source gave is accepted or in the file; the unread rest is simply not read yet.
        assert not unsent & set(first) and len(unsent) == report["failed"]
        assert oct(rejected.stat().st_mode & 0o777) == "0o600"

        emu.set_fault_rate(0.0)
        before = dict(emu.accepted_count_by_event_id())
        second = _airflow_test(command, env, tmp_path / "second.log")
        assert second.wait(timeout=120) == 0, (tmp_path / "second.log").read_text(errors="replace")[-3000:]
        final = emu.accepted_count_by_event_id()
        expected = {f"o-{i}" for i in range(ROWS)}
        # The second run sends every row's event_id again, the same ids: those the first run delivered
        # (and the hung request's, which ends late) are sent twice, and Snap deduplicates them.
        assert {eid for eid in expected if final.get(eid, 0) > before.get(eid, 0)} == expected
        assert set(final) == expected and len(emu.accepted_events()) == ROWS
        assert all(final[eid] >= 2 for eid in first)
        assert _reports(env)[-1]["accepted"] == ROWS and _last_state(env) == "success"
