"""Token providers and the client's token lifecycle, over loopback HTTP to the emulator's OAuth endpoint."""

from __future__ import annotations

import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from snap_capi_provider.core.auth import OAuthTokenProvider, StaticToken, check_secret_text, refresh_margin
from snap_capi_provider.core.client import SnapCapiAuthError, SnapCapiClient, SnapCapiError, SnapCapiRetriesExhausted
from snap_capi_provider.emulator import CapiEmulator

PIXEL = "pixel-123"
# Secrets with the characters that break a form body unless URL-encoded.
APP = {"oauth_client_id": "cid-1", "oauth_client_secret": "cs+/=SECRET-9f8e",
       "oauth_refresh_token": "rt+/=REFRESH-7d6c"}


@pytest.fixture
def emu():
    with CapiEmulator(access_tokens=("unused-long-lived-token",), token_lifetime_s=1.0, **APP) as emu:
        yield emu


def provider(emu: CapiEmulator, **kw) -> OAuthTokenProvider:
    return OAuthTokenProvider("cid-1", APP["oauth_client_secret"], APP["oauth_refresh_token"], emu.token_url, **kw)


def stats(client: SnapCapiClient) -> int:
    return client.get_json(*client.stats_path(PIXEL)).status_code


def test_margin_scales_with_the_lifetime() -> None:
    assert refresh_margin(3600) == 60 and refresh_margin(5) == 0.5 and refresh_margin(0) == 0


def test_first_use_mints_reuse_then_refresh_before_expiry(emu: CapiEmulator) -> None:
    tokens = provider(emu)
    with SnapCapiClient(token_provider=tokens, base_url=emu.url) as client:
        assert stats(client) == 200 and stats(client) == 200
        assert emu.summary()["token_refreshes"] == 1  # minted once, reused
        time.sleep(0.95)  # within the 0.1 s margin before expiry
        assert stats(client) == 200
    assert emu.summary()["token_refreshes"] == 2 and tokens.mints == 2


def test_a_refused_token_is_refreshed_once_and_the_request_retried(emu: CapiEmulator) -> None:
    with SnapCapiClient(token_provider=provider(emu), base_url=emu.url) as client:
        assert stats(client) == 200
        emu.expire_access_tokens()  # Snap refuses the token before its announced expiry
        response = client.get_json(*client.stats_path(PIXEL))
        assert response.status_code == 200 and response.retries == 1
    assert emu.summary()["token_refreshes"] == 2
    assert [r.status for r in emu.requests] == [200, 401, 200]


def test_a_failed_refresh_is_an_auth_error_naming_the_cause_not_the_secrets(emu: CapiEmulator) -> None:
    emu.revoke_refresh_token()
    with SnapCapiClient(token_provider=provider(emu), base_url=emu.url) as client:
        with pytest.raises(SnapCapiAuthError) as raised:
            stats(client)
    message = str(raised.value)
    assert "invalid_grant" in message and "refresh_token" in message
    assert APP["oauth_client_secret"] not in message and APP["oauth_refresh_token"] not in message
    with pytest.raises(SnapCapiAuthError, match="invalid_client"):
        OAuthTokenProvider("cid-1", "wrong-secret", APP["oauth_refresh_token"], emu.token_url).token()


def test_concurrent_threads_share_one_token_and_one_refresh(emu: CapiEmulator) -> None:
    tokens = provider(emu)
    barrier = threading.Barrier(8)
    with SnapCapiClient(token_provider=tokens, base_url=emu.url, pool_size=8) as client:
        def call(_: int) -> int:
            barrier.wait()
            return stats(client)

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(call, range(8))) == [200] * 8
        assert emu.summary()["token_refreshes"] == 1
        emu.expire_access_tokens()  # every thread now gets a 401 with the same stale token
        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(call, range(8))) == [200] * 8
    assert emu.summary()["token_refreshes"] == 2


def test_a_rotated_refresh_token_is_used_and_warned_about_without_its_value(caplog) -> None:
    with CapiEmulator(token_lifetime_s=0.3, rotate_refresh_token=True, **APP) as emu:
        tokens = provider(emu)
        caplog.set_level(logging.DEBUG)
        with SnapCapiClient(token_provider=tokens, base_url=emu.url) as client:
            for _ in range(3):
                assert stats(client) == 200
                time.sleep(0.3)
        assert tokens.rotated and emu.summary()["token_refreshes"] == 3
        assert "Update the connection's refresh_token" in caplog.text
        for secret in (*emu.oauth.issued, APP["oauth_client_secret"], APP["oauth_refresh_token"]):
            assert secret not in caplog.text
        assert secret not in repr(tokens)


def test_token_url_must_be_https_or_loopback() -> None:
    with pytest.raises(SnapCapiError, match="token URL"):
        OAuthTokenProvider("c", "secret-x", "refresh-x", "http://accounts.example.com/token")
    OAuthTokenProvider("c", "secret-x", "refresh-x", "http://127.0.0.1:9/token")


def test_client_takes_a_token_or_a_provider() -> None:
    with pytest.raises(SnapCapiError, match="not both"):
        SnapCapiClient("tok-abcdef", token_provider=StaticToken("tok-abcdef"))
    with pytest.raises(SnapCapiError, match="No Snap access token"):
        SnapCapiClient()
    client = SnapCapiClient(base_url="https://user:hunter2-pass@launchpad.example.com", access_token="tok-abcdef")
    assert "hunter2-pass" not in repr(client) and "tok-abcdef" not in repr(client)


@pytest.mark.parametrize("bad", ["tok-abc\n", " tok-abc", "tok\x00abc", "tok\x7fabc", "tok\x85abc",
                                 "tok-ab€c", "tok abc"])
def test_malformed_secrets_are_refused_without_showing_them(bad: str) -> None:
    with pytest.raises(SnapCapiError) as raised:
        check_secret_text(bad, "access token")
    assert bad.strip() not in str(raised.value)


def test_request_timeout_bounds_a_whole_attempt_against_a_dripping_server() -> None:
    """A server that answers one byte every 0.2 s never trips a per-read timeout; the total deadline does."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def drip() -> None:
        while not stop.is_set():
            try:
                listener.settimeout(0.2)
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.recv(65536)
            try:
                for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000:
                    if stop.is_set():
                        break
                    conn.sendall(bytes([byte]))
                    time.sleep(0.2)
            except OSError:
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with SnapCapiClient("tok-drip-123", url, timeout=(1.0, 1.0), total_timeout=1.0,
                            sleep=lambda s: None) as client:
            from snap_capi_provider.core.client import RetryPolicy
            client.retry = RetryPolicy(max_retries=1)
            started = time.monotonic()
            with pytest.raises(SnapCapiRetriesExhausted, match="longer than 1s"):
                stats(client)
            assert time.monotonic() - started < 4  # two attempts of 1 s, not 100000 * 0.2 s
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)


def test_a_token_endpoint_that_drips_its_answer_is_cut_off_at_the_attempts_time():
    listener = socket.create_server(("127.0.0.1", 0))

    def drip() -> None:  # a status line, then a byte every 0.2 s: every read is in time, the whole is not
        conn, _ = listener.accept()
        conn.recv(65536)
        try:
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000:
                conn.sendall(bytes([byte]))
                time.sleep(0.2)
        except OSError:
            pass

    threading.Thread(target=drip, daemon=True).start()
    provider = OAuthTokenProvider("cid", "csecret-123456", "rtoken-123456",
                                  f"http://127.0.0.1:{listener.getsockname()[1]}/token", timeout=(1.0, 1.0),
                                  max_retries=0)
    started = time.monotonic()
    with pytest.raises(SnapCapiAuthError, match="timed out"):
        provider.token()
    assert time.monotonic() - started < 5
    listener.close()


def test_a_token_endpoint_answering_a_gzip_bomb_is_an_auth_error_not_a_full_memory():
    from tests.core.test_client import GZIP_BOMB, _scripted_server

    url, posts, listener = _scripted_server(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                            b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(GZIP_BOMB)
                                            + GZIP_BOMB)
    provider = OAuthTokenProvider("cid", "csecret-123456", "rtoken-123456", f"{url}/token", max_retries=1)
    provider._sleep = lambda _s: None
    try:
        with pytest.raises(SnapCapiAuthError, match="an answer of more than 16 MB after 1 retries"):
            provider.token()
    finally:
        listener.close()
    assert len(posts) == 2
