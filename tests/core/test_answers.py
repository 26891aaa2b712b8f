"""Answers the emulator never gives, from a scripted loopback server: every 5xx is transient, a 400
about the token refreshes an OAuth token (sync and async clients), v3 success is VALID alone, and a
validate verdict without a status reads the same on the send and validate paths (SNAP_CAPI.md 5, 9)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from snap_capi_provider.core.async_client import AsyncSnapCapiClient
from snap_capi_provider.core.auth import OAuthTokenProvider
from snap_capi_provider.core.client import ApiResponse, RetryPolicy, SnapCapiClient, is_token_message
from snap_capi_provider.core.delivery import BatchOutcome, deliver, settle_response
from snap_capi_provider.core.validation import validate_batch
from tests.conftest import PIXEL, TOKEN
from tests.reliability_helpers import batch_items, pii_rows

FAST = RetryPolicy(max_retries=2, backoff_initial_s=0.0, backoff_max_s=0.0)
VALID = (200, {"status": "VALID", "reason": "Events have been processed successfully."})


@contextmanager
def scripted(*answers: tuple[int, object]) -> Iterator[tuple[str, list[str]]]:
    """A loopback server answering API requests with ``answers`` in turn (then the last one again),
    and any ``/token`` request with a fresh OAuth token; yields its URL and the paths requested."""
    queue, paths = list(answers), []

    class Snap(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            if self.headers.get("Content-Length"):
                self.rfile.read(int(self.headers["Content-Length"]))
            paths.append(self.path.split("?")[0])
            if self.path.startswith("/token"):
                status, body = 200, {"access_token": f"minted-{len(paths)}-abcdef", "expires_in": 3600}
            else:
                status, body = queue.pop(0) if len(queue) > 1 else queue[0]
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Snap)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", paths
    finally:
        server.shutdown()


def oauth(url: str) -> OAuthTokenProvider:
    return OAuthTokenProvider("cid", "secret-123456", "refresh-123456", f"{url}/token")


@pytest.mark.parametrize("status", [501, 505, 507, 520, 522, 524, 599])
def test_every_server_error_is_retried(status):
    with scripted((status, {"status": "ERROR"}), VALID) as (url, paths):
        with SnapCapiClient(TOKEN, url, retry=FAST) as client:
            outcome = deliver(client, PIXEL, batch_items(pii_rows(2)))
    assert (len(outcome.accepted), outcome.failed, outcome.retries) == (2, [], 1)


@pytest.mark.parametrize("message", ["Invalid token", "Token is expired", "Expired token", "token has been revoked",
                                     "Invalid access token", "The token provided is not valid"])
def test_a_400_about_the_token_refreshes_an_oauth_token_once_then_sends(message):
    assert is_token_message(message)
    with scripted((400, {"status": "INVALID", "reason": message}), VALID) as (url, paths):
        with SnapCapiClient(base_url=url, retry=FAST, token_provider=oauth(url)) as client:
            outcome = deliver(client, PIXEL, batch_items(pii_rows(2)))
    assert len(outcome.accepted) == 2 and outcome.fatal is None
    assert paths == ["/token", f"/v3/{PIXEL}/events", "/token", f"/v3/{PIXEL}/events"]


@pytest.mark.parametrize("message", ["Unexpected token in JSON at position 7", "Unrecognized event type",
                                     "Invalid sc_click_id token",
                                     "Param data['event_time'] is an invalid Unix timestamp."])
def test_a_400_about_the_body_is_not_taken_for_a_token_problem(message):
    assert not is_token_message(message)


def test_the_async_client_refreshes_on_a_400_about_the_token_as_the_sync_one_does():
    stats = (200, {"status": "SUCCESS", "stats": {"test": {"event_count_past_hour": 3}}})
    with scripted((400, {"status": "INVALID", "reason": "Token is expired"}), stats) as (url, paths):
        async def read() -> ApiResponse:
            async with AsyncSnapCapiClient(base_url=url, retry=FAST, token_provider=oauth(url)) as client:
                return await client.get_json(*client.stats_path(PIXEL))

        response = asyncio.run(read())
    assert response.status_code == 200 and response.body["status"] == "SUCCESS"
    assert paths.count("/token") == 2


@pytest.mark.parametrize(("api_version", "status", "accepted"), [
    ("v3", "VALID", True), ("v3", "SUCCESS", False), ("v2", "SUCCESS", True), ("v2", "VALID", True)])
def test_v3_success_is_valid_alone(api_version, status, accepted):
    items = batch_items(pii_rows(2))
    outcome, pending = BatchOutcome(), []
    settle_response(ApiResponse(200, {"status": status}, ""), items, pending, outcome, api_version)
    assert (len(outcome.accepted) == 2) is accepted
    if not accepted:
        assert [reason.split(":")[0] for _, reason in outcome.failed] == ["unconfirmed_response"] * 2


def test_a_validate_verdict_without_a_status_reads_the_same_on_both_paths():
    """No status and no errors is a valid event, on the send path's narrowing as in validate_batch."""
    logs = {"status": "VALID", "test_event": True,
            "event_logs": [{"event": i, "errors": {"codes": [], "error_msgs": []}} for i in range(4)]}
    request_400 = (400, {"status": "INVALID", "reason": "Bad request"})
    with scripted(request_400, (200, logs), VALID) as (url, paths):
        with SnapCapiClient(TOKEN, url, retry=FAST) as client:
            sent = deliver(client, PIXEL, batch_items(pii_rows(4)))
    assert sent.rejected == []  # never rejected for good with an empty reason
    with scripted((200, logs)) as (url, paths):
        with SnapCapiClient(TOKEN, url, retry=FAST) as client:
            checked = validate_batch(client, PIXEL, batch_items(pii_rows(4)))
    assert len(checked.accepted) == 4 and checked.rejected == []


def test_the_async_client_reads_an_answer_longer_than_the_text_it_logs():
    # Test-event logs run to many kilobytes; only the logged text is cut to 2,000 characters.
    logs = {"status": "SUCCESS", "logs": [{"event_name": "PURCHASE", "status": "VALID", "n": i} for i in range(500)]}
    with scripted((200, logs)) as (url, _):
        async def read() -> ApiResponse:
            async with AsyncSnapCapiClient(TOKEN, url, retry=FAST) as client:
                return await client.get_json(*client.logs_path(PIXEL))

        response = asyncio.run(read())
    assert len(json.dumps(logs)) > 20_000 and response.body == logs and len(response.text) == 2000
