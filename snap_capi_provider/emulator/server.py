"""A strict local emulator of Snap's Conversions API (v3 and legacy v2) over loopback HTTP."""

from __future__ import annotations

import gc
import ipaddress
import json
import re
import socket
import socketserver
import threading
import time
import traceback
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .counting import count_events, scan_ids, scan_v2_asset
from .faults import DEFAULT_RANDOM_KINDS, Fault, FaultPlan
from .oauth import TOKEN_PATH, OAuthApp
from .validation import v2_asset_id, v2_dedup_id, validate_v2_event, validate_v3_event

__all__ = ["CapiEmulator", "RequestRecord"]

#: Hard cap on a request body (wire or decompressed) when ``max_body_bytes`` is not set.
HARD_BODY_LIMIT = 64 * 1024 * 1024
#: The token a fresh emulator accepts; refused (or loudly warned about) off loopback.
DEFAULT_TOKEN = "test-token"

_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_V3_ROUTE = re.compile(r"/v3/([^/]+)/events(?:/(validate)(?:/(logs|stats))?)?")
_V2_ROUTES = {
    "/v2/conversion": "send",
    "/v2/conversion/validate": "validate",
    "/v2/conversion/validate/logs": "logs",
    "/v2/conversion/validate/stats": "stats",
}
_METHOD_FOR = {"send": "POST", "validate": "POST", "logs": "GET", "stats": "GET"}
_INVALID_TOKEN = {"status": "INVALID", "reason": "Invalid access token"}
_V3_OK = {"status": "VALID", "reason": "Events have been processed successfully."}
_V2_OK = {"status": "SUCCESS", "reason": "All events have been processed successfully."}
_HOUR = 3600.0
_DAY = 86400.0


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


@dataclass
class _TestEvent:
    asset_id: str | None
    version: str
    event: Any
    received_ts: float
    status: str
    errors: list[str]
    warnings: list[str]


class _BodyError(Exception):
    def __init__(self, status: int, reason: str, close: bool = False) -> None:
        super().__init__(reason)
        self.status, self.reason, self.close = status, reason, close


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


class CapiEmulator:
    """Strict, independent emulator of Snap's Conversions API, served from a daemon thread.

    See the package docstring for the endpoints. ``batch_mode`` is ``"whole"`` (one invalid event
    rejects the batch, nothing recorded) or ``"partial"`` (valid events recorded, the same 400 body).
    ``fault_rate``/``fault_kinds``/``fault_seed`` configure a baseline random fault rate that
    :meth:`reset` restores (``0`` by default); :meth:`set_fault_rate` changes it until the next reset.
    ``count_only`` (for benchmarks) makes the send endpoints check the token, then only count the events
    and scan their ids from the raw body (see :mod:`.counting`): nothing is validated or retained, so
    :meth:`accepted_events` stays empty while :meth:`summary` and the counts by event id still work.

    ``oauth_client_id``/``oauth_client_secret``/``oauth_refresh_token`` start an OAuth token endpoint at
    :attr:`token_url` minting access tokens that live ``token_lifetime_s`` seconds (see :mod:`.oauth`);
    :meth:`revoke_refresh_token` revokes the refresh token, ``summary()["token_refreshes"]`` counts grants.
    At most ``max_workers`` connections are served at once (the others wait in the listen backlog).
    Bound to a non-loopback address with the default token it refuses to start unless
    ``allow_default_token_off_loopback`` (then it warns loudly).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        access_tokens: Iterable[str] = ("test-token",),
        assets: Iterable[str] | None = None,
        batch_mode: str = "whole",
        max_events_per_request: int = 2000,
        max_event_age_days: float = 37,
        max_future_skew_s: float = 300,
        max_body_bytes: int | None = None,
        clock: Callable[[], float] = time.time,
        *,
        fault_rate: float = 0.0,
        fault_kinds: Iterable[str] = DEFAULT_RANDOM_KINDS,
        fault_seed: int | None = None,
        count_only: bool = False,
        oauth_client_id: str | None = None,
        oauth_client_secret: str | None = None,
        oauth_refresh_token: str | None = None,
        token_lifetime_s: float = 3600.0,
        rotate_refresh_token: bool = False,
        max_workers: int = 64,
        allow_default_token_off_loopback: bool = False,
    ) -> None:
        if batch_mode not in ("whole", "partial"):
            raise ValueError("batch_mode must be 'whole' or 'partial'")
        if isinstance(access_tokens, str):
            access_tokens = (access_tokens,)
        if isinstance(assets, str):
            assets = (assets,)
        self.host = host
        self.port = port
        self.access_tokens = frozenset(access_tokens)
        self.assets = None if assets is None else frozenset(str(a) for a in assets)
        self.batch_mode = batch_mode
        self.max_events_per_request = int(max_events_per_request)
        self.max_event_age_days = max_event_age_days
        self.max_future_skew_s = max_future_skew_s
        self.max_body_bytes = max_body_bytes
        self.count_only = bool(count_only)
        self.clock = clock
        oauth = (oauth_client_id, oauth_client_secret, oauth_refresh_token)
        if any(oauth) and not all(oauth):
            raise ValueError("OAuth needs oauth_client_id, oauth_client_secret and oauth_refresh_token together")
        self.oauth = (OAuthApp(*oauth, token_lifetime_s=token_lifetime_s,  # type: ignore[arg-type]
                               rotate_refresh_token=rotate_refresh_token) if all(oauth) else None)
        if int(max_workers) < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = int(max_workers)
        self.allow_default_token_off_loopback = allow_default_token_off_loopback
        self._baseline_faults = (float(fault_rate), tuple(fault_kinds), fault_seed)
        self._faults = FaultPlan()
        self._faults.set_rate(*self._baseline_faults)
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._clear()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> CapiEmulator:
        """Bind and serve in a daemon thread (``port=0`` picks a free port)."""
        if self._server is not None:
            raise RuntimeError("emulator already started")
        self._check_exposure()
        server = _Server((self.host, self.port), _Handler, self)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="snap-capi-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def _check_exposure(self) -> None:
        """Refuse (or warn loudly about) the well-known default token on a non-loopback address."""
        if DEFAULT_TOKEN not in self.access_tokens or _is_loopback_host(self.host):
            return
        message = (f"The Snap CAPI emulator is bound to {self.host!r}, reachable from other machines, and "
                   f"accepts the well-known default token {DEFAULT_TOKEN!r}: pass your own access_tokens "
                   "(--token), or bind 127.0.0.1.")
        if not self.allow_default_token_off_loopback:
            raise RuntimeError(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> CapiEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8787``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __repr__(self) -> str:
        return f"CapiEmulator(url={self.url!r}, batch_mode={self.batch_mode!r})"

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint, e.g. ``http://127.0.0.1:8787/login/oauth2/access_token``."""
        return self.url + TOKEN_PATH

    def revoke_refresh_token(self) -> None:
        """Refuse every later refresh grant (``invalid_grant``); minted access tokens live to expiry."""
        if self.oauth is None:
            raise RuntimeError("the emulator was started without OAuth")
        self.oauth.revoke()

    def expire_access_tokens(self) -> None:
        """Make every minted OAuth access token expire now."""
        if self.oauth is not None:
            self.oauth.expire_access_tokens()

    # ------------------------------------------------------------------ state

    def _clear(self) -> None:
        with self._lock:
            # Accepted request bodies are kept as raw bytes (invisible to the garbage collector, so a
            # benchmark's 100k+ events do not slow every GC pass) and parsed again on demand.
            self._chunks: list[tuple[bytes, str]] = []  # (decompressed body, version)
            self._stored: list[tuple[str | None, int, int]] = []  # first arrivals: (asset, chunk, index)
            self._counts: dict[tuple[str | None, str], int] = {}
            self._live: dict[str | None, list[tuple[float, int]]] = {}  # asset -> (arrival, n accepted)
            self._tests: list[_TestEvent] = []
            self._requests: list[RequestRecord] = []
            self.errors: list[str] = []  # tracebacks of emulator bugs (answered with 500)

    def reset(self) -> None:
        """Forget recorded events, test events and requests; drop scheduled faults; restore the baseline
        random fault rate (off unless configured in the constructor), reseeded."""
        self._clear()
        self._faults.clear_schedule()
        self._faults.set_rate(*self._baseline_faults)

    def accepted_events(self, asset_id: str | None = None) -> list[dict]:
        """Live events accepted by the send endpoints, first arrival per (asset, event_id), arrival order."""
        with self._lock:
            refs = [(c, i) for asset, c, i in self._stored if asset_id is None or asset == asset_id]
            chunks = self._chunks
        parsed: dict[int, list[Any]] = {}
        out = []
        with _gc_paused():  # building 100k+ retained dicts with the GC on costs about 4x
            for c, i in refs:
                events = parsed.get(c)
                if events is None:
                    events = parsed[c] = _chunk_events(*chunks[c])
                out.append(events[i])
        return out

    def accepted_count_by_event_id(self, asset_id: str | None = None) -> dict[str, int]:
        """How many times each event_id was posted and accepted (>1 means it was resent)."""
        out: dict[str, int] = {}
        with self._lock:
            for (asset, eid), n in self._counts.items():
                if asset_id is None or asset == asset_id:
                    out[eid] = out.get(eid, 0) + n
        return out

    def test_events(self, asset_id: str | None = None) -> list[dict]:
        """Events posted to the validate endpoints (valid or not), in arrival order."""
        with self._lock:
            return [t.event for t in self._tests if asset_id is None or t.asset_id == asset_id]

    @property
    def requests(self) -> list[RequestRecord]:
        """Every API request seen (control endpoints excluded)."""
        with self._lock:
            return list(self._requests)

    def add_faults(self, *faults: Fault) -> None:
        """Schedule faults: each matching request consumes the next matching fault, in order."""
        self._faults.add(faults)

    def set_fault_rate(
        self,
        rate: float,
        kinds: Iterable[str] = DEFAULT_RANDOM_KINDS,
        seed: int | None = None,
        delay_s: float = 1.0,
    ) -> None:
        """Give a random share ``rate`` of send requests a fault of ``kinds`` (reproducible with a seed)."""
        self._faults.set_rate(rate, kinds, seed, delay_s)

    @property
    def pending_faults(self) -> list[Fault]:
        """Scheduled faults not yet consumed."""
        return self._faults.pending

    def summary(self) -> dict[str, Any]:
        """Counts: accepted postings, unique event ids, duplicates, requests, test events, per asset."""
        by_asset: dict[str, dict[str, int]] = {}

        def slot(asset: str | None) -> dict[str, int]:
            key = "" if asset is None else asset
            if key not in by_asset:
                by_asset[key] = {
                    "accepted": 0,
                    "stored": 0,
                    "unique_event_ids": 0,
                    "duplicates": 0,
                    "test_events": 0,
                }
            return by_asset[key]

        with self._lock:
            for asset, entries in self._live.items():
                slot(asset)["accepted"] += sum(n for _, n in entries)
            for asset, _, _ in self._stored:
                slot(asset)["stored"] += 1
            for (asset, _), n in self._counts.items():
                s = slot(asset)
                s["unique_event_ids"] += 1
                s["duplicates"] += n - 1
            for t in self._tests:
                slot(t.asset_id)["test_events"] += 1
            n_requests = len(self._requests)
        totals = {
            k: sum(s[k] for s in by_asset.values())
            for k in ("accepted", "stored", "unique_event_ids", "duplicates", "test_events")
        }
        return {
            **totals,
            "events": totals["accepted"],
            "requests": n_requests,
            "count_only": self.count_only,
            "token_refreshes": self.oauth.grants if self.oauth else 0,
            "oauth": self.oauth.counts() if self.oauth else None,
            "by_asset": by_asset,
        }

    # ------------------------------------------------------------------ recording (called by the handler)

    def _record_live(self, raw: bytes, version: str, items: list[tuple[str | None, int, str | None]]) -> None:
        """Record accepted events of one request body: (asset, index in body, event_id) triples."""
        now = self.clock()
        per_asset: dict[str | None, int] = {}
        with self._lock:
            chunk = len(self._chunks)
            self._chunks.append((raw, version))
            for asset, index, eid in items:
                per_asset[asset] = per_asset.get(asset, 0) + 1
                if eid is None:
                    self._stored.append((asset, chunk, index))
                    continue
                key = (asset, eid)
                n = self._counts.get(key, 0)
                self._counts[key] = n + 1
                if n == 0:
                    self._stored.append((asset, chunk, index))
            for asset, n in per_asset.items():
                self._live.setdefault(asset, []).append((now, n))

    def _record_counted(self, asset: str | None, n_events: int, event_ids: list[str]) -> None:
        """Count-only mode: record ``n_events`` accepted events of one request and their ids."""
        now = self.clock()
        with self._lock:
            counts = self._counts
            for eid in event_ids:
                key = (asset, eid)
                counts[key] = counts.get(key, 0) + 1
            self._live.setdefault(asset, []).append((now, n_events))

    def _record_tests(self, tests: list[_TestEvent]) -> None:
        with self._lock:
            self._tests.extend(tests)

    def _record_request(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    def _stats(self, asset: str | None) -> dict[str, Any]:
        now = self.clock()
        since = now - _HOUR
        with self._lock:
            tests = [t.received_ts for t in self._tests if t.asset_id == asset and t.received_ts >= since]
            live = [(ts, n) for ts, n in self._live.get(asset, ()) if ts >= since]
        return {
            "status": "SUCCESS",
            "stats": {
                "test": {
                    "latest_event_ts": int(max(tests)) if tests else None,
                    "event_count_past_hour": len(tests),
                },
                "live": {
                    "latest_event_ts": int(max(ts for ts, _ in live)) if live else None,
                    "event_count_past_hour": sum(n for _, n in live),
                },
            },
        }

    def _logs(self, asset: str | None) -> dict[str, Any]:
        since = self.clock() - _DAY
        with self._lock:
            tests = [t for t in self._tests if t.asset_id == asset and t.received_ts >= since]
        logs = []
        for t in reversed(tests):
            ev = t.event if type(t.event) is dict else {}
            if t.version == "v3":
                name, ts, source = ev.get("event_name"), ev.get("event_time"), ev.get("action_source")
            else:
                name, ts, source = ev.get("event_type"), ev.get("timestamp"), ev.get("event_conversion_type")
            logs.append(
                {
                    "event_name": _scalar(name),
                    "event_time": _scalar(ts),
                    "action_source": _scalar(source),
                    "status": t.status,
                    "error_records": list(t.errors),
                    "warning_records": list(t.warnings),
                    "received_ts": int(t.received_ts),
                }
            )
        return {"status": "SUCCESS", "logs": logs}


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector briefly (restored afterwards if it was on)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _chunk_events(raw: bytes, version: str) -> list[Any]:
    payload = json.loads(raw)
    if version == "v3":
        return payload["data"]
    return payload if type(payload) is list else [payload]


def _v3_event_id(event: dict[str, Any]) -> str | None:
    eid = event.get("event_id")
    return eid if type(eid) is str and eid else None


def _scalar(value: Any) -> Any:
    """Only short scalars go into logs (never structures that could hold PII)."""
    if value is None or type(value) in (int, float, bool):
        return value
    if type(value) is str:
        return value[:64]
    return None


class _Server(ThreadingHTTPServer):
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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "snap-capi-emulator"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 30  # an idle keep-alive connection gives its worker back after this
    server: _Server

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

    def _read_body(self) -> bytes:
        """Read the whole request body (Content-Length or chunked) up to :data:`HARD_BODY_LIMIT`."""
        limit = min(self._emu.max_body_bytes or HARD_BODY_LIMIT, HARD_BODY_LIMIT)
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                field = line.split(b";")[0].strip()
                if not _CHUNK_SIZE.fullmatch(field):  # "-5", "+5", "0x5", "1_0": not a chunk size
                    raise _BodyError(400, "Malformed chunked body: invalid chunk size", close=True)
                size = int(field, 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                if total + size > limit:
                    raise _BodyError(413, self._too_large(), close=True)
                chunk = self.rfile.read(size)
                if len(chunk) < size:
                    raise _BodyError(400, "Malformed chunked body: truncated chunk", close=True)
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
                raise _BodyError(400, "Invalid Content-Length", close=True) from None
            if length > limit:
                raise _BodyError(413, self._too_large(), close=True)
            body = self.rfile.read(length) if length else b""
        return body

    def _too_large(self) -> str:
        limit = self._emu.max_body_bytes
        return f"Request body too large: the limit is {limit} bytes" if limit else "Request body too large"

    def _decode(self, body: bytes) -> tuple[bytes, Any]:
        """Decompress (gzip) and parse JSON into ``(raw, payload)``, or raise _BodyError."""
        body = self._inflate(body)
        try:
            return body, json.loads(body, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            raise _BodyError(400, "Request body is not valid JSON") from None

    def _inflate(self, body: bytes) -> bytes:
        """Decompress (gzip) a non-empty body within the size limit, or raise _BodyError."""
        limit = self._emu.max_body_bytes or HARD_BODY_LIMIT
        encoding = self.headers.get("Content-Encoding", "").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            self._gzip = True
            try:
                inflater = zlib.decompressobj(wbits=31)
                out = inflater.decompress(body, limit + 1)
            except zlib.error:
                raise _BodyError(400, "Request body is not valid gzip") from None
            if len(out) > limit:
                raise _BodyError(413, f"Request body too large: the limit is {limit} bytes (decompressed)")
            if not inflater.eof:
                raise _BodyError(400, "Request body is truncated gzip")
            body = out
        elif encoding not in ("", "identity"):
            raise _BodyError(415, "Unsupported Content-Encoding (use gzip or none)")
        if not body:
            raise _BodyError(400, "Request body is empty")
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
            except _BodyError as exc:
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
        except _BodyError as exc:
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
        if int(self.headers.get("Content-Length") or 0) > 65536:
            raise _BodyError(413, "token request too large", close=True)
        status, answer = oauth.grant(self._read_body(), self.headers.get("Content-Type", ""))
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
            early = (401, _INVALID_TOKEN, [])
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
            raise _BodyError(413, f"Request body too large: the limit is {limit} bytes")

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
        kind = fault.kind
        encoding = self.headers.get("Content-Encoding", "")
        self._gzip = "gzip" in encoding.lower()
        self._n_events = _quick_count(body, version, encoding)
        if kind == "drop":
            self.close_connection = True
            self._status = 0
            return
        if kind == "429":
            headers = [] if fault.retry_after is None else [("Retry-After", str(fault.retry_after))]
            self._send(429, {"status": "INVALID", "reason": "Too many requests"}, headers=headers)
        elif kind == "500":
            self._send(500, {"status": "INTERNAL_ERROR", "reason": "Internal server error"})
        elif kind == "502":
            self._send(
                502, body=b"<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html"
            )
        elif kind == "503":
            self._send(503, body=b"Service Unavailable", content_type="text/plain")
        elif kind == "401":
            self._send(401, _INVALID_TOKEN)
        elif kind == "invalid_200":
            self._send(200, {"status": "INVALID", "reason": "The request could not be processed."})
        elif kind == "garbage_200":
            self._send(200, body=b"<html><body>OK</body></html>", content_type="text/html")
        elif kind == "bad_event_400":
            index = min(fault.event_index, max(self._n_events - 1, 0))
            msg = f"Event at index {index} is invalid."
            if version == "v2":
                self._send(
                    400,
                    {
                        "status": "FAILED",
                        "reason": msg,
                        "error_records": [{"reason": msg, "record_indexes": [index]}],
                    },
                )
            else:
                self._send(
                    400,
                    {
                        "status": "INVALID",
                        "reason": msg,
                        "event": index,
                        "errors": {"codes": ["INVALID_EVENT"], "error_msgs": [msg]},
                    },
                )

    def _count_only(self, version: str, body: bytes) -> None:
        """Count-only mode: count the events and scan their ids, no parsing, no validation."""
        emu = self._emu
        self._n_events = n = count_events(body, version)
        if n == 0:
            raise _BodyError(400, "Request body must contain at least one event")
        if n > emu.max_events_per_request:
            raise _BodyError(
                400,
                f"Too many events: {n} in one request, the limit is {emu.max_events_per_request} per request",
            )
        if version == "v2":
            self._asset = scan_v2_asset(body)
        emu._record_counted(self._asset, n, scan_ids(body, version))
        self._send(200, _V3_OK if version == "v3" else _V2_OK)

    # ------------------------------------------------------------------ v3

    def _v3_events(self, kind: str, raw: bytes, payload: Any) -> None:
        emu = self._emu
        data = payload.get("data") if type(payload) is dict else None
        if type(data) is not list:
            raise _BodyError(400, "Request body must be a JSON object with a 'data' list of events")
        self._n_events = n = len(data)
        if n == 0:
            raise _BodyError(400, "Param data must contain at least one event")
        if n > emu.max_events_per_request:
            raise _BodyError(
                400,
                f"Too many events: {n} in one request, the limit is {emu.max_events_per_request} per request",
            )
        now = emu.clock()
        max_age = emu.max_event_age_days * _DAY
        skew = emu.max_future_skew_s
        verdicts = [validate_v3_event(ev, now, max_age, skew) for ev in data]
        asset = self._asset

        if kind == "validate":
            logs, first_bad = [], None
            tests = []
            for i, (errs, warns) in enumerate(verdicts):
                status = "INVALID" if errs else "VALID"
                if errs and first_bad is None:
                    first_bad = i
                msgs = [m for _, m in errs]
                logs.append(
                    {
                        "event": i,
                        "status": status,
                        "errors": {"codes": [c for c, _ in errs], "error_msgs": msgs},
                        "warnings": warns,
                    }
                )
                tests.append(_TestEvent(asset, "v3", data[i], now, status, msgs, warns))
            emu._record_tests(tests)
            if first_bad is None:
                reason = "All events are valid."
            else:
                n_bad = sum(1 for errs, _ in verdicts if errs)
                first_msg = verdicts[first_bad][0][0][1]
                reason = f"{n_bad} of {n} events are invalid; first at index {first_bad}: {first_msg}"
            self._send(
                200,
                {
                    "status": "VALID" if first_bad is None else "INVALID",
                    "test_event": True,
                    "reason": reason,
                    "event_logs": logs,
                },
            )
            return

        first_bad = next((i for i, (errs, _) in enumerate(verdicts) if errs), None)
        if first_bad is None:
            emu._record_live(raw, "v3", [(asset, i, _v3_event_id(ev)) for i, ev in enumerate(data)])
            self._send(200, _V3_OK)
            return
        if emu.batch_mode == "partial":
            valid = [
                (asset, i, _v3_event_id(ev))
                for i, (ev, (errs, _)) in enumerate(zip(data, verdicts, strict=True))
                if not errs
            ]
            emu._record_live(raw, "v3", valid)
        errs = verdicts[first_bad][0]
        self._send(
            400,
            {
                "status": "INVALID",
                "reason": errs[0][1],
                "event": first_bad,
                "errors": {"codes": [c for c, _ in errs], "error_msgs": [m for _, m in errs]},
            },
        )

    # ------------------------------------------------------------------ v2

    def _v2_events(self, kind: str, raw: bytes, payload: Any) -> None:
        emu = self._emu
        events = [payload] if type(payload) is dict else payload
        if type(events) is not list:
            raise _BodyError(400, "Request body must be a JSON array of events")
        self._n_events = n = len(events)
        if n == 0:
            raise _BodyError(400, "Request body must contain at least one event")
        if n > emu.max_events_per_request:
            raise _BodyError(
                400,
                f"Too many events: {n} in one request, the limit is {emu.max_events_per_request} per request",
            )
        assets = [v2_asset_id(ev) for ev in events]
        self._asset = next((a for a in assets if a), None)
        if emu.assets is not None and any(a is not None and a not in emu.assets for a in assets):
            self._send(403, {"status": "FAILED", "reason": "No access to this asset"})
            return
        now = emu.clock()
        max_age = emu.max_event_age_days * _DAY
        verdicts = [validate_v2_event(ev, now, max_age, emu.max_future_skew_s) for ev in events]
        bad = [i for i, (errs, _) in enumerate(verdicts) if errs]
        grouped: dict[str, list[int]] = {}
        for i in bad:
            for _, msg in verdicts[i][0]:
                grouped.setdefault(msg, []).append(i)
        error_records = [{"reason": msg, "record_indexes": idx} for msg, idx in grouped.items()]
        reason = f"{len(bad)} of {n} events failed validation." if bad else _V2_OK["reason"]

        if kind == "validate":
            tests, logs = [], []
            for i, (errs, warns) in enumerate(verdicts):
                status = "INVALID" if errs else "VALID"
                msgs = [m for _, m in errs]
                tests.append(_TestEvent(assets[i], "v2", events[i], now, status, msgs, warns))
                logs.append(
                    {
                        "event": i,
                        "status": status,
                        "errors": {"codes": [c for c, _ in errs], "error_msgs": msgs},
                        "warnings": warns,
                    }
                )
            emu._record_tests(tests)
            self._send(
                200,
                {
                    "status": "FAILED" if bad else "SUCCESS",
                    "test_event": True,
                    "reason": reason if bad else "All events are valid.",
                    "error_records": error_records,
                    "event_logs": logs,
                },
            )
            return

        if not bad:
            emu._record_live(raw, "v2", [(assets[i], i, v2_dedup_id(ev)) for i, ev in enumerate(events)])
            self._send(200, _V2_OK)
            return
        bad_set = set(bad)
        if emu.batch_mode == "partial" and len(bad) < n:
            valid = [(assets[i], i, v2_dedup_id(ev)) for i, ev in enumerate(events) if i not in bad_set]
            emu._record_live(raw, "v2", valid)
            self._send(200, {"status": "PARTIAL", "reason": reason, "error_records": error_records})
            return
        self._send(400, {"status": "FAILED", "reason": reason, "error_records": error_records})

    # ------------------------------------------------------------------ control endpoints

    def _control(self, method: str, path: str) -> None:
        emu = self._emu
        try:
            body = self._read_body() if method == "POST" or self.headers.get("Content-Length") else b""
        except _BodyError as exc:
            self.close_connection = self.close_connection or exc.close
            self._send(exc.status, {"status": "ERROR", "reason": exc.reason})
            return
        try:
            peer = ipaddress.ip_address(self.client_address[0].split("%")[0])
            mapped = getattr(peer, "ipv4_mapped", None)
            loopback = (mapped or peer).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            self._send(403, {"status": "ERROR", "reason": "control endpoints are loopback only"})
            return
        asset = self._param("asset_id")
        route = (method, path.rstrip("/"))
        if route == ("GET", "/_emulator/summary"):
            self._send(200, emu.summary())
        elif route == ("GET", "/_emulator/events"):
            self._send(200, emu.accepted_events(asset))
        elif route == ("GET", "/_emulator/test_events"):
            self._send(200, emu.test_events(asset))
        elif route == ("GET", "/_emulator/counts"):
            self._send(200, emu.accepted_count_by_event_id(asset))
        elif route == ("GET", "/_emulator/requests"):
            self._send(200, [asdict(r) for r in emu.requests])
        elif route == ("GET", "/_emulator/faults"):
            self._send(200, {"pending": [f.to_dict() for f in emu.pending_faults], **emu._faults.rate_config})
        elif route == ("POST", "/_emulator/reset"):
            emu.reset()
            self._send(200, {"status": "OK"})
        elif route == ("POST", "/_emulator/faults"):
            self._post_faults(body)
        elif route == ("POST", "/_emulator/oauth/revoke") and emu.oauth is not None:
            emu.revoke_refresh_token()
            self._send(200, {"status": "OK", **emu.oauth.counts()})
        elif route == ("POST", "/_emulator/oauth/expire") and emu.oauth is not None:
            emu.expire_access_tokens()
            self._send(200, {"status": "OK", **emu.oauth.counts()})
        elif route == ("GET", "/_emulator/config"):
            self._send(200, {"count_only": emu.count_only})
        elif route == ("POST", "/_emulator/config"):
            self._post_config(body)
        else:
            self._send(404, {"status": "ERROR", "reason": "unknown control endpoint"})

    def _post_config(self, body: bytes) -> None:
        """Take ``{"count_only": true|false}``; answer the configuration now in force."""
        emu = self._emu
        try:
            spec = json.loads(body or b"null")
        except ValueError:
            spec = None
        if not isinstance(spec, dict) or set(spec) - {"count_only"} or not all(
            type(v) is bool for v in spec.values()
        ):
            self._send(400, {"status": "ERROR", "reason": 'expected a JSON object such as {"count_only": true}'})
            return
        if "count_only" in spec:
            emu.count_only = spec["count_only"]
        self._send(200, {"status": "OK", "count_only": emu.count_only})

    def _post_faults(self, body: bytes) -> None:
        """Take a JSON list of faults, or ``{"faults": [...], "rate": r, "kinds": [...], "seed": s}``."""
        emu = self._emu
        try:
            spec = json.loads(body or b"null")
            if isinstance(spec, list):
                spec = {"faults": spec}
            if not isinstance(spec, dict):
                raise ValueError("expected a JSON list of faults or an object")
            faults = [Fault.from_dict(f) for f in spec.get("faults", [])]
            if "rate" in spec:
                emu.set_fault_rate(spec["rate"], spec.get("kinds", DEFAULT_RANDOM_KINDS), spec.get("seed"))
        except (ValueError, TypeError) as exc:
            self._send(400, {"status": "ERROR", "reason": str(exc)})
            return
        emu.add_faults(*faults)
        self._send(200, {"status": "OK", "scheduled": len(emu.pending_faults)})


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


def _is_loopback_host(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False
