"""Configurable answers to what SNAP_CAPI.md leaves open, and asset routing per version."""

from __future__ import annotations

import hashlib
import time

import pytest

from snap_capi_provider.core.client import SnapCapiClient
from snap_capi_provider.core.events import EventOptions
from snap_capi_provider.core.pipeline import Assets, send_rows
from snap_capi_provider.core.sources import iter_chunks
from tests.conftest import APP, PIXEL, TOKEN

MADID = "6D92078A-8246-4BA4-AE5B-76104861E7DC"


def app_rows() -> list[dict]:
    return [{"madid": MADID, "event_time": int(time.time()) - 60, "order_id": "o-1"}]


@pytest.mark.parametrize(("hash_madid", "expected"), [
    (False, MADID.lower()),
    (True, hashlib.sha256(MADID.lower().encode()).hexdigest()),
])
def test_madid_is_raw_lower_case_by_default_and_hashed_on_request(emulator, hash_madid, expected):
    with SnapCapiClient(TOKEN, emulator.url) as client:
        report = send_rows(client, iter_chunks(app_rows()), assets=Assets(pixel_id=PIXEL, snap_app_id=APP),
                           event_options=EventOptions(event_name="APP_OPEN", action_source="MOBILE_APP",
                                                      hash_madid=hash_madid))
    assert report.accepted == 1
    (event,) = emulator.accepted_events(APP)  # app events go to the Snap app id, not the pixel
    assert event["user_data"]["madid"] == expected


def test_v2_app_events_without_a_store_app_id_are_rejected_before_sending(emulator):
    with SnapCapiClient(TOKEN, emulator.url, api_version="v2") as client:
        report = send_rows(client, iter_chunks(app_rows()), assets=Assets(pixel_id=PIXEL, snap_app_id=APP),
                           event_options=EventOptions(event_name="APP_OPEN", action_source="MOBILE_APP"))
    assert (report.rows, report.accepted, report.rejected) == (1, 0, 1)
    assert report.rejections.by_reason == {"missing_app_id": 1}
    assert report.requests == 0


def test_v2_app_events_carry_snap_app_id_and_app_id(emulator):
    with SnapCapiClient(TOKEN, emulator.url, api_version="v2") as client:
        report = send_rows(client, iter_chunks(app_rows()),
                           assets=Assets(pixel_id=PIXEL, snap_app_id=APP, app_id="com.example.shop"),
                           event_options=EventOptions(event_name="APP_OPEN", action_source="MOBILE_APP"))
    assert report.accepted == 1
    (event,) = emulator.accepted_events()
    assert (event["snap_app_id"], event["app_id"]) == (APP, "com.example.shop")
    assert event["hashed_mobile_ad_id"] == hashlib.sha256(MADID.lower().encode()).hexdigest()
