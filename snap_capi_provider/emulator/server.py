"""The emulator's state: what it accepted and recorded, its configuration, its lifecycle (serving in a
daemon thread), and the stats and logs answers computed from that state."""

from __future__ import annotations

import gc
import ipaddress
import itertools
import json
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from .control import ControlEndpoints
from .endpoints import EventEndpoints, ValidatedEvent
from .faults import DEFAULT_RANDOM_KINDS, Fault, FaultPlan
from .http import HARD_BODY_LIMIT, HttpServer, RequestHandler, RequestRecord
from .oauth import TOKEN_PATH, OAuthApp

__all__ = ["HARD_BODY_LIMIT", "CapiEmulator", "RequestRecord"]

#: The token a fresh emulator accepts; refused (or loudly warned about) off loopback.
DEFAULT_TOKEN = "test-token"
_HOUR = 3600.0
_DAY = 86400.0


class _Handler(EventEndpoints, ControlEndpoints, RequestHandler):
    """The handler served: HTTP plumbing and dispatch, with the event and control endpoints."""


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
        self._server: HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._clear()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> CapiEmulator:
        """Bind and serve in a daemon thread (``port=0`` picks a free port)."""
        if self._server is not None:
            raise RuntimeError("emulator already started")
        self._check_exposure()
        server = HttpServer((self.host, self.port), _Handler, self)
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
            self._counts: Counter[tuple[str | None, str]] = Counter()
            self._live: dict[str | None, list[tuple[float, int]]] = {}  # asset -> (arrival, n accepted)
            self._tests: list[ValidatedEvent] = []
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

    def set_fault_rate(self, rate: float, kinds: Iterable[str] = DEFAULT_RANDOM_KINDS, seed: int | None = None,
                       delay_s: float = 1.0) -> None:
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
            self._counts.update(zip(itertools.repeat(asset), event_ids))
            self._live.setdefault(asset, []).append((now, n_events))

    def _record_tests(self, tests: list[ValidatedEvent]) -> None:
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


def _scalar(value: Any) -> Any:
    """Only short scalars go into logs (never structures that could hold PII)."""
    if value is None or type(value) in (int, float, bool):
        return value
    if type(value) is str:
        return value[:64]
    return None


def _is_loopback_host(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False
