"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "snap-capi-provider",
        "name": "Snap Conversions API",
        "description": "Send, validate and monitor conversion events with Snapchat's Conversions API (CAPI).",
        "versions": ["0.1.0"],
        "documentation-url": "https://github.com/snap-capi-provider/snap-capi-provider/tree/main/docs",
        "hooks": [{"integration-name": "Snap Conversions API",
                   "python-modules": ["snap_capi_provider.hooks.snap_capi"]}],
        "operators": [{"integration-name": "Snap Conversions API",
                       "python-modules": ["snap_capi_provider.operators.snap_capi"]}],
        "sensors": [{"integration-name": "Snap Conversions API",
                     "python-modules": ["snap_capi_provider.sensors.snap_capi"]}],
        "triggers": [{"integration-name": "Snap Conversions API",
                      "python-modules": ["snap_capi_provider.triggers.snap_capi"]}],
        "connection-types": [
            {
                "connection-type": "snap_capi",
                "hook-class-name": "snap_capi_provider.hooks.snap_capi.SnapCapiHook",
                "hook-name": "Snap Conversions API",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login", "extra"],
                    "relabeling": {"host": "Base URL", "password": "Access token"},
                    "placeholders": {
                        "host": "https://tr.snapchat.com (or a Launch Pad URL, "
                                "or http://127.0.0.1:8787 for the emulator)",
                        "password": "Conversions API token from Snap Business Manager (or leave empty and "
                                    "fill the OAuth fields)",
                    },
                },
                "conn-fields": {
                    "pixel_id": {
                        "label": "Pixel ID",
                        "description": "Snap Pixel id: the asset for WEB and OFFLINE events.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "snap_app_id": {
                        "label": "Snap App ID",
                        "description": "Snap app id: the asset for MOBILE_APP events.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "app_id": {
                        "label": "App store ID (v2 only)",
                        "description": "iOS App Store id or Android package name, sent with v2 app events.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "api_version": {
                        "label": "API version",
                        "description": "v3 (current) or v2 (legacy wire format).",
                        "schema": {"type": ["string", "null"], "enum": ["v3", "v2"], "default": "v3"},
                    },
                    "client_id": {
                        "label": "OAuth client ID",
                        "description": "OAuth app of Snap's Marketing API, instead of a long-lived token: "
                                       "client id, client secret and refresh token together.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "client_secret": {
                        "label": "OAuth client secret",
                        "description": "The OAuth app's client secret (masked in logs).",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "refresh_token": {
                        "label": "OAuth refresh token",
                        "description": "A refresh token of the OAuth app; access tokens are minted from it "
                                       "and refreshed before they expire (masked in logs).",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "token_url": {
                        "label": "OAuth token URL",
                        "description": "Token endpoint of the refresh grant (https; plain http only to a "
                                       "loopback host such as the emulator).",
                        "schema": {"type": ["string", "null"],
                                   "default": "https://accounts.snapchat.com/login/oauth2/access_token"},
                    },
                    "debug": {
                        "label": "Debug logging",
                        "description": "Log each request's method, path, status, event count, timing and "
                                       "response (token and PII redacted).",
                        "schema": {"type": ["boolean", "null"], "default": False},
                    },
                },
            }
        ],
    }
