"""The HTTP client against the emulator over loopback: what is retried, how long it waits, and that
the token never shows up in a log line, an exception or its chain (SNAP_CAPI.md section 5, mistake 11)."""

from __future__ import annotations

import gzip
import logging
import socket
import traceback
from concurrent.futures import ThreadPoolExecutor

import pytest

from snap_capi_provider.core.client import (
    RetryPolicy,
    SnapCapiAuthError,
    SnapCapiClient,
    SnapCapiError,
    SnapCapiRetriesExhausted,
    check_base_url,
)
from snap_capi_provider.core.delivery import encode_body
from snap_capi_provider.core.redact import REDACTED, TokenRedactingFilter, redact, register_secret, scrub_pii
from snap_capi_provider.emulator import Fault
from tests.conftest import PIXEL, TOKEN
from tests.reliability_helpers import batch_items, emulator, pii_rows, wait_for_requests

FAST = RetryPolicy(max_retries=3, backoff_initial_s=0.0, backoff_max_s=0.0)


@pytest.fixture
def emu():
    with emulator() as emu:
        yield emu


def body(n: int = 2) -> bytes:
    return encode_body(batch_items(pii_rows(n)), "v3")


def client_for(emu, **kwargs) -> SnapCapiClient:
    kwargs.setdefault("retry", FAST)
    return SnapCapiClient(TOKEN, emu.url, **kwargs)


def chain_text(exc: BaseException) -> str:
    """The exception as a traceback would print it, plus every exception it chains to."""
    text = "".join(traceback.format_exception(exc))
    seen = exc
    while seen is not None:
        text += repr(seen) + str(seen)
        seen = seen.__cause__ or seen.__context__
    return text


@pytest.mark.parametrize("fault", [
    Fault("429"), Fault("429", retry_after=0), Fault("500"), Fault("502"), Fault("503"), Fault("drop"),
], ids=["429", "429-retry-after", "500", "502", "503", "drop"])
def test_transient_faults_are_retried_until_the_answer_is_final(emu, fault):
    emu.add_faults(fault)
    with client_for(emu) as client:
        response = client.post_events(PIXEL, body(), n_events=2)
    assert (response.status_code, response.body["status"], response.retries) == (200, "VALID", 1)
    assert [r.fault for r in emu.requests] == [fault.kind, None]
    assert len(emu.accepted_events()) == 2


def test_a_response_slower_than_the_timeout_is_retried_and_deduplicated_by_event_id(emu):
    emu.add_faults(Fault("delay", delay_s=1.0))
    with client_for(emu, timeout=(1.0, 0.4)) as client:
        response = client.post_events(PIXEL, body(), n_events=2)
    assert (response.status_code, response.retries) == (200, 1)
    wait_for_requests(emu, 2)  # the slow request is processed after the client gave up on it
    counts = emu.accepted_count_by_event_id(PIXEL)
    assert counts == {"o-0": 2, "o-1": 2}  # posted twice, kept once
    assert len(emu.accepted_events(PIXEL)) == 2


@pytest.mark.parametrize(("retry_after", "expected"), [
    (3, 3.0), ("2.5", 2.5), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), (10_000, 120.0), ("-5", 0.0),
])
def test_retry_after_is_honoured_and_capped(emu, retry_after, expected):
    sleeps: list[float] = []
    emu.add_faults(Fault("429", retry_after=retry_after))
    with client_for(emu, sleep=sleeps.append) as client:
        assert client.post_events(PIXEL, body(), n_events=2).ok
    assert sleeps == [pytest.approx(expected)]


@pytest.mark.parametrize("retry_after", ["soon", "nan", "inf"])
def test_an_unreadable_retry_after_falls_back_to_backoff(emu, retry_after):
    sleeps: list[float] = []
    emu.add_faults(Fault("429", retry_after=retry_after))
    policy = RetryPolicy(max_retries=2, backoff_initial_s=0.01, backoff_max_s=1.0)
    with client_for(emu, retry=policy, sleep=sleeps.append) as client:
        assert client.post_events(PIXEL, body(), n_events=2).ok
    assert len(sleeps) == 1 and 0.01 <= sleeps[0] <= 0.02


def test_backoff_is_exponential_with_jitter_and_capped(emu):
    sleeps: list[float] = []
    emu.add_faults(*[Fault("503")] * 5)
    policy = RetryPolicy(max_retries=5, backoff_initial_s=0.1, backoff_max_s=0.5)
    with client_for(emu, retry=policy, sleep=sleeps.append) as client:
        assert client.post_events(PIXEL, body(), n_events=2).retries == 5
    for sleep, low in zip(sleeps, (0.1, 0.2, 0.4, 0.5, 0.5), strict=True):
        assert low <= sleep <= min(low + 0.1, 0.5) + 1e-9


def test_when_retries_run_out_the_error_is_clear_and_holds_no_token(emu):
    emu.set_fault_rate(1.0, kinds=("503",))
    with client_for(emu) as client, pytest.raises(SnapCapiRetriesExhausted) as caught:
        client.post_events(PIXEL, body(), n_events=2)
    assert caught.value.retries == 3
    assert str(caught.value) == f"Snap CAPI POST /v3/{PIXEL}/events failed after 3 retries: HTTP 503"
    assert len(emu.requests) == 4
    assert TOKEN not in chain_text(caught.value)


@pytest.mark.parametrize("kind", ["drop", "refused"])
def test_connection_errors_keep_the_url_out_of_the_exception_chain(emu, kind):
    if kind == "refused":
        with socket.socket() as sock:  # a loopback port nobody listens on
            sock.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    else:
        emu.set_fault_rate(1.0, kinds=("drop",))
        url = emu.url
    with SnapCapiClient(TOKEN, url, retry=FAST) as client, pytest.raises(SnapCapiRetriesExhausted) as caught:
        client.post_events(PIXEL, body(), n_events=2)
    text = chain_text(caught.value)
    assert "connection error" in str(caught.value)
    assert TOKEN not in text and "access_token=" not in text


def test_a_refused_token_is_an_auth_error_and_never_retried(emu):
    client = SnapCapiClient("tok-WRONG-0000", emu.url, retry=FAST)
    with client, pytest.raises(SnapCapiAuthError) as caught:
        client.post_events(PIXEL, body(), n_events=2)
    assert "HTTP 401" in str(caught.value) and "tok-WRONG-0000" not in chain_text(caught.value)
    assert len(emu.requests) == 1


def test_a_400_is_returned_not_retried(emu):
    emu.add_faults(Fault("bad_event_400", event_index=1))
    with client_for(emu) as client:
        response = client.post_events(PIXEL, body(), n_events=2)
    assert (response.status_code, response.retries, response.body["event"]) == (400, 0, 1)
    assert len(emu.requests) == 1


def test_urllib3_debug_request_lines_are_redacted(emu, caplog):
    caplog.set_level(logging.DEBUG)
    emu.add_faults(Fault("503"))
    with client_for(emu) as client:
        client.post_events(PIXEL, body(), n_events=2)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    request_lines = [line for line in lines if f"POST /v3/{PIXEL}/events" in line]
    assert len(request_lines) == 2  # the positive control: urllib3 did log the URL, query included
    assert all(f"access_token={REDACTED}" in line for line in request_lines)
    assert TOKEN not in caplog.text


def test_filter_redacts_registered_secrets_and_tracebacks():
    register_secret("plain-secret-value-42")
    stream_records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            stream_records.append(self.format(record))

    logger = logging.getLogger("urllib3.connectionpool")
    handler = Keep()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    SnapCapiClient(TOKEN, "http://127.0.0.1:1").close()  # installs the filter
    try:
        try:
            raise ValueError(f"https://tr.snapchat.com/v3/p/events?access_token={TOKEN}&x=1")
        except ValueError:
            logger.debug("request to %s failed", "a URL with plain-secret-value-42", exc_info=True)
        logger.warning("Authorization: Bearer %s", TOKEN)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    text = "\n".join(stream_records)
    assert "ValueError" in text and "request to a URL with ***" in text
    assert TOKEN not in text and "plain-secret-value-42" not in text
    assert isinstance(logger.filters[0], TokenRedactingFilter)


def test_redact_and_scrub():
    assert redact(f"GET /x?access_token={TOKEN}&a=1") == "GET /x?access_token=***&a=1"
    assert redact("Authorization: Bearer abc.def-123") == "Authorization: Bearer ***"
    assert scrub_pii("bad value person@example.com from 203.0.113.7, 2001:db8::1 or +44 20 7946 0958") == (
        "bad value <email> from <ip>, <ip> or <number>")


def test_one_pooled_session_reuses_connections(emu, caplog):
    caplog.set_level(logging.DEBUG, logger="urllib3.connectionpool")
    payload = body()
    with client_for(emu, pool_size=4) as client, ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: client.post_events(PIXEL, payload, n_events=2), range(40)))
    statuses = [answer.status_code for answer in answers]
    assert statuses == [200] * 40
    opened = [r for r in caplog.records if r.getMessage().startswith("Starting new HTTP connection")]
    assert 1 <= len(opened) <= 4  # 40 requests over at most pool_size connections (mistake 10)


def test_repr_and_errors_never_show_the_token(emu):
    client = client_for(emu)
    assert TOKEN not in repr(client) and "***" in repr(client)
    client.close()


@pytest.mark.parametrize(("url", "ok"), [
    ("https://tr.snapchat.com", True),
    ("tr.snapchat.com", True),
    ("https://launchpad.example.com/relay", True),
    ("http://127.0.0.1:8787", True),
    ("http://localhost:8787", True),
    ("http://[::1]:8787", True),
    ("http://tr.snapchat.com", False),
    ("http://10.0.0.5:8787", False),
    ("http://localhost.evil.example", False),
    ("http://127.0.0.1.evil.example", False),
    ("ftp://127.0.0.1", False),
])
def test_plain_http_only_to_loopback(url, ok):
    if ok:
        assert check_base_url(url).startswith(("https://", "http://"))
    else:
        with pytest.raises(SnapCapiError, match="plain http is allowed only to a loopback host"):
            check_base_url(url)


def test_negative_retry_settings_are_refused():
    with pytest.raises(SnapCapiError, match="must not be negative"):
        SnapCapiClient(TOKEN, "http://127.0.0.1:1", retry=RetryPolicy(max_retries=-1))


def _scripted_server(answer: bytes, linger: bool = False) -> tuple[str, list[int], socket.socket]:
    """A loopback server that reads each request and writes ``answer`` (a status line, headers and maybe
    a broken body), then closes: what Snap's edge does when a connection breaks mid-response."""
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    posts: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length"))
            while len(rest) < length:
                rest += conn.recv(65536)
            posts.append(1)
            conn.sendall(answer)
            if linger:  # a reset, not a clean close
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", posts, listener


OK_BODY = b'{"status": "VALID", "reason": "Events have been processed successfully."}'
GZIP_BOMB = gzip.compress(b" " * (64 << 20))  # 64 MB of spaces in about 64 KB: never read whole


@pytest.mark.parametrize("answer, linger", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(OK_BODY) + OK_BODY[:10], False),  # truncated
    (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(OK_BODY) + OK_BODY, False),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", True),  # reset after the headers
    (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(GZIP_BOMB) + GZIP_BOMB, False),
], ids=["truncated", "bad-gzip", "reset-after-headers", "gzip-bomb"])
def test_a_2xx_whose_body_cannot_be_read_is_unconfirmed_and_never_re_sent(answer, linger):
    from snap_capi_provider.core.delivery import BatchItem, deliver

    url, posts, listener = _scripted_server(answer, linger)
    try:
        with SnapCapiClient(TOKEN, url, timeout=(2, 2), retry=RetryPolicy(max_retries=3, backoff_initial_s=0,
                                                                            backoff_max_s=0)) as client:
            outcome = deliver(client, PIXEL, [BatchItem(i, b'{"event_id":"e%d"}' % i) for i in range(3)])
    finally:
        listener.close()
    assert len(posts) == 1  # Snap answered 200: the events may be recorded, so they are not sent again
    assert outcome.accepted == [] and len(outcome.failed) == 3
    assert all(reason.startswith("unconfirmed_response") for _, reason in outcome.failed)


def test_a_redirect_is_not_followed_the_batch_fails_with_its_status():
    from snap_capi_provider.core.delivery import BatchItem, deliver

    url, posts, listener = _scripted_server(b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n")
    try:
        with SnapCapiClient(TOKEN, url, retry=RetryPolicy(max_retries=0)) as client:
            outcome = deliver(client, PIXEL, [BatchItem(i, b'{"event_id":"e%d"}' % i) for i in range(3)])
    finally:
        listener.close()
    assert len(posts) == 1 and outcome.accepted == []
    assert {reason for _, reason in outcome.failed} == {"http_302"}


def test_the_async_client_honours_retry_after_like_the_sync_one(emu):
    import asyncio
    import time

    from snap_capi_provider.core.async_client import AsyncSnapCapiClient

    emu.add_faults(Fault("429", retry_after=1, path_contains="/stats"))

    async def read() -> float:
        async with AsyncSnapCapiClient(TOKEN, emu.url, retry=RetryPolicy(max_retries=2, backoff_initial_s=0.01)
                                       ) as client:
            started = time.monotonic()
            assert (await client.get_json(*client.stats_path(PIXEL))).ok
            return time.monotonic() - started

    assert asyncio.run(read()) >= 0.9  # not the 0.01 s backoff


def test_backoff_waits_grow_exponentially_with_jitter_and_stay_capped():
    policy = RetryPolicy(backoff_initial_s=0.5, backoff_max_s=3.0)
    waits = [policy.wait_s(attempt) for attempt in (1, 2, 3, 4, 5)]
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 1.5 and all(wait <= 3.0 for wait in waits)
    assert policy.wait_s(1, retry_after=500) == 120.0 and policy.wait_s(1, retry_after=2) == 2


def test_an_auth_error_keeps_no_exception_that_holds_the_token_in_its_chain(emu):
    with SnapCapiClient("wrong-token-4567", emu.url, retry=RetryPolicy(max_retries=0)) as client:
        with pytest.raises(SnapCapiAuthError) as caught:
            client.post_events(PIXEL, body(), n_events=2)
    chain, error = [], caught.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert len(chain) == 1 and "wrong-token-4567" not in repr(vars(chain[0])) + chain_text(caught.value)


def _self_signed_certificate(folder) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, as PEM files (the test's own CA: nothing leaves loopback)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(hours=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_events_and_token_requests_go_over_https(tmp_path, monkeypatch):
    """Snap is HTTPS: the pools that bound each attempt must work for it, not only for loopback HTTP."""
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Snap(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            answer = (b'{"access_token": "minted-123456", "expires_in": 3600}' if self.path == "/token"
                      else b'{"status": "VALID", "reason": "ok"}')
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    cert, key = _self_signed_certificate(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Snap)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert)
    url = f"https://127.0.0.1:{server.server_address[1]}"
    try:
        with SnapCapiClient(TOKEN, url, retry=RetryPolicy(max_retries=0)) as client:
            assert client.post_events(PIXEL, body(), n_events=2).ok
        from snap_capi_provider.core.auth import OAuthTokenProvider

        assert OAuthTokenProvider("cid", "secret-123456", "refresh-123456", f"{url}/token").token() == "minted-123456"
    finally:
        server.shutdown()


@pytest.mark.parametrize("status", [200, 400])
def test_a_json_answer_nested_past_python_s_stack_is_unreadable_not_a_crash(status):
    """json.loads raises RecursionError (not ValueError) on deep nesting: the batch must still settle."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from snap_capi_provider.core.delivery import deliver

    class Snap(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            answer = b"[" * 100_000 + b"]" * 100_000
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Snap)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with SnapCapiClient(TOKEN, url, retry=RetryPolicy(max_retries=0)) as client:
            outcome = deliver(client, PIXEL, batch_items(pii_rows(3)))
        assert outcome.accepted == []
        assert len(outcome.rejected) + len(outcome.failed) == 3
        if status == 200:
            assert {why for _, why in outcome.failed} == {
                "unconfirmed_response: HTTP 200 with a body that is not a JSON object"}
        from snap_capi_provider.core.auth import OAuthTokenProvider, SnapCapiAuthError

        with pytest.raises(SnapCapiAuthError):
            OAuthTokenProvider("cid", "secret-123456", "refresh-123456", f"{url}/token").token()
    finally:
        server.shutdown()


def test_the_async_client_follows_no_redirect_either():
    """The token rides in the URL: a redirect (a misconfigured Launch Pad) is answered, never followed."""
    import asyncio
    import http.server
    import threading

    from snap_capi_provider.core.async_client import AsyncSnapCapiClient

    hits: list[str] = []

    class Redirecting(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            hits.append(self.path.split("?")[0])
            self.send_response(302 if "elsewhere" not in self.path else 200)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    async def read():
        async with AsyncSnapCapiClient(TOKEN, f"http://127.0.0.1:{server.server_port}",
                                       retry=RetryPolicy(max_retries=0)) as client:
            return await client.get_json(*client.stats_path(PIXEL))

    try:
        answer = asyncio.run(read())
    finally:
        server.shutdown()
    assert answer.status_code == 302 and not answer.ok
    assert hits == [f"/v3/{PIXEL}/events/validate/stats"]
