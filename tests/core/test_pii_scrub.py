"""No PII where the docs promise none: debug lines of both clients scrub response bodies (emails,
phones, IP addresses) with :func:`~snap_capi_provider.core.redact.scrub_pii`, and Snap's validate
warnings reach the report (XCom) scrubbed, with a capped number of distinct keys.

Snap's servers are mocked by a loopback HTTP server that echoes PII in every answer."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from snap_capi_provider.core.async_client import AsyncSnapCapiClient
from snap_capi_provider.core.client import SnapCapiClient
from snap_capi_provider.core.events import EventOptions
from snap_capi_provider.core.pipeline import MAX_WARNING_KEYS, OTHER_WARNINGS, Assets, DeliveryOptions
from snap_capi_provider.core.sources import iter_chunks
from snap_capi_provider.core.validation import validate_rows
from tests.conftest import PIXEL, TOKEN
from tests.reliability_helpers import MAPPING, pii_rows

EMAIL, PHONE, IP = "leaky.person@example.org", "+1 650 555 0199", "203.0.113.77"


class _Echo(BaseHTTPRequestHandler):
    answer: dict = {}

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}") if length else {}
        answer = type(self).answer
        if callable(answer):
            answer = answer(body)
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _reply

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_snap() -> Iterator[tuple[str, type[_Echo]]]:
    handler = type("Echo", (_Echo,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", handler
    finally:
        server.shutdown()
        server.server_close()


LEAKY = {"status": "VALID", "reason": f"Processed for {EMAIL} at {PHONE} from {IP}."}


def _assert_scrubbed(text: str) -> None:
    assert "Snap CAPI" in text
    for value in (EMAIL, PHONE, IP, TOKEN):
        assert value not in text, value
    assert "<email>" in text and "<ip>" in text


def test_the_debug_line_of_the_client_scrubs_the_response_body(fake_snap, caplog):
    url, handler = fake_snap
    handler.answer = LEAKY
    caplog.set_level(logging.INFO, logger="snap_capi_provider.core.client")
    with SnapCapiClient(TOKEN, url, debug=True) as client:
        response = client.post_events(PIXEL, b'{"data":[{}]}', n_events=1)
    assert response.ok
    _assert_scrubbed("\n".join(r.getMessage() for r in caplog.records if "->" in r.getMessage()))


def test_the_debug_line_of_the_async_client_scrubs_the_response_body(fake_snap, caplog):
    url, handler = fake_snap
    handler.answer = {"status": "SUCCESS", "stats": {}, "reason": LEAKY["reason"]}
    caplog.set_level(logging.INFO)

    async def fetch() -> None:
        async with AsyncSnapCapiClient(TOKEN, url, debug=True) as client:
            await client.get_json(f"/v3/{PIXEL}/events/validate/stats")

    asyncio.run(fetch())
    _assert_scrubbed("\n".join(r.getMessage() for r in caplog.records if "->" in r.getMessage()))


def _word(i: int) -> str:
    return chr(97 + i % 26) + chr(97 + i // 26 % 26)


def test_validate_warnings_are_scrubbed_and_their_distinct_keys_capped(fake_snap):
    url, handler = fake_snap

    def verdicts(body: dict) -> dict:
        return {"status": "VALID", "test_event": True, "reason": "ok", "event_logs": [
            {"event": i, "status": "VALID",
             "warnings": [f"Hashed email of {EMAIL} looks odd in field {_word(i)}", f"IP {IP} is private"]}
            for i, _ in enumerate(body["data"])]}

    handler.answer = verdicts
    with SnapCapiClient(TOKEN, url) as client:
        report = validate_rows(client, iter_chunks(pii_rows(300), 300), assets=Assets(pixel_id=PIXEL),
                               field_mapping=MAPPING, event_options=EventOptions(event_name="PURCHASE"),
                               delivery=DeliveryOptions(batch_size=100, concurrency=1))
    assert report.valid == 300
    text = json.dumps(report.to_dict())
    assert EMAIL not in text and IP not in text
    assert len(report.warnings) <= MAX_WARNING_KEYS + 1 and report.warnings[OTHER_WARNINGS] > 0
    assert sum(report.warnings.values()) == 600  # capped keys, every warning still counted
