"""The operators of operators/snap_capi.py: send (real ``dag.test()`` runs against the emulator) and test-event logs."""

from __future__ import annotations

import logging
import time

import pandas as pd
import pendulum
import pytest

from snap_capi_provider.core.client import SnapCapiClient
from tests.airflow_helpers import run_dag, task_state, xcom
from tests.conftest import PIXEL, TOKEN, conn_json
from tests.golden import GOLDEN

pytestmark = pytest.mark.usefixtures("airflow_db")


def sample_rows() -> list[dict]:
    now = int(time.time())
    return [
        {"email": " Person@Example.com ", "phone": "+44 844 412 4653", "first_name": "John", "last_name": "Raphaël",
         "city": "Menlo Park", "state": "California", "order_id": "o-1", "amount": 42.5, "currency": "usd",
         "ts": now - 3600},
        {"email": "second@example.com", "phone": "(650) 555-1212", "first_name": "Raphaël", "last_name": "O'Brien",
         "city": "Menlo Park", "state": "CA", "order_id": "o-2", "amount": "10.00", "currency": "USD",
         "ts": (now - 7200) * 1000},
    ]


MAPPING = {"email": "email", "phone": "phone", "first_name": "first_name", "last_name": "last_name",
           "city": "city", "state": "state", "order_id": "order_id", "value": "amount", "currency": "currency",
           "event_time": "ts"}


def build_dag(dag_id: str, rows_task, **operator_kwargs):
    from airflow.sdk import dag

    from snap_capi_provider.operators.snap_capi import SnapCapiSendEventsOperator

    @dag(dag_id=dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
    def pipeline():
        SnapCapiSendEventsOperator(task_id="send", data=rows_task(), event_name="purchase",
                                   default_phone_region="US", **operator_kwargs)

    return pipeline()


def test_list_of_dicts_from_upstream_task_is_sent_with_golden_hashes(snap_conn):
    from airflow.sdk import task

    @task(show_return_value_in_logs=False)  # the rows hold PII: keep them out of the logs
    def extract():
        return sample_rows()

    dag_run = run_dag(build_dag("send_list", extract, field_mapping=MAPPING))
    assert task_state(dag_run, "send") == "success"
    report = xcom(dag_run, "send")
    assert (report["rows"], report["accepted"], report["rejected"], report["failed"]) == (2, 2, 0, 0)
    assert report["requests"] == 1 and report["events_per_s"] > 0

    events = {e["event_id"]: e for e in snap_conn.accepted_events(PIXEL)}
    assert set(events) == {"o-1", "o-2"}  # a PURCHASE's order id is its dedup key
    first, second = events["o-1"], events["o-2"]
    assert first["user_data"]["em"] == [GOLDEN["person@example.com"]]
    assert first["user_data"]["ph"] == [GOLDEN["448444124653"]]
    assert first["user_data"]["fn"] == [GOLDEN["john"]]
    assert first["user_data"]["ln"] == [GOLDEN["raphaël"]]
    assert first["user_data"]["ct"] == [GOLDEN["menlopark"]]
    assert first["user_data"]["st"] == [GOLDEN["ca"]]
    assert second["user_data"]["ph"] == [GOLDEN["16505551212"]]
    assert second["user_data"]["fn"] == [GOLDEN["raphaël"]]
    assert second["user_data"]["st"] == [GOLDEN["ca"]]
    assert first["event_name"] == "PURCHASE" and first["action_source"] == "OFFLINE"
    assert first["custom_data"] == {"value": 42.5, "currency": "USD", "order_id": "o-1"}
    assert second["event_time"] == (second["event_time"] // 1) and second["event_time"] < 10**11  # seconds
    assert "event_id" not in second["custom_data"]  # mistake 7: the dedup key is at the root


def test_dataframe_from_upstream_task_is_sent(snap_conn):
    from airflow.sdk import task

    @task(show_return_value_in_logs=False)  # the rows hold PII: keep them out of the logs
    def extract():
        frame = pd.DataFrame(sample_rows())
        frame["amount"] = frame["amount"].astype(float)
        frame["ts"] = pd.to_datetime(frame["ts"].where(frame["ts"] < 10**11, frame["ts"] // 1000), unit="s", utc=True)
        return frame

    dag_run = run_dag(build_dag("send_frame", extract, field_mapping=MAPPING))
    assert task_state(dag_run, "send") == "success"
    report = xcom(dag_run, "send")
    assert report["accepted"] == 2 and report["rows"] == report["accepted"] + report["rejected"] + report["failed"]
    assert {e["user_data"]["em"][0] for e in snap_conn.accepted_events(PIXEL)} >= {GOLDEN["person@example.com"]}


def test_rejected_rows_fail_the_task_after_the_valid_rows_were_sent_and_the_report_reaches_xcom(snap_conn):
    from airflow.sdk import task

    @task(show_return_value_in_logs=False)  # the rows hold PII: keep them out of the logs
    def extract():
        rows = sample_rows()
        rows.append({**rows[0], "email": "not-an-email", "phone": None, "order_id": "o-3"})
        return rows

    dag_run = run_dag(build_dag("send_rejected", extract, field_mapping=MAPPING))
    assert task_state(dag_run, "send") == "failed"
    report = xcom(dag_run, "send")
    assert (report["rows"], report["accepted"], report["rejected"], report["failed"]) == (3, 2, 1, 0)
    assert report["rejections"]["by_reason"] == {"invalid_email": 1}
    assert report["rejections"]["examples"] == [{"row": 2, "reason": "invalid_email"}]
    assert len(snap_conn.accepted_events(PIXEL)) == 2
    assert "not-an-email" not in str(report)


def test_max_rejected_ratio_tolerates_some_rejections(snap_conn):
    from airflow.sdk import task

    @task(show_return_value_in_logs=False)  # the rows hold PII: keep them out of the logs
    def extract():
        rows = sample_rows()
        rows.append({**rows[0], "email": None, "phone": None, "order_id": "o-3"})
        return rows

    dag_run = run_dag(build_dag("send_ratio", extract, field_mapping=MAPPING, max_rejected_ratio=0.5))
    assert task_state(dag_run, "send") == "success"
    assert xcom(dag_run, "send")["rejections"]["by_reason"] == {"insufficient_identity": 1}


def test_retry_after_429_is_counted(snap_conn):
    from airflow.sdk import task

    from snap_capi_provider.emulator import Fault

    @task(show_return_value_in_logs=False)  # the rows hold PII: keep them out of the logs
    def extract():
        return sample_rows()

    snap_conn.add_faults(Fault("429", retry_after=0))
    dag_run = run_dag(build_dag("send_429", extract, field_mapping=MAPPING))
    report = xcom(dag_run, "send")
    assert task_state(dag_run, "send") == "success"
    assert (report["accepted"], report["requests"], report["retries"]) == (2, 2, 1)


def _run_failing(monkeypatch, caplog, conn: str, dag_id: str):
    from airflow.sdk import task

    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", conn)

    @task(show_return_value_in_logs=False)  # the rows hold PII: keep them out of the logs
    def extract():
        return sample_rows()

    caplog.set_level(logging.DEBUG)
    dag_run = run_dag(build_dag(dag_id, extract, field_mapping=MAPPING, max_retries=1))
    return dag_run


def test_401_fails_the_task_without_the_token_in_any_log(snap_conn, monkeypatch, caplog, capfd):
    dag_run = _run_failing(monkeypatch, caplog, conn_json(snap_conn.url, token="tok-WRONG-1234abcd"), "send_401")
    assert task_state(dag_run, "send") == "failed"
    report = xcom(dag_run, "send")
    assert report["failed"] == 2 and report["accepted"] == 0
    assert "auth_error" in report["error"]
    out, err = capfd.readouterr()
    for text in (caplog.text, out, err, str(report)):
        assert "tok-WRONG-1234abcd" not in text
        assert TOKEN not in text
        assert "person@example.com" not in text.lower()


def test_connection_error_fails_the_task_without_the_token_in_any_log(airflow_db, monkeypatch, caplog, capfd):
    import socket

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dag_run = _run_failing(monkeypatch, caplog, conn_json(f"http://127.0.0.1:{port}"), "send_conn_error")
    assert task_state(dag_run, "send") == "failed"
    report = xcom(dag_run, "send")
    assert report["failed"] == 2 and report["rows"] == 2
    assert report["failures"]["by_reason"] == {"retries_exhausted: connection error (ConnectionError)": 2}
    out, err = capfd.readouterr()
    for text in (caplog.text, out, err, str(report)):
        assert TOKEN not in text


def test_rows_never_reach_rendered_template_fields(snap_conn):
    from airflow.sdk import task

    @task(show_return_value_in_logs=False)  # the rows hold PII: keep them out of the logs
    def extract():
        return sample_rows()

    dag_run = run_dag(build_dag("send_rendered", extract, field_mapping=MAPPING))
    ti = dag_run.get_task_instance("send")
    from airflow.models.renderedtifields import RenderedTaskInstanceFields

    rendered = RenderedTaskInstanceFields.get_templated_fields(ti) or {}
    assert "data" not in rendered
    assert "person@example.com" not in str(rendered).lower()


def test_a_400_naming_one_event_does_not_lose_the_good_rows_of_the_batch(snap_conn):
    from airflow.sdk import task

    from snap_capi_provider.emulator import Fault

    @task(show_return_value_in_logs=False)
    def extract():
        rows = sample_rows()
        return rows + [{**rows[0], "order_id": f"o-extra-{i}"} for i in range(3)]

    snap_conn.add_faults(Fault("bad_event_400", event_index=1))
    dag_run = run_dag(build_dag("send_400", extract, field_mapping=MAPPING, max_rejected_ratio=0.5))
    report = xcom(dag_run, "send")
    assert task_state(dag_run, "send") == "success"
    assert (report["rows"], report["accepted"], report["rejected"], report["failed"]) == (5, 4, 1, 0)
    assert report["rejections"]["examples"][0]["row"] == 1  # the caller's row number, not a batch index
    assert {e["event_id"] for e in snap_conn.accepted_events(PIXEL)} == {"o-1", "o-extra-0", "o-extra-1", "o-extra-2"}


# ------------------------------------------------------------------------------------ test-event logs


def test_logs_operator_flat_transport_arguments_still_work_with_a_deprecation_warning():
    from snap_capi_provider.operators.snap_capi import SnapCapiTestEventLogsOperator

    with pytest.warns(DeprecationWarning, match=r"hook_params=\{'api_version'"):
        op = SnapCapiTestEventLogsOperator(task_id="logs", api_version="v2", request_timeout=12.0, debug=None)
    assert op.hook_params == {"api_version": "v2", "timeout": 12.0}
    assert (op.hook.api_version, op.hook.timeout) == ("v2", (10.0, 12.0))
    assert SnapCapiTestEventLogsOperator(task_id="logs2", hook_params={"debug": True}).hook.debug is True


def test_the_old_operator_import_paths_warn_and_give_the_same_classes():
    import importlib
    from pathlib import Path

    from airflow.utils.deprecation_tools import DeprecatedImportWarning

    import snap_capi_provider
    from snap_capi_provider.operators.snap_capi import (
        SnapCapiRowsOperator,
        SnapCapiSendEventsOperator,
        SnapCapiTestEventLogsOperator,
        SnapCapiValidateOperator,
    )

    assert not (Path(snap_capi_provider.__file__).parent / "operators" / "test_event_logs.py").exists()
    module = importlib.import_module("snap_capi_provider.operators.test_event_logs")
    with pytest.warns(DeprecatedImportWarning, match="operators.snap_capi"):
        assert module.SnapCapiTestEventLogsOperator is SnapCapiTestEventLogsOperator
    old_paths = {"send_events": SnapCapiSendEventsOperator, "validate": SnapCapiValidateOperator,
                 "_rows": SnapCapiRowsOperator}
    for name, cls in old_paths.items():
        module = importlib.import_module(f"snap_capi_provider.operators.{name}")
        with pytest.warns(DeprecatedImportWarning, match="operators.snap_capi"):
            assert getattr(module, cls.__name__) is cls


def test_logs_operator_summarizes_the_logs_and_fails_on_invalid_when_told(snap_conn, monkeypatch):
    from airflow.providers.common.compat.sdk import AirflowException

    from snap_capi_provider.operators.snap_capi import SnapCapiTestEventLogsOperator

    with SnapCapiClient(TOKEN, snap_conn.url) as client:
        client.post_events(PIXEL, b'{"data":[{"event_name":"PURCHASE"}]}', validate=True)
    pushed = {}

    class TI:
        def xcom_push(self, key, value):
            pushed[key] = value

    op = SnapCapiTestEventLogsOperator(task_id="logs", fail_on_invalid=True)
    with pytest.raises(AirflowException, match="1 of 1 logged test events are INVALID"):
        op.execute({"ti": TI()})
    assert pushed["return_value"]["by_status"] == {"INVALID": 1}
    summary = SnapCapiTestEventLogsOperator(task_id="logs_ok").execute({"ti": TI()})
    assert summary["events"] == 1 and summary["asset_id"] == PIXEL
