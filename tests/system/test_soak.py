"""Soak: 20,000 rows through the send operator in ``dag.test()`` while the emulator fails a fifth of
the requests, then faults that never clear. Bounded (well under a minute) by small backoff settings."""

from __future__ import annotations

import json
import time

import pytest

from tests.airflow_helpers import run_dag, task_state, xcom
from tests.conftest import conn_json
from tests.reliability_helpers import emulator, pii_rows, wait_for_requests
from tests.system.test_reliability import build_dag

pytestmark = pytest.mark.usefixtures("airflow_db")

TRANSIENT = ("429", "500", "502", "503", "drop", "delay")


@pytest.fixture
def emu(monkeypatch):
    with emulator() as emu:
        monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", conn_json(emu.url))
        yield emu


def soak_rows(n: int) -> tuple[list[dict], set[str]]:
    """``n`` rows, one in a hundred invalid (an unreadable email and no phone); the valid order ids."""
    rows = pii_rows(n)
    for row in rows[::100]:
        row["email"], row["phone"] = "not-an-email", None
    return rows, {row["order_id"] for row in rows if row["phone"] is not None}


def test_soak_20k_rows_with_20_percent_transient_faults(emu, tmp_path):
    rows, valid = soak_rows(20_000)
    emu.set_fault_rate(0.2, kinds=TRANSIENT, seed=20, delay_s=0.6)  # delays outlast the 0.4 s timeout
    started = time.monotonic()
    dag_run = run_dag(build_dag("soak_transient", rows, batch_size=200, concurrency=4, max_retries=12,
                                retry_backoff_s=0.01, retry_backoff_max_s=0.05, request_timeout=0.4,
                                max_rejected_ratio=0.02, rejected_rows_path=str(tmp_path / "rejected.jsonl"),
                                rejected_rows_columns=["order_id"]))
    elapsed = time.monotonic() - started
    report = xcom(dag_run, "send")
    assert task_state(dag_run, "send") == "success", report
    assert report["rows"] == 20_000 == report["accepted"] + report["rejected"] + report["failed"]
    assert (report["accepted"], report["rejected"], report["failed"]) == (len(valid), 200, 0)
    wait_for_requests(emu, report["requests"])  # slow requests finish after the client gave up on them
    counts = emu.accepted_count_by_event_id()
    assert set(counts) == valid  # every valid row accepted, once per event_id
    assert len(emu.accepted_events()) == len(valid)
    rejected = [json.loads(line) for line in (tmp_path / "rejected.jsonl").read_text().splitlines()]
    assert {line["order_id"] for line in rejected} == {row["order_id"] for row in rows[::100]}
    assert elapsed < 60
    faults = [r.fault for r in emu.requests if r.fault]
    assert set(faults) == set(TRANSIENT) and len(faults) >= 0.15 * len(emu.requests)
    assert emu.summary()["duplicates"] > 0  # timed-out requests were processed, resent, deduplicated


@pytest.mark.parametrize(("rate", "kinds"), [(1.0, ("503", "drop", "429")), (0.5, ("502", "drop"))],
                         ids=["never-clear", "half-never-clear"])
def test_soak_faults_that_never_clear_fail_the_task_and_write_every_undelivered_row(emu, tmp_path, rate,
                                                                                     kinds):
    rows, valid = soak_rows(5_000)
    emu.set_fault_rate(rate, kinds=kinds, seed=5)
    path = tmp_path / "rejected.jsonl"
    dag_run = run_dag(build_dag(f"soak_stuck_{int(rate * 10)}", rows, batch_size=250, concurrency=4,
                                max_retries=1, retry_backoff_s=0.0, max_rejected_ratio=0.02,
                                rejected_rows_path=str(path), rejected_rows_columns=["order_id"]))
    report = xcom(dag_run, "send")
    assert task_state(dag_run, "send") == "failed"
    assert report["rows"] == 5_000 == report["accepted"] + report["rejected"] + report["failed"]
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    failed = {line["order_id"] for line in lines if line["status"] == "failed"}
    accepted = set(emu.accepted_count_by_event_id())
    assert len(failed) == report["failed"] > 0
    assert failed | accepted == valid and failed.isdisjoint(accepted)  # every undelivered row is in the file
    rejected = {line["order_id"] for line in lines if line["status"] == "rejected"}
    assert rejected == {row["order_id"] for row in rows[::100]}
    if rate == 1.0:
        assert report["accepted"] == 0 and failed == valid
