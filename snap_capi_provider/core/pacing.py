"""Run-wide bookkeeping that must stay small and cheap at tens of millions of rows: the set of event
ids already sent, a client-side request rate limit, and progress lines for the task log."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

log = logging.getLogger("snap_capi_provider.progress")


class EventIdSet:
    """The event ids seen so far in a run, as sorted arrays of 64-bit hashes (8 bytes an id).

    Arrays are merged when they grow to similar sizes, so adding N ids costs O(N log N) in all and a
    look-up one binary search per array. A set of Python strings would take about 100 bytes an id.
    Two distinct ids share a hash with probability about n²/2⁶⁵ (1 in 10⁷ for 2 million ids).
    """

    def __init__(self) -> None:
        self._levels: list[np.ndarray] = []
        self.size = 0

    def add_new(self, ids: Sequence[str]) -> np.ndarray:
        """Add ``ids``; returns a boolean array, True where the id was not seen before (its first
        occurrence, when it repeats within ``ids``)."""
        hashes = np.fromiter(map(hash, ids), np.int64, len(ids))
        new = np.zeros(len(hashes), bool)
        if not len(hashes):
            return new
        _, first = np.unique(hashes, return_index=True)
        new[first] = True
        for level in self._levels:
            found = np.searchsorted(level, hashes)
            found[found == len(level)] = 0
            new &= level[found] != hashes
        added = np.sort(hashes[new])
        if len(added):
            self._levels.append(added)
            self.size += len(added)
            while len(self._levels) > 1 and len(self._levels[-2]) <= 2 * len(self._levels[-1]):
                # Sorted in place once the two levels are freed: a sorted copy would hold a third
                # array as large as both (at 2 million ids, 50 MB at the peak instead of about 30).
                merged = np.concatenate((self._levels.pop(-2), self._levels.pop()))
                merged.sort(kind="stable")
                self._levels.append(merged)
        return new

    @property
    def nbytes(self) -> int:
        return sum(level.nbytes for level in self._levels)


class RateLimiter:
    """At most ``per_second`` acquisitions a second across threads (a token bucket of one second)."""

    def __init__(self, per_second: float, clock: Any = time.monotonic, sleep: Any = time.sleep):
        if not per_second > 0:
            raise ValueError("max_requests_per_second must be positive.")
        self.interval = 1.0 / per_second
        self.capacity = max(1.0, per_second)
        self._tokens = self.capacity
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._last) / self.interval)
                self._last = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) * self.interval
            self._sleep(wait)


class PacedClient:
    """A client whose event posts wait for the rate limiter (retries of one post are paced by backoff)."""

    def __init__(self, client: Any, limiter: RateLimiter):
        self._client, self._limiter = client, limiter

    def post_events(self, *args: Any, **kwargs: Any) -> Any:
        self._limiter.acquire()
        return self._client.post_events(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class Progress:
    """Logs rows read, events accepted, rejected and failed, the rate and, with a known total, an ETA."""

    def __init__(self, interval_s: float, total_rows: int | None = None, clock: Any = time.monotonic):
        self.interval_s, self.total_rows, self._clock = interval_s, total_rows, clock
        self.started = self._last = clock()

    def maybe_log(self, report: Any, final: bool = False) -> None:
        now = self._clock()
        if not final and (self.interval_s <= 0 or now - self._last < self.interval_s):
            return
        self._last = now
        elapsed = max(now - self.started, 1e-9)
        rate = report.rows / elapsed
        total = f"/{self.total_rows:,}" if self.total_rows else ""
        eta = ""
        if self.total_rows and rate > 0 and not final:
            eta = f", ETA {max(self.total_rows - report.rows, 0) / rate:,.0f}s"
        verb = "done" if final else "progress"
        log.info("Snap CAPI %s: %s%s rows read, %s %s, %s rejected, %s failed, %s rows/s%s", verb,
                 f"{report.rows:,}", total, f"{report.accepted:,}", report.delivered_label,
                 f"{report.rejected:,}", f"{report.failed:,}", f"{rate:,.0f}", eta)
