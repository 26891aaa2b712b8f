"""The stats trigger has no HTTP of its own: these tests drive it by patching one hook method."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from airflow.sdk.module_loading import import_string
from airflow.utils.deprecation_tools import DeprecatedImportWarning

from snap_capi_provider.core.client import SnapCapiAuthError, SnapCapiClient, SnapCapiRetriesExhausted
from snap_capi_provider.core.event_stats import TestEventStats
from snap_capi_provider.emulator import Fault
from snap_capi_provider.hooks.snap_capi import SnapCapiHook
from snap_capi_provider.triggers.snap_capi import SnapCapiTestEventStatsTrigger
from tests.conftest import PIXEL, TOKEN, conn_json

EM = "542d240129883c019e106e3b1b2d3f3cb3537c43c425364de8e951d5a3083345"


def stats(count: int) -> TestEventStats:
    return TestEventStats.parse({"status": "SUCCESS", "stats": {
        "test": {"latest_event_ts": 1_700_000_000 if count else None, "event_count_past_hour": count},
        "live": {"latest_event_ts": None, "event_count_past_hour": 0}}}, PIXEL)


def first_event(trigger: SnapCapiTestEventStatsTrigger) -> dict:
    async def run() -> dict:
        async for fired in trigger.run():
            return fired.payload
        raise AssertionError("no event")
    return asyncio.run(run())


def patch_answers(monkeypatch, answers: list) -> list[str | None]:
    calls: list[str | None] = []

    async def fake(self: SnapCapiHook, asset_id: str | None = None) -> TestEventStats:
        calls.append(asset_id)
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(SnapCapiHook, "a_get_test_event_stats", fake)
    return calls


def make(**kwargs) -> SnapCapiTestEventStatsTrigger:
    return SnapCapiTestEventStatsTrigger(snap_capi_conn_id="snap_capi_any", asset_id=PIXEL, poll_interval=0.01,
                                        **kwargs)


def test_polls_through_transient_errors_until_the_condition_holds(monkeypatch):
    calls = patch_answers(monkeypatch, [SnapCapiRetriesExhausted("HTTP 503", 0), ValueError("odd answer"),
                                        stats(0), stats(2)])
    payload = first_event(make(timeout=5, min_event_count=2))
    assert payload["status"] == "success" and payload["stats"]["test"]["event_count_past_hour"] == 2
    assert calls == [PIXEL] * 4


def test_a_refused_token_is_an_error_event_at_once(monkeypatch):
    calls = patch_answers(monkeypatch, [SnapCapiAuthError("Snap CAPI refused the access token (HTTP 401)")])
    payload = first_event(make(timeout=30))
    assert payload == {"status": "error", "message": "Snap CAPI refused the access token (HTTP 401)"}
    assert len(calls) == 1


def test_gives_up_at_the_deadline_with_the_last_stats(monkeypatch):
    patch_answers(monkeypatch, [stats(1)])
    payload = first_event(make(timeout=0.2, min_event_count=5))
    assert payload["status"] == "timeout" and "did not show at least 5 test events" in payload["message"]
    assert payload["stats"]["test"]["event_count_past_hour"] == 1


def test_serialize_carries_the_conn_id_never_a_token(monkeypatch):
    classpath, kwargs = make(timeout=5).serialize()
    assert classpath == "snap_capi_provider.triggers.snap_capi.SnapCapiTestEventStatsTrigger"
    assert kwargs["snap_capi_conn_id"] == "snap_capi_any"
    assert "token" not in json.dumps(kwargs).lower().replace("request_timeout", "")


@pytest.mark.parametrize("kind", ["token", "oauth"])
def test_the_hook_method_reads_stats_over_the_async_client(monkeypatch, kind):
    """The one method the trigger calls, for real, against the emulator (long-lived token and OAuth)."""
    from snap_capi_provider.emulator import CapiEmulator

    app = {"oauth_client_id": "cid", "oauth_client_secret": "sec-123456", "oauth_refresh_token": "ref-123456"}
    with CapiEmulator(access_tokens=("tok-long-123456",), **app) as emu:
        extra = {"pixel_id": PIXEL}
        conn = {"conn_type": "snap_capi", "host": emu.url, "extra": extra}
        if kind == "token":
            conn["password"] = "tok-long-123456"
        else:
            extra.update(client_id="cid", client_secret="sec-123456", refresh_token="ref-123456",
                         token_url=emu.token_url)
        monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_ASYNC", json.dumps(conn))
        hook = SnapCapiHook("snap_capi_async")
        got = asyncio.run(hook.a_get_test_event_stats())
        assert got.asset_id == PIXEL and got.test.event_count_past_hour == 0
        if kind == "oauth":
            emu.expire_access_tokens()  # refused once, refreshed once, read again
            asyncio.run(hook.a_get_test_event_stats())
            assert emu.summary()["token_refreshes"] == 2
            assert [r.status for r in emu.requests] == [200, 401, 200]


# ------------------------------------------------------------------- against the emulator (real HTTP)


def one_test_event() -> bytes:
    return json.dumps({"data": [{"event_name": "SIGN_UP", "action_source": "OFFLINE", "event_id": "e-0",
                                 "event_time": int(time.time()) - 60, "user_data": {"em": [EM]}}]}).encode()


def emulator_trigger(monkeypatch, emulator, token: str = TOKEN, **kwargs):
    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_T", conn_json(emulator.url, token=token))
    return SnapCapiTestEventStatsTrigger(snap_capi_conn_id="snap_capi_t", asset_id=PIXEL, poll_interval=0.05,
                                        **kwargs)


def test_trigger_serializes_the_conn_id_never_the_token(monkeypatch, emulator):
    classpath, kwargs = emulator_trigger(monkeypatch, emulator, timeout=5, newer_than=1_700_000_000).serialize()
    assert classpath == "snap_capi_provider.triggers.snap_capi.SnapCapiTestEventStatsTrigger"
    assert kwargs["snap_capi_conn_id"] == "snap_capi_t" and TOKEN not in json.dumps(kwargs)
    assert kwargs["deadline"] == pytest.approx(time.time() + 5, abs=2)
    again = SnapCapiTestEventStatsTrigger(**kwargs)  # a restarted triggerer keeps the same deadline
    assert again.deadline == kwargs["deadline"] and again.serialize() == (classpath, kwargs)


@pytest.mark.parametrize("api_version", ["v3", "v2"])
def test_trigger_fires_success_with_the_stats(monkeypatch, emulator, api_version):
    with SnapCapiClient(TOKEN, emulator.url) as client:
        client.post_events(PIXEL, one_test_event(), validate=True)
    payload = first_event(emulator_trigger(monkeypatch, emulator, timeout=5,
                                           hook_params={"api_version": api_version}))
    assert payload["status"] == "success" and payload["stats"]["test"]["event_count_past_hour"] == 1
    assert {r.path for r in emulator.requests if r.method == "GET"} == (
        {f"/v3/{PIXEL}/events/validate/stats"} if api_version == "v3" else {"/v2/conversion/validate/stats"})


def test_trigger_gives_up_at_its_deadline(monkeypatch, emulator):
    started = time.monotonic()
    payload = first_event(emulator_trigger(monkeypatch, emulator, timeout=0.4, min_event_count=2))
    assert 0.3 < time.monotonic() - started < 3
    assert payload["status"] == "timeout" and "did not show at least 2 test events" in payload["message"]
    assert payload["stats"]["test"]["event_count_past_hour"] == 0


def test_trigger_keeps_polling_through_transient_errors(monkeypatch, emulator):
    emulator.add_faults(Fault("503", path_contains="/stats"), Fault("drop", path_contains="/stats"))
    with SnapCapiClient(TOKEN, emulator.url) as client:
        client.post_events(PIXEL, one_test_event(), validate=True)
    payload = first_event(emulator_trigger(monkeypatch, emulator, timeout=5))
    assert payload["status"] == "success"
    assert [r.status for r in emulator.requests if r.path.endswith("/stats")] == [503, 0, 200]


def test_trigger_reports_a_refused_token_at_once(monkeypatch, emulator):
    started = time.monotonic()
    payload = first_event(emulator_trigger(monkeypatch, emulator, token="tok-WRONG-55443322", timeout=30))
    assert time.monotonic() - started < 5
    assert payload["status"] == "error" and "HTTP 401" in payload["message"]
    assert "tok-WRONG-55443322" not in json.dumps(payload)


@pytest.mark.parametrize(("token", "message"), [("tok-SECRET-55443322\n", "whitespace"),
                                              ("tok-SECRET\x0055443322", "control character"),
                                              ("tok-SECRET-55443322\u0101", "outside Latin-1")])
def test_trigger_reports_a_malformed_token_at_once_without_a_request(monkeypatch, emulator, token, message):
    """The connection changed after the sensor deferred: the triggerer refuses it, it does not poll on."""
    started = time.monotonic()
    payload = first_event(emulator_trigger(monkeypatch, emulator, token=token, timeout=30))
    assert time.monotonic() - started < 5 and emulator.requests == []
    assert payload["status"] == "error" and message in payload["message"]
    assert "55443322" not in json.dumps(payload)


# ------------------------------------------------------------------------ hook_params and old classpath


def test_serialize_gives_the_new_classpath_and_hook_params(monkeypatch):
    classpath, kwargs = make(timeout=5, hook_params={"debug": True}).serialize()
    assert classpath == "snap_capi_provider.triggers.snap_capi.SnapCapiTestEventStatsTrigger"
    assert kwargs["hook_params"] == {"debug": True}
    assert not {"api_version", "request_timeout", "debug"} & set(kwargs)


def test_a_trigger_serialized_by_the_previous_release_still_loads():
    """A triggerer may hold triggers serialized under the old classpath with the flat transport kwargs."""
    old_kwargs = {"snap_capi_conn_id": "snap_capi_any", "asset_id": PIXEL, "source": "test", "min_event_count": 1,
                  "newer_than": None, "poll_interval": 30.0, "timeout": 60.0, "deadline": time.time() + 60,
                  "api_version": "v2", "request_timeout": 12.0, "debug": None}
    with pytest.warns(DeprecatedImportWarning, match="triggers.snap_capi"):
        old_class = import_string("snap_capi_provider.triggers.test_event_stats.SnapCapiTestEventStatsTrigger")
    trigger = old_class(**old_kwargs)
    assert old_class is SnapCapiTestEventStatsTrigger
    assert trigger.hook_params == {"api_version": "v2", "timeout": 12.0}
    hook = trigger._hook()
    assert (hook.api_version, hook.timeout, hook.retry.max_retries) == ("v2", (10.0, 12.0), 0)


def test_unknown_hook_params_are_refused():
    with pytest.raises(ValueError, match="Unknown hook_params"):
        make(timeout=5, hook_params={"retries": 3})
