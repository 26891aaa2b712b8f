"""Debug mode over a real ``dag.test()`` run: every request logged, never the token or raw PII."""

from __future__ import annotations

import json
import logging
import time

import pendulum
import pytest

from tests.airflow_helpers import run_dag, task_state, xcom
from tests.conftest import PIXEL, TOKEN, conn_json

pytestmark = pytest.mark.usefixtures("airflow_db")

PII = ("Zebulon", "zebulon", "Quixotic", "quixotic", "zeb.quix@example.com", "8444124653", "+44 844",
       "203.0.113.77", "Xanadu", "xanadu", "not-an-email")


def rows() -> list[dict]:
    now = int(time.time())
    return [
        {"order_id": "o-1", "email": "zeb.quix@example.com", "phone": "+44 844 412 4653",
         "first_name": "Zebulon", "last_name": "Quixotic", "city": "Xanadu Springs", "ip": "203.0.113.77",
         "ua": "Mozilla/5.0", "ts": now - 60, "amount": 42.5, "currency": "USD"},
        {"order_id": "o-2", "email": "not-an-email", "phone": None, "first_name": "Zebulon",
         "last_name": None, "city": None, "ip": None, "ua": None, "ts": now - 60, "amount": 1,
         "currency": "USD"},
    ]


MAPPING = {"email": "email", "phone": "phone", "first_name": "first_name", "last_name": "last_name",
           "city": "city", "ip_address": "ip", "user_agent": "ua", "event_time": "ts", "order_id": "order_id",
           "value": "amount", "currency": "currency"}


def debug_dag(dag_id: str, operator_debug: bool | None):
    from airflow.sdk import chain, dag, task

    from snap_capi_provider.operators.snap_capi import (
        SnapCapiSendEventsOperator,
        SnapCapiTestEventLogsOperator,
        SnapCapiValidateOperator,
    )
    from snap_capi_provider.sensors.snap_capi import SnapCapiTestEventStatsSensor

    @task(show_return_value_in_logs=False)  # the rows hold PII: keep them out of the logs
    def extract():
        return rows()

    @dag(dag_id=dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
    def pipeline():
        data = extract()
        hook_params = {"debug": operator_debug}
        events = {"field_mapping": MAPPING, "event_name": "PURCHASE", "hook_params": hook_params}
        chain(
            SnapCapiValidateOperator(task_id="validate", data=data, fail_on_invalid=False, **events),
            SnapCapiTestEventStatsSensor(task_id="wait", deferrable=True, poke_interval=0.1, timeout=10,
                                         hook_params=hook_params),
            SnapCapiTestEventLogsOperator(task_id="logs", hook_params=hook_params),
            SnapCapiSendEventsOperator(task_id="send", data=data, max_rejected_ratio=0.5, **events),
        )

    return pipeline()


@pytest.mark.parametrize(("api_version", "switch"), [("v3", "connection"), ("v2", "operator")])
def test_debug_logs_every_request_without_token_or_pii(emulator, monkeypatch, caplog, capfd, api_version,
                                                       switch):
    extra = {"api_version": api_version, **({"debug": True} if switch == "connection" else {})}
    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", conn_json(emulator.url, **extra))
    caplog.set_level(logging.DEBUG)

    dag_run = run_dag(debug_dag(f"debug_{api_version}_{switch}", True if switch == "operator" else None))

    assert [task_state(dag_run, t) for t in ("validate", "wait", "logs", "send")] == ["success"] * 4
    out, err = capfd.readouterr()
    logged = out + err + caplog.text
    v3 = f"/v3/{PIXEL}/events"
    paths = ({"validate": f"{v3}/validate", "stats": f"{v3}/validate/stats", "logs": f"{v3}/validate/logs",
              "send": v3} if api_version == "v3"
             else {"validate": "/v2/conversion/validate", "stats": "/v2/conversion/validate/stats",
                   "logs": "/v2/conversion/validate/logs", "send": "/v2/conversion"})
    for method, path, n in (("POST", paths["validate"], 1), ("GET", paths["stats"], 0),
                            ("GET", paths["logs"], 0), ("POST", paths["send"], 1)):
        # method, path, status, event count and timing
        assert f"Snap CAPI {method} {path} -> 200 ({n} events, " in logged
    assert '"test_event":true' in logged  # the response body
    reports = json.dumps([xcom(dag_run, t) for t in ("validate", "wait", "logs", "send")])
    for text in (logged, reports):
        assert TOKEN not in text
        for value in PII:
            assert value not in text, value


def test_without_debug_no_request_is_logged(snap_conn, capfd):
    dag_run = run_dag(debug_dag("debug_off", None))
    assert task_state(dag_run, "send") == "success"
    out, err = capfd.readouterr()
    assert "Snap CAPI POST" not in out + err
