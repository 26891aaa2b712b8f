"""The emulator is safe to leave running: token before body, bounded bodies, threads and fault specs."""

from __future__ import annotations

import json
import math
import socket
import threading
import time

import pytest
import requests

from snap_capi_provider.emulator import CapiEmulator, Fault

TOKEN = "test-token"
PIXEL = "pixel-123"


def raw_request(emu: CapiEmulator, head: bytes, body: bytes = b"", wait: float = 5.0) -> bytes:
    with socket.create_connection((emu.host, emu.port), timeout=wait) as sock:
        sock.sendall(head + body)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks):
                    break
        except TimeoutError:
            pass
        return b"".join(chunks)


def test_token_checked_before_the_body_is_read() -> None:
    with CapiEmulator() as emu:
        # Claims 60 MB but sends none of it: a wrong token is answered at once, the connection closed.
        head = (f"POST /v3/{PIXEL}/events?access_token=wrong HTTP/1.1\r\nHost: x\r\n"
                "Content-Length: 60000000\r\nContent-Type: application/json\r\n\r\n").encode()
        started = time.monotonic()
        answer = raw_request(emu, head)
        assert answer.startswith(b"HTTP/1.1 401") and b"Connection: close" in answer
        assert time.monotonic() - started < 2


@pytest.mark.parametrize("size_line", [b"-5", b"+5", b"0x5", b"zz", b"1_0"])
def test_bad_chunk_sizes_are_400(size_line: bytes) -> None:
    with CapiEmulator() as emu:
        head = (f"POST /v3/{PIXEL}/events?access_token={TOKEN} HTTP/1.1\r\nHost: x\r\n"
                "Transfer-Encoding: chunked\r\n\r\n").encode()
        answer = raw_request(emu, head, size_line + b"\r\nhello\r\n0\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400"), answer[:80]
        assert emu.errors == []


def test_chunked_bodies_capped_like_others() -> None:
    with CapiEmulator(max_body_bytes=1000) as emu:
        body = json.dumps({"data": [{"x": "y" * 2000}]}).encode()
        response = requests.post(f"{emu.url}/v3/{PIXEL}/events?access_token={TOKEN}",
                                 data=(body[i:i + 500] for i in range(0, len(body), 500)), timeout=5)
        assert response.status_code == 413 and "1000 bytes" in response.json()["reason"]


def test_worker_threads_are_bounded() -> None:
    with CapiEmulator(max_workers=3) as emu:
        before = threading.active_count()
        idle = [socket.create_connection((emu.host, emu.port)) for _ in range(10)]
        try:
            time.sleep(0.5)
            assert threading.active_count() - before <= 3
        finally:
            for sock in idle:
                sock.close()
        time.sleep(0.3)
        assert requests.get(f"{emu.url}/_emulator/summary", timeout=5).status_code == 200
    with pytest.raises(ValueError):
        CapiEmulator(max_workers=0)


@pytest.mark.parametrize("spec", [
    {"kind": "delay", "delay_s": math.nan},
    {"kind": "delay", "delay_s": -1},
    {"kind": "delay", "delay_s": math.inf},
    {"kind": "429", "retry_after": "1\r\nSet-Cookie: x=1"},
    {"kind": "429", "retry_after": -3},
    {"kind": "bad_event_400", "event_index": -1},
])
def test_fault_specs_validated(spec: dict) -> None:
    with pytest.raises(ValueError):
        Fault.from_dict(spec)
    with CapiEmulator() as emu:
        posted = requests.post(f"{emu.url}/_emulator/faults", data=json.dumps([spec]).replace("NaN", '"nan"'),
                               timeout=5)
        assert posted.status_code == 400
        assert emu.pending_faults == []
        with pytest.raises(ValueError):
            emu.set_fault_rate(0.5, kinds=("delay",), delay_s=math.nan)


def test_default_token_refused_off_loopback() -> None:
    with pytest.raises(RuntimeError, match="default token"):
        CapiEmulator(host="0.0.0.0").start()
    with pytest.warns(RuntimeWarning, match="default token"):
        emu = CapiEmulator(host="0.0.0.0", allow_default_token_off_loopback=True).start()
    emu.stop()
    CapiEmulator(host="0.0.0.0", access_tokens=("my-own-secret-token",)).start().stop()
