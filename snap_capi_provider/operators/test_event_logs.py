"""Deprecated import path: use :mod:`snap_capi_provider.operators.snap_capi`."""

from __future__ import annotations

import warnings

from snap_capi_provider.operators.snap_capi import SnapCapiTestEventLogsOperator

warnings.warn("snap_capi_provider.operators.test_event_logs is deprecated; import SnapCapiTestEventLogsOperator "
              "from snap_capi_provider.operators.snap_capi.", DeprecationWarning, stacklevel=2)

__all__ = ["SnapCapiTestEventLogsOperator"]
