"""`make demo`: the warehouse example DAG end to end against the local CAPI emulator, in a few lines.

Starts the emulator on a free loopback port, seeds a SQLite warehouse with the last days' purchases
(one customer of every 13 left a malformed email and no phone, so one row a day is rejected), runs
``example_snap_capi_offline_conversions`` with ``dag.test()`` on a throwaway Airflow home with
Airflow's production defaults (not unit-test mode), and prints the report, the rejected-rows file and
what the emulator recorded. Airflow's own log goes to a file, named at the end.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "demo-token"
PIXEL = "demo-pixel-0001"
DAG_ID = "example_snap_capi_offline_conversions"
BROKEN_EVERY = 13


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="snap-capi-demo-"))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    emulator = subprocess.Popen(
        [sys.executable, "-m", "snap_capi_provider.emulator", "--port", str(port), "--token", TOKEN],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        emulator.stdout.readline()
        print(f"Local Snap CAPI emulator on {url}; Airflow home {home}", flush=True)
        warehouse = home / "warehouse.db"
        from demo import sample_warehouse

        now = datetime.now(timezone.utc)
        sample_warehouse.seed(warehouse, now - timedelta(days=3), now, broken_every=BROKEN_EVERY)
        env = {**os.environ, **_airflow_env(home, url, warehouse)}
        log_file = home / "airflow-dag-test.log"
        with open(log_file, "w") as log:
            child = subprocess.run([sys.executable, "-m", "demo.run", "--child", str(home)], env=env, cwd=ROOT,
                                   stdout=log, stderr=subprocess.STDOUT, check=False)
        result_file = home / "result.json"
        if child.returncode or not result_file.exists():
            print(open(log_file).read()[-4000:])
            print(f"DEMO FAILED: the DAG run did not finish (full Airflow log: {log_file})")
            return 1
        return _show(json.loads(result_file.read_text()), warehouse, url, log_file)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


def _airflow_env(home: Path, url: str, warehouse: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW_CONN_WAREHOUSE_SQLITE": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
        "AIRFLOW_CONN_SNAP_CAPI_DEFAULT": json.dumps(
            {"conn_type": "snap_capi", "host": url, "password": TOKEN, "extra": {"pixel_id": PIXEL}}),
    }


def _child(home: Path) -> int:
    """Runs inside the child process: the DAG under ``dag.test()``; the outcome into result.json."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.utils import db

    db.resetdb()
    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=str(ROOT / "example_dags" / f"{DAG_ID}.py"))
    sync_bag_to_db(bag, "dags-folder", None)
    dag_run = bag.get_dag(DAG_ID).test()
    ti = dag_run.get_task_instance("send_purchases")
    result = {"state": str(ti.state), "report": ti.xcom_pull(task_ids="send_purchases"),
              "start": dag_run.data_interval_start.isoformat(), "end": dag_run.data_interval_end.isoformat()}
    (home / "result.json").write_text(json.dumps(result))
    return 0


def _show(result: dict, warehouse: Path, url: str, log_file: Path) -> int:
    from demo import sample_warehouse

    start, end = datetime.fromisoformat(result["start"]), datetime.fromisoformat(result["end"])
    report = result["report"] or {}
    good = sample_warehouse.count_between(warehouse, start, end, broken=False)
    bad = sample_warehouse.count_between(warehouse, start, end, broken=True)
    with urllib.request.urlopen(f"{url}/_emulator/summary") as response:
        summary = json.load(response)
    readiness = report.get("match_readiness", {})
    print(f"\nDAG {DAG_ID}, data interval {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC: task {result['state']}")
    print(f"  warehouse rows in the interval: {good + bad} ({bad} with a malformed email and no phone)")
    print(f"  report: rows={report.get('rows')} accepted={report.get('accepted')} rejected={report.get('rejected')} "
          f"failed={report.get('failed')} requests={report.get('requests')}")
    print(f"  rejections: {report.get('rejections', {}).get('by_reason')}")
    print(f"  match readiness: {readiness.get('share_with_strong_identifier', 0):.0%} of events carry a strong "
          f"identifier; email {readiness.get('share_with', {}).get('em', 0):.0%}, "
          f"phone {readiness.get('share_with', {}).get('ph', 0):.0%}")
    path = report.get("rejected_rows_path", "")
    local = path.removeprefix("file://")
    if local and os.path.exists(local):
        print(f"  rejected-rows file {local}:")
        for line in open(local).read().splitlines()[:5]:
            print(f"    {line}")
    print(f"  emulator recorded {summary.get('unique_event_ids')} distinct events for pixel {PIXEL}")
    print(f"  (the whole report is the task's XCom return_value; Airflow's log: {log_file})")
    ok = (result["state"] == "success" and report.get("accepted") == good > 0 and report.get("rejected") == bad
          and summary.get("unique_event_ids") == good)
    print("\nDEMO OK: every valid row accepted, the broken one rejected with its reason." if ok else "\nDEMO FAILED")
    return 0 if ok else 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        sys.exit(_child(Path(sys.argv[2])))
    sys.exit(main())
