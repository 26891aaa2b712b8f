"""``timeout`` (``request_timeout`` in earlier releases) bounds a whole request attempt, not only each
socket read: a server that drips its answer one byte at a time never trips a per-read timeout, and
would otherwise hold a request (and a worker slot) for as long as it likes. Checked through the hook
for the sync client (sends, stats) and the async client (the triggers' stats read)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from snap_capi_provider.core.async_client import AsyncSnapCapiClient
from snap_capi_provider.core.client import RetryPolicy, SnapCapiRetriesExhausted
from snap_capi_provider.core.events import EventOptions
from snap_capi_provider.hooks.snap_capi import SnapCapiHook
from tests.conftest import conn_json

#: An answer that would take 100000 * 0.2 s to drip out.
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n" + b" " * 100000


@pytest.fixture
def dripping_url() -> Iterator[str]:
    """A loopback server answering every connection one byte every 0.2 s."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def drip(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                for byte in ANSWER:
                    if stop.is_set():
                        return
                    conn.sendall(bytes([byte]))
                    time.sleep(0.2)
            except OSError:  # the client gave up and closed the connection
                return

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=drip, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def hook(url: str, monkeypatch) -> SnapCapiHook:
    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", conn_json(url))
    return SnapCapiHook(timeout=1.0, max_retries=1, retry_backoff_s=0.0, retry_backoff_max_s=0.0)


def test_the_sync_client_of_the_hook_gives_up_each_attempt_at_the_timeout(dripping_url, monkeypatch):
    started = time.monotonic()
    with pytest.raises(SnapCapiRetriesExhausted, match="longer than 1s"):
        hook(dripping_url, monkeypatch).get_test_event_stats()
    assert time.monotonic() - started < 5  # two attempts of 1 s, not 100000 * 0.2 s


def test_a_send_through_the_hook_fails_its_rows_at_the_timeout(dripping_url, monkeypatch):
    rows = [{"email": f"a{i}@example.com", "event_time": int(time.time()) - 60, "event_id": f"e-{i}"}
            for i in range(5)]
    started = time.monotonic()
    report = hook(dripping_url, monkeypatch).send_events(rows, event_options=EventOptions(event_name="SIGN_UP"))
    assert time.monotonic() - started < 5
    assert (report.rows, report.accepted, report.failed) == (5, 0, 5)
    assert report.requests == 2 and report.retries == 1  # the attempt and its one retry, each cut at 1 s


def test_the_async_client_of_the_hook_gives_up_each_attempt_at_the_timeout(dripping_url, monkeypatch):
    started = time.monotonic()
    with pytest.raises(SnapCapiRetriesExhausted, match="timed out"):
        asyncio.run(hook(dripping_url, monkeypatch).a_get_test_event_stats())
    assert time.monotonic() - started < 5


def test_the_async_client_s_total_timeout_is_the_longest_of_a_connect_read_pair(dripping_url):
    async def read() -> None:
        async with AsyncSnapCapiClient("tok-drip-123", dripping_url, timeout=(0.5, 1.0),
                                       retry=RetryPolicy(max_retries=0)) as client:
            await client.get_json(*client.stats_path("pixel-123"))

    started = time.monotonic()
    with pytest.raises(SnapCapiRetriesExhausted, match="timed out"):
        asyncio.run(read())
    assert 0.9 < time.monotonic() - started < 3
