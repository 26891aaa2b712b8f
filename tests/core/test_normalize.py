"""Every rule of SNAP_CAPI.md section 7, checked value by value and against the golden vectors."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib

import numpy as np
import pandas as pd
import pytest

from snap_capi_provider.core import normalize as n
from tests.golden import GOLDEN


@pytest.mark.parametrize(("plain", "digest"), GOLDEN.items())
def test_golden_vectors(plain, digest):
    assert n.sha256_hex(plain) == digest


@pytest.mark.parametrize(("raw", "rule", "golden"), [
    (" Person@Example.com ", n.email, "person@example.com"),
    ("+44 844 412 4653", n.phone, "448444124653"),
    ("John", n.name, "john"),
    ("Raphaël", n.name, "raphaël"),
    ("Menlo Park", n.city, "menlopark"),
    ("California", n.state, "ca"),
    ("CA", n.state, "ca"),
])
def test_raw_values_hash_to_golden(raw, rule, golden):
    text = n.to_text(raw)
    assert n.sha256_hex(rule(text)) == GOLDEN[golden]


def test_phone_with_default_region_hashes_to_golden():
    assert n.sha256_hex(n.phone("(650) 555-1212", "US")) == GOLDEN["16505551212"]


# --- text conversion -----------------------------------------------------------------------------

@pytest.mark.parametrize("absent", [None, float("nan"), pd.NA, pd.NaT, "", "   ", np.nan, decimal.Decimal("NaN")])
def test_absent_values_are_absent_not_hashed(absent):
    assert n.to_text(absent) is None


@pytest.mark.parametrize(("value", "text"), [
    (16505551212, "16505551212"),
    (16505551212.0, "16505551212"),  # ints widened to float by a NaN in the column
    (np.int64(42), "42"),
    (np.float64(1.5), "1.5"),
    (decimal.Decimal("42.50"), "42.50"),
    (decimal.Decimal("100"), "100"),
    (b"caf\xc3\xa9", "café"),
    ("Cafe\u0301", "Café"),  # NFC
    ("  padded  ", "padded"),
])
def test_to_text(value, text):
    assert n.to_text(value) == text


def test_bytes_that_are_not_utf8_are_an_invalid_value():
    with pytest.raises(n.InvalidValue) as exc:
        n.to_text(b"\xff\xfe")
    assert exc.value.reason == "not_utf8"


# --- pre-hashed pass-through (mistake 4) ------------------------------------------------------------

@pytest.mark.parametrize("rule", [n.email, n.phone, n.name, n.gender, n.date_of_birth, n.city, n.state,
                                  n.zip_code, n.country, n.external_id])
def test_prehashed_values_pass_through_lower_cased_and_never_hashed_twice(rule):
    digest = GOLDEN["person@example.com"]
    assert rule(digest.upper()) == digest
    assert n.sha256_hex(rule(digest.upper())) == digest


# --- em ----------------------------------------------------------------------------------------------

def test_email_keeps_dots_and_plus_tags():
    assert n.email("First.Last+promo@Gmail.com") == "first.last+promo@gmail.com"


@pytest.mark.parametrize("bad", ["not-an-email", "a@b", "@example.com", "a b@example.com", "a@@example.com"])
def test_email_must_look_like_an_address(bad):
    with pytest.raises(n.InvalidValue, match="invalid_email"):
        n.email(bad)


# --- ph (mistakes 1, 2, 3) -------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "region", "expected"), [
    ("+44 844 412 4653", None, "448444124653"),
    ("+448444124653", "US", "448444124653"),  # mistake 1: no "1" prepended to a number with a code
    ("(650) 555-1212", "US", "16505551212"),
    ("650.555.1212", "US", "16505551212"),  # mistake 1: dots removed
    ("+1 (650) 555-1212", None, "16505551212"),  # mistake 3: no + ( ) - left
    ("+44 (0)20 7946 0958", None, "442079460958"),  # (0) trunk after the country code
    ("0044 20 7946 0958", None, "442079460958"),  # leading 00
    ("07400 123456", "GB", "447400123456"),  # national trunk 0 dropped, code added
    ("448444124653", "US", "448444124653"),  # digits already carrying a code
    ("16505551212", None, "16505551212"),
])
def test_phone(raw, region, expected):
    assert n.phone(raw, region) == expected


def test_national_number_without_a_region_is_rejected_not_guessed():  # mistake 2
    with pytest.raises(n.InvalidValue, match="phone_without_country_code"):
        n.phone("07400 123456")
    with pytest.raises(n.InvalidValue):
        n.phone("(650) 555-1212")


@pytest.mark.parametrize("bad", ["abc", "+", "12", "++44"])
def test_phone_garbage_is_rejected(bad):
    with pytest.raises(n.InvalidValue):
        n.phone(bad, "US")


# --- fn / ln / ct / st / zp / ge / db / country ------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    ("Raphaël", "raphaël"), ("O'Brien", "obrien"), ("Jean-Luc", "jeanluc"), ("ANNA2", "anna"),
    ("Ümit", "ümit"), ("  Zoë ", "zoë"),
])
def test_names(raw, expected):
    assert n.name(n.to_text(raw)) == expected


def test_name_lower_case_is_not_casefold():
    assert n.name("Straße") == "straße"  # casefold would give "strasse"


@pytest.mark.parametrize(("raw", "expected"), [("Menlo Park", "menlopark"), ("St. Louis", "stlouis"),
                                               ("Paris 15", "paris"), ("São Paulo", "sãopaulo")])
def test_city(raw, expected):
    assert n.city(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [("California", "ca"), ("CA", "ca"), ("new york", "ny"),
                                               ("Ontario", "on"), ("ca.", "ca")])
def test_state(raw, expected):
    assert n.state(raw) == expected


@pytest.mark.parametrize(("raw", "country", "expected"), [
    ("94025-1234", None, "94025"), ("94025 1234", "us", "94025"), ("940251234", "us", "94025"),
    ("SW1A 1AA", "gb", "sw1a1aa"), ("K1A 0B1", None, "k1a0b1"),
])
def test_zip(raw, country, expected):
    assert n.zip_code(raw, country) == expected


@pytest.mark.parametrize(("raw", "expected"), [("Female", "f"), ("F", "f"), ("male", "m"), ("M", "m"),
                                               ("F.", "f"), ("m.", "m"), ("other", None), ("x", None),
                                               (".", None)])
def test_gender_unknown_is_absent(raw, expected):
    notes: dict[str, int] = {}
    assert n.normalize_column([raw], n.gender, notes=notes) == ([expected], [None])
    assert notes == ({} if expected else {"gender_not_m_or_f": 1})  # absent, and said in the report


@pytest.mark.parametrize("raw", ["N/A", "unknown", "NULL", "0"])
def test_a_placeholder_gender_is_counted_as_one(raw):
    notes: dict[str, int] = {}
    assert n.normalize_column([raw], n.gender, notes=notes) == ([None], [None])
    assert notes == {"placeholder_value": 1}


@pytest.mark.parametrize("raw", ["1997-12-26", "19971226", "12/26/1997", "1997/12/26", "26.12.1997",
                                 "1997-12-26T00:00:00"])
def test_date_of_birth(raw):
    assert n.date_of_birth(raw) == "19971226"


def test_date_of_birth_from_date_objects():
    values, errors = n.normalize_column([dt.date(1997, 12, 26), pd.Timestamp("1997-12-26")], n.date_of_birth)
    assert values == ["19971226", "19971226"] and errors == [None, None]


def test_date_of_birth_garbage_is_rejected():
    with pytest.raises(n.InvalidValue, match="invalid_date_of_birth"):
        n.date_of_birth("not a date")


@pytest.mark.parametrize(("raw", "expected"), [("United States", "us"), ("US", "us"), ("usa", "us"),
                                               ("Germany", "de"), ("DEU", "de"), ("uk", "gb"), ("fr", "fr")])
def test_country(raw, expected):
    assert n.country(raw) == expected


def test_unknown_country_is_rejected():
    with pytest.raises(n.InvalidValue, match="invalid_country"):
        n.country("Atlantis")


def test_external_id_keeps_case():
    assert n.external_id("User-ABC") == "User-ABC"
    assert n.sha256_hex(n.external_id("User-ABC")) == hashlib.sha256(b"User-ABC").hexdigest()


def test_device_ids_lower_case_with_hyphens():
    assert n.device_id("6D92078A-8246-4BA4-AE5B-76104861E7DC") == "6d92078a-8246-4ba4-ae5b-76104861e7dc"


@pytest.mark.parametrize(("raw", "expected"), [("203.0.113.7", "203.0.113.7"),
                                               ("2001:DB8::1", "2001:db8::1")])
def test_ip_address(raw, expected):
    assert n.ip_address(raw) == expected


def test_invalid_ip_is_rejected():
    with pytest.raises(n.InvalidValue, match="invalid_ip_address"):
        n.ip_address("999.1.1.1")


def test_currency_is_upper_case_iso_4217():
    assert n.currency("usd") == "USD"
    with pytest.raises(n.InvalidValue, match="invalid_currency"):
        n.currency("dollars")
    with pytest.raises(n.InvalidValue, match="invalid_currency"):
        n.currency("XYZ")


# --- event_time (mistake 5) ----------------------------------------------------------------------

SECONDS = 1732000000


@pytest.mark.parametrize("value", [
    SECONDS, SECONDS * 1000, SECONDS * 1_000_000, float(SECONDS), str(SECONDS), str(SECONDS * 1000),
    np.int64(SECONDS * 1000), decimal.Decimal(SECONDS),
    dt.datetime.fromtimestamp(SECONDS, dt.timezone.utc),
    pd.Timestamp(SECONDS, unit="s", tz="UTC"),
    pd.Timestamp(SECONDS, unit="s", tz="UTC").tz_convert("America/Los_Angeles"),
    "2024-11-19T07:06:40Z", "2024-11-19T08:06:40+01:00", "2024-11-19 07:06:40+00:00",
])
def test_event_time_to_seconds(value):
    assert n.event_time(value) == SECONDS


def test_naive_event_time_is_refused_without_a_timezone():
    with pytest.raises(n.InvalidValue, match="naive_event_time"):
        n.event_time(dt.datetime(2024, 11, 19, 7, 6, 40))
    with pytest.raises(n.InvalidValue, match="naive_event_time"):
        n.event_time("2024-11-19 07:06:40")


def test_naive_event_time_uses_the_configured_timezone():
    assert n.event_time(dt.datetime(2024, 11, 18, 23, 6, 40), "America/Los_Angeles") == SECONDS
    assert n.event_time("2024-11-19 08:06:40", "Europe/Paris") == SECONDS


@pytest.mark.parametrize("bad", ["yesterday-ish", -5, 0, True, "1e400"])
def test_invalid_event_time(bad):
    with pytest.raises(n.InvalidValue):
        n.event_time(bad)


# --- event names and action sources ----------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    ("purchase", "PURCHASE"), ("PURCHASE", "PURCHASE"), ("add_to_cart", "ADD_CART"), ("Add To Cart", "ADD_CART"),
    ("ADD_CART", "ADD_CART"), ("spend_credits", "SPENT_CREDITS"), ("page view", "PAGE_VIEW"),
    ("sign-up", "SIGN_UP"), ("custom_event_3", "CUSTOM_EVENT_3"),
])
def test_event_names(raw, expected):
    assert n.event_name(raw) == expected


def test_unknown_event_name_is_rejected():
    with pytest.raises(n.InvalidValue, match="unknown_event_name"):
        n.event_name("BOUGHT_A_THING")


@pytest.mark.parametrize(("raw", "expected"), [("web", "WEB"), ("offline", "OFFLINE"), ("app", "MOBILE_APP"),
                                               ("mobile_app", "MOBILE_APP")])
def test_action_sources(raw, expected):
    assert n.action_source(raw) == expected


# --- column application ----------------------------------------------------------------------------

def test_normalize_column_handles_mixed_types_and_reports_errors_per_row():
    column = pd.Series([" A@B.co ", None, float("nan"), pd.NA, "bad", b"x@y.io", 12], dtype=object)
    values, errors = n.normalize_column(column, n.email)
    assert values == ["a@b.co", None, None, None, None, "x@y.io", None]
    assert errors == [None, None, None, None, "invalid_email", None, "invalid_email"]  # 12 read as text


def test_normalize_column_with_context_reads_each_rows_region():
    values, errors = n.normalize_column(["07400 123456", "(650) 555-1212", "07400 123456"], n.phone,
                                        ["GB", "US", None])
    assert values == ["447400123456", "16505551212", None]
    assert errors == [None, None, "phone_without_country_code"]


def test_docs_field_reference_is_generated_from_the_catalogue():
    from pathlib import Path

    from snap_capi_provider.core.docs import render

    assert (Path(__file__).resolve().parents[2] / "docs" / "fields.md").read_text(encoding="utf-8") == render(), (
        "docs/fields.md is stale: run `python -m snap_capi_provider.core.docs > docs/fields.md`"
    )


def test_normalize_column_does_not_confuse_values_that_hash_alike():
    # 1 == 1.0 == True in Python, but they read differently: the per-value cache must keep them apart.
    values, errors = n.normalize_column([1, True, 1.0, "1", np.int64(1)], n.external_id)
    assert values == ["1", None, "1", "1", "1"] and errors == [None, "invalid_value_type", None, None, None]
