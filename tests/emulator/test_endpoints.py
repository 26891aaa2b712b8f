"""The emulator's event endpoints over real HTTP: v3 and v2 send and validate, stats and logs."""

from __future__ import annotations

import json
import time

import requests

from snap_capi_provider.emulator import CapiEmulator
from tests.emulator.helpers import EM, PIXEL, TOKEN, make_event, make_v2_event, post_v2, post_v3, sha


def test_valid_batch_accepted_and_recorded(emu: CapiEmulator) -> None:
    events = [make_event(event_id=f"order-{i}") for i in range(3)]
    r = post_v3(emu, events)
    assert r.status_code == 200
    assert r.json() == {"status": "VALID", "reason": "Events have been processed successfully."}
    assert emu.accepted_events() == events
    assert emu.accepted_events(PIXEL) == events
    assert emu.accepted_events("other") == []
    assert emu.accepted_count_by_event_id() == {"order-0": 1, "order-1": 1, "order-2": 1}
    (rec,) = emu.requests
    assert (
        rec.method,
        rec.path,
        rec.status,
        rec.n_events,
        rec.version,
        rec.asset_id,
        rec.fault,
        rec.gzip,
    ) == (
        "POST",
        f"/v3/{PIXEL}/events",
        200,
        3,
        "v3",
        PIXEL,
        None,
        False,
    )
    assert rec.elapsed_s >= 0
    assert r.raw.version == 11 and "close" not in r.headers.get("Connection", "")



def test_validate_endpoint_per_event_logs(emu: CapiEmulator) -> None:
    events = [
        make_event(event_id="a"),
        make_event(event_id="b", event_time=int(time.time() * 1000)),
        make_event(event_id="c", event_source_url=None),
    ]
    r = post_v3(emu, events, suffix="/validate")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "INVALID" and body["test_event"] is True and "index 1" in body["reason"]
    logs = body["event_logs"]
    assert [log["event"] for log in logs] == [0, 1, 2]
    assert [log["status"] for log in logs] == ["VALID", "INVALID", "VALID"]
    assert logs[0]["errors"] == {"codes": [], "error_msgs": []}
    assert "invalid Unix timestamp" in logs[1]["errors"]["error_msgs"][0]
    assert any("event_source_url" in w for w in logs[2]["warnings"])
    assert emu.accepted_events() == []
    assert emu.test_events() == events
    assert emu.test_events("other") == []

    r = post_v3(emu, [make_event()], suffix="/validate")
    assert r.json()["status"] == "VALID" and r.json()["event_logs"][0]["status"] == "VALID"


def test_stats_and_logs(emu: CapiEmulator) -> None:
    base = f"{emu.url}/v3/{PIXEL}/events/validate"
    stats = requests.get(f"{base}/stats", params={"access_token": TOKEN}, timeout=10).json()
    assert stats == {
        "status": "SUCCESS",
        "stats": {
            "test": {"latest_event_ts": None, "event_count_past_hour": 0},
            "live": {"latest_event_ts": None, "event_count_past_hour": 0},
        },
    }
    post_v3(emu, [make_event(event_id="v1"), make_event(event_id="v2", event_name="X")], suffix="/validate")
    post_v3(emu, [make_event(event_id="l1"), make_event(event_id="l2")])
    stats = requests.get(f"{base}/stats", params={"access_token": TOKEN}, timeout=10).json()["stats"]
    assert stats["test"]["event_count_past_hour"] == 2
    assert stats["live"]["event_count_past_hour"] == 2
    assert abs(stats["live"]["latest_event_ts"] - time.time()) < 5
    assert isinstance(stats["test"]["latest_event_ts"], int)

    logs = requests.get(f"{base}/logs", params={"access_token": TOKEN}, timeout=10).json()
    assert logs["status"] == "SUCCESS"
    assert [log["status"] for log in logs["logs"]] == ["INVALID", "VALID"]  # newest first
    newest = logs["logs"][0]
    assert set(newest) >= {
        "event_name",
        "event_time",
        "action_source",
        "status",
        "error_records",
        "warning_records",
        "received_ts",
    }
    assert newest["event_name"] == "X" and newest["error_records"]
    assert EM not in json.dumps(logs) and "203.0.113.7" not in json.dumps(logs)
    other = requests.get(
        f"{emu.url}/v3/other/events/validate/logs", params={"access_token": TOKEN}, timeout=10
    ).json()
    assert other["logs"] == []



def test_v2_send_and_dedup(emu: CapiEmulator) -> None:
    events = [make_v2_event(), make_v2_event(client_dedup_id="order-2", timestamp=int(time.time()))]
    r = post_v2(emu, events)
    assert r.status_code == 200 and r.json()["status"] == "SUCCESS"
    assert post_v2(emu, make_v2_event()).status_code == 200  # a single object is accepted too
    assert emu.accepted_events(PIXEL) == events
    assert emu.accepted_count_by_event_id() == {"order-1": 2, "order-2": 1}
    rec = emu.requests[0]
    assert (rec.version, rec.asset_id, rec.n_events, rec.path) == ("v2", PIXEL, 2, "/v2/conversion")


def test_v2_app_event(emu: CapiEmulator) -> None:
    ev = make_v2_event(
        pixel_id=None,
        snap_app_id="snap-app-1",
        app_id="com.example",
        event_conversion_type="MOBILE_APP",
        event_type="APP_INSTALL",
        hashed_email=None,
        hashed_mobile_ad_id=sha("madid"),
    )
    assert post_v2(emu, [ev]).status_code == 200
    assert emu.accepted_events("snap-app-1") == [ev]


def test_v2_partial_and_auth(partial_emu: CapiEmulator) -> None:
    evs = [
        make_v2_event(client_dedup_id="a"),
        make_v2_event(event_type="NOPE"),
        make_v2_event(client_dedup_id="c"),
    ]
    r = post_v2(partial_emu, evs)
    assert r.status_code == 200 and r.json()["status"] == "PARTIAL"
    assert r.json()["error_records"] == [{"reason": "Unrecognized event type: 'NOPE'", "record_indexes": [1]}]
    assert [e["client_dedup_id"] for e in partial_emu.accepted_events()] == ["a", "c"]
    # v2 takes the token in a Bearer header only
    r = requests.post(f"{partial_emu.url}/v2/conversion?access_token={TOKEN}", json=evs, timeout=10)
    assert r.status_code == 401 and TOKEN not in r.text
    assert post_v2(partial_emu, evs, token="wrong").status_code == 401


def test_v2_validate_stats_logs(emu: CapiEmulator) -> None:
    r = post_v2(emu, [make_v2_event(), make_v2_event(hashed_email="nope")], suffix="/validate")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "FAILED" and body["test_event"] is True
    assert body["error_records"][0]["record_indexes"] == [1]
    assert [log["status"] for log in body["event_logs"]] == ["VALID", "INVALID"]
    assert emu.accepted_events() == [] and len(emu.test_events(PIXEL)) == 2
    headers = {"Authorization": f"Bearer {TOKEN}"}
    stats = requests.get(
        f"{emu.url}/v2/conversion/validate/stats", params={"asset_id": PIXEL}, headers=headers, timeout=10
    ).json()
    assert stats["status"] == "SUCCESS" and stats["stats"]["test"]["event_count_past_hour"] == 2
    logs = requests.get(
        f"{emu.url}/v2/conversion/validate/logs", params={"asset_id": PIXEL}, headers=headers, timeout=10
    ).json()
    assert [log["status"] for log in logs["logs"]] == ["INVALID", "VALID"]
    assert logs["logs"][0]["event_name"] == "PURCHASE" and EM not in json.dumps(logs)
    missing = requests.get(f"{emu.url}/v2/conversion/validate/stats", headers=headers, timeout=10)
    assert missing.status_code == 400
