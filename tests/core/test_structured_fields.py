"""The structured v3 fields of SNAP_CAPI.md section 3: ``data_processing_options`` at the event root,
``app_data`` (``advertiser_tracking_enabled``, ``extinfo``) and ``custom_data.contents``: each rule, the
v3 wire, the invalid-field policy, automatic mapping; v2 has none of them (section 4)."""

from __future__ import annotations

import decimal

import numpy as np
import orjson
import pandas as pd
import pytest

from snap_capi_provider.core import normalize as n
from snap_capi_provider.core.events import EventOptions, build_events, resolve_mapping
from snap_capi_provider.core.wire import _v2_text, encode_v2, encode_v3, payloads_v3
from snap_capi_provider.emulator.validation import validate_v3_event

NOW = 1_790_000_000.0
OPTIONS = EventOptions(event_name="PURCHASE", clock=lambda: NOW)
EXTINFO = ["i2", "com.example.app", "1.0", "1.0 (1)", "17.1", "iPhone15,2", "en_US", "GMT-5", "carrier",
           "1179", "2556", "3", "6", "256", "120", "America/New_York"]
CONTENTS = [{"id": "sku-1", "quantity": 1, "item_price": 42.5}]
DEEP = "[" * 100_000 + "]" * 100_000  # past Python's stack: json.loads raises RecursionError


def row(**cells: object) -> dict:
    return {"event_id": "order-8812", "email": "a@example.com", "event_time": int(NOW) - 60, "value": 42.5,
            "currency": "USD", **cells}


def build(rows: list[dict], options: EventOptions = OPTIONS, mapping: dict | None = None):
    frame = pd.DataFrame(rows, dtype=object)
    return build_events(frame, resolve_mapping(list(frame.columns), mapping), options)


# ------------------------------------------------------------------------------------------ rules


@pytest.mark.parametrize(("raw", "expected"), [
    ("LDU", ["LDU"]), (" ldu ", ["LDU"]), (["ldu"], ["LDU"]), (("LDU",), ["LDU"]), (np.array(["LDU"]), ["LDU"]),
    ('["LDU"]', ["LDU"]), ("LDU, ldu", ["LDU"]),
    ("", None), ("  ", None), ([], None), ("[]", None), (None, None), (float("nan"), None), (pd.NA, None),
])
def test_data_processing_options_accepts_ldu_in_any_form(raw, expected):
    assert n.data_processing_options(raw) == expected


@pytest.mark.parametrize("raw", ["OPT_OUT", ["LDU", "GDPR"], True, [True], ["LDU", ["LDU"]], '["LDU"', '{"a": 1}',
                                 '["LDU", {"a": 1}]', 1, DEEP, "LD\x00U", {"LDU": 1}])
def test_data_processing_options_refuses_unknown_options_and_odd_cells(raw):
    with pytest.raises(n.InvalidValue) as caught:
        n.data_processing_options(raw)
    assert caught.value.reason == "invalid_data_processing_options"


@pytest.mark.parametrize(("raw", "expected"), [
    (True, 1), (False, 0), (np.bool_(True), 1), (1, 1), (0, 0), (np.int64(1), 1), (1.0, 1), (0.0, 0),
    (decimal.Decimal("1"), 1), ("TRUE", 1), (" yes ", 1), ("No", 0), ("false", 0), ("1", 1), ("0", 0),
    (None, None), (float("nan"), None), (pd.NA, None), ("", None),
])
def test_advertiser_tracking_enabled_is_0_or_1(raw, expected):
    value = n.advertiser_tracking_enabled(raw)
    assert value == expected and (value is None or type(value) is int)


@pytest.mark.parametrize("raw", [2, -1, 0.5, "maybe", "on", "1.0", "y", [1], {"a": 1}, float("inf"), "tr\x00ue"])
def test_advertiser_tracking_enabled_refuses_anything_else(raw):
    with pytest.raises(n.InvalidValue) as caught:
        n.advertiser_tracking_enabled(raw)
    assert caught.value.reason == "invalid_advertiser_tracking_enabled"


@pytest.mark.parametrize("raw", [EXTINFO, tuple(EXTINFO), np.array(EXTINFO, dtype=object),
                                 orjson.dumps(EXTINFO).decode(),
                                 [*EXTINFO[:9], 1179, 2556, 3.0, np.int64(6), *EXTINFO[13:]]])
def test_extinfo_is_16_texts(raw):
    assert n.extinfo(raw) == EXTINFO


def test_extinfo_keeps_an_empty_item_empty_and_absent_cells_absent():
    assert n.extinfo([*EXTINFO[:8], "", *EXTINFO[9:]])[8] == ""
    assert [n.extinfo(cell) for cell in (None, "", float("nan"), pd.NA)] == [None] * 4


@pytest.mark.parametrize("raw", [EXTINFO[:15], [*EXTINFO, "x"], [], "[]", "i2", '{"a": 1}', 16,
                                 [*EXTINFO[:15], None], [*EXTINFO[:15], True], [*EXTINFO[:15], {"a": 1}],
                                 [*EXTINFO[:15], ["x"]], [*EXTINFO[:15], float("nan")], [*EXTINFO[:15], "\ud800"],
                                 '["i2"', DEEP])
def test_extinfo_refuses_other_lengths_and_items_that_are_no_text(raw):
    with pytest.raises(n.InvalidValue) as caught:
        n.extinfo(raw)
    assert caught.value.reason == "invalid_extinfo"


@pytest.mark.parametrize(("raw", "expected"), [
    (CONTENTS, CONTENTS), (orjson.dumps(CONTENTS).decode(), CONTENTS), (tuple(CONTENTS), CONTENTS),
    ([{"id": 8812}], [{"id": "8812"}]),
    ([{"id": " sku-1 ", "quantity": np.int64(2)}], [{"id": "sku-1", "quantity": 2}]),
    ([{"id": "a", "quantity": 3.0, "item_price": 7}], [{"id": "a", "quantity": 3, "item_price": 7.0}]),
    ([{"id": "a", "quantity": None, "item_price": float("nan")}], [{"id": "a"}]),  # a warehouse struct's nulls
    ([{"id": "a"}, {"id": "b", "item_price": decimal.Decimal("9.99")}], [{"id": "a"}, {"id": "b", "item_price": 9.99}]),
    ([], None), ("[]", None), ("", None), (None, None), (float("nan"), None),
])
def test_contents_are_line_items(raw, expected):
    assert n.contents(raw) == expected


@pytest.mark.parametrize("raw", [
    [{"id": "sku-1", "price": 42.5}], [{"id": "sku-1", "quantity": 1, "brand": "x"}], [{"quantity": 1}],
    [{"id": ""}], [{"id": None}], [{"id": True}], [{"id": ["x"]}], [{"id": "a", "quantity": -1}],
    [{"id": "a", "quantity": 1.5}], [{"id": "a", "quantity": True}], [{"id": "a", "quantity": "1.5"}],
    [{"id": "a", "quantity": 10**30}], [{"id": "a", "item_price": True}], [{"id": "a", "item_price": float("inf")}],
    [{"id": "a", "item_price": "4 2"}], [{"id": "a", "item_price": 10**400}], ["sku-1"], [["sku-1"]],
    {"id": "sku-1"}, '{"id": "sku-1"}', "sku-1", '[{"id": "a"}', '[{"id": "a", "item_price": Infinity}]', DEEP, 5,
])
def test_contents_refuse_unknown_keys_and_bad_items(raw):
    with pytest.raises(n.InvalidValue) as caught:
        n.contents(raw)
    assert caught.value.reason == "invalid_contents"


def test_a_structured_column_reads_each_distinct_text_once_and_keeps_lists_as_they_are():
    values, errors = n.normalize_column(['["LDU"]', '["LDU"]', ["ldu"], None, "GDPR"], n.data_processing_options)
    assert values == [["LDU"], ["LDU"], ["LDU"], None, None]
    assert errors == [None, None, None, None, "invalid_data_processing_options"]
    assert values[0] is values[1]


# ------------------------------------------------------------------------------------------- wire


def test_the_v3_event_carries_them_where_section_3_shows():
    rows = [row(data_processing_options="LDU", advertiser_tracking_enabled=True, extinfo=EXTINFO,
                contents=orjson.dumps(CONTENTS).decode(), content_ids="sku-1"),
            row(event_id="order-8813", data_processing_options=["LDU"], advertiser_tracking_enabled="1",
                extinfo=np.array(EXTINFO, dtype=object), contents=CONTENTS, content_ids=["sku-1"])]
    result = build(rows)
    assert result.rejected == [] and result.warnings == {}
    for payload in payloads_v3(result.events):
        event = orjson.loads(payload)
        assert event["data_processing_options"] == ["LDU"]
        assert event["app_data"] == {"advertiser_tracking_enabled": 1, "extinfo": EXTINFO}
        assert event["custom_data"] == {"contents": CONTENTS, "content_ids": ["sku-1"], "value": 42.5,
                                        "currency": "USD"}
        assert set(event) == {"event_id", "event_name", "action_source", "event_time", "user_data", "custom_data",
                              "app_data", "data_processing_options"}
        assert validate_v3_event(event, NOW, 37 * 86400, 300) == ([], [])  # the strict emulator takes it


def test_an_event_without_them_has_no_app_data_and_no_empty_lists():
    result = build([row(data_processing_options="LDU", advertiser_tracking_enabled=0, extinfo=EXTINFO,
                        contents=CONTENTS),
                    row(event_id="order-2", data_processing_options="", advertiser_tracking_enabled=None,
                        extinfo=None, contents="[]"),
                    row(event_id="order-3", data_processing_options=[], advertiser_tracking_enabled=float("nan"),
                        extinfo="", contents=[])])
    assert result.rejected == []
    first, *others = encode_v3(result.events)
    assert first["app_data"] == {"advertiser_tracking_enabled": 0, "extinfo": EXTINFO}  # 0 is a value
    for event in others:
        assert "app_data" not in event and "data_processing_options" not in event
        assert event["custom_data"] == {"value": 42.5, "currency": "USD"}


def test_app_data_has_only_the_keys_the_event_has():
    (event,) = encode_v3(build([row(advertiser_tracking_enabled="no")]).events)
    assert event["app_data"] == {"advertiser_tracking_enabled": 0}
    (event,) = encode_v3(build([row(extinfo=EXTINFO)]).events)
    assert event["app_data"] == {"extinfo": EXTINFO}


# ------------------------------------------------------------------------------------ bad values


@pytest.mark.parametrize(("cells", "reason"), [
    ({"data_processing_options": "OPT_OUT"}, "invalid_data_processing_options"),
    ({"advertiser_tracking_enabled": 2}, "invalid_advertiser_tracking_enabled"),
    ({"extinfo": EXTINFO[:15]}, "invalid_extinfo"),
    ({"extinfo": DEEP}, "invalid_extinfo"),
    ({"contents": [{"id": "sku-1", "price": 42.5}]}, "invalid_contents"),
    ({"contents": "[" * 100_000}, "invalid_contents"),
    ({"content_ids": [["nested"], "sku"]}, "invalid_content_ids"),
])
def test_a_bad_value_rejects_the_row_with_invalid_key(cells, reason):
    result = build([row(), row(event_id="bad", **cells)])
    assert result.rejected == [(1, reason)] and len(result.events) == 1


@pytest.mark.parametrize(("cells", "key"), [
    ({"advertiser_tracking_enabled": "maybe"}, "advertiser_tracking_enabled"),
    ({"extinfo": ["i2"]}, "extinfo"),
    ({"contents": [{"quantity": 1}]}, "contents"),
    ({"content_ids": [True]}, "content_ids"),
])
def test_policy_drop_keeps_the_row_without_the_bad_value(cells, key):
    result = build([row(event_id="bad", **cells)], EventOptions(event_name="PURCHASE", clock=lambda: NOW,
                                                                invalid_field_policy="drop"))
    assert result.rejected == [] and result.warnings == {f"dropped_invalid_{key}": 1}
    (event,) = encode_v3(result.events)
    assert key not in event.get("app_data", {}) and key not in event["custom_data"] and "app_data" not in event


def test_a_bad_privacy_option_rejects_the_row_even_under_policy_drop():
    """Sending the event without the Limited Data Use its row asked for would be worse than not sending it."""
    result = build([row(data_processing_options="LDU;")], EventOptions(event_name="PURCHASE", clock=lambda: NOW,
                                                                       invalid_field_policy="drop"))
    assert result.rejected == [(0, "invalid_data_processing_options")] and result.warnings == {}


# --------------------------------------------------------------------------------------- mapping


def test_automatic_mapping_picks_up_the_new_columns():
    columns = ["email", "event_time", "data_processing_options", "advertiser_tracking_enabled", "extinfo",
               "contents", "Data Processing Options"]
    assert resolve_mapping(columns[:6], None) == {
        "em": "email", "event_time": "event_time", "data_processing_options": "data_processing_options",
        "advertiser_tracking_enabled": "advertiser_tracking_enabled", "extinfo": "extinfo", "contents": "contents"}
    assert resolve_mapping(["email", "event_time", "Data Processing Options"], None)["data_processing_options"] == (
        "Data Processing Options")


def test_an_explicit_mapping_names_them():
    mapping = {"em": "mail", "event_time": "ts", "data_processing_options": "privacy",
               "advertiser_tracking_enabled": "att", "extinfo": "device", "contents": "items"}
    assert resolve_mapping(list(mapping.values()), mapping) == mapping
    frame_row = {"mail": "a@example.com", "ts": int(NOW) - 60, "privacy": "ldu", "att": "yes", "device": EXTINFO,
                 "items": CONTENTS}
    result = build([frame_row], EventOptions(event_name="SIGN_UP", clock=lambda: NOW), mapping)
    (event,) = encode_v3(result.events)
    assert event["data_processing_options"] == ["LDU"] and event["custom_data"] == {"contents": CONTENTS}
    assert event["app_data"] == {"advertiser_tracking_enabled": 1, "extinfo": EXTINFO}


# -------------------------------------------------------------------------------------------- v2


def test_v2_payloads_do_not_carry_them():
    result = build([row(data_processing_options="LDU", advertiser_tracking_enabled=1, extinfo=EXTINFO,
                        contents=CONTENTS)])
    (event,) = encode_v2(result.events, {"pixel_id": "p"})
    new_keys = {"data_processing_options", "advertiser_tracking_enabled", "extinfo", "contents", "app_data"}
    assert not new_keys & set(event)
    assert all(type(value) is str for value in event.values())


def test_the_v2_price_is_positional_never_scientific():
    (event,) = encode_v2(build([row(value=0.00001)]).events, {"pixel_id": "p"})
    assert event["price"] == "0.00001"
    (event,) = encode_v2(build([row(value="42.50")]).events, {"pixel_id": "p"})
    assert event["price"] == "42.5"


@pytest.mark.parametrize(("value", "text"), [(1e-05, "0.00001"), (42.5, "42.5"), (42.0, "42"), (0.0, "0"),
                                             (1e16, "10000000000000000"), (0.1 + 0.2, "0.30000000000000004"),
                                             (123456789.125, "123456789.125"), (7, "7")])
def test_v2_numbers_as_text(value, text):
    assert _v2_text(value) == text


def test_a_v2_row_asking_for_limited_data_use_is_rejected_never_sent_without_it():
    from snap_capi_provider.core.options import Assets
    from snap_capi_provider.core.prepare import prepare_chunk

    frame = pd.DataFrame([row(data_processing_options="LDU"), row(event_id="order-2")], dtype=object)
    mapping = resolve_mapping(list(frame.columns), None)
    prepared = prepare_chunk(frame, mapping, OPTIONS, [0, 1], "v2", Assets(pixel_id="p"))
    assert prepared.rejected == [(0, "data_processing_options_not_in_v2")]
    assert prepared.groups["p"][0] == [1]
    assert len(prepare_chunk(frame, mapping, OPTIONS, [0, 1], "v3", Assets(pixel_id="p")).groups["p"][0]) == 2


@pytest.mark.parametrize(("item", "expected"), [
    ({"id": "a", "item_price": "9.99", "quantity": "2"}, {"id": "a", "quantity": 2, "item_price": 9.99}),
    ({"id": "a", "item_price": np.float32(9.99)}, {"id": "a", "item_price": 9.99}),  # not 9.989999771118164
    ({"id": "a", "item_price": "$9.99"}, {"id": "a", "item_price": 9.99}),
])
def test_a_line_items_price_and_quantity_read_as_value_and_num_items_do(item, expected):
    assert n.normalize_column([[item]], n.contents) == ([[expected]], [None])


@pytest.mark.parametrize("price", [-5, 1e300, "1e300", "abc"])
def test_a_line_item_price_value_would_refuse_is_refused_never_sent_in_exponent_form(price):
    assert n.normalize_column([[{"id": "a", "item_price": price}]], n.contents) == ([None], ["invalid_contents"])
