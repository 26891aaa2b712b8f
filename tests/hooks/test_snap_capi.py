"""The hook from a connection in the environment, its test_connection, and provider discovery."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import PIXEL, TOKEN, conn_json


def test_hook_reads_the_env_var_connection_of_the_issue(snap_conn, monkeypatch):
    from snap_capi_provider.hooks.snap_capi import SnapCapiHook

    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", json.dumps(
        {"conn_type": "snap_capi", "host": snap_conn.url, "password": TOKEN, "extra": {"pixel_id": "PIXEL"}}))
    hook = SnapCapiHook()
    settings = hook.settings
    assert (settings.base_url, settings.pixel_id, settings.api_version) == (snap_conn.url, "PIXEL", "v3")
    assert TOKEN not in repr(settings) and TOKEN not in repr(hook.get_conn())


def test_extras_under_their_prefixed_names_are_read_too(snap_conn, monkeypatch):
    from snap_capi_provider.hooks.snap_capi import SnapCapiHook

    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", json.dumps(
        {"conn_type": "snap_capi", "host": snap_conn.url, "password": TOKEN,
         "extra": {"extra__snap_capi__pixel_id": "P2", "extra__snap_capi__api_version": "v2"}}))
    settings = SnapCapiHook().settings
    assert (settings.pixel_id, settings.api_version) == ("P2", "v2")


def test_test_connection_succeeds_against_the_emulator_and_sends_no_event(snap_conn):
    from snap_capi_provider.hooks.snap_capi import SnapCapiHook

    ok, message = SnapCapiHook().test_connection()
    assert ok, message
    assert PIXEL in message
    assert snap_conn.accepted_events() == [] and snap_conn.test_events() == []


def test_test_connection_reports_a_refused_token_without_echoing_it(snap_conn, monkeypatch):
    from snap_capi_provider.hooks.snap_capi import SnapCapiHook

    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", conn_json(snap_conn.url, token="tok-bad-55aa"))
    ok, message = SnapCapiHook().test_connection()
    assert not ok and "401" in message and "tok-bad-55aa" not in message


def test_test_connection_answers_at_once_when_nothing_listens(snap_conn, monkeypatch):
    """The UI waits for test_connection: one attempt, no retry backoff (5 retries took 16 s)."""
    import socket
    import time

    from snap_capi_provider.hooks.snap_capi import SnapCapiHook

    with socket.socket() as probe:  # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", conn_json(f"http://127.0.0.1:{port}"))
    started = time.monotonic()
    ok, message = SnapCapiHook().test_connection()
    assert not ok and message
    assert time.monotonic() - started < 3.0


@pytest.mark.parametrize("host", ["http://tr.snapchat.com", "http://10.0.0.5:8787"])
def test_plain_http_is_refused_except_to_loopback(snap_conn, monkeypatch, host):
    from snap_capi_provider.hooks.snap_capi import SnapCapiHook

    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", conn_json(host))
    ok, message = SnapCapiHook().test_connection()
    assert not ok and "loopback" in message


def test_provider_info_declares_the_connection_type_and_its_form():
    from snap_capi_provider.get_provider_info import get_provider_info

    info = get_provider_info()
    (conn_type,) = info["connection-types"]
    assert conn_type["connection-type"] == "snap_capi"
    assert conn_type["hook-class-name"] == "snap_capi_provider.hooks.snap_capi.SnapCapiHook"
    assert {"pixel_id", "snap_app_id", "api_version"} <= set(conn_type["conn-fields"])
    assert conn_type["ui-field-behaviour"]["relabeling"]["password"] == "Access token"
    fields = conn_type["conn-fields"]
    assert {"client_id", "client_secret", "refresh_token", "token_url"} <= set(fields)
    assert all(fields[name]["label"] for name in ("client_id", "client_secret", "refresh_token", "token_url"))
    assert fields["client_secret"]["schema"]["format"] == fields["refresh_token"]["schema"]["format"] == "password"
    assert fields["token_url"]["schema"]["default"] == "https://accounts.snapchat.com/login/oauth2/access_token"


def test_airflow_discovers_the_provider_and_its_connection_type(airflow_db):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    listed = subprocess.run([sys.executable, "-m", "airflow", "providers", "list", "-o", "json"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert "snap-capi-provider" in listed.stdout, listed.stderr[-2000:]
    hooks = subprocess.run([sys.executable, "-m", "airflow", "providers", "hooks", "-o", "json"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert "snap_capi" in hooks.stdout, hooks.stderr[-2000:]


# ------------------------------------------------------------------------- connection extras have types


@pytest.mark.parametrize(("extra", "message"), [
    ({"pixel_id": ["p-1", "p-2"]}, "'pixel_id' must be text, not a JSON list"),
    ({"pixel_id": {"id": "p-1"}}, "'pixel_id' must be text, not a JSON object"),
    ({"pixel_id": True}, "'pixel_id' must be text, not a JSON boolean"),
    ({"snap_app_id": 1.5}, "'snap_app_id' must be text, not a JSON number"),
    ({"api_version": ["v3"]}, "'api_version' must be text"),
    ({"api_version": "v4"}, "api_version must be 'v3' or 'v2', not 'v4'"),
    ({"debug": "ture"}, "'debug' must be true or false, not 'ture'"),
    ({"debug": ["yes"]}, "'debug' must be true or false, not a JSON list"),
    ({"debug": 2}, "'debug' must be true or false"),
    ('["pixel_id", "p-1"]', "not a JSON list"),
    ('"p-1"', "extra must be a JSON object .*, not a JSON string"),
    ("pixel_id=p-1", "extra is not valid JSON"),  # Airflow itself would log an error and read it as {}
])
def test_an_extra_of_the_wrong_type_is_a_clear_error(monkeypatch, extra, message):
    from snap_capi_provider.core.client import SnapCapiError
    from snap_capi_provider.hooks.snap_capi import SnapCapiHook

    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_TYPES", json.dumps(
        {"conn_type": "snap_capi", "password": TOKEN,
         "extra": extra}))  # a dict, or the extra's text as stored
    with pytest.raises(SnapCapiError, match=message.replace("(", r"\(")) as raised:
        _ = SnapCapiHook("snap_capi_types").settings
    assert TOKEN not in str(raised.value)


@pytest.mark.parametrize(("value", "debug"), [(True, True), (False, False), ("True", True), ("false", False),
                                              ("1", True), (0, False), ("", False), (None, False)])
def test_the_debug_extra_takes_booleans_and_their_usual_spellings(monkeypatch, value, debug):
    from snap_capi_provider.hooks.snap_capi import SnapCapiHook

    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_FLAG", json.dumps(
        {"conn_type": "snap_capi", "password": TOKEN, "extra": {"pixel_id": "p-1", "debug": value}}))
    assert SnapCapiHook("snap_capi_flag").settings.debug is debug


def test_a_pixel_id_given_as_a_number_is_its_text(monkeypatch):
    from snap_capi_provider.hooks.snap_capi import SnapCapiHook

    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_NUM", json.dumps(
        {"conn_type": "snap_capi", "password": TOKEN, "extra": {"pixel_id": 123456789}}))
    assert SnapCapiHook("snap_capi_num").settings.pixel_id == "123456789"


def test_a_typo_of_pixel_id_is_warned_about_in_the_task_log_and_the_task_fails_clearly(snap_conn, monkeypatch,
                                                                                      caplog, capfd, airflow_db):
    """Through the operator in ``dag.test()``: the unknown extra is named with its likely meaning, and the
    task fails with the missing pixel id instead of sending to nowhere."""
    import pendulum
    from airflow.sdk import dag

    from snap_capi_provider.operators.snap_capi import SnapCapiSendEventsOperator
    from tests.airflow_helpers import run_dag, task_state

    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", json.dumps(
        {"conn_type": "snap_capi", "host": snap_conn.url, "password": TOKEN, "extra": {"pixelid": PIXEL}}))

    @dag(dag_id="typo_extra", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
    def pipeline():
        SnapCapiSendEventsOperator(task_id="send", data=[{"email": "a@example.com", "event_time": 1}],
                                   event_name="SIGN_UP")

    dag_run = run_dag(pipeline())
    assert task_state(dag_run, "send") == "failed"
    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    assert "unknown extra 'pixelid' (did you mean 'pixel_id'?) is ignored" in logged
    assert "No pixel_id or snap_app_id" in logged
    assert snap_conn.requests == []


# ------------------------------------------------------------------ credentials in a URL stay out of repr


def test_credentials_in_the_base_and_token_urls_stay_out_of_every_repr_and_message(monkeypatch):
    from snap_capi_provider.core.client import SnapCapiError
    from snap_capi_provider.hooks.snap_capi import SnapCapiHook

    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_URLS", json.dumps(
        {"conn_type": "snap_capi", "host": "https://relay:pw-BASE-77@launchpad.example.com/capi",
         "extra": {"pixel_id": "p-1", "client_id": "cid", "client_secret": "cs-SECRET-1", "refresh_token": "rt-99x",
                   "token_url": "https://tok:pw-TOKEN-88@127.0.0.1:9/token"}}))
    hook = SnapCapiHook("snap_capi_urls", max_retries=0)
    shown = [repr(hook.settings), repr(hook.token_provider), repr(hook.get_conn()), repr(hook.get_async_conn())]
    for text in shown:
        assert "pw-BASE-77" not in text and "pw-TOKEN-88" not in text and "cs-SECRET-1" not in text, text
    assert "launchpad.example.com" in shown[0] and "***@launchpad.example.com" in shown[2]
    assert "***@launchpad.example.com" in shown[3] and "***@127.0.0.1:9" in shown[1]
    with pytest.raises(SnapCapiError) as raised:  # nothing listens on port 9: the refresh fails
        hook.token_provider.token()
    assert "pw-TOKEN-88" not in str(raised.value) and "***@127.0.0.1:9" in str(raised.value)


@pytest.mark.parametrize("kwargs", [{"timeout": (5, -1)}, {"timeout": (5,)}, {"timeout": "abc"},
                                    {"max_retries": "3"}, {"max_retries": 1.5}, {"retry_backoff_s": -1},
                                    {"compress": "no"}, {"concurrency": 0}, {"api_version": "v4"}])
def test_the_hooks_own_arguments_are_checked_when_it_is_built(kwargs):
    from snap_capi_provider.hooks.snap_capi import SnapCapiHook

    with pytest.raises(ValueError, match=next(iter(kwargs))):
        SnapCapiHook(**kwargs)


def test_a_uri_with_an_underscore_scheme_is_named_not_taken_for_no_credentials(snap_conn, monkeypatch):
    """``snap_capi://`` is no URI scheme to Python: Airflow reads it as an empty connection with the
    whole text, token included, in ``schema``."""
    from snap_capi_provider.core.client import SnapCapiError
    from snap_capi_provider.hooks.snap_capi import SnapCapiHook

    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", "snap_capi://:tok-uri-9f8e@tr.snapchat.com/?pixel_id=P")
    with pytest.raises(SnapCapiError, match="snap-capi://") as caught:
        _ = SnapCapiHook().settings
    assert "tok-uri-9f8e" not in str(caught.value)
    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", f"snap-capi://:{TOKEN}@{snap_conn.url.split('//')[1]}"
                       f"/?pixel_id={PIXEL}")
    assert SnapCapiHook().settings.pixel_id == PIXEL
