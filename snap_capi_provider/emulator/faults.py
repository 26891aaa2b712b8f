"""Injected faults: a schedule consumed in order plus an optional seeded random fault rate."""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

FAULT_KINDS = (
    "429",
    "500",
    "502",
    "503",
    "drop",
    "delay",
    "invalid_200",
    "garbage_200",
    "bad_event_400",
    "request_400",
    "401",
)
DEFAULT_RANDOM_KINDS = ("429", "500", "502", "503", "drop")
#: The longest ``delay`` fault accepted (a delay is meant to outlast a client timeout, not hang a worker).
MAX_DELAY_S = 600.0


def check_delay(value: Any) -> float:
    """A delay in seconds: a finite number from 0 to :data:`MAX_DELAY_S`, else ``ValueError``."""
    if isinstance(value, bool):
        raise ValueError("delay_s must be a number of seconds")
    delay = float(value)
    if not math.isfinite(delay) or not 0.0 <= delay <= MAX_DELAY_S:
        raise ValueError(f"delay_s must be a finite number of seconds from 0 to {MAX_DELAY_S:g}")
    return delay


def _check_retry_after(value: Any) -> float | int | str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("retry_after must be a number of seconds or an HTTP date")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise ValueError("retry_after must be a finite, non-negative number")
        return value
    if isinstance(value, str):
        if any(ord(c) < 0x20 or ord(c) > 0x7E for c in value) or len(value) > 100:
            raise ValueError("retry_after must be printable ASCII without CR/LF (it becomes a header value)")
        return value
    raise ValueError("retry_after must be a number of seconds or an HTTP date")

#: The default ``path_contains``: it selects the *send* endpoints of both versions
#: (``/v3/{asset}/events`` and ``/v2/conversion``), never validate, logs or stats.
SEND_REQUESTS = "/events"


@dataclass
class Fault:
    """One injected failure.

    ``kind`` is one of :data:`FAULT_KINDS`. ``retry_after`` sets a ``Retry-After`` header on a 429,
    ``delay_s`` is the sleep of a ``delay`` fault (the request is then processed normally),
    ``event_index`` is the event a ``bad_event_400`` names (a ``request_400`` names none: the request
    as a whole is refused, like an unknown pixel id). ``path_contains`` selects requests: the
    default ``"/events"`` means the send endpoints of v3 and v2; any other string is matched as a
    substring of the request path (``""`` matches every API request). Control endpoints are never faulted.
    """

    kind: str
    retry_after: float | int | str | None = None
    delay_s: float = 0.0
    event_index: int = 0
    path_contains: str = SEND_REQUESTS

    def __post_init__(self) -> None:
        self.kind = str(self.kind)
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if self.path_contains is None:
            self.path_contains = ""
        self.delay_s = check_delay(self.delay_s)
        self.retry_after = _check_retry_after(self.retry_after)
        if isinstance(self.event_index, bool):
            raise ValueError("event_index must be an integer")
        self.event_index = int(self.event_index)
        if self.event_index < 0:
            raise ValueError("event_index must not be negative")
        if not isinstance(self.path_contains, str):
            raise ValueError("path_contains must be a string")

    def matches(self, path: str, is_send: bool) -> bool:
        """Whether this fault applies to a request for ``path``."""
        if self.path_contains == SEND_REQUESTS:
            return is_send
        return self.path_contains in path

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        """Build a fault from a JSON object (as posted to ``/_emulator/faults``)."""
        allowed = {"kind", "retry_after", "delay_s", "event_index", "path_contains"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """The fault as a JSON-ready dict."""
        return asdict(self)


class FaultPlan:
    """Thread-safe fault source: scheduled faults first, then a seeded random rate on send requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._schedule: list[Fault] = []
        self._rate = 0.0
        self._kinds: tuple[str, ...] = DEFAULT_RANDOM_KINDS
        self._seed: int | None = None
        self._delay_s = 1.0
        self._rng = random.Random()

    def add(self, faults: Iterable[Fault]) -> None:
        """Append faults to the schedule."""
        faults = list(faults)
        for fault in faults:
            if not isinstance(fault, Fault):
                raise TypeError(f"expected Fault, got {type(fault).__name__}")
        with self._lock:
            self._schedule.extend(faults)

    def set_rate(
        self,
        rate: float,
        kinds: Iterable[str] = DEFAULT_RANDOM_KINDS,
        seed: int | None = None,
        delay_s: float = 1.0,
    ) -> None:
        """Give a share ``rate`` of send requests a random fault of ``kinds`` (``rate=0`` turns it off)."""
        rate = float(rate)
        delay_s = check_delay(delay_s)
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault rate must be between 0 and 1")
        kinds = tuple(str(k) for k in kinds)
        for kind in kinds:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}")
        if rate and not kinds:
            raise ValueError("a non-zero fault rate needs at least one kind")
        with self._lock:
            self._rate, self._kinds, self._seed, self._delay_s = rate, kinds, seed, float(delay_s)
            self._rng = random.Random(seed)

    def clear_schedule(self) -> None:
        """Forget every scheduled fault."""
        with self._lock:
            self._schedule.clear()

    @property
    def pending(self) -> list[Fault]:
        """Scheduled faults not yet consumed."""
        with self._lock:
            return list(self._schedule)

    @property
    def rate_config(self) -> dict[str, Any]:
        """The random fault configuration."""
        with self._lock:
            return {"rate": self._rate, "kinds": list(self._kinds), "seed": self._seed}

    def next_fault(self, path: str, is_send: bool) -> Fault | None:
        """The fault for this request, consuming it, or None."""
        with self._lock:
            for i, fault in enumerate(self._schedule):
                if fault.matches(path, is_send):
                    del self._schedule[i]
                    return fault
            if self._rate and is_send and self._rng.random() < self._rate:
                kind = self._rng.choice(self._kinds)
                return Fault(kind, delay_s=self._delay_s if kind == "delay" else 0.0)
        return None


INVALID_TOKEN = {"status": "INVALID", "reason": "Invalid access token"}
REQUEST_400_MESSAGE = "Invalid pixel id: the asset does not exist or is not a pixel."


@dataclass(frozen=True)
class FaultAnswer:
    """The response a fault gives: a JSON ``payload`` or a raw ``body``."""

    status: int
    payload: Any = None
    body: bytes | None = None
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def fault_answer(fault: Fault, version: str, n_events: int) -> FaultAnswer:
    """What Snap (or a proxy in front of it) answers under ``fault`` (every kind but ``drop`` and ``delay``)."""
    kind = fault.kind
    if kind == "429":
        headers = () if fault.retry_after is None else (("Retry-After", str(fault.retry_after)),)
        return FaultAnswer(429, {"status": "INVALID", "reason": "Too many requests"}, headers=headers)
    if kind == "500":
        return FaultAnswer(500, {"status": "INTERNAL_ERROR", "reason": "Internal server error"})
    if kind == "502":
        return FaultAnswer(502, body=b"<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html")
    if kind == "503":
        return FaultAnswer(503, body=b"Service Unavailable", content_type="text/plain")
    if kind == "401":
        return FaultAnswer(401, INVALID_TOKEN)
    if kind == "invalid_200":
        return FaultAnswer(200, {"status": "INVALID", "reason": "The request could not be processed."})
    if kind == "garbage_200":
        return FaultAnswer(200, body=b"<html><body>OK</body></html>", content_type="text/html")
    if kind == "request_400":  # refused as a whole (e.g. an unknown pixel id): no event named
        if version == "v2":
            return FaultAnswer(400, {"status": "FAILED", "reason": REQUEST_400_MESSAGE})
        return FaultAnswer(400, {"status": "INVALID", "reason": REQUEST_400_MESSAGE,
                                 "errors": {"codes": ["INVALID_REQUEST"], "error_msgs": [REQUEST_400_MESSAGE]}})
    if kind == "bad_event_400":
        index = min(fault.event_index, max(n_events - 1, 0))
        msg = f"Event at index {index} is invalid."
        if version == "v2":
            return FaultAnswer(400, {"status": "FAILED", "reason": msg,
                                     "error_records": [{"reason": msg, "record_indexes": [index]}]})
        return FaultAnswer(400, {"status": "INVALID", "reason": msg, "event": index,
                                 "errors": {"codes": ["INVALID_EVENT"], "error_msgs": [msg]}})
    raise ValueError(f"no answer for fault {kind!r}")
