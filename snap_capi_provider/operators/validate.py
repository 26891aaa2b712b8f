"""Deprecated import path: use :mod:`snap_capi_provider.operators.snap_capi`."""

from __future__ import annotations

import warnings

from snap_capi_provider.operators.snap_capi import SnapCapiValidateOperator

warnings.warn("snap_capi_provider.operators.validate is deprecated; import SnapCapiValidateOperator from "
              "snap_capi_provider.operators.snap_capi.", DeprecationWarning, stacklevel=2)

__all__ = ["SnapCapiValidateOperator"]
