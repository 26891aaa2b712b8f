"""Phone numbers: digits with the country code, only for numbers ``phonenumbers`` calls *valid*.

Two layers share one text cleaner (:func:`clean_phone`):

- :func:`phone_reference` asks ``phonenumbers`` (``parse`` then ``is_valid_number``) for each candidate
  reading in turn: the row's country, the default region, then the digits as an international number.
- :func:`phone` gives exactly the same answer, but through a compiled fast path built from
  ``phonenumbers``' own metadata (:class:`phonenumbers.PhoneMetadata`: international and national
  prefixes, possible lengths and the number-type patterns of every region, compiled once per region on
  first use), which mirrors ``parse`` + ``is_valid_number`` for digit strings. Only what the fast path
  cannot settle (a national-prefix transform rule, an odd IDD) goes to ``phonenumbers.parse``. A test
  compares both layers on many numbers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import cache, lru_cache

import phonenumbers
from phonenumbers import PhoneMetadata

from snap_capi_provider.core.text import (
    INVISIBLE_MARKS,
    PLACEHOLDER_VALUE,
    Absent,
    InvalidValue,
    accepts,
    is_number,
    is_prehashed,
    number_text,
    spreadsheet_unwrapped,
)

_MAX_DIGITS = 20  # no E.164 number has more (3 for the country code, at most 17 for the national part)
_MIN_NSN, _MAX_NSN = 2, 17  # phonenumbers' own bounds for a national significant number
_SEPARATORS = str.maketrans({c: " " for c in "-.()/\u00a0\u2007\u202f\u2010\u2011\u2012\u2013\u2014\u2212\u30fc"
                             "\uff0d\uff08\uff09\uff0e\uff0f\u3000[]"})
_ALLOWED = re.compile(r"\+?[\d ]+")
_SEPARATOR_BYTES = b" ().-/+"
_EXTENSION = re.compile(r"(?:\s*[;,]?\s*(?:ext(?:ension)?\.?|extn|x|#|ramal|poste|durchwahl|доб\.?)\s*[:=.]?\s*"
                        r"\d{1,7}#?|;ext=\d{1,7})$", re.IGNORECASE)
_DIAL_PAUSE = re.compile(r"\s*[,;]{1,3}\s*\d{1,7}#?$")  # 6505551212,,123: a dialler's pause, then the extension
_TEL_PARAMS = re.compile(r";[a-z-]+=[^;]*", re.IGNORECASE)
_LABEL_BEFORE = re.compile(r"^[^\W\d_]{1,20}\.?(?:\s*:\s*|\s+)(?=[+(\uff0b\d])")  # Mobile: 650..., Home 650...
_LABEL_AFTER = re.compile(r"(?:\s*\(\s*[^\W\d_]{1,20}\.?\s*\)|\s+[^\W\d_]{1,20}\.?)$")  # ... (cell), ... home
_FLOAT_TEXT = re.compile(r"\s*(\+?\d+)\.0+\s*", re.ASCII)  # a number column written out as a float
_INVISIBLE = dict.fromkeys(map(ord, INVISIBLE_MARKS))

INTERNATIONAL, DIALLED_00, NATIONAL = "+", "00", ""


def clean_phone(text: str) -> tuple[str, str]:
    """``(prefix, ASCII digits)`` of a written number, or InvalidValue.

    ``prefix`` is ``"+"`` for a number written with ``+`` (or ``＋``), ``"00"`` for one dialled with a
    leading ``00`` (stripped from the digits), ``""`` for a national number. Drops a ``tel:`` scheme and
    its parameters, an extension (also after a dialler's pause: ``,,123``), a label before or after the
    number (``Mobile: 650...``, ``... (cell)``), separators, invisible marks and a float's ``.0``
    (``6505551212.0``); reads non-ASCII digits (Arabic-Indic, full-width, ...) as digits; unwraps a
    spreadsheet's wrapper (``="+16505551212"``, ``'+16505551212``). Letters within the number
    (``1-800-FLOWERS``) and other symbols are refused. A ``(0)`` after the country code stays in the
    digits: ``phonenumbers`` drops it where it is a trunk prefix (``+44 (0)20``) and keeps it where it is
    part of the number (``+39 (0)6``).
    """
    if "." in text and (floating := _FLOAT_TEXT.fullmatch(text)):
        text = floating.group(1)
    # The common shapes (ASCII digits, spaces, ().-/ and a leading +): two C passes, no regex.
    raw = text.encode() if text.isascii() else b""
    stripped = raw.translate(None, _SEPARATOR_BYTES)
    if stripped.isdigit() and raw.find(b"+", 1) == -1:
        return _prefixed(text.startswith("+"), stripped.decode())
    value = text
    if not value.isascii():
        value = value.translate(_INVISIBLE)
        value = "".join(str(unicodedata.digit(ch)) if ch.isdigit() and not ch.isascii() else ch for ch in value)
        value = value.replace("\uff0b", "+")
    if value[:4].lower() == "tel:":
        value = _TEL_PARAMS.sub("", value[4:])
    value = _LABEL_BEFORE.sub("", value.strip(), count=1)
    value = _DIAL_PAUSE.sub("", _EXTENSION.sub("", value))
    value = _LABEL_AFTER.sub("", value)
    value = value.translate(_SEPARATORS).strip()
    if value.startswith("++"):  # a doubled plus, as phonenumbers reads it too
        value = value[1:]
    if not _ALLOWED.fullmatch(value):
        inner = spreadsheet_unwrapped(text)  # ="+16505551212", '+16505551212
        if inner is None:
            raise InvalidValue("invalid_phone")
        return clean_phone(inner)
    digits = value.replace(" ", "").lstrip("+")
    if "+" in digits:
        raise InvalidValue("invalid_phone")
    return _prefixed(value.startswith("+"), digits)


def _prefixed(plus: bool, digits: str) -> tuple[str, str]:
    prefix = INTERNATIONAL if plus else NATIONAL
    if not plus and digits.startswith("00"):
        prefix, digits = DIALLED_00, digits[2:]
    if not 2 <= len(digits) <= _MAX_DIGITS:
        raise InvalidValue("invalid_phone")
    return prefix, digits


def _regions(region: str | None, default_region: str | None) -> list[str]:
    out = []
    for candidate in (region, default_region):
        if candidate and candidate in phonenumbers.SUPPORTED_REGIONS and candidate not in out:
            out.append(candidate)
    return out


def _unpack(region: object, default_region: str | None) -> tuple[str | None, str | None]:
    if isinstance(region, tuple):  # normalize_column context (row region, default region)
        region, default_region = (tuple(region) + (None, None))[:2]
    region = region.upper() if isinstance(region, str) else None
    default_region = default_region.upper() if isinstance(default_region, str) else None
    return region, default_region


@lru_cache(maxsize=4096)
def _candidate_regions(region: object, default_region: str | None) -> tuple[str, ...]:
    """The regions a national number is read in, in order (a few distinct contexts a run: cached)."""
    return tuple(_regions(*_unpack(region, default_region)))


def _phone_hook(value: object, _ctx: object) -> str | None:
    """A number cell's digits (``16505551212``, ``16505551212.0``); a date or any other object is no phone."""
    if not is_number(value):
        raise InvalidValue("invalid_value_type")
    return number_text(value)


# ------------------------------------------------------------------------------------- reference


def _reference_valid(text: str, region: str | None) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]


def phone_reference(text: str, region: object = None, default_region: str | None = None) -> str:
    """:func:`phone` computed by ``phonenumbers`` alone (``parse`` + ``is_valid_number`` per reading, in
    the same order and with the same reading of Mexico's retired prefixes)."""
    return _read_phone(text, region, default_region, _reference_international, _reference_valid)


def _reference_international(digits: str) -> str | None:
    return _reference_valid("+" + digits, None)


def _read_phone(text: str, region: object, default_region: str | None,
                international: Callable[[str], str | None], national: Callable[[str, str], str | None]) -> str:
    """The reading order of :func:`phone`, with its two lookups (fast, or ``phonenumbers`` alone) given."""
    if is_prehashed(text):
        return text.lower()
    prefix, digits = clean_phone(text)
    if prefix == INTERNATIONAL:
        found = _international_or_retired(international, digits)
        if found is None:
            raise _refused(digits, "invalid_phone")
        return found
    try:
        regions = _candidate_regions(region, default_region)
    except TypeError:  # an unhashable region (a list): read it without the cache
        regions = _candidate_regions.__wrapped__(region, default_region)
    if prefix == DIALLED_00:
        return _dialled_00(text, digits, regions, international, national)
    for candidate in regions:
        found = national(digits, candidate)
        if found is None and candidate == "MX" and (current := _current_mexican_national(digits)):
            found = national(current, candidate)
        if found is not None:
            return found
    found = _international_or_retired(international, digits)
    if found is not None:
        return found
    raise _refused(digits, "invalid_phone" if regions else "phone_without_country_code")


def _dialled_00(text: str, digits: str, regions: tuple[str, ...], international: Callable[[str], str | None],
                national: Callable[[str, str], str | None]) -> str:
    """A number dialled with ``00``: the digits after it read as an international number (the rule),
    or the whole as dialled in the row's country, whose own international prefix may begin with 00
    (``0011`` in Australia, ``001`` in Korea, ``008`` in Thailand: the 00 alone leaves ``11``, ``1`` or
    ``8`` before the country code).

    Where both readings are valid numbers and differ, the writer's grouping decides: ``0011 32 ...``
    in Australia and ``008 1 201 ...`` in Thailand set the country's prefix apart, ``0049 151 ...`` or
    ``00 49 ...`` set apart ``00`` and the country code (in Singapore, whose prefixes run from ``000``
    to ``039``, ``004`` then ``91`` is an Indian number too). Written without a space, or with a group
    that is both (``001 670 ...`` in Singapore: its prefix ``001``, or ``00`` and the code ``1``), it is
    ambiguous: refused."""
    as_00 = _international_or_retired(international, digits)
    for candidate in regions:
        found = national("00" + digits, candidate)
        if found is None:
            continue
        if as_00 is None or found == as_00:
            return found
        group = _FIRST_DIGITS.search(text)  # the first group of digits as written: "0049" of "(0049) 151"
        written = group.group(0) if group else ""
        meta = _meta(candidate)
        prefix = meta.idd.match("00" + digits) if meta is not None and meta.idd is not None else None
        country_prefix_apart = prefix is not None and written == prefix.group(0)
        code_apart = written == "00" or written == "00" + str(_extract_cc(as_00)[0])
        if country_prefix_apart != code_apart:  # "001 670 ..." in Singapore is both: ambiguous
            return found if country_prefix_apart else as_00
        raise InvalidValue("invalid_phone")
    if as_00 is not None:
        return as_00
    raise _refused(digits, "invalid_phone")


_FIRST_DIGITS = re.compile(r"[0-9]+")


def _international_or_retired(international: Callable[[str], str | None], digits: str) -> str | None:
    """``international(digits)``, or the number in Mexico's current plan when it was written the way
    Mexican mobiles were until 2019 (and WhatsApp still writes them): ``+52 1`` and ten digits. The plan
    dropped the ``1``, and phonenumbers now calls that form invalid; the ten digits are the number."""
    found = international(digits)
    if found is None and len(digits) == 13 and digits.startswith("521"):
        found = international("52" + digits[3:])
    return found


def _current_mexican_national(digits: str) -> str | None:
    """A Mexican number dialled before 2019 with the prefix for a mobile (``044``, ``045``) or a
    long-distance call (``01``) before its ten digits: the ten digits, which are today's number."""
    if len(digits) == 13 and digits.startswith(("044", "045")):
        return digits[3:]
    if len(digits) == 12 and digits.startswith("01"):
        return digits[2:]
    return None


_FILLER_NUMBERS = frozenset({"123456789", "1234567890", "0123456789", "11234567890"})


def _refused(digits: str, reason: str) -> Exception:
    """Why a number is no phone: a filler a form demanded (``0000000000``, ``1234567890``) stands for
    none and is absent; any other number is refused with ``reason``."""
    if (len(digits) >= 3 and len(set(digits)) == 1) or digits in _FILLER_NUMBERS:
        return Absent(PLACEHOLDER_VALUE)
    return InvalidValue(reason)


# ------------------------------------------------------------------------------------- fast path

_MISS = object()  # the fast path cannot tell: ask phonenumbers


def _compile(pattern: str | None) -> re.Pattern | None:
    return re.compile(pattern) if pattern else None


class _Desc:
    __slots__ = ("lengths", "pattern")

    def __init__(self, desc):
        self.lengths = frozenset(desc.possible_length) if desc is not None else frozenset()
        self.pattern = _compile(desc.national_number_pattern) if desc is not None else None


class _Meta:
    """One region's numbering plan, compiled from phonenumbers' metadata."""

    def __init__(self, md: PhoneMetadata):
        self.cc = md.country_code
        self.cc_text = str(md.country_code)
        general = md.general_desc
        self.general = _compile(general.national_number_pattern) if general is not None else None
        self.lengths = sorted(general.possible_length) if general is not None else []
        self.local_lengths = frozenset(general.possible_length_local_only or ()) if general is not None else ()
        self.national_prefix = _compile(md.national_prefix_for_parsing)
        self.transform = md.national_prefix_transform_rule or None
        self.idd = _compile(md.international_prefix)
        self.leading_digits = _compile(md.leading_digits)
        kinds = ("fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "voip", "personal_number",
                 "pager", "uan", "voicemail")
        self.types = [_Desc(getattr(md, kind)) for kind in kinds if getattr(md, kind) is not None]
        self._valid: dict[int, re.Pattern | None] = {}

    def general_match(self, number: str) -> bool:
        return self.general is not None and self.general.fullmatch(number) is not None

    def valid(self, nsn: str) -> bool:  # _number_type_helper(...) != UNKNOWN
        pattern = self._valid.get(len(nsn), _MISS)
        if pattern is _MISS:
            pattern = self._valid[len(nsn)] = self._valid_pattern(len(nsn))
        return pattern is not None and pattern.fullmatch(nsn) is not None

    def _valid_pattern(self, length: int) -> re.Pattern | None:
        """One regex for the numbers of ``length`` digits valid here (phonenumbers: the general pattern
        and one of the number types that take that length, ``_is_number_matching_desc``): the general
        pattern as a look-ahead before one alternation of the type patterns, so one call decides."""
        if self.general is None or (self.lengths and length not in self.lengths):
            return None
        patterns = [desc.pattern.pattern for desc in self.types
                    if desc.pattern is not None and (not desc.lengths or length in desc.lengths)]
        if not patterns:
            return None
        typed = "|".join(f"(?:{pattern})" for pattern in patterns)
        return re.compile(rf"(?=(?:{self.general.pattern})\Z)(?:{typed})")

    def length_result(self, number: str) -> str:  # _test_number_length for UNKNOWN
        n = len(number)
        if n in self.local_lengths:
            return "local"
        lengths = self.lengths
        if not lengths:
            return "invalid"
        if lengths[0] == n:
            return "ok"
        if lengths[0] > n:
            return "short"
        if lengths[-1] < n:
            return "long"
        return "ok" if n in lengths else "invalid"

    def strip_national_prefix(self, number: str) -> str:  # _maybe_strip_national_prefix_carrier_code
        if not number or self.national_prefix is None:
            return number
        match = self.national_prefix.match(number)
        if not match:
            return number
        viable = self.general_match(number)
        groups = match.groups()
        if self.transform is None or not groups or groups[-1] is None:
            rest = number[match.end():]
            if viable and not self.general_match(rest):
                return number
            return rest
        transformed = self.national_prefix.sub(self.transform, number, count=1)
        if viable and not self.general_match(transformed):
            return number
        return transformed


@cache
def _meta(region: str) -> _Meta | None:
    md = PhoneMetadata.metadata_for_region(region, None)
    return _Meta(md) if md is not None else None


@cache
def _metas_for_cc(cc: int) -> tuple[tuple[_Meta, ...], _Meta | None]:
    """(every region sharing the calling code, in phonenumbers' order; the code's main region)."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(cc, ())
    if regions == (phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY,):
        md = PhoneMetadata.metadata_for_nongeo_region(cc, None)
        meta = _Meta(md) if md is not None else None
        return ((meta,) if meta else ()), meta
    metas = tuple(m for m in (_meta(r) for r in regions) if m is not None)
    return metas, (metas[0] if metas else None)


def _valid_for_cc(cc: int, nsn: str) -> bool:
    """phonenumbers.is_valid_number for (cc, nsn): region_code_for_number, then the type check there."""
    metas, _ = _metas_for_cc(cc)
    if len(metas) == 1:
        return metas[0].valid(nsn)
    for meta in metas:
        if meta.leading_digits is not None:
            if meta.leading_digits.match(nsn):
                return meta.valid(nsn)
        elif meta.valid(nsn):
            return True
    return False


_CALLING_CODES = {str(cc): cc for cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE}


def _extract_cc(number: str) -> tuple[int, str]:
    if not number or number[0] == "0":
        return 0, number
    for size in (1, 2, 3):
        cc = _CALLING_CODES.get(number[:size]) if len(number) >= size else None
        if cc is not None:
            return cc, number[size:]
    return 0, number


def _finish(cc: int, national: str, meta: _Meta | None) -> str | None:
    """parse()'s tail (national prefix, lengths) then is_valid_number; E.164 digits or None."""
    if len(national) < _MIN_NSN:
        return None
    if meta is not None:
        stripped = meta.strip_national_prefix(national)
        if meta.length_result(stripped) not in ("short", "local", "invalid"):
            national = stripped
    if not _MIN_NSN <= len(national) <= _MAX_NSN:
        return None
    return f"{cc}{national}" if _valid_for_cc(cc, national) else None


def _fast_international(digits: str) -> str | None:
    """parse('+' + digits) + is_valid_number."""
    if len(digits) <= _MIN_NSN:
        return None
    cc, national = _extract_cc(digits)
    if cc == 0:
        return None
    _, meta = _metas_for_cc(cc)
    return _finish(cc, national, meta)


def _fast_national(digits: str, region: str) -> object:
    """parse(digits, region) + is_valid_number, or _MISS."""
    meta = _meta(region)
    if meta is None:
        return _MISS
    if meta.idd is not None:
        match = meta.idd.match(digits)
        if match and not digits[match.end():].startswith("0"):
            return _fast_international(digits[match.end():]) if len(digits) - match.end() > _MIN_NSN else None
    if digits.startswith(meta.cc_text):
        rest = meta.strip_national_prefix(digits[len(meta.cc_text):])
        if (not meta.general_match(digits) and meta.general_match(rest)) or meta.length_result(digits) == "long":
            return _finish(meta.cc, rest, _metas_for_cc(meta.cc)[1])
    return _finish(meta.cc, digits, meta)


@accepts(numbers=True, max_length=100, hook=_phone_hook)
def phone(text: str, region: object = None, default_region: str | None = None) -> str:
    """Digits only, with the country code, e.g. ``+44 (0)20 7946 0958`` -> ``442079460958``.

    An international number (``+``, ``00``, the region's IDD such as ``011`` in the US, ``tel:``) must be
    valid for its country code. A national number is read in ``region`` (the row's country) when it is
    valid there, else in ``default_region``, else its digits must already start with a valid country
    code. Mexico's numbers written with the prefixes its plan retired in 2019 (``+52 1`` before a mobile,
    ``044``, ``045`` or ``01`` dialled at home) are read as the ten digits that follow. A number valid
    nowhere is rejected, never guessed. ``region`` may also be a
    ``(region, default_region)`` tuple, the form :func:`phone_context` builds for ``normalize_column``.
    """
    return _read_phone(text, region, default_region, _fast_international, _fast_national_or_reference)


def _fast_national_or_reference(digits: str, region: str) -> str | None:
    found = _fast_national(digits, region)
    return _reference_valid(digits, region) if found is _MISS else found  # type: ignore[return-value]


def phone_context(countries: list[object], default_region: str | None = None) -> list[tuple[str | None, str | None]]:
    """Per-row ``(row region, default region)`` for ``normalize_column(values, phone, context)``."""
    default = default_region.upper() if isinstance(default_region, str) and default_region else None
    return [((c.upper() if isinstance(c, str) and len(c) == 2 else None), default) for c in countries]
