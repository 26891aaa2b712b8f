"""Per-attempt bounds: a request's total time, however slowly the server drips its answer, and its size.

``requests`` bounds each socket read, not an attempt: a server sending a byte every few seconds keeps a
request alive forever. :func:`watched` gives an attempt a deadline; a request made in it through a
:func:`deadline_session` has its socket shut down by one watchdog thread when the time runs out.
:func:`read_capped_body` reads a streamed answer up to :data:`MAX_RESPONSE_BYTES`.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class Deadline:
    """One attempt's deadline: at expiry, the watchdog shuts the attempt's socket down."""

    __slots__ = ("_conn", "_fired", "_lock", "_over", "at")

    def __init__(self, at: float) -> None:
        self.at = at
        self._lock = threading.Lock()
        self._conn: Any = None
        self._fired = False
        self._over = False

    def attach(self, conn: Any) -> None:
        with self._lock:
            self._conn = conn

    def fire(self) -> bool:
        """Abort the attempt; True when it must be checked again (no socket yet)."""
        with self._lock:
            if self._over:
                return False
            self._fired = True
            sock = getattr(self._conn, "sock", None)
            if sock is None:
                return True
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return False

    def done(self) -> bool:
        """End of the attempt (the watchdog leaves it alone from now on); whether it fired."""
        with self._lock:
            self._over = True
            return self._fired

    @property
    def fired(self) -> bool:
        return self._fired


class Watchdog:
    """One daemon thread for every client: fires the deadlines of attempts that run too long."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._cond = threading.Condition()
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, seconds: float) -> Deadline:
        deadline = Deadline(time.monotonic() + seconds)
        with self._cond:
            heapq.heappush(self._heap, (deadline.at, next(self._ids), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="snap-capi-deadlines", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is deadline:
                self._cond.notify()
        return deadline

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][2]._over:
                        heapq.heappop(self._heap)  # finished in time: most attempts
                    wait = self._heap[0][0] - time.monotonic() if self._heap else 60.0
                    if wait <= 0:
                        _, _, due = heapq.heappop(self._heap)
                        break
                    self._cond.wait(wait)
            if due.fire():  # still connecting: look again shortly
                with self._cond:
                    heapq.heappush(self._heap, (time.monotonic() + 0.05, next(self._ids), due))


WATCHDOG = Watchdog()
CURRENT = threading.local()


class _AttachesDeadline:
    """Tells the current attempt's deadline which connection a request uses (a mixin of both pools: one
    method shared by assignment would call ``super()`` of the plain HTTP pool from an HTTPS one)."""

    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        deadline = getattr(CURRENT, "deadline", None)
        if deadline is not None:
            deadline.attach(conn)
        return super()._make_request(conn, *args, **kwargs)  # type: ignore[misc]


class DeadlinePool(_AttachesDeadline, HTTPConnectionPool):
    pass


class DeadlineHTTPSPool(_AttachesDeadline, HTTPSConnectionPool):
    pass


class DeadlineAdapter(HTTPAdapter):
    """urllib3 pools that tell the current attempt's deadline which connection it uses."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": DeadlinePool, "https": DeadlineHTTPSPool}


def attempt_seconds(timeout: float | tuple[float, float] | list[float]) -> float:
    """An attempt's whole time for a ``requests`` timeout: the longest of a (connect, read) pair."""
    return float(max(timeout) if isinstance(timeout, tuple | list) else timeout)


def deadline_session(pool_size: int = 1) -> requests.Session:
    """A ``requests`` session whose connections the deadline of the attempt in progress can shut down."""
    session = requests.Session()
    adapter = DeadlineAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


@contextmanager
def watched(seconds: float) -> Iterator[Deadline]:
    """An attempt of at most ``seconds`` (requests through a :func:`deadline_session`); afterwards the
    deadline's :attr:`~Deadline.fired` says whether time ran out."""
    deadline = WATCHDOG.watch(seconds)
    CURRENT.deadline = deadline
    try:
        yield deadline
    finally:
        CURRENT.deadline = None
        deadline.done()


MAX_RESPONSE_BYTES = 16 << 20
"""The most of an answer read, decompressed (Snap's are kilobytes): a runaway body, a relay's endless
page or a gzip bomb, is an unreadable answer, never the task's memory."""


class ResponseTooLarge(Exception):
    """The answer is longer than :data:`MAX_RESPONSE_BYTES`."""


def read_capped_body(http: requests.Response) -> None:
    """Read a streamed (``stream=True``) body into ``http.content``, at most :data:`MAX_RESPONSE_BYTES`."""
    if http.raw is None:  # answered in memory (a transport adapter's Response): nothing left to read
        return
    chunks, size = [], 0
    for chunk in http.iter_content(1 << 16):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise ResponseTooLarge
        chunks.append(chunk)
    http._content = b"".join(chunks)  # what Response.content caches once it has read the body
