"""Amounts, counts and currencies: ``custom_data``'s numbers, read exactly from text or number cells."""

from __future__ import annotations

import decimal
import math
import re
from functools import cache, lru_cache

import pycountry

from snap_capi_provider.core.text import InvalidValue, accepts, fold_width

_NO_CURRENCY = frozenset({"XXX", "XTS"})  # ISO 4217 "no currency" and "testing"


@accepts(max_length=40)
@lru_cache(maxsize=512)
def currency(text: str) -> str:
    """Upper-case ISO 4217 code; ``XXX`` (no currency) and ``XTS`` (testing) are refused.

    A currency's ISO name (``Euro``, ``US Dollars``, ``Pound Sterling``) or a sign that names one currency
    (``€``, ``£``, ``₹``, ``US$``, ``CA$``, ``R$``) reads as its code; ``$``, ``¥``, ``kr`` and ``dollars``
    (several currencies each) are refused, never guessed.
    """
    text = fold_width(text)
    code = text.upper()
    if len(code) == 3 and code not in _NO_CURRENCY and pycountry.currencies.get(alpha_3=code) is not None:
        return code
    sign = text.replace(" ", "")
    found = _CURRENCY_SIGNS.get(sign) or _CURRENCY_SIGNS.get(sign.lower()) or _currency_names().get(
        "".join(ch for ch in text.lower() if ch.isalpha()))
    if found is None:
        raise InvalidValue("invalid_currency")
    return found


_CURRENCY_SIGNS = {"€": "EUR", "£": "GBP", "₹": "INR", "₩": "KRW", "₪": "ILS", "₫": "VND", "₱": "PHP",
                   "฿": "THB", "₦": "NGN", "₽": "RUB", "₺": "TRY", "₴": "UAH", "US$": "USD", "CA$": "CAD",
                   "A$": "AUD", "AU$": "AUD", "NZ$": "NZD", "R$": "BRL", "MX$": "MXN", "HK$": "HKD",
                   "NT$": "TWD", "CN¥": "CNY", "S$": "SGD", "RD$": "DOP", "J$": "JMD", "TT$": "TTD", "円": "JPY",
                   "₸": "KZT", "₾": "GEL", "₼": "AZN", "₡": "CRC", "₲": "PYG", "₵": "GHS", "₮": "MNT", "৳": "BDT",
                   "₭": "LAK", "៛": "KHR", "s/": "PEN", "zł": "PLN", "kč": "CZK", "ft": "HUF", "rm": "MYR", "rp": "IDR"}
"""Signs of one currency each (CLDR's English symbols and the national signs; letters in lower case, read in
any case); ``$``, ``¥``, ``kr``, ``Rs`` and ``元`` are several currencies' each."""


@cache
def _currency_names() -> dict[str, str]:
    """ISO 4217 names (and their plurals) by their letters, lower case; a name two codes share is left out.
    Codes beginning with X are metals, funds and units, except the CFA, CFP and East Caribbean currencies."""
    names: dict[str, set[str]] = {}
    for entry in pycountry.currencies:
        code = entry.alpha_3
        if code in _NO_CURRENCY or (code.startswith("X") and code not in ("XAF", "XOF", "XPF", "XCD", "XCG")):
            continue
        letters = "".join(ch for ch in entry.name.lower() if ch.isalpha())
        for key in (letters, letters + "s"):
            names.setdefault(key, set()).add(code)
    found = {key: codes.pop() for key, codes in names.items() if len(codes) == 1}
    return {**found, "renminbi": "CNY", "rmb": "CNY", "yuan": "CNY", "sterling": "GBP"}


@accepts(numbers=True, max_length=64)
def amount(text: str) -> float:
    """A non-negative decimal amount (``42.50``, ``$42.50``, ``42.50 USD``, ``1,299.00``, ``1.299,00``,
    ``42,50``); ``1,299`` (a thousand or a decimal comma) is refused as ambiguous, but ``$1,299``,
    ``1,299 EUR``, ``€1.299`` and ``1.299 EUR`` are 1299: no currency written that way has three
    decimals. A currency sign or code written with the amount is formatting: the event's currency is its
    own field."""
    value = _non_negative_decimal(_plain_amount(_CURRENCY_MARK.sub("", text, count=2), text), "invalid_value")
    if not math.isfinite(float(value)) or value > MAX_AMOUNT:
        raise InvalidValue("invalid_value")  # no purchase is worth a trillion: a misread column (ids, cents)
    return float(value) + 0.0  # -0 is 0: no "-0.0" on the wire


_CURRENCY_MARK = re.compile(r"^(?:[$€£¥₹]|[A-Z]{3})\s*|\s*(?:[$€£¥₹]|[A-Z]{3})$")
_GROUP_SPACES = " \u00a0\u202f'"  # 1 299,00 (French, often a no-break space), 1'299.00 (Swiss)
_AMBIGUOUS_COMMA = re.compile(r"[1-9]\d{0,2},\d{3}")  # 1,299: one thousand two hundred, or 1.299
_DOT_THOUSAND = re.compile(r"[1-9]\d{0,2}\.\d{3}")  # 1.299: 1.299, or one thousand two hundred (€1.299)
_THREE_DECIMAL_CURRENCIES = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND", "CLF", "UYW"})
"""ISO 4217 currencies with more than two minor digits: ``KWD 1,299`` may be 1.299 dinars."""

_WRITTEN_AMOUNTS = tuple(  # (pattern, grouping characters dropped, decimal mark), each form unambiguous
    (re.compile(pattern), str.maketrans("", "", grouping), decimal_mark) for pattern, grouping, decimal_mark in (
        (r"[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?", ",", "."),  # 1,299.00  1,000,000
        (r"[1-9]\d?(?:,\d{2})+,\d{3}(?:\.\d+)?", ",", "."),  # Indian lakhs: 1,00,000.00
        (r"[1-9]\d{0,2}(?:\.\d{3})+(?:,\d+)?", ".", ","),  # 1.299,00  1.000.000
        (rf"[1-9]\d{{0,2}}(?:[{_GROUP_SPACES}]\d{{3}})+(?:[.,]\d+)?", _GROUP_SPACES, ","),
        (r"\d+,\d+", "", ","),  # a decimal comma: 42,50  0,999
    )
)


def _plain_amount(text: str, written: str = "") -> str:
    """Amount text written with thousands separators or a decimal comma, as plain decimal text.

    A dot alone is the decimal point (``1.299`` is 1.299, as machines write it), except beside a currency
    of at most two decimals (``€1.299`` is 1299); a comma or several
    dots are read only in forms with one meaning; ``1,299`` is refused, never guessed, unless the amount
    was ``written`` with a currency of at most two decimals (``$1,299``)."""
    if "," not in text and text.count(".") <= 1 and not any(ch in text for ch in _GROUP_SPACES):
        if written != text and _DOT_THOUSAND.fullmatch(text) and _beside_a_two_decimal_currency(written):
            return text.replace(".", "")  # €1.299: a currency of two decimals has no third, the dot groups
        return text  # the common case: digits and at most one decimal point
    if _AMBIGUOUS_COMMA.fullmatch(text):
        if _beside_a_two_decimal_currency(written):
            return text.replace(",", "")
        raise InvalidValue("invalid_value")
    for pattern, grouping, decimal_mark in _WRITTEN_AMOUNTS:
        if pattern.fullmatch(text):
            digits = text.translate(grouping)
            return digits.replace(",", ".") if decimal_mark == "," else digits
    raise InvalidValue("invalid_value")


def _beside_a_two_decimal_currency(written: str) -> bool:
    """Whether the amount was written with a sign or code of currencies with at most two decimals."""
    marks = [mark.strip() for mark in _CURRENCY_MARK.findall(written)[:2]]
    return bool(marks) and all(len(mark) != 3 or (  # $ € £ ¥ ₹, or an ISO code
        mark not in _THREE_DECIMAL_CURRENCIES and pycountry.currencies.get(alpha_3=mark) is not None)
        for mark in marks)


def _non_negative_decimal(text: str, reason: str) -> decimal.Decimal:
    try:
        value = decimal.Decimal(text)
    except decimal.InvalidOperation:
        raise InvalidValue(reason) from None
    if not value.is_finite() or value < 0:
        raise InvalidValue(reason)
    return value


MAX_AMOUNT = 10**12


def _native_amount(number: int | float) -> tuple[object, str | None, None]:
    """:func:`amount` of a Python int or float without the generic cell reading (the same result: the
    checks of :func:`amount` on the float's ``repr``, which reads back as the same float)."""
    if number != number:  # NaN: absent
        return None, None, None
    if 0 <= number <= MAX_AMOUNT:  # the common case: what amount(repr(x)) returns, without Decimal
        return float(number) + 0.0, None, None
    if isinstance(number, float) and (number in (math.inf, -math.inf)):
        return None, "invalid_number", None
    if isinstance(number, float) and number.is_integer() and abs(number) > 2**53:
        return None, "imprecise_number", None  # as number_text reads it
    if isinstance(number, int) and abs(number) >= 10**40:
        return None, "number_too_large", None
    try:
        return amount(repr(float(number))), None, None
    except InvalidValue as exc:
        return None, exc.reason, None


amount.native_number = _native_amount


@accepts(numbers=True, max_length=64)
def count(text: str) -> int:
    """A non-negative whole number."""
    value = _non_negative_decimal(text, "invalid_num_items")
    if value > MAX_COUNT or value != value.to_integral_value():
        raise InvalidValue("invalid_num_items")
    return int(value)


MAX_COUNT = 10**9
"""Largest ``num_items`` accepted (JSON encoders and Snap take 64-bit integers at most)."""
