"""Places: states and provinces, countries, zip codes, from pycountry's data (built once, lazily)."""

from __future__ import annotations

import decimal
import gettext
import os
import re
import unicodedata
from collections.abc import Iterator
from functools import cache, lru_cache

import numpy as np
import pycountry

from snap_capi_provider.core.text import (
    APOSTROPHES,
    PLACEHOLDER_VALUE,
    STATE_PLACEHOLDERS,
    Absent,
    InvalidValue,
    accepts,
    fold_width,
    is_prehashed,
    number_text,
    read_unwrapped_if_refused,
    sha256_hex,
)


def _key(text: str) -> str:
    """Letters only, lower case, accents, apostrophes and punctuation dropped (``Québec`` -> ``quebec``,
    ``Hawaiʻi`` -> ``hawaii``)."""
    if text.isascii():
        return "".join(ch for ch in text.lower() if ch.isalpha())
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if ch.isalpha() and ch not in APOSTROPHES)


def _alpha_2(country_code: object) -> str | None:
    """The row's country as a lower-case alpha-2 code, or ``None`` (no country, or a context that is none)."""
    return country_code.lower() if isinstance(country_code, str) and len(country_code) == 2 else None


# ------------------------------------------------------------------------------------------ states

# Countries whose subdivisions are mapped by name (the largest markets); US and Canada also serve rows
# without a country.
STATE_COUNTRIES = ("US", "CA", "AU", "BR", "MX", "IN", "DE", "ES", "IT", "FR", "GB", "JP", "NL", "AR", "CO",
                   "ZA", "NZ", "CH", "AT", "BE", "PH", "MY", "AE", "SA", "TR", "PL")
_STATE_ALIASES = {  # and the abbreviations of the AP and GPO style guides (Calif., N. Carolina, Ont.)
    "US": {"washingtondc": "dc", "dc": "dc", "washington d c": "dc", "ala": "al", "ariz": "az", "ark": "ar",
           "cal": "ca", "calif": "ca", "colo": "co", "conn": "ct", "del": "de", "fla": "fl", "ill": "il",
           "ind": "in", "kan": "ks", "kans": "ks", "mass": "ma", "mich": "mi", "minn": "mn", "miss": "ms",
           "mont": "mt", "neb": "ne", "nebr": "ne", "nev": "nv", "okla": "ok", "ore": "or", "oreg": "or",
           "penn": "pa", "penna": "pa", "tenn": "tn", "tex": "tx", "wash": "wa", "wis": "wi", "wisc": "wi",
           "wyo": "wy", "nmex": "nm", "ndak": "nd", "sdak": "sd", "wva": "wv", "ncarolina": "nc",
           "scarolina": "sc", "ndakota": "nd", "sdakota": "sd", "wvirginia": "wv", "usvirginislands": "vi",
           "virginislands": "vi"},  # in a US row (or none): the British Virgin Islands are a country
    "CA": {"quebecprovince": "qc", "pq": "qc", "nfld": "nl", "newfoundland": "nl", "ont": "on", "que": "qc",
           "alta": "ab", "sask": "sk", "man": "mb", "pei": "pe", "yukonterritory": "yt", "nwt": "nt"},
    "MX": {"cdmx": "cmx", "df": "cmx", "distritofederal": "cmx", "edomex": "mex", "edodemex": "mex",
           "estadodemexico": "mex", "veracruz": "ver", "coahuila": "coa", "michoacan": "mic", "ags": "agu",
           "bc": "bcn", "camp": "cam", "coah": "coa", "chis": "chp", "chih": "chh", "dgo": "dur", "gto": "gua",
           "hgo": "hid", "mich": "mic", "nl": "nle", "qro": "que", "qroo": "roo", "qr": "roo", "tamps": "tam",
           "tlax": "tla", "slp": "slp"},  # the abbreviations Mexicans write (CDMX, N.L., Q. Roo), not ISO's
    "DE": {"bavaria": "by", "lowersaxony": "ni", "northrhinewestphalia": "nw", "rhinelandpalatinate": "rp",
           "saxony": "sn", "saxonyanhalt": "st", "thuringia": "th", "hesse": "he",
           "mecklenburgwesternpomerania": "mv"},  # the English names
}
_GERMAN_ASCII = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})
"""How German names are written without umlauts (``Thueringen``, ``Baden-Wuerttemberg``)."""
_ISO_SUBDIVISION = re.compile(r"([A-Za-z]{2})-[A-Za-z0-9]{1,3}")  # ISO 3166-2: "US-CA", "JP-13"


def _state_code(subdivision: object) -> str:
    """What a subdivision is sent as: its letter code, else (a numeric code: ``JP-13``) its name's letters."""
    code = subdivision.code.split("-", 1)[1].lower()
    return code if code.isalpha() else _key(subdivision.name)


@cache
def _state_table(country_code: str) -> dict[str, str]:
    table: dict[str, str] = {}
    try:
        subdivisions = sorted(pycountry.subdivisions.get(country_code=country_code) or (),
                              key=lambda sub: sub.parent_code is not None)  # top level first
    except (KeyError, LookupError):
        return table
    for sub in subdivisions:
        code, target = sub.code.split("-", 1)[1].lower(), _state_code(sub)
        table.setdefault(_key(sub.name), target)
        if country_code in ("DE", "AT", "CH"):
            table.setdefault(_key(sub.name.translate(_GERMAN_ASCII)), target)
        if code == target:
            table.setdefault(code, target)
    for language in _STATE_LANGUAGES.get(country_code, ()):  # Colombie-Britannique, Nouvelle-Écosse
        translation = gettext.translation("iso3166-2", pycountry.LOCALES_DIR, languages=[language])
        for sub in subdivisions:
            table.setdefault(_key(translation.gettext(sub.name)), _state_code(sub))
    for alias, code in _STATE_ALIASES.get(country_code, {}).items():
        table.setdefault(_key(alias), code)
    return table


_STATE_LANGUAGES = {"CA": ("fr",)}
"""Other official languages whose subdivision names (pycountry's translations) are mapped too."""
_OFFICIAL_FORMS = re.compile(r"^(?:stateof|commonwealthof|provinceof)(?=[a-z]{4})|(?<=[a-z]{4})(?:state|province)$")
"""``New York State``, ``State of California``, ``Commonwealth of Massachusetts``, ``Province of Ontario``."""


@lru_cache(maxsize=1)
def _north_america() -> dict[str, str]:
    return {**_state_table("CA"), **_state_table("US")}


@accepts(max_length=100)
def state(text: str, country_code: object = None) -> str | None:
    """State or province: its code, lower case (``California`` -> ``ca``, ``Québec`` -> ``qc``).

    ``country_code`` (the row's country, any case) picks the country's subdivisions; without it US and
    Canadian names are mapped. An ISO 3166-2 code (``US-CA``) gives its subdivision's code when its
    prefix is the row's country or the row has none. A name that is no known subdivision is kept as its
    letters, but an export's placeholder for no value (``N/A``, ``NULL``, ``unknown``) is absent
    (``placeholder_value``), never hashed as a state.
    """
    if is_prehashed(text):
        return text.lower()
    code = _alpha_2(country_code)
    country = code.upper() if code else None
    iso = _ISO_SUBDIVISION.fullmatch(text)
    if iso is not None and country in (None, iso.group(1).upper()):
        subdivision = pycountry.subdivisions.get(code=text.upper())
        if subdivision is not None:
            return _state_code(subdivision)
    letters = _key(text.replace("&", " and "))  # Newfoundland & Labrador
    if not letters:
        return None
    found = _state_table(country).get(letters) if country in STATE_COUNTRIES else None
    if found is None and country in (None, "US", "CA"):
        found = _north_america().get(letters) or _north_america().get(_OFFICIAL_FORMS.sub("", letters))
    if found is not None:
        return found
    if text.lower() in STATE_PLACEHOLDERS:
        raise InvalidValue("invalid_state")
    return letters


# ------------------------------------------------------------------------------------------ countries

COUNTRY_ALIASES = {
    "UK": "gb", "Great Britain": "gb", "Britain": "gb", "England": "gb", "Scotland": "gb", "Wales": "gb",
    "Northern Ireland": "gb", "America": "us", "Holland": "nl", "Russia": "ru", "Россия": "ru",
    "UAE": "ae", "KSA": "sa", "Ivory Coast": "ci", "Vatican": "va", "Vatican City": "va", "Macau": "mo",
    "Burma": "mm", "Swaziland": "sz", "Turkey": "tr", "Deutschland": "de", "DR Congo": "cd", "DRC": "cd",
    "Congo-Kinshasa": "cd", "Congo-Brazzaville": "cg", "Cape Verde": "cv", "Macedonia": "mk", "East Timor": "tl",
    "Sao Tome": "st", "Falklands": "fk", "Brunei": "bn",
}
"""Common names pycountry lacks, each of one country only ("Korea" and "Virgin Islands" are two)."""
_LANGUAGES = ("de", "fr", "es", "it", "pt", "pt_BR", "nl", "sv", "da", "nb", "fi", "pl", "cs", "sk", "hu", "ro",
              "ru", "uk", "bg", "el", "tr", "ar", "he", "fa", "hi", "ja", "ko", "zh_CN", "zh_TW", "th", "vi", "id",
              "ms", "hr", "sl", "sr", "lt", "lv", "et", "ga", "is", "ca", "eu", "gl", "bn", "ur", "ta", "sw")
_PARENTHESIS = re.compile(r"\s*\([^)]*\)")


def _country_key(name: str) -> str:
    """How a country name is looked up: pycountry's inverted form turned round (``Korea, Republic of`` ->
    ``Republic of Korea``), a leading ``the`` dropped, ``&`` read as ``and``, ``St``/``St.`` as ``Saint``,
    then letters only."""
    name = name.lower().replace("&", " and ")
    head, comma, tail = name.partition(",")
    if comma and "," not in tail:
        name = f"{tail} {head}"
    words = ["saint" if word in ("st", "st.") else word for word in name.split()]
    if words[:1] == ["the"]:
        words = words[1:]
    return _key(" ".join(words))


def _name_keys(name: str) -> Iterator[str]:
    """The keys a name of pycountry's is found by: as written, without its comma, without a parenthesis
    (``Falkland Islands (Malvinas)``, ``Holy See (Vatican City State)``)."""
    yield _country_key(name)
    yield _key(name)
    if "(" in name:
        yield _country_key(_PARENTHESIS.sub("", name))


def _names(country: object) -> Iterator[str]:
    for attr in ("name", "official_name", "common_name"):
        value = getattr(country, attr, None)
        if value:
            yield value


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    """Every country's codes and English names first, then the heads of inverted names that name one
    country only (``Palestine``, not ``Korea`` nor ``Congo``, which is the Republic of the Congo's name),
    then the aliases."""
    names: dict[str, str] = {}
    for country in pycountry.countries:
        code = country.alpha_2.lower()
        names[country.alpha_2.lower()] = code
        names[country.alpha_3.lower()] = code
    heads: dict[str, set[str]] = {}
    for country in pycountry.countries:
        code = country.alpha_2.lower()
        for name in _names(country):
            for key in _name_keys(name):
                names.setdefault(key, code)
            if "," in name:
                heads.setdefault(_country_key(name.partition(",")[0]), set()).add(code)
    for head, codes in heads.items():
        if len(codes) == 1 and head not in names:
            names[head] = codes.pop()
    names.update({_country_key(alias): code for alias, code in COUNTRY_ALIASES.items()})
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
            for name in _names(country):
                for key in _name_keys(translation.gettext(name)):
                    translated.setdefault(key, set()).add(country.alpha_2.lower())
    return {key: next(iter(codes)) for key, codes in translated.items()
            if key and len(codes) == 1 and key not in english}


@accepts(max_length=100)
@lru_cache(maxsize=4096)
def country(text: str) -> str:
    """ISO 3166-1 alpha-2, lower case; codes, English, official and native names mapped; unknown rejected."""
    if is_prehashed(text):
        return text.lower()
    text = fold_width(text)
    # No country's name has a slash: "N/A" is a placeholder, not Namibia (NA).
    if "/" in text:
        raise InvalidValue("invalid_country")
    key = text.lower() if len(text) == 2 else _country_key(text)  # two letters: a code (or 日本, 中国)
    found = _country_names().get(key) or _translated_country_names().get(key)
    if found is None:
        raise InvalidValue("invalid_country")
    return found


@lru_cache(maxsize=1)
def _codes_by_digest() -> dict[str, str]:
    return {sha256_hex(code): code for code in (country.alpha_2.lower() for country in pycountry.countries)}


def country_context(normalized: object) -> str | None:
    """The row's country as phones, states and zips read it, from the country's normalized value: its
    code, or the code a pre-hashed country is the SHA-256 of; anything else (an unknown digest) is none."""
    if not isinstance(normalized, str):
        return None
    if len(normalized) == 2:
        return normalized
    return _codes_by_digest().get(normalized.lower())


# ------------------------------------------------------------------------------------------ zip codes

US_ZIP = re.compile(r"(\d{5})(?:-?\d{4})?")
US_ZIP_COUNTRIES = frozenset({"us", "pr", "vi", "gu", "as", "mp", "fm", "mh", "pw"})
"""The US and the territories and freely associated states that use US ZIP codes."""
_ZIP = re.compile(r"(?=[a-z-]*[0-9])[0-9a-z][0-9a-z-]{1,11}")  # every postcode has a digit: "null", "none" are no zip
_WRITTEN_NUMBER = re.compile(r"(\d+)(?:\.0+)?")  # "94025.0": a number column written out as text
# Countries whose postcodes are all digits of one length once spaces are removed (after Google's address
# data), so a number that lost its leading zeros gets them back. Korea has had 5 digits since 2015; not
# Israel (5 digits, then 7) nor Vietnam (6, then 5), whose old and new codes are both still written.
_ZIP_LENGTHS = {
    country: length
    for length, countries in {
        3: "fo gn is ls mg pg",
        4: "af ai al at au az bd be bg cc ch ck cv cx cy dk et ge gl gw hm ht hu li lr lu md mk mz ne nf no nz "
           "ph py si sj tn tz ve za",
        5: "ax ba bl bt cz de do dz eg eh es fi fr gf gp gr gt hn hr id iq it jo ke kh kr kw la lk lt ma mc me "
           "mf mm mn mq mv mx my nc ni np pf pk pm re sa se sk sm sn so th tr ua uy va wf yt zm "
           + " ".join(US_ZIP_COUNTRIES),
        6: "cn co in kg kz ng ro ru sg tj tm uz",
        7: "cl jp",
        8: "br",
    }.items()
    for country in countries.split()
}


def _restore_leading_zeros(digits: str, country: str | None) -> str:
    """``2134`` -> ``02134`` (US), ``800`` -> ``0800`` (AU): at most two zeros, to the country's length; a
    US ZIP+4 of seven or eight digits back to nine."""
    length = _ZIP_LENGTHS.get(country)
    if length and length - 2 <= len(digits) < length:
        return digits.zfill(length)
    if country in US_ZIP_COUNTRIES and 7 <= len(digits) < 9:
        return digits.zfill(9)
    return digits


def _zip_hook(value: object, country_code: object) -> str | None:
    """Numbers read exactly, their lost leading zeros restored where the row's country says how many
    digits its postcodes have; without a country, as written (``2000`` is Sydney's as well as a Boston
    zip without its zero, as for text)."""
    if isinstance(value, bool | np.bool_) or not isinstance(
            value, int | float | decimal.Decimal | np.integer | np.floating):
        raise InvalidValue("invalid_value_type")
    text = number_text(value)
    if text is None:
        return None
    if not text.isdigit():
        raise InvalidValue("invalid_zip")
    return _restore_leading_zeros(text, _alpha_2(country_code))


@accepts(numbers=True, max_length=100, hook=_zip_hook)
def zip_code(text: str, country_code: object = None) -> str | None:
    """Lower case, no spaces; a US zip keeps its first five digits (``94025-1234`` -> ``94025``).

    ``country_code`` is the row's country (any case). Text that is a number (``2134``, ``94025.0``) reads
    as that number does once the row's country is known; a trailing dash (``94025-``, an empty ZIP+4)
    is dropped and typographic dashes read as ``-``. With ``us`` or a territory using US ZIPs
    (``pr``, ``gu``...) a value that is no US zip is rejected. Zeros only (``00000``) stand for no zip:
    absent, counted as ``placeholder_value``.
    """
    if is_prehashed(text):
        return text.lower()
    return read_unwrapped_if_refused(_zip_code, text, country_code)  # ="02134": how exports keep a leading 0


_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2212\ufe63\uff0d"), "-")


def _zip_code(text: str, country_code: object) -> str:
    value = "".join(fold_width(text).lower().split())
    if not value.isascii():  # digits of another script (٩٤٠٢٥) as the ASCII digits a zip is written with
        value = "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in value)
        value = value.translate(_DASHES)  # 94025–1234: a word processor's dash
    value = value.rstrip("-")  # 94025-: a ZIP+4 whose four digits were empty when it was joined
    country = _alpha_2(country_code)
    number = _WRITTEN_NUMBER.fullmatch(value)
    if number is not None:
        value = _restore_leading_zeros(number.group(1), country)
    if not value.strip("0-"):  # 00000, 00000-0000: a form's filler, no postcode anywhere
        raise Absent(PLACEHOLDER_VALUE)
    if country is None or country in US_ZIP_COUNTRIES:
        match = US_ZIP.fullmatch(value)
        if match:
            return match.group(1)
        if country is not None:
            raise InvalidValue("invalid_zip")
    if not _ZIP.fullmatch(value):
        raise InvalidValue("invalid_zip")
    return value
