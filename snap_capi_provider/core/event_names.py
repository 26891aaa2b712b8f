"""Event-level values: Snap's event names and action sources, with the aliases other platforms use."""

from __future__ import annotations

import re

from snap_capi_provider.core.text import InvalidValue

EVENT_NAMES: tuple[str, ...] = (
    "PAGE_VIEW", "VIEW_CONTENT", "LIST_VIEW", "SEARCH", "ADD_CART", "ADD_TO_WISHLIST", "START_CHECKOUT",
    "ADD_BILLING", "PURCHASE", "SIGN_UP", "LOGIN", "SUBSCRIBE", "START_TRIAL", "SAVE", "SHARE", "INVITE",
    "RESERVE", "RATE", "AD_CLICK", "AD_VIEW", "COMPLETE_TUTORIAL", "LEVEL_COMPLETE", "ACHIEVEMENT_UNLOCKED",
    "SPENT_CREDITS", "APP_INSTALL", "APP_OPEN",
    "CUSTOM_EVENT_1", "CUSTOM_EVENT_2", "CUSTOM_EVENT_3", "CUSTOM_EVENT_4", "CUSTOM_EVENT_5",
)
EVENT_NAME_ALIASES = {
    "ADD_TO_CART": "ADD_CART", "ADDTOCART": "ADD_CART", "CART": "ADD_CART",
    "PAGEVIEW": "PAGE_VIEW", "VIEWCONTENT": "VIEW_CONTENT", "VIEW_ITEM": "VIEW_CONTENT",
    "ADD_TO_WISH_LIST": "ADD_TO_WISHLIST", "WISHLIST": "ADD_TO_WISHLIST",
    "INITIATE_CHECKOUT": "START_CHECKOUT", "BEGIN_CHECKOUT": "START_CHECKOUT", "CHECKOUT": "START_CHECKOUT",
    "ADD_PAYMENT_INFO": "ADD_BILLING", "ORDER": "PURCHASE", "ORDER_COMPLETED": "PURCHASE",
    "COMPLETE_REGISTRATION": "SIGN_UP", "SIGNUP": "SIGN_UP", "REGISTER": "SIGN_UP", "REGISTRATION": "SIGN_UP",
    "SPEND_CREDITS": "SPENT_CREDITS", "INSTALL": "APP_INSTALL", "OPEN": "APP_OPEN",
    # Segment's e-commerce and mobile spec names, as its Snap destination receives them
    "CHECKOUT_STARTED": "START_CHECKOUT", "PRODUCT_ADDED": "ADD_CART", "PRODUCT_VIEWED": "VIEW_CONTENT",
    "PRODUCTS_SEARCHED": "SEARCH", "SIGNED_UP": "SIGN_UP", "PAYMENT_INFO_ENTERED": "ADD_BILLING",
    "PRODUCT_ADDED_TO_WISHLIST": "ADD_TO_WISHLIST", "PRODUCT_LIST_VIEWED": "LIST_VIEW",
    "APPLICATION_INSTALLED": "APP_INSTALL", "APPLICATION_OPENED": "APP_OPEN", "PAGE_VIEWED": "PAGE_VIEW",
    "PRODUCT_SHARED": "SHARE", "TUTORIAL_COMPLETE": "COMPLETE_TUTORIAL", "TUTORIAL_COMPLETED": "COMPLETE_TUTORIAL",
}
ACTION_SOURCES = ("WEB", "MOBILE_APP", "OFFLINE")
ACTION_SOURCE_ALIASES = {"WEBSITE": "WEB", "APP": "MOBILE_APP", "MOBILE": "MOBILE_APP", "STORE": "OFFLINE",
                         "PHYSICAL_STORE": "OFFLINE", "IN_STORE": "OFFLINE",
                         # Meta's offline action sources, which Snap's Offline Events guide maps to OFFLINE
                         "PHONE_CALL": "OFFLINE", "EMAIL": "OFFLINE", "CHAT": "OFFLINE",
                         "SYSTEM_GENERATED": "OFFLINE", "BUSINESS_MESSAGING": "OFFLINE"}


_WORD_BREAK = re.compile(r"[\s\-]+|(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=[0-9])")


def _canonical(text: str) -> str:
    """``AddToWishlist``, ``add-to-wishlist`` and ``add to wishlist`` all read ``ADD_TO_WISHLIST``."""
    return _WORD_BREAK.sub("_", text.strip()).upper()


def event_name(text: str) -> str:
    """Snap's upper-case event name; ``purchase`` and ``add_to_cart`` style aliases are accepted."""
    key = _canonical(text)
    if key in EVENT_NAMES:
        return key
    if key in EVENT_NAME_ALIASES:
        return EVENT_NAME_ALIASES[key]
    raise InvalidValue("unknown_event_name")


def action_source(text: str) -> str:
    """``WEB``, ``MOBILE_APP`` or ``OFFLINE`` (any case, a few aliases)."""
    key = _canonical(text)
    key = ACTION_SOURCE_ALIASES.get(key, key)
    if key not in ACTION_SOURCES:
        raise InvalidValue("invalid_action_source")
    return key
