"""The emulator's HTTP plumbing: the server, request bodies (length, chunked, gzip, limits), dispatch to
the API, OAuth and control endpoints, authentication and injected faults.

The endpoints themselves are mixins (:mod:`.endpoints`, :mod:`.control`) joined with
:class:`RequestHandler` into the handler that :class:`~.server.CapiEmulator` serves.
"""

from __future__ import annotations

import json
import re
import socket
import socketserver
import threading
import time
import traceback
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from .faults import INVALID_TOKEN, Fault, fault_answer
from .oauth import TOKEN_PATH

if TYPE_CHECKING:
    from .server import CapiEmulator

#: Hard cap on a request body (wire or decompressed) when ``max_body_bytes`` is not set.
HARD_BODY_LIMIT = 64 * 1024 * 1024

_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_V3_ROUTE = re.compile(r"/v3/([^/]+)/events(?:/(validate)(?:/(logs|stats))?)?")
_V2_ROUTES = {
    "/v2/conversion": "send",
    "/v2/conversion/validate": "validate",
    "/v2/conversion/validate/logs": "logs",
    "/v2/conversion/validate/stats": "stats",
}
_METHOD_FOR = {"send": "POST", "validate": "POST", "logs": "GET", "stats": "GET"}


@dataclass
class RequestRecord:
    """One API request as the emulator saw it. ``status`` is 0 when the connection was dropped."""

    method: str
    path: str
    status: int
    n_events: int
    version: str
    asset_id: str | None
    fault: str | None
    gzip: bool
    elapsed_s: float


class BodyError(Exception):
    """A request the emulator answers with ``status`` and ``reason`` (closing the connection with ``close``)."""

    def __init__(self, status: int, reason: str, close: bool = False) -> None:
        super().__init__(reason)
        self.status, self.reason, self.close = status, reason, close


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


class DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys repeat is refused, as a strict parser (Jackson's) refuses it: which value
    counts is up to the parser."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        raise DuplicateKey(next(key for key, _ in pairs if key in seen or seen.add(key)))
    return obj


class HttpServer(ThreadingHTTPServer):
    """A threading server serving at most ``max_workers`` connections at once, closable all at once."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], handler: type, emulator: CapiEmulator) -> None:
        self.emulator = emulator
        self.workers = threading.BoundedSemaphore(emulator.max_workers)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup (``getfqdn`` can take seconds)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve each connection in a thread, at most ``max_workers`` at once (accepting waits)."""
        while not self.workers.acquire(timeout=0.5):
            if getattr(self, "_BaseServer__shutdown_request", False):
                self.shutdown_request(request)
                return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.workers.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.workers.release()

    def close_connections(self) -> None:
        with self.connections_lock:
            conns = list(self.connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: client disconnects are normal; handler bugs are answered with 500 and kept."""


class RequestHandler(BaseHTTPRequestHandler):
    """Plumbing and dispatch of one connection. The endpoints it dispatches to come from the mixins:
    ``_v3_events``, ``_v2_events`` and ``_count_only`` (:mod:`.endpoints`), ``_control`` (:mod:`.control`)."""

    protocol_version = "HTTP/1.1"
    server_version = "snap-capi-emulator"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 30  # an idle keep-alive connection gives its worker back after this
    server: HttpServer
    _emu: CapiEmulator

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class signature
        """No per-request logging."""

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle("PATCH")

    # ------------------------------------------------------------------ plumbing

    def _send(
        self,
        status: int,
        payload: Any = None,
        *,
        body: bytes | None = None,
        content_type: str = "application/json",
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Write the whole response in one send (no Nagle/delayed-ACK stalls on keep-alive)."""
        if payload is not None:
            body = json.dumps(payload, separators=(",", ":")).encode()
        body = body or b""
        self._status = status
        self._sent = True
        if not self._recorded:
            self._record_request()
        reason = self.responses.get(status, ("",))[0]
        lines = [
            f"HTTP/1.1 {status} {reason}",
            f"Server: {self.server_version}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
        ]
        lines.extend(f"{k}: {v}" for k, v in headers)
        if self.close_connection:
            lines.append("Connection: close")
        try:
            self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        except OSError:
            self.close_connection = True

    def _read_body(self, cap: int | None = None) -> bytes:
        """Read the whole request body (Content-Length or chunked) up to ``cap``, ``max_body_bytes`` or
        :data:`HARD_BODY_LIMIT`, the smallest."""
        limit = min(cap or HARD_BODY_LIMIT, self._emu.max_body_bytes or HARD_BODY_LIMIT, HARD_BODY_LIMIT)
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                field = line.split(b";")[0].strip()
                if not _CHUNK_SIZE.fullmatch(field):  # "-5", "+5", "0x5", "1_0": not a chunk size
                    raise BodyError(400, "Malformed chunked body: invalid chunk size", close=True)
                size = int(field, 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                if total + size > limit:
                    raise BodyError(413, self._too_large(limit), close=True)
                chunk = self.rfile.read(size)
                if len(chunk) < size:
                    raise BodyError(400, "Malformed chunked body: truncated chunk", close=True)
                self.rfile.readline()
                total += size
                parts.append(chunk)
            body = b"".join(parts)
        else:
            raw = self.headers.get("Content-Length")
            try:
                length = int(raw) if raw is not None else 0
                if length < 0:
                    raise ValueError
            except ValueError:
                raise BodyError(400, "Invalid Content-Length", close=True) from None
            if length > limit:
                raise BodyError(413, self._too_large(limit), close=True)
            body = self.rfile.read(length) if length else b""
        return body

    def _too_large(self, limit: int) -> str:
        return f"Request body too large: the limit is {limit} bytes" if limit < HARD_BODY_LIMIT else \
            "Request body too large"

    def _decode(self, body: bytes) -> tuple[bytes, Any]:
        """Decompress (gzip) and parse JSON into ``(raw, payload)``, or raise BodyError."""
        body = self._inflate(body)
        try:
            return body, json.loads(body, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
        except DuplicateKey as exc:
            raise BodyError(400, f"Request body is not valid JSON: the key {str(exc)!r} repeats in an object") from None
        except (ValueError, RecursionError):
            raise BodyError(400, "Request body is not valid JSON") from None

    def _inflate(self, body: bytes) -> bytes:
        """Decompress (gzip) a non-empty body within the size limit, or raise BodyError."""
        limit = self._emu.max_body_bytes or HARD_BODY_LIMIT
        encoding = self.headers.get("Content-Encoding", "").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            self._gzip = True
            try:
                inflater = zlib.decompressobj(wbits=31)
                out = inflater.decompress(body, limit + 1)
            except zlib.error:
                raise BodyError(400, "Request body is not valid gzip") from None
            if len(out) > limit:
                raise BodyError(413, f"Request body too large: the limit is {limit} bytes (decompressed)")
            if not inflater.eof:
                raise BodyError(400, "Request body is truncated gzip")
            body = out
        elif encoding not in ("", "identity"):
            raise BodyError(415, "Unsupported Content-Encoding (use gzip or none)")
        if not body:
            raise BodyError(400, "Request body is empty")
        return body

    # ------------------------------------------------------------------ dispatch

    def _handle(self, method: str) -> None:
        self._start = time.perf_counter()
        self._emu = self.server.emulator
        self._recorded = False
        self._sent = False
        self._version: str | None = None
        self._status = 0
        self._gzip = False
        self._n_events = 0
        self._asset: str | None = None
        self._fault: str | None = None
        split = urlsplit(self.path)
        self._path = path = split.path
        self._query = split.query
        if path.startswith("/_emulator/") or path == "/_emulator":
            try:
                self._control(method, path)
            except Exception:
                self._internal_error()
            return

        if path == TOKEN_PATH:
            try:
                self._oauth_token(method)
            except BodyError as exc:
                self.close_connection = self.close_connection or exc.close
                self._send(exc.status, {"error": "invalid_request", "error_description": exc.reason})
            except Exception:
                self._internal_error()
            return

        version, kind = "", None
        match = _V3_ROUTE.fullmatch(path)
        if match:
            version, self._asset = "v3", unquote(match.group(1))
            kind = match.group(3) or match.group(2) or "send"
        elif path in _V2_ROUTES:
            version, kind = "v2", _V2_ROUTES[path]
        elif path.startswith("/v2"):
            version = "v2"
        elif path.startswith("/v3"):
            version = "v3"
        self._version = version
        try:
            self._api(method, path, version, kind)
        except BodyError as exc:
            if exc.close:
                self.close_connection = True
            self._send(exc.status, self._body_error(version, exc.reason))
        except Exception:
            self._internal_error()
        finally:
            if not self._recorded:
                self._record_request()

    def _internal_error(self) -> None:
        """An emulator bug: keep the traceback, answer 500 (unless a response already went out), close."""
        self._emu.errors.append(traceback.format_exc())
        self.close_connection = True
        if not self._sent:
            self._send(500, {"status": "ERROR", "reason": "emulator error"})

    def _record_request(self) -> None:
        """Store this request's record (before the response is written, so clients never race it)."""
        self._recorded = True
        if self._version is None:  # control endpoint
            return
        self._emu._record_request(
            RequestRecord(
                method=self.command,
                path=self._path,
                status=self._status,
                n_events=self._n_events,
                version=self._version,
                asset_id=self._asset,
                fault=self._fault,
                gzip=self._gzip,
                elapsed_s=time.perf_counter() - self._start,
            )
        )

    @staticmethod
    def _body_error(version: str, reason: str) -> dict[str, Any]:
        return {"status": "FAILED" if version == "v2" else "INVALID", "reason": reason}

    def _param(self, name: str) -> str | None:
        values = parse_qs(self._query).get(name) if self._query else None
        return values[0] if values else None

    def _oauth_token(self, method: str) -> None:
        oauth = self._emu.oauth
        has_body = method in ("POST", "PUT", "PATCH") or self.headers.get("Content-Length")
        if oauth is None or method != "POST":
            self.close_connection = self.close_connection or bool(has_body)  # the body is left unread
            status = 404 if oauth is None else 405
            self._send(status, {"error": "invalid_request", "error_description": "not an OAuth token request"})
            return
        status, answer = oauth.grant(self._read_body(cap=65536), self.headers.get("Content-Type", ""))  # chunked too
        self._send(status, answer, headers=[("Cache-Control", "no-store")])

    def _api(self, method: str, path: str, version: str, kind: str | None) -> None:
        emu = self._emu
        has_body = method in ("POST", "PUT", "PATCH") or bool(self.headers.get("Content-Length"))
        # Everything that can be answered without the body is answered first, and the body is then left
        # unread (the connection closes): an unauthenticated client cannot make the emulator read 64 MB.
        early: tuple[int, dict[str, Any], list[tuple[str, str]]] | None = None
        if kind is None:
            early = (404, self._body_error(version, "Unknown endpoint"), [])
        elif method != _METHOD_FOR[kind]:
            early = (405, self._body_error(version, "Method not allowed"), [("Allow", _METHOD_FOR[kind])])
        elif not self._authorized(version):
            early = (401, INVALID_TOKEN, [])
        elif version == "v3" and emu.assets is not None and self._asset not in emu.assets:
            early = (403, {"status": "INVALID", "reason": "No access to this asset"}, [])
        if early is not None:
            if has_body:
                self.close_connection = True
            self._send(early[0], early[1], headers=early[2])
            return
        assert kind is not None
        body = self._read_body() if has_body else b""

        fault = emu._faults.next_fault(path, kind == "send")
        if fault is not None:
            self._fault = fault.kind
            if fault.kind == "delay":
                time.sleep(fault.delay_s)
            else:
                self._apply_fault(fault, version, body)
                return

        limit = emu.max_body_bytes
        if limit is not None and len(body) > limit:
            raise BodyError(413, f"Request body too large: the limit is {limit} bytes")

        if kind in ("logs", "stats"):
            if version == "v2":
                self._asset = self._param("asset_id")
                if not self._asset:
                    self._send(400, self._body_error(version, "Query parameter asset_id is required"))
                    return
                if emu.assets is not None and self._asset not in emu.assets:
                    self._send(403, {"status": "FAILED", "reason": "No access to this asset"})
                    return
            self._send(200, emu._stats(self._asset) if kind == "stats" else emu._logs(self._asset))
            return

        if kind == "send" and emu.count_only:
            self._count_only(version, self._inflate(body))
            return
        raw, payload = self._decode(body)
        if version == "v3":
            self._v3_events(kind, raw, payload)
        else:
            self._v2_events(kind, raw, payload)

    def _authorized(self, version: str) -> bool:
        tokens = self._emu.access_tokens
        auth = self.headers.get("Authorization", "")
        bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        oauth = self._emu.oauth
        if version == "v3":
            token = self._param("access_token")
            if token is not None:
                return token in tokens or (oauth is not None and oauth.accepts(token))
        return bearer is not None and (bearer in tokens or (oauth is not None and oauth.accepts(bearer)))

    def _apply_fault(self, fault: Fault, version: str, body: bytes) -> None:
        encoding = self.headers.get("Content-Encoding", "")
        self._gzip = "gzip" in encoding.lower()
        self._n_events = _quick_count(body, version, encoding)
        if fault.kind == "drop":
            self.close_connection = True
            self._status = 0
            return
        answer = fault_answer(fault, version, self._n_events)
        self._send(answer.status, answer.payload, body=answer.body, content_type=answer.content_type,
                   headers=answer.headers)


def _quick_count(body: bytes, version: str, encoding: str) -> int:
    """Best-effort event count of a faulted request (for the request log and bad_event_400)."""
    try:
        if "gzip" in encoding.lower():
            body = zlib.decompressobj(wbits=31).decompress(body, HARD_BODY_LIMIT)
        payload = json.loads(body)
    except Exception:
        return 0
    data = payload.get("data") if isinstance(payload, dict) and version == "v3" else payload
    return len(data) if isinstance(data, list) else (1 if isinstance(data, dict) else 0)
