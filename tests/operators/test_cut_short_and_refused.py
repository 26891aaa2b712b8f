"""Issue 10 through the operators in ``dag.test()``: a run cut short by an exception (an
``execution_timeout``, a corrupt later file, a Snap column that only a later file brings) writes the
report and the undelivered rows before the task fails; a 400 about the request as a whole fails the run
once, in a few requests; the requests refused with 401/403 are counted in the report."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import time
from pathlib import Path

import pendulum
import pytest

from snap_capi_provider.emulator import Fault
from snap_capi_provider.emulator.faults import REQUEST_400_MESSAGE
from tests.airflow_helpers import run_dag, task_state, xcom
from tests.conftest import PIXEL, conn_json
from tests.reliability_helpers import MAPPING, emulator, pii_rows

pytestmark = pytest.mark.usefixtures("airflow_db")

SEND_KWARGS = {"event_name": "PURCHASE", "default_phone_region": "US", "rejected_rows_columns": "order_id",
               "hook_params": {"max_retries": 0, "retry_backoff_s": 0.0, "retry_backoff_max_s": 0.0}}


@pytest.fixture
def emu(monkeypatch):
    with emulator() as emu:
        monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", conn_json(emu.url))
        yield emu


def one_task_dag(dag_id: str, operator: str = "send", **kwargs):
    from airflow.sdk import dag

    from snap_capi_provider.operators.snap_capi import SnapCapiSendEventsOperator, SnapCapiValidateOperator

    cls = SnapCapiSendEventsOperator if operator == "send" else SnapCapiValidateOperator

    @dag(dag_id=dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
    def pipeline():
        cls(task_id="send", **kwargs)

    return pipeline()


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_accounted(report: dict, rejected: Path, emu) -> list[dict]:
    """Every row read is in one bucket, every row not accepted is in the file, none of them was delivered."""
    assert report["rows"] == report["accepted"] + report["rejected"] + report["failed"], report
    lines = read_jsonl(rejected)
    assert len(lines) == report["rejected"] + report["failed"]
    assert not {line["order_id"] for line in lines} & set(emu.accepted_count_by_event_id())
    return lines


# ---------------------------------------------------------------------------- a run cut short


def test_an_execution_timeout_mid_send_writes_the_report_and_the_file_before_the_task_fails(emu, tmp_path):
    emu.set_fault_rate(1.0, kinds=("delay",), delay_s=0.2)  # 40 batches of 10 one at a time: 8 s, cut at 2 s
    rejected = tmp_path / "rejected.jsonl"
    kwargs = {**SEND_KWARGS, "hook_params": {**SEND_KWARGS["hook_params"], "concurrency": 1}}
    started = time.monotonic()
    dag_run = run_dag(one_task_dag(
        "cut_timeout", data=pii_rows(400), field_mapping=MAPPING, batch_size=10, chunk_rows=100,
        rejected_rows_path=str(rejected), execution_timeout=dt.timedelta(seconds=2), **kwargs))
    assert time.monotonic() - started < 20
    assert task_state(dag_run, "send") == "failed"
    report = xcom(dag_run, "send")
    assert "interrupted: AirflowTaskTimeout" in report["error"], report
    assert 0 < report["accepted"] < 400 and report["failed"] > 0
    assert set(report["failures"]["by_reason"]) == {"not_sent_interrupted"}
    lines = assert_accounted(report, rejected, emu)
    assert {line["status"] for line in lines} == {"failed"}


@pytest.mark.parametrize("late", ["corrupt_gzip", "snap_column"])
def test_a_later_file_that_breaks_the_run_writes_the_report_and_the_file_before_the_task_fails(emu, tmp_path, late):
    """The first file's 10 rows wait in an open batch (batch_size 25) when the second file breaks the run:
    they are failed, written to the file, and counted in the report pushed before the task fails."""
    rows = [{"order_id": f"o-{i}", "email": f"buyer.{i}@example.com", "amount": 5, "currency": "USD",
             "event_time": int(time.time()) - 60} for i in range(20)]
    first = write_csv(tmp_path / "a-1.csv", rows[:10])
    if late == "corrupt_gzip":  # a library error (gzip) while reading the second file
        second = tmp_path / "a-2.csv.gz"
        second.write_bytes(gzip.compress(b"order_id,email\no-10,x@example.com\n" * 50)[:60])
    else:  # auto mapping: 'phone' (a Snap field alias) first appears in the second file
        second = write_csv(tmp_path / "a-2.csv", [{**row, "phone": "+16505551212"} for row in rows[10:]])
    rejected = tmp_path / "out" / "rejected.jsonl"
    dag_run = run_dag(one_task_dag(f"cut_{late}", path=[str(first), str(second)], batch_size=25, chunk_rows=10,
                                   rejected_rows_path=str(rejected), **SEND_KWARGS))
    assert task_state(dag_run, "send") == "failed"
    report = xcom(dag_run, "send")
    assert (report["rows"], report["accepted"], report["failed"]) == (10, 0, 10), report
    assert report["error"].startswith("interrupted: ")
    lines = assert_accounted(report, rejected, emu)
    assert {line["order_id"] for line in lines} == {f"o-{i}" for i in range(10)}
    assert {line["reason"] for line in lines} == {"not_sent_interrupted"}
    assert emu.requests == []


# -------------------------------------------------------------------- one bad thing, one bad effect


@pytest.mark.parametrize("operator", ["send", "validate"])
def test_a_request_refused_as_a_whole_fails_the_run_once_in_a_few_requests(emu, tmp_path, operator):
    emu.set_fault_rate(1.0, kinds=("request_400",))  # send requests
    emu.add_faults(*[Fault("request_400", path_contains="/validate")] * 50)  # and validate ones
    rejected = tmp_path / "rejected.jsonl"
    kwargs = {**SEND_KWARGS, "hook_params": {**SEND_KWARGS["hook_params"], "concurrency": 2}}
    dag_run = run_dag(one_task_dag(f"refused_{operator}", operator, data=pii_rows(1000), field_mapping=MAPPING,
                                   batch_size=50, chunk_rows=200, rejected_rows_path=str(rejected), **kwargs))
    assert task_state(dag_run, "send") == "failed"
    report = xcom(dag_run, "send")
    assert REQUEST_400_MESSAGE in report["error"] and report["failed"] == 1000
    # 20 batches; only those in flight when the first refusal came back (at most 2 * concurrency) were
    # sent, each in at most 3 requests (send, validate, or the batch and its two halves): never 1000.
    assert report["requests"] == len(emu.requests) <= 3 * 2 * 2, report["requests"]
    lines = read_jsonl(rejected)
    assert len(lines) == 1000 and {line["status"] for line in lines} == {"failed"}
    assert emu.accepted_events() == [] and emu.test_events() == []


@pytest.mark.parametrize("operator", ["send", "validate"])
@pytest.mark.parametrize("refusal", ["401", "403"])
def test_the_requests_refused_with_401_or_403_are_counted_in_the_report(monkeypatch, operator, refusal):
    with emulator(assets=(PIXEL,) if refusal == "401" else ("another-pixel",)) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", conn_json(emu.url))
        if refusal == "401":
            emu.set_fault_rate(1.0, kinds=("401",))
            emu.add_faults(*[Fault("401", path_contains="/validate")] * 10)
        dag_run = run_dag(one_task_dag(f"refused_{refusal}_{operator}", operator, data=pii_rows(300),
                                       field_mapping=MAPPING, batch_size=100, **SEND_KWARGS))
        assert task_state(dag_run, "send") == "failed"
        report = xcom(dag_run, "send")
        assert report["failed"] == 300 and f"HTTP {refusal}" in report["error"]
        assert report["requests"] == len(emu.requests) >= 1


@pytest.mark.parametrize("target", ["folder", "number"])
def test_a_rejected_rows_path_that_cannot_be_a_file_fails_before_anything_is_sent(emu, tmp_path, target):
    rows = [{"order_id": "o-1", "email": "buyer@example.com", "amount": 5, "currency": "USD",
             "event_time": int(time.time()) - 60}]
    path = str(tmp_path) if target == "folder" else 5
    dag_run = run_dag(one_task_dag(f"bad_rejected_path_{target}", data=rows, rejected_rows_path=path,
                                   **SEND_KWARGS))
    assert task_state(dag_run, "send") == "failed"
    assert emu.requests == [] and list(tmp_path.iterdir()) == []  # nothing sent, no stray temporary file
