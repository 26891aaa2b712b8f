"""The control endpoints (``/_emulator/...``)."""

from __future__ import annotations

import requests

from snap_capi_provider.emulator import CapiEmulator
from tests.emulator.helpers import PIXEL, make_event, post_v3


def test_control_endpoints(emu: CapiEmulator) -> None:
    post_v3(emu, [make_event(event_id="x"), make_event(event_id="y")])
    post_v3(emu, [make_event(event_id="x")])
    post_v3(emu, [make_event()], suffix="/validate")
    summary = requests.get(f"{emu.url}/_emulator/summary", timeout=10).json()
    assert summary["accepted"] == 3
    assert summary["unique_event_ids"] == 2
    assert summary["duplicates"] == 1
    assert summary["requests"] == 3
    assert summary["test_events"] == 1
    assert summary["by_asset"][PIXEL]["accepted"] == 3
    events = requests.get(f"{emu.url}/_emulator/events", params={"asset_id": PIXEL}, timeout=10).json()
    assert [e["event_id"] for e in events] == ["x", "y"]
    assert requests.get(f"{emu.url}/_emulator/events?asset_id=none", timeout=10).json() == []

    r = requests.post(
        f"{emu.url}/_emulator/faults", json=[{"kind": "503"}, {"kind": "429", "retry_after": 1}]
    )
    assert r.status_code == 200
    assert post_v3(emu, [make_event()]).status_code == 503
    assert post_v3(emu, [make_event()]).status_code == 429
    assert (
        requests.post(f"{emu.url}/_emulator/faults", json=[{"kind": "nope"}], timeout=10).status_code == 400
    )

    assert requests.post(f"{emu.url}/_emulator/reset", timeout=10).status_code == 200
    summary = requests.get(f"{emu.url}/_emulator/summary", timeout=10).json()
    assert (summary["accepted"], summary["requests"], summary["test_events"]) == (0, 0, 0)
    assert emu.accepted_events() == [] and emu.requests == []
