"""The provider's exceptions (re-exported by :mod:`snap_capi_provider.core.client`)."""

from __future__ import annotations


class SnapCapiError(Exception):
    """Base error; messages never contain the access token or event data."""


class SnapCapiAuthError(SnapCapiError):
    """The token was refused or has no access to the asset (401/403), or could not be refreshed."""


class SnapCapiRetriesExhausted(SnapCapiError):
    """A transient failure persisted through every retry."""

    def __init__(self, message: str, retries: int):
        super().__init__(message)
        self.retries = retries
