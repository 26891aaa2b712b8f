"""Wire formats: an :class:`EventChunk` to Snap's v3 events or legacy v2 flat events."""

from __future__ import annotations

import unicodedata
from typing import Literal

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
    """Each event as v3 JSON: root fields, ``user_data`` (hashed fields as one-item lists), ``custom_data``.

    Built column by column from JSON fragments, each distinct value encoded once, so no dict is made
    per event. ``also_hashed`` names raw fields to send hashed anyway (``madid``, where Snap's docs are
    ambiguous). An event with a value JSON cannot carry is ``None``.
    """
    bad: set[int] = set()
    parts: dict[str, list[list[bytes | None]]] = {"root": [_fragments("event_id", chunk.event_ids, False, bad)],
                                                  "user_data": [], "custom_data": []}
    for key, plain in chunk.plain.items():
        snap_field = BY_KEY[key]
        hashed = snap_field.hashed or key in also_hashed
        source = digests_of(chunk, key) if hashed else plain
        parts[snap_field.location].append(_fragments(key, source, snap_field.as_list, bad, hashed))
    # One pass over every event's fragments, sliced into its three objects (absent values are None).
    columns = parts["root"] + parts["user_data"] + parts["custom_data"]
    root_end = len(parts["root"])
    user_end = root_end + len(parts["user_data"])
    join = b",".join
    out: list[bytes | None] = []
    for row in zip(*columns, strict=True):
        root = join(filter(None, row[:root_end]))
        user, custom = join(filter(None, row[root_end:user_end])), join(filter(None, row[user_end:]))
        out.append(b'{%s,"user_data":{%s},"custom_data":{%s}}' % (root, user, custom) if custom
                   else b'{%s,"user_data":{%s}}' % (root, user))
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
        if snap_field.v2_key is None:
            continue
        source = digests_of(chunk, key) if snap_field.v2_hashed else chunk.plain[key]
        columns.append(_fragments(snap_field.v2_key, [None if v is None else _v2_text(v) for v in source], False,
                                  bad))
        if snap_field.v2_soundex_key:
            codes = [None if v is None else _soundex_or_none(v) for v in chunk.plain[key]]
            columns.append(_fragments(snap_field.v2_soundex_key, codes, False, bad))
    prefix = orjson.dumps(asset)[1:-1]
    integration = b'"integration":"snap-capi-provider"'
    return [None if body is None else b"{%s,%s,%s}" % (prefix, body, integration)
            for body in _joined(columns, len(chunk), bad)]


def _fragments(key: str, values: list[object], as_list: bool, unencodable: set[int],
               hex_digests: bool = False) -> list[bytes | None]:
    """``"key":value`` for each value (``None`` where absent), each distinct value encoded once; the
    positions of values JSON cannot carry are added to ``unencodable``."""
    head = orjson.dumps(key) + (b":[" if as_list else b":")
    tail = b"]" if as_list else b""

    def fragment(value: object) -> bytes | None:
        try:
            return head + orjson.dumps(value) + tail
        except (orjson.JSONEncodeError, TypeError):
            return None

    try:
        distinct = dict.fromkeys(values)
    except TypeError:  # lists (content ids): encoded one by one
        out = [None if value is None else fragment(value) for value in values]
        unencodable.update(i for i, (value, frag) in enumerate(zip(values, out, strict=True))
                           if frag is None and value is not None)
        return out
    distinct.pop(None, None)
    if hex_digests:  # SHA-256 hex needs no JSON escaping
        encoded = {value: b"".join((head, b'"', value.encode(), b'"', tail)) for value in distinct}
        return list(map(encoded.get, values))
    try:  # the common case in one comprehension; a value JSON cannot carry sends it the slow way
        dumps = orjson.dumps
        encoded: dict[object, bytes | None] = {value: head + dumps(value) + tail for value in distinct}
    except (orjson.JSONEncodeError, TypeError):
        encoded = {value: fragment(value) for value in distinct}
    if None in encoded.values():
        unencodable.update(i for i, value in enumerate(values) if value is not None and encoded[value] is None)
    return list(map(encoded.get, values))


def _joined(columns: list[list[bytes | None]], n: int, unencodable: set[int]) -> list[bytes | None]:
    """Per event, its fragments joined by commas; ``None`` for an event holding an unencodable value."""
    if not columns:
        return [b""] * n
    out: list[bytes | None] = [b",".join(filter(None, row)) for row in zip(*columns, strict=True)]
    for i in unencodable:
        out[i] = None
    return out


def _v2_text(value: object) -> str:
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
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
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).upper()


def _soundex_or_none(value: object) -> str | None:
    text = str(value)
    if len(text) == 64 and all(ch in "0123456789abcdef" for ch in text):
        return None  # a pre-hashed value has no letters to encode
    return soundex(text)

