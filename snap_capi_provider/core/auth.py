"""Access tokens for Snap's Conversions API: a long-lived token, or OAuth 2.0 refresh-token grants.

A token provider hands the client the access token to put on a request. :class:`StaticToken` wraps a
long-lived Conversions API token. :class:`OAuthTokenProvider` mints access tokens from an OAuth app of
Snap's Marketing API (spec section 9): on first use, shortly before each expires (a margin of 10% of
``expires_in``, at most 60 s) and when the client reports that Snap refused the token. It is thread
safe: every thread of a run shares one token, and a refresh happens under a lock, so concurrent
batches that find the token stale trigger one refresh, not one each.

Every secret (client secret, refresh token, each minted access token) is registered for redaction
and passed to ``on_secret`` (the Airflow layer's ``mask_secret``) as soon as it is known.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import requests

from snap_capi_provider.core.deadlines import (
    MAX_RESPONSE_BYTES,
    ResponseTooLarge,
    attempt_seconds,
    deadline_session,
    read_capped_body,
    watched,
)
from snap_capi_provider.core.errors import SnapCapiAuthError, SnapCapiError
from snap_capi_provider.core.redact import redact, register_secret, scrub_pii
from snap_capi_provider.core.urls import check_https_or_loopback, safe_url

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_TOKEN_URL",
    "OAuthTokenProvider",
    "StaticToken",
    "TokenProvider",
    "check_secret_text",
    "refresh_margin",
]

DEFAULT_TOKEN_URL = "https://accounts.snapchat.com/login/oauth2/access_token"
DEFAULT_EXPIRES_IN = 3600.0
_TRANSIENT = frozenset({408, 429, *range(500, 600)})


class TokenProvider(Protocol):
    """What the clients need: the current token, and a refresh when Snap refused one."""

    kind: str  # "token" (long-lived) or "oauth"

    def token(self) -> str:
        """The access token to use now (minted or refreshed first when needed)."""
        ...

    def refresh(self, stale: str) -> str | None:
        """A fresh token after Snap refused ``stale``; None when this kind cannot refresh."""
        ...

    def secrets(self) -> tuple[str, ...]:
        """Every secret known so far (for redaction)."""
        ...


def refresh_margin(expires_in: float) -> float:
    """Seconds before expiry at which a token is refreshed: 10% of its lifetime, at most 60 s."""
    return min(max(expires_in, 0.0) * 0.1, 60.0)


def check_secret_text(value: str, what: str) -> str:
    """``value`` unchanged if it can travel in a header and a query; else a clear :class:`SnapCapiError`.

    Refuses surrounding whitespace (a pasted trailing newline), control characters and characters
    outside Latin-1, naming the problem but never showing the value."""
    if value != value.strip():
        raise SnapCapiError(f"The {what} starts or ends with whitespace (a pasted newline?): remove it.")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value):  # C0, DEL and C1 controls
        raise SnapCapiError(f"The {what} contains a control character: paste it again.")
    if any(ord(c) > 0xFF for c in value):
        raise SnapCapiError(f"The {what} contains characters outside Latin-1: paste it again.")
    if " " in value:
        raise SnapCapiError(f"The {what} contains a space: paste it again.")
    return value


class StaticToken:
    """A long-lived Conversions API token: never refreshed."""

    kind = "token"

    def __init__(self, access_token: str, on_secret: Callable[[str], Any] | None = None) -> None:
        if not access_token:
            raise SnapCapiError("No Snap access token configured.")
        self._token = access_token
        register_secret(access_token)
        if on_secret is not None:
            on_secret(access_token)

    def token(self) -> str:
        return self._token

    def refresh(self, stale: str) -> str | None:
        return None

    def secrets(self) -> tuple[str, ...]:
        return (self._token,)

    def __repr__(self) -> str:
        return "StaticToken(access_token='***')"


class OAuthTokenProvider:
    """Access tokens minted with ``grant_type=refresh_token`` (form-encoded POST, JSON answer).

    :param client_id: The OAuth app's client id.
    :param client_secret: The OAuth app's client secret.
    :param refresh_token: A refresh token of the app (Snap may rotate it: the new one is then used for
        the rest of the run, with a warning that the connection should be updated).
    :param token_url: The token endpoint (https, or plain http to a loopback host).
    :param timeout: (connect, read) seconds for one token request.
    :param max_retries: Retries of a token request on 408/429/5xx, timeouts and connection errors.
    :param on_secret: Called with every secret as soon as it is known (Airflow's ``mask_secret``).
    :param clock: Monotonic clock (tests).
    """

    kind = "oauth"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        token_url: str = DEFAULT_TOKEN_URL,
        *,
        timeout: tuple[float, float] = (5.0, 30.0),
        max_retries: int = 2,
        on_secret: Callable[[str], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        missing = [n for n, v in (("client_id", client_id), ("client_secret", client_secret),
                                  ("refresh_token", refresh_token)) if not v]
        if missing:
            raise SnapCapiError(f"OAuth needs {', '.join(missing)}.")
        self._on_secret = on_secret
        self._secret(client_secret)
        self._secret(refresh_token)
        self.client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self.token_url = check_https_or_loopback(token_url or DEFAULT_TOKEN_URL, "token URL")
        self.timeout = timeout
        self.max_retries = max(int(max_retries), 0)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = -math.inf
        self._secrets: list[str] = [client_secret, refresh_token]
        self._session: requests.Session | None = None
        #: Tokens minted so far (the first one included).
        self.mints = 0
        #: Whether Snap rotated the refresh token during this run.
        self.rotated = False

    def __repr__(self) -> str:
        return (f"OAuthTokenProvider(client_id={self.client_id!r}, token_url={safe_url(self.token_url)!r}, "
                "client_secret='***', refresh_token='***')")

    def token(self) -> str:
        token = self._token
        if token is not None and self._clock() < self._refresh_at:
            return token
        with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                self._mint()
            assert self._token is not None
            return self._token

    def refresh(self, stale: str) -> str | None:
        with self._lock:
            if self._token is not None and self._token != stale:
                return self._token  # another thread refreshed it already
            self._mint()
            assert self._token is not None
            return self._token

    def secrets(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._secrets)

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    # ------------------------------------------------------------------------ minting (under the lock)

    def _secret(self, value: str) -> None:
        register_secret(value)
        if self._on_secret is not None:
            self._on_secret(value)

    def _mint(self) -> None:
        body = self._post_grant()
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise SnapCapiAuthError("Snap's OAuth token endpoint answered without an access_token.")
        self._secret(token)
        self._secrets.append(token)
        try:
            expires_in = float(body.get("expires_in", DEFAULT_EXPIRES_IN))
        except (TypeError, ValueError):
            expires_in = DEFAULT_EXPIRES_IN
        if not math.isfinite(expires_in) or expires_in <= 0:
            expires_in = DEFAULT_EXPIRES_IN
        now = self._clock()
        self._token = token
        self._refresh_at = now + expires_in - refresh_margin(expires_in)
        self.mints += 1
        rotated = body.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != self._refresh_token:
            self._secret(rotated)
            self._secrets.append(rotated)
            self._refresh_token = rotated
            self.rotated = True
            log.warning("Snap's OAuth token endpoint issued a new refresh token; it is used for the rest "
                        "of this run. Update the connection's refresh_token extra, or later runs may be "
                        "refused.")
        log.info("Snap OAuth access token %s (valid %.0fs).", "minted" if self.mints == 1 else "refreshed",
                 expires_in)

    def _post_grant(self) -> Any:
        form = {"grant_type": "refresh_token", "client_id": self.client_id,
                "client_secret": self._client_secret, "refresh_token": self._refresh_token}
        if self._session is None:
            self._session = deadline_session()
        attempt_s = attempt_seconds(self.timeout)
        attempt = 0
        while True:
            problem: str | None = None
            http: requests.Response | None = None
            # Bounded as a whole, as event requests are: a token endpoint that drips its answer a byte
            # at a time would otherwise hold the run (or a trigger) forever.
            with watched(attempt_s) as deadline:
                try:  # requests form-encodes (and URL-encodes) the dict: secrets may hold + / =
                    http = self._session.post(self.token_url, data=form, timeout=self.timeout, stream=True,
                                              headers={"Accept": "application/json",
                                                       "User-Agent": "snap-capi-provider"})
                    read_capped_body(http)
                except requests.Timeout:
                    problem = "timed out"
                except requests.RequestException as exc:  # its text may hold the URL: name the type only
                    problem = f"connection error ({type(exc).__name__})"
                except ResponseTooLarge:
                    problem = f"an answer of more than {MAX_RESPONSE_BYTES >> 20} MB"
            if problem is not None and http is not None:  # its body broke off or ran over: no answer to read
                http.close()
                http = None
            if deadline.fired and http is None:
                problem = f"timed out (the request took longer than {attempt_s:g}s)"
            if http is not None and http.status_code not in _TRANSIENT:
                break
            if http is not None:
                problem = f"HTTP {http.status_code}"
            if attempt >= self.max_retries:
                raise SnapCapiAuthError(f"Could not refresh the Snap OAuth access token at "
                                        f"{safe_url(self.token_url)}: {problem} after {attempt} retries.")
            attempt += 1
            self._sleep(min(0.5 * 2 ** (attempt - 1), 5.0))
        try:
            body = http.json()
        except (ValueError, RecursionError):
            body = None
        if http.status_code != 200:
            raise SnapCapiAuthError(
                f"Snap refused to refresh the OAuth access token (HTTP {http.status_code} from "
                f"{safe_url(self.token_url)}{_oauth_error(body, http.text, self._secrets)}): check the "
                "connection's client_id, client_secret and refresh_token (a revoked or rotated refresh token "
                "needs a new one).")
        return body


def _oauth_error(body: Any, text: str, secrets: list[str]) -> str:
    """``: invalid_grant (description)`` from an OAuth error answer, secrets redacted, PII scrubbed."""
    if isinstance(body, dict):
        parts = [str(body.get(k)) for k in ("error", "error_description") if body.get(k)]
        detail = " - ".join(parts)
    else:
        detail = " ".join(text.split())[:120]
    detail = scrub_pii(redact(detail[:200], secrets))
    return f": {detail}" if detail else ""
