"""Deprecated import path: use :mod:`snap_capi_provider.sensors.snap_capi`."""

from __future__ import annotations

import warnings

from snap_capi_provider.sensors.snap_capi import SnapCapiTestEventStatsSensor

warnings.warn("snap_capi_provider.sensors.test_event_stats is deprecated; import SnapCapiTestEventStatsSensor "
              "from snap_capi_provider.sensors.snap_capi.", DeprecationWarning, stacklevel=2)

__all__ = ["SnapCapiTestEventStatsSensor"]
