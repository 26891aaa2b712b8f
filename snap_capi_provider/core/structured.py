"""Rules of the structured fields: values that arrive as lists, arrays or JSON text rather than one text.

A structured rule reads a whole cell (a list, tuple or NumPy array, JSON-array text, a bool or a number)
and returns what v3 sends (a list, an int, a list of objects), or ``None`` for absent. Every refusal is
:class:`InvalidValue` with the field's own reason, ``invalid_<key>``, declared with :func:`cell_rule`.
:func:`~snap_capi_provider.core.normalize.normalize_column` hands such a rule to :func:`normalize_cells`.
"""

from __future__ import annotations

import decimal
import json
import math
from collections.abc import Callable, Mapping, Sequence
from functools import wraps
from typing import Any

import numpy as np

from snap_capi_provider.core.amounts import amount, count
from snap_capi_provider.core.text import InvalidValue, clean_text, is_absent, is_number, number_text, to_text

CellRule = Callable[[object], object]
_SEQUENCES = (list, tuple, np.ndarray)


def cell_rule(reason: str) -> Callable[[CellRule], CellRule]:
    """Declare a structured rule: it reads whole cells, and any refusal (a bad item, JSON that does not
    parse or nests past Python's stack) is ``InvalidValue(reason)``."""

    def declare(rule: CellRule) -> CellRule:
        @wraps(rule)
        def read(value: object) -> object:
            try:
                return rule(value)
            except (ValueError, TypeError, ArithmeticError, RecursionError):  # InvalidValue is a ValueError
                raise InvalidValue(reason) from None

        read.reads_cells = True
        read.reason = reason
        return read

    return declare


def normalize_cells(values: Sequence[object], rule: CellRule) -> tuple[list[object], list[str | None]]:
    """A structured rule over a column: (values, ``None`` where absent or refused; reasons). Text cells
    (JSON exported by a warehouse) are read once per distinct text."""
    out: list[object] = []
    errors: list[str | None] = []
    seen: dict[str, tuple[object, str | None]] = {}
    for value in values:
        text = type(value) is str
        hit = seen.get(value) if text else None
        if hit is None:
            try:
                hit = (rule(value), None)
            except InvalidValue as exc:
                hit = (None, exc.reason)
            if text:
                seen[value] = hit
        out.append(hit[0])
        errors.append(hit[1])
    return out, errors


def _absent(value: object) -> bool:
    """None, pandas NA/NaT, a NaN float or Decimal."""
    return is_absent(value) or (isinstance(value, float | np.floating) and math.isnan(value)) or (
        isinstance(value, decimal.Decimal) and value.is_nan())


def _json_array(text: str, reason: str) -> list:
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: brackets nested past Python's stack
        raise InvalidValue(reason) from None
    if not isinstance(parsed, list):
        raise InvalidValue(reason)
    return parsed


def _sequence(value: object, reason: str) -> list | None:
    """The items of a list cell (a list, tuple or array, or JSON-array text); ``None`` when absent."""
    if isinstance(value, _SEQUENCES):
        return list(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.startswith("["):
            return _json_array(text, reason)
    elif _absent(value):
        return None
    raise InvalidValue(reason)


def _text_items(value: object, reason: str) -> list[str]:
    """The trimmed, non-empty text items of a list/array, a JSON array or comma-separated text."""
    if isinstance(value, bool | np.bool_):
        raise InvalidValue(reason)
    if isinstance(value, str) and value.strip().startswith("["):
        value = _json_array(value, reason)
    if isinstance(value, _SEQUENCES):
        if any(isinstance(item, bool | np.bool_ | list | dict) for item in value):
            raise InvalidValue(reason)
        items = [to_text(item) for item in value]
    else:
        text = to_text(value)
        items = text.split(",") if text is not None else []
    return [item.strip() for item in items if item is not None and item.strip()]


def _item_text(item: object, reason: str) -> str:
    """One item as text: text trimmed (NFC, no control character, at most 1,000 characters), a number as
    its exact text (``3.0`` as ``3``); anything else (None, a bool, a container) is refused."""
    if isinstance(item, str):
        return clean_text(item) or ""
    if is_number(item):
        text = number_text(item)
        if text is not None:
            return text
    raise InvalidValue(reason)


@cell_rule("invalid_content_ids")
def string_list(value: object) -> list[str] | None:
    """A list of ids from a list/array, a JSON array of them (``["sku-1", "sku-2"]``, as a warehouse
    exports an array column) or a comma-separated string. A bool is no id."""
    return _text_items(value, "invalid_content_ids") or None


DATA_PROCESSING_OPTIONS = frozenset({"LDU"})
"""The options Snap knows: ``LDU``, Limited Data Use."""


@cell_rule("invalid_data_processing_options")
def data_processing_options(value: object) -> list[str] | None:
    """Privacy options, upper case: ``LDU`` (Limited Data Use), from a list, a JSON array or comma-separated
    text; an unknown option is refused, an empty list is absent."""
    options = list(dict.fromkeys(item.upper() for item in _text_items(value, "invalid_data_processing_options")))
    if not DATA_PROCESSING_OPTIONS.issuperset(options):
        raise InvalidValue("invalid_data_processing_options")
    return options or None


_TRACKING = {"1": 1, "true": 1, "yes": 1, "0": 0, "false": 0, "no": 0}


@cell_rule("invalid_advertiser_tracking_enabled")
def advertiser_tracking_enabled(value: object) -> int | None:
    """1 or 0, from a bool, the number 0 or 1 (also ``1.0``, an integer column widened by a missing value)
    or the text true/false, yes/no, 1/0 in any case."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if _absent(value):
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            return None
        if text in _TRACKING:
            return _TRACKING[text]
    elif is_number(value) and value in (0, 1):
        return int(value)
    raise InvalidValue("invalid_advertiser_tracking_enabled")


EXTINFO_LENGTH = 16


@cell_rule("invalid_extinfo")
def extinfo(value: object) -> list[str] | None:
    """App and device details for app events (``["i2", "com.example.app", ...]``): a list or JSON array of
    exactly 16 items, each text (numbers read as text; an empty item stays empty)."""
    items = _sequence(value, "invalid_extinfo")
    if items is None:
        return None
    if len(items) != EXTINFO_LENGTH:
        raise InvalidValue("invalid_extinfo")
    return [_item_text(item, "invalid_extinfo") for item in items]


CONTENT_KEYS = frozenset({"id", "quantity", "item_price"})
MAX_QUANTITY = 10**9
"""Largest ``quantity`` of a line item (as ``num_items``)."""


@cell_rule("invalid_contents")
def contents(value: object) -> list[dict[str, object]] | None:
    """Line items (``[{"id": "sku-1", "quantity": 1, "item_price": 42.5}]``) from a list or JSON array: a
    non-empty text ``id`` (numbers read as text), an optional whole ``quantity`` and an optional finite
    ``item_price``; any other key is refused; an empty list is absent."""
    items = _sequence(value, "invalid_contents")
    return [_content(item) for item in items] or None if items is not None else None


def _content(item: object) -> dict[str, object]:
    if not isinstance(item, Mapping) or not CONTENT_KEYS.issuperset(item):
        raise InvalidValue("invalid_contents")
    out: dict[str, object] = {"id": _item_text(item.get("id"), "invalid_contents")}
    if not out["id"]:
        raise InvalidValue("invalid_contents")
    quantity, price = item.get("quantity"), item.get("item_price")
    if isinstance(quantity, str) and quantity.strip():  # "2": how exports write every value
        quantity = _as_rule(count, quantity.strip())
    if not _absent(quantity):
        if not is_number(quantity) or not 0 <= quantity <= MAX_QUANTITY or quantity != int(quantity):
            raise InvalidValue("invalid_contents")
        out["quantity"] = int(quantity)
    if not _absent(price):
        out["item_price"] = _item_price(price)
    return out


def _item_price(price: object) -> float:
    """A line item's price read as ``value`` is: a number (a float32 by its own shortest text, ``9.99``)
    or text (``"9.99"``, ``"$9.99"``), not negative and under a trillion, never in exponent form."""
    text = price.strip() if isinstance(price, str) else number_text(price) if is_number(price) else None
    if not text:
        raise InvalidValue("invalid_contents")
    return _as_rule(amount, text)


def _as_rule(rule: Callable[[str], object], text: str) -> Any:
    """``rule(text)``, its refusal an ``invalid_contents``: a line item is valid or not as a whole."""
    try:
        return rule(text)
    except InvalidValue:
        raise InvalidValue("invalid_contents") from None
