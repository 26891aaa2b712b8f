"""URL rules shared by the API clients and the OAuth token provider."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

from snap_capi_provider.core.errors import SnapCapiError


def check_https_or_loopback(url: str, what: str = "base URL") -> str:
    """``url`` (``https://`` added when no scheme is given, trailing ``/`` removed) if it is https, or
    plain http to a loopback host such as the local emulator; else a :class:`SnapCapiError`."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return url
    raise SnapCapiError(
        f"Refusing {what} with scheme {parts.scheme!r} and host {parts.hostname!r}: use https "
        "(plain http is allowed only to a loopback host such as the local emulator)."
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def safe_url(url: str | None) -> str | None:
    """``url`` with any ``user:password@`` replaced by ``***@`` (for ``repr`` and messages)."""
    if not url or "@" not in url:
        return url
    try:
        parts = urlsplit(url if "://" in url else "https://" + url)
    except ValueError:
        return "***"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    shown = urlunsplit(parts._replace(netloc=f"***@{host}"))
    return shown if "://" in url else shown.split("://", 1)[1]
