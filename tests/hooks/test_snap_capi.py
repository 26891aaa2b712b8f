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
