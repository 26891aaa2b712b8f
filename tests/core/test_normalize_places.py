"""Zips, states and countries as build_events reads them: each rule through ``normalize_column`` with the
row's country as context (SNAP_CAPI.md section 7); a pre-hashed country still gives the row its country."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from snap_capi_provider.core import normalize as n
from snap_capi_provider.core.events import EventOptions, build_events, resolve_mapping
from snap_capi_provider.core.places import country_context
from tests.golden import GOLDEN


def one(rule, value, country=None):
    """``(normalized, error)`` of one cell as build_events reads it: zips and states with the row's country."""
    values, errors = n.normalize_column([value], rule, None if rule is n.country else [country])
    return values[0], errors[0]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# ------------------------------------------------------------------------------------------ zip codes

@pytest.mark.parametrize(("cell", "country", "expected"), [
    (800, "au", "0800"), (150, "no", "0150"), (1310100, "br", "01310100"), (600001, "jp", "0600001"),
    (18956, "sg", "018956"), (10000, "cn", "010000"), (1001, "sk", "01001"), (120, "va", "00120"),
    (110, "nz", "0110"), (83, "za", "0083"), (144, "it", "00144"), (np.int64(800), "AU", "0800"),
    (800.0, "au", "0800"), (3187, "kr", "03187"), (2000, "au", "2000"), (110001, "in", "110001"),
])
def test_a_number_gets_back_the_leading_zeros_of_its_countrys_fixed_length(cell, country, expected):
    assert one(n.zip_code, cell, country) == (expected, None)


@pytest.mark.parametrize(("cell", "country"), [
    (61000, "il"),  # Israel's old five-digit codes are still written: no fixed length to pad to
    (10000, "vn"), (1234, "gb"), (800, "pl"),
])
def test_a_number_from_a_country_without_one_all_digit_length_is_kept_as_written(cell, country):
    assert one(n.zip_code, cell, country) == (str(cell), None)


@pytest.mark.parametrize(("text", "number", "country", "expected"), [
    ("2134", 2134, "us", "02134"), ("94025.0", 94025.0, "us", "94025"), ("2134.0", 2134.0, "us", "02134"),
    ("21341234", 21341234, "us", "02134"), ("501", 501, "us", "00501"), ("800", 800, "au", "0800"),
    ("1310100", 1310100, "br", "01310100"), ("1067", 1067, "de", "01067"), ("1234.0", 1234.0, "gb", "1234"),
    ("94025.00", 94025.0, None, "94025"), (" 2134 ", 2134, "us", "02134"),
])
def test_text_that_is_a_number_reads_as_that_number(text, number, country, expected):
    assert one(n.zip_code, text, country) == one(n.zip_code, number, country) == (expected, None)


@pytest.mark.parametrize(("text", "country"), [("12", "us"), ("940251", "us"), ("94025.5", "us"),
                                               ("94025.0.0", "us"), ("n-a", "au"), ("-800", "au")])
def test_text_that_is_no_postcode_is_still_rejected(text, country):
    assert one(n.zip_code, text, country) == (None, "invalid_zip")


def test_text_without_a_country_is_not_padded():
    # Four digits with no country may be Sydney's 2000 as well as a Boston zip without its zero.
    assert one(n.zip_code, "2000") == ("2000", None)


@pytest.mark.parametrize(("cell", "country", "expected"), [
    ("00901-1234", "pr", "00901"), (901, "pr", "00901"), ("00802 1222", "vi", "00802"), ("96910", "gu", "96910"),
    ("96799-1234", "as", "96799"), ("96950", "mp", "96950"), ("96941", "fm", "96941"), ("96960", "mh", "96960"),
    ("96940", "pw", "96940"),
])
def test_us_territories_follow_the_us_zip_rule(cell, country, expected):
    assert one(n.zip_code, cell, country) == (expected, None)


@pytest.mark.parametrize(("cell", "country", "expected"), [
    ("94025-", "us", "94025"), ("94025-", None, "94025"), ("94025\u20131234", "us", "94025"),
    ("94025 \u2014 1234", None, "94025"), ("75008-", "fr", "75008"), ("1234\u2013567", "pt", "1234-567"),
])
def test_a_trailing_dash_is_an_empty_zip4_and_a_typographic_dash_a_dash(cell, country, expected):
    # zip5 || '-' || plus4 with no plus4, and a word processor's en dash: the zip is still the zip.
    assert one(n.zip_code, cell, country) == (expected, None)


def test_a_territory_rejects_what_is_no_us_zip():
    assert one(n.zip_code, "SW1A 1AA", "pr") == (None, "invalid_zip")


@pytest.mark.parametrize(("cell", "country"), [
    ("00000", "us"), ("00000-0000", "us"), (0, "us"), ("0000", "au"), ("000 00", "se"), ("00000", None),
])
def test_a_zip_of_zeros_only_is_a_forms_filler_absent_and_counted(cell, country):
    notes: dict[str, int] = {}
    assert n.normalize_column([cell], n.zip_code, [country], notes=notes) == ([None], [None])
    assert notes == {"placeholder_value": 1}


# ------------------------------------------------------------------------------------------ states

@pytest.mark.parametrize(("cell", "country", "expected"), [
    ("US-CA", "us", "ca"), ("us-ca", "us", "ca"), ("US-CA", None, "ca"), ("CA-ON", None, "on"),
    ("CA-ON", "ca", "on"), ("DE-BY", "de", "by"), ("JP-13", "jp", "tokyo"), ("NG-LA", "ng", "la"),
    ("US-CA", "ca", "usca"),  # another country's code: not read as a subdivision
    ("XX-YY", None, "xxyy"),  # no such subdivision
])
def test_an_iso_subdivision_code_gives_its_subdivision(cell, country, expected):
    assert one(n.state, cell, country) == (expected, None)


def test_an_iso_subdivision_code_reads_as_the_subdivision_written_out():
    assert one(n.state, "JP-13", "jp") == one(n.state, "Tokyo", "jp")
    assert one(n.state, "CA-QC", None) == one(n.state, "Québec", None)


@pytest.mark.parametrize(("cell", "country", "expected"), [
    ("Calif.", "us", "ca"), ("Mass.", None, "ma"), ("Tex.", "US", "tx"), ("N. Carolina", "us", "nc"),
    ("W. Va.", "us", "wv"), ("Ont.", "ca", "on"), ("Que.", None, "qc"), ("Sask.", "ca", "sk"),
    ("Calif.", "de", "calif"),  # a US abbreviation means nothing in another country's subdivisions
])
def test_style_guide_abbreviations_of_us_states_and_canadian_provinces(cell, country, expected):
    assert one(n.state, cell, country) == (expected, None)


# ------------------------------------------------------------------------------------------ countries

@pytest.mark.parametrize(("cell", "expected"), [
    ("Turkey", "tr"), ("The Netherlands", "nl"), ("Netherlands, The", "nl"), ("Republic of Korea", "kr"),
    ("South Korea", "kr"), ("Democratic Republic of the Congo", "cd"), ("DR Congo", "cd"), ("DRC", "cd"),
    ("Cape Verde", "cv"), ("Vatican City", "va"), ("Holy See", "va"), ("Palestine", "ps"),
    ("US Virgin Islands", "vi"), ("U.S. Virgin Islands", "vi"), ("British Virgin Islands", "vg"),
    ("Macedonia", "mk"), ("East Timor", "tl"), ("The Bahamas", "bs"), ("The Gambia", "gm"),
    ("Trinidad & Tobago", "tt"), ("Antigua & Barbuda", "ag"), ("St Kitts and Nevis", "kn"), ("St. Lucia", "lc"),
    ("Sao Tome", "st"), ("Falklands", "fk"), ("Sint Maarten", "sx"), ("Saint Martin", "mf"),
    ("Ivory Coast", "ci"), ("Burma", "mm"), ("Swaziland", "sz"), ("Czech Republic", "cz"), ("Russia", "ru"),
    ("Россия", "ru"), ("Great Britain", "gb"),
])
def test_common_country_names(cell, expected):
    assert one(n.country, cell) == (expected, None)


@pytest.mark.parametrize(("cell", "expected"), [
    ("Congo, The Democratic Republic of the", "cd"), ("Palestine, State of", "ps"), ("Virgin Islands, U.S.", "vi"),
    ("Korea, Republic of", "kr"), ("Korea, South", "kr"), ("Korea Republic of", "kr"), ("Micronesia", "fm"),
    ("the united states", "us"), ("Bosnia & Herzegovina", "ba"), ("St Vincent & the Grenadines", "vc"),
    ("Falkland Islands", "fk"), ("Corée, République de", "kr"), ("République de Corée", "kr"),
])
def test_generic_rules_inverted_forms_the_ampersand_and_saint(cell, expected):
    assert one(n.country, cell) == (expected, None)


@pytest.mark.parametrize(("cell", "expected"), [
    ("Congo", "cg"),  # the Republic of the Congo's own name, as before
    ("NA", "na"), ("Namibia", "na"), ("us", "us"), ("US", "us"), ("USA", "us"), ("deu", "de"), ("GBR", "gb"),
    ("St", "st"),  # two letters are a code: Sao Tome and Principe
])
def test_codes_and_names_that_already_mapped_keep_their_country(cell, expected):
    assert one(n.country, cell) == (expected, None)


@pytest.mark.parametrize("cell", ["Korea", "Virgin Islands", "Korea (South)", "N/A!", "The", "Atlantis", "zz"])
def test_ambiguous_or_unknown_countries_are_rejected(cell):
    assert one(n.country, cell) == (None, "invalid_country")


# ------------------------------------------------------------------------------------------ pre-hashed country

def test_a_pre_hashed_country_passes_through_and_gives_the_code_it_is_the_hash_of():
    assert one(n.country, sha("us").upper()) == (sha("us"), None)
    assert country_context(sha("us")) == "us" and country_context(sha("pr")) == "pr"
    assert country_context(sha("usa")) is None and country_context("0" * 64) is None
    assert country_context("de") == "de" and country_context(None) is None


def test_a_pre_hashed_country_keeps_the_rows_zip_and_phone_rules():
    now = 1_790_000_000.0
    frame = pd.DataFrame([{"country": sha("us"), "phone": "(650) 555-1212", "zip": "94025-1234", "ts": now - 60},
                          {"country": sha("not a country"), "phone": "+1 650 555 1212", "zip": "94025-1234",
                           "ts": now - 60}], dtype=object)
    result = build_events(frame, resolve_mapping(list(frame.columns), {"country": "country", "ph": "phone",
                                                                       "zp": "zip", "event_time": "ts"}),
                          EventOptions(event_name="SIGN_UP", clock=lambda: now))
    assert result.rejected == []
    assert result.events.plain["country"] == [sha("us"), sha("not a country")]
    assert result.events.digests["ph"] == [GOLDEN["16505551212"]] * 2
    assert result.events.plain["zp"] == ["94025", "94025"]  # an unknown digest is no country: the US reading


@pytest.mark.parametrize(("text", "expected"), [
    ("Hawaiʻi", "hi"), ("Hawai\u2019i", "hi"),  # the ʻokina, a modifier letter Python counts as a letter
    ("US Virgin Islands", "vi"), ("U.S. Virgin Islands", "vi"), ("Virgin Islands", "vi"),
    ("Newfoundland & Labrador", "nl"), ("Yukon Territory", "yt"), ("NWT", "nt"),
    ("Colombie-Britannique", "bc"), ("Nouvelle-Écosse", "ns"), ("Nouveau-Brunswick", "nb"),  # Canada's French
    ("Île-du-Prince-Édouard", "pe"), ("Terre-Neuve-et-Labrador", "nl"), ("Territoires du Nord-Ouest", "nt"),
    ("New York State", "ny"), ("Washington State", "wa"), ("State of California", "ca"),
    ("Commonwealth of Massachusetts", "ma"), ("Province of Ontario", "on"),
])
@pytest.mark.parametrize("country", [None, "us", "ca"])
def test_official_and_french_forms_of_us_states_and_canadian_provinces_map_to_their_code(text, expected, country):
    assert one(n.state, text, country) == (expected, None)
