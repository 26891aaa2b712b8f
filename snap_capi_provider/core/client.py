"""HTTP client for Snap's Conversions API: one pooled session, retries, the token kept secret.

The client speaks HTTP and retries what is transient (408, 429, 5xx, timeouts, dropped connections) with
exponential backoff and jitter, honouring ``Retry-After``. It never retries another 4xx. It knows paths
and auth of v3 and v2; what a response *means* for each event is decided in
:mod:`snap_capi_provider.core.delivery`.
"""

from __future__ import annotations

import email.utils
import gzip
import ipaddress
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import requests
import tenacity
from requests.adapters import HTTPAdapter

from snap_capi_provider.core.redact import install_log_filters, redact, register_secret, scrub_pii

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://tr.snapchat.com"
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class SnapCapiError(Exception):
    """Base error; messages never contain the access token or event data."""


class SnapCapiAuthError(SnapCapiError):
    """The token was refused or has no access to the asset (401/403)."""


class SnapCapiRetriesExhausted(SnapCapiError):
    """A transient failure persisted through every retry."""

    def __init__(self, message: str, retries: int):
        super().__init__(message)
        self.retries = retries


class _Transient(SnapCapiError):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class ApiResponse:
    """A final (non-retried) HTTP answer: status code, parsed JSON body (None if not JSON)."""

    status_code: int
    body: Any
    text: str
    retries: int = 0
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 120.0


@dataclass
class SnapCapiClient:
    """A thread-safe client for one token. Use as a context manager or call :meth:`close`."""

    access_token: str
    base_url: str = DEFAULT_BASE_URL
    api_version: str = "v3"
    timeout: tuple[float, float] = (5.0, 30.0)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    pool_size: int = 8
    compress: bool = False
    debug: bool = False
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        if not self.access_token:
            raise SnapCapiError("No Snap access token configured.")
        if self.api_version not in ("v2", "v3"):
            raise SnapCapiError(f"api_version must be 'v3' or 'v2', not {self.api_version!r}.")
        self.base_url = check_base_url(self.base_url)
        if self.retry.max_retries < 0 or self.retry.backoff_initial_s < 0 or self.retry.backoff_max_s < 0:
            raise SnapCapiError("Retry settings must not be negative.")
        register_secret(self.access_token)
        install_log_filters()
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self.pool_size, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers.update({"User-Agent": "snap-capi-provider", "Content-Type": "application/json"})

    def __repr__(self) -> str:
        return (f"SnapCapiClient(base_url={self.base_url!r}, api_version={self.api_version!r}, "
                "access_token='***')")

    def __enter__(self) -> SnapCapiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    # ------------------------------------------------------------------------------------ paths

    def events_path(self, asset_id: str, *, validate: bool = False) -> str:
        return endpoint(self.api_version, "validate" if validate else "events", asset_id)[0]

    def stats_path(self, asset_id: str) -> tuple[str, dict[str, str]]:
        return endpoint(self.api_version, "stats", asset_id)

    def logs_path(self, asset_id: str) -> tuple[str, dict[str, str]]:
        return endpoint(self.api_version, "logs", asset_id)

    # ---------------------------------------------------------------------------------- requests

    def post_events(self, asset_id: str, body: bytes, *, validate: bool = False,
                    n_events: int = 0) -> ApiResponse:
        """POST an already-serialized events body (v3 ``{"data": [...]}`` or a v2 JSON array)."""
        path = self.events_path(asset_id, validate=validate)
        return self.request("POST", path, body=body, n_events=n_events)

    def get_json(self, path: str, params: dict[str, str] | None = None) -> ApiResponse:
        return self.request("GET", path, params=params)

    def request(self, method: str, path: str, *, body: bytes | None = None,
                params: dict[str, str] | None = None, n_events: int = 0) -> ApiResponse:
        """One logical request, retried on transient failures; returns the final answer.

        Raises :class:`SnapCapiAuthError` on 401/403 and :class:`SnapCapiRetriesExhausted` when
        retries run out. Any other status is returned for the caller to interpret.
        """
        retries = 0

        def count_retry(state: tenacity.RetryCallState) -> None:
            nonlocal retries
            retries += 1
            exc = state.outcome.exception() if state.outcome else None
            log.warning("Snap CAPI %s %s: %s; retry %d of %d in %.1fs", method, path, exc, retries,
                        self.retry.max_retries, state.upcoming_sleep)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Transient),
            stop=tenacity.stop_after_attempt(self.retry.max_retries + 1),
            wait=self._wait,
            before_sleep=count_retry,
            sleep=self.sleep,
            reraise=True,
        )
        try:
            response = retrying(self._once, method, path, body, params, n_events)
        except _Transient as exc:
            raise SnapCapiRetriesExhausted(
                f"Snap CAPI {method} {path} failed after {retries} retries: {exc}", retries
            ) from None
        response.retries = retries
        return response

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry.max_retry_after_s)
        backoff = tenacity.wait_exponential_jitter(
            initial=self.retry.backoff_initial_s, max=self.retry.backoff_max_s,
            jitter=self.retry.backoff_initial_s,
        )
        return backoff(state)

    def _once(self, method: str, path: str, body: bytes | None, params: dict[str, str] | None,
              n_events: int) -> ApiResponse:
        query = dict(params or {})
        headers = {"Authorization": f"Bearer {self.access_token}"}
        if self.api_version == "v3":
            query["access_token"] = self.access_token
        data = body
        if body is not None and self.compress:
            data = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        started = time.monotonic()
        # Errors are raised *outside* the except blocks: requests' exceptions carry the full URL
        # (token included), and an exception raised inside would keep one as ``__context__``.
        error: SnapCapiError | None = None
        http: requests.Response | None = None
        try:
            http = self._session.request(method, self.base_url + path, params=query, data=data,
                                         headers=headers, timeout=self.timeout)
        except requests.Timeout:
            error = _Transient("timed out")
        except requests.RequestException as exc:
            error = _Transient(f"connection error ({type(exc).__name__})")
        except Exception as exc:  # anything else from the HTTP stack: its text may hold the URL
            error = SnapCapiError(
                f"Snap CAPI {method} {path} failed: {type(exc).__name__}: {self._redact(str(exc))}")
        if error is not None:
            raise error
        assert http is not None
        elapsed = time.monotonic() - started
        text = self._redact(http.text[:2000])
        if self.debug:
            log.info("Snap CAPI %s %s -> %d (%d events, %.3fs): %s", method, path, http.status_code, n_events,
                     elapsed, text)
        if http.status_code in RETRYABLE_STATUS:
            raise _Transient(f"HTTP {http.status_code}", _retry_after(http.headers.get("Retry-After")))
        if http.status_code in (401, 403):
            raise SnapCapiAuthError(
                f"Snap CAPI refused the access token or its access to this asset (HTTP {http.status_code}) "
                f"on {method} {path}: {_reason(text)}"
            )
        try:
            parsed = json.loads(http.content) if http.content else None
        except ValueError:
            parsed = None
        return ApiResponse(http.status_code, parsed, text, elapsed_s=elapsed)

    def _redact(self, text: str) -> str:
        return redact(text, (self.access_token,))


def endpoint(api_version: str, kind: str, asset_id: str) -> tuple[str, dict[str, str]]:
    """Path and query of an endpoint: ``events``, ``validate``, ``stats`` or ``logs`` (spec section 2).

    v2 carries each event's asset in the body, and names it in the query of stats and logs.
    """
    if api_version == "v2":
        path = {"events": "/v2/conversion", "validate": "/v2/conversion/validate",
                "stats": "/v2/conversion/validate/stats", "logs": "/v2/conversion/validate/logs"}[kind]
        return path, ({"asset_id": asset_id} if kind in ("stats", "logs") else {})
    suffix = {"events": "", "validate": "/validate", "stats": "/validate/stats",
              "logs": "/validate/logs"}[kind]
    return f"/v3/{quote(str(asset_id), safe='')}/events{suffix}", {}


def auth(api_version: str, access_token: str) -> tuple[dict[str, str], dict[str, str]]:
    """Headers and query that carry the token: v3 in the query (plus a Bearer header), v2 a Bearer header."""
    headers = {"Authorization": f"Bearer {access_token}"}
    return headers, ({"access_token": access_token} if api_version == "v3" else {})


def log_exchange(method: str, path: str, status: int, n_events: int, elapsed_s: float, text: str) -> None:
    """The debug line of one request: method, path (never the query), status, event count, timing and the
    response body, token-redacted by the caller and PII-scrubbed here. Request bodies are never logged."""
    log.info("Snap CAPI %s %s -> %d (%d events, %.3fs): %s", method, path, status, n_events, elapsed_s,
             scrub_pii(text))


def _reason(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(body, dict) and body.get("reason"):
        return str(body["reason"])[:200]
    return text[:200]


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def check_base_url(url: str | None) -> str:
    """An https URL (Snap or a Launch Pad), or plain http to a loopback host such as the emulator."""
    url = (url or DEFAULT_BASE_URL).strip().rstrip("/")
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return url
    raise SnapCapiError(
        f"Refusing base URL with scheme {parts.scheme!r} and host {parts.hostname!r}: use https "
        "(plain http is allowed only to a loopback host such as the local emulator)."
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
