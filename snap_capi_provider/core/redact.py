"""Keep the access token out of every log line, exception and repr, and PII out of Snap's messages.

:func:`register_secret` remembers a token process-wide; :func:`redact` replaces registered and given
secrets, ``access_token=`` query values and bearer tokens. :func:`install_log_filters` attaches a
filter to the loggers of the HTTP stack (urllib3 logs every request line, query string included, at
DEBUG) so their records are redacted before any handler sees them, tracebacks included.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
from collections.abc import Iterable

_TOKEN_PARAM = re.compile(r"(access_token=)[^&\s'\"]+", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
REDACTED = "***"
# Shorter strings are too likely to occur by chance to be replaced everywhere.
_MIN_SECRET_LENGTH = 6

_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()

#: Loggers of the HTTP stack that may print a URL (and so the token) or a request.
HTTP_LOGGERS = (
    "urllib3", "urllib3.connectionpool", "urllib3.connection", "urllib3.poolmanager", "urllib3.response",
    "urllib3.util.retry", "requests", "aiohttp.client", "aiohttp.internal", "tenacity",
)


def register_secret(secret: str | None) -> None:
    """Remember ``secret`` so every later :func:`redact` and filtered log record hides it."""
    if secret and len(secret) >= _MIN_SECRET_LENGTH:
        with _SECRETS_LOCK:
            _SECRETS.add(secret)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known secrets, ``access_token=`` values and bearer tokens replaced by ``***``."""
    for secret in (*secrets, *_registered()):
        if secret:
            text = text.replace(secret, REDACTED)
    text = _TOKEN_PARAM.sub(rf"\g<1>{REDACTED}", text)
    return _BEARER.sub(rf"\g<1>{REDACTED}", text)


def _registered() -> tuple[str, ...]:
    with _SECRETS_LOCK:
        return tuple(_SECRETS)


def _needs_redaction(text: str) -> bool:
    lowered = text.lower()
    return "access_token" in lowered or "bearer" in lowered or any(s in text for s in _registered())


_EMAIL = re.compile(r"[^\s@'\"<>()\[\]{},;:]+@[^\s@'\"<>()\[\]{},;:]+")
_IPV4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")
_IPV6_CANDIDATE = re.compile(r"[0-9A-Fa-f]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f.]*(?:%[\w.-]+)?")
_LONG_DIGITS = re.compile(r"\+?\d[\d ()./-]{6,}\d")


def scrub_pii(text: str) -> str:
    """Mask what looks like an email, IP address or phone number in a server message.

    Snap's messages name fields, not values; this guards against one that echoes a value before it
    goes into a report, an exception or the rejected-rows file.
    """
    text = _EMAIL.sub("<email>", text)
    text = _IPV6_CANDIDATE.sub(lambda m: "<ip>" if _is_ip(m.group(0)) else m.group(0), text)
    text = _IPV4.sub("<ip>", text)
    return _LONG_DIGITS.sub("<number>", text)


def _is_ip(text: str) -> bool:
    try:
        return ipaddress.ip_address(text) is not None
    except ValueError:
        return False


class TokenRedactingFilter(logging.Filter):
    """Rewrites records that carry a token (a URL with ``access_token=``, a bearer header, a known secret)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: keep only its template, which has no arguments
            message = str(record.msg)
            record.args = ()
        if _needs_redaction(message):
            record.msg, record.args = redact(message), ()
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = redact(text), None
        elif record.exc_text and _needs_redaction(record.exc_text):
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = TokenRedactingFilter()


def install_log_filters(names: Iterable[str] = HTTP_LOGGERS) -> None:
    """Attach the redacting filter to the given loggers (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
