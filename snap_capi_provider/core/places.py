"""Places: states and provinces, countries, zip codes, from pycountry's data (built once, lazily)."""

from __future__ import annotations

import decimal
import gettext
import os
import re
import unicodedata
from functools import cache, lru_cache

import numpy as np
import pycountry

from snap_capi_provider.core.text import InvalidValue, accepts, is_prehashed, number_text


def _key(text: str) -> str:
    """Letters only, lower case, accents and punctuation dropped (``Québec`` -> ``quebec``)."""
    if text.isascii():
        return "".join(ch for ch in text.lower() if ch.isalpha())
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if ch.isalpha())


# ------------------------------------------------------------------------------------------ states

# Countries whose subdivisions are mapped by name (the largest markets); US and Canada also serve rows
# without a country.
STATE_COUNTRIES = ("US", "CA", "AU", "BR", "MX", "IN", "DE", "ES", "IT", "FR", "GB", "JP", "NL", "AR", "CO",
                   "ZA", "NZ", "CH", "AT", "BE", "PH", "MY", "AE", "SA", "TR", "PL")
_STATE_ALIASES = {"US": {"washingtondc": "dc", "dc": "dc", "washington d c": "dc"},
                  "CA": {"quebecprovince": "qc", "pq": "qc", "nfld": "nl", "newfoundland": "nl"}}


@cache
def _state_table(country_code: str) -> dict[str, str]:
    table: dict[str, str] = {}
    try:
        subdivisions = sorted(pycountry.subdivisions.get(country_code=country_code) or (),
                              key=lambda sub: sub.parent_code is not None)  # top level first
    except (KeyError, LookupError):
        return table
    for sub in subdivisions:
        code = sub.code.split("-", 1)[1].lower()
        target = code if code.isalpha() else _key(sub.name)
        table.setdefault(_key(sub.name), target)
        if code.isalpha():
            table.setdefault(code, target)
    for alias, code in _STATE_ALIASES.get(country_code, {}).items():
        table.setdefault(_key(alias), code)
    return table


@lru_cache(maxsize=1)
def _north_america() -> dict[str, str]:
    return {**_state_table("CA"), **_state_table("US")}


@accepts(max_length=100)
def state(text: str, country_code: object = None) -> str | None:
    """State or province: its code, lower case (``California`` -> ``ca``, ``Québec`` -> ``qc``).

    ``country_code`` (the row's country, any case) picks the country's subdivisions; without it US and
    Canadian names are mapped. A name that is no known subdivision is kept as its letters, but an export's
    placeholder for no value (``N/A``, ``NULL``, ``unknown``) is ``invalid_state``, never hashed as a state.
    """
    if is_prehashed(text):
        return text.lower()
    letters = _key(text)
    if not letters:
        return None
    country = country_code.upper() if isinstance(country_code, str) and len(country_code) == 2 else None
    found = _state_table(country).get(letters) if country in STATE_COUNTRIES else None
    if found is None and country in (None, "US", "CA"):
        found = _north_america().get(letters)
    if found is not None:
        return found
    if text.lower() in STATE_PLACEHOLDERS:
        raise InvalidValue("invalid_state")
    return letters


STATE_PLACEHOLDERS = frozenset({"n/a", "#n/a", "n.a.", "null", "(null)", "<null>", "none", "nan", "nil", "unknown",
                                "undefined", "not applicable", "not available"})
"""Cells that stand for no value: no subdivision is called that, and their letters would be hashed as one."""


# ------------------------------------------------------------------------------------------ countries

COUNTRY_ALIASES = {"uk": "gb", "england": "gb", "scotland": "gb", "wales": "gb", "northernireland": "gb",
                   "greatbritain": "gb", "britain": "gb", "usa": "us", "america": "us", "us": "us",
                   "unitedstatesofamerica": "us", "holland": "nl", "southkorea": "kr", "northkorea": "kp",
                   "russia": "ru", "uae": "ae", "ksa": "sa", "czechia": "cz", "ivorycoast": "ci", "vatican": "va",
                   "macau": "mo", "burma": "mm", "eswatini": "sz", "turkiye": "tr", "deutschland": "de"}
_LANGUAGES = ("de", "fr", "es", "it", "pt", "pt_BR", "nl", "sv", "da", "nb", "fi", "pl", "cs", "sk", "hu", "ro",
              "ru", "uk", "bg", "el", "tr", "ar", "he", "fa", "hi", "ja", "ko", "zh_CN", "zh_TW", "th", "vi", "id",
              "ms", "hr", "sl", "sr", "lt", "lv", "et", "ga", "is", "ca", "eu", "gl", "bn", "ur", "ta", "sw")


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    """Every country's codes and English names first, then the aliases."""
    names: dict[str, str] = {}
    for country in pycountry.countries:
        code = country.alpha_2.lower()
        names[country.alpha_2.lower()] = code
        names[country.alpha_3.lower()] = code
        for attr in ("name", "official_name", "common_name"):
            value = getattr(country, attr, None)
            if value:
                names.setdefault(_key(value), code)
    names.update(COUNTRY_ALIASES)
    names.pop("", None)
    return names


@lru_cache(maxsize=1)
def _translated_country_names() -> dict[str, str]:
    """Names in other languages that name one country only and are not in :func:`_country_names`: read
    only when a value is none of those (loading 48 translations costs ~0.3 s)."""
    english = _country_names()
    translated: dict[str, set[str]] = {}
    for language in _LANGUAGES:
        if not os.path.exists(os.path.join(pycountry.LOCALES_DIR, language, "LC_MESSAGES", "iso3166-1.mo")):
            continue
        translation = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[language])
        for country in pycountry.countries:
            for attr in ("name", "official_name", "common_name"):
                value = getattr(country, attr, None)
                if value:
                    translated.setdefault(_key(translation.gettext(value)), set()).add(country.alpha_2.lower())
    return {key: next(iter(codes)) for key, codes in translated.items()
            if key and len(codes) == 1 and key not in english}


@accepts(max_length=100)
@lru_cache(maxsize=4096)
def country(text: str) -> str:
    """ISO 3166-1 alpha-2, lower case; codes, English, official and native names mapped; unknown rejected."""
    if is_prehashed(text):
        return text.lower()
    key = text.lower() if len(text) == 2 else _key(text)  # two letters: a code (or 日本, 中国)
    # No country's name has a slash: "N/A" is a placeholder, not Namibia (NA).
    found = None if "/" in text else _country_names().get(key) or _translated_country_names().get(key)
    if found is None:
        raise InvalidValue("invalid_country")
    return found


# ------------------------------------------------------------------------------------------ zip codes

US_ZIP = re.compile(r"(\d{5})(?:-?\d{4})?")
_ZIP = re.compile(r"(?=[a-z-]*[0-9])[0-9a-z][0-9a-z-]{1,11}")  # every postcode has a digit: "null", "none" are no zip
# Countries whose postcodes are all digits of one length, so an integer that lost leading zeros is padded.
_ZIP_DIGITS = {"us": 5, "de": 5, "fr": 5, "it": 5, "es": 5, "mx": 5, "fi": 5, "my": 5, None: 5}


def _zip_hook(value: object, country_code: object) -> str | None:
    """Numbers read exactly; an int that lost its leading zero gets it back (``2134`` -> ``02134`` for US)."""
    if isinstance(value, bool | np.bool_) or not isinstance(
            value, int | float | decimal.Decimal | np.integer | np.floating):
        raise InvalidValue("invalid_value_type")
    text = number_text(value)
    if text is None:
        return None
    if not text.isdigit():
        raise InvalidValue("invalid_zip")
    width = _ZIP_DIGITS.get(country_code.lower() if isinstance(country_code, str) else None)
    if width and len(text) < width and len(text) >= width - 2:
        text = text.zfill(width)
    elif country_code in (None, "us", "US") and 7 <= len(text) < 9:  # ZIP+4 as a number
        text = text.zfill(9)
    return text


@accepts(numbers=True, max_length=100, hook=_zip_hook)
def zip_code(text: str, country_code: object = None) -> str | None:
    """Lower case, no spaces; a US zip keeps its first five digits (``94025-1234`` -> ``94025``).

    ``country_code`` is the row's country (any case); with ``us`` a value that is no US zip is rejected.
    """
    if is_prehashed(text):
        return text.lower()
    value = "".join(text.lower().split())
    country = country_code.lower() if isinstance(country_code, str) else None
    if country in (None, "us"):
        match = US_ZIP.fullmatch(value)
        if match:
            return match.group(1)
        if country == "us":
            raise InvalidValue("invalid_zip")
    if not _ZIP.fullmatch(value):
        raise InvalidValue("invalid_zip")
    return value
