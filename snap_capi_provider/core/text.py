"""Cell values to text: the part every normalization rule shares.

:func:`cell_text` turns one cell into trimmed NFC text for a rule, or raises :class:`InvalidValue` with a
short reason (see :mod:`snap_capi_provider.core.reasons`). What a rule takes besides text is declared on
the rule with :func:`accepts`: numbers (phones, zips, ids, amounts), dates (birth dates), or a hook that
reads non-text values itself (a zip that lost its leading zero).
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import ipaddress
import math
import re
import unicodedata
import uuid
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pandas as pd


class InvalidValue(ValueError):
    """A value that cannot be normalized; ``reason`` is a short code safe to log (never the value)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Absent(Exception):
    """Raised by a rule for a value that means "absent" for a reason worth counting (``note``).

    :func:`~snap_capi_provider.core.normalize.normalize_column` turns it into ``(None, None)`` and counts
    ``note`` in its ``notes`` dict, e.g. ``madid_opted_out`` for the all-zero advertising id.
    """

    def __init__(self, note: str):
        super().__init__(note)
        self.note = note


APOSTROPHES = "'\u2018\u2019\u201a\u201b\u2032\u2035\u0060\u00b4\u02b9\u02bb\u02bc\u02bd\u02c8\u02ca\u02cb\ua78c\uff07"
"""Every apostrophe-like character, incl. the modifier letters Python counts as letters (ʼ ʻ ʹ ꞌ):
``O'Brien``, ``Hawaiʻi``."""

PLACEHOLDER_VALUE = "placeholder_value"
"""The note of a value that stands for none (``N/A``, a phone of ``0000000000``): absent, counted, row kept."""

STATE_PLACEHOLDERS = frozenset({"n/a", "#n/a", "n.a.", "null", "(null)", "<null>", "none", "nan", "nil", "unknown",
                                "undefined", "not applicable", "not available"})
"""Cells that stand for no value: no subdivision is called that, and their letters would be hashed as one."""

NAME_PLACEHOLDERS = (STATE_PLACEHOLDERS - {"nan", "nil"}) | {"#value!", "#ref!", "#name?"}
"""Cells that stand for no name or city (a SQL NULL or a spreadsheet error exported as text): absent, not
hashed as the letters ``na`` or ``null``. The state placeholders but ``Nan`` and ``Nil``, real names."""

VALUE_PLACEHOLDERS = NAME_PLACEHOLDERS | {"nan", "nil", "-", "--", "?", "0", "00", "#div/0!", "#null!", "#num!", "n.a",
                                         "not provided", "none provided", "no data", "not known", "tbd"}
"""Cells that stand for no value (SQL's NULL, pandas' ``nan``, Excel's errors exported as text): where a
field's rule refuses one (no e-mail, phone, zip, country or date is called ``N/A``), the value is absent,
counted as ``placeholder_value``, and the row kept."""


SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
DEFAULT_MAX_LENGTH = 1000
"""Longest text a field takes (URLs and user agents declare 2,048, emails 254); longer is ``value_too_long``."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
INVISIBLE_MARKS = "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff"
"""Zero-width and bidirectional marks (and the BOM): contact apps wrap numbers in them, a CSV's first cell may
start with a BOM, copy-paste leaves them around a value. Trimmed like spaces; phones drop them anywhere."""
_MAX_INT_DIGITS = 40  # longer integers are no identifier, amount or timestamp a field can take


def is_prehashed(text: str) -> bool:
    """True when ``text`` already is a SHA-256 hex digest (any case)."""
    return len(text) == 64 and SHA256_HEX.fullmatch(text) is not None


def sha256_hex(text: str) -> str:
    """Lowercase hex SHA-256 of the UTF-8 bytes; a value that already is a digest passes through."""
    if is_prehashed(text):
        return text.lower()
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


T = TypeVar("T")
_WIDTH_FORMS = re.compile("[\u3000\uff01-\uffee]")


def fold_width(text: str) -> str:
    """Full-width and half-width forms, typed through an East Asian input method, as the characters they
    stand for (``ＵＳ`` is ``US``, ``９４０２５`` is ``94025``, ``ｼﾞｮﾝ`` is ``ジョン``); other text as it is."""
    if text.isascii() or _WIDTH_FORMS.search(text) is None:
        return text
    folded = _WIDTH_FORMS.sub(lambda match: unicodedata.normalize("NFKC", match.group()), text)
    return unicodedata.normalize("NFC", folded)


_VALUE_LIKE_NAME = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+|[+(]?\d[\d\s().-]{6,}", re.ASCII)


def looks_like_a_value(name: object) -> bool:
    """Whether a column name is an e-mail address or a phone number: a CSV without its header line names
    its columns by the first row's values, which must never be printed in a log or an error."""
    return _VALUE_LIKE_NAME.fullmatch(str(name).strip()) is not None


def column_names(names: object, limit: int = 50) -> str:
    """Column names for a log line or an error, any that looks like a value (PII) masked."""
    names = list(names)  # type: ignore[call-overload]
    shown = [f"<column {i + 1}: a value?>" if looks_like_a_value(name) else repr(str(name))
             for i, name in enumerate(names[:limit])]
    return "[" + ", ".join(shown + (["..."] if len(names) > limit else [])) + "]"


_QUOTE_PAIRS = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019"}
_DOUBLE_QUOTES = "\"\u201c\u201d"


def spreadsheet_unwrapped(text: str) -> str | None:
    """The value inside a wrapper a spreadsheet or an export put around it, else ``None``.

    Excel's text formula (``="02134"``, how exports keep a zip's leading zero), surrounding quotes
    (``"+1 650 555 1212"``), and the text marker ``'`` of a cell typed as text or defused against
    formulas (``'+16505551212``). Only for rules whose values never hold quotes (phones, zips, birth
    dates, the edges of an e-mail address), which try it when the text as written is invalid.
    """
    if len(text) > 3 and text.startswith('="') and text.endswith('"'):
        inner = text[2:-1]
    elif len(text) > 2 and text[-1] == _QUOTE_PAIRS.get(text[0]):
        inner = text[1:-1]
    elif len(text) > 1 and text[0] == "'":
        inner = text[1:]
    else:
        return None
    inner = inner.strip()
    if not inner or inner[0] in _QUOTE_PAIRS or any(quote in inner for quote in _DOUBLE_QUOTES):
        return None
    return inner


def read_unwrapped_if_refused(read: Callable[..., T], text: str, *args: object) -> T:
    """``read(text, *args)``, or, where it refuses ``text``, ``read`` of the value inside its spreadsheet
    wrapper (:func:`spreadsheet_unwrapped`); the first refusal stands where there is no wrapper."""
    try:
        return read(text, *args)
    except InvalidValue:
        inner = spreadsheet_unwrapped(text)
        if inner is None:
            raise
        return read(inner, *args)


def accepts(*, numbers: bool = True, dates: bool = False, max_length: int = DEFAULT_MAX_LENGTH,
            hook: Callable[[object, object], object] | None = None) -> Callable:
    """Declare what a rule takes besides text (see :func:`cell_text`)."""

    def mark(rule: Callable) -> Callable:
        rule.accepts_numbers = numbers
        rule.accepts_dates = dates
        rule.max_length = max_length
        rule.value_hook = hook
        return rule

    return mark


def clean_text(value: str, max_length: int = DEFAULT_MAX_LENGTH) -> str | None:
    """NFC text trimmed of spaces and invisible marks; ``None`` for empty. Rejects lone surrogates, control
    characters, overlong text."""
    if value.isascii() and len(value) <= max_length and value.isprintable():  # the common case, in C
        return value.strip() or None
    if len(value) > 4 * max_length + 64:  # before NFC, so a huge cell costs nothing
        raise InvalidValue("value_too_long")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidValue("invalid_text_encoding") from None
        value = unicodedata.normalize("NFC", value).strip().strip(INVISIBLE_MARKS)
    value = value.strip()
    if not value:
        return None
    if len(value) > max_length:
        raise InvalidValue("value_too_long")
    # isprintable() is one C pass; for ASCII it is False exactly when a control character is present.
    if not (value.isascii() and value.isprintable()) and _CONTROL.search(value) is not None:
        raise InvalidValue("invalid_control_character")
    return value


_EXACT_INTEGERS = {np.float32: 2**24, np.float16: 2**11}
"""The largest integer a float type holds exactly, where it holds fewer than a float64 (2**53)."""


def int_text(number: int) -> str:
    if abs(number) >= 10**_MAX_INT_DIGITS:
        raise InvalidValue("number_too_large")
    return str(number)


def number_text(value: object) -> str | None:
    """Exact text of a number cell (int, float, Decimal, NumPy scalar); ``None`` for NaN; raises for inf.

    Integral floats come from integer columns that pandas widened because of a NaN:
    ``16505551212.0`` reads as ``16505551212``, not ``1.6505551212e10``; but past the integers its type
    holds exactly (2**53 for a float64, 2**24 for a float32) the digits may be another number's:
    ``imprecise_number``. A float32 reads as its own shortest text (``19.99``, not ``19.989999771118164``).
    """
    if isinstance(value, int | np.integer):
        return int_text(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return None
        if math.isinf(number):
            raise InvalidValue("invalid_number")
        if not number.is_integer():
            return repr(number) if isinstance(value, float) else str(value)
        if abs(number) > _EXACT_INTEGERS.get(type(value), 2**53):
            raise InvalidValue("imprecise_number")
        return int_text(int(number))
    if isinstance(value, decimal.Decimal):
        if value.is_nan():
            return None
        if value.is_infinite():
            raise InvalidValue("invalid_number")
        if abs(value.adjusted()) > _MAX_INT_DIGITS:
            raise InvalidValue("number_too_large")
        return format(value.normalize(), "f") if value == value.to_integral_value() else str(value)
    raise TypeError(type(value).__name__)


def is_absent(value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT


def is_number(value: object) -> bool:
    return isinstance(value, int | float | decimal.Decimal | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_)


def is_date(value: object) -> bool:
    return isinstance(value, dt.date | np.datetime64)


def cell_text(value: object, rule: Callable | None = None, context: object = None) -> str | None:
    """One cell to text for ``rule``: ``None`` when absent, else trimmed NFC text, else InvalidValue.

    Text and UTF-8 bytes are read for every rule; numbers as their exact text (``1.0`` as ``1``) by every
    rule not declared with ``numbers=False``, so a rule decides what ``12`` means (no name: absent); bools,
    containers, dates (unless the rule takes dates, in which case its hook reads them) and other objects
    are ``invalid_value_type``, never ``str()``-ed.
    """
    max_length = getattr(rule, "max_length", DEFAULT_MAX_LENGTH)
    if isinstance(value, str):
        return clean_text(str(value), max_length)
    if is_absent(value):
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            text = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidValue("not_utf8") from None
        return clean_text(text, max_length)
    if isinstance(value, float | np.floating) and math.isnan(value):
        return None
    if isinstance(value, decimal.Decimal) and value.is_nan():
        return None
    if isinstance(value, bool | np.bool_ | list | tuple | set | frozenset | dict | np.ndarray):
        raise InvalidValue("invalid_value_type")  # no rule's hook reads containers or bools
    if isinstance(value, uuid.UUID | ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network
                  | ipaddress.IPv6Network | ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        return str(value)  # a driver's own types (psycopg's uuid and inet, pg8000's inet): their text is exact
    hook = getattr(rule, "value_hook", None)
    if hook is not None:
        return hook(value, context)
    if is_number(value) and getattr(rule, "accepts_numbers", False):
        return number_text(value)
    raise InvalidValue("invalid_value_type")


def to_text(value: object) -> str | None:
    """Any cell value to trimmed NFC text; ``None`` for absent (None, NaN, pandas NA/NaT, "").

    The lenient reading for ids built from several columns: numbers, bools and dates read as text
    (``1.0`` as ``1``, a datetime in ISO form); containers and arbitrary objects are
    ``invalid_value_type``, bytes that are not UTF-8 ``not_utf8``, a lone surrogate ``invalid_text_encoding``.
    """
    if type(value) is str:  # the common case first
        if value.isascii():
            text = value.strip()
            if _CONTROL.search(text) is not None:
                raise InvalidValue("invalid_control_character")
            return text or None
        return clean_text(value)
    if is_absent(value):
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if is_number(value):
        try:
            return number_text(value)
        except InvalidValue as exc:
            if exc.reason == "invalid_number":  # inf: absent, as before
                return None
            raise
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
        if value is pd.NaT:
            return None
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return cell_text(value)
