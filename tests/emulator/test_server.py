"""The emulator's state and lifecycle: recording, deduplication, batch modes, start and stop."""

from __future__ import annotations

import copy

import pytest
import requests

from snap_capi_provider.emulator import CapiEmulator
from tests.emulator.helpers import PIXEL, make_event, post_v3


def test_dedup_by_event_id_and_counts_every_posting(emu: CapiEmulator) -> None:
    first = make_event(event_id="dup")
    second = make_event(event_id="dup", custom_data={"currency": "USD", "value": 99})
    other = make_event(event_id="other")
    assert post_v3(emu, [first]).status_code == 200
    assert post_v3(emu, [second, other]).status_code == 200
    assert post_v3(emu, [first], asset="pixel-2").status_code == 200
    no_id = make_event(event_id=None)
    assert post_v3(emu, [no_id, no_id]).status_code == 200
    assert emu.accepted_events(PIXEL) == [first, other, no_id, no_id]
    assert emu.accepted_events(PIXEL)[0]["custom_data"]["value"] == 42.5  # first arrival kept
    assert emu.accepted_count_by_event_id(PIXEL) == {"dup": 2, "other": 1}
    assert emu.accepted_count_by_event_id("pixel-2") == {"dup": 1}
    assert emu.accepted_count_by_event_id() == {"dup": 3, "other": 1}
    assert len(emu.accepted_events()) == 5


def test_whole_mode_records_nothing_partial_mode_records_valid(
    emu: CapiEmulator, partial_emu: CapiEmulator
) -> None:
    events = [make_event(event_id="a"), make_event(event_id="b", event_name="NOPE"), make_event(event_id="c")]
    whole = post_v3(emu, events)
    part = post_v3(partial_emu, events)
    assert whole.status_code == part.status_code == 400
    assert whole.json() == part.json()
    assert whole.json()["event"] == 1
    assert emu.accepted_events() == []
    assert [e["event_id"] for e in partial_emu.accepted_events()] == ["a", "c"]
    assert partial_emu.accepted_count_by_event_id() == {"a": 1, "c": 1}


def test_context_manager_stops_serving() -> None:
    with CapiEmulator() as emu:
        url = emu.url
        assert requests.get(f"{url}/_emulator/summary", timeout=5).status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/_emulator/summary", timeout=2)


def test_events_are_not_mutated_copies(emu: CapiEmulator) -> None:
    ev = make_event()
    post_v3(emu, [copy.deepcopy(ev)])
    assert emu.accepted_events()[0] == ev


def test_unknown_asset_forbidden() -> None:
    with CapiEmulator(assets={PIXEL}) as emu:
        assert post_v3(emu, [make_event()], asset="other").status_code == 403
        assert post_v3(emu, [make_event()]).status_code == 200
