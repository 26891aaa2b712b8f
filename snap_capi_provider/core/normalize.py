"""Normalization rules for Snap CAPI fields: one rule per field, in one place.

Each rule takes one value already turned into trimmed NFC text and returns the normalized text,
``None`` when the value means "absent", or raises :class:`InvalidValue` with a short, PII-free
reason. :func:`normalize_column` applies a rule to a whole pandas column, once per distinct value.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import ipaddress
import itertools
import math
import re
import string
import unicodedata
from collections.abc import Callable, Hashable, Iterable, Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
import pendulum
import phonenumbers
import pycountry


class InvalidValue(ValueError):
    """A value that cannot be normalized; ``reason`` is a short code safe to log (never the value)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
US_ZIP = re.compile(r"(\d{5})(-?\d{4})?")


def is_prehashed(text: str) -> bool:
    """True when ``text`` already is a SHA-256 hex digest (any case)."""
    return len(text) == 64 and SHA256_HEX.fullmatch(text) is not None


def sha256_hex(text: str) -> str:
    """Lowercase hex SHA-256 of the UTF-8 bytes; a value that already is a digest passes through."""
    if is_prehashed(text):
        return text.lower()
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------- text


def to_text(value: object) -> str | None:
    """Any cell value to trimmed NFC text; ``None`` for absent (None, NaN, pandas NA/NaT, "")."""
    if type(value) is str:  # the common case first
        text = (value if value.isascii() else unicodedata.normalize("NFC", value)).strip()
        return text or None
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool | np.bool_):
        text = "true" if value else "false"
    elif isinstance(value, int | np.integer):
        text = _int_text(int(value))
    elif isinstance(value, float | np.floating):
        if math.isnan(value) or math.isinf(value):
            return None
        # Integral floats come from integer columns that pandas widened because of a NaN:
        # 16505551212.0 must read as "16505551212", not "1.6505551212e10".
        text = _int_text(int(value)) if float(value).is_integer() else repr(float(value))
    elif isinstance(value, decimal.Decimal):
        if value.is_nan() or value.is_infinite():
            return None
        text = format(value.normalize(), "f") if value == value.to_integral_value() else str(value)
    elif isinstance(value, bytes | bytearray | memoryview):
        try:
            text = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidValue("not_utf8") from None
    else:
        try:
            text = str(value)
        except Exception:  # an object whose str() fails: a reason, never a traceback
            raise InvalidValue("unreadable_value") from None
    text = unicodedata.normalize("NFC", text).strip()
    return text or None


_MAX_INT_DIGITS = 40  # longer integers are no identifier, amount or timestamp a field can take


def _int_text(number: int) -> str:
    if abs(number) >= 10**_MAX_INT_DIGITS:
        raise InvalidValue("number_too_large")
    return str(number)


# -------------------------------------------------------------------------------------- PII rules


def email(text: str) -> str:
    """Trim and lower-case; must look like ``local@domain.tld``. Dots and ``+tags`` are kept."""
    if is_prehashed(text):
        return text.lower()
    value = text.lower()
    if EMAIL.fullmatch(value) is None:
        raise InvalidValue("invalid_email")
    return value


def phone(text: str, region: str | None = None) -> str:
    """Digits only, with the country code, e.g. ``+44 (0)20 7946 0958`` -> ``442079460958``.

    A leading ``00`` is an international prefix; national numbers need ``region`` (the row's country
    or a configured default). A number whose country code cannot be known is rejected, never guessed.
    """
    if is_prehashed(text):
        return text.lower()
    value = text
    if value.startswith("00"):
        value = "+" + value[2:]
    digits = re.sub(r"\D", "", value)
    if not digits:
        raise InvalidValue("invalid_phone")
    if value.startswith("+"):
        number = _parse_phone(value, None)
        if number is None or not phonenumbers.is_possible_number(number):
            raise InvalidValue("invalid_phone")
        return _e164_digits(number)
    in_region = _parse_phone(value, region.upper()) if region else None
    if in_region is not None and phonenumbers.is_possible_number_with_reason(in_region) == _IS_POSSIBLE:
        return _e164_digits(in_region)
    # Digits that already start with a country code, e.g. "448444124653" in a US-default run.
    # Only a number that is *valid* with that code is taken, so national numbers are not misread.
    international = _parse_phone("+" + digits, None)
    if international is not None and phonenumbers.is_valid_number(international):
        return _e164_digits(international)
    raise InvalidValue("invalid_phone" if region else "phone_without_country_code")


_IS_POSSIBLE = phonenumbers.ValidationResult.IS_POSSIBLE


def _parse_phone(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def _e164_digits(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]


_NAME_DROP = re.compile(r"[\d\s" + re.escape(string.punctuation) + r"\u2018\u2019\u201c\u201d\u00b4`]+")


def name(text: str) -> str | None:
    """First or last name: lower case, NFC, punctuation and digits removed, accents kept."""
    if is_prehashed(text):
        return text.lower()
    value = "".join(ch for ch in _NAME_DROP.sub("", text.lower()) if ch.isalpha() or _is_mark(ch))
    return value or None


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch).startswith("M")


_GENDERS = {"m": "m", "male": "m", "man": "m", "f": "f", "female": "f", "woman": "f"}


def gender(text: str) -> str | None:
    """``m`` or ``f``; anything else means absent (not an error)."""
    if is_prehashed(text):
        return text.lower()
    return _GENDERS.get(text.lower())


_DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d-%m-%Y", "%m-%d-%Y")


def date_of_birth(text: str) -> str:
    """Any common date form to ``YYYYMMDD`` (``1997-12-26`` -> ``19971226``)."""
    if is_prehashed(text):
        return text.lower()
    parsed: object = None
    for fmt in _DATE_FORMATS:
        try:
            parsed = dt.datetime.strptime(text, fmt)
            break
        except ValueError:
            continue
    if parsed is None:
        try:
            parsed = pendulum.parse(text, strict=False, tz=None)
        except (ValueError, OverflowError, TypeError, pendulum.parsing.exceptions.ParserError):
            raise InvalidValue("invalid_date_of_birth") from None
    if not isinstance(parsed, dt.date) or not 1800 <= parsed.year <= dt.date.today().year:
        raise InvalidValue("invalid_date_of_birth")
    return f"{parsed.year:04d}{parsed.month:02d}{parsed.day:02d}"


def city(text: str) -> str | None:
    """Lower case, no spaces, punctuation or digits (``Menlo Park`` -> ``menlopark``)."""
    return name(text)


@lru_cache(maxsize=1)
def _state_codes() -> dict[str, str]:
    codes: dict[str, str] = {}
    for country_code in ("US", "CA"):
        for sub in pycountry.subdivisions.get(country_code=country_code):
            code = sub.code.split("-", 1)[1].lower()
            codes[_letters(sub.name)] = code
            codes[code] = code
    return codes


def _letters(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalpha())


def state(text: str) -> str | None:
    """Two-letter code, lower case; US and Canadian names map to their code (``California`` -> ``ca``)."""
    if is_prehashed(text):
        return text.lower()
    letters = _letters(text)
    return _state_codes().get(letters, letters) or None


def zip_code(text: str, country_code: str | None = None) -> str | None:
    """Lower case, no spaces; a US zip keeps its first five digits (``94025-1234`` -> ``94025``)."""
    if is_prehashed(text):
        return text.lower()
    value = re.sub(r"\s+", "", text.lower())
    if country_code in (None, "us"):
        match = US_ZIP.fullmatch(value)
        if match:
            return match.group(1)
    return value or None


_COUNTRY_ALIASES = {"uk": "gb", "england": "gb", "scotland": "gb", "wales": "gb", "great britain": "gb",
                    "usa": "us", "u.s.a.": "us", "u.s.": "us", "america": "us",
                    "united states of america": "us"}


@lru_cache(maxsize=4096)
def country(text: str) -> str:
    """ISO 3166-1 alpha-2, lower case; names and alpha-3 codes are mapped, unknown is rejected."""
    if is_prehashed(text):
        return text.lower()
    key = text.lower()
    if key in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[key]
    try:
        return pycountry.countries.lookup(key).alpha_2.lower()
    except LookupError:
        raise InvalidValue("invalid_country") from None


def external_id(text: str) -> str:
    """Trimmed and hashed as is: ids may be case-sensitive."""
    return text.lower() if is_prehashed(text) else text


def device_id(text: str) -> str:
    """Mobile advertising id or IDFV: lower case, hyphens kept."""
    return text.lower()


_IPV4 = re.compile(r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)")


def ip_address(text: str) -> str:
    """A valid IPv4 or IPv6 address in its canonical form."""
    if _IPV4.fullmatch(text):
        return text
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise InvalidValue("invalid_ip_address") from None


def plain_text(text: str) -> str:
    return text


@lru_cache(maxsize=512)
def currency(text: str) -> str:
    """Upper-case ISO 4217 code."""
    code = text.upper()
    if len(code) != 3 or pycountry.currencies.get(alpha_3=code) is None:
        raise InvalidValue("invalid_currency")
    return code


def amount(text: str) -> float:
    """A non-negative decimal amount (``42.50``, ``1,299.00`` is refused as ambiguous)."""
    try:
        value = decimal.Decimal(text)
    except decimal.InvalidOperation:
        raise InvalidValue("invalid_value") from None
    if not value.is_finite() or value < 0 or not math.isfinite(float(value)):
        raise InvalidValue("invalid_value")
    return float(value)


def count(text: str) -> int:
    """A non-negative whole number."""
    try:
        value = decimal.Decimal(text)
    except decimal.InvalidOperation:
        raise InvalidValue("invalid_num_items") from None
    if not value.is_finite() or value < 0 or value > MAX_COUNT or value != value.to_integral_value():
        raise InvalidValue("invalid_num_items")
    return int(value)


MAX_COUNT = 10**9
"""Largest ``num_items`` accepted (JSON encoders and Snap take 64-bit integers at most)."""


def string_list(value: object) -> list[str] | None:
    """A list of ids from a list/array or a comma-separated string."""
    if isinstance(value, list | tuple | np.ndarray):
        items = [to_text(item) for item in value]
    else:
        text = to_text(value)
        items = text.split(",") if text is not None else []
    cleaned = [item.strip() for item in items if item is not None and item.strip()]
    return cleaned or None


# ------------------------------------------------------------------------------ event-level rules

EVENT_NAMES: tuple[str, ...] = (
    "PAGE_VIEW", "VIEW_CONTENT", "LIST_VIEW", "SEARCH", "ADD_CART", "ADD_TO_WISHLIST", "START_CHECKOUT",
    "ADD_BILLING", "PURCHASE", "SIGN_UP", "LOGIN", "SUBSCRIBE", "START_TRIAL", "SAVE", "SHARE", "INVITE",
    "RESERVE", "RATE", "AD_CLICK", "AD_VIEW", "COMPLETE_TUTORIAL", "LEVEL_COMPLETE", "ACHIEVEMENT_UNLOCKED",
    "SPENT_CREDITS", "APP_INSTALL", "APP_OPEN",
    "CUSTOM_EVENT_1", "CUSTOM_EVENT_2", "CUSTOM_EVENT_3", "CUSTOM_EVENT_4", "CUSTOM_EVENT_5",
)
EVENT_NAME_ALIASES = {
    "ADD_TO_CART": "ADD_CART", "ADDTOCART": "ADD_CART", "CART": "ADD_CART",
    "PAGEVIEW": "PAGE_VIEW", "VIEWCONTENT": "VIEW_CONTENT", "VIEW_ITEM": "VIEW_CONTENT",
    "ADD_TO_WISH_LIST": "ADD_TO_WISHLIST", "WISHLIST": "ADD_TO_WISHLIST",
    "INITIATE_CHECKOUT": "START_CHECKOUT", "BEGIN_CHECKOUT": "START_CHECKOUT", "CHECKOUT": "START_CHECKOUT",
    "ADD_PAYMENT_INFO": "ADD_BILLING", "ORDER": "PURCHASE", "ORDER_COMPLETED": "PURCHASE",
    "COMPLETE_REGISTRATION": "SIGN_UP", "SIGNUP": "SIGN_UP", "REGISTER": "SIGN_UP", "REGISTRATION": "SIGN_UP",
    "SPEND_CREDITS": "SPENT_CREDITS", "INSTALL": "APP_INSTALL", "OPEN": "APP_OPEN",
}
ACTION_SOURCES = ("WEB", "MOBILE_APP", "OFFLINE")
ACTION_SOURCE_ALIASES = {"WEBSITE": "WEB", "APP": "MOBILE_APP", "MOBILE": "MOBILE_APP", "STORE": "OFFLINE",
                         "PHYSICAL_STORE": "OFFLINE", "IN_STORE": "OFFLINE"}


def _canonical(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", text.strip()).upper()


def event_name(text: str) -> str:
    """Snap's upper-case event name; ``purchase`` and ``add_to_cart`` style aliases are accepted."""
    key = _canonical(text)
    if key in EVENT_NAMES:
        return key
    if key in EVENT_NAME_ALIASES:
        return EVENT_NAME_ALIASES[key]
    raise InvalidValue("unknown_event_name")


def action_source(text: str) -> str:
    """``WEB``, ``MOBILE_APP`` or ``OFFLINE`` (any case, a few aliases)."""
    key = _canonical(text)
    key = ACTION_SOURCE_ALIASES.get(key, key)
    if key not in ACTION_SOURCES:
        raise InvalidValue("invalid_action_source")
    return key


# Epoch magnitudes: seconds until the year 5138, then milliseconds, microseconds, nanoseconds.
_EPOCH_DIVISORS = ((1e11, 1), (1e14, 1_000), (1e17, 1_000_000), (1e20, 1_000_000_000))


def epoch_seconds(number: float) -> int:
    """Unix seconds from an epoch in s, ms, µs or ns, told apart by magnitude."""
    if not math.isfinite(number) or number <= 0:
        raise InvalidValue("invalid_event_time")
    for limit, divisor in _EPOCH_DIVISORS:
        if number < limit:
            return int(number // divisor)
    raise InvalidValue("invalid_event_time")


def event_time(value: object, timezone: str | None = None) -> int:
    """Unix seconds (UTC) from an aware datetime, ISO-8601 text with an offset or an epoch number.

    A naive datetime or text without an offset is refused unless ``timezone`` says where it is.
    """
    if value is None or value is pd.NA or value is pd.NaT:
        raise InvalidValue("missing_event_time")
    if isinstance(value, bool | np.bool_):
        raise InvalidValue("invalid_event_time")
    if isinstance(value, int | float | np.integer | np.floating | decimal.Decimal):
        if isinstance(value, decimal.Decimal) and value.is_nan():
            raise InvalidValue("missing_event_time")
        if isinstance(value, float | np.floating) and math.isnan(value):
            raise InvalidValue("missing_event_time")
        try:
            number = float(value)
        except (OverflowError, ValueError):
            raise InvalidValue("invalid_event_time") from None
        return epoch_seconds(number)
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
        if value is pd.NaT:
            raise InvalidValue("missing_event_time")
    if isinstance(value, dt.datetime):
        return _aware_seconds(value, timezone)
    if isinstance(value, dt.date):
        return _aware_seconds(dt.datetime(value.year, value.month, value.day), timezone)
    text = to_text(value)
    if text is None:
        raise InvalidValue("missing_event_time")
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return epoch_seconds(float(text))
    try:
        parsed = pendulum.parse(text, tz=None)
    except (ValueError, OverflowError, TypeError, pendulum.parsing.exceptions.ParserError):
        raise InvalidValue("invalid_event_time") from None
    if not isinstance(parsed, dt.datetime):
        if isinstance(parsed, dt.date):
            parsed = dt.datetime(parsed.year, parsed.month, parsed.day)
        else:
            raise InvalidValue("invalid_event_time")
    return _aware_seconds(parsed, timezone)


def _aware_seconds(moment: dt.datetime, timezone: str | None) -> int:
    if moment.tzinfo is None or moment.tzinfo.utcoffset(moment) is None:
        if not timezone:
            raise InvalidValue("naive_event_time")
        try:
            moment = pendulum.instance(moment, tz=None).replace(tzinfo=pendulum.timezone(timezone))
        except (ValueError, pendulum.tz.exceptions.InvalidTimezone) as exc:
            raise InvalidValue("invalid_timezone") from exc
    try:
        return math.floor(moment.timestamp())
    except (OverflowError, ValueError, OSError):  # a date Python cannot place on the epoch
        raise InvalidValue("invalid_event_time") from None


# ---------------------------------------------------------------------------- column application

Rule = Callable[[str], object]


def normalize_column(
    values: Sequence[object] | pd.Series, rule: Rule, context: Sequence[Hashable] | None = None
) -> tuple[list[object], list[str | None]]:
    """Apply ``rule`` to a column: returns (normalized values with ``None`` for absent, error reasons).

    The rule runs once per distinct (value, context) pair, so repeated values cost a dict look-up.
    ``context`` (e.g. the row's country for phones) is passed as the rule's second argument.
    """
    raw = values.tolist() if isinstance(values, pd.Series) else list(values)
    out: list[object] = [None] * len(raw)
    errors: list[str | None] = [None] * len(raw)
    contexts: Iterable[Hashable] = context if context is not None else itertools.repeat(None)
    with_context = context is not None
    cache: dict[object, tuple[object, str | None]] = {}
    for i, (value, ctx) in enumerate(zip(raw, contexts, strict=with_context)):
        if value is None:
            continue
        # Text is keyed by itself; anything else by its type too, since 1 == 1.0 == True hash alike
        # but read differently ("1" / "1" / "true").
        key = (value, ctx) if type(value) is str else (type(value), value, ctx)
        try:
            hit = cache.get(key)
        except TypeError:  # unhashable (a list, an array): no caching
            hit = key = None
        if hit is None:
            hit = _apply(rule, value, ctx, with_context)
            if key is not None:
                cache[key] = hit
        out[i], errors[i] = hit
    return out, errors


def _apply(rule: Rule, value: object, ctx: Hashable, with_context: bool) -> tuple[object, str | None]:
    try:
        text = to_text(value)
        if text is None:
            return None, None
        return (rule(text, ctx) if with_context else rule(text)), None
    except InvalidValue as exc:
        return None, exc.reason
    except (ValueError, TypeError, ArithmeticError, LookupError, RecursionError):
        # A library surprised by odd input (a parser, phonenumbers, pycountry): a row-level reason,
        # never a traceback from deep inside it.
        return None, f"invalid_{getattr(rule, '__name__', 'value')}"
