"""OAuth connections end to end: ``dag.test()`` runs against the emulator's token endpoint."""

from __future__ import annotations

import json
import logging
import time

import pendulum
import pytest

from snap_capi_provider.emulator import CapiEmulator, Fault
from tests.airflow_helpers import run_dag, task_state, xcom
from tests.conftest import PIXEL
from tests.reliability_helpers import MAPPING, leaks, pii_rows

pytestmark = pytest.mark.usefixtures("airflow_db")

CLIENT_ID = "snap-app-cid-42"
SECRET = "cs+/=OAUTH-SECRET-a1b2c3"
REFRESH = "rt+/=OAUTH-REFRESH-d4e5f6"


@pytest.fixture
def oauth_emu():
    with CapiEmulator(access_tokens=("long-lived-unused-9z",), token_lifetime_s=1.0, oauth_client_id=CLIENT_ID,
                      oauth_client_secret=SECRET, oauth_refresh_token=REFRESH) as emu:
        yield emu


def oauth_conn(emu: CapiEmulator, monkeypatch, **extra: object) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", json.dumps({
        "conn_type": "snap_capi", "host": emu.url,
        "extra": {"pixel_id": PIXEL, "client_id": CLIENT_ID, "client_secret": SECRET, "refresh_token": REFRESH,
                  "token_url": emu.token_url, **extra}}))


def build_dag(dag_id: str, rows: list[dict], **operator_kwargs):
    from airflow.sdk import dag, task

    from snap_capi_provider.operators.snap_capi import SnapCapiSendEventsOperator

    kwargs = {"field_mapping": MAPPING, "event_name": "PURCHASE", "default_phone_region": "US",
              "retry_backoff_s": 0.0, "retry_backoff_max_s": 0.0, **operator_kwargs}

    @dag(dag_id=dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
    def pipeline():
        @task(show_return_value_in_logs=False)
        def extract():
            return rows

        SnapCapiSendEventsOperator(task_id="send", data=extract(), **kwargs)

    return pipeline()


def test_a_run_longer_than_the_token_lifetime_sends_every_row_once(oauth_emu, monkeypatch):
    oauth_conn(oauth_emu, monkeypatch)
    # Slow answers stretch the run to about 3 lifetimes of the 1 s token.
    oauth_emu.add_faults(*[Fault("delay", delay_s=0.5) for _ in range(6)])
    rows = pii_rows(120)
    dag_run = run_dag(build_dag("oauth_long_run", rows, batch_size=20, concurrency=1))
    assert task_state(dag_run, "send") == "success"
    report = xcom(dag_run, "send")
    assert (report["rows"], report["accepted"], report["failed"]) == (120, 120, 0)
    counts = oauth_emu.accepted_count_by_event_id()
    assert len(counts) == 120 and set(counts.values()) == {1}
    assert oauth_emu.summary()["token_refreshes"] >= 3


def test_concurrent_batches_refresh_once_not_once_per_thread(oauth_emu, monkeypatch):
    oauth_conn(oauth_emu, monkeypatch)
    dag_run = run_dag(build_dag("oauth_concurrent", pii_rows(200), batch_size=10, concurrency=8))
    assert task_state(dag_run, "send") == "success"
    assert xcom(dag_run, "send")["accepted"] == 200
    assert oauth_emu.summary()["token_refreshes"] <= 2  # one mint (plus one if the run outlived the token)


def test_a_revoked_refresh_token_fails_the_task_with_every_row_not_sent(oauth_emu, monkeypatch, caplog):
    oauth_conn(oauth_emu, monkeypatch)
    oauth_emu.revoke_refresh_token()
    dag_run = run_dag(build_dag("oauth_revoked", pii_rows(30), batch_size=10))
    assert task_state(dag_run, "send") == "failed"
    report = xcom(dag_run, "send")
    assert (report["rows"], report["accepted"], report["failed"]) == (30, 0, 30)
    assert "auth_error" in report["error"] and "refresh the OAuth access token" in report["error"]
    assert oauth_emu.accepted_events() == [] and oauth_emu.requests == []


def test_no_secret_in_any_log_line_at_debug(oauth_emu, monkeypatch, caplog, capfd):
    from pathlib import Path

    from tests.conftest import AIRFLOW_HOME

    caplog.set_level(logging.DEBUG)
    oauth_conn(oauth_emu, monkeypatch, debug=True)
    oauth_emu.add_faults(Fault("401"), Fault("delay", delay_s=1.1))  # a refused token and an expiry mid-run
    dag_run = run_dag(build_dag("oauth_leaks", pii_rows(60), batch_size=10, debug=True))
    assert task_state(dag_run, "send") == "success"
    out, err = capfd.readouterr()
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records) + out + err
    logged += "".join(p.read_text(errors="replace") for p in Path(AIRFLOW_HOME).rglob("*.log"))
    secrets = [SECRET, REFRESH, *oauth_emu.oauth.issued]
    assert len(secrets) >= 4  # at least two access tokens were minted
    assert "Snap CAPI POST /v3/pixel-123/events -> 200" in logged  # the scan saw the debug lines
    assert leaks(logged + json.dumps(xcom(dag_run, "send")), secrets) == []


def test_test_connection_says_which_kind_it_used(oauth_emu, monkeypatch):
    from snap_capi_provider.hooks.snap_capi import SnapCapiHook

    oauth_conn(oauth_emu, monkeypatch)
    ok, message = SnapCapiHook().test_connection()
    assert ok and "OAuth refresh token" in message and CLIENT_ID in message, message
    assert SECRET not in message and REFRESH not in message
    oauth_emu.revoke_refresh_token()
    ok, message = SnapCapiHook().test_connection()
    assert not ok and "invalid_grant" in message


def test_settings_hide_every_secret_and_the_provider_masks_them(oauth_emu, monkeypatch):
    from airflow.sdk.log import redact

    from snap_capi_provider.hooks.snap_capi import SnapCapiHook

    oauth_conn(oauth_emu, monkeypatch)
    hook = SnapCapiHook()
    assert hook.settings.auth == "oauth"
    token = hook.token_provider.token()
    for shown in (repr(hook.settings), repr(hook.token_provider), repr(hook.get_conn())):
        assert SECRET not in shown and REFRESH not in shown and token not in shown
    for secret in (SECRET, REFRESH, token):
        assert secret not in str(redact(f"value {secret} here"))


@pytest.mark.parametrize(("conn", "message"), [
    ({"password": "tok-long-lived-1", "extra": {"client_id": "c", "client_secret": "s", "refresh_token": "r"}},
     "both a long-lived access token"),
    ({"extra": {"client_id": "c", "refresh_token": "r-123456"}}, "client_secret missing"),
    ({"extra": {"client_secret": "s-123456"}}, "client_id, refresh_token missing"),
    ({"extra": {}}, "no credentials"),
    ({"password": "tok-with-newline\n"}, "whitespace"),
    ({"password": "tok\x07bell"}, "control character"),
    ({"password": "tok-\u20ac-euro"}, "outside Latin-1"),
    ({"extra": {"client_id": "c", "client_secret": "s-1\n", "refresh_token": "r"}}, "client_secret"),
    ({"password": "tok-ok-123", "extra": {"pixel_id": ["a", "b"]}}, "'pixel_id' must be text, not a JSON list"),
    ({"password": "tok-ok-123", "extra": ["pixel_id", "x"]}, "extra must be a JSON object"),
    ({"password": "tok-ok-123", "extra": {"token_url": "http://accounts.example.com/t"}}, "token URL"),
    ({"password": "tok-ok-123", "extra": {"access_token": "tok-other-456"}}, "two different access tokens"),
])
def test_bad_connections_are_refused_with_what_is_wrong(monkeypatch, conn, message):
    from snap_capi_provider.core.client import SnapCapiError
    from snap_capi_provider.hooks.snap_capi import SnapCapiHook

    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_BAD", json.dumps({"conn_type": "snap_capi", **conn}))
    with pytest.raises(SnapCapiError, match=message.replace("(", r"\(")) as raised:
        _ = SnapCapiHook("snap_capi_bad").settings
    for secret in ("tok-with-newline", "tok\x07bell", "s-1\n", "tok-long-lived-1"):
        assert secret not in str(raised.value)


def test_a_typo_in_an_extra_is_warned_about(monkeypatch, caplog):
    from snap_capi_provider.hooks.snap_capi import SnapCapiHook

    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_TYPO", json.dumps(
        {"conn_type": "snap_capi", "password": "tok-ok-123", "extra": {"pixle_id": "P"}}))
    with caplog.at_level(logging.WARNING, logger="snap_capi_provider.hooks.snap_capi"):
        _ = SnapCapiHook("snap_capi_typo").settings
    assert "unknown extra 'pixle_id' (did you mean 'pixel_id'?) is ignored" in caplog.text


def test_credentials_in_the_base_url_stay_out_of_repr(monkeypatch):
    from snap_capi_provider.hooks.snap_capi import SnapCapiHook

    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_LP", json.dumps(
        {"conn_type": "snap_capi", "host": "https://relay:pw-LEAK-77@launchpad.example.com/capi",
         "password": "tok-ok-123"}))
    hook = SnapCapiHook("snap_capi_lp")
    assert "pw-LEAK-77" not in repr(hook.settings) and "pw-LEAK-77" not in repr(hook.get_conn())
    assert "launchpad.example.com" in repr(hook.settings)


def test_a_malformed_token_ends_the_sensor_with_an_error_not_a_wait(snap_conn, monkeypatch):
    from airflow.sdk import dag

    from snap_capi_provider.sensors.snap_capi import SnapCapiTestEventStatsSensor

    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", json.dumps(
        {"conn_type": "snap_capi", "host": snap_conn.url, "password": "tok-SECRET-7f3a9c1e\n",
         "extra": {"pixel_id": PIXEL}}))

    @dag(dag_id="sensor_bad_token", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
    def pipeline():
        SnapCapiTestEventStatsSensor(task_id="wait", poke_interval=1, timeout=60)

    started = time.monotonic()
    dag_run = run_dag(pipeline())
    assert task_state(dag_run, "wait") == "failed"
    assert time.monotonic() - started < 30
    assert snap_conn.requests == []
