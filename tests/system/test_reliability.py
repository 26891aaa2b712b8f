"""The send operator in real ``dag.test()`` runs against a private emulator over loopback: faults,
narrowing, the rejected-rows file, an interrupted task retried with the same event ids, clear errors
for bad input, and logs, XCom and rendered fields free of the token and of PII."""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
import threading
import time
from pathlib import Path

import pendulum
import pytest

from snap_capi_provider.emulator import Fault
from tests.airflow_helpers import run_dag, task_state, xcom
from tests.conftest import AIRFLOW_HOME, PIXEL, TOKEN, conn_json
from tests.reliability_helpers import MAPPING, emulator, leaks, pii_rows, raw_pii, wait_for_requests

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture
def emu(monkeypatch):
    with emulator() as emu:
        monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", conn_json(emu.url))
        yield emu


def build_dag(dag_id: str, rows: list[dict], **operator_kwargs):
    from airflow.sdk import dag, task

    from snap_capi_provider.operators.snap_capi import SnapCapiSendEventsOperator

    operator_kwargs = {"field_mapping": MAPPING, "event_name": "PURCHASE", "default_phone_region": "US",
                       "retry_backoff_s": 0.0, "retry_backoff_max_s": 0.0, **operator_kwargs}

    @dag(dag_id=dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
    def pipeline():
        @task(show_return_value_in_logs=False)  # the rows hold PII: keep them out of the logs
        def extract():
            return rows

        SnapCapiSendEventsOperator(task_id="send", data=extract(), **operator_kwargs)

    return pipeline()


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_transient_faults_are_retried_and_every_row_is_accepted_once(emu):
    emu.add_faults(Fault("429"), Fault("429", retry_after=0), Fault("500"), Fault("502"), Fault("503"),
                   Fault("drop"), Fault("delay", delay_s=0.8))
    # Any one batch may draw all seven faults: give it more retries than there are faults.
    dag_run = run_dag(build_dag("rel_transient", pii_rows(200), batch_size=50, concurrency=2,
                                request_timeout=0.4, max_retries=8))
    report = xcom(dag_run, "send")
    assert task_state(dag_run, "send") == "success"
    assert (report["rows"], report["accepted"], report["rejected"], report["failed"]) == (200, 200, 0, 0)
    assert report["retries"] >= 7 and report["requests"] == 4 + report["retries"]  # >: a slow machine
    wait_for_requests(emu, report["requests"])
    assert set(emu.accepted_count_by_event_id()) == {f"o-{i}" for i in range(200)}
    assert len(emu.accepted_events()) == 200  # the batch resent after a timeout was deduplicated
    assert sorted(r.fault for r in emu.requests if r.fault) == sorted(
        ["429", "429", "500", "502", "503", "drop", "delay"])


def test_a_400_naming_an_event_and_an_invalid_200_are_narrowed_and_the_good_rows_sent(emu, tmp_path):
    emu.add_faults(Fault("bad_event_400", event_index=2), Fault("invalid_200"))
    path = f"file://{tmp_path}/{{{{ dag.dag_id }}}}/rejected-{{{{ ds }}}}.csv"
    dag_run = run_dag(build_dag("rel_narrow", pii_rows(100), batch_size=50, concurrency=1,
                                max_rejected_ratio=0.05, rejected_rows_path=path,
                                rejected_rows_columns=["order_id"]))
    report = xcom(dag_run, "send")
    assert task_state(dag_run, "send") == "success"
    assert (report["accepted"], report["rejected"], report["failed"]) == (99, 1, 0)
    assert report["rejections"]["by_reason"] == {"snap_rejected: Event at index 2 is invalid.": 1}
    written = tmp_path / "rel_narrow" / f"rejected-{dag_run.logical_date:%Y-%m-%d}.csv"
    assert report["rejected_rows_path"] == f"file://{written}"
    lines = written.read_text().splitlines()
    assert lines[0] == "row,status,reason,order_id" and len(lines) == 2
    row = int(lines[1].split(",")[0])
    assert lines[1] == f"{row},rejected,snap_rejected: Event at index 2 is invalid.,o-{row}"
    assert set(emu.accepted_count_by_event_id()) == {f"o-{i}" for i in range(100)} - {f"o-{row}"}


def test_a_garbage_200_fails_the_task_and_writes_those_rows_as_failed(emu, tmp_path, capfd):
    emu.add_faults(Fault("garbage_200"))
    path = tmp_path / "rejected.jsonl"
    dag_run = run_dag(build_dag("rel_garbage", pii_rows(100), batch_size=50, concurrency=1,
                                rejected_rows_path=str(path), rejected_rows_columns=["order_id"]))
    report = xcom(dag_run, "send")
    assert task_state(dag_run, "send") == "failed"
    out, err = capfd.readouterr()
    assert ("50 of 100 rows could not be delivered to Snap (unconfirmed_response: HTTP 200 with a body "
            f"that is not a JSON object (50)); 50 were accepted. They are in {path}, marked 'failed'. "
            "Re-running is safe") in out + err
    assert (report["accepted"], report["failed"]) == (50, 50)
    lines = read_jsonl(path)
    assert {line["status"] for line in lines} == {"failed"} and len(lines) == 50
    assert lines[0]["reason"] == "unconfirmed_response: HTTP 200 with a body that is not a JSON object"
    failed = {line["order_id"] for line in lines}
    assert failed.isdisjoint(emu.accepted_count_by_event_id())
    assert len(emu.requests) == 2  # the unreadable answer was not retried


def test_a_task_killed_half_way_and_retried_sends_the_same_event_ids(emu):
    """Try 1 loses the API half-way (every request fails from then on) and fails; Airflow retries the
    task; try 2 sends every row again with the same event ids, so Snap keeps each row once."""
    emu.set_fault_rate(1.0, kinds=("delay",), delay_s=0.02)  # slow enough to cut in half-way
    first_try: dict[str, int] = {}
    rows = pii_rows(2000)

    def cut_half_way() -> None:
        deadline = time.monotonic() + 30
        while len(emu.accepted_count_by_event_id()) < 1000 and time.monotonic() < deadline:
            time.sleep(0.002)
        emu.set_fault_rate(1.0, kinds=("503", "drop"))

    def heal(context) -> None:  # on_retry_callback: runs between the failed try and the retry
        first_try.update(emu.accepted_count_by_event_id())
        emu.set_fault_rate(0.0)

    cutter = threading.Thread(target=cut_half_way, daemon=True)
    cutter.start()
    dag_run = run_dag(build_dag("rel_retry", rows, batch_size=100, concurrency=1, max_retries=1,
                                retries=1, retry_delay=dt.timedelta(0), on_retry_callback=heal))
    cutter.join()
    ti = dag_run.get_task_instance("send")
    assert (str(ti.state), ti.try_number) == ("success", 2)
    assert 1000 <= len(first_try) < 2000  # try 1 delivered part of the rows, then lost the API
    final = emu.accepted_count_by_event_id()
    assert set(final) == {f"o-{i}" for i in range(2000)}
    assert {eid for eid, count in final.items() if count == 2} == set(first_try)  # same ids, resent
    assert len(emu.accepted_events()) == 2000 and xcom(dag_run, "send")["accepted"] == 2000


def test_a_wrong_column_fails_the_task_before_sending_and_names_the_columns(emu, capfd):
    dag_run = run_dag(build_dag("rel_mapping", pii_rows(5), field_mapping={**MAPPING, "em": "emial"}))
    out, err = capfd.readouterr()
    assert task_state(dag_run, "send") == "failed"
    assert emu.requests == []
    expected = "field_mapping names missing column(s) ['emial']. Available columns: ['order_id', 'email'"
    assert expected in out + err


def test_an_unknown_snap_field_fails_the_task_before_sending(emu, capfd):
    dag_run = run_dag(build_dag("rel_unknown_field", pii_rows(5), field_mapping={**MAPPING, "pn": "phone"}))
    out, err = capfd.readouterr()
    assert task_state(dag_run, "send") == "failed" and emu.requests == []
    assert "Unknown Snap field(s) in field_mapping: ['pn']" in out + err


def test_empty_input_succeeds_with_zero_rows(emu):
    dag_run = run_dag(build_dag("rel_empty", []))
    assert task_state(dag_run, "send") == "success"
    report = xcom(dag_run, "send")
    assert (report["rows"], report["accepted"], report["requests"]) == (0, 0, 0) and emu.requests == []


def test_all_rows_invalid_fail_the_task_with_reasons_and_send_nothing(emu, capfd):
    rows = pii_rows(10)
    for row in rows:
        row["currency"] = None
    dag_run = run_dag(build_dag("rel_all_invalid", rows))
    out, err = capfd.readouterr()
    assert task_state(dag_run, "send") == "failed" and emu.requests == []
    assert xcom(dag_run, "send")["rejections"]["by_reason"] == {"purchase_missing_currency": 1 * 10}
    assert "10 of 10 rows were rejected" in out + err and "purchase_missing_currency (10)" in out + err


# ------------------------------------------------------------------------------- secrets and PII


def dirty_rows() -> list[dict]:
    rows = pii_rows(60)
    rows[3]["email"], rows[3]["phone"] = " Not.An.Email@ ", "+1 650 555 12"  # rejected, raw PII in it
    rows[4]["phone"] = "07700 900123"  # a national number this run cannot place
    return rows


def test_logs_xcom_and_rendered_fields_hold_neither_the_token_nor_pii(emu, monkeypatch, caplog, capfd,
                                                                       tmp_path):
    """Full DEBUG logs (urllib3's included) of succeeding and failing runs, scanned for the token and
    every raw email, phone and name of the input (mistake 11)."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields

    caplog.set_level(logging.DEBUG)
    rows = dirty_rows()
    secrets = raw_pii(rows) | {TOKEN, "tok-WRONG-98765"}
    runs = []

    # 1. succeeds (with a rejected row tolerated), debug logging of every request on
    emu.add_faults(Fault("503"), Fault("bad_event_400", event_index=1))
    runs.append(run_dag(build_dag("leak_ok", rows, debug=True, max_rejected_ratio=0.2, batch_size=20,
                                  rejected_rows_path=str(tmp_path / "ok.jsonl"))))
    # 2. fails: garbage 200 and retries running out
    emu.add_faults(Fault("garbage_200"))
    emu.set_fault_rate(0.5, kinds=("503", "drop"), seed=3)
    runs.append(run_dag(build_dag("leak_faults", rows, debug=True, batch_size=20, max_retries=1)))
    emu.set_fault_rate(0.0)
    # 3. fails: the token is refused
    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", conn_json(emu.url, token="tok-WRONG-98765"))
    runs.append(run_dag(build_dag("leak_401", rows, debug=True)))
    # 4. fails: nobody listens
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT",
                           conn_json(f"http://127.0.0.1:{sock.getsockname()[1]}"))
    runs.append(run_dag(build_dag("leak_refused", rows, debug=True, max_retries=1)))

    assert [task_state(run, "send") for run in runs] == ["success", "failed", "failed", "failed"]
    out, err = capfd.readouterr()
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records) + out + err
    files = "".join(p.read_text(errors="replace") for p in Path(AIRFLOW_HOME).rglob("*.log"))
    files += (tmp_path / "ok.jsonl").read_text()
    # Positive controls: the scan did see urllib3's request lines, debug lines and the task errors.
    assert f"POST /v3/{PIXEL}/events?access_token=***" in logged
    assert "Snap CAPI POST /v3/pixel-123/events -> 200" in logged
    assert "refused the access token" in logged and "could not be delivered" in logged
    assert leaks(logged + files, secrets) == []
    for run in runs:
        ti = run.get_task_instance("send")
        rendered = RenderedTaskInstanceFields.get_templated_fields(ti)
        stored = json.dumps(xcom(run, "send")) + json.dumps(rendered)
        assert leaks(stored, secrets) == []


def test_the_token_is_registered_with_the_airflow_secret_masker(emu):
    from airflow.sdk.log import redact

    from snap_capi_provider.hooks.snap_capi import SnapCapiHook

    assert SnapCapiHook().settings.access_token == TOKEN
    assert TOKEN not in str(redact(f"request with access_token={TOKEN} failed"))
