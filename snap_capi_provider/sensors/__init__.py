"""Sensors of the Snap Conversions API provider: :mod:`snap_capi_provider.sensors.snap_capi`."""

from __future__ import annotations

from airflow.utils.deprecation_tools import add_deprecated_classes

# The import path of the previous release, kept for one release as a module that warns on use.
add_deprecated_classes(
    {
        "test_event_stats": {
            "SnapCapiTestEventStatsSensor": "snap_capi_provider.sensors.snap_capi.SnapCapiTestEventStatsSensor"
        },
    },
    package=__name__,
)
