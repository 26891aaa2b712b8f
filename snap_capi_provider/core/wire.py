"""Wire formats: an :class:`EventChunk` to Snap's v3 events or legacy v2 flat events."""

from __future__ import annotations

import unicodedata
from typing import Literal

from snap_capi_provider.core.events import EventChunk
from snap_capi_provider.core.fields import BY_KEY

ApiVersion = Literal["v3", "v2"]
API_VERSIONS: tuple[str, ...] = ("v3", "v2")


def encode_v3(chunk: EventChunk, also_hashed: frozenset[str] = frozenset()) -> list[dict[str, object]]:
    """v3 events: root fields, ``user_data`` (hashed fields as one-item lists), ``custom_data``.

    ``also_hashed`` names raw fields to send hashed anyway (``madid``, where Snap's docs are ambiguous).
    """
    n = len(chunk)
    events: list[dict[str, object]] = [{"event_id": event_id} for event_id in chunk.event_ids]
    user_data: list[dict[str, object]] = [{} for _ in range(n)]
    custom_data: list[dict[str, object]] = [{} for _ in range(n)]
    targets = {"root": events, "user_data": user_data, "custom_data": custom_data}
    for key, plain in chunk.plain.items():
        snap_field = BY_KEY[key]
        source = chunk.digests[key] if snap_field.hashed or key in also_hashed else plain
        target = targets[snap_field.location]
        if snap_field.as_list:
            for record, value in zip(target, source, strict=True):
                if value is not None:
                    record[key] = [value]
        else:
            for record, value in zip(target, source, strict=True):
                if value is not None:
                    record[key] = value
    for event, user, custom in zip(events, user_data, custom_data, strict=True):
        event["user_data"] = user
        if custom:
            event["custom_data"] = custom
    return events


def encode_v2(chunk: EventChunk, asset: dict[str, str]) -> list[dict[str, object]]:
    """Legacy v2 flat events: every value a string, IP hashed, Soundex codes beside names and places.

    ``asset`` is ``{"pixel_id": ...}`` or ``{"snap_app_id": ..., "app_id": ...}``.
    """
    columns = []
    for key in chunk.plain:
        snap_field = BY_KEY[key]
        if snap_field.v2_key is None:
            continue
        source = chunk.digests[key] if snap_field.v2_hashed else chunk.plain[key]
        columns.append((snap_field.v2_key, source, _v2_text))
        if snap_field.v2_soundex_key:
            columns.append((snap_field.v2_soundex_key, chunk.plain[key], _soundex_or_none))
    events: list[dict[str, object]] = []
    for i in range(len(chunk)):
        event: dict[str, object] = dict(asset)
        event["client_dedup_id"] = chunk.event_ids[i]
        for v2_key, source, convert in columns:
            value = source[i]
            if value is not None:
                text = convert(value)
                if text is not None:
                    event[v2_key] = text
        event.setdefault("integration", "snap-capi-provider")
        events.append(event)
    return events


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

