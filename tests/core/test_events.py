"""Rows to events with dirty input: every row ends as an event or a row-level reason, every bad
option or mapping as a clear error before anything is sent; event ids are stable (SNAP_CAPI.md
section 3; mistakes 5 to 8)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import hashlib

import numpy as np
import pandas as pd
import pytest

from snap_capi_provider.core.events import (
    ConfigError,
    EventOptions,
    MappingError,
    build_events,
    resolve_mapping,
)
from snap_capi_provider.core.wire import encode_v2, encode_v3
from tests.golden import GOLDEN

NOW = 1_790_000_000.0  # a fixed clock: 2026-09-21
OPTIONS = EventOptions(event_name="SIGN_UP", clock=lambda: NOW)
PURCHASE_MAPPING = {"em": "email", "event_time": "ts", "value": "amount", "currency": "currency"}


def build(rows: list[dict], mapping: dict | None = None, options: EventOptions = OPTIONS):
    frame = pd.DataFrame(rows, dtype=object)
    result = build_events(frame, resolve_mapping(list(frame.columns), mapping), options)
    assert sorted([*result.events.rows, *(row for row, _ in result.rejected)]) == list(range(len(rows)))
    return result


def reasons(result) -> dict[int, str]:
    return dict(result.rejected)


def one(value_key: str, value: object, **extra: object) -> dict:
    return {"email": "a@example.com", "ts": NOW - 60, **extra, value_key: value}


# ------------------------------------------------------------------------------------- mapping


def test_wrong_column_names_name_the_missing_and_the_available_columns():
    with pytest.raises(MappingError) as caught:
        resolve_mapping(["mail", "when"], {"em": "email", "event_time": "when"})
    assert str(caught.value) == ("field_mapping names missing column(s) ['email']. "
                                 "Available columns: ['mail', 'when'].")


def test_unknown_snap_fields_are_named_with_the_known_ones():
    with pytest.raises(MappingError, match=r"Unknown Snap field\(s\) in field_mapping: \['pn'\]\. Known"):
        resolve_mapping(["p", "t", "e"], {"pn": "p", "event_time": "t", "em": "e"})  # mistake 8


@pytest.mark.parametrize(("columns", "mapping", "message"), [
    (["email"], {"em": "email"}, "No column for event_time"),
    (["ts", "first_name"], {"event_time": "ts", "fn": "first_name"}, "No identity column"),
    (["ts", "ip"], {"event_time": "ts", "client_ip_address": "ip"}, "No identity column"),
    (["a", "b"], None, "No column for event_time"),
    (["email", "e-mail", "ts"], {"em": "email", "event_time": "ts", "email": "e-mail"}, "mapped twice"),
    (["email", "hashed_email", "ts"], None, "both map to Snap field 'em'"),
    (["email", "email", "ts"], {"em": "email", "event_time": "ts"}, "appear more than once"),
    (["email", "ts"], [("em", "email")], "must be a dict"),
])
def test_mappings_that_cannot_work_fail_before_sending(columns, mapping, message):
    with pytest.raises(MappingError, match=message):
        resolve_mapping(columns, mapping)


def test_columns_named_like_snap_fields_map_themselves():
    assert resolve_mapping(["Email", "phone_number", "timestamp", "other"], None) == {
        "em": "Email", "ph": "phone_number", "event_time": "timestamp"}


@pytest.mark.parametrize(("options", "message"), [
    ({"timezone": "Mars/Olympus_Mons"}, "not a known IANA time zone"),
    ({"default_phone_region": "XX"}, "default_phone_region 'XX'"),
    ({"max_event_age_days": 0}, "max_event_age_days must be positive"),
    ({"invalid_field_policy": "ignore"}, "must be 'reject' or 'drop'"),
    ({"date_order": "ymd"}, "date_order must be 'MDY' or 'DMY'"),
    ({"event_id_columns": "order_id"}, "must be a list of column names"),
])
def test_options_that_cannot_work_are_refused(options, message):
    with pytest.raises(ConfigError, match=message):
        EventOptions(**options)


def test_an_unknown_constant_event_name_is_a_clear_error():
    with pytest.raises(MappingError, match=r"event_name='ADD_TO_BASKET' is not accepted by Snap"):
        build([one("x", 1)], {"em": "email", "event_time": "ts"},
              EventOptions(event_name="ADD_TO_BASKET", clock=lambda: NOW))


# --------------------------------------------------------------------------------- dirty values


def test_mixed_types_in_one_column_each_get_a_value_or_a_reason():
    values = [16505551212, 16505551212.0, np.int64(16505551212), np.float64(16505551212.0),
              decimal.Decimal("16505551212"), b"+1 650 555 1212", "+1 (650) 555-1212",
              None, float("nan"), pd.NA, np.nan, decimal.Decimal("NaN"),
              b"\xff\xfe", 1e300, 10**60, True, ["x"]]
    rows = [{"email": None, "phone": v, "ts": NOW - 60} for v in values]
    result = build(rows, {"ph": "phone", "event_time": "ts"}, EventOptions(event_name="SIGN_UP",
                                                                          clock=lambda: NOW))
    got = reasons(result)
    assert result.events.rows == [0, 1, 2, 3, 4, 5, 6]
    assert set(result.events.digests["ph"]) == {GOLDEN["16505551212"]}
    assert {got[i] for i in (7, 8, 9, 10, 11)} == {"insufficient_identity"}  # absent, never hashed as ""
    assert [got[i] for i in range(12, 17)] == ["not_utf8", "imprecise_number", "number_too_large", "invalid_value_type",
                          "invalid_value_type"]  # a bool or a list is no phone number: never str()-ed


def test_non_ascii_emoji_and_very_long_strings():
    rows = [
        one("first_name", "Zoë 🙂"),
        one("first_name", "🙂🙂"),  # nothing left after normalization: absent
        one("first_name", "Ａｌｉｃｅ"),  # full-width letters are the letters they stand for
        one("email", "ünïcode.ß@exämple.com"),
        one("email", "a" * 1_000_000 + "@example.com"),  # over the length cap: refused before any regex
        one("city", "x" * 100_000 + " City"),
        one("email", "🙂@🙂.🙂"),  # no valid domain
    ]
    result = build(rows, {"em": "email", "fn": "first_name", "ct": "city", "event_time": "ts"})
    assert result.rejected == [(4, "value_too_long"), (5, "value_too_long"), (6, "invalid_email")]
    assert result.events.plain["fn"][:3] == ["zoë", None, "alice"]
    assert result.events.plain["em"][3] == "ünïcode.ß@exämple.com"
    assert all(len(d) == 64 for d in result.events.digests["em"])


@pytest.mark.parametrize(("value", "options", "expected"), [
    (dt.datetime(2026, 9, 21, 10, 0, tzinfo=dt.timezone.utc), {}, None),
    (pd.Timestamp("2026-09-21T10:00:00Z"), {}, None),
    ("2026-09-21T12:00:00+02:00", {}, None),
    (dt.datetime(2026, 9, 21, 10, 0), {}, "naive_event_time"),  # mistake 5: never read in local time
    ("2026-09-21 10:00:00", {}, "naive_event_time"),
    (pd.Timestamp("2026-09-21 10:00:00"), {}, "naive_event_time"),
    (dt.datetime(2026, 9, 21, 12, 0), {"timezone": "Europe/Paris"}, None),
    (np.datetime64("2026-09-21T10:00:00"), {"timezone": "UTC"}, None),
    (np.datetime64("NaT"), {}, "missing_event_time"),
    (pd.NaT, {}, "missing_event_time"),
    (1789992000, {}, None),  # seconds
    (1789992000_000, {}, None),  # milliseconds (mistake 5)
    (1789992000_000_000, {}, None),  # microseconds
    ("1789992000000", {}, None),
    (decimal.Decimal("1789992000.9"), {}, None),
    (NOW - 38 * 86400, {}, "event_too_old"),  # mistake 6: told, never skipped silently
    (NOW + 3600, {}, "event_in_future"),
    (NOW + 200, {}, None),  # within the allowed skew
    (-5, {}, "invalid_event_time"),
    (10**400, {}, "invalid_event_time"),
    (float("inf"), {}, "invalid_event_time"),
    ("yesterday-ish", {}, "invalid_event_time"),
    ("N/A", {}, "missing_event_time"), ("NULL", {}, "missing_event_time"), (" - ", {}, "missing_event_time"),
    ("0", {}, "missing_event_time"),  # an export's word for no time: missing, not unreadable
    ("12:30", {}, "invalid_event_time"),  # a time of day: no date, never filled from today
    (True, {}, "invalid_event_time"),
    (dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc), {}, "event_too_old"),
])
def test_event_times(value, options, expected):
    result = build([one("ts", value)], {"em": "email", "event_time": "ts"},
                   EventOptions(event_name="SIGN_UP", clock=lambda: NOW, **options))
    if expected is None:
        assert result.rejected == []
        seconds = result.events.plain["event_time"][0]
        assert type(seconds) is int and 1789900000 < seconds <= NOW + 300
    else:
        assert reasons(result) == {0: expected}


def test_event_times_are_utc_seconds():
    result = build([one("ts", "2026-09-21T12:00:00+02:00"), one("ts", 1789992000_000)],
                   {"em": "email", "event_time": "ts"})
    assert result.events.plain["event_time"] == [1789984800, 1789992000]


@pytest.mark.parametrize(("name", "expected"), [
    ("purchase", "PURCHASE"), ("Add To Cart", "ADD_CART"), ("add-cart", "ADD_CART"),
    ("spend_credits", "SPENT_CREDITS"),
    ("page view", "PAGE_VIEW"), ("BUY_NOW", "unknown_event_name"), ("", "missing_event_name"),
])
def test_event_names(name, expected):
    result = build([one("event", name, amount=1, currency="EUR")],
                   {**PURCHASE_MAPPING, "event_name": "event"},
                   EventOptions(clock=lambda: NOW))
    if expected.isupper():
        assert result.events.plain["event_name"] == [expected]
    else:
        assert reasons(result) == {0: expected}


@pytest.mark.parametrize(("row", "expected"), [
    ({"amount": 10, "currency": None}, "purchase_missing_currency"),
    ({"amount": None, "currency": "usd"}, "purchase_missing_value"),
    ({"amount": "12,345", "currency": "EUR"}, "invalid_value"),
    ({"amount": -1, "currency": "EUR"}, "invalid_value"),
    ({"amount": "1e999999", "currency": "EUR"}, "invalid_value"),
    ({"amount": 10, "currency": "$"}, "invalid_currency"),  # US, Canadian, Mexican...: never guessed
    ({"amount": "19.99", "currency": "€"}, None),
    ({"amount": decimal.Decimal("19.99"), "currency": "eur"}, None),
])
def test_purchase_needs_currency_and_value(row, expected):
    result = build([one("x", 0, **row)], PURCHASE_MAPPING,
                   EventOptions(event_name="purchase", clock=lambda: NOW))
    if expected:
        assert reasons(result) == {0: expected}
    else:
        assert result.events.plain["currency"] == ["EUR"] and result.events.plain["value"] == [19.99]


def test_invalid_field_policy_drop_keeps_the_row_without_the_bad_value():
    rows = [one("phone", "not a phone"), one("phone", "+1 650 555 1212")]
    options = EventOptions(event_name="SIGN_UP", clock=lambda: NOW, invalid_field_policy="drop")
    result = build(rows, {"em": "email", "ph": "phone", "event_time": "ts"}, options)
    assert result.rejected == [] and result.events.plain["ph"] == [None, "16505551212"]
    assert result.warnings == {"dropped_invalid_phone": 1}


def test_values_are_sent_as_snap_expects_at_the_event_root():
    result = build([one("order", "A-1", amount=5, currency="usd")],
                   {**PURCHASE_MAPPING, "event_id": "order"},
                   EventOptions(event_name="PURCHASE", clock=lambda: NOW))
    event = encode_v3(result.events)[0]
    assert event["event_id"] == "A-1" and "event_id" not in event.get("custom_data", {})  # mistake 7
    assert event["user_data"]["em"] == [hashlib.sha256(b"a@example.com").hexdigest()]
    assert set(event["user_data"]) == {"em"}  # only keys from the catalogue (mistake 8)
    assert encode_v2(result.events, {"pixel_id": "p"})[0]["client_dedup_id"] == "A-1"


def test_an_email_in_the_page_url_reaches_neither_wire_format_raw():
    result = build([one("url", "https://shop.example.com/thanks?email=Jane.Doe%40example.org", action="WEB")],
                   {"em": "email", "event_time": "ts", "event_source_url": "url", "action_source": "action"})
    v3, v2 = encode_v3(result.events)[0], encode_v2(result.events, {"pixel_id": "p"})[0]
    assert v3["event_source_url"] == v2["page_url"] == "https://shop.example.com/thanks?email=redacted"


# ------------------------------------------------------------------------------------ event ids


ROWS = [
    {"order": f"A-{i}", "store": i % 3, "email": f"u{i}@example.com", "ts": NOW - 100 - i, "amount": i,
     "currency": "USD"}
    for i in range(12)
]


@pytest.mark.parametrize(("mapping", "options"), [
    ({"event_id": "order"}, {}),
    ({}, {"event_id_columns": ("order", "store")}),
    ({"order_id": "order"}, {"event_name": "PURCHASE"}),
    ({}, {}),  # a hash of the event's content
])
def test_event_ids_are_stable_across_runs_row_order_and_chunking(mapping, options):
    base = {"em": "email", "event_time": "ts", "value": "amount", "currency": "currency", **mapping}
    opts = EventOptions(**{"event_name": "SIGN_UP", "clock": lambda: NOW, **options})

    def ids(rows, chunk):
        out = {}
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            result = build(part, base, opts)
            out |= {part[pos]["order"]: eid
                    for pos, eid in zip(result.events.rows, result.events.event_ids, strict=True)}
        return out

    first = ids(ROWS, 12)
    assert len(set(first.values())) == 12 and all(first.values())
    assert ids(list(reversed(ROWS)), 5) == first == ids(ROWS, 1)
    if "event_id" in mapping or options.get("event_name") == "PURCHASE":
        assert first == {f"A-{i}": f"A-{i}" for i in range(12)}


def test_event_id_columns_must_not_all_be_empty():
    rows = [one("order", None), one("order", "B-2"), one("order", b"\xff")]
    result = build(rows, {"em": "email", "event_time": "ts"},
                   EventOptions(event_name="SIGN_UP", clock=lambda: NOW, event_id_columns=("order",)))
    assert reasons(result) == {0: "missing_event_id", 2: "invalid_event_id_columns"}


def test_numbers_and_text_of_the_same_key_give_the_same_id():
    rows = [one("order", 42), one("order", "42"), one("order", 42.0)]
    result = build(rows, {"em": "email", "event_time": "ts"},
                   EventOptions(event_name="SIGN_UP", clock=lambda: NOW, event_id_columns=("order",)))
    assert len(set(result.events.event_ids)) == 1


def test_all_rows_invalid_give_an_empty_chunk_and_every_reason():
    rows = [one("email", "nope"), one("ts", None), {"email": None, "ts": NOW}]
    result = build(rows, {"em": "email", "event_time": "ts"})
    assert len(result.events) == 0
    assert reasons(result) == {0: "invalid_email", 1: "missing_event_time", 2: "insufficient_identity"}


def test_an_empty_frame_gives_nothing():
    frame = pd.DataFrame(columns=["email", "ts"])
    mapping = resolve_mapping(list(frame.columns), {"em": "email", "event_time": "ts"})
    result = build_events(frame, mapping, OPTIONS)
    assert (len(result.events), result.rejected) == (0, [])


def test_date_order_picks_how_a_swappable_birth_date_reads():
    rows = [one("dob", "12/11/1997"), one("dob", "26/12/1997"), one("dob", "11.12.1997")]
    mapping = {"em": "email", "event_time": "ts", "db": "dob"}
    us = build(rows, mapping).events.plain["db"]
    day_first = build(rows, mapping, dataclasses.replace(OPTIONS, date_order="DMY")).events.plain["db"]
    assert us == ["19971211", "19971226", "19971211"] and day_first == ["19971112", "19971226", "19971211"]


@pytest.mark.parametrize("options", [{"event_name": 5}, {"action_source": 5}, {"timezone": ["UTC"]}, {"timezone": 5},
                                     {"default_phone_region": 1}, {"max_event_age_days": "37"},
                                     {"max_future_skew_s": None}])
def test_options_a_template_rendered_to_another_type_are_a_clear_error(options):
    with pytest.raises(ConfigError, match=f"{next(iter(options))} must be"):
        EventOptions(**options)


def test_an_age_limit_past_snaps_37_days_is_warned_about(caplog):
    with caplog.at_level("WARNING", logger="snap_capi_provider.core.events"):
        EventOptions(max_event_age_days=37)
        assert caplog.records == []
        EventOptions(max_event_age_days=60)
    assert "Snap refuses events older than 37 days" in caplog.text
