"""The catalogue's own examples, the reason registry, and the stricter rules of issue 9 (one test per rule)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from snap_capi_provider.core import normalize as n
from snap_capi_provider.core.fields import FIELDS
from snap_capi_provider.core.reasons import NOTES, REASONS, describe

CORE = Path(n.__file__).resolve().parent


def _run(snap_field, raw, context):
    if snap_field.key == "event_time":
        values, errors = n.normalize_event_times([raw], "UTC" if context else None)
        return values[0], errors[0]
    ctx = None if context is None else [context]
    values, errors = n.normalize_column([raw], snap_field.rule, ctx)
    return values[0], errors[0]


EXAMPLES = [(f, ex, kind) for f in FIELDS for kind in ("accepted", "rejected") for ex in getattr(f, kind)]


@pytest.mark.parametrize(("snap_field", "example", "kind"), EXAMPLES,
                         ids=[f"{f.key}-{kind}-{i}" for i, (f, _, kind) in enumerate(EXAMPLES)])
def test_catalogue_examples_hold(snap_field, example, kind):
    raw, *context, expected = example
    value, error = _run(snap_field, raw, context[0] if context else None)
    if kind == "accepted":
        assert (value, error) == (expected, None)
    else:
        assert value is None and error == expected


def test_every_reason_the_code_emits_is_documented():
    emitted = set()
    for path in CORE.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        emitted |= set(re.findall(r'InvalidValue\("([a-z_0-9]+)"\)', source))
        emitted |= set(re.findall(r'reasons\[i\] = (?:reasons\[i\] or )?"([a-z_0-9]+)"', source))
        emitted |= set(re.findall(r'\(\w+, "([a-z_]+(?:_id|_large|_event_id))"', source))
        emitted |= {f"missing_{key}" for key in re.findall(r'_fill_constant\(plain, "([a-z_]+)"', source)}
        emitted |= set(re.findall(r'return None, "([a-z_]+)", None', source))
        emitted |= set(re.findall(r'"invalid_phone" if regions else "([a-z_]+)"', source))
    emitted -= {"event_id", "order_id", "app_id"}  # column names caught by the loose pattern
    missing = sorted(code for code in emitted if describe(code) is None)
    assert not missing, f"reason codes without an entry in core/reasons.py: {missing}"
    assert {"invalid_phone", "phone_without_country_code", "incomplete_date_of_birth", "invalid_value_type",
            "invalid_text_encoding", "missing_event_time", "insufficient_identity", "duplicate_event_id",
            "missing_pixel_id", "purchase_missing_currency", "event_too_old", "event_in_future"} <= set(REASONS)
    assert describe("dropped_invalid_email") and describe("snap_rejected: bad pixel")
    assert all(code.isascii() and " " not in code for code in (*REASONS, *NOTES))


def test_docs_list_every_reason():
    text = (CORE.parents[1] / "docs" / "fields.md").read_text(encoding="utf-8")
    assert all(f"`{code}`" in text for code in (*REASONS, *NOTES))


# --- cells that are not text ---------------------------------------------------------------------

@pytest.mark.parametrize("rule", [n.email, n.name, n.city, n.state, n.country, n.gender, n.currency, n.device_id,
                                  n.ip_address, n.event_name, n.action_source])
@pytest.mark.parametrize("cell", [{"a": 1}, [1, 2], {1, 2}, (1,), True, np.bool_(False), object(),
                                  dt.date(2020, 1, 1)])
def test_containers_bools_and_objects_are_rejected_not_stringified(rule, cell):
    values, errors = n.normalize_column([cell], rule)
    assert values == [None] and errors == ["invalid_value_type"]


@pytest.mark.parametrize("rule", [f.rule for f in FIELDS if f.rule is not None])
@pytest.mark.parametrize("cell", ["ab\ud800cd", "\udfff", "x\x00y", "a\x1bb", "é" * 3000])
def test_unencodable_control_and_overlong_text_is_a_row_reason_in_every_field(rule, cell):
    values, errors = n.normalize_column([cell], rule, ["us"])
    assert values == [None]
    if getattr(rule, "reads_cells", False):  # a structured field refuses with its own invalid_<key>
        assert errors[0] == rule.reason
    else:
        assert errors[0] in {"invalid_text_encoding", "invalid_control_character", "value_too_long"}


@pytest.mark.parametrize(("rule", "cell", "context", "expected"), [
    (n.name, "Mary\tAnn", None, "maryann"), (n.name, "Ann-\r\nMarie", None, "annmarie"),
    (n.city, "New\nYork", None, "newyork"), (n.state, "New\tYork", "us", "ny"),
    (n.zip_code, "94025\n1234", "us", "94025"), (n.zip_code, "SW1A\n1AA", "gb", "sw1a1aa"),
    (n.country, "United\nStates", None, "us"), (n.phone, "+1 650\n555 1212", "us", "16505551212"),
])
def test_a_line_break_inside_a_value_is_a_space_where_the_rule_drops_spaces(rule, cell, context, expected):
    assert n.normalize_column([cell], rule, None if context is None else [context]) == ([expected], [None])


@pytest.mark.parametrize(("rule", "cell"), [(n.email, "a\n@example.com"), (n.external_id, "id\n7"),
                                            (n.name, "a\x00b"), (n.city, "a\x1bb")])
def test_a_line_break_stays_a_control_character_where_spaces_count_and_nul_everywhere(rule, cell):
    assert n.normalize_column([cell], rule) == ([None], ["invalid_control_character"])


def test_bytes_that_are_not_utf8_are_rejected():
    assert n.normalize_column([b"\xff"], n.name) == ([None], ["not_utf8"])


@pytest.mark.parametrize(("rule", "cell", "expected"), [
    (n.phone, 16505551212, "16505551212"), (n.phone, 16505551212.0, "16505551212"),
    (n.external_id, 12.0, "12"), (n.external_id, np.int64(7), "7"), (n.amount, 3, 3.0),
    (n.count, np.float64(2.0), 2), (n.plain_text, 8812, "8812"),
])
def test_numbers_are_read_exactly_where_a_number_makes_sense(rule, cell, expected):
    assert n.normalize_column([cell], rule, ["US"] if rule is n.phone else None) == ([expected], [None])


@pytest.mark.parametrize(("cell", "country", "expected"), [
    (2134, "us", "02134"), (2134.0, "us", "02134"), (501, "us", "00501"),
    (94025, "us", "94025"), (21341234, "us", "02134"), (2000, "au", "2000"), (1067, "de", "01067"),
])
def test_int_zip_that_lost_its_leading_zero_gets_it_back(cell, country, expected):
    assert n.normalize_column([cell], n.zip_code, [country]) == ([expected], [None])


@pytest.mark.parametrize(("cell", "expected"), [(2134, "2134"), (2000, "2000"), (2000.0, "2000"), (800, "800"),
                                               (94025, "94025")])
def test_a_number_zip_without_a_country_is_read_as_written_like_its_text(cell, expected):
    # 2000 is Sydney's postcode as well as a Boston zip that lost its zero: no country, no padding.
    assert n.normalize_column([cell], n.zip_code, [None]) == ([expected], [None])
    assert n.normalize_column([str(cell)], n.zip_code, [None])[0] == [expected]


def test_zip_rejects_bools_and_non_zips():
    assert n.normalize_column([True, "n-a", "12"], n.zip_code, ["us", None, "us"])[1] == [
        "invalid_value_type", "invalid_zip", "invalid_zip"]


def test_a_zip_without_a_digit_is_no_postcode_and_a_placeholder_is_absent():
    cells = ["NULL", "None", "nan", "unknown", "n-a", "SW1A 1AA", "D02 X285", "00-950"]
    notes: dict[str, int] = {}
    values, errors = n.normalize_column(cells, n.zip_code, ["gb"] * len(cells), notes=notes)
    assert errors == [None] * 4 + ["invalid_zip"] + [None] * 3
    assert values == [None] * 5 + ["sw1a1aa", "d02x285", "00-950"]
    assert notes == {"placeholder_value": 4}


def test_n_slash_a_is_no_country_but_na_is_namibia():
    notes: dict[str, int] = {}
    assert n.normalize_column(["N/A", "n/a", "NA", "Namibia", "U.S.A."], n.country, notes=notes) == (
        [None, None, "na", "na", "us"], [None] * 5)
    assert notes == {"placeholder_value": 2}


@pytest.mark.parametrize("cell", ["-0", "-0.00", -0.0, 0, "0"])
def test_a_zero_amount_is_never_negative_zero(cell):
    values, errors = n.normalize_column([cell], n.amount)
    assert errors == [None] and str(values[0]) == "0.0"


# --- emails ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    ("mailto:Person@Example.com", "person@example.com"), ("MAILTO:a%2Bb@x.io?subject=hi", "a+b@x.io"),
    ('"Person, A" <Person@Example.com>', "person@example.com"), ("<a@b.co>", "a@b.co"),
    ("first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk"), ("josé@exämple.de", "josé@exämple.de"),
    ("Person@Example.com (Person A)", "person@example.com"), ("a@x.io(work)", "a@x.io"),  # RFC 822's comment
    ("John@Example.com.", "john@example.com"), ("<a@x.io.>", "a@x.io"),  # the DNS root's dot
])
def test_email_unwraps_and_keeps_dots_and_tags(raw, expected):
    assert n.email(raw) == expected


@pytest.mark.parametrize("bad", ["a@b", "a..b@x.com", ".a@x.com", "a.@x.com", "a@-x.com", "a@x-.com", "a@x.c",
                                 "a@x.123", "a@[1.2.3.4]", "a b@x.com", "x" * 65 + "@x.com",
                                 "a@" + "b" * 250 + ".com", "Name <a@x.com", "a@x.com>", "a@x_y.com",
                                 "a@x.com (b@y.com)", "(Name) a@x.com", "a@x.com (a (b))", "a@x.com ()x",
                                 "a@x.com..", "a@.", "a@x."])
def test_email_rejects_invalid_addresses(bad):
    with pytest.raises(n.InvalidValue, match="invalid_email"):
        n.email(bad)


# --- names, gender, states, countries ------------------------------------------------------------------

@pytest.mark.parametrize("apostrophe", ["'", "\u2019", "\u2018", "\u02bc", "\u02bb", "`", "\u00b4", "\uff07",
                                        "\u2032"])
def test_every_apostrophe_like_character_is_removed_from_names(apostrophe):
    assert n.name(f"O{apostrophe}Brien") == "obrien"
    assert n.name(f"N{apostrophe}Dèye") == "ndèye"


@pytest.mark.parametrize(("raw", "country", "expected"), [
    ("Québec", None, "qc"), ("Quebec", "ca", "qc"), ("Puerto Rico", None, "pr"), ("Guam", "us", "gu"),
    ("District of Columbia", None, "dc"), ("Washington, D.C.", "us", "dc"), ("Newfoundland and Labrador", "CA", "nl"),
    ("New South Wales", "au", "nsw"), ("São Paulo", "br", "sp"), ("Sao Paulo", "BR", "sp"), ("Jalisco", "mx", "jal"),
    ("Maharashtra", "in", "mh"), ("Baden-Württemberg", "de", "bw"), ("ca", "us", "ca"), ("Bavaria", "de", "by"),
])
def test_state_names_with_country_context(raw, country, expected):
    assert n.state(raw, country) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("Deutschland", "de"), ("España", "es"), ("Espana", "es"), ("Italia", "it"), ("Brasil", "br"), ("México", "mx"),
    ("日本", "jp"), ("Nederland", "nl"), ("Polska", "pl"), ("Österreich", "at"), ("Federal Republic of Germany", "de"),
    ("United Kingdom of Great Britain and Northern Ireland", "gb"), ("England", "gb"), ("U.S.A.", "us"),
    ("Korea, Republic of", "kr"), ("Российская Федерация", "ru"), ("Türkiye", "tr"), ("Sverige", "se"), ("fra", "fr"),
])
def test_country_names_english_official_and_native(raw, expected):
    assert n.country(raw) == expected


def test_codes_and_english_names_do_not_load_the_translated_names():
    from snap_capi_provider.core import places

    places.country.cache_clear()
    places._translated_country_names.cache_clear()
    assert [n.country(raw) for raw in ("US", "usa", "Germany", "United Kingdom", "fra")] == ["us", "us", "de", "gb",
                                                                                             "fr"]
    assert places._translated_country_names.cache_info().currsize == 0
    assert n.country("Allemagne") == "de" and n.country("中国") == "cn"


@pytest.mark.parametrize("bad", ["Atlantis", "zz", "xx", "Europe"])
def test_unknown_country_rejected(bad):
    with pytest.raises(n.InvalidValue, match="invalid_country"):
        n.country(bad)


# --- mobile ad ids ---------------------------------------------------------------------------------

UUID = "6d92078a-8246-4ba4-ae5b-76104861e7dc"


@pytest.mark.parametrize("raw", [UUID, UUID.upper(), "{" + UUID + "}", UUID.replace("-", ""),
                                 UUID.replace("-", "").upper()])
def test_madid_canonical_forms(raw):
    assert n.device_id(raw) == UUID


@pytest.mark.parametrize("bad", ["abc", UUID + "0", UUID[:-1], "{" + UUID, UUID.replace("-", "", 1), "g" * 32])
def test_madid_other_strings_rejected(bad):
    assert n.normalize_column([bad], n.device_id) == ([None], ["invalid_madid"])


def test_all_zero_madid_is_absent_and_counted():
    notes: dict[str, int] = {}
    zero = "00000000-0000-0000-0000-000000000000"
    values, errors = n.normalize_column([zero, UUID, zero.replace("-", ""), zero], n.device_id, notes=notes)
    assert values == [None, UUID, None, None] and errors == [None] * 4
    assert notes == {"madid_opted_out": 3}


# --- currencies, IPs ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "error"), [("XXX", "invalid_currency"), ("xts", "invalid_currency"),
                                            ("BTC", "invalid_currency"), (840, "invalid_currency"),
                                            ("$", "invalid_currency"), ("¥", "invalid_currency"),
                                            ("dollars", "invalid_currency"), ("kr", "invalid_currency"),
                                            ("C$", "invalid_currency"),  # Canada's, or Nicaragua's córdoba
                                            ("Rs", "invalid_currency"), ("元", "invalid_currency"),
                                            ("Gold", "invalid_currency"), ([], "invalid_value_type")])
def test_currency_rejects_no_currency_testing_non_codes_and_signs_of_several(raw, error):
    assert n.normalize_column([raw], n.currency) == ([None], [error])


@pytest.mark.parametrize(("raw", "expected"), [
    ("eur", "EUR"), ("Euro", "EUR"), ("EURO", "EUR"), ("euros", "EUR"), ("€", "EUR"), ("US Dollar", "USD"),
    ("US Dollars", "USD"), ("US$", "USD"), ("US $", "USD"), ("Pound Sterling", "GBP"), ("£", "GBP"),
    ("Canadian Dollar", "CAD"), ("CA$", "CAD"), ("R$", "BRL"), ("MX$", "MXN"), ("₹", "INR"), ("RMB", "CNY"),
    ("Yen", "JPY"), ("Swiss Franc", "CHF"), ("CFA Franc BEAC", "XAF"), ("円", "JPY"), ("zł", "PLN"), ("ZŁ", "PLN"),
    ("Kč", "CZK"), ("Ft", "HUF"), ("RM", "MYR"), ("Rp", "IDR"), ("S/", "PEN"), ("S$", "SGD"), ("₸", "KZT"),
])
def test_currency_names_and_signs_of_one_currency_read_as_its_code(raw, expected):
    assert n.normalize_column([raw], n.currency) == ([expected], [None])


@pytest.mark.parametrize(("raw", "expected"), [("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
("::FFFF:0102:0304", "::ffff:1.2.3.4"),
                                               ("[2001:db8::1]", "2001:db8::1"),
                                               ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1")])
def test_ip_rfc5952(raw, expected):
    assert n.ip_address(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [("fe80::1%eth0", "fe80::1"), ("[FE80::0:1%en0]", "fe80::1"),
                                               ("::ffff:1.2.3.4%25", "::ffff:1.2.3.4")])
def test_ip_zone_is_not_sent(raw, expected):
    assert n.ip_address(raw) == expected


@pytest.mark.parametrize("placeholder", ["N/A", "n/a", "#N/A", "NULL", "(null)", "None", "unknown", "Not applicable"])
@pytest.mark.parametrize("country", [None, "us", "ca", "de", "ng"])
def test_state_placeholder_is_absent_never_hashed(placeholder, country):
    notes: dict[str, int] = {}
    assert n.normalize_column([placeholder], n.state, [country], notes=notes) == ([None], [None])
    assert notes == {"placeholder_value": 1}


def test_state_names_that_look_like_placeholders_stay_states():
    assert n.state("NA") == "na" and n.state("Nebraska") == "ne" and n.state("Lombardy", "de") == "lombardy"


@pytest.mark.parametrize(("raw", "expected"), [("1.2.3.4:51234", "1.2.3.4"), ("[2001:DB8::1]:443", "2001:db8::1"),
                                               ("[fe80::1%eth0]:80", "fe80::1"),
                                               ("2001:db8::1:443", "2001:db8::1:443")])  # no brackets: all address
def test_ip_the_port_of_a_logged_address_is_not_sent(raw, expected):
    assert n.ip_address(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [("203.0.113.7, 10.0.0.1", "203.0.113.7"),
                                               ("2001:DB8::1,198.51.100.2", "2001:db8::1"),
                                               ("203.0.113.7:51234, 10.0.0.1", "203.0.113.7")])
def test_ip_an_x_forwarded_for_list_gives_the_client_the_first_address(raw, expected):
    assert n.ip_address(raw) == expected


@pytest.mark.parametrize("raw", ["0.0.0.0", "::", "0:0:0:0:0:0:0:0", "0.0.0.0:0", "[::]:443"])
def test_ip_the_unspecified_address_is_a_placeholder_absent_not_sent(raw):
    notes: dict[str, int] = {}
    assert n.normalize_column([raw], n.ip_address, notes=notes) == ([None], [None])
    assert notes == {"placeholder_value": 1}


@pytest.mark.parametrize("bad", ["1.2.3", "01.2.3.4", "1.2.3.4:", "1.2.3.4:123456", "256.1.1.1:80", "::g", "localhost",
                                 "1.2.3.4,", "1.2.3.4, unknown", "1.2.3.4, see notes", "1.2.3.4 5.6.7.8"])
def test_ip_invalid(bad):
    with pytest.raises(n.InvalidValue, match="invalid_ip_address"):
        n.ip_address(bad)


def test_normalize_column_accepts_a_series_and_aware_timestamps_keep_their_local_date():
    same_instant = [pd.Timestamp("1997-12-26T23:30:00-05:00"), pd.Timestamp("1997-12-27T04:30:00Z")]
    values, errors = n.normalize_column(pd.Series(same_instant, dtype=object), n.date_of_birth)
    assert values == ["19971226", "19971227"] and errors == [None, None]


# ------------------------------------------------------------------------- messy values seen in exports


@pytest.mark.parametrize("raw", ["N/A", "n/a", "#N/A", "NULL", "null", "None", "unknown", "Not Applicable", "#VALUE!"])
def test_placeholders_are_no_name_or_city_rather_than_hashed_letters(raw):
    for rule in (n.name, n.city):
        assert n.normalize_column([raw], rule) == ([None], [None])


@pytest.mark.parametrize("raw, expected", [("Na", "na"), ("Nan", "nan"), ("Nil", "nil"), ("Nunez", "nunez")])
def test_real_names_that_look_like_placeholders_stay(raw, expected):
    assert n.normalize_column([raw], n.name) == ([expected], [None])


def test_full_width_email_is_folded_to_the_address_it_spells():
    assert n.normalize_column(["ＡＢ@example.ｃｏｍ"], n.email) == (["ab@example.com"], [None])


@pytest.mark.parametrize("raw", ["\ufeffa@b.com", "\u200ea@b.com", "a@b.com\u200b", "\u202aa@b.com\u202c"])
def test_invisible_marks_around_a_value_are_trimmed_like_spaces(raw):
    assert n.normalize_column([raw], n.email) == (["a@b.com"], [None])


def test_an_ipv4_address_is_ascii_digits_only():
    assert n.normalize_column(["１.２.３.４"], n.ip_address) == ([None], ["invalid_ip_address"])


@pytest.mark.parametrize("raw", ["phone_call", "email", "chat", "system_generated", "business_messaging",
                                 "physical_store", "PhoneCall"])
def test_metas_offline_action_sources_are_offline(raw):
    assert n.action_source(raw) == "OFFLINE"


@pytest.mark.parametrize("raw, expected", [("AddToWishlist", "ADD_TO_WISHLIST"), ("StartTrial", "START_TRIAL"),
                                           ("InitiateCheckout", "START_CHECKOUT"), ("AddPaymentInfo", "ADD_BILLING"),
                                           ("CompleteRegistration", "SIGN_UP"), ("CustomEvent1", "CUSTOM_EVENT_1"),
                                           ("addToCart", "ADD_CART"), ("PURCHASE", "PURCHASE")])
def test_camel_case_event_names_read_like_their_snake_case(raw, expected):
    assert n.event_name(raw) == expected


def test_numbers_in_text_fields_are_read_as_text_not_refused():
    # SNAP_CAPI.md section 7: "value to text (ints fine)"; the field's rule then decides.
    assert n.normalize_column([1, 0], n.gender) == ([None, None], [None, None])  # no m or f: absent
    assert n.normalize_column([94025], n.city) == ([None], [None])  # no letters: absent
    assert n.normalize_column([12], n.email) == ([None], ["invalid_email"])
    assert n.normalize_column([True, ["x"]], n.name) == ([None, None], ["invalid_value_type"] * 2)


@pytest.mark.parametrize("header, key", [("First Name", "fn"), ("Last Name", "ln"), ("Email Address", "em"),
                                         ("E-mail", "em"), ("Phone Number", "ph"), ("Zip Code", "zp"),
                                         ("Postal Code", "zp"), ("IP Address", "client_ip_address"),
                                         ("User-Agent", "client_user_agent"), ("Mobile Phone", "ph"),
                                         ("mobile_number", "ph"), ("Cell Phone", "ph"), ("Telephone", "ph"),
                                         ("PhoneNumber", "ph"), ("EmailAddress", "em"), ("OrderID", "order_id"),
                                         ("IPAddress", "client_ip_address"), ("fname", "fn"), ("Family Name", "ln"),
                                         ("sex", "ge"), ("msisdn", "ph")])
def test_spreadsheet_headers_with_spaces_or_hyphens_name_their_field(header, key):
    from snap_capi_provider.core import fields

    assert fields.resolve(header).key == key


@pytest.mark.parametrize("raw, expected", [('["sku-1", "sku-2"]', ["sku-1", "sku-2"]),
                                           ("sku-1, sku-2", ["sku-1", "sku-2"]), (["sku-1", 2], ["sku-1", "2"])])
def test_content_ids_from_a_list_a_json_array_or_commas(raw, expected):
    assert n.string_list(raw) == expected


@pytest.mark.parametrize("raw", [True, [True], '["sku-1"', '[{"a": 1}]'])
def test_content_ids_that_are_no_ids_are_refused(raw):
    with pytest.raises(n.InvalidValue):
        n.string_list(raw)


@pytest.mark.parametrize("raw", ["$42.50", "42.50 USD", "USD 42.50", "€42.50"])
def test_an_amount_written_with_its_currency_sign_or_code_is_the_amount(raw):
    assert n.normalize_column([raw], n.amount) == ([42.5], [None])


@pytest.mark.parametrize("raw, expected", [
    ("$1,299.00", 1299.0), ("1,000,000", 1e6), ("1,00,000.00", 1e5), ("12,34,567", 1234567.0),  # comma groups
    ("1.299,00 EUR", 1299.0), ("1.000.000", 1e6), ("1.000.000,50", 1000000.5),  # dot groups, decimal comma
    ("1 299,00", 1299.0), ("1\u00a0299,00 €", 1299.0), ("1\u202f299,00", 1299.0), ("1'299.00", 1299.0),
    ("42,50", 42.5), ("EUR 42,50", 42.5), ("0,999", 0.999), ("1234,567", 1234.567),  # decimal comma
    ("1.299", 1.299),  # a dot alone is the decimal point, as machines write amounts
])
def test_amounts_written_with_thousands_separators_or_a_decimal_comma(raw, expected):
    assert n.normalize_column([raw], n.amount) == ([expected], [None])


@pytest.mark.parametrize("raw, expected", [
    ("$1,299", 1299.0), ("$12,345", 12345.0), ("1,299 USD", 1299.0), ("USD 1,299", 1299.0), ("€1,299", 1299.0),
    ("£1,299", 1299.0), ("¥1,000", 1000.0), ("₹1,299", 1299.0), ("EUR1,299", 1299.0),
])
def test_a_comma_before_three_digits_is_a_thousands_separator_beside_a_two_decimal_currency(raw, expected):
    # No currency written with $ € £ ¥ ₹, or with an ISO code of at most two decimals, has a price of
    # three decimals: 1,299 beside one is one thousand two hundred and ninety-nine.
    assert n.normalize_column([raw], n.amount) == ([expected], [None])


@pytest.mark.parametrize("raw, expected", [
    ("€1.299", 1299.0), ("1.299 €", 1299.0), ("1.299 EUR", 1299.0), ("€12.999", 12999.0),
    ("1.299", 1.299), ("KWD 1.299", 1.299), ("€1.29", 1.29), ("€1.2999", 1.2999),  # no mark, or not 3 digits
])
def test_a_dot_before_three_digits_is_a_thousands_separator_beside_a_two_decimal_currency(raw, expected):
    # €1.299 was sent as 1.299: a thousand times too small.
    assert n.normalize_column([raw], n.amount) == ([expected], [None])


@pytest.mark.parametrize("raw", ["KWD 1,299", "1,299 BHD", "OMR 1,299", "ABC 1,299"])
def test_a_comma_before_three_digits_stays_ambiguous_beside_a_three_decimal_or_unknown_code(raw):
    assert n.normalize_column([raw], n.amount) == ([None], ["invalid_value"])


@pytest.mark.parametrize("raw", ["1,299", "12,345", "12,345,67", "1,2.3", "01,299.00", "12 50", ",50", "$$42", "USD"])
def test_amounts_that_stay_ambiguous_or_empty_are_refused(raw):
    assert n.normalize_column([raw], n.amount) == ([None], ["invalid_value"])


def test_a_drivers_uuid_and_inet_objects_read_as_their_text():
    import ipaddress
    import uuid

    assert n.normalize_column([ipaddress.ip_address("203.0.113.7")], n.ip_address) == (["203.0.113.7"], [None])
    assert n.normalize_column([uuid.UUID("6F9619FF-8B86-D011-B42D-00C04FC964FF")], n.device_id) == (
        ["6f9619ff-8b86-d011-b42d-00c04fc964ff"], [None])


@pytest.mark.parametrize(("raw", "expected"), [
    ("https://shop.example.com/p?email=John@Example.com&x=1", "https://shop.example.com/p?email=redacted&x=1"),
    ("https://shop.example.com/p?e=john.doe%2Btag%40example.com#top", "https://shop.example.com/p?e=redacted#top"),
    ("https://shop.example.com/u/jane@example.org/orders", "https://shop.example.com/u/redacted/orders"),
    ("https://shop.example.com/checkout?step=2", "https://shop.example.com/checkout?step=2"),
    ("https://user@shop.example.com/a", "https://user@shop.example.com/a"),  # the host's user name: no address
    ("https://shop.example.com/@brand", "https://shop.example.com/@brand"),
    ("https://shop.example.com/?q=50%40off", "https://shop.example.com/?q=50%40off"),
])
def test_an_email_in_a_page_url_is_never_sent_raw(raw, expected):
    # The URL goes to Snap unhashed: a form sent by GET would put the customer's address in it.
    assert n.normalize_column([raw], n.page_url) == ([expected], [None])


def test_a_drivers_network_value_reads_as_its_text_like_an_address():
    # pg8000 gives an inet with a netmask as an IPv4Network: the same reason as its text, not a type error.
    import ipaddress

    values = [ipaddress.IPv4Network("10.0.0.0/8"), ipaddress.IPv4Address("203.0.113.7"), "10.0.0.0/8"]
    assert n.normalize_column(values, n.ip_address) == (
        [None, "203.0.113.7", None], ["invalid_ip_address", None, "invalid_ip_address"])


@pytest.mark.parametrize(("name", "expected"), [
    ("Checkout Started", "START_CHECKOUT"), ("Product Added", "ADD_CART"), ("Product Viewed", "VIEW_CONTENT"),
    ("Products Searched", "SEARCH"), ("Signed Up", "SIGN_UP"), ("Payment Info Entered", "ADD_BILLING"),
    ("Product Added to Wishlist", "ADD_TO_WISHLIST"), ("Product List Viewed", "LIST_VIEW"),
    ("Application Installed", "APP_INSTALL"), ("Application Opened", "APP_OPEN"), ("Page Viewed", "PAGE_VIEW"),
    ("Product Shared", "SHARE"), ("Tutorial Completed", "COMPLETE_TUTORIAL"), ("Order Completed", "PURCHASE"),
])
def test_segments_spec_event_names_map_to_snaps(name, expected):
    assert n.event_name(name) == expected
