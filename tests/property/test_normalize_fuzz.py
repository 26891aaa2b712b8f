"""Fuzz every normalization rule with any text (surrogates included) and arbitrary Python objects."""

from __future__ import annotations

import datetime as dt
import decimal
import os

import numpy as np
import orjson
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snap_capi_provider.core import normalize as n
from snap_capi_provider.core.fields import FIELDS
from snap_capi_provider.core.reasons import NOTES, REASONS

RULES = {field.key: field.rule for field in FIELDS if field.rule is not None}
CONTEXTS = {"ph": [("US", "GB"), ("FR", None), (None, None), "IN"], "zp": ["us", "gb", None, "de"],
            "st": ["us", "ca", None, "de"]}
SETTINGS = settings(max_examples=int(os.environ.get("PROP_N", 200)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=60)
phoneish = st.text(alphabet="0123456789 +()-./x#ext:tel٠١٢٣٤٥٦٧٨٩０１２", max_size=25)
dateish = st.text(alphabet="0123456789-/. :TZ+decmbrjanfwsoth,", max_size=25)
objects = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True), st.binary(max_size=20), st.datetimes(), st.dates(),
    st.datetimes(timezones=st.just(dt.timezone(dt.timedelta(hours=-5)))), st.times(),
    st.just(pd.NA), st.just(pd.NaT), st.just(np.nan), st.just(object()), st.just(decimal.Decimal("-0")),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(np.int64), st.floats(width=32).map(np.float32),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sets(st.integers(), max_size=3), st.tuples(st.integers()), st.just(np.bool_(True)),
    st.just(np.datetime64("1997-12-26")), st.just(pd.Timestamp("1997-12-26T23:00:00-05:00")),
)
cells = st.one_of(any_text, phoneish, dateish, objects)


def _check(values, out, errors, structured: bool = False):
    assert len(out) == len(errors) == len(values)
    for value, error in zip(out, errors, strict=True):
        assert value is None or error is None
        if structured and value is not None:  # lists and line items: JSON as they are
            assert isinstance(value, list | int) and orjson.loads(orjson.dumps(value)) == value
            continue
        assert value is None or isinstance(value, str | int | float)
        assert error is None or error in REASONS, error
        if isinstance(value, str):
            value.encode("utf-8")  # every output can be hashed / sent


@SETTINGS
@given(key=st.sampled_from(sorted(RULES)), values=st.lists(cells, min_size=1, max_size=6))
def test_no_exception_escapes_and_every_error_is_a_registered_reason(key, values):
    context = [CONTEXTS[key][i % 4] for i in range(len(values))] if key in CONTEXTS else None
    notes: dict[str, int] = {}
    out, errors = n.normalize_column(values, RULES[key], context, notes=notes)
    _check(values, out, errors, structured=getattr(RULES[key], "reads_cells", False))
    assert set(notes) <= set(NOTES)


@SETTINGS
@given(values=st.lists(cells, min_size=1, max_size=6), timezone=st.sampled_from([None, "UTC", "Asia/Kolkata", "X/Y"]))
def test_event_times_never_raise(values, timezone):
    out, errors = n.normalize_event_times(values, timezone)
    _check(values, out, errors)
    assert all(value is None or type(value) is int for value in out)


@SETTINGS
@given(text=st.one_of(phoneish, st.from_regex(r"\+?[0-9 ()-]{4,20}", fullmatch=True)),
       region=st.sampled_from(["US", "GB", "FR", "DE", "IN", "BR", "MX", "AU", "JP", "CA", None]),
       default=st.sampled_from([None, "US", "GB"]))
def test_phone_fast_path_equals_phonenumbers_on_fuzzed_text(text, region, default):
    def outcome(rule):
        try:
            return rule(text, region, default)
        except n.InvalidValue as exc:
            return exc.reason
        except n.Absent as exc:
            return "~" + exc.note

    assert outcome(n.phone) == outcome(n.phone_reference)


@SETTINGS
@given(value=any_text)
def test_to_text_never_raises_anything_but_invalid_value(value):
    try:
        n.to_text(value)
    except n.InvalidValue as exc:
        assert exc.reason in REASONS


emailish = st.text(alphabet="abcXYZ019_-.+@!#$%&'*/=?^`{|}~ <>:", max_size=40)


@SETTINGS
@given(st.one_of(emailish, st.text(alphabet=st.characters(max_codepoint=127), max_size=40),
                 st.from_regex(r"[a-z0-9._+-]{1,12}@(?:[a-z0-9-]{1,8}\.){1,3}(?:[a-z]{2,6}|xn--[a-z0-9-]{1,8})",
                               fullmatch=True)))
def test_ascii_email_pattern_matches_exactly_what_the_unicode_pattern_matches(text):
    fast, generic = n.ASCII_EMAIL.fullmatch(text), n.EMAIL.fullmatch(text)
    assert (fast and fast.groupdict()) == (generic and generic.groupdict())
