"""Phones: validity not possibility, every written form, and the compiled fast path equal to phonenumbers."""

from __future__ import annotations

import datetime as dt
import decimal
import random

import numpy as np
import phonenumbers
import pytest

from snap_capi_provider.core import normalize as n
from snap_capi_provider.core import phones

MARKETS = ["US", "GB", "FR", "DE", "IN", "BR", "MX", "AU", "JP", "CA"]
OTHERS = ["IT", "AR", "CN", "ES", "NL", "SE", "RU", "ZA", "NG", "KR", "AE", "SG", "CH", "IE", "NZ", "PH", "ID"]


def _outcome(rule, text, region, default):
    try:
        return rule(text, region, default)
    except n.InvalidValue as exc:
        return "!" + exc.reason
    except n.Absent as exc:
        return "~" + exc.note


def _numbers(seed: int, per_type: int):
    rng = random.Random(seed)
    out = []
    for region in MARKETS + OTHERS:
        md = phonenumbers.PhoneMetadata.metadata_for_region(region)
        trunk = md.national_prefix or ""
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE,
                     phonenumbers.PhoneNumberType.TOLL_FREE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            nsn, cc = phonenumbers.national_significant_number(example), str(example.country_code)
            out.append((phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL), region, None))
            out.append((phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL), None, None))
            for _ in range(per_type):
                digits = list(nsn)
                for _ in range(rng.randint(0, 4)):
                    digits[rng.randrange(len(digits))] = str(rng.randint(0, 9))
                mutated = "".join(digits)
                if rng.random() < 0.2:
                    mutated = mutated[:rng.randint(1, len(mutated))]
                if rng.random() < 0.2:
                    mutated += str(rng.randint(0, 99))
                for form in (mutated, trunk + mutated, cc + mutated, "+" + cc + mutated, "00" + cc + mutated,
                             "011" + cc + mutated, cc + trunk + mutated):
                    out.append((form, rng.choice([region, region, None, rng.choice(MARKETS)]),
                                rng.choice([None, "US", "GB", region])))
    for _ in range(per_type * 40):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(2, 18)))
        out.append((digits, rng.choice(MARKETS + OTHERS + [None]), rng.choice([None, "US", "DE", "IN"])))
    return out


def test_fast_path_gives_exactly_phonenumbers_answer():
    cases = _numbers(seed=9, per_type=120)
    assert len(cases) > 40_000
    mismatches = []
    for text, region, default in cases:
        fast = _outcome(n.phone, text, region, default)
        reference = _outcome(phones.phone_reference, text, region, default)
        if fast != reference:
            mismatches.append((text, region, default, fast, reference))
    assert not mismatches[:20]
    accepted = sum(1 for text, region, default in cases if not str(_outcome(n.phone, text, region, default))[0] == "!")
    assert accepted > len(cases) // 10  # the sample exercises valid numbers, not only rejections


def test_fast_path_settles_the_common_shapes_without_phonenumbers(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("phonenumbers.parse called")

    n.phone("(650) 555-1212", "US")  # warm the compiled metadata
    monkeypatch.setattr(phonenumbers, "parse", boom)
    for text, region in [("(650) 555-1212", "US"), ("+44 20 7946 0958", None), ("06 12 34 56 78", "FR"),
                         ("030 901820", "DE"), ("98765 43210", "IN"), ("0412 345 678", "AU"),
                         ("090-1234-5678", "JP"), ("(613) 555-0123", "CA"), ("16505551212", None)]:
        try:
            n.phone(text, region)
        except n.InvalidValue:
            pass


@pytest.mark.parametrize(("raw", "region", "default", "expected"), [
    ("tel:+1-650-555-1212", None, None, "16505551212"),
    ("tel:+1-650-555-1212;ext=12", None, None, "16505551212"),
    ("+1 650 555 1212 ext. 123", None, None, "16505551212"),
    ("(650) 555-1212 x12", "US", None, "16505551212"),
    ("650-555-1212 #4", "US", None, "16505551212"),
    ("011 44 20 7946 0958", "US", None, "442079460958"),  # the US international prefix
    ("00 33 6 12 34 56 78", None, None, "33612345678"),
    ("+33 (0)6 12 34 56 78", None, None, "33612345678"),
    ("٠٦١٢٣٤٥٦٧٨", "FR", None, "33612345678"),  # Arabic-Indic digits
    ("０６ １２ ３４ ５６ ７８", "FR", None, "33612345678"),  # full-width
    ("06 12 34 56 78", "US", "FR", "33612345678"),  # not valid in the row's country: the default region
    ("06 12 34 56 78", None, "FR", "33612345678"),
    ("447400123456", "US", None, "447400123456"),  # digits already carrying a valid country code
])
def test_phone_forms(raw, region, default, expected):
    assert n.phone(raw, region, default) == expected


@pytest.mark.parametrize(("raw", "region", "reason"), [
    ("07700 900123", "GB", "invalid_phone"),  # possible, but not a valid number (Ofcom drama range)
    ("+1 555 555 5555", None, "invalid_phone"),
    ("+44 1234", None, "invalid_phone"),
    ("1-800-FLOWERS", "US", "invalid_phone"),
    ("12345", "US", "invalid_phone"),
    ("6505551212", None, "phone_without_country_code"),
    ("+999 123 456 789", None, "invalid_phone"),
    ("650 555 CALL", "US", "invalid_phone"),  # letters in the number: never a keypad's digits
    ("call 650 555 1212 after 5", "US", "invalid_phone"),
    ("+1 650 555 1212 / +1 650 555 1213", "US", "invalid_phone"),  # two numbers: which one is not ours to pick
    ("650,555,1212", "US", "invalid_phone"),
    ("++44", None, "invalid_phone"),
])
def test_numbers_valid_nowhere_are_rejected_never_hashed(raw, region, reason):
    assert n.normalize_column([raw], n.phone, [region]) == ([None], [reason])


@pytest.mark.parametrize("raw", [
    "Mobile: 650-555-1212", "Home 650-555-1212", "p: 650-555-1212", "Tel. +1 650 555 1212", "tel +16505551212",
    "+1 650 555 1212 (mobile)", "650-555-1212 (cell)", "650-555-1212 home", "Mobile 650-555-1212 (cell)",
    "+1-650-555-1212,,123", "6505551212;123", "++16505551212",
])
def test_a_label_a_dial_pause_or_a_doubled_plus_around_the_number_is_not_part_of_it(raw):
    # CRM exports label numbers; phonenumbers reads past a leading label and a doubled plus too.
    assert n.normalize_column([raw], n.phone, ["US"]) == (["16505551212"], [None])
    assert n.phone_reference(raw, "US") == "16505551212"


def test_phone_context_pairs_row_country_with_default_region():
    context = n.phone_context(["gb", None, "usa"], "fr")
    assert context == [("GB", "FR"), (None, "FR"), (None, "FR")]
    values, errors = n.normalize_column(["07400 123456", "06 12 34 56 78", "06 12 34 56 78"], n.phone, context)
    assert values == ["447400123456", "33612345678", "33612345678"] and errors == [None] * 3


def test_bool_is_no_phone():
    assert n.normalize_column([True], n.phone, ["US"]) == ([None], ["invalid_value_type"])


def test_objects_are_no_phone_but_number_cells_are():
    odd = [dt.date(2020, 1, 1), dt.datetime(2020, 1, 1), dt.time(1, 2), complex(1, 2), object(), Ellipsis]
    assert n.normalize_column(odd, n.phone, ["US"] * len(odd)) == ([None] * len(odd), ["invalid_value_type"] * len(odd))
    numbers = [16505551212, 16505551212.0, np.int64(16505551212), decimal.Decimal("16505551212")]
    assert n.normalize_column(numbers, n.phone, ["US"] * 4) == (["16505551212"] * 4, [None] * 4)


@pytest.mark.parametrize("raw, region, expected", [
    ("0011 44 20 7946 0958", "AU", "442079460958"),  # Australia's prefix is 0011, not 00
    ("0011 32 12 34 56 78", "AU", "3212345678"),  # not 1 + 3212345678, another valid number
    ("008 1 201 555 0123", "TH", "12015550123"),
    ("009 1 650 555 1212", "NG", "16505551212"),
    ("001 44 20 7946 0958", "KR", "442079460958"),
    ("0044 20 7946 0958", "AU", "442079460958"),  # 00 alone still reads as the international prefix
    ("0044 20 7946 0958", "US", "442079460958"),
    ("0044 20 7946 0958", None, "442079460958"),
])
def test_an_international_prefix_that_begins_with_00_is_read_as_dialled_in_the_rows_country(raw, region, expected):
    assert n.phone(raw, region) == expected == n.phone_reference(raw, region)


def test_a_zero_in_brackets_after_the_country_code_is_dropped_only_where_it_is_a_trunk_prefix():
    assert n.phone("+44 (0)20 7946 0958") == "442079460958"
    assert n.phone("+39 (0)6 1234 5678") == "390612345678"  # Italy keeps the 0 in international form
    mismatches = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.FIXED_LINE)
        if example is None:
            continue
        text = f"+{example.country_code} (0){phonenumbers.national_significant_number(example)}"
        parsed = phonenumbers.parse(text)
        expected = (phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)[1:]
                    if phonenumbers.is_valid_number(parsed) else "!invalid_phone")
        if _outcome(n.phone, text, None, None) != expected:
            mismatches.append(text)
    assert mismatches == []


@pytest.mark.parametrize("raw, region, expected", [
    ("030901820.0", "DE", "4930901820"),  # not 49309018200, another valid Berlin number
    ("+4930901820.0", None, "4930901820"),
    ("6505551212.00", "US", "16505551212"),
    ("650.555.1212", "US", "16505551212"),  # dots as separators stay separators
])
def test_a_number_column_written_as_a_float_loses_its_fraction_not_gains_a_digit(raw, region, expected):
    assert n.phone(raw, region) == expected


@pytest.mark.parametrize("raw", ["\u202a+1 650 555 1212\u202c", "\u200e+1 650 555 1212", "\ufeff+16505551212",
                                 "+1\u200b650\u200b5551212"])
def test_invisible_marks_from_contact_exports_are_not_part_of_the_number(raw):
    assert n.normalize_column([raw], n.phone) == (["16505551212"], [None])


@pytest.mark.parametrize("raw", ["0000000000", "000-000-0000", "(999) 999-9999", "1234567890", "+1 123 456 7890",
                                 "5555555555", "+00 000", "+111", "0", "00", "N/A", "-"])
def test_a_filler_a_form_demanded_is_no_phone_and_absent_not_a_rejection(raw):
    notes: dict[str, int] = {}
    assert n.normalize_column([raw], n.phone, ["US"], notes=notes) == ([None], [None])
    assert notes == {"placeholder_value": 1}


@pytest.mark.parametrize(("raw", "region", "expected"), [("+44 7777 777777", None, "447777777777"),
                                                          ("12345", "US", "!invalid_phone")])
def test_a_valid_number_of_repeated_digits_is_kept_and_a_short_one_still_refused(raw, region, expected):
    assert _outcome(n.phone, raw, region, None) == expected


@pytest.mark.parametrize(("raw", "region", "expected"), [
    ("+52 1 55 1234 5678", None, "525512345678"),  # a mobile as written until 2019
    ("5215512345678", None, "525512345678"),  # WhatsApp's id of a Mexican mobile
    ("0052 1 55 1234 5678", "US", "525512345678"),
    ("044 55 1234 5678", "MX", "525512345678"),  # dialled at home to a mobile
    ("045 33 1234 5678", "MX", "523312345678"),
    ("01 55 1234 5678", "MX", "525512345678"),  # a long-distance call
    ("55 1234 5678", "MX", "525512345678"),
    ("044 55 1234 5678", "US", "!invalid_phone"),  # the prefixes are Mexico's only
    ("+52 1 00 1234 5678", None, "!invalid_phone"),  # ten digits still have to be a valid number
    ("+52 1 55 1234 567", None, "!invalid_phone"),
])
def test_mexicos_retired_prefixes_give_the_ten_digits_that_are_the_number_today(raw, region, expected):
    # Mexico dropped the mobile 1 and the 044 / 045 / 01 prefixes in August 2019; phonenumbers calls those
    # forms invalid, yet CRMs and WhatsApp exports are full of them.
    assert _outcome(n.phone, raw, region, None) == expected == _outcome(n.phone_reference, raw, region, None)


@pytest.mark.parametrize(("raw", "region", "expected"), [
    ("0049 151 23456789", "SG", "4915123456789"),  # not 004 (a Singapore prefix) then 91, an Indian number
    ("0049 151 23456789", "TH", "4915123456789"),
    ("00 49 151 23456789", "SG", "4915123456789"),
    ("(0049) 151 23456789", "SG", "4915123456789"),
    ("00 376 312345", "JP", "376312345"),  # not a Japanese number 00376...
    ("008 1 201 555 0123", "TH", "12015550123"),  # Thailand's own prefix set apart
    ("0011 32 12 34 56 78", "AU", "3212345678"),
    ("004915123456789", "SG", "!invalid_phone"),  # both readings valid, nothing written to tell them apart
    ("00376312345", "JP", "!invalid_phone"),
])
def test_a_00_number_with_two_valid_readings_is_read_as_written_or_refused(raw, region, expected):
    assert _outcome(n.phone, raw, region, None) == expected == _outcome(n.phone_reference, raw, region, None)


@pytest.mark.parametrize("region", ["SG", "TH", "KR", "HK", "TW", "JP", "CO", "ID", "BR", "AU"])
def test_every_countrys_number_written_00_and_its_code_reads_as_that_country_in_any_row(region):
    # Rows of countries whose own international prefixes begin with 00 and run longer.
    misread = []
    for other in sorted(phonenumbers.SUPPORTED_REGIONS):
        example = phonenumbers.example_number_for_type(other, phonenumbers.PhoneNumberType.MOBILE)
        if example is None or not phonenumbers.is_valid_number(example):
            continue
        text = f"00{example.country_code} {phonenumbers.national_significant_number(example)}"
        expected = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)[1:]
        outcome = _outcome(n.phone, text, region, None)
        # Refused only where the group is the row's prefix too: 001 is Singapore's, or 00 and +1.
        if outcome != expected and not (outcome == "!invalid_phone" and text.startswith("001 ")):
            misread.append((text, outcome))
    assert misread == []
