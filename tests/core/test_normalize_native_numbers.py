"""The fast path for columns of Python numbers gives exactly what the generic cell reading gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from snap_capi_provider.core import normalize as rules


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.floats(min_value=0, max_value=1e6), min_size=1))
def test_amount_of_a_float_column_matches_the_generic_path(values):
    fast = rules.normalize_column(values, rules.amount)
    generic = [rules._apply(rules.amount, value, None, False, 64)[:2] for value in values]
    assert list(zip(*fast, strict=True)) == generic


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=-10**42, max_value=10**42), min_size=1))
def test_amount_of_an_int_column_matches_the_generic_path(values):
    fast = rules.normalize_column(values, rules.amount)
    generic = [rules._apply(rules.amount, value, None, False, 64)[:2] for value in values]
    assert list(zip(*fast, strict=True)) == generic


def test_whole_numbers_past_what_their_float_holds_exactly_are_refused_not_rounded():
    import numpy as np

    # float32 keeps ~7 digits: 6505551212 would come back as 6505551360, another valid US number.
    assert rules.normalize_column([np.float32(6505551212)], rules.phone, [("US", "US")]) == (
        [None], ["imprecise_number"])
    assert rules.normalize_column([6505551212.0], rules.phone, [("US", "US")]) == (["16505551212"], [None])
    assert rules.normalize_column([float(2**53 + 2), 1e15], rules.external_id) == (
        [None, "1000000000000000"], ["imprecise_number", None])
    assert rules.normalize_column([np.float32(19.99)], rules.amount) == ([19.99], [None])  # its own shortest text
