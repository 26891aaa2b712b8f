"""Dates of birth and event times: read by shape, never completed from the clock.

:func:`date_of_birth` dispatches on the written shape (regexes and slicing), then checks the calendar;
a date with a part missing is ``incomplete_date_of_birth``, never filled from today (which a lenient
``pendulum.parse(..., strict=False)`` does). :func:`event_time` reads aware datetimes, ISO 8601
(``datetime.fromisoformat``; also with an IANA zone name), RFC 1123 / 2822, Unix ``date`` text and epochs in
s/ms/µs/ns; :func:`normalize_event_times` applies it to a column, once per distinct value.
"""

from __future__ import annotations

import datetime as dt
import decimal
import email.utils
import math
import re
import time
from collections.abc import Callable
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from snap_capi_provider.core.text import (
    VALUE_PLACEHOLDERS,
    Absent,
    InvalidValue,
    accepts,
    clean_text,
    is_absent,
    is_prehashed,
    number_text,
    spreadsheet_unwrapped,
)

# ------------------------------------------------------------------------------------ birth dates

_MONTHS = {name: i for i, names in enumerate((
    (), ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
    ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"), ("october", "oct"),
    ("november", "nov"), ("december", "dec")), start=0) for name in names}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
             "mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun")
_TIME = (r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s*[AaPp]\.?[Mm]\.?)?"  # 12:00:00 AM: Excel's export
         r"\s*(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?)?")
_YMD = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})" + _TIME)
_DMY = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{4})" + _TIME)
_DMY_SHORT = re.compile(r"\d{1,2}([-/.])\d{1,2}\1\d{2}")
_EIGHT = re.compile(r"\d{8}")
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?[\s./-]*([a-z]+)\.?,?[\s./-]*(\d{4})")
_MONTH_DAY_YEAR = re.compile(r"([a-z]+)\.?[\s./-]*(\d{1,2})(?:st|nd|rd|th)?,?[\s./-]*(\d{4})")
_YEAR_MONTH_DAY = re.compile(r"(\d{4})[\s./-]*([a-z]+)\.?[\s./-]*(\d{1,2})")
_CJK_DATES = (re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?"),  # the day needs no 日: no guess
              re.compile(r"(\d{4})\s*년\s*(\d{1,2})\s*월\s*(\d{1,2})\s*일?"))
_CJK_INCOMPLETE = re.compile(r"(?:\d{4}\s*年)?(?:\s*\d{1,2}\s*月)?(?:\s*\d{1,2}\s*日)?"
                             r"|(?:\d{4}\s*년)?(?:\s*\d{1,2}\s*월)?(?:\s*\d{1,2}\s*일)?")
_EIGHT_FLOAT = re.compile(r"\d{8}\.0+")  # 19971226.0: a float column's YYYYMMDD, as a CSV writes it
_WEEKDAY_PREFIX = re.compile(r"(?:" + "|".join(_WEEKDAYS) + r")\.?,?\s+")
_WORDS = "(?:" + "|".join(sorted((*_MONTHS, *_WEEKDAYS, "now", "today", "yesterday", "tomorrow"), key=len,
                                 reverse=True)) + r")\.?"
_INCOMPLETE = re.compile(
    r"\d{4}|\d{4}[-/.]\d{1,2}|\d{1,2}[-/.]\d{4}|\d{1,2}[-/.]\d{1,2}|\d{6}"  # year; year+month; day+month
    r"|\d{1,2}:\d{2}(?::\d{2})?(?:\s*[ap]\.?m\.?)?|\d{1,2}\s*[ap]\.?m\.?"  # a time of day
    rf"|{_WORDS}(?:[\s,./-]+\d{{1,4}}(?:st|nd|rd|th)?)?|\d{{1,4}}(?:st|nd|rd|th)?[\s,./-]*{_WORDS}"  # names
)
MAX_AGE_YEARS = 120
"""A birth date further back is no living customer's: a placeholder (``1900-01-01``), left out, not sent."""
PLACEHOLDER_DATE_OF_BIRTH = "placeholder_date_of_birth"


def _checked(year: int, month: int, day: int) -> str:
    if year == month == day == 0:
        raise Absent(PLACEHOLDER_DATE_OF_BIRTH)  # MySQL's zero date, 0000-00-00: no date at all
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        raise InvalidValue("invalid_date_of_birth")
    try:
        born = dt.date(year, month, day)
    except ValueError:
        raise InvalidValue("invalid_date_of_birth") from None
    today = _today()
    if born > today:
        raise InvalidValue("date_of_birth_in_future")
    if year < today.year - MAX_AGE_YEARS:  # 1900-01-01, 0001-01-01: a system's stand-in for no date
        raise Absent(PLACEHOLDER_DATE_OF_BIRTH)
    return f"{year:04d}{month:02d}{day:02d}"


_TODAY: list = [0.0, dt.date.min]


def _today() -> dt.date:
    now = time.monotonic()
    if now > _TODAY[0]:
        _TODAY[0], _TODAY[1] = now + 60, dt.date.today()
    return _TODAY[1]


def _dob_hook(value: object, _ctx: object) -> str | None:
    """Dates, datetimes (an aware one keeps its own local date) and YYYYMMDD numbers."""
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
        if value is pd.NaT:
            return None
    if isinstance(value, dt.datetime):
        return _checked(value.year, value.month, value.day)
    if isinstance(value, dt.date):
        return _checked(value.year, value.month, value.day)
    if isinstance(value, bool | np.bool_):
        raise InvalidValue("invalid_value_type")
    if isinstance(value, int | float | decimal.Decimal | np.integer | np.floating):
        text = number_text(value)
        if text is None:
            return None
        if not _EIGHT.fullmatch(text):
            raise InvalidValue("invalid_date_of_birth")
        return text
    raise InvalidValue("invalid_value_type")


def _month(name: str) -> int:
    month = _MONTHS.get(name)
    if month is None:
        raise InvalidValue("invalid_date_of_birth")
    return month


@accepts(numbers=True, dates=True, max_length=100, hook=_dob_hook)
def date_of_birth(text: str) -> str:
    """A full date in a common form to ``YYYYMMDD`` (``1997-12-26``, ``26 Dec 1997`` -> ``19971226``).

    Accepted: ISO ``YYYY-MM-DD`` (``/`` or ``.`` too, a time part ignored, ``12:00:00 AM`` too), ``YYYYMMDD``,
    US ``M/D/YYYY``, ``D/M/YYYY`` when the day is over 12, ``D.M.YYYY`` (``M.D.YYYY`` when the second part is
    over 12), month names (``December 26, 1997``, ``26 Dec 1997``), Chinese / Japanese ``1997年12月26日`` and
    Korean ``1997년 12월 26일`` (the day's mark optional), and ``19971226.0`` (a float column's text). A date
    with a part missing, a time, a word or a two-digit year is rejected. A placeholder for no date
    (``0000-00-00``, a date more than 120 years ago such as ``1900-01-01``) is absent, counted as
    ``placeholder_date_of_birth``.
    ``12/11/1997`` is read month first (US); :func:`date_of_birth_day_first` reads it day first.
    """
    return _date_of_birth(text, day_first=False)


@accepts(numbers=True, dates=True, max_length=100, hook=_dob_hook)
def date_of_birth_day_first(text: str) -> str:
    """:func:`date_of_birth`, but a slash or dash date whose first two parts could both be the month
    (``12/11/1997``) is read day first (``19971112``), as most of the world writes it."""
    return _date_of_birth(text, day_first=True)


BIRTH_DATE_RULES: dict[str, Callable[[str], str]] = {"MDY": date_of_birth, "DMY": date_of_birth_day_first}
"""The birth-date rule of each ``date_order`` option (:class:`~snap_capi_provider.core.events.EventOptions`)."""


def _date_of_birth(text: str, day_first: bool) -> str:
    if is_prehashed(text):
        return text.lower()
    if len(text) == 8 and text.isdigit():  # YYYYMMDD: the most common machine form, sliced
        return _checked(int(text[:4]), int(text[4:6]), int(text[6:]))
    match = _YMD.fullmatch(text)
    if match:
        return _checked(int(match[1]), int(match[3]), int(match[4]))
    match = _DMY.fullmatch(text)
    if match:
        first, second, year = int(match[1]), int(match[3]), int(match[4])
        # D.M.Y (European dots, unless only M.D.Y is a date: 12.26.1997), a day that cannot be a month,
        # or two parts that could both be the month read as the configured order; else M/D/Y.
        if (match[2] == "." and second <= 12) or first > 12 or (day_first and second <= 12):
            return _checked(year, second, first)
        return _checked(year, first, second)
    if _DMY_SHORT.fullmatch(text):
        raise InvalidValue("ambiguous_date_of_birth")  # a two-digit year: the century would be a guess
    lower = text.lower()
    if not lower.isascii() or not lower.isdigit():
        lower = _WEEKDAY_PREFIX.sub("", lower, count=1)
        for pattern, order in ((_DAY_MONTH_YEAR, "dmy"), (_MONTH_DAY_YEAR, "mdy"), (_YEAR_MONTH_DAY, "ymd")):
            match = pattern.fullmatch(lower)
            if match and match[order.index("m") + 1] in _MONTHS:
                parts = dict(zip(order, match.groups(), strict=True))
                return _checked(int(parts["y"]), _month(parts["m"]), int(parts["d"]))
    if not text.isascii():
        for pattern in _CJK_DATES:
            match = pattern.fullmatch(text)
            if match:
                return _checked(int(match[1]), int(match[2]), int(match[3]))
        if _CJK_INCOMPLETE.fullmatch(text):
            raise InvalidValue("incomplete_date_of_birth")
    elif _EIGHT_FLOAT.fullmatch(text):
        return _checked(int(text[:4]), int(text[4:6]), int(text[6:8]))
    if _INCOMPLETE.fullmatch(lower):
        raise InvalidValue("incomplete_date_of_birth")
    inner = spreadsheet_unwrapped(text)  # ="1997-12-26", '1997-12-26
    if inner is not None:
        return _date_of_birth(inner, day_first)
    raise InvalidValue("invalid_date_of_birth")


# ------------------------------------------------------------------------------------ event times

# Epoch magnitudes: seconds until the year 5138, then milliseconds, microseconds, nanoseconds.
_EPOCH_DIVISORS = ((1e11, 1), (1e14, 1_000), (1e17, 1_000_000), (1e20, 1_000_000_000))
_EPOCH_TEXT = re.compile(r"\d+(\.\d+)?")
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")
_ZONE_SUFFIX = re.compile(r"(\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:(UTC|GMT|Z)|([+-]\d{2}):?(\d{2}))",
                          re.IGNORECASE | re.ASCII)
"""A time of day and its zone the way warehouses print it: BigQuery's ``07:06:40 UTC``, Snowflake's
``07:06:40.000 -0800``; rewritten as an ISO offset (``+00:00``, ``-08:00``)."""
_RFC_2822 = re.compile(r"(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d{1,2}:\d{2}(?::\d{2})?\s*"
                       r"(?:[A-Za-z]{1,5}|[+-]\d{4})?")
_SLASH_YMD = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})(?=[T ]|$)", re.ASCII)
"""``2026/12/07``: year first, so no order to guess (``07/12/2026`` would be one)."""
_ZONE_NAME = r"[A-Za-z][\w+-]*(?:/[\w+-]+)+"  # IANA, with a slash: an abbreviation (IST, CST) names several zones
_NAMED_ZONE = re.compile(rf"(.+?)(?:\[!?({_ZONE_NAME}|UTC|GMT)\]|\s+({_ZONE_NAME}))", re.ASCII)
"""RFC 9557 / Java's ``ZonedDateTime``: ``...+01:00[Europe/Paris]`` (``!``: critical), or ``... Europe/Paris``."""
_UNIX_DATE = re.compile(r"(?:([A-Za-z]{3})\s+)?([A-Za-z]{3})\s+(\d{1,2})\s+(\d{2}:\d{2}:\d{2})\s+"
                        r"(?:UTC|GMT|Z|([+-]\d{2})(?::?(\d{2}))?)\s+(\d{4})", re.ASCII)
"""Java's ``Date.toString()`` and Unix ``date``: ``Mon Dec 07 10:00:00 UTC 2026``; a numeric zone only."""


def epoch_seconds(number: float | int) -> int:
    """Unix seconds from an epoch in s, ms, µs or ns, told apart by magnitude."""
    if (type(number) is float and not math.isfinite(number)) or number <= 0:
        raise InvalidValue("invalid_event_time")
    for limit, divisor in _EPOCH_DIVISORS:
        if number < limit:
            return int(number // divisor)
    raise InvalidValue("invalid_event_time")


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise InvalidValue("invalid_timezone") from None


def _aware_seconds(moment: dt.datetime, timezone: str | None) -> int:
    if moment.tzinfo is None or moment.tzinfo.utcoffset(moment) is None:
        if not timezone:
            raise InvalidValue("naive_event_time")
        place = zone(timezone)
        local = dt.datetime(moment.year, moment.month, moment.day, moment.hour, moment.minute, tzinfo=place)
        if local.utcoffset() != local.replace(fold=1).utcoffset():  # clocks changed: twice, or never
            raise InvalidValue("ambiguous_local_event_time")
        moment = moment.replace(tzinfo=place)
    if isinstance(moment, pd.Timestamp) and moment.nanosecond:
        moment = moment.replace(nanosecond=0)  # .999999999 s would round up to the next second as a float
    try:
        return math.floor(moment.timestamp())
    except (OverflowError, ValueError, OSError):  # a date Python cannot place on the epoch
        raise InvalidValue("invalid_event_time") from None


def _text_seconds(text: str, timezone: str | None) -> int:
    if _EPOCH_TEXT.fullmatch(text):
        return epoch_seconds(int(text) if text.isdigit() else float(text))  # an int keeps every digit
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:  # the rarer forms, tried only now: the common case never gets here
        moment = _iso_moment(text, tried=True)
        if moment is None and _RFC_2822.fullmatch(text):
            moment = _rfc_2822(text)
        if moment is None:
            named = _NAMED_ZONE.fullmatch(text)
            if named is not None:
                head, timezone = named[1], named[2] or named[3]  # the written zone, not the configured one
                _written_zone(timezone)
                moment = _iso_moment(head)
        if moment is None:
            unix = _UNIX_DATE.fullmatch(text)
            moment = None if unix is None else _unix_date(*unix.groups())
        if moment is None:  # including relative words ("now", "today"): never replaced by the clock
            raise InvalidValue("invalid_event_time") from None
    return _aware_seconds(moment, timezone)


def _fromisoformat(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def _iso_moment(text: str, tried: bool = False) -> dt.datetime | None:
    """``fromisoformat`` of ``text`` (unless ``tried``), then with year-first slashes as dashes and the
    rewrites of :func:`_zoned_iso`; None when none reads."""
    slashed = _SLASH_YMD.match(text)
    if slashed is not None:
        text, tried = f"{slashed[1]}-{int(slashed[2]):02d}-{int(slashed[3]):02d}{text[slashed.end():]}", False
    moment = None if tried else _fromisoformat(text)
    if moment is None:
        iso = _zoned_iso(text)
        moment = None if iso is None else _fromisoformat(iso)
    return moment


def _rfc_2822(text: str) -> dt.datetime | None:
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError):
        return None
    if moment.tzinfo is None:
        if text.endswith("-0000"):
            return moment.replace(tzinfo=dt.timezone.utc)  # RFC 5322: a UTC time, the sender's zone unsaid
        if text[-1].isalpha():  # a zone word email.utils does not know (CET, IST): not a naive time
            return None
    return moment


def _unix_date(weekday, month, day, clock, hours, minutes, year) -> dt.datetime | None:
    """A weekday that contradicts the date is ignored, as ``email.utils`` ignores it in RFC 2822 text."""
    if (weekday is not None and weekday.lower() not in _WEEKDAYS) or month.lower() not in _MONTHS:
        return None
    offset = f"{hours}:{minutes or '00'}" if hours else "+00:00"
    return _fromisoformat(f"{year}-{_MONTHS[month.lower()]:02d}-{int(day):02d}T{clock}{offset}")


def _written_zone(name: str) -> ZoneInfo:
    """:func:`zone`, but a zone written in the value is the value's fault: ``invalid_event_time``."""
    try:
        return zone(name)
    except InvalidValue:
        raise InvalidValue("invalid_event_time") from None


def _zoned_iso(text: str) -> str | None:
    """``text`` with nanoseconds cut to the six digits ``fromisoformat`` takes and a warehouse's zone
    (``UTC``, `` +0000``) as an ISO offset; None when neither applies."""
    iso = _LONG_FRACTION.sub(r"\1", text, count=1) if "." in text else text
    zoned = _ZONE_SUFFIX.search(iso)
    if zoned is not None and zoned.end() == len(iso):
        hours, minutes = (zoned[3], zoned[4]) if zoned[3] else ("+00", "00")
        iso = f"{iso[:zoned.start()]}{zoned[1]}{hours}:{minutes}"
    return iso if iso != text else None


def event_time(value: object, timezone: str | None = None) -> int:
    """Unix seconds (UTC) from an aware datetime, ISO-8601, RFC 2822 or Unix ``date`` text (also with a
    warehouse's zone: BigQuery's ``... UTC``, Snowflake's ``... -0800``), or an epoch number.

    Also read: an IANA zone in brackets (RFC 9557, Java's ``ZonedDateTime``: ``2026-12-07T10:00+01:00[Europe/Paris]``,
    where the offset decides, or without one the local time there) or after a space (``... 10:00 America/New_York``);
    Java's ``Date.toString()`` / Unix ``date`` (``Mon Dec 07 10:00:00 UTC 2026``, ``... +0100 2026``); year-first
    slashes (``2026/12/07 10:00:00Z``). Abbreviations (``EST``, ``CET``, ``IST``: several zones each) are refused.
    A naive datetime or text without an offset or zone is refused unless ``timezone`` says where it is.
    An export's word for no value (``N/A``, ``NULL``, ``-``, ``0``) is a missing time, not an unreadable one.
    """
    if is_absent(value):
        raise InvalidValue("missing_event_time")
    if isinstance(value, str):
        text = clean_text(str(value), 200)
        if text is None or text.lower() in VALUE_PLACEHOLDERS:
            raise InvalidValue("missing_event_time")
        return _text_seconds(text, timezone)
    if isinstance(value, bool | np.bool_):
        raise InvalidValue("invalid_event_time")
    if isinstance(value, int | float | np.integer | np.floating | decimal.Decimal):
        if isinstance(value, decimal.Decimal) and value.is_nan():
            raise InvalidValue("missing_event_time")
        if isinstance(value, float | np.floating) and math.isnan(value):
            raise InvalidValue("missing_event_time")
        try:
            number = int(value) if isinstance(value, int | np.integer) else float(value)  # ns: no rounding up
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
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            text = clean_text(bytes(value).decode("utf-8"), 200)
        except UnicodeDecodeError:
            raise InvalidValue("not_utf8") from None
        if text is None:
            raise InvalidValue("missing_event_time")
        return _text_seconds(text, timezone)
    raise InvalidValue("invalid_value_type")


def normalize_event_times(values, timezone: str | None = None) -> tuple[list[int | None], list[str | None]]:
    """:func:`event_time` over a column: ``(seconds or None, reason or None)`` per value, once per distinct value.

    Absent values give ``(None, "missing_event_time")``, exactly like :func:`event_time`.
    """
    raw = values.tolist() if isinstance(values, pd.Series) else list(values)
    n = len(raw)
    out: list[int | None] = [None] * n
    errors: list[str | None] = [None] * n
    cache: dict[object, tuple[int | None, str | None]] = {}
    for i, value in enumerate(raw):
        kind = type(value)
        if kind is int and 0 < value < 100_000_000_000:  # epoch seconds: the common machine form
            out[i] = value
            continue
        key = value if kind is str else (kind, value)
        try:
            hit = cache.get(key)
        except Exception:  # unhashable, or a __hash__ that fails
            hit = key = None
        if hit is None:
            try:
                hit = (event_time(value, timezone), None)
            except InvalidValue as exc:
                hit = (None, exc.reason)
            except (ValueError, TypeError, ArithmeticError, LookupError, AttributeError, RecursionError):
                hit = (None, "invalid_event_time")
            if key is not None:
                cache[key] = hit
        out[i], errors[i] = hit
    return out, errors
