"""Keep the access token out of every log line, exception and repr."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

_TOKEN_PARAM = re.compile(r"(access_token=)[^&\s'\"]+", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
REDACTED = "***"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known secrets, ``access_token=`` values and bearer tokens replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _TOKEN_PARAM.sub(rf"\g<1>{REDACTED}", text)
    return _BEARER.sub(rf"\g<1>{REDACTED}", text)


class TokenRedactingFilter(logging.Filter):
    """Rewrites records that carry a URL with ``access_token=`` (urllib3 logs full request lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "access_token" in message.lower() or "bearer" in message.lower():
            record.msg, record.args = redact(message), ()
        return True


_FILTER = TokenRedactingFilter()


def install_log_filters() -> None:
    """Attach the filter to the loggers of the HTTP stack (idempotent)."""
    for name in ("urllib3.connectionpool", "urllib3.util.retry", "requests", "aiohttp.client"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
