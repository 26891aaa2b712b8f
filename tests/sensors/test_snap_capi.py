"""The test-event stats sensor in real ``dag.test()`` runs: deferrable, poke and reschedule modes."""

from __future__ import annotations

import threading
import time

import pendulum
import pytest

from tests.airflow_helpers import run_dag, task_state, xcom
from tests.conftest import PIXEL, TOKEN

pytestmark = pytest.mark.usefixtures("airflow_db")


def one_event() -> bytes:
    return (b'{"data":[{"event_name":"SIGN_UP","action_source":"OFFLINE","event_time":%d,"event_id":"t-1",'
            b'"user_data":{"em":["542d240129883c019e106e3b1b2d3f3cb3537c43c425364de8e951d5a3083345"]}}]}'
            % int(time.time()))


class LateEvents:
    """Posts test events once the sensor has read the stats at least ``after_reads`` times, so the
    first check finds nothing and the wait (poke, reschedule or trigger) has to see them arrive."""

    def __init__(self, emulator, after_reads: int = 1, count: int = 2):
        self.emulator, self.after_reads, self.count = emulator, after_reads, count
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _stats_reads(self) -> int:
        return sum(1 for r in self.emulator.requests if r.path.endswith("/stats"))

    def _run(self) -> None:
        from snap_capi_provider.core.client import SnapCapiClient

        while not self.stop.is_set() and self._stats_reads() < self.after_reads:
            time.sleep(0.02)
        if self.stop.is_set():
            return
        with SnapCapiClient(TOKEN, self.emulator.url) as client:
            for _ in range(self.count):
                client.post_events(PIXEL, one_event(), validate=True, n_events=1)

    def __enter__(self) -> LateEvents:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)


def sensor_dag(dag_id: str, **sensor_kwargs):
    from airflow.sdk import dag

    from snap_capi_provider.sensors.snap_capi import SnapCapiTestEventStatsSensor

    @dag(dag_id=dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
    def pipeline():
        SnapCapiTestEventStatsSensor(task_id="wait", **sensor_kwargs)

    return pipeline()


def stats_reads(emulator) -> int:
    return sum(1 for r in emulator.requests if r.path.endswith("/stats"))


def test_deferrable_sensor_succeeds_when_the_events_arrive(snap_conn):
    with LateEvents(snap_conn, count=2):
        dag_run = run_dag(sensor_dag("stats_deferred_ok", min_event_count=2, deferrable=True,
                                     poke_interval=0.1, timeout=30))
    assert task_state(dag_run, "wait") == "success"
    stats = xcom(dag_run, "wait")
    assert stats["test"]["event_count_past_hour"] == 2 and stats["asset_id"] == PIXEL
    assert stats_reads(snap_conn) >= 2  # one synchronous check, then the trigger's polls


def test_deferrable_sensor_fails_cleanly_at_its_deadline(snap_conn, capfd):
    started = time.monotonic()
    dag_run = run_dag(sensor_dag("stats_deferred_timeout", min_event_count=1, deferrable=True,
                                 poke_interval=0.2, timeout=2))
    elapsed = time.monotonic() - started
    assert task_state(dag_run, "wait") == "failed"
    assert elapsed < 15
    assert stats_reads(snap_conn) >= 3
    out, err = capfd.readouterr()
    assert "AirflowSensorTimeout" in out + err
    assert "did not show at least 1 test events before the deadline" in out + err


def test_poke_mode(snap_conn):
    with LateEvents(snap_conn, after_reads=2):
        dag_run = run_dag(sensor_dag("stats_poke", mode="poke", deferrable=False, poke_interval=0.1,
                                     timeout=30))
    assert task_state(dag_run, "wait") == "success"
    assert xcom(dag_run, "wait")["test"]["event_count_past_hour"] == 2
    assert stats_reads(snap_conn) >= 3


def test_reschedule_mode(snap_conn):
    with LateEvents(snap_conn, after_reads=1):
        dag_run = run_dag(sensor_dag("stats_reschedule", mode="reschedule", deferrable=False,
                                     poke_interval=0.1, timeout=30))
    assert task_state(dag_run, "wait") == "success"
    assert xcom(dag_run, "wait")["test"]["event_count_past_hour"] == 2
    assert stats_reads(snap_conn) >= 2


@pytest.mark.parametrize("deferrable", [False, True])
def test_a_refused_token_fails_at_once_not_at_the_timeout(emulator, monkeypatch, capfd, deferrable):
    from tests.conftest import conn_json

    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", conn_json(emulator.url, token="tok-WRONG-13572468"))
    started = time.monotonic()
    dag_run = run_dag(sensor_dag(f"stats_401_{deferrable}", deferrable=deferrable, poke_interval=0.1,
                                 timeout=60))
    assert task_state(dag_run, "wait") == "failed" and time.monotonic() - started < 15
    out, err = capfd.readouterr()
    assert "refused the access token" in out + err and "tok-WRONG-13572468" not in out + err


@pytest.mark.parametrize(("mode", "token", "message"), [
    ("poke", "tok-SECRET-7f3a9c1e\n", "whitespace"),
    ("reschedule", "tok-SECRET\x1b7f3a9c1e", "control character"),
    ("deferrable", "tok-SECRET-7f3a9c1e\u2028x", "outside Latin-1"),
])
def test_a_malformed_token_ends_every_mode_of_the_sensor_with_an_error_not_a_wait(emulator, monkeypatch, capfd,
                                                                                  mode, token, message):
    """Refused when the connection is read, before any request: the sensor fails at once with a message
    naming the problem (never the token), instead of poking (or deferring) until its timeout."""
    import json

    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", json.dumps(
        {"conn_type": "snap_capi", "host": emulator.url, "password": token, "extra": {"pixel_id": PIXEL}}))
    kwargs = {"deferrable": True} if mode == "deferrable" else {"deferrable": False, "mode": mode}
    started = time.monotonic()
    dag_run = run_dag(sensor_dag(f"stats_malformed_{mode}", poke_interval=0.1, timeout=60, **kwargs))
    assert task_state(dag_run, "wait") == "failed" and time.monotonic() - started < 15
    out, err = capfd.readouterr()
    assert message in out + err and "7f3a9c1e" not in out + err
    assert emulator.requests == []


# ------------------------------------------------------------------------------- hook_params, old paths


def test_flat_transport_arguments_still_work_with_a_deprecation_warning():
    from snap_capi_provider.sensors.snap_capi import SnapCapiTestEventStatsSensor

    with pytest.warns(DeprecationWarning, match=r"hook_params=\{'timeout'"):
        sensor = SnapCapiTestEventStatsSensor(task_id="wait", api_version="v2", request_timeout=12.0, debug=True)
    assert sensor.hook_params == {"api_version": "v2", "timeout": 12.0, "debug": True}
    assert (sensor.hook.api_version, sensor.hook.timeout, sensor.hook.retry.max_retries) == ("v2", (10.0, 12.0), 1)


def test_hook_params_reach_the_hook_and_unknown_keys_are_refused():
    from snap_capi_provider.sensors.snap_capi import SnapCapiTestEventStatsSensor

    sensor = SnapCapiTestEventStatsSensor(task_id="wait", hook_params={"max_retries": 3})
    assert (sensor.hook.timeout, sensor.hook.retry.max_retries) == ((10.0, 30.0), 3)
    with pytest.raises(ValueError, match="Unknown hook_params"):
        SnapCapiTestEventStatsSensor(task_id="wait2", hook_params={"retries": 3})


@pytest.mark.parametrize(("params", "message"), [
    ({"timeout": 0}, "timeout"), ({"max_retries": -1}, "max_retries"), ({"api_version": "v4"}, "api_version"),
    ({"retry_backoff_s": float("nan")}, "retry_backoff_s"), ({"debug": "yes"}, "debug"),
])
def test_hook_params_out_of_range_fail_at_construction(params, message):
    from snap_capi_provider.operators.snap_capi import SnapCapiTestEventLogsOperator
    from snap_capi_provider.sensors.snap_capi import SnapCapiTestEventStatsSensor

    with pytest.raises(ValueError, match=message):
        SnapCapiTestEventStatsSensor(task_id="wait", hook_params=params)
    with pytest.raises(ValueError, match=message):
        SnapCapiTestEventLogsOperator(task_id="logs", hook_params=params)


def test_the_old_import_path_warns_and_gives_the_same_class():
    import importlib

    from airflow.utils.deprecation_tools import DeprecatedImportWarning

    from snap_capi_provider.sensors.snap_capi import SnapCapiTestEventStatsSensor

    module = importlib.import_module("snap_capi_provider.sensors.test_event_stats")
    with pytest.warns(DeprecatedImportWarning, match="sensors.snap_capi"):
        assert module.SnapCapiTestEventStatsSensor is SnapCapiTestEventStatsSensor
