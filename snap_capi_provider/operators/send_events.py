"""Deprecated import path: use :mod:`snap_capi_provider.operators.snap_capi`."""

from __future__ import annotations

import warnings

from snap_capi_provider.operators.snap_capi import SnapCapiSendEventsOperator

warnings.warn("snap_capi_provider.operators.send_events is deprecated; import SnapCapiSendEventsOperator from "
              "snap_capi_provider.operators.snap_capi.", DeprecationWarning, stacklevel=2)

__all__ = ["SnapCapiSendEventsOperator"]
