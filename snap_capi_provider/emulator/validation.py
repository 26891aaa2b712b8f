"""Strict per-event validation for the emulated Snap Conversions API (v3 and legacy v2).

Written from the shared spec (``SNAP_CAPI.md``) alone, independently of the provider's client code,
so that the emulator does not share the client's misreadings. Error messages never echo user data.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import Any

EVENT_NAMES = frozenset(
    """PAGE_VIEW VIEW_CONTENT LIST_VIEW SEARCH ADD_CART ADD_TO_WISHLIST START_CHECKOUT ADD_BILLING PURCHASE
    SIGN_UP LOGIN SUBSCRIBE START_TRIAL SAVE SHARE INVITE RESERVE RATE AD_CLICK AD_VIEW COMPLETE_TUTORIAL
    LEVEL_COMPLETE ACHIEVEMENT_UNLOCKED SPENT_CREDITS APP_INSTALL APP_OPEN CUSTOM_EVENT_1 CUSTOM_EVENT_2
    CUSTOM_EVENT_3 CUSTOM_EVENT_4 CUSTOM_EVENT_5""".split()
)
ACTION_SOURCES = frozenset({"WEB", "MOBILE_APP", "OFFLINE"})

V3_ROOT_KEYS = frozenset(
    """event_name event_time action_source event_id event_source_url user_data custom_data app_data
    data_processing_options data_processing_options_country data_processing_options_state""".split()
)
V3_HASHED_KEYS = frozenset("em ph fn ln ge db ct st zp country external_id".split())
V3_RAW_KEYS = frozenset("client_ip_address client_user_agent sc_click_id sc_cookie1 madid idfv".split())
V3_CUSTOM_DATA_KEYS = frozenset(
    """currency value order_id content_ids content_category content_name content_type num_items
    search_string sign_up_method contents brands delivery_category predicted_ltv event_tag level
    description""".split()
)
V3_APP_DATA_KEYS = frozenset({"advertiser_tracking_enabled", "extinfo", "app_id"})

V2_HASHED_KEYS = (
    "hashed_email hashed_phone_number hashed_ip_address hashed_mobile_ad_id hashed_idfv "
    "hashed_first_name_sha "
    "hashed_middle_name_sha hashed_last_name_sha hashed_city_sha hashed_state_sha hashed_zip"
).split()
V2_SOUNDEX_KEYS = (
    "hashed_first_name_sdx hashed_middle_name_sdx hashed_last_name_sdx hashed_city_sdx hashed_state_sdx"
).split()

#: Any integer at least this large is not Unix seconds (it is ms or µs): year 5138 in seconds.
MAX_UNIX_SECONDS = 10**11
#: v2 accepts ms too; anything at least this large is neither seconds nor milliseconds.
MAX_UNIX_MILLIS = 10**14

_HEX64 = re.compile(r"[0-9a-f]{64}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_SOUNDEX = re.compile(r"[A-Z][0-9]{3}")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_ .-]{1,40}")
_NUMERIC_STR = re.compile(r"\s*-?[0-9]+(\.[0-9]+)?\s*")

Errors = list[tuple[str, str]]  # (code, message)


@lru_cache(maxsize=65536)
def _valid_ip(value: str) -> bool:
    try:
        return ipaddress.ip_address(value) is not None
    except ValueError:
        return False


def _is_hash(value: Any) -> bool:
    return type(value) is str and _HEX64.fullmatch(value) is not None


def _hashed_ok(value: Any) -> bool:
    if type(value) is str:
        return _HEX64.fullmatch(value) is not None
    if type(value) is list and value:
        return all(type(x) is str and _HEX64.fullmatch(x) is not None for x in value)
    return False


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


def _show(value: Any) -> str:
    """A field value safe to put in a message (short identifiers only), else a placeholder."""
    if type(value) is str and _SAFE_NAME.fullmatch(value):
        return repr(value)
    return f"<{type(value).__name__}>"


def _key(name: Any) -> str:
    return repr(str(name)[:64])


def _check_choice(errors: Errors, value: Any, choices: Any, missing: str, code: str, invalid: str) -> Any:
    """``value`` of a required field that takes one of ``choices``: ``MISSING_PARAM`` with ``missing`` when
    absent, else ``code`` with ``invalid`` (``{}`` stands for the value shown) when not one of them."""
    if value is None:
        errors.append(("MISSING_PARAM", missing))
    elif type(value) is not str or value not in choices:
        errors.append((code, invalid.format(_show(value)) if "{}" in invalid else invalid))
    return value


def validate_v3_event(event: Any, now: float, max_age_s: float, max_future_s: float) -> tuple[Errors, list[str]]:
    """Validate one v3 event; return ``(errors, warnings)`` where errors are ``(code, message)``."""
    errors: Errors = []
    warnings: list[str] = []
    if type(event) is not dict:
        return [("INVALID_EVENT", "Each entry of data must be a JSON object.")], warnings

    for key in event:
        if key not in V3_ROOT_KEYS:
            errors.append(("UNKNOWN_FIELD", f"unknown event field {_key(key)}"))

    name = _check_choice(errors, event.get("event_name"), EVENT_NAMES, "Param data['event_name'] is required.",
                         "INVALID_EVENT_NAME", "Unrecognized event type: {}")

    ts = event.get("event_time")
    if ts is None:
        errors.append(("MISSING_PARAM", "Param data['event_time'] is required."))
    elif type(ts) is not int:
        errors.append(
            ("INVALID_EVENT_TIME", "Param data['event_time'] must be an integer number of Unix seconds.")
        )
    elif ts <= 0 or ts >= MAX_UNIX_SECONDS:
        errors.append(("INVALID_EVENT_TIME", "Param data['event_time'] is an invalid Unix timestamp."))
    elif now - ts > max_age_s:
        days = max_age_s / 86400
        errors.append(
            ("EVENT_TOO_OLD", f"Param data['event_time'] is older than {days:g} days; the event is too old.")
        )
    elif ts - now > max_future_s:
        errors.append(
            ("EVENT_IN_FUTURE", f"Param data['event_time'] is more than {max_future_s:g} s in the future.")
        )

    source = _check_choice(errors, event.get("action_source"), ACTION_SOURCES,
                           "Param data['action_source'] is required.", "INVALID_ACTION_SOURCE",
                           "Param data['action_source'] must be one of WEB, MOBILE_APP, OFFLINE.")

    url = event.get("event_source_url")
    if url is None:
        if source == "WEB":
            warnings.append("event_source_url is recommended for WEB events.")
    elif type(url) is not str or not url.strip():
        errors.append(("INVALID_PARAM", "Param data['event_source_url'] must be a non-empty string."))

    if "event_id" in event:
        eid = event["event_id"]
        if type(eid) is not str or not eid.strip():
            errors.append(("INVALID_EVENT_ID", "Param data['event_id'] must be a non-empty string."))
    else:
        warnings.append("event_id is missing: the event cannot be deduplicated.")

    user = event.get("user_data")
    has_identity = False
    if user is not None and type(user) is not dict:
        errors.append(("INVALID_USER_DATA", "Param data['user_data'] must be an object."))
    elif user:
        for key, value in user.items():
            if key in V3_HASHED_KEYS:
                if not _hashed_ok(value):
                    errors.append(
                        (
                            "INVALID_HASH",
                            f"Param data['user_data'][{_key(key)}] must be a lowercase hex SHA-256 "
                            "string or a non-empty list of them.",
                        )
                    )
            elif key == "client_ip_address":
                if type(value) is not str or not _valid_ip(value):
                    errors.append(
                        (
                            "INVALID_IP",
                            "Param data['user_data']['client_ip_address'] is not a valid IP address.",
                        )
                    )
            elif key in V3_RAW_KEYS:
                if type(value) is not str or not value:
                    errors.append(
                        ("INVALID_PARAM", f"Param data['user_data'][{_key(key)}] must be a non-empty string.")
                    )
            else:
                errors.append(("UNKNOWN_FIELD", f"unknown user_data field {_key(key)}"))
        has_identity = (
            "em" in user
            or "ph" in user
            or "madid" in user
            or ("client_ip_address" in user and "client_user_agent" in user)
        )
    if not has_identity:
        errors.append(
            (
                "INSUFFICIENT_PII",
                "insufficient PII: user_data needs em, ph, madid, "
                "or client_ip_address and client_user_agent.",
            )
        )

    custom = event.get("custom_data")
    if custom is not None and type(custom) is not dict:
        errors.append(("INVALID_CUSTOM_DATA", "Param data['custom_data'] must be an object."))
        custom = None
    if custom:
        for key in custom:
            if key == "event_id":
                errors.append(
                    ("EVENT_ID_NOT_AT_ROOT", "event_id must be at the event root, not inside custom_data.")
                )
            elif key not in V3_CUSTOM_DATA_KEYS:
                errors.append(("UNKNOWN_FIELD", f"unknown custom_data field {_key(key)}"))
        if "currency" in custom and (
            type(custom["currency"]) is not str or not _CURRENCY.fullmatch(custom["currency"])
        ):
            errors.append(
                (
                    "INVALID_CURRENCY",
                    "Param data['custom_data']['currency'] must be an upper-case ISO 4217 code.",
                )
            )
        if "value" in custom and not _is_number(custom["value"]):
            errors.append(("INVALID_VALUE", "Param data['custom_data']['value'] must be a number."))
        if "num_items" in custom and type(custom["num_items"]) is not int:
            errors.append(("INVALID_PARAM", "Param data['custom_data']['num_items'] must be an integer."))
        if "content_ids" in custom and not (
            type(custom["content_ids"]) is list and all(type(x) is str for x in custom["content_ids"])
        ):
            errors.append(
                ("INVALID_PARAM", "Param data['custom_data']['content_ids'] must be a list of strings.")
            )
        if "contents" in custom and not (
            type(custom["contents"]) is list and all(type(x) is dict for x in custom["contents"])
        ):
            errors.append(
                ("INVALID_PARAM", "Param data['custom_data']['contents'] must be a list of objects.")
            )
    if name == "PURCHASE":
        if not custom or "currency" not in custom:
            errors.append(("MISSING_CURRENCY", "PURCHASE events require custom_data.currency."))
        if not custom or "value" not in custom:
            errors.append(("MISSING_VALUE", "PURCHASE events require a numeric custom_data.value."))

    app = event.get("app_data")
    if app is not None:
        if type(app) is not dict:
            errors.append(("INVALID_APP_DATA", "Param data['app_data'] must be an object."))
        else:
            for key in app:
                if key not in V3_APP_DATA_KEYS:
                    errors.append(("UNKNOWN_FIELD", f"unknown app_data field {_key(key)}"))
            ate = app.get("advertiser_tracking_enabled")
            if ate is not None and ate not in (0, 1):
                errors.append(
                    (
                        "INVALID_APP_DATA",
                        "Param data['app_data']['advertiser_tracking_enabled'] must be 0 or 1.",
                    )
                )
            ext = app.get("extinfo")
            if ext is not None and not (type(ext) is list and all(type(x) is str for x in ext)):
                errors.append(
                    ("INVALID_APP_DATA", "Param data['app_data']['extinfo'] must be a list of strings.")
                )

    dpo = event.get("data_processing_options")
    if dpo is not None and not (type(dpo) is list and all(type(x) is str for x in dpo)):
        errors.append(("INVALID_PARAM", "Param data['data_processing_options'] must be a list of strings."))
    for key in ("data_processing_options_country", "data_processing_options_state"):
        if key in event and type(event[key]) is not int:
            errors.append(("INVALID_PARAM", f"Param data[{_key(key)}] must be an integer."))
    return errors, warnings


def v2_asset_id(event: Any) -> str | None:
    """The asset a v2 event belongs to: its ``pixel_id``, else its ``snap_app_id``."""
    if type(event) is not dict:
        return None
    for key in ("pixel_id", "snap_app_id"):
        value = event.get(key)
        if type(value) is str and value:
            return value
    return None


def v2_dedup_id(event: dict[str, Any]) -> str | None:
    """The v2 deduplication key: ``client_dedup_id``, else ``transaction_id``."""
    for key in ("client_dedup_id", "transaction_id"):
        value = event.get(key)
        if value is not None and value != "":
            return str(value)
    return None


def _v2_number(value: Any) -> float | None:
    if type(value) is int or type(value) is float:
        return float(value)
    if type(value) is str and _NUMERIC_STR.fullmatch(value):
        return float(value)
    return None


def validate_v2_event(event: Any, now: float, max_age_s: float, max_future_s: float) -> tuple[Errors, list[str]]:
    """Validate one legacy v2 flat event; return ``(errors, warnings)``. Unknown keys are ignored."""
    if type(event) is not dict:
        return [("INVALID_EVENT", "Each event must be a JSON object.")], []
    errors: Errors = []
    warnings: list[str] = []

    pixel = event.get("pixel_id")
    if pixel is not None:
        if type(pixel) is not str or not pixel:
            errors.append(("INVALID_PARAM", "pixel_id must be a non-empty string."))
    else:
        app, snap_app = event.get("app_id"), event.get("snap_app_id")
        if not (type(app) is str and app and type(snap_app) is str and snap_app):
            errors.append(("MISSING_PARAM", "pixel_id, or snap_app_id and app_id, is required."))

    etype = _check_choice(errors, event.get("event_type"), EVENT_NAMES, "event_type is required.",
                          "INVALID_EVENT_NAME", "Unrecognized event type: {}")
    conv = _check_choice(errors, event.get("event_conversion_type"), ACTION_SOURCES,
                         "event_conversion_type is required.", "INVALID_PARAM",
                         "event_conversion_type must be one of WEB, MOBILE_APP, OFFLINE.")

    raw_ts = event.get("timestamp")
    if raw_ts is None or raw_ts == "":
        errors.append(("MISSING_PARAM", "timestamp is required."))
    else:
        ts = _v2_number(raw_ts) if type(raw_ts) is not bool else None
        if ts is None or ts <= 0 or ts >= MAX_UNIX_MILLIS:
            errors.append(("INVALID_TIMESTAMP", "timestamp is an invalid Unix timestamp."))
        else:
            if ts >= MAX_UNIX_SECONDS:
                ts /= 1000.0
            if now - ts > max_age_s:
                errors.append(("EVENT_TOO_OLD", f"timestamp is older than {max_age_s / 86400:g} days."))
            elif ts - now > max_future_s:
                errors.append(
                    ("EVENT_IN_FUTURE", f"timestamp is more than {max_future_s:g} s in the future.")
                )

    for key in V2_HASHED_KEYS:
        if key in event and not _is_hash(event[key]):
            errors.append(("INVALID_HASH", f"{key} must be a lowercase hex SHA-256 string."))
    for key in V2_SOUNDEX_KEYS:
        if key in event:
            value = event[key]
            if type(value) is not str or not _SOUNDEX.fullmatch(value):
                errors.append(("INVALID_SOUNDEX", f"{key} must be an American Soundex code like J500."))

    if not (
        event.get("hashed_email")
        or event.get("hashed_phone_number")
        or event.get("hashed_mobile_ad_id")
        or (event.get("hashed_ip_address") and event.get("user_agent"))
    ):
        errors.append(
            (
                "INSUFFICIENT_PII",
                "insufficient PII: need hashed_email, hashed_phone_number, hashed_mobile_ad_id, "
                "or hashed_ip_address and user_agent.",
            )
        )

    price, currency = event.get("price"), event.get("currency")
    if price is not None and price != "" and _v2_number(price) is None:
        errors.append(("INVALID_VALUE", "price must be a number."))
    if (
        currency is not None
        and currency != ""
        and (type(currency) is not str or not _CURRENCY.fullmatch(currency))
    ):
        errors.append(("INVALID_CURRENCY", "currency must be an upper-case ISO 4217 code."))
    if etype == "PURCHASE":
        if price is None or price == "":
            errors.append(("MISSING_VALUE", "PURCHASE events require price."))
        if currency is None or currency == "":
            errors.append(("MISSING_CURRENCY", "PURCHASE events require currency."))

    if conv == "WEB" and not event.get("page_url"):
        warnings.append("page_url is recommended for WEB events.")
    if v2_dedup_id(event) is None:
        warnings.append("client_dedup_id is missing: the event cannot be deduplicated.")
    return errors, warnings
