"""`make demo`: the offline-conversions example DAG end to end against the local CAPI emulator.

Starts the emulator (``snap-capi-emulator``) on a free loopback port, seeds a SQLite warehouse with
purchases of the last days, runs ``snap_offline_conversions`` with ``dag.test()`` on a throwaway
Airflow home, and prints the operator's report and what the emulator recorded.
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


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="snap-capi-demo-"))
    os.environ.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
    })
    port = _free_port()
    emulator = subprocess.Popen(
        [sys.executable, "-m", "snap_capi_provider.emulator", "--port", str(port), "--token", TOKEN],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        print(emulator.stdout.readline().strip(), flush=True)
        url = f"http://127.0.0.1:{port}"
        return _run(home, url)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


def _run(home: Path, url: str) -> int:
    from example_dags import sample_warehouse

    warehouse = home / "warehouse.db"
    now = datetime.now(timezone.utc)
    sample_warehouse.seed(warehouse, now - timedelta(days=3), now)
    os.environ["AIRFLOW_CONN_WAREHOUSE_SQLITE"] = json.dumps({"conn_type": "sqlite", "host": str(warehouse)})
    os.environ["AIRFLOW_CONN_SNAP_CAPI_DEFAULT"] = json.dumps(
        {"conn_type": "snap_capi", "host": url, "password": TOKEN, "extra": {"pixel_id": PIXEL}}
    )

    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.utils import db

    db.resetdb()
    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=str(ROOT / "example_dags" / "offline_conversions.py"))
    sync_bag_to_db(bag, "dags-folder", None)
    dag = bag.get_dag("snap_offline_conversions")
    dag_run = dag.test()

    ti = dag_run.get_task_instance("send_purchases")
    report = ti.xcom_pull(task_ids="send_purchases")
    expected = sample_warehouse.count_between(warehouse, dag_run.data_interval_start, dag_run.data_interval_end)
    with urllib.request.urlopen(f"{url}/_emulator/summary") as response:
        summary = json.load(response)

    print("\n" + "=" * 72)
    print(f"Snap CAPI report for {dag_run.data_interval_start} .. {dag_run.data_interval_end}")
    print(f"(task state: {ti.state}; {expected} purchases in the warehouse for that interval)")
    print(json.dumps(report, indent=2))
    print(f"Emulator recorded: {json.dumps(summary)}")
    print("=" * 72)
    ok = (str(ti.state) == "success" and report and report["accepted"] == report["rows"] == expected > 0
          and summary.get("unique_event_ids") == expected)
    print("DEMO OK: every sample row was accepted." if ok else "DEMO FAILED", flush=True)
    return 0 if ok else 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
