"""Tests of the local Snap CAPI emulator, over real HTTP with ``requests``."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from snap_capi_provider.emulator import CapiEmulator, Fault

TOKEN = "test-token"
PIXEL = "pixel-123"
REPO_ROOT = Path(__file__).resolve().parents[2]


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


EM = sha("person@example.com")
PH = sha("16505551212")


def make_event(**overrides: Any) -> dict[str, Any]:
    """A valid v3 PURCHASE event; keyword overrides replace root keys (None deletes)."""
    ev: dict[str, Any] = {
        "event_name": "PURCHASE",
        "event_time": int(time.time()) - 60,
        "action_source": "WEB",
        "event_id": "order-1",
        "event_source_url": "https://shop.example.com/checkout",
        "user_data": {
            "em": [EM],
            "ph": [PH],
            "client_ip_address": "203.0.113.7",
            "client_user_agent": "UA/1",
        },
        "custom_data": {"currency": "USD", "value": 42.5, "order_id": "1", "content_ids": ["sku-1"]},
    }
    for key, value in overrides.items():
        if value is None:
            ev.pop(key, None)
        else:
            ev[key] = value
    return ev


def make_v2_event(**overrides: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "pixel_id": PIXEL,
        "event_type": "PURCHASE",
        "event_conversion_type": "WEB",
        "timestamp": str(int(time.time() * 1000) - 60_000),
        "hashed_email": EM,
        "price": "42.50",
        "currency": "USD",
        "client_dedup_id": "order-1",
        "page_url": "https://shop.example.com",
        "unknown_key_is_ignored": "x",
    }
    for key, value in overrides.items():
        if value is None:
            ev.pop(key, None)
        else:
            ev[key] = value
    return ev


def post_v3(
    emu: CapiEmulator,
    events: list[Any] | None = None,
    *,
    asset: str = PIXEL,
    token: str | None = TOKEN,
    suffix: str = "",
    payload: Any = None,
    **kwargs: Any,
) -> requests.Response:
    params = {"access_token": token} if token is not None else {}
    body = payload if payload is not None else {"data": events}
    kwargs.setdefault("timeout", 10)
    return requests.post(f"{emu.url}/v3/{asset}/events{suffix}", params=params, json=body, **kwargs)


def post_v2(
    emu: CapiEmulator, events: Any, *, suffix: str = "", token: str | None = TOKEN, **kwargs: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(
        f"{emu.url}/v2/conversion{suffix}", json=events, headers=headers, timeout=10, **kwargs
    )


@pytest.fixture(scope="module")
def server() -> Any:
    with CapiEmulator() as emu:
        yield emu


@pytest.fixture
def emu(server: CapiEmulator) -> Any:
    server.reset()
    yield server
    assert server.errors == []  # no emulator bug was hit (they are answered with 500)


@pytest.fixture
def partial_emu() -> Any:
    with CapiEmulator(batch_mode="partial") as emu:
        yield emu


# ---------------------------------------------------------------------------------------------- v3 send


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


@pytest.mark.parametrize(
    "ev",
    [
        make_event(user_data={"client_ip_address": "2001:db8::1", "client_user_agent": "UA"}),
        make_event(user_data={"madid": "6d92078a-8246-4ba4-ae5b-76104861e7dc"}),
        make_event(user_data={"ph": PH, "external_id": [sha("u1"), sha("u2")]}),
        make_event(event_name="PAGE_VIEW", custom_data=None, event_source_url=None),
        make_event(
            action_source="MOBILE_APP",
            event_name="APP_OPEN",
            custom_data=None,
            app_data={"advertiser_tracking_enabled": 1, "extinfo": ["i2"] + ["x"] * 15, "app_id": "123"},
            data_processing_options=["LDU"],
            data_processing_options_country=1,
            data_processing_options_state=1000,
        ),
        make_event(action_source="OFFLINE", event_id=None, event_source_url=None),
        make_event(event_name="CUSTOM_EVENT_5", custom_data={"value": 3, "currency": "EUR", "num_items": 2}),
    ],
    ids=["ipv6+ua", "madid", "ph-string", "web-no-url", "app", "offline-no-id", "custom"],
)
def test_valid_event_variants(emu: CapiEmulator, ev: dict) -> None:
    r = post_v3(emu, [ev])
    assert r.status_code == 200, r.text
    assert emu.accepted_events() == [ev]


def _ud(**kw: Any) -> dict:
    return {"user_data": kw}


RULES = [
    ("unknown-name", {"event_name": "ADD_TO_CART"}, "Unrecognized event type"),
    ("lower-name", {"event_name": "purchase"}, "Unrecognized event type"),
    ("missing-name", {"event_name": None}, "event_name"),
    (
        "ms-time",
        {"event_time": int(time.time() * 1000)},
        "Param data['event_time'] is an invalid Unix timestamp.",
    ),
    ("us-time", {"event_time": int(time.time() * 1e6)}, "invalid Unix timestamp"),
    ("string-time", {"event_time": str(int(time.time()))}, "must be an integer"),
    ("float-time", {"event_time": float(int(time.time()))}, "must be an integer"),
    ("old", {"event_time": int(time.time()) - 38 * 86400}, "older than 37 days"),
    ("future", {"event_time": int(time.time()) + 3600}, "in the future"),
    ("bad-source", {"action_source": "web"}, "action_source"),
    ("missing-source", {"action_source": None}, "action_source"),
    ("pn-key", _ud(pn=[PH], em=[EM]), "unknown user_data field 'pn'"),
    ("raw-email", _ud(em="person@example.com"), "SHA-256"),
    ("upper-hash", _ud(em=[EM.upper()]), "SHA-256"),
    ("empty-hash-list", _ud(em=[], ph=[PH]), "SHA-256"),
    ("short-hash", _ud(ph=[PH[:63]]), "SHA-256"),
    ("bad-ip", _ud(client_ip_address="999.1.1.1", client_user_agent="UA", em=[EM]), "not a valid IP"),
    ("no-pii", _ud(fn=[sha("john")], ln=[sha("doe")]), "insufficient PII"),
    ("ip-without-ua", _ud(client_ip_address="203.0.113.7"), "insufficient PII"),
    ("no-user-data", {"user_data": None}, "insufficient PII"),
    ("purchase-no-currency", {"custom_data": {"value": 1.0}}, "currency"),
    ("purchase-no-value", {"custom_data": {"currency": "USD"}}, "value"),
    ("purchase-string-value", {"custom_data": {"currency": "USD", "value": "42.5"}}, "value"),
    ("lower-currency", {"custom_data": {"currency": "usd", "value": 1}}, "ISO 4217"),
    ("empty-event-id", {"event_id": ""}, "event_id"),
    ("int-event-id", {"event_id": 123}, "event_id"),
    (
        "event-id-in-custom",
        {"event_id": None, "custom_data": {"currency": "USD", "value": 1, "event_id": "x"}},
        "event_id must be at the event root",
    ),
    ("unknown-root", {"client_dedup_id": "x"}, "unknown event field"),
    (
        "unknown-custom",
        {"custom_data": {"currency": "USD", "value": 1, "price": 2}},
        "unknown custom_data field",
    ),
    ("custom-not-object", {"custom_data": ["x"]}, "custom_data"),
]


@pytest.mark.parametrize("overrides, message", [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_each_rule_rejects_with_index_and_message(emu: CapiEmulator, overrides: dict, message: str) -> None:
    bad = make_event(event_id="bad", **overrides) if "event_id" not in overrides else make_event(**overrides)
    events = [make_event(event_id="a"), make_event(event_id="b"), bad, make_event(event_id="c")]
    r = post_v3(emu, events)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["status"] == "INVALID"
    assert body["event"] == 2
    assert any(message in m for m in body["errors"]["error_msgs"]), body
    assert body["reason"] == body["errors"]["error_msgs"][0]
    assert len(body["errors"]["codes"]) == len(body["errors"]["error_msgs"])
    assert emu.accepted_events() == []  # whole mode: nothing recorded
    assert emu.accepted_count_by_event_id() == {}


def test_non_object_event_rejected(emu: CapiEmulator) -> None:
    r = post_v3(emu, [make_event(), "not-an-event"])
    assert r.status_code == 400 and r.json()["event"] == 1


def test_error_messages_do_not_echo_pii(emu: CapiEmulator) -> None:
    raw_ip, raw_email = "10.1.2.999", "secret.person@example.com"
    r = post_v3(emu, [make_event(user_data={"em": raw_email, "client_ip_address": raw_ip})])
    assert r.status_code == 400
    assert raw_ip not in r.text and raw_email not in r.text


@pytest.mark.parametrize(
    "payload, status, reason",
    [
        ("not json", 400, "not valid JSON"),
        ({"events": []}, 400, "'data'"),
        ({"data": {}}, 400, "'data'"),
        ({"data": []}, 400, "at least one"),
        ([make_event()], 400, "'data'"),
    ],
    ids=["not-json", "no-data", "data-object", "empty", "bare-list"],
)
def test_bad_bodies(emu: CapiEmulator, payload: Any, status: int, reason: str) -> None:
    url = f"{emu.url}/v3/{PIXEL}/events?access_token={TOKEN}"
    data = payload if isinstance(payload, str) else json.dumps(payload)
    r = requests.post(url, data=data, headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == status
    assert r.json()["status"] == "INVALID" and reason in r.json()["reason"]
    assert emu.requests[-1].status == status


def test_nan_is_not_json(emu: CapiEmulator) -> None:
    body = json.dumps({"data": [make_event()]}).replace("42.5", "NaN")
    r = requests.post(f"{emu.url}/v3/{PIXEL}/events?access_token={TOKEN}", data=body, timeout=10)
    assert r.status_code == 400


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


def test_gzip_body(emu: CapiEmulator) -> None:
    events = [make_event(event_id=f"g{i}") for i in range(50)]
    body = gzip.compress(json.dumps({"data": events}).encode())
    r = requests.post(
        f"{emu.url}/v3/{PIXEL}/events",
        params={"access_token": TOKEN},
        data=body,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert len(emu.accepted_events()) == 50
    assert emu.requests[-1].gzip is True
    r = requests.post(
        f"{emu.url}/v3/{PIXEL}/events",
        params={"access_token": TOKEN},
        data=b"not gzip",
        headers={"Content-Encoding": "gzip"},
        timeout=10,
    )
    assert r.status_code == 400


def test_auth(emu: CapiEmulator) -> None:
    secret = "sekrit-T0KEN-value"
    for r in (
        post_v3(emu, [make_event()], token=None),
        post_v3(emu, [make_event()], token=secret),
        requests.get(f"{emu.url}/v3/{PIXEL}/events/validate/stats?access_token={secret}", timeout=10),
    ):
        assert r.status_code == 401
        assert r.json() == {"status": "INVALID", "reason": "Invalid access token"}
        assert secret not in r.text and secret not in str(r.headers)
    # a Bearer header is accepted for v3 too
    r = requests.post(
        f"{emu.url}/v3/{PIXEL}/events",
        json={"data": [make_event()]},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert r.status_code == 200
    r = post_v3(emu, [make_event(event_name="BAD")])
    assert r.status_code == 400 and TOKEN not in r.text
    assert all("access_token" not in rec.path and TOKEN not in rec.path for rec in emu.requests)
    assert len(emu.accepted_events()) == 1


def test_unknown_asset_forbidden() -> None:
    with CapiEmulator(assets={PIXEL}) as emu:
        assert post_v3(emu, [make_event()], asset="other").status_code == 403
        assert post_v3(emu, [make_event()]).status_code == 200


def test_event_count_limit(emu: CapiEmulator) -> None:
    one = make_event(event_id=None)
    r = post_v3(emu, [one] * 2001)
    assert r.status_code == 400 and "2000" in r.json()["reason"]
    assert emu.accepted_events() == []
    r = post_v3(emu, [one] * 2000)
    assert r.status_code == 200
    assert len(emu.accepted_events()) == 2000


def test_body_size_limit() -> None:
    with CapiEmulator(max_body_bytes=7000, max_events_per_request=10) as emu:
        big = [make_event(event_id=f"e{i}") for i in range(20)]
        r = post_v3(emu, big)
        assert r.status_code == 413
        gz = gzip.compress(json.dumps({"data": big}).encode())  # small on the wire, too big inflated
        assert len(gz) < 7000
        r = requests.post(
            f"{emu.url}/v3/{PIXEL}/events?access_token={TOKEN}",
            data=gz,
            headers={"Content-Encoding": "gzip"},
            timeout=10,
        )
        assert r.status_code == 413
        assert post_v3(emu, big[:2]).status_code == 200  # connection still usable
        assert post_v3(emu, big[:11]).status_code == 400


def test_chunked_body_and_auth_before_size_limit() -> None:
    with CapiEmulator(max_body_bytes=2000) as emu:
        body = json.dumps({"data": [make_event()]}).encode()
        r = requests.post(
            f"{emu.url}/v3/{PIXEL}/events?access_token={TOKEN}",
            data=(body[i : i + 100] for i in range(0, len(body), 100)),  # a generator is sent chunked
            timeout=10,
        )
        assert r.status_code == 200, r.text
        assert post_v3(emu, [make_event()] * 10, token=None).status_code == 401
        assert post_v3(emu, [make_event()] * 10).status_code == 413


def test_keep_alive_reuses_one_connection() -> None:
    with CapiEmulator() as emu, requests.Session() as s:
        url = f"{emu.url}/v3/{PIXEL}/events?access_token={TOKEN}"
        for _ in range(5):
            assert s.post(url, json={"data": [make_event()]}, timeout=10).status_code == 200
        assert len(emu._server.connections) == 1  # type: ignore[union-attr]


def test_injected_clock_drives_age_checks() -> None:
    now = 1_700_000_000
    with CapiEmulator(clock=lambda: now, max_event_age_days=7, max_future_skew_s=10) as emu:
        assert post_v3(emu, [make_event(event_time=now - 6 * 86400)]).status_code == 200
        assert post_v3(emu, [make_event(event_time=now - 8 * 86400)]).status_code == 400
        assert post_v3(emu, [make_event(event_time=now + 9)]).status_code == 200
        assert post_v3(emu, [make_event(event_time=now + 11)]).status_code == 400


def test_routing_errors(emu: CapiEmulator) -> None:
    assert requests.get(f"{emu.url}/v3/{PIXEL}/events?access_token={TOKEN}", timeout=10).status_code == 405
    assert requests.post(f"{emu.url}/v3/{PIXEL}/nope?access_token={TOKEN}", timeout=10).status_code == 404
    assert requests.get(f"{emu.url}/", timeout=10).status_code == 404


# ---------------------------------------------------------------------------------------------- v3 validate


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


# ---------------------------------------------------------------------------------------------- faults


def test_fault_429_with_retry_after_then_normal(emu: CapiEmulator) -> None:
    emu.add_faults(Fault("429", retry_after=2), Fault("429"))
    r1, r2 = post_v3(emu, [make_event()]), post_v3(emu, [make_event()])
    assert r1.status_code == r2.status_code == 429
    assert r1.headers["Retry-After"] == "2" and "Retry-After" not in r2.headers
    assert emu.accepted_events() == []
    assert post_v3(emu, [make_event()]).status_code == 200
    assert [(r.status, r.fault) for r in emu.requests] == [(429, "429"), (429, "429"), (200, None)]
    assert emu.accepted_count_by_event_id() == {"order-1": 1}


@pytest.mark.parametrize(
    "kind, status",
    [("500", 500), ("502", 502), ("503", 503), ("401", 401), ("invalid_200", 200), ("garbage_200", 200)],
)
def test_fault_kinds_record_nothing(emu: CapiEmulator, kind: str, status: int) -> None:
    emu.add_faults(Fault(kind))
    r = post_v3(emu, [make_event()])
    assert r.status_code == status
    if kind == "invalid_200":
        assert r.json()["status"] == "INVALID"
    if kind == "garbage_200":
        with pytest.raises(ValueError):
            r.json()
    assert emu.accepted_events() == []
    rec = emu.requests[-1]
    assert (rec.fault, rec.status, rec.n_events) == (kind, status, 1)
    assert post_v3(emu, [make_event()]).status_code == 200


def test_fault_bad_event_400(emu: CapiEmulator) -> None:
    emu.add_faults(Fault("bad_event_400", event_index=2), Fault("bad_event_400", event_index=99))
    r = post_v3(emu, [make_event(event_id=str(i)) for i in range(4)])
    assert r.status_code == 400 and r.json()["event"] == 2 and r.json()["status"] == "INVALID"
    r = post_v3(emu, [make_event(event_id=str(i)) for i in range(3)])
    assert r.json()["event"] == 2  # clamped to the batch
    assert emu.accepted_events() == []


def test_fault_drop(emu: CapiEmulator) -> None:
    emu.add_faults(Fault("drop"))
    with pytest.raises(requests.ConnectionError):
        post_v3(emu, [make_event()])
    assert emu.accepted_events() == []
    assert emu.requests[-1].status == 0 and emu.requests[-1].fault == "drop"
    assert post_v3(emu, [make_event()]).status_code == 200


def test_fault_delay_times_out_but_is_processed(emu: CapiEmulator) -> None:
    emu.add_faults(Fault("delay", delay_s=0.4))
    with pytest.raises(requests.Timeout):
        post_v3(emu, [make_event()], timeout=0.1)
    deadline = time.time() + 3
    while not (emu.requests and emu.accepted_events()) and time.time() < deadline:
        time.sleep(0.02)
    assert len(emu.accepted_events()) == 1
    assert emu.requests[-1].fault == "delay" and emu.requests[-1].status == 200


def test_faults_target_send_requests_unless_told(emu: CapiEmulator) -> None:
    emu.add_faults(Fault("500"))
    assert post_v3(emu, [make_event()], suffix="/validate").status_code == 200  # validate not faulted
    assert post_v2(emu, [make_v2_event()]).status_code == 500  # v2 send is a send request
    emu.add_faults(Fault("503", path_contains="/validate"))
    assert post_v3(emu, [make_event()]).status_code == 200
    assert post_v3(emu, [make_event()], suffix="/validate").status_code == 503
    assert requests.get(f"{emu.url}/_emulator/summary", timeout=10).status_code == 200
    assert emu.pending_faults == []


def test_fault_validation() -> None:
    with pytest.raises(ValueError):
        Fault("418")
    assert Fault(429).kind == "429"  # type: ignore[arg-type]


def _statuses_with_rate(seed: int, n: int = 40) -> list[int]:
    with CapiEmulator() as emu:
        emu.set_fault_rate(0.5, kinds=("429", "500", "503"), seed=seed)
        with requests.Session() as s:
            url = f"{emu.url}/v3/{PIXEL}/events?access_token={TOKEN}"
            statuses = [s.post(url, json={"data": [make_event()]}, timeout=10).status_code for _ in range(n)]
        assert [r.status for r in emu.requests] == statuses
        return statuses


def test_seeded_fault_rate_is_reproducible() -> None:
    a, b, c = _statuses_with_rate(1), _statuses_with_rate(1), _statuses_with_rate(2)
    assert a == b
    assert a != c
    assert 5 < sum(s != 200 for s in a) < 35
    assert set(a) <= {200, 429, 500, 503}


def test_fault_rate_is_thread_safe_and_only_hits_send(emu: CapiEmulator) -> None:
    emu.set_fault_rate(0.3, kinds=("500",), seed=7)
    url = f"{emu.url}/v3/{PIXEL}/events?access_token={TOKEN}"

    def send(i: int) -> int:
        return requests.post(url, json={"data": [make_event(event_id=f"t{i}")]}, timeout=10).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(send, range(80)))
    assert statuses.count(200) == len(emu.accepted_events())
    assert statuses.count(500) == sum(r.fault == "500" for r in emu.requests)
    assert 0 < statuses.count(500) < 80
    for _ in range(5):
        assert post_v3(emu, [make_event()], suffix="/validate").status_code == 200
    emu.reset()
    assert all(post_v3(emu, [make_event()]).status_code == 200 for _ in range(10))  # reset turns it off


# ---------------------------------------------------------------------------------------------- v2


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


V2_RULES = [
    ("no-asset", {"pixel_id": None}, "pixel_id"),
    ("bad-type", {"event_type": "ADD_TO_CART"}, "Unrecognized event type"),
    ("bad-conversion", {"event_conversion_type": "STORE"}, "event_conversion_type"),
    ("bad-timestamp", {"timestamp": "yesterday"}, "timestamp"),
    ("old", {"timestamp": str(int(time.time()) - 40 * 86400)}, "older"),
    ("raw-email", {"hashed_email": "a@b.com"}, "hashed_email"),
    ("upper-hash", {"hashed_email": EM.upper()}, "hashed_email"),
    ("bad-sdx", {"hashed_first_name_sdx": "j500"}, "Soundex"),
    ("hashed-sdx", {"hashed_last_name_sdx": sha("doe")}, "Soundex"),
    ("no-pii", {"hashed_email": None, "hashed_ip_address": sha("1.2.3.4")}, "insufficient PII"),
    ("no-price", {"price": None}, "price"),
    ("no-currency", {"currency": None}, "currency"),
]


@pytest.mark.parametrize("overrides, message", [r[1:] for r in V2_RULES], ids=[r[0] for r in V2_RULES])
def test_v2_rules(emu: CapiEmulator, overrides: dict, message: str) -> None:
    r = post_v2(emu, [make_v2_event(client_dedup_id="ok"), make_v2_event(**overrides)])
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["status"] == "FAILED"
    assert any(message in rec["reason"] and rec["record_indexes"] == [1] for rec in body["error_records"]), (
        body
    )
    assert emu.accepted_events() == []


def test_v2_valid_variants(emu: CapiEmulator) -> None:
    evs = [
        make_v2_event(client_dedup_id="a", hashed_first_name_sdx="J500", hashed_zip=sha("94025")),
        make_v2_event(
            client_dedup_id="b", hashed_email=None, hashed_ip_address=sha("1.2.3.4"), user_agent="UA"
        ),
        make_v2_event(client_dedup_id="c", event_type="PAGE_VIEW", price=None, currency=None),
    ]
    r = post_v2(emu, evs)
    assert r.status_code == 200, r.text


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


# ---------------------------------------------------------------------------------------------- control


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


def test_context_manager_stops_serving() -> None:
    with CapiEmulator() as emu:
        url = emu.url
        assert requests.get(f"{url}/_emulator/summary", timeout=5).status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/_emulator/summary", timeout=2)


def test_keep_alive_and_concurrency(emu: CapiEmulator) -> None:
    url = f"{emu.url}/v3/{PIXEL}/events?access_token={TOKEN}"
    batch = {"data": [make_event(event_id=None) for _ in range(500)]}

    def worker(out: list[int]) -> None:
        with requests.Session() as s:
            out.extend(s.post(url, json=batch, timeout=10).status_code for _ in range(5))

    results: list[int] = []
    threads = [threading.Thread(target=worker, args=(results,)) for _ in range(4)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 20
    assert len(emu.accepted_events()) == 10_000
    assert time.perf_counter() - start < 10


# ---------------------------------------------------------------------------------------------- CLI


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "launcher",
    [
        ["-m", "snap_capi_provider.emulator"],
        ["-c", "import sys; from snap_capi_provider.emulator.cli import main; sys.exit(main())"],
    ],
    ids=["module", "entry-point"],
)
def test_cli_serves_until_sigterm(launcher: list[str]) -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, *launcher, "--port", str(port), "--token", "cli-token", "--batch-mode", "partial"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as proc:
        _check_cli(proc, port)


def _check_cli(proc: subprocess.Popen, port: int) -> None:
    try:
        line = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert line == f"snap-capi-emulator listening on http://127.0.0.1:{port}"
        r = requests.post(
            f"http://127.0.0.1:{port}/v3/{PIXEL}/events",
            params={"access_token": "cli-token"},
            json={"data": [make_event(), make_event(event_name="BAD")]},
            timeout=5,
        )
        assert r.status_code == 400
        summary = requests.get(f"http://127.0.0.1:{port}/_emulator/summary", timeout=5).json()
        assert summary["accepted"] == 1  # partial mode from the command line
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr.read() == ""  # type: ignore[union-attr]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_fault_rate_survives_reset() -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [
        sys.executable,
        "-m",
        "snap_capi_provider.emulator",
        "--port",
        str(port),
        "--fault-rate",
        "1",
        "--fault-kinds",
        "503",
        "--seed",
        "3",
    ]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env) as proc:
        _check_cli_reset(proc, port)


def _check_cli_reset(proc: subprocess.Popen, port: int) -> None:
    try:
        assert "listening" in proc.stdout.readline()  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        requests.post(f"{base}/_emulator/reset", timeout=5)
        r = requests.post(
            f"{base}/v3/{PIXEL}/events?access_token={TOKEN}", json={"data": [make_event()]}, timeout=5
        )
        assert r.status_code == 503
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_events_are_not_mutated_copies(emu: CapiEmulator) -> None:
    ev = make_event()
    post_v3(emu, [copy.deepcopy(ev)])
    assert emu.accepted_events()[0] == ev
