"""The async read of Snap's Conversions API (for triggers): the sync client's rules over aiohttp.

Same URLs (:func:`~snap_capi_provider.core.client.endpoint`), token placement
(:func:`~snap_capi_provider.core.client.auth`), token provider (OAuth refreshes once on a refused
token), retryable statuses, redaction and debug line as :class:`~snap_capi_provider.core.client.SnapCapiClient`;
the total timeout bounds a whole attempt (aiohttp's ``total``).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from snap_capi_provider.core.auth import StaticToken, TokenProvider
from snap_capi_provider.core.client import (
    DEFAULT_BASE_URL,
    RETRYABLE_STATUS,
    ApiResponse,
    RetryPolicy,
    auth,
    check_base_url,
    endpoint,
    is_token_answer,
    log_exchange,
    retry_after_seconds,
)
from snap_capi_provider.core.deadlines import MAX_RESPONSE_BYTES, attempt_seconds
from snap_capi_provider.core.errors import SnapCapiAuthError, SnapCapiError, SnapCapiRetriesExhausted
from snap_capi_provider.core.redact import install_log_filters, redact
from snap_capi_provider.core.urls import safe_url

__all__ = ["AsyncSnapCapiClient"]


@dataclass
class AsyncSnapCapiClient:
    """Async reads (stats, logs) for one token provider. Use with ``async with``.

    Raises :class:`SnapCapiAuthError` on 401/403 (OAuth: after one refresh and one more try) and
    :class:`SnapCapiRetriesExhausted` when transient failures outlast ``retry.max_retries``.
    """

    access_token: str | None = None
    base_url: str = DEFAULT_BASE_URL
    api_version: str = "v3"
    timeout: tuple[float, float] | float = (5.0, 30.0)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    debug: bool = False
    token_provider: TokenProvider | None = None

    def __post_init__(self) -> None:
        if self.token_provider is None:
            self.token_provider = StaticToken(self.access_token or "")
        self._tokens: TokenProvider = self.token_provider
        if self.api_version not in ("v2", "v3"):
            raise SnapCapiError(f"api_version must be 'v3' or 'v2', not {self.api_version!r}.")
        self.base_url = check_base_url(self.base_url)
        self._total = attempt_seconds(self.timeout)
        self._session: aiohttp.ClientSession | None = None
        install_log_filters()

    def __repr__(self) -> str:
        return (f"AsyncSnapCapiClient(base_url={safe_url(self.base_url)!r}, api_version={self.api_version!r}, "
                f"auth={self._tokens.kind!r}, access_token='***')")

    async def __aenter__(self) -> AsyncSnapCapiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def stats_path(self, asset_id: str) -> tuple[str, dict[str, str]]:
        return endpoint(self.api_version, "stats", asset_id)

    def logs_path(self, asset_id: str) -> tuple[str, dict[str, str]]:
        return endpoint(self.api_version, "logs", asset_id)

    async def get_json(self, path: str, params: dict[str, str] | None = None) -> ApiResponse:
        """GET ``path``, retried on transient failures; the final answer (401/403 raise)."""
        retries, refreshed = 0, False
        while True:
            try:
                response = await self._once(path, params)
            except _Retry as exc:
                if retries >= self.retry.max_retries:
                    raise SnapCapiRetriesExhausted(
                        f"Snap CAPI GET {path} failed after {retries} retries: {exc}", retries) from None
                retries += 1
                await asyncio.sleep(self.retry.wait_s(retries, exc.retry_after))
                continue
            except _Refused as exc:
                if refreshed or exc.status == 403 or self._tokens.kind == "token":
                    raise SnapCapiAuthError(str(exc)) from None
                refreshed = True
                await asyncio.to_thread(self._tokens.refresh, exc.token)  # SnapCapiAuthError if it fails
                retries += 1
                continue
            response.retries = retries
            return response

    async def _once(self, path: str, params: dict[str, str] | None) -> ApiResponse:
        token = await asyncio.to_thread(self._tokens.token)  # may mint (a blocking POST) the first time
        headers, token_query = auth(self.api_version, token)
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"User-Agent": "snap-capi-provider"})
        started = time.monotonic()
        try:
            async with self._session.get(self.base_url + path, params={**(params or {}), **token_query},
                                         headers=headers, allow_redirects=False,  # as the sync client
                                         timeout=aiohttp.ClientTimeout(total=self._total)) as http:
                status, raw = http.status, await _capped_text(http)
                retry_after = retry_after_seconds(http.headers.get("Retry-After"))
        except asyncio.TimeoutError:
            raise _Retry("timed out") from None
        except aiohttp.ClientError as exc:  # its text may hold the URL, and the URL the token
            raise _Retry(f"connection error ({type(exc).__name__})") from None
        elapsed = time.monotonic() - started
        if raw is None:
            raise _Retry(f"an answer of more than {MAX_RESPONSE_BYTES >> 20} MB")
        raw = redact(raw, self._tokens.secrets())
        text = raw[:2000]
        if self.debug:
            log_exchange("GET", path, status, 0, elapsed, text)
        if status in RETRYABLE_STATUS:
            raise _Retry(f"HTTP {status}", retry_after)
        try:
            body: Any = json.loads(raw) if raw else None  # the whole answer: logs run past 2000 characters
        except (ValueError, RecursionError):
            body = None
        # A 400 about the token is refreshed like a 401, as the sync client does (SNAP_CAPI.md section 9).
        if status in (401, 403) or (status == 400 and self._tokens.kind != "token" and is_token_answer(body, text)):
            reason = body.get("reason") if isinstance(body, dict) else text[:200]
            raise _Refused(f"Snap CAPI refused the access token or its access to this asset (HTTP {status}) "
                           f"on GET {path}: {reason}", token, status)
        return ApiResponse(status, body, text, elapsed_s=elapsed)


class _Retry(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class _Refused(Exception):
    def __init__(self, message: str, token: str, status: int):
        super().__init__(message)
        self.token, self.status = token, status


async def _capped_text(http: aiohttp.ClientResponse) -> str | None:
    """The answer's text, or None past :data:`MAX_RESPONSE_BYTES` (decompressed) of it."""
    chunks, size = [], 0
    async for chunk in http.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks).decode(http.charset or "utf-8", "replace")
