"""The emulator's HTTP plumbing: bodies (length, chunked, gzip, JSON, limits), authentication, routing,
keep-alive and bounded worker threads; it is safe to leave running (token before body, fault specs checked)."""

from __future__ import annotations

import gzip
import json
import math
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from snap_capi_provider.emulator import CapiEmulator, Fault
from tests.emulator.helpers import PIXEL, TOKEN, make_event, post_v3


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


def test_control_endpoints_refuse_a_remote_peer_before_reading_its_body(monkeypatch) -> None:
    from snap_capi_provider.emulator.control import ControlEndpoints

    monkeypatch.setattr(ControlEndpoints, "_peer_is_loopback", lambda self: False)  # as from another host
    with CapiEmulator() as emu:
        head = (b"POST /_emulator/faults HTTP/1.1\r\nHost: x\r\nContent-Length: 60000000\r\n"
                b"Content-Type: application/json\r\n\r\n")
        started = time.monotonic()
        answer = raw_request(emu, head)
        assert answer.startswith(b"HTTP/1.1 403") and b"Connection: close" in answer
        assert time.monotonic() - started < 2 and emu.errors == []


def test_the_oauth_token_endpoint_caps_chunked_bodies_like_others() -> None:
    with CapiEmulator(oauth_client_id="cid", oauth_client_secret="cs-1", oauth_refresh_token="rt-1") as emu:
        form = b"grant_type=refresh_token&client_id=cid&client_secret=cs-1&refresh_token=rt-1&pad=" + b"x" * 70000
        chunked = requests.post(emu.token_url, data=(form[i:i + 4096] for i in range(0, len(form), 4096)),
                                headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=5)
        assert chunked.status_code == 413 and "65536 bytes" in chunked.json()["error_description"]
        head = (b"POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n")
        head = head.replace(b"/oauth2/token", urlsplit(emu.token_url).path.encode())
        assert raw_request(emu, head).startswith(b"HTTP/1.1 400")  # not an emulator error (500)
        negative = raw_request(emu, head.replace(b"Content-Length: 12abc", b"Transfer-Encoding: chunked"),
                               b"-5\r\nhello\r\n0\r\n\r\n")
        assert negative.startswith(b"HTTP/1.1 400") and emu.errors == []


@pytest.mark.parametrize(
    "payload, status, reason",
    [
        ("not json", 400, "not valid JSON"),
        ({"events": []}, 400, "'data'"),
        ({"data": {}}, 400, "'data'"),
        ({"data": []}, 400, "at least one"),
        ([make_event()], 400, "'data'"),
    ],
    ids=["not-json", "no-data", "data-object", "empty", "bare-list"],
)
def test_bad_bodies(emu: CapiEmulator, payload: Any, status: int, reason: str) -> None:
    url = f"{emu.url}/v3/{PIXEL}/events?access_token={TOKEN}"
    data = payload if isinstance(payload, str) else json.dumps(payload)
    r = requests.post(url, data=data, headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == status
    assert r.json()["status"] == "INVALID" and reason in r.json()["reason"]
    assert emu.requests[-1].status == status


def test_an_object_whose_key_repeats_is_refused_as_a_strict_parser_refuses_it(emu: CapiEmulator) -> None:
    event = json.dumps(make_event(event_id="e1"))
    body = '{"data": [{"event_id": "e1", ' + event[1:] + "]}"
    r = requests.post(f"{emu.url}/v3/{PIXEL}/events?access_token={TOKEN}", data=body, timeout=10)
    assert r.status_code == 400 and "'event_id' repeats" in r.json()["reason"]


def test_nan_is_not_json(emu: CapiEmulator) -> None:
    body = json.dumps({"data": [make_event()]}).replace("42.5", "NaN")
    r = requests.post(f"{emu.url}/v3/{PIXEL}/events?access_token={TOKEN}", data=body, timeout=10)
    assert r.status_code == 400


def test_gzip_body(emu: CapiEmulator) -> None:
    events = [make_event(event_id=f"g{i}") for i in range(50)]
    body = gzip.compress(json.dumps({"data": events}).encode())
    r = requests.post(
        f"{emu.url}/v3/{PIXEL}/events",
        params={"access_token": TOKEN},
        data=body,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert len(emu.accepted_events()) == 50
    assert emu.requests[-1].gzip is True
    r = requests.post(
        f"{emu.url}/v3/{PIXEL}/events",
        params={"access_token": TOKEN},
        data=b"not gzip",
        headers={"Content-Encoding": "gzip"},
        timeout=10,
    )
    assert r.status_code == 400


def test_auth(emu: CapiEmulator) -> None:
    secret = "sekrit-T0KEN-value"
    for r in (
        post_v3(emu, [make_event()], token=None),
        post_v3(emu, [make_event()], token=secret),
        requests.get(f"{emu.url}/v3/{PIXEL}/events/validate/stats?access_token={secret}", timeout=10),
    ):
        assert r.status_code == 401
        assert r.json() == {"status": "INVALID", "reason": "Invalid access token"}
        assert secret not in r.text and secret not in str(r.headers)
    # a Bearer header is accepted for v3 too
    r = requests.post(
        f"{emu.url}/v3/{PIXEL}/events",
        json={"data": [make_event()]},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert r.status_code == 200
    r = post_v3(emu, [make_event(event_name="BAD")])
    assert r.status_code == 400 and TOKEN not in r.text
    assert all("access_token" not in rec.path and TOKEN not in rec.path for rec in emu.requests)
    assert len(emu.accepted_events()) == 1


def test_event_count_limit(emu: CapiEmulator) -> None:
    one = make_event(event_id=None)
    r = post_v3(emu, [one] * 2001)
    assert r.status_code == 400 and "2000" in r.json()["reason"]
    assert emu.accepted_events() == []
    r = post_v3(emu, [one] * 2000)
    assert r.status_code == 200
    assert len(emu.accepted_events()) == 2000


def test_body_size_limit() -> None:
    with CapiEmulator(max_body_bytes=7000, max_events_per_request=10) as emu:
        big = [make_event(event_id=f"e{i}") for i in range(20)]
        r = post_v3(emu, big)
        assert r.status_code == 413
        gz = gzip.compress(json.dumps({"data": big}).encode())  # small on the wire, too big inflated
        assert len(gz) < 7000
        r = requests.post(
            f"{emu.url}/v3/{PIXEL}/events?access_token={TOKEN}",
            data=gz,
            headers={"Content-Encoding": "gzip"},
            timeout=10,
        )
        assert r.status_code == 413
        assert post_v3(emu, big[:2]).status_code == 200  # connection still usable
        assert post_v3(emu, big[:11]).status_code == 400


def test_chunked_body_and_auth_before_size_limit() -> None:
    with CapiEmulator(max_body_bytes=2000) as emu:
        body = json.dumps({"data": [make_event()]}).encode()
        r = requests.post(
            f"{emu.url}/v3/{PIXEL}/events?access_token={TOKEN}",
            data=(body[i : i + 100] for i in range(0, len(body), 100)),  # a generator is sent chunked
            timeout=10,
        )
        assert r.status_code == 200, r.text
        assert post_v3(emu, [make_event()] * 10, token=None).status_code == 401
        assert post_v3(emu, [make_event()] * 10).status_code == 413


def test_keep_alive_reuses_one_connection() -> None:
    with CapiEmulator() as emu, requests.Session() as s:
        url = f"{emu.url}/v3/{PIXEL}/events?access_token={TOKEN}"
        for _ in range(5):
            assert s.post(url, json={"data": [make_event()]}, timeout=10).status_code == 200
        assert len(emu._server.connections) == 1  # type: ignore[union-attr]


def test_routing_errors(emu: CapiEmulator) -> None:
    assert requests.get(f"{emu.url}/v3/{PIXEL}/events?access_token={TOKEN}", timeout=10).status_code == 405
    assert requests.post(f"{emu.url}/v3/{PIXEL}/nope?access_token={TOKEN}", timeout=10).status_code == 404
    assert requests.get(f"{emu.url}/", timeout=10).status_code == 404


def test_keep_alive_and_concurrency(emu: CapiEmulator) -> None:
    url = f"{emu.url}/v3/{PIXEL}/events?access_token={TOKEN}"
    batch = {"data": [make_event(event_id=None) for _ in range(500)]}

    def worker(out: list[int]) -> None:
        with requests.Session() as s:
            out.extend(s.post(url, json=batch, timeout=10).status_code for _ in range(5))

    results: list[int] = []
    threads = [threading.Thread(target=worker, args=(results,)) for _ in range(4)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 20
    assert len(emu.accepted_events()) == 10_000
    assert time.perf_counter() - start < 10
