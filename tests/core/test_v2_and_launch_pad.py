"""v2 (legacy) wire format end to end, Soundex, snap-business-sdk field names, and Launch Pad URLs."""

from __future__ import annotations

import hashlib
import json
import logging
import time

import pytest
import requests
from requests.adapters import BaseAdapter

from snap_capi_provider.core.client import SnapCapiClient
from snap_capi_provider.core.events import EventOptions, build_events, resolve_mapping
from snap_capi_provider.core.fields import FIELDS
from snap_capi_provider.core.pipeline import Assets, send_rows
from snap_capi_provider.core.sources import iter_chunks
from snap_capi_provider.core.wire import encode_v2, encode_v3, soundex
from tests.conftest import PIXEL, TOKEN
from tests.golden import GOLDEN

IP = "203.0.113.7"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def section_7_rows() -> list[dict]:
    """The examples of SNAP_CAPI.md section 7, plus the values of Snap's SDK Soundex examples."""
    now = int(time.time())
    return [
        {"email": " Person@Example.com ", "phone": "+44 844 412 4653", "first_name": "John",
         "last_name": "O'Brien", "city": "Menlo Park", "state": "California", "zip": "94025-1234",
         "ip_address": IP, "user_agent": "Mozilla/5.0", "timestamp": now - 60, "transaction_id": "t-1"},
        {"email": "person@example.com", "phone": "(650) 555-1212", "first_name": "test_first",
         "last_name": "Raphaël", "city": "Los Angeles", "state": "CA", "zip": "90001", "ip_address": IP,
         "user_agent": "Mozilla/5.0", "timestamp": now - 120, "transaction_id": "t-2"},
    ]


@pytest.fixture
def fresh(emulator):
    """The session's emulator (tests/conftest.py), reset for this test."""
    return emulator


@pytest.mark.parametrize(("text", "code"), [
    ("John", "J500"), ("test_first", "T231"), ("Los Angeles", "L252"), ("CA", "C000"),  # Snap's SDK examples
    ("john", "J500"), ("testfirst", "T231"), ("losangeles", "L252"), ("ca", "C000"),  # as normalized
    ("Robert", "R163"), ("Rupert", "R163"), ("Rubin", "R150"), ("Ashcraft", "A261"), ("Tymczak", "T522"),
    ("Pfister", "P236"), ("Honeyman", "H555"), ("Lee", "L000"), ("Raphaël", "R140"),
    ("Łódź", "L320"), ("łódź", "L320"), ("Øre", "O600"),  # letters NFKD does not split keep their base
])
def test_american_soundex(text, code):
    assert soundex(text) == code


def test_soundex_of_text_without_letters_is_none():
    assert soundex("1234") is None


def test_v2_payload_carries_the_v3_hashes_with_the_ip_hashed_and_soundex_codes():
    frame = next(iter_chunks(section_7_rows()))
    result = build_events(frame, resolve_mapping(list(frame.columns), None),
                          EventOptions(event_name="SIGN_UP", default_phone_region="US"))
    assert result.rejected == []
    v3 = encode_v3(result.events)
    v2 = encode_v2(result.events, {"pixel_id": PIXEL})

    compared = 0
    for snap_field in FIELDS:
        if not (snap_field.hashed and snap_field.v2_hashed):
            continue
        for v3_event, v2_event in zip(v3, v2, strict=True):
            if snap_field.key in v3_event["user_data"]:
                assert v2_event[snap_field.v2_key] == v3_event["user_data"][snap_field.key][0]
                compared += 1
    assert compared == 14  # em ph fn ln ct st zp, two rows
    first, second = v2
    assert first["hashed_email"] == second["hashed_email"] == GOLDEN["person@example.com"]
    assert first["hashed_phone_number"] == GOLDEN["448444124653"]
    assert second["hashed_phone_number"] == GOLDEN["16505551212"]
    assert first["hashed_first_name_sha"] == GOLDEN["john"]
    assert second["hashed_last_name_sha"] == GOLDEN["raphaël"]
    assert first["hashed_city_sha"] == GOLDEN["menlopark"] and first["hashed_state_sha"] == GOLDEN["ca"]
    # The IP: raw in v3, hashed in v2.
    assert v3[0]["user_data"]["client_ip_address"] == IP
    assert first["hashed_ip_address"] == second["hashed_ip_address"] == sha(IP)
    assert IP not in json.dumps(v2)
    # Soundex codes beside names and places, unhashed.
    assert (first["hashed_first_name_sdx"], second["hashed_first_name_sdx"]) == ("J500", "T231")
    assert (second["hashed_city_sdx"], second["hashed_state_sdx"]) == ("L252", "C000")
    assert (first["hashed_last_name_sdx"], second["hashed_last_name_sdx"]) == ("O165", "R140")
    # Flat, every value a string, the v2 names.
    for event in v2:
        assert all(isinstance(value, str) for value in event.values())
        assert event["event_type"] == "SIGN_UP" and event["event_conversion_type"] == "OFFLINE"
        assert event["pixel_id"] == PIXEL and event["user_agent"] == "Mozilla/5.0"
    assert first["client_dedup_id"] == v3[0]["event_id"]
    assert first["timestamp"] == str(v3[0]["event_time"])


def test_snap_business_sdk_field_names_resolve_through_the_aliases():
    sdk_names = ["email", "phone", "ip_address", "user_agent", "first_name", "last_name", "city", "state",
                 "zip", "event_type", "event_conversion_type", "timestamp", "price", "currency",
                 "transaction_id", "client_dedup_id", "page_url", "item_ids", "item_category", "number_items",
                 "uuid_c1", "click_id", "mobile_ad_id", "search_string", "sign_up_method"]
    mapping = resolve_mapping(sdk_names, None)
    assert len(mapping) == len(sdk_names) and set(mapping.values()) == set(sdk_names)
    hashed_names = ["hashed_email", "hashed_phone_number", "hashed_ip_address", "hashed_first_name_sha",
                    "hashed_last_name_sha", "hashed_city_sha", "hashed_state_sha", "hashed_zip",
                    "hashed_mobile_ad_id", "hashed_idfv", "timestamp"]
    assert len(resolve_mapping(hashed_names, None)) == len(hashed_names)


def test_v2_end_to_end_bearer_auth_flat_events_and_per_record_errors(fresh):
    rows = section_7_rows()
    old = dict(rows[0], transaction_id="t-old", timestamp=int(time.time()) - 40 * 86400)
    rows.insert(1, old)  # the provider allows 60-day-old events here, Snap refuses over 37 days

    with SnapCapiClient(TOKEN, fresh.url, api_version="v2") as client:
        report = send_rows(client, iter_chunks(rows), assets=Assets(pixel_id=PIXEL),
                           event_options=EventOptions(event_name="SIGN_UP", default_phone_region="US",
                                                      max_event_age_days=60))

    assert (report.rows, report.accepted, report.rejected, report.failed) == (3, 2, 1, 0)
    assert report.rejections.examples == [
        {"row": 1, "reason": "snap_rejected: timestamp is older than 37 days."}]
    assert [(r.method, r.path, r.status) for r in fresh.requests] == [
        ("POST", "/v2/conversion", 400), ("POST", "/v2/conversion", 200)]
    stored = fresh.accepted_events(PIXEL)
    assert [e["transaction_id"] for e in stored] == ["t-1", "t-2"]
    assert stored[0]["hashed_email"] == GOLDEN["person@example.com"]
    assert stored[0]["hashed_ip_address"] == sha(IP)
    assert stored[1]["hashed_first_name_sdx"] == "T231" and stored[1]["hashed_city_sdx"] == "L252"


def test_v2_partial_acceptance_keeps_the_good_records(fresh):
    fresh.batch_mode = "partial"
    rows = section_7_rows()
    rows.append(dict(rows[0], transaction_id="t-old", timestamp=int(time.time()) - 40 * 86400))
    with SnapCapiClient(TOKEN, fresh.url, api_version="v2") as client:
        report = send_rows(client, iter_chunks(rows), assets=Assets(pixel_id=PIXEL),
                           event_options=EventOptions(event_name="SIGN_UP", default_phone_region="US",
                                                      max_event_age_days=60))
    assert (report.accepted, report.rejected, report.requests) == (2, 1, 1)
    assert report.rejections.examples[0]["row"] == 2


def test_v2_never_puts_the_token_in_the_url(fresh, caplog):
    caplog.set_level(logging.DEBUG)
    with SnapCapiClient(TOKEN, fresh.url, api_version="v2", debug=True) as client:
        response = client.get_json(*client.stats_path(PIXEL))
    assert response.ok and response.body["status"] == "SUCCESS"
    assert fresh.requests[-1].path == "/v2/conversion/validate/stats"
    assert TOKEN not in caplog.text and "Snap CAPI GET /v2/conversion/validate/stats -> 200" in caplog.text


# ----------------------------------------------------------------------------------------- Launch Pad


class CapturingAdapter(BaseAdapter):
    """Answers every request with a canned 200 and keeps the prepared requests."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):
        self.sent.append(request)
        response = requests.Response()
        response.status_code, response.url, response.request = 200, request.url, request
        response._content = b'{"status":"VALID","reason":"ok"}'
        return response

    def close(self) -> None:
        pass


@pytest.mark.parametrize("base_url", ["https://launchpad.example.com/snap-relay",
                                      "https://launchpad.example.com/snap-relay/",
                                      "launchpad.example.com/snap-relay"])
@pytest.mark.parametrize(("api_version", "validate", "path"), [
    ("v3", False, "/v3/PIX/events"), ("v3", True, "/v3/PIX/events/validate"),
    ("v2", False, "/v2/conversion"), ("v2", True, "/v2/conversion/validate"),
])
def test_launch_pad_base_url_keeps_its_path_prefix(base_url, api_version, validate, path):
    adapter = CapturingAdapter()
    with SnapCapiClient(TOKEN, base_url, api_version=api_version) as client:
        client._session.mount("https://", adapter)
        client.post_events("PIX", b'{"data":[]}', validate=validate)
        client.get_json(*client.stats_path("PIX"))
        client.get_json(*client.logs_path("PIX"))
    urls = [request.url for request in adapter.sent]
    prefix = "https://launchpad.example.com/snap-relay"
    stats = ("/v3/PIX/events/validate/stats" if api_version == "v3"
             else "/v2/conversion/validate/stats?asset_id=PIX")
    if api_version == "v3":
        assert urls[0] == f"{prefix}{path}?access_token={TOKEN}"
        assert urls[1] == f"{prefix}{stats}?access_token={TOKEN}"
        assert urls[2] == f"{prefix}/v3/PIX/events/validate/logs?access_token={TOKEN}"
    else:
        assert urls == [f"{prefix}{path}", f"{prefix}{stats}",
                        f"{prefix}/v2/conversion/validate/logs?asset_id=PIX"]
    assert all(request.headers["Authorization"] == f"Bearer {TOKEN}" for request in adapter.sent)


def test_plain_http_is_refused_except_to_loopback():
    from snap_capi_provider.core.client import SnapCapiError, check_base_url

    assert check_base_url("http://127.0.0.1:8787/prefix/") == "http://127.0.0.1:8787/prefix"
    with pytest.raises(SnapCapiError, match="https"):
        check_base_url("http://launchpad.example.com/snap-relay")


@pytest.mark.parametrize(("host", "port", "url"), [
    ("https://launchpad.example.com/snap-relay", 8443, "https://launchpad.example.com:8443/snap-relay"),
    ("https://launchpad.example.com:9443/snap-relay", 8443, "https://launchpad.example.com:9443/snap-relay"),
    ("https://tr.snapchat.com", None, "https://tr.snapchat.com"),
    ("http://127.0.0.1", 8787, "http://127.0.0.1:8787"),
])
def test_connection_port_goes_into_the_host_not_after_the_path(monkeypatch, host, port, url):
    from snap_capi_provider.hooks.snap_capi import SnapCapiHook

    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_LP", json.dumps(
        {"conn_type": "snap_capi", "host": host, "port": port, "password": TOKEN,
         "extra": {"pixel_id": "PIX"}}))
    hook = SnapCapiHook("snap_capi_lp")
    assert hook.settings.base_url == url
    with hook.get_conn() as client:
        assert client.base_url == url
        assert TOKEN not in repr(client) and TOKEN not in repr(hook.settings)
