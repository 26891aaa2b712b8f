"""Deprecated import path: use :mod:`snap_capi_provider.triggers.snap_capi`.

Kept so that a triggerer still holding a trigger serialized under the old classpath
(``snap_capi_provider.triggers.test_event_stats.SnapCapiTestEventStatsTrigger``) can load it.
"""

from __future__ import annotations

import warnings

from snap_capi_provider.triggers.snap_capi import SnapCapiTestEventStatsTrigger

warnings.warn("snap_capi_provider.triggers.test_event_stats is deprecated; import SnapCapiTestEventStatsTrigger "
              "from snap_capi_provider.triggers.snap_capi.", DeprecationWarning, stacklevel=2)

__all__ = ["SnapCapiTestEventStatsTrigger"]
