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
