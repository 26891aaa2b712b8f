"""Operators of the Snap Conversions API provider: :mod:`snap_capi_provider.operators.snap_capi`."""

from __future__ import annotations

from airflow.utils.deprecation_tools import add_deprecated_classes

_NEW = "snap_capi_provider.operators.snap_capi"

# The import paths of the previous release, kept for one release as modules that warn on use.
add_deprecated_classes(
    {
        "send_events": {"SnapCapiSendEventsOperator": f"{_NEW}.SnapCapiSendEventsOperator"},
        "validate": {"SnapCapiValidateOperator": f"{_NEW}.SnapCapiValidateOperator"},
        "_rows": {"SnapCapiRowsOperator": f"{_NEW}.SnapCapiRowsOperator"},
        "test_event_logs": {"SnapCapiTestEventLogsOperator": f"{_NEW}.SnapCapiTestEventLogsOperator"},
    },
    package=__name__,
)
