"""The emulator's v3 and v2 event rules: what it accepts and how it words a rejection."""

from __future__ import annotations

import time
from typing import Any

import pytest

from snap_capi_provider.emulator import CapiEmulator
from tests.emulator.helpers import EM, PH, make_event, make_v2_event, post_v2, post_v3, sha


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


def test_injected_clock_drives_age_checks() -> None:
    now = 1_700_000_000
    with CapiEmulator(clock=lambda: now, max_event_age_days=7, max_future_skew_s=10) as emu:
        assert post_v3(emu, [make_event(event_time=now - 6 * 86400)]).status_code == 200
        assert post_v3(emu, [make_event(event_time=now - 8 * 86400)]).status_code == 400
        assert post_v3(emu, [make_event(event_time=now + 9)]).status_code == 200
        assert post_v3(emu, [make_event(event_time=now + 11)]).status_code == 400
