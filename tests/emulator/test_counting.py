"""The emulator's count-only mode (for benchmarks): token checked, events and ids counted from raw bytes."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time

import pytest
import requests

from snap_capi_provider.emulator import CapiEmulator

TOKEN = "test-token"
PIXEL = "pixel-123"


def v3_event(i: int, **extra: object) -> dict:
    return {
        "event_id": f"order-{i}",
        "event_name": "PURCHASE",
        "event_time": int(time.time()),
        "action_source": "OFFLINE",
        "user_data": {"em": ["a" * 64], "client_ip_address": "203.0.113.7"},
        "custom_data": {"currency": "USD", "value": 1.5},
        **extra,
    }


def v2_event(i: int) -> dict:
    return {"pixel_id": PIXEL, "event_type": "PURCHASE", "event_conversion_type": "WEB",
            "timestamp": str(int(time.time())), "hashed_email": "a" * 64, "client_dedup_id": f"order-{i}"}


@pytest.fixture
def emu():
    with CapiEmulator(access_tokens=(TOKEN,), count_only=True) as emu:
        yield emu


def post_v3(emu: CapiEmulator, events: list, token: str = TOKEN, **kw) -> requests.Response:
    return requests.post(f"{emu.url}/v3/{PIXEL}/events", params={"access_token": token},
                         json={"data": events}, timeout=10, **kw)


def test_v3_counts_events_and_unique_ids(emu: CapiEmulator) -> None:
    assert post_v3(emu, [v3_event(i) for i in range(5)]).json()["status"] == "VALID"
    assert post_v3(emu, [v3_event(i) for i in range(3, 8)]).status_code == 200  # 3 and 4 resent
    summary = requests.get(f"{emu.url}/_emulator/summary", timeout=5).json()
    assert summary["count_only"] is True
    assert summary["events"] == summary["accepted"] == 10
    assert summary["unique_event_ids"] == 8
    assert summary["duplicates"] == 2
    assert summary["by_asset"][PIXEL]["unique_event_ids"] == 8
    assert emu.accepted_count_by_event_id()["order-3"] == 2
    assert emu.accepted_events() == []  # nothing retained in this mode


def test_spaced_json_escaped_ids_and_gzip(emu: CapiEmulator) -> None:
    events = [v3_event(0), v3_event(1, event_id='say "hi"\\n'), v3_event(2, event_id="é-ü")]
    body = json.dumps({"data": events}).encode()  # default separators: '": "' with a space
    response = requests.post(f"{emu.url}/v3/{PIXEL}/events?access_token={TOKEN}", data=gzip.compress(body),
                             headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}, timeout=5)
    assert response.status_code == 200
    assert set(emu.accepted_count_by_event_id()) == {"order-0", 'say "hi"\\n', "é-ü"}
    assert emu.summary()["events"] == 3


def test_v2_counts_and_attributes_the_pixel(emu: CapiEmulator) -> None:
    response = requests.post(f"{emu.url}/v2/conversion", json=[v2_event(i) for i in range(4)],
                             headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert response.json()["status"] == "SUCCESS"
    summary = emu.summary()
    assert summary["events"] == 4 and summary["unique_event_ids"] == 4
    assert summary["by_asset"][PIXEL]["accepted"] == 4


def test_token_and_limits_still_checked(emu: CapiEmulator) -> None:
    assert post_v3(emu, [v3_event(0)], token="wrong").status_code == 401
    assert requests.post(f"{emu.url}/v2/conversion", json=[v2_event(0)], timeout=5).status_code == 401
    too_many = post_v3(emu, [v3_event(i) for i in range(2001)])
    assert too_many.status_code == 400 and "Too many events" in too_many.json()["reason"]
    assert post_v3(emu, []).status_code == 400
    assert emu.summary()["events"] == 0


def test_validate_endpoint_still_validates(emu: CapiEmulator) -> None:
    response = requests.post(f"{emu.url}/v3/{PIXEL}/events/validate", params={"access_token": TOKEN},
                             json={"data": [v3_event(0, event_name="NOPE")]}, timeout=5)
    assert response.json()["status"] == "INVALID"


def test_control_endpoint_switches_mode() -> None:
    with CapiEmulator(access_tokens=(TOKEN,)) as emu:
        assert requests.get(f"{emu.url}/_emulator/config", timeout=5).json() == {"count_only": False}
        answer = requests.post(f"{emu.url}/_emulator/config", json={"count_only": True}, timeout=5).json()
        assert answer["count_only"] is True and emu.count_only
        post_v3(emu, [v3_event(0, event_name="NOT_VALIDATED")])
        assert emu.summary()["events"] == 1
        emu.reset()
        assert emu.count_only  # a reset keeps the mode
        assert requests.post(f"{emu.url}/_emulator/config", json={"count_only": 1}, timeout=5).status_code == 400
        assert requests.post(f"{emu.url}/_emulator/config", json={"bogus": True}, timeout=5).status_code == 400


def test_fast_enough_for_a_benchmark(emu: CapiEmulator) -> None:
    """Server-side handling of 2000-event requests stays far above the client's rate (loose bound)."""
    body = json.dumps({"data": [v3_event(i) for i in range(2000)]}, separators=(",", ":")).encode()
    with requests.Session() as session:
        for _ in range(20):
            session.post(f"{emu.url}/v3/{PIXEL}/events?access_token={TOKEN}", data=body, timeout=10)
    handled = [r.elapsed_s for r in emu.requests]
    assert emu.summary()["unique_event_ids"] == 2000
    assert 20 * 2000 / sum(handled) > 100_000


def test_cli_flag() -> None:
    process = subprocess.Popen([sys.executable, "-m", "snap_capi_provider.emulator", "--port", "0",
                                "--count-only"], stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().split()[-1]
        assert requests.get(f"{url}/_emulator/config", timeout=5).json() == {"count_only": True}
    finally:
        process.terminate()
        process.wait(timeout=10)
