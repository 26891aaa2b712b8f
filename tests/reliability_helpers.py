"""Shared pieces of the reliability tests: rows full of (fake) PII, the send path's own event
encoding for delivery tests, and scanners that look for secrets and PII in captured text."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import orjson
import pandas as pd

from snap_capi_provider.core.delivery import BatchItem
from snap_capi_provider.core.events import EventOptions, build_events, resolve_mapping
from snap_capi_provider.core.wire import encode_v2, encode_v3
from snap_capi_provider.emulator import CapiEmulator
from tests.conftest import PIXEL, TOKEN

# Distinctive values, so a scan of the logs cannot match them by chance.
FIRST_NAMES = ("Xanthippe", "Bérénice", "Quorralyn", "Zoë-Maëlle", "Þorgerður")
LAST_NAMES = ("Vandersloot", "O'Quiggley", "Wóźniakowa", "Zzyzx-Ramírez", "Yllvaringa")
MAPPING = {"event_id": "order_id", "em": "email", "ph": "phone", "fn": "first_name", "ln": "last_name",
           "value": "amount", "currency": "currency", "event_time": "ts", "order_id": "order_id"}


def pii_rows(n: int, *, start: int = 0, now: float | None = None) -> list[dict]:
    """``n`` valid PURCHASE rows with unique order ids ``o-<i>`` and raw PII in every row."""
    now = int(now if now is not None else time.time())
    return [
        {
            "order_id": f"o-{i}",
            "email": f" Buyer.{i}+Tag@Example-Shop.com ",
            "phone": f"+1 (650) 55{i % 10}-{i % 10000:04d}",
            "first_name": FIRST_NAMES[i % len(FIRST_NAMES)],
            "last_name": LAST_NAMES[i % len(LAST_NAMES)],
            "amount": round(5 + (i % 97) * 1.25, 2),
            "currency": "usd",
            "ts": now - 60 - (i % 3600),
        }
        for i in range(start, start + n)
    ]


def raw_pii(rows: Iterable[Mapping[str, object]]) -> set[str]:
    """Every raw email, phone and name of ``rows``, as given and trimmed, plus normalized email and phone."""
    found: set[str] = set()
    for row in rows:
        for key in ("email", "phone", "first_name", "last_name"):
            value = row.get(key)
            if isinstance(value, str) and value.strip():
                found |= {value, value.strip()}
        email = row.get("email")
        if isinstance(email, str):
            found.add(email.strip().lower())
        phone = row.get("phone")
        if isinstance(phone, str):
            found.add("".join(ch for ch in phone if ch.isdigit()))
    return found


def leaks(text: str, secrets: Iterable[str]) -> list[str]:
    """The secrets (tokens, PII values) that occur in ``text``."""
    return sorted(secret for secret in secrets if secret and secret in text)


def batch_items(rows: Sequence[Mapping[str, object]], mapping: Mapping[str, str] | None = None,
                options: EventOptions | None = None, api_version: str = "v3") -> list[BatchItem]:
    """Rows through the send path's own preparation (normalize, hash, encode) into batch items."""
    frame = pd.DataFrame(list(rows), dtype=object)
    resolved = resolve_mapping(list(frame.columns), mapping or MAPPING)
    options = options or EventOptions(event_name="PURCHASE", default_phone_region="US")
    result = build_events(frame, resolved, options)
    assert not result.rejected, result.rejected
    chunk = result.events
    events = encode_v2(chunk, {"pixel_id": PIXEL}) if api_version == "v2" else encode_v3(chunk)
    return [BatchItem(row, orjson.dumps(event)) for row, event in zip(chunk.rows, events, strict=True)]


@contextmanager
def emulator(**kwargs: object) -> Iterator[CapiEmulator]:
    """A private emulator (its faults and delayed requests cannot leak into other tests)."""
    with CapiEmulator(access_tokens=(TOKEN,), **kwargs) as emu:
        yield emu


def wait_for_requests(emu: CapiEmulator, count: int, timeout: float = 5.0) -> None:
    """Wait until the emulator has finished ``count`` requests (delayed ones finish late)."""
    deadline = time.monotonic() + timeout
    while len(emu.requests) < count and time.monotonic() < deadline:
        time.sleep(0.01)
