"""HTTP client for Snap's Conversions API: one pooled session, retries, the token kept secret.

The client speaks HTTP and retries what is transient (408, 429, 5xx, timeouts, dropped connections) with
exponential backoff and jitter, honouring ``Retry-After``. It never retries another 4xx. It knows paths
and auth of v3 and v2; what a response *means* for each event is decided in
:mod:`snap_capi_provider.core.delivery`.

The token comes from a token provider (:mod:`snap_capi_provider.core.auth`): a long-lived token, or
OAuth. With OAuth, a request refused with 401 (or a 400 whose message is about the token) makes the
client refresh the token once and send that request again. Every attempt has a total deadline
(``total_timeout``, default the longest of ``timeout``), so a server that drips its answer one byte at
a time cannot hold a request for longer: a watchdog closes the connection at the deadline.
"""

from __future__ import annotations

import email.utils
import gzip
import json
import logging
import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests
import tenacity

from snap_capi_provider.core.auth import StaticToken, TokenProvider
from snap_capi_provider.core.deadlines import (
    MAX_RESPONSE_BYTES,
    ResponseTooLarge,
    attempt_seconds,
    deadline_session,
    read_capped_body,
    watched,
)
from snap_capi_provider.core.errors import SnapCapiAuthError, SnapCapiError, SnapCapiRetriesExhausted
from snap_capi_provider.core.redact import install_log_filters, redact, scrub_pii
from snap_capi_provider.core.urls import check_https_or_loopback, is_loopback, safe_url

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://tr.snapchat.com"
RETRYABLE_STATUS = frozenset({408, 429, *range(500, 600)})
"""Request timeout, rate limit and every server error (SNAP_CAPI.md section 5: 5xx is transient; a CDN
in front of a Launch Pad answers 520 to 524 while its origin is briefly away)."""


__all__ = [
    "DEFAULT_BASE_URL",
    "RETRYABLE_STATUS",
    "ApiResponse",
    "RetryPolicy",
    "SnapCapiAuthError",
    "SnapCapiClient",
    "SnapCapiError",
    "SnapCapiRetriesExhausted",
    "auth",
    "check_base_url",
    "endpoint",
    "is_token_message",
    "log_exchange",
]

#: Words of an error message that say the token (not the events) is the problem.
AUTH_HINTS = ("access token", "access_token", "unauthorized", "authentication", "oauth")
# "Invalid token", "Token is expired", "token revoked": the word token with what is wrong with it (a JSON
# parser's "unexpected token" is about the body, not the credential).
_BAD_TOKEN = re.compile(r"\b(?:invalid|expired|revoked|missing|malformed|bad)\W+"
                        r"(?:(?:access|auth|oauth|api|bearer)\W+)?token\b"
                        r"|\btoken\W+(?:\w+\W+){0,2}?(?:invalid|expired|revoked|missing|malformed|not\W+valid)\b")


def is_token_message(message: str) -> bool:
    """Whether an error message from Snap is about the token (Snap sometimes answers a bad one with 400)."""
    lowered = (message or "").lower()
    return any(hint in lowered for hint in AUTH_HINTS) or _BAD_TOKEN.search(lowered) is not None


def is_token_answer(body: Any, text: str) -> bool:
    """Whether an answer's reason or error messages are about the token (:func:`is_token_message`)."""
    return is_token_message(_messages(body, text))


class _Transient(SnapCapiError):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class _TokenRefused(Exception):
    """Snap refused the token of one attempt: 401, or (OAuth) a 400 about the token (``response`` set)."""

    def __init__(self, message: str, token: str, response: ApiResponse | None = None):
        super().__init__(message)
        self.token, self.response = token, response


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

    def wait_s(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds before retry ``attempt`` (1 for the first): the server's ``Retry-After`` (capped),
        else exponential backoff with jitter (capped)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after_s)
        exponential = self.backoff_initial_s * 2 ** (attempt - 1) + random.uniform(0, self.backoff_initial_s)
        return max(0.0, min(exponential, self.backoff_max_s))


@dataclass
class SnapCapiClient:
    """A thread-safe client for one token. Use as a context manager or call :meth:`close`.

    Give either ``access_token`` (a long-lived token) or ``token_provider`` (e.g. OAuth, see
    :mod:`snap_capi_provider.core.auth`). ``timeout`` is (connect, read) per socket operation;
    ``total_timeout`` bounds a whole attempt (default: the longest of ``timeout``).
    """

    access_token: str | None = None
    base_url: str = DEFAULT_BASE_URL
    api_version: str = "v3"
    timeout: tuple[float, float] = (5.0, 30.0)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    pool_size: int = 8
    compress: bool = False
    debug: bool = False
    sleep: Callable[[float], None] = time.sleep
    token_provider: TokenProvider | None = None
    total_timeout: float | None = None

    def __post_init__(self) -> None:
        if self.token_provider is not None and self.access_token:
            raise SnapCapiError("Give the client an access_token or a token_provider, not both.")
        if self.token_provider is None:
            if not self.access_token:
                raise SnapCapiError("No Snap access token configured.")
            self.token_provider = StaticToken(self.access_token)
        self._tokens: TokenProvider = self.token_provider
        self._can_refresh = self._tokens.kind != "token"
        if isinstance(self.timeout, (int, float)):
            self.timeout = (min(float(self.timeout), 10.0), float(self.timeout))
        if self.total_timeout is None:
            self.total_timeout = attempt_seconds(self.timeout)
        if not (self.total_timeout > 0 and math.isfinite(self.total_timeout)):
            raise SnapCapiError("total_timeout must be a positive number of seconds.")
        if self.api_version not in ("v2", "v3"):
            raise SnapCapiError(f"api_version must be 'v3' or 'v2', not {self.api_version!r}.")
        self.base_url = check_base_url(self.base_url)
        if self.retry.max_retries < 0 or self.retry.backoff_initial_s < 0 or self.retry.backoff_max_s < 0:
            raise SnapCapiError("Retry settings must not be negative.")
        install_log_filters()
        self._session = deadline_session(self.pool_size)
        self._session.headers.update({"User-Agent": "snap-capi-provider", "Content-Type": "application/json"})

    def __repr__(self) -> str:
        return (f"SnapCapiClient(base_url={safe_url(self.base_url)!r}, api_version={self.api_version!r}, "
                f"auth={self._tokens.kind!r}, access_token='***')")

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

        Raises :class:`SnapCapiAuthError` on 401/403 (with OAuth: after one refresh and one more try, or
        when the refresh fails) and :class:`SnapCapiRetriesExhausted` when retries run out. Any other
        status is returned for the caller to interpret.
        """
        retries = 0
        refreshed = False

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
            while True:
                refused: _TokenRefused | None = None
                try:
                    response = retrying(self._once, method, path, body, params, n_events)
                except _Transient as exc:
                    raise SnapCapiRetriesExhausted(
                        f"Snap CAPI {method} {path} failed after {retries} retries: {exc}", retries
                    ) from None
                except _TokenRefused as exc:
                    refused = exc
                if refused is None:
                    response.retries = retries
                    return response
                # Handled outside the except block: an error raised there would keep the refusal, which
                # holds the token, as its __context__.
                token, refused_response, message = refused.token, refused.response, str(refused)
                del refused
                if refreshed or not self._can_refresh:
                    if refused_response is not None:  # a 400 about the token: delivery reports it
                        refused_response.retries = retries
                        return refused_response
                    raise SnapCapiAuthError(message)
                refreshed = True
                log.warning("Snap CAPI %s %s: the access token was refused; refreshing it and trying once more.",
                            method, path)
                self._tokens.refresh(token)  # raises SnapCapiAuthError when the refresh fails
                retries += 1
        except SnapCapiAuthError as exc:  # the refused requests were made: the report counts them
            exc.requests = retries + 1  # type: ignore[attr-defined]
            raise

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return self.retry.wait_s(state.attempt_number, getattr(exc, "retry_after", None))

    def _once(self, method: str, path: str, body: bytes | None, params: dict[str, str] | None,
              n_events: int) -> ApiResponse:
        token = self._tokens.token()
        query = dict(params or {})
        headers = {"Authorization": f"Bearer {token}"}
        if self.api_version == "v3":
            query["access_token"] = token
        data = body
        if body is not None and self.compress:
            data = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        started = time.monotonic()
        # Errors are raised *outside* the except blocks: requests' exceptions carry the full URL
        # (token included), and an exception raised inside would keep one as ``__context__``.
        error: SnapCapiError | None = None
        http: requests.Response | None = None
        unreadable: str | None = None
        with watched(self.total_timeout) as deadline:
            try:
                # Redirects are not followed: a 302 would turn the POST into a GET whose answer settled
                # the batch. The body is read here, under the deadline, so a body that breaks after the
                # status line is told apart from a request that never got one.
                http = self._session.request(method, self.base_url + path, params=query, data=data,
                                             headers=headers, timeout=self.timeout, stream=True,
                                             allow_redirects=False)
                try:
                    read_capped_body(http)
                except requests.RequestException as exc:
                    unreadable = type(exc).__name__
                    http.close()
                except ResponseTooLarge:
                    unreadable = f"more than {MAX_RESPONSE_BYTES >> 20} MB"
                    http.close()
            except requests.Timeout:
                error = _Transient("timed out")
            except requests.RequestException as exc:
                error = _Transient(f"connection error ({type(exc).__name__})")
            except Exception as exc:  # anything else from the HTTP stack: its text may hold the URL
                error = SnapCapiError(
                    f"Snap CAPI {method} {path} failed: {type(exc).__name__}: {self._redact(str(exc))}")
        fired = deadline.fired
        if fired and http is None:
            error = _Transient(f"timed out (the attempt took longer than {self.total_timeout:g}s)")
        if error is not None:
            raise error
        assert http is not None
        elapsed = time.monotonic() - started
        if unreadable is not None:
            if 200 <= http.status_code < 300:  # Snap answered and may have recorded the events: never re-sent
                return ApiResponse(http.status_code, None, f"(the response body could not be read: {unreadable})",
                                   elapsed_s=elapsed)
            raise _Transient(f"connection error ({unreadable} reading an HTTP {http.status_code} answer)")
        text = self._redact(http.text[:2000])
        if self.debug:
            log_exchange(method, path, http.status_code, n_events, elapsed, text)  # PII scrubbed there
        if http.status_code in RETRYABLE_STATUS:
            raise _Transient(f"HTTP {http.status_code}", retry_after_seconds(http.headers.get("Retry-After")))
        message = (f"Snap CAPI refused the access token or its access to this asset (HTTP {http.status_code}) "
                   f"on {method} {path}: {_reason(text)}")
        if http.status_code == 401:
            raise _TokenRefused(message, token)
        if http.status_code == 403:
            raise SnapCapiAuthError(message)
        try:
            parsed = json.loads(http.content) if http.content else None
        except (ValueError, RecursionError):  # RecursionError: JSON nested past Python's stack
            parsed = None
        response = ApiResponse(http.status_code, parsed, text, elapsed_s=elapsed)
        if http.status_code == 400 and self._can_refresh and is_token_answer(parsed, text):
            raise _TokenRefused(message, token, response)
        return response

    def _redact(self, text: str) -> str:
        return redact(text, self._tokens.secrets())


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


def _messages(body: Any, text: str) -> str:
    """Snap's reason and error messages of an answer, joined (for :func:`is_token_message`)."""
    if not isinstance(body, dict):
        return text[:500]
    parts = [str(body.get("reason") or "")]
    errors = body.get("errors")
    if isinstance(errors, dict) and isinstance(errors.get("error_msgs"), list):
        parts.extend(str(m) for m in errors["error_msgs"][:5])
    return " ".join(parts)


def _reason(text: str) -> str:
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return text[:200]
    if isinstance(body, dict) and body.get("reason"):
        return str(body["reason"])[:200]
    return text[:200]


def retry_after_seconds(value: str | None) -> float | None:
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
    return check_https_or_loopback(url or DEFAULT_BASE_URL, "base URL")


_is_loopback = is_loopback  # the former private name
