"""Values typed through an East Asian input method: full-width Latin letters and digits and half-width
katakana read as the characters they stand for in every matching field, so ``ＪＯＨＮ`` and ``John`` hash
alike; an id is opaque and kept as written."""

from __future__ import annotations

import pytest

from snap_capi_provider.core import normalize as n
from snap_capi_provider.core.text import fold_width


def one(rule, value, country=None):
    values, errors = n.normalize_column([value], rule, None if country is None else [country])
    return values[0], errors[0]


@pytest.mark.parametrize(("text", "folded"), [
    ("ＵＳ", "US"), ("９４０２５", "94025"), ("ｼﾞｮﾝ", "ジョン"), ("Ｍｅｎｌｏ\u3000Ｐａｒｋ", "Menlo Park"),
    ("José", "José"), ("plain", "plain"),
])
def test_width_forms_fold_to_the_characters_they_stand_for(text, folded):
    assert fold_width(text) == folded


@pytest.mark.parametrize(("rule", "cell", "country", "expected"), [
    (n.name, "ＪＯＨＮ", None, "john"),
    (n.name, "ｼﾞｮﾝ", None, "ジョン"),
    (n.city, "Ｍｅｎｌｏ Ｐａｒｋ", None, "menlopark"),
    (n.country, "ＵＳ", None, "us"),
    (n.country, "ｊｐ", None, "jp"),
    (n.state, "ＣＡ", "US", "ca"),
    (n.zip_code, "９４０２５", "US", "94025"),
    (n.zip_code, "٩٤٠٢٥", "US", "94025"),
    (n.zip_code, "ＳＷ１Ａ １ＡＡ", "GB", "sw1a1aa"),
    (n.gender, "Ｆ", None, "f"),
    (n.currency, "ｅｕｒ", None, "EUR"),
    (n.email, "ＡＢ@example.com", None, "ab@example.com"),
    (n.phone, "＋１ ６５０ ５５５ １２１２", None, "16505551212"),
    (n.date_of_birth, "１９９７-１２-２６", None, "19971226"),
])
def test_every_matching_field_reads_width_forms_as_what_they_stand_for(rule, cell, country, expected):
    assert one(rule, cell, country) == (expected, None)
    ascii_cell = fold_width(cell)
    if ascii_cell != cell:
        assert one(rule, ascii_cell, country) == (expected, None)  # the same hash as the plain spelling


def test_an_external_id_is_opaque_and_kept_as_written():
    assert one(n.external_id, "ＡＢＣ１２３") == ("ＡＢＣ１２３", None)
