"""Wire formats: an :class:`EventChunk` to Snap's v3 events or legacy v2 flat events."""

from __future__ import annotations

import unicodedata
from typing import Literal

import numpy as np
import orjson

from snap_capi_provider.core.events import EventChunk, digests_of
from snap_capi_provider.core.fields import BY_KEY

ApiVersion = Literal["v3", "v2"]
API_VERSIONS: tuple[str, ...] = ("v3", "v2")


def encode_v3(chunk: EventChunk, also_hashed: frozenset[str] = frozenset()) -> list[dict[str, object]]:
    """v3 events as dicts (see :func:`payloads_v3`, which the send path uses)."""
    return [orjson.loads(payload) for payload in payloads_v3(chunk, also_hashed) if payload is not None]


def encode_v2(chunk: EventChunk, asset: dict[str, str]) -> list[dict[str, object]]:
    """Legacy v2 events as dicts (see :func:`payloads_v2`, which the send path uses)."""
    return [orjson.loads(payload) for payload in payloads_v2(chunk, asset) if payload is not None]


def payloads_v3(chunk: EventChunk, also_hashed: frozenset[str] = frozenset()) -> list[bytes | None]:
    """Each event as v3 JSON: root fields, ``user_data`` (hashed fields as one-item lists), ``custom_data``
    and ``app_data`` (each only when the event has a value for it).

    Built column by column from JSON fragments, so no dict is made per event; structured values (lists,
    line items) are encoded as they are. ``also_hashed`` names raw fields to send hashed anyway
    (``madid``, where Snap's docs are ambiguous). An event with a value JSON cannot carry is ``None``.
    """
    bad: set[int] = set()
    parts: dict[str, list[list[bytes]]] = {"root": [_fragments("event_id", chunk.event_ids, False, bad)],
                                           "user_data": [], "custom_data": [], "app_data": []}
    for key, plain in chunk.plain.items():
        if key == "event_id":  # written from chunk.event_ids above: a second "event_id" key is no JSON object
            continue
        snap_field = BY_KEY[key]
        hashed = snap_field.hashed or key in also_hashed
        source = digests_of(chunk, key) if hashed else plain
        parts[snap_field.location].append(_fragments(key, source, snap_field.as_list, bad, hashed))
    # One pass over every event's fragments, sliced into its objects; each fragment starts with its
    # comma (absent values are empty), so an object is one join less its first byte.
    columns = parts["root"] + parts["user_data"] + parts["custom_data"] + parts["app_data"]
    root_end = len(parts["root"])
    user_end = root_end + len(parts["user_data"])
    custom_end = user_end + len(parts["custom_data"])
    has_app = bool(parts["app_data"])
    join = b"".join
    out: list[bytes | None] = []
    for row in zip(*columns, strict=True):
        root, user, custom = join(row[:root_end]), join(row[root_end:user_end]), join(row[user_end:custom_end])
        app = join(row[custom_end:]) if has_app else b""
        if app:
            out.append(b'{%s,"user_data":{%s}%s,"app_data":{%s}}' % (
                root[1:], user[1:], b',"custom_data":{%s}' % custom[1:] if custom else b"", app[1:]))
        else:
            out.append(b'{%s,"user_data":{%s},"custom_data":{%s}}' % (root[1:], user[1:], custom[1:]) if custom
                       else b'{%s,"user_data":{%s}}' % (root[1:], user[1:]))
    for i in bad:
        out[i] = None
    return out


def payloads_v2(chunk: EventChunk, asset: dict[str, str]) -> list[bytes | None]:
    """Each event as a legacy v2 flat event: every value a string, IP hashed, Soundex codes beside
    names and places. ``asset`` is ``{"pixel_id": ...}`` or ``{"snap_app_id": ..., "app_id": ...}``."""
    bad: set[int] = set()
    columns = [_fragments("client_dedup_id", chunk.event_ids, False, bad)]
    for key in chunk.plain:
        snap_field = BY_KEY[key]
        if snap_field.v2_key is None or key == "event_id":  # client_dedup_id is written from chunk.event_ids
            continue
        source = digests_of(chunk, key) if snap_field.v2_hashed else chunk.plain[key]
        texts = [v if v is None or type(v) is str else _v2_text(v) for v in source]
        columns.append(_fragments(snap_field.v2_key, texts, False, bad))
        if snap_field.v2_soundex_key:  # once per distinct name or place
            plain = chunk.plain[key]
            codes = {v: _soundex_or_none(v) for v in dict.fromkeys(plain) if v is not None}
            columns.append(_fragments(snap_field.v2_soundex_key, list(map(codes.get, plain)), False, bad))
    prefix = orjson.dumps(asset)[1:-1]
    integration = b'"integration":"snap-capi-provider"'
    join = b"".join
    out: list[bytes | None] = [b"{%s%s,%s}" % (prefix, join(row), integration) for row in zip(*columns, strict=True)]
    for i in bad:
        out[i] = None
    return out


def _fragments(key: str, values: list[object], as_list: bool, unencodable: set[int],
               hex_digests: bool = False) -> list[bytes]:
    """``,"key":value`` for each value (empty where absent); the positions of values JSON cannot carry
    are added to ``unencodable``.

    A column of few distinct values (names, countries, currencies) encodes each once and shares the
    fragment; one of mostly distinct values (ids, times, amounts, emails, phones) encodes each where it
    stands, about twice as fast as a look-up per value."""
    head = b"," + orjson.dumps(key) + (b":[" if as_list else b":")
    tail = b"]" if as_list else b""
    if hex_digests:  # SHA-256 hex needs no JSON escaping: one f-string and one encode a value
        prefix, suffix = head.decode() + '"', '"' + tail.decode()
        if _repeats(values):
            encoded = {value: f"{prefix}{value}{suffix}".encode()
                       for value in dict.fromkeys(values) if value is not None}
            encoded[None] = b""
            return list(map(encoded.__getitem__, values))
        return [b"" if value is None else f"{prefix}{value}{suffix}".encode() for value in values]
    dumps = orjson.dumps
    try:  # the common case in one comprehension; a value JSON cannot carry sends the column the slow way
        if _repeats(values):
            encoded = {value: head + dumps(value) + tail for value in dict.fromkeys(values) if value is not None}
            encoded[None] = b""
            return list(map(encoded.__getitem__, values))
        return [b"" if value is None else head + dumps(value) + tail for value in values]
    except (orjson.JSONEncodeError, TypeError):
        pass
    out: list[bytes] = []
    for i, value in enumerate(values):
        if value is None:
            out.append(b"")
            continue
        try:
            out.append(head + dumps(value) + tail)
        except (orjson.JSONEncodeError, TypeError):
            unencodable.add(i)
            out.append(b"")
    return out


def _repeats(values: list[object], sample: int = 64) -> bool:
    """Whether a column's values mostly repeat, judged on its first values (False for unhashable ones)."""
    head = values[:sample]
    try:
        return len(set(head)) * 4 < len(head)
    except Exception:  # lists (content ids), objects whose __hash__ fails
        return False


def _v2_text(value: object) -> str:
    """A v2 value as text: lists comma-joined, floats in positional notation with their shortest exact
    digits (``0.00001``, ``42.5``, ``42``), never scientific (``1e-05``), which v2's decimal parser misreads."""
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    if isinstance(value, float):
        text = repr(value)  # the shortest digits that read back as the float; positional from 1e-4 to 1e16
        if "e" in text:
            text = np.format_float_positional(value, trim="-")
        return text[:-2] if text.endswith(".0") else text
    return str(value)


_SOUNDEX_CODES = {**dict.fromkeys("BFPV", "1"), **dict.fromkeys("CGJKQSXZ", "2"), **dict.fromkeys("DT", "3"),
                  "L": "4", **dict.fromkeys("MN", "5"), "R": "6"}


def soundex(text: str) -> str | None:
    """American Soundex (``John`` -> ``J500``, ``Los Angeles`` -> ``L252``); None without letters."""
    letters = [ch for ch in _ascii_upper(text) if "A" <= ch <= "Z"]
    if not letters:
        return None
    code = letters[0]
    previous = _SOUNDEX_CODES.get(letters[0], "")
    for ch in letters[1:]:
        digit = _SOUNDEX_CODES.get(ch, "")
        if digit and digit != previous:
            code += digit
            if len(code) == 4:
                break
        if ch not in "HW":  # H and W do not separate letters with the same code; vowels do.
            previous = digit
    return code.ljust(4, "0")


def _ascii_upper(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_UNDECOMPOSED))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).upper()


_UNDECOMPOSED = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ß": "ss", "æ": "ae",
                               "Æ": "AE", "œ": "oe", "Œ": "OE", "þ": "th", "Þ": "TH", "ı": "i", "ŋ": "n", "Ŋ": "N"})
"""Latin letters that NFKD does not split into a base letter and a mark (Łódź would lose its L)."""


def _soundex_or_none(value: object) -> str | None:
    text = str(value)
    if len(text) == 64 and all(ch in "0123456789abcdef" for ch in text):
        return None  # a pre-hashed value has no letters to encode
    return soundex(text)

