"""Triggers of the Snap Conversions API provider: :mod:`snap_capi_provider.triggers.snap_capi`."""

from __future__ import annotations

from airflow.utils.deprecation_tools import add_deprecated_classes

# The classpath of the previous release, kept for one release so that a triggerer still holding a trigger
# serialized under it (``...triggers.test_event_stats.SnapCapiTestEventStatsTrigger``) can load it.
add_deprecated_classes(
    {
        "test_event_stats": {
            "SnapCapiTestEventStatsTrigger": "snap_capi_provider.triggers.snap_capi.SnapCapiTestEventStatsTrigger"
        },
    },
    package=__name__,
)
