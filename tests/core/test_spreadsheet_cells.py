"""Cells as spreadsheets and exports wrap them, and the states as people write them: a wrapper around a
phone, zip, birth date or e-mail address (Excel's ``="02134"``, quotes, the text marker ``'`` that
formula-defused exports put before ``+``) is unwrapped where the value as written is invalid; a value that
is valid as written is never touched."""

from __future__ import annotations

import hashlib
import time

import pandas as pd
import pytest

from snap_capi_provider.core import normalize as n
from snap_capi_provider.core.events import EventOptions, build_events, resolve_mapping
from snap_capi_provider.core.text import spreadsheet_unwrapped


def one(rule, value, country=None):
    values, errors = n.normalize_column([value], rule, None if country is None else [country])
    return values[0], errors[0]


@pytest.mark.parametrize(("text", "inner"), [
    ('="02134"', "02134"), ('"+1 650 555 1212"', "+1 650 555 1212"), ("'+16505551212", "+16505551212"),
    ("'a@b.co'", "a@b.co"), ("\u201c1997-12-26\u201d", "1997-12-26"), ("\u2018x\u2019", "x"),
    ('" o\'brien@x.com "', "o'brien@x.com"),
])
def test_the_wrappers_are_unwrapped(text, inner):
    assert spreadsheet_unwrapped(text) == inner


@pytest.mark.parametrize("text", ["02134", "'", '=""', '""', "''", '""a""', '"a" "b"', '="a', 'a"', "=1+2"])
def test_what_is_no_wrapper_is_left_alone(text):
    assert spreadsheet_unwrapped(text) is None


@pytest.mark.parametrize(("rule", "cell", "country", "expected"), [
    (n.phone, "'+16505551212", "US", "16505551212"),
    (n.phone, '="+44 20 7946 0958"', "US", "442079460958"),
    (n.phone, '"(650) 555-1212"', "US", "16505551212"),
    (n.phone, "\u201c+33 6 12 34 56 78\u201d", None, "33612345678"),
    (n.zip_code, '="02134"', "US", "02134"),
    (n.zip_code, "'02134", "US", "02134"),
    (n.zip_code, '"94025-1234"', "US", "94025"),
    (n.zip_code, '="SW1A 1AA"', "GB", "sw1a1aa"),
    (n.date_of_birth, "'1997-12-26", None, "19971226"),
    (n.date_of_birth, '="12/26/1997"', None, "19971226"),
    (n.email, '="Person@Example.com"', None, "person@example.com"),
    (n.email, "'person@example.com'", None, "person@example.com"),
    (n.email, "\"o'brien@example.com\"", None, "o'brien@example.com"),
])
def test_a_wrapped_value_reads_as_the_value_inside(rule, cell, country, expected):
    assert one(rule, cell, country) == (expected, None)


@pytest.mark.parametrize(("rule", "cell", "country", "reason"), [
    (n.phone, "'", "US", "invalid_phone"),
    (n.phone, '=""', "US", "invalid_phone"),
    (n.phone, "'555-1212", "US", "invalid_phone"),  # unwrapped, and still no full number
    (n.zip_code, "'abc!", "US", "invalid_zip"),
    (n.date_of_birth, "'1997", None, "incomplete_date_of_birth"),
    (n.email, '"john"@example.com', None, "invalid_email"),  # a quoted local part is no wrapper
    (n.email, '="a@x.com" ="b@x.com"', None, "invalid_email"),
])
def test_unwrapping_never_makes_an_invalid_value_valid(rule, cell, country, reason):
    assert one(rule, cell, country) == (None, reason)


def test_a_valid_value_is_never_unwrapped():
    # An apostrophe may begin an address's local part: as written it is valid, so it is kept.
    assert one(n.email, "'quoted@example.com") == ("'quoted@example.com", None)


def test_a_formula_defused_export_sends_the_hashes_of_the_plain_values():
    now = int(time.time()) - 60
    frame = pd.DataFrame({"event_id": ["a", "b"], "event_time": [now, now], "country": ["US", "US"],
                          "phone": ["'+16505551212", "+16505551212"], "zip": ['="02134"', "02134"]})
    result = build_events(frame, resolve_mapping(list(frame.columns), None), EventOptions(event_name="SIGN_UP"))
    assert result.rejected == []
    assert result.events.digests["ph"] == [hashlib.sha256(b"16505551212").hexdigest()] * 2
    assert result.events.plain["zp"] == ["02134"] * 2


@pytest.mark.parametrize(("cell", "country", "expected"), [
    ("CDMX", "MX", "cmx"), ("Ciudad de México", "MX", "cmx"), ("D.F.", "MX", "cmx"), ("Edomex", "MX", "mex"),
    ("Estado de México", "MX", "mex"), ("N.L.", "MX", "nle"), ("Nuevo León", "MX", "nle"),
    ("Q. Roo", "MX", "roo"), ("Veracruz", "MX", "ver"), ("Jal.", "MX", "jal"), ("Tamps.", "MX", "tam"),
    ("Bavaria", "DE", "by"), ("Bayern", "DE", "by"), ("Thueringen", "DE", "th"), ("Thüringen", "DE", "th"),
    ("Baden-Wuerttemberg", "DE", "bw"), ("North Rhine-Westphalia", "DE", "nw"), ("Zuerich", "CH", "zh"),
    ("Graubuenden", "CH", "gr"),
])
def test_states_as_people_write_them_map_to_one_code(cell, country, expected):
    assert one(n.state, cell, country) == (expected, None)


def test_mexican_abbreviations_do_not_leak_into_other_countries():
    assert one(n.state, "NL", "NL") == ("nl", None)  # the Netherlands' own code stays itself
    assert one(n.state, "DF", "BR") == ("df", None)  # Brazil's Distrito Federal


def test_a_row_with_placeholders_for_no_value_keeps_its_good_fields_and_the_report_counts_them():
    now = int(time.time()) - 60
    frame = pd.DataFrame({"event_id": ["a", "b"], "event_time": [now, now], "email": ["a@example.com", "N/A"],
                          "phone": ["NULL", "+16505551212"], "state": ["N/A", "CA"], "zip": ["#N/A", "94025"],
                          "country": ["n/a", "US"], "date_of_birth": ["unknown", "1997-12-26"]})
    result = build_events(frame, resolve_mapping(list(frame.columns), None), EventOptions(event_name="SIGN_UP"))
    assert result.rejected == [] and result.warnings == {"placeholder_value": 6}
    assert result.events.plain["em"] == ["a@example.com", None]
    assert [result.events.plain[key][0] for key in ("ph", "st", "zp", "country", "db")] == [None] * 5
    assert result.events.plain["zp"][1] == "94025"


@pytest.mark.parametrize("cell", ["N/A", "NULL", "null", "0", 0, "unknown", "-"])
def test_a_placeholder_external_id_is_absent_never_one_person_for_every_such_row(cell):
    notes: dict[str, int] = {}
    assert n.normalize_column([cell, "cust-7"], n.external_id, notes=notes) == ([None, "cust-7"], [None, None])
    assert notes == {"placeholder_value": 1}
