"""Normalization rules for Snap CAPI fields: one rule per field, in one place.

Each rule takes one value already turned into trimmed NFC text (:func:`cell_text`) and returns the
normalized value, ``None`` when the value means "absent", or raises :class:`InvalidValue` with a short,
PII-free reason from :data:`snap_capi_provider.core.reasons.REASONS`. A rule that also reads numbers
or dates says so with :func:`accepts`. :func:`normalize_column` applies a rule to a whole column, once
per distinct value. Phones live in :mod:`.phones`, dates and times in :mod:`.dates`, states, countries
and zips in :mod:`.places`, amounts and currencies in :mod:`.amounts`, the rules of list and JSON values
in :mod:`.structured`; everything is re-exported here.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import re
import string
import unicodedata
import urllib.parse
from collections.abc import Callable, Hashable, Iterable, Sequence

import pandas as pd

from snap_capi_provider.core.amounts import MAX_AMOUNT, MAX_COUNT, amount, count, currency  # noqa: F401
from snap_capi_provider.core.dates import (  # noqa: F401  (re-exported)
    BIRTH_DATE_RULES,
    date_of_birth,
    date_of_birth_day_first,
    epoch_seconds,
    event_time,
    normalize_event_times,
)
from snap_capi_provider.core.event_names import (  # noqa: F401  (re-exported)
    ACTION_SOURCE_ALIASES,
    ACTION_SOURCES,
    EVENT_NAME_ALIASES,
    EVENT_NAMES,
    action_source,
    event_name,
)
from snap_capi_provider.core.phones import clean_phone, phone, phone_context, phone_reference  # noqa: F401
from snap_capi_provider.core.places import country, state, zip_code  # noqa: F401
from snap_capi_provider.core.structured import (  # noqa: F401  (re-exported)
    DATA_PROCESSING_OPTIONS,
    EXTINFO_LENGTH,
    advertiser_tracking_enabled,
    contents,
    data_processing_options,
    extinfo,
    normalize_cells,
    string_list,
)
from snap_capi_provider.core.text import (  # noqa: F401
    APOSTROPHES,
    DEFAULT_MAX_LENGTH,
    NAME_PLACEHOLDERS,
    PLACEHOLDER_VALUE,
    SHA256_HEX,
    STATE_PLACEHOLDERS,
    VALUE_PLACEHOLDERS,
    Absent,
    InvalidValue,
    accepts,
    cell_text,
    clean_text,
    fold_width,
    is_prehashed,
    read_unwrapped_if_refused,
    sha256_hex,
    to_text,
)

# -------------------------------------------------------------------------------------- PII rules

_EMAIL_ATOM = r"[\w!#$%&'*+/=?^`{|}~-]+"
_EMAIL_LABEL = r"[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?"
EMAIL = re.compile(rf"(?P<local>{_EMAIL_ATOM}(?:\.{_EMAIL_ATOM})*)@(?P<domain>(?:{_EMAIL_LABEL}\.)+"
                   r"(?:[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59}))")
# The same pattern for ASCII text (most addresses), with \w and [^\W_] spelled out as ASCII
# classes: about three times faster than the Unicode-aware classes, and the same matches on ASCII.
_ASCII_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
ASCII_EMAIL = re.compile(rf"(?P<local>{_EMAIL_ATOM}(?:\.{_EMAIL_ATOM})*)@(?P<domain>(?:{_ASCII_LABEL}\.)+"
                         r"(?:[a-zA-Z]{2,63}|xn--[a-z0-9-]{1,59}))", re.ASCII)
_DISPLAY_NAME = re.compile(r"[^<>]*<\s*([^<>\s]+)\s*>")
_COMMENT_NAME = re.compile(r"([^\s()<>]+@[^\s()<>]+)\s*\([^()<>@]*\)")  # RFC 822's a@example.com (Name)
MAX_EMAIL_LENGTH = 254


@accepts(max_length=512)
def email(text: str) -> str:
    """Lower case; ``mailto:``, ``Name <addr>`` and ``addr (Name)`` unwrapped; must be a valid address of at
    most 254 characters.

    Dots and ``+tags`` are kept (they are part of the address Snap matches); a domain's trailing root dot
    (``a@example.com.``, its fully qualified form) is not part of it. A spreadsheet's wrapper
    around an address (``="a@example.com"``, ``"a@example.com"``) is unwrapped.
    """
    if is_prehashed(text):
        return text.lower()
    return read_unwrapped_if_refused(_email, text)


def _email(text: str) -> str:
    value = text
    if "<" in value:
        match = _DISPLAY_NAME.fullmatch(value)
        if match is None:
            raise InvalidValue("invalid_email")
        value = match.group(1)
    elif value.endswith(")") and (commented := _COMMENT_NAME.fullmatch(value)):
        value = commented.group(1)
    if value[:7].lower() == "mailto:":
        value = urllib.parse.unquote(value[7:].split("?", 1)[0]).strip()
    if len(value) > MAX_EMAIL_LENGTH:
        raise InvalidValue("invalid_email")
    if not value.isascii():  # full-width letters typed through an IME: ａｂ@example.ｃｏｍ is ab@example.com
        value = unicodedata.normalize("NFKC", value)
    value = value.lower()
    if value.endswith("."):  # example.com. is DNS's fully qualified spelling of example.com
        value = value[:-1]
    match = (ASCII_EMAIL if value.isascii() else EMAIL).fullmatch(value)
    if match is None or len(match.group("local")) > 64:
        raise InvalidValue("invalid_email")
    return value


_NAME_DROP = re.compile(r"[\d\s" + re.escape(string.punctuation + APOSTROPHES) + r"\u201c\u201d]+")
_ASCII_NOT_LETTER = re.compile(r"[^a-z]+")


@accepts()
def name(text: str) -> str | None:
    """First or last name: lower case (not casefold), NFC, punctuation, apostrophes and digits removed, accents
    kept; a placeholder (``N/A``, ``NULL``, ``unknown``) is absent."""
    if is_prehashed(text):
        return text.lower()
    if text.lower() in NAME_PLACEHOLDERS:
        return None
    if text.isascii():
        return _ASCII_NOT_LETTER.sub("", text.lower()) or None
    text = fold_width(text)
    value = "".join(ch for ch in _NAME_DROP.sub("", text.lower()) if ch.isalpha() or _is_mark(ch))
    return unicodedata.normalize("NFC", value) or None


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch).startswith("M")


_GENDERS = {"m": "m", "male": "m", "man": "m", "f": "f", "female": "f", "woman": "f"}


@accepts(max_length=100)
def gender(text: str) -> str | None:
    """``m`` or ``f`` (``Female``, ``F.``); anything else means absent (not an error), counted as
    ``gender_not_m_or_f`` (``other``, ``X``, a code such as ``1``) or as ``placeholder_value`` (``N/A``)."""
    if is_prehashed(text):
        return text.lower()
    found = _GENDERS.get(fold_width(text).lower().rstrip(".").strip())
    if found is None:
        raise Absent(PLACEHOLDER_VALUE if text.lower() in VALUE_PLACEHOLDERS else GENDER_NOT_M_OR_F)
    return found


GENDER_NOT_M_OR_F = "gender_not_m_or_f"


@accepts()
def city(text: str) -> str | None:
    """Lower case, no spaces, punctuation or digits (``Menlo Park`` -> ``menlopark``)."""
    return name(text)


@accepts(numbers=True)
def external_id(text: str) -> str:
    """Trimmed and hashed as is: ids may be case-sensitive. Numbers read exactly (``1.0`` -> ``1``). A
    placeholder (``N/A``, ``NULL``, ``0``) is absent: sent, it would make every such row one person."""
    if text.lower() in VALUE_PLACEHOLDERS:
        raise Absent(PLACEHOLDER_VALUE)
    return text.lower() if is_prehashed(text) else text


_UUID = re.compile(r"\{?([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})\}?"
                   r"|\{?([0-9a-f]{8})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{12})\}?")
OPTED_OUT_ID = "00000000-0000-0000-0000-000000000000"


@accepts(max_length=100)
def device_id(text: str) -> str:
    """Mobile advertising id (IDFA / GAID) or IDFV: a UUID in canonical lower-case hyphenated form.

    Any case, braces or no hyphens are accepted; other strings are ``invalid_madid``. The all-zero id
    (the user denied tracking) raises :class:`Absent` (``madid_opted_out``): absent, not an error.
    """
    match = _UUID.fullmatch(text.lower())
    if match is None or (text.startswith("{") != text.endswith("}")):
        raise InvalidValue("invalid_madid")
    value = "-".join(part for part in match.groups() if part is not None)
    if value == OPTED_OUT_ID:
        raise Absent("madid_opted_out")
    return value


_IPV4 = re.compile(r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)", re.ASCII)
_WITH_PORT = re.compile(r"(?:(\d{1,3}(?:\.\d{1,3}){3})|\[([0-9A-Fa-f:.]+(?:%[^\]]+)?)\]):\d{1,5}", re.ASCII)


@accepts(max_length=100)
def ip_address(text: str) -> str:
    """A valid IPv4 or IPv6 address in its canonical (RFC 5952) form; IPv4-mapped as ``::ffff:1.2.3.4``.

    An IPv6 zone (``fe80::1%eth0``) names an interface of the machine that logged the address, nothing
    Snap can read: the address is sent without it; so is the port of a logged ``1.2.3.4:51234`` or
    ``[2001:db8::1]:443``. An ``X-Forwarded-For`` list (``203.0.113.7, 10.0.0.1``) gives its first
    address, the client's by the header's definition; every entry must be an address. The unspecified
    address (``0.0.0.0``, ``::``) is a logger's placeholder for none: absent (``placeholder_value``)."""
    if _IPV4.fullmatch(text):
        if text == "0.0.0.0":
            raise Absent(PLACEHOLDER_VALUE)
        return text
    if "," in text:  # every entry must read as an address; the first is the client
        return [ip_address(entry.strip()) for entry in text.split(",")][0]
    with_port = _WITH_PORT.fullmatch(text)
    if with_port is not None:
        text = with_port[1] or with_port[2]
    value = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        address = ipaddress.ip_address(value)
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
            address = ipaddress.IPv6Address(value.partition("%")[0])
    except ValueError:
        raise InvalidValue("invalid_ip_address") from None
    if address.is_unspecified:
        raise Absent(PLACEHOLDER_VALUE)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


@accepts(numbers=True)
def plain_text(text: str) -> str:
    """Sent as written (trimmed, NFC); numbers read exactly (an order id ``8812``)."""
    return text


@accepts(numbers=True, max_length=2048)
def long_text(text: str) -> str:
    """Like :func:`plain_text`, up to 2,048 characters (user agents)."""
    return text


_URL_EMAIL = re.compile(r"[a-z0-9._%+-]+(?:@|%40)(?:[a-z0-9-]+\.)+[a-z]{2,63}", re.IGNORECASE)
_AFTER_HOST = re.compile(r"[/?#]")
REDACTED_IN_URL = "redacted"


@accepts(numbers=True, max_length=2048)
def page_url(text: str) -> str:
    """A page's URL as given, up to 2,048 characters, but an e-mail address in its path, query or fragment
    (``?email=john%40example.com``, a form sent by GET) is replaced by ``redacted``: the URL goes to Snap
    unhashed, and a raw e-mail never does."""
    start = text.find("://")
    start = 0 if start < 0 else start + 3
    rest = _AFTER_HOST.search(text, start)  # the host (and a user name before it) is no address to mask
    if rest is None or ("@" not in text and "%40" not in text.upper()):
        return text
    return text[:rest.start()] + _URL_EMAIL.sub(REDACTED_IN_URL, text[rest.start():])


# ---------------------------------------------------------------------------- column application

Rule = Callable[[str], object]


def normalize_column(
    values: Sequence[object] | pd.Series, rule: Rule, context: Sequence[Hashable] | None = None,
    notes: dict[str, int] | None = None,
) -> tuple[list[object], list[str | None]]:
    """Apply ``rule`` to a column: returns (normalized values with ``None`` for absent, error reasons).

    The rule runs once per distinct (value, context) pair, so repeated values cost a dict look-up.
    ``context`` (e.g. the row's country for phones, zips and states) is passed as the rule's second
    argument. ``notes``, when given, counts values that are absent for a reason worth reporting
    (``{"madid_opted_out": 3}``); those rows get ``(None, None)``.
    """
    raw = values.tolist() if isinstance(values, pd.Series) else list(values)
    if getattr(rule, "reads_cells", False):  # a structured field's rule reads whole cells (lists, JSON text)
        return normalize_cells(raw, rule)
    if _one_safe_key_type(raw):
        return _normalize_distinct(raw, rule, notes, None if context is None else list(context))
    n = len(raw)
    out: list[object] = [None] * n
    errors: list[str | None] = [None] * n
    contexts: Iterable[Hashable] = context if context is not None else itertools.repeat(None)
    with_context = context is not None
    max_length = getattr(rule, "max_length", DEFAULT_MAX_LENGTH)
    cache: dict[object, tuple[object, str | None, str | None]] = {}
    for i, (value, ctx) in enumerate(zip(raw, contexts, strict=with_context)):
        if value is None:
            continue
        kind = type(value)
        # Text is keyed by itself; anything else by its type too, since 1 == 1.0 == True hash alike
        # but read differently; aware datetimes by their zone too (same instant, other local date).
        if kind is str:
            key: object = (value, ctx)
        elif isinstance(value, dt.datetime):
            key = (kind, value, value.tzinfo, ctx)
        else:
            key = (kind, value, ctx)
        try:
            hit = cache.get(key)
        except Exception:  # unhashable (a list, an array; an object whose __hash__ fails): no caching
            hit = key = None
        if hit is None:
            hit = _apply(rule, value, ctx, with_context, max_length)
            if key is not None:
                cache[key] = hit
        out[i], errors[i], note = hit
        if note is not None and notes is not None:
            notes[note] = notes.get(note, 0) + 1
    return out, errors


_SAFE_KEY_TYPES = frozenset({str, int, float, type(None)})


def _one_safe_key_type(raw: list[object]) -> bool:
    """Whether the values can key a cache by themselves: text (and absent cells) only, or numbers of one
    type only (``1``, ``1.0`` and ``True`` hash alike but read differently; datetimes need their zone)."""
    kinds = set(map(type, raw))
    kinds.discard(type(None))
    return len(kinds) <= 1 and kinds <= _SAFE_KEY_TYPES


def _normalize_distinct(raw: list[object], rule: Rule, notes: dict[str, int] | None,
                        context: list[Hashable] | None) -> tuple[list[object], list[str | None]]:
    """:func:`normalize_column` for a column of one hashable type: the rule runs once per distinct
    (value, context) and the per-row work is dictionary look-ups done in C (``map``), not a Python loop.

    Rows are grouped by context first (a few countries), so within a group the values key the look-ups
    by themselves: a (value, context) tuple per row would be built and hashed several times."""
    if context is None:
        return _normalize_one_context(raw, rule, notes, None, False)
    if len(context) != len(raw):
        raise ValueError("context must have one entry per value")
    groups: dict[Hashable, list[int]] = {}
    for i, ctx in enumerate(context):
        groups.setdefault(ctx, []).append(i)
    if len(groups) <= 1:
        return _normalize_one_context(raw, rule, notes, context[0] if context else None, True)
    out: list[object] = [None] * len(raw)
    errors: list[str | None] = [None] * len(raw)
    for ctx, rows in groups.items():
        values, refused = _normalize_one_context([raw[i] for i in rows], rule, notes, ctx, True)
        for i, value in zip(rows, values, strict=True):
            out[i] = value
        if refused.count(None) != len(refused):
            for i, error in zip(rows, refused, strict=True):
                errors[i] = error
    return out, errors


def _normalize_one_context(raw: list[object], rule: Rule, notes: dict[str, int] | None, ctx: Hashable,
                           with_context: bool) -> tuple[list[object], list[str | None]]:
    max_length = getattr(rule, "max_length", DEFAULT_MAX_LENGTH)
    distinct = dict.fromkeys(raw)
    distinct.pop(None, None)
    normalized: dict[object, object] = {}
    refused: dict[object, str] = {}
    noted: dict[object, str] = {}
    native = getattr(rule, "native_number", None)
    first = next((value for value in raw if value is not None), None)
    memo = _MEMOS.get(rule) if type(first) is str else None  # text only: 1 and 1.0 would share a key
    if memo is not None and len(memo) > MEMO_SIZE:
        memo.clear()
    for value in distinct:
        if native is not None and type(value) in (int, float):
            result, error, note = native(value)
        elif memo is not None:
            key = (value, ctx) if with_context else value
            hit = memo.get(key)
            if hit is None:
                hit = memo[key] = _apply(rule, value, ctx, with_context, max_length)
            result, error, note = hit
        elif type(value) is str and value.isascii() and len(value) <= max_length and value.isprintable():
            # clean_text's common case inline (most distinct values): only the rule's call is left; a
            # value the rule refuses goes through _apply again for its reason.
            text = value.strip()
            if not text:
                continue
            try:
                result = rule(text, ctx) if with_context else rule(text)
            except Exception:
                result, error, note = _apply(rule, value, ctx, with_context, max_length)
            else:
                if result is not None:
                    normalized[value] = result
                continue
        else:
            result, error, note = _apply(rule, value, ctx, with_context, max_length)
        if result is not None:
            normalized[value] = result
        elif error is not None:
            refused[value] = error
        elif note is not None:
            noted[value] = note
    out = list(map(normalized.get, raw))
    errors = list(map(refused.get, raw)) if refused else [None] * len(raw)
    if noted and notes is not None:
        for value in raw:
            note = noted.get(value)
            if note is not None:
                notes[note] = notes.get(note, 0) + 1
    return out, errors


MEMO_SIZE = 50_000
"""Distinct text values remembered per costly rule across the chunks of a run (a customer seen in an
earlier chunk is not parsed again); the memo is emptied when it grows past this. Only rules that cost
several times a look-up in a large dict (about 0.5 µs: mostly cache misses) have one: phones and birth
dates, not emails (a miss in their memo cost more than the rule)."""
_MEMOS: dict[Callable, dict[object, tuple[object, str | None, str | None]]] = {}


def _apply(rule: Rule, value: object, ctx: Hashable, with_context: bool,
           max_length: int) -> tuple[object, str | None, str | None]:
    try:
        if type(value) is str:
            text = clean_text(value, max_length)
        else:
            text = cell_text(value, rule, ctx)
        if text is None:
            return None, None, None
        return (rule(text, ctx) if with_context else rule(text)), None, None
    except Absent as exc:
        return None, None, exc.note
    except InvalidValue as exc:
        if exc.reason == "invalid_control_character" and rule in _SPACE_BLIND and type(value) is str:
            spaced = value.translate(_LINE_BREAKS_TO_SPACES)
            if spaced != value:
                return _apply(rule, spaced, ctx, with_context, max_length)
        if type(value) is str and value.strip().lower() in VALUE_PLACEHOLDERS:
            return None, None, PLACEHOLDER_VALUE  # an export's word for no value, in a field it cannot be
        return None, exc.reason, None
    except (ValueError, TypeError, ArithmeticError, LookupError, RecursionError, AttributeError):
        # A library surprised by odd input (a parser, phonenumbers, pycountry): a row-level reason,
        # never a traceback from deep inside it.
        return None, "invalid_value", None


_MEMOS.update({phone: {}, date_of_birth: {}, date_of_birth_day_first: {}})

_SPACE_BLIND = frozenset({name, city, state, zip_code, country, phone})
"""Rules whose result drops spaces: for them a tab or line break inside a value (a multi-line CSV cell,
``Mary\\tAnn``) is a space, not a control character that rejects the row."""
_LINE_BREAKS_TO_SPACES = dict.fromkeys(map(ord, "\t\n\v\f\r\x1c\x1d\x1e\x1f\x85"), " ")
