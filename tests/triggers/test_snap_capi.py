"""The stats trigger has no HTTP of its own: these tests drive it by patching one hook method."""

from __future__ import annotations

import asyncio
import json

import pytest

from snap_capi_provider.core.client import SnapCapiAuthError, SnapCapiRetriesExhausted
from snap_capi_provider.core.testing_api import TestEventStats
from snap_capi_provider.hooks.snap_capi import SnapCapiHook
from snap_capi_provider.triggers.snap_capi import SnapCapiTestEventStatsTrigger

PIXEL = "pixel-123"


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
