"""The emulator's OAuth 2.0 token endpoint: refresh-token grants that mint short-lived access tokens.

``POST /login/oauth2/access_token`` (Snap's path) takes a form-encoded ``grant_type=refresh_token``
with ``client_id``, ``client_secret`` and ``refresh_token``, checks them against the app the emulator
was started with and answers ``{"access_token", "token_type": "Bearer", "expires_in"}``. A wrong
client is 401 ``invalid_client``; a wrong or revoked refresh token is 400 ``invalid_grant``. Minted
tokens are accepted by the events endpoints until they expire.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

TOKEN_PATH = "/login/oauth2/access_token"


class OAuthApp:
    """One OAuth app: its credentials, the tokens it minted and counts of grants."""

    def __init__(self, client_id: str, client_secret: str, refresh_token: str, token_lifetime_s: float = 3600.0,
                 rotate_refresh_token: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
        if not (client_id and client_secret and refresh_token):
            raise ValueError("an OAuth app needs a client id, a client secret and a refresh token")
        if not token_lifetime_s > 0:
            raise ValueError("token_lifetime_s must be positive")
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.token_lifetime_s = float(token_lifetime_s)
        self.rotate_refresh_token = rotate_refresh_token
        self.clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # access token -> expiry (clock seconds)
        self.revoked = False
        self.issued: list[str] = []  # every token minted (tests scan logs for them)
        self.grants = 0  # tokens minted
        self.refused = 0  # grants refused

    def accepts(self, token: str) -> bool:
        with self._lock:
            expiry = self._tokens.get(token)
        return expiry is not None and self.clock() < expiry

    def revoke(self) -> None:
        """Revoke the refresh token: every later grant is refused (minted tokens live on to expiry)."""
        with self._lock:
            self.revoked = True

    def expire_access_tokens(self) -> None:
        """Make every minted access token expire now."""
        with self._lock:
            self._tokens.clear()

    def counts(self) -> dict[str, Any]:
        with self._lock:
            return {"token_refreshes": self.grants, "token_refusals": self.refused, "revoked": self.revoked,
                    "token_lifetime_s": self.token_lifetime_s}

    def grant(self, body: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
        """Answer one token request: (status, JSON body)."""
        if "application/x-www-form-urlencoded" not in content_type.lower():
            return self._refuse(400, "invalid_request", "the body must be form-encoded")
        try:
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8"), strict_parsing=True).items()}
        except (UnicodeDecodeError, ValueError):
            return self._refuse(400, "invalid_request", "malformed form body")
        if form.get("grant_type") != "refresh_token":
            return self._refuse(400, "unsupported_grant_type", "only grant_type=refresh_token is supported")
        if not (secrets.compare_digest(form.get("client_id", ""), self.client_id)
                and secrets.compare_digest(form.get("client_secret", ""), self.client_secret)):
            return self._refuse(401, "invalid_client", "unknown client or wrong client secret")
        with self._lock:
            if self.revoked or not secrets.compare_digest(form.get("refresh_token", ""), self.refresh_token):
                self.refused += 1
                return 400, {"error": "invalid_grant", "error_description": "the refresh token is invalid or revoked"}
            token = "emu-at-" + secrets.token_urlsafe(24)
            self._tokens[token] = self.clock() + self.token_lifetime_s
            now = self.clock()
            self._tokens = {t: e for t, e in self._tokens.items() if e > now}  # forget expired ones
            self.grants += 1
            self.issued.append(token)
            answer: dict[str, Any] = {"access_token": token, "token_type": "Bearer",
                                      "expires_in": self.token_lifetime_s,
                                      "scope": "snapchat-offline-conversions-api snapchat-marketing-api"}
            if self.rotate_refresh_token:
                self.refresh_token = "emu-rt-" + secrets.token_urlsafe(24)
                answer["refresh_token"] = self.refresh_token
                self.issued.append(self.refresh_token)
        return 200, answer

    def _refuse(self, status: int, error: str, description: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.refused += 1
        return status, {"error": error, "error_description": description}
