"""Shared by the emulator tests: events, posting helpers, the token and pixel they use."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import requests

from snap_capi_provider.emulator import CapiEmulator

TOKEN = "test-token"
PIXEL = "pixel-123"
REPO_ROOT = Path(__file__).resolve().parents[2]


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


EM = sha("person@example.com")
PH = sha("16505551212")


def make_event(**overrides: Any) -> dict[str, Any]:
    """A valid v3 PURCHASE event; keyword overrides replace root keys (None deletes)."""
    ev: dict[str, Any] = {
        "event_name": "PURCHASE",
        "event_time": int(time.time()) - 60,
        "action_source": "WEB",
        "event_id": "order-1",
        "event_source_url": "https://shop.example.com/checkout",
        "user_data": {
            "em": [EM],
            "ph": [PH],
            "client_ip_address": "203.0.113.7",
            "client_user_agent": "UA/1",
        },
        "custom_data": {"currency": "USD", "value": 42.5, "order_id": "1", "content_ids": ["sku-1"]},
    }
    for key, value in overrides.items():
        if value is None:
            ev.pop(key, None)
        else:
            ev[key] = value
    return ev


def make_v2_event(**overrides: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "pixel_id": PIXEL,
        "event_type": "PURCHASE",
        "event_conversion_type": "WEB",
        "timestamp": str(int(time.time() * 1000) - 60_000),
        "hashed_email": EM,
        "price": "42.50",
        "currency": "USD",
        "client_dedup_id": "order-1",
        "page_url": "https://shop.example.com",
        "unknown_key_is_ignored": "x",
    }
    for key, value in overrides.items():
        if value is None:
            ev.pop(key, None)
        else:
            ev[key] = value
    return ev


def post_v3(
    emu: CapiEmulator,
    events: list[Any] | None = None,
    *,
    asset: str = PIXEL,
    token: str | None = TOKEN,
    suffix: str = "",
    payload: Any = None,
    **kwargs: Any,
) -> requests.Response:
    params = {"access_token": token} if token is not None else {}
    body = payload if payload is not None else {"data": events}
    kwargs.setdefault("timeout", 10)
    return requests.post(f"{emu.url}/v3/{asset}/events{suffix}", params=params, json=body, **kwargs)


def post_v2(
    emu: CapiEmulator, events: Any, *, suffix: str = "", token: str | None = TOKEN, **kwargs: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(
        f"{emu.url}/v2/conversion{suffix}", json=events, headers=headers, timeout=10, **kwargs
    )
