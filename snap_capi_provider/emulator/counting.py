"""Count-only mode: count the events of a request body and pick out their ids with byte scans.

Meant for benchmarks, where the emulator must not be the bottleneck: no JSON parsing, no per-event
validation, nothing retained but the ids. It trusts the body's shape: an event is counted per
occurrence of its required name key (``"event_name"`` in v3, ``"event_type"`` in v2), and ids are the
string values of ``"event_id"`` (v3) or ``"client_dedup_id"`` / ``"transaction_id"`` (v2).
"""

from __future__ import annotations

import json
import re

__all__ = ["count_events", "scan_ids", "scan_v2_asset"]

_NAME_KEY = {"v3": b'"event_name"', "v2": b'"event_type"'}
_ID_KEYS = {"v3": (b"event_id",), "v2": (b"client_dedup_id", b"transaction_id")}
# Plain ids (the common case) match the fast pattern; ids with JSON escapes take the slow one.
_FAST = {k: re.compile(rb'"' + k + rb'"\s*:\s*"([^"\\]*)"') for keys in _ID_KEYS.values() for k in keys}
_ESCAPED = {k: re.compile(rb'"' + k + rb'"\s*:\s*"((?:[^"\\]|\\.)*)"') for keys in _ID_KEYS.values() for k in keys}
_V2_ASSET = re.compile(rb'"(?:pixel_id|snap_app_id)"\s*:\s*"((?:[^"\\]|\\.)*)"')


def count_events(body: bytes, version: str) -> int:
    """Number of events in a (decompressed) request body, by counting the required name key."""
    return body.count(_NAME_KEY[version])


def scan_ids(body: bytes, version: str) -> list[str]:
    """Event ids in the body, in order (v2: ``client_dedup_id``, else ``transaction_id`` if none has one)."""
    escaped = b"\\" in body  # no backslash anywhere: every string id matches the fast pattern as it is
    for key in _ID_KEYS[version]:
        if escaped:
            found = [_text(raw) for raw in _ESCAPED[key].findall(body)]
        else:
            found = [raw.decode("utf-8", "replace") for raw in _FAST[key].findall(body)]
        if found:
            return found
    return []


def scan_v2_asset(body: bytes) -> str | None:
    """The first ``pixel_id`` / ``snap_app_id`` of a v2 body (count-only mode attributes the request to it)."""
    match = _V2_ASSET.search(body)
    return _text(match.group(1)) if match else None


def _text(raw: bytes) -> str:
    if b"\\" in raw:
        try:
            return json.loads(b'"' + raw + b'"')
        except ValueError:
            pass
    return raw.decode("utf-8", "replace")
