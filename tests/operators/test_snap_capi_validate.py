"""The validate operator in real ``dag.test()`` runs against the emulator: per-row verdicts in XCom."""

from __future__ import annotations

import json
import time

import pendulum
import pytest

from tests.airflow_helpers import run_dag, task_state, xcom
from tests.conftest import PIXEL, conn_json

pytestmark = pytest.mark.usefixtures("airflow_db")

TOO_OLD_FOR_SNAP = {"v3": "snap_rejected: Param data['event_time'] is older than 37 days; "
                          "the event is too old.",
                    "v2": "snap_rejected: timestamp is older than 37 days."}


def mixed_rows() -> list[dict]:
    """Rows 1 and 4 fail the provider's own checks; row 2 passes them (the operator allows 60-day-old
    events) but Snap refuses events older than 37 days."""
    now = int(time.time())
    return [
        {"order_id": "o-0", "email": "zoe@example.com", "ts": now - 60, "amount": 10, "currency": "USD"},
        {"order_id": "o-1", "email": "not-an-email", "ts": now - 60, "amount": 10, "currency": "USD"},
        {"order_id": "o-2", "email": "old@example.com", "ts": now - 40 * 86400, "amount": 10,
         "currency": "USD"},
        {"order_id": "o-3", "email": "amy@example.com", "ts": now - 60, "amount": 10, "currency": "USD"},
        {"order_id": "o-4", "email": None, "ts": now - 60, "amount": 10, "currency": "USD"},
        {"order_id": "o-5", "email": "bob@example.com", "ts": now - 60, "amount": 12.5, "currency": "eur"},
    ]


MAPPING = {"email": "email", "event_time": "ts", "order_id": "order_id", "value": "amount",
           "currency": "currency"}


def validate_dag(dag_id: str, rows, **operator_kwargs):
    from airflow.sdk import dag, task

    from snap_capi_provider.operators.snap_capi import SnapCapiValidateOperator

    @task(show_return_value_in_logs=False)  # the rows hold PII: keep them out of the logs
    def extract():
        return rows

    @dag(dag_id=dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
    def pipeline():
        SnapCapiValidateOperator(task_id="validate", data=extract(), field_mapping=MAPPING,
                                 event_name="PURCHASE", max_event_age_days=60, **operator_kwargs)

    return pipeline()


@pytest.mark.parametrize("api_version", ["v3", "v2"])
def test_report_names_the_exact_bad_rows_client_side_and_server_side(emulator, monkeypatch, api_version):
    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", conn_json(emulator.url, api_version=api_version))

    dag_run = run_dag(validate_dag(f"validate_mixed_{api_version}", mixed_rows()))

    assert task_state(dag_run, "validate") == "failed"  # fail_on_invalid, and the report still in XCom
    report = xcom(dag_run, "validate")
    assert (report["rows"], report["valid"], report["invalid"], report["failed"]) == (6, 3, 3, 0)
    assert report["invalid_rows"] == [1, 2, 4] and report["invalid_rows_complete"]
    assert report["errors"] == {"invalid_email": 1, "insufficient_identity": 1,
                                TOO_OLD_FOR_SNAP[api_version]: 1}
    assert report["examples"] == {"invalid_email": [1], "insufficient_identity": [4],
                                  TOO_OLD_FOR_SNAP[api_version]: [2]}
    assert report["api_version"] == api_version and report["requests"] == 1
    # Test events only: the four rows that passed the provider's checks, nothing recorded as live.
    assert len(emulator.test_events(PIXEL)) == 4 and emulator.accepted_events() == []
    text = json.dumps(report)
    assert "example.com" not in text and "not-an-email" not in text


def test_a_400_naming_one_event_is_narrowed_to_that_row(snap_conn):
    from snap_capi_provider.emulator import Fault

    rows = [row for row in mixed_rows() if row["order_id"] in ("o-0", "o-3", "o-5")]
    snap_conn.add_faults(Fault("bad_event_400", event_index=1, path_contains="/events/validate"))

    dag_run = run_dag(validate_dag("validate_400", rows, fail_on_invalid=False))

    assert task_state(dag_run, "validate") == "success"
    report = xcom(dag_run, "validate")
    assert (report["valid"], report["invalid"], report["invalid_rows"]) == (2, 1, [1])
    assert report["errors"] == {"snap_rejected: Event at index 1 is invalid.": 1}
    assert report["requests"] == 2  # the refused request, then the other two events again


def test_sample_size_validates_the_first_rows_and_writes_the_invalid_ones_out(snap_conn, tmp_path):
    rows = mixed_rows() * 50  # 300 rows; duplicates of an order id are caught as duplicates
    out = tmp_path / "invalid.jsonl"

    dag_run = run_dag(validate_dag("validate_sample", rows, sample_size=4, fail_on_invalid=False,
                                   rejected_rows_path=str(out), rejected_rows_columns=["order_id"]))

    assert task_state(dag_run, "validate") == "success"
    report = xcom(dag_run, "validate")
    assert (report["rows"], report["sample_size"], report["invalid_rows"]) == (4, 4, [1, 2])
    assert len(snap_conn.test_events(PIXEL)) == 3
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["row"], r["order_id"], r["status"]) for r in written] == [(1, "o-1", "rejected"),
                                                                         (2, "o-2", "rejected")]
    assert report["rejected_rows_path"] == str(out)


def test_a_refused_token_fails_the_task_with_every_row_unverified(emulator, monkeypatch, capfd):
    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", conn_json(emulator.url, token="tok-WRONG-99887766"))

    dag_run = run_dag(validate_dag("validate_401", mixed_rows(), max_retries=0))

    assert task_state(dag_run, "validate") == "failed"
    report = xcom(dag_run, "validate")
    assert report["failed"] == 4 and report["invalid"] == 2 and "auth_error" in report["error"]
    out, err = capfd.readouterr()
    assert "tok-WRONG-99887766" not in out + err + json.dumps(report)
