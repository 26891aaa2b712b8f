"""The field catalogue: the one place that knows Snap's fields.

For every field: its v3 wire name and location, whether it is hashed, its normalization rule, the
friendly aliases users map from, and its v2 (legacy) name (v2 has no privacy options, line items or
app data). Normalizers, validators, the v2/v3
encoders and the docs all read this table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from snap_capi_provider.core import normalize as rules

Location = Literal["root", "user_data", "custom_data", "app_data"]


@dataclass(frozen=True)
class SnapField:
    key: str
    """v3 wire name (``em``, ``value``, ``event_time``, ...)."""
    location: Location
    rule: Callable[..., object] | None
    """Normalization rule from :mod:`snap_capi_provider.core.normalize` (None: handled specially)."""
    hashed: bool = False
    """Sent as a SHA-256 digest in v3."""
    aliases: tuple[str, ...] = ()
    """Other names a source column or ``field_mapping`` key may use."""
    v2_key: str | None = None
    """Name in the legacy v2 flat event (None: not sent in v2)."""
    v2_hashed: bool = False
    v2_soundex_key: str | None = None
    """v2 also carries an American Soundex code of the normalized value under this name."""
    as_list: bool = False
    """v3 sends the value wrapped in a list (what Snap's SDK does for hashed user data)."""
    description: str = ""
    accepted: tuple[tuple, ...] = ()
    """Examples ``(raw, normalized)`` or ``(raw, context, normalized)``; the docs print them, a test runs them."""
    rejected: tuple[tuple, ...] = ()
    """Examples ``(raw, reason)`` or ``(raw, context, reason)``; ``reason`` None means "absent"."""

    @property
    def names(self) -> tuple[str, ...]:
        return (self.key, *self.aliases)


FIELDS: tuple[SnapField, ...] = (
    # event root
    SnapField("event_name", "root", rules.event_name, aliases=("event", "event_type"), v2_key="event_type",
              description="Snap event name; `purchase`/`add_to_cart` style aliases accepted.",
              accepted=(("purchase", "PURCHASE"), ("Add To Cart", "ADD_CART")),
              rejected=(("BOUGHT", "unknown_event_name"),)),
    SnapField("event_time", "root", None, aliases=("timestamp", "event_timestamp", "time"), v2_key="timestamp",
              description="Aware datetime, ISO-8601 or RFC 2822 text with an offset or an IANA zone name, or "
                          "epoch s/ms/µs; sent as Unix seconds.",
              accepted=(("2024-11-19T07:06:40Z", 1732000000), ("Tue, 19 Nov 2024 07:06:40 GMT", 1732000000),
                        ("2024-11-19T08:06:40+01:00[Europe/Paris]", 1732000000), (1732000000000, 1732000000)),
              rejected=(("now", "invalid_event_time"), ("2024-11-19 07:06:40 EST", "invalid_event_time"),
                        ("2024-11-19 07:06:40", "naive_event_time"))),
    SnapField("action_source", "root", rules.action_source, aliases=("event_conversion_type",),
              v2_key="event_conversion_type", description="WEB, MOBILE_APP or OFFLINE.",
              accepted=(("web", "WEB"), ("physical_store", "OFFLINE")),
              rejected=(("fax", "invalid_action_source"),)),
    SnapField("event_id", "root", rules.plain_text, aliases=("client_dedup_id", "dedup_id"),
              v2_key="client_dedup_id", description="Deduplication key; derived from the row if absent.",
              accepted=(("order-8812", "order-8812"), (8812, "8812")),
              rejected=(("a\x00b", "invalid_control_character"), ("\ud800", "invalid_text_encoding"))),
    SnapField("event_source_url", "root", rules.page_url, aliases=("page_url", "url"), v2_key="page_url",
              description="Page URL; expected for WEB events. Sent as given, but an e-mail address in it is "
                          "replaced by `redacted` (the URL is not hashed).",
              accepted=(("https://shop.example.com/checkout", "https://shop.example.com/checkout"),
                        ("https://shop.example.com/?email=a%40b.com", "https://shop.example.com/?email=redacted"))),
    SnapField("data_processing_options", "root", rules.data_processing_options,
              description="Privacy options: `LDU` (Limited Data Use) asks Snap to limit how it uses the event. "
                          "Sent in v3 only; a bad value always rejects the row, even with "
                          '`invalid_field_policy="drop"`.',
              accepted=(("ldu", ["LDU"]), ('["LDU"]', ["LDU"]), ("[]", None)),
              rejected=(("LDU,OPT_OUT", "invalid_data_processing_options"),
                        ('[["LDU"]]', "invalid_data_processing_options"))),
    # user data
    SnapField("em", "user_data", rules.email, hashed=True, as_list=True,
              aliases=("email", "email_address", "e_mail", "hashed_email"),
              v2_key="hashed_email", v2_hashed=True, description="Email address.",
              accepted=((" Person@Example.com ", "person@example.com"), ("mailto:a.b+tag@x.org", "a.b+tag@x.org"),
                        ("Ann <ann@x.io>", "ann@x.io")),
              rejected=(("a@b", "invalid_email"), ("a@@x.com", "invalid_email"))),
    SnapField("ph", "user_data", rules.phone, hashed=True, as_list=True,
              aliases=("phone", "phone_number", "phone_no", "mobile_phone", "mobile_number", "cell_phone", "telephone",
                       "tel", "msisdn", "hashed_phone_number", "hashed_phone"),
              v2_key="hashed_phone_number", v2_hashed=True,
              description="Phone number with country code (row country or default region).",
              accepted=(("+44 844 412 4653", "448444124653"), ("(650) 555-1212", "US", "16505551212"),
                        ("+44 (0)20 7946 0958", "442079460958"), ("011 44 20 7946 0958", "US", "442079460958")),
              rejected=(("07700 900123", "GB", "invalid_phone"), ("6505551212", "phone_without_country_code"),
                        ("1-800-FLOWERS", "US", "invalid_phone"))),
    SnapField("fn", "user_data", rules.name, hashed=True, as_list=True,
              aliases=("first_name", "fname", "given_name", "hashed_first_name_sha"), v2_key="hashed_first_name_sha",
              v2_hashed=True, v2_soundex_key="hashed_first_name_sdx", description="First name.",
              accepted=(("Raphaël", "raphaël"), ("O’Brien", "obrien")),
              rejected=((True, "invalid_value_type"), ({"a": 1}, "invalid_value_type"))),
    SnapField("ln", "user_data", rules.name, hashed=True, as_list=True,
              aliases=("last_name", "lname", "surname", "family_name", "hashed_last_name_sha"),
              v2_key="hashed_last_name_sha", v2_hashed=True, v2_soundex_key="hashed_last_name_sdx",
              description="Last name.",
              accepted=(("Straße", "straße"), ("D'Angelo", "dangelo")),
              rejected=(("42", None),)),
    SnapField("ge", "user_data", rules.gender, hashed=True, as_list=True, aliases=("gender", "sex"),
              description="Gender, m or f.",
              accepted=(("Female", "f"), ("M", "m")),
              rejected=(("other", None),)),
    SnapField("db", "user_data", rules.date_of_birth, hashed=True, as_list=True,
              aliases=("date_of_birth", "dob", "birthday", "birth_date"), description="Date of birth.",
              accepted=(("1997-12-26", "19971226"), ("12/26/1997", "19971226"), ("26.12.1997", "19971226"),
                        ("December 26, 1997", "19971226"), (19971226, "19971226")),
              rejected=(("1997", "incomplete_date_of_birth"), ("Dec 26", "incomplete_date_of_birth"),
                        ("02/30/1997", "invalid_date_of_birth"), ("12/26/97", "ambiguous_date_of_birth"),
                        ("2999-01-01", "date_of_birth_in_future"))),
    SnapField("ct", "user_data", rules.city, hashed=True, as_list=True, aliases=("city", "hashed_city_sha"),
              v2_key="hashed_city_sha", v2_hashed=True, v2_soundex_key="hashed_city_sdx", description="City.",
              accepted=(("Menlo Park", "menlopark"), ("São Paulo", "sãopaulo")),
              rejected=((["Paris"], "invalid_value_type"),)),
    SnapField("st", "user_data", rules.state, hashed=True, as_list=True,
              aliases=("state", "province", "hashed_state_sha"), v2_key="hashed_state_sha", v2_hashed=True,
              v2_soundex_key="hashed_state_sdx", description="State or province, two-letter code.",
              accepted=(("California", "ca"), ("Québec", "qc"), ("Bayern", "de", "by"), ("N/A", None)),
              rejected=(([], "invalid_value_type"),)),
    SnapField("zp", "user_data", rules.zip_code, hashed=True, as_list=True,
              aliases=("zip", "zip_code", "zipcode", "postal_code", "postcode", "hashed_zip"),
              v2_key="hashed_zip", v2_hashed=True, description="Zip or postal code.",
              accepted=(("94025-1234", "94025"), (2134, "us", "02134"), ("SW1A 1AA", "gb", "sw1a1aa")),
              rejected=(("940251", "us", "invalid_zip"), ("12", "us", "invalid_zip"), ("x-y", "invalid_zip"))),
    SnapField("country", "user_data", rules.country, hashed=True, as_list=True,
              aliases=("country_code",), description="Country, ISO 3166-1 alpha-2.",
              accepted=(("United States", "us"), ("Deutschland", "de"), ("DEU", "de"), ("uk", "gb")),
              rejected=(("Atlantis", "invalid_country"),)),
    SnapField("external_id", "user_data", rules.external_id, hashed=True, as_list=True,
              aliases=("customer_id",), description="Advertiser's own user id (case kept).",
              accepted=(("User-ABC", "User-ABC"), (1234.0, "1234")),
              rejected=((False, "invalid_value_type"),)),
    SnapField("client_ip_address", "user_data", rules.ip_address,
              aliases=("ip_address", "ip", "client_ip", "hashed_ip_address"), v2_key="hashed_ip_address",
              v2_hashed=True, description="IPv4/IPv6 address; raw in v3, hashed in v2.",
              accepted=(("203.0.113.7", "203.0.113.7"), ("2001:DB8::1", "2001:db8::1"),
                        ("::FFFF:203.0.113.7", "::ffff:203.0.113.7"), ("fe80::1%eth0", "fe80::1")),
              rejected=(("999.1.1.1", "invalid_ip_address"),)),
    SnapField("client_user_agent", "user_data", rules.long_text, aliases=("user_agent",),
              v2_key="user_agent", description="Browser user agent."),
    SnapField("sc_click_id", "user_data", rules.plain_text, aliases=("click_id", "sccid", "ScCid"),
              v2_key="click_id", description="Snap click id (ScCid)."),
    SnapField("sc_cookie1", "user_data", rules.plain_text, aliases=("uuid_c1", "scid", "_scid"),
              v2_key="uuid_c1", description="The `_scid` cookie."),
    SnapField("madid", "user_data", rules.device_id,
              aliases=("mobile_ad_id", "idfa", "gaid", "advertising_id", "hashed_mobile_ad_id"),
              v2_key="hashed_mobile_ad_id", v2_hashed=True,
              description="Mobile advertising id (IDFA/GAID), a UUID; the all-zero id (tracking denied) is left "
                          "out and counted.",
              accepted=(("6D92078A-8246-4BA4-AE5B-76104861E7DC", "6d92078a-8246-4ba4-ae5b-76104861e7dc"),
                        ("{6d92078a82464ba4ae5b76104861e7dc}", "6d92078a-8246-4ba4-ae5b-76104861e7dc")),
              rejected=(("not-an-id", "invalid_madid"), ("00000000-0000-0000-0000-000000000000", None))),
    SnapField("idfv", "user_data", rules.device_id, aliases=("hashed_idfv",), v2_key="hashed_idfv",
              v2_hashed=True, description="iOS identifier for vendor, a UUID."),
    # custom data
    SnapField("currency", "custom_data", rules.currency, v2_key="currency", description="ISO 4217 code.",
              accepted=(("usd", "USD"), ("€", "EUR"), ("US Dollars", "USD")),
              rejected=(("XXX", "invalid_currency"), ("dollars", "invalid_currency"))),
    SnapField("value", "custom_data", rules.amount, aliases=("price", "revenue", "amount"), v2_key="price",
              description="Monetary value of the event.",
              accepted=(("42.50", 42.5), (7, 7.0), ("$1,299.00", 1299.0), ("1.299,00 EUR", 1299.0), ("42,50", 42.5)),
              rejected=(("1,299", "invalid_value"), (-1, "invalid_value"))),
    SnapField("order_id", "custom_data", rules.plain_text, aliases=("transaction_id",), v2_key="transaction_id",
              description="Order id; also the default event_id of a PURCHASE."),
    SnapField("content_ids", "custom_data", rules.string_list, aliases=("item_ids", "product_ids", "sku"),
              v2_key="item_ids", description="List (or comma-separated text) of product ids.",
              accepted=(('["sku-1", "sku-2"]', ["sku-1", "sku-2"]), ("sku-1, sku-2", ["sku-1", "sku-2"])),
              rejected=(('[{"id": 1}]', "invalid_content_ids"), (True, "invalid_content_ids"))),
    SnapField("content_category", "custom_data", rules.plain_text, aliases=("item_category", "category"),
              v2_key="item_category", description="Product category."),
    SnapField("num_items", "custom_data", rules.count, aliases=("number_items", "quantity"),
              v2_key="number_items", description="Number of items.",
              accepted=(("3", 3),),
              rejected=(("1.5", "invalid_num_items"),)),
    SnapField("search_string", "custom_data", rules.plain_text, v2_key="search_string",
              description="Search text."),
    SnapField("sign_up_method", "custom_data", rules.plain_text, v2_key="sign_up_method",
              description="How the user signed up."),
    SnapField("contents", "custom_data", rules.contents,
              description="Line items: a list (or JSON array) of objects with an `id` and optionally a "
                          "`quantity` and an `item_price`. Sent in v3 only.",
              accepted=(('[{"id": "sku-1", "quantity": 1, "item_price": 42.5}]',
                         [{"id": "sku-1", "quantity": 1, "item_price": 42.5}]),
                        ('[{"id": 8812}]', [{"id": "8812"}]), ("[]", None)),
              rejected=(('[{"id": "sku-1", "price": 42.5}]', "invalid_contents"),
                        ('[{"id": "sku-1", "quantity": 1.5}]', "invalid_contents"),
                        ('[{"quantity": 1}]', "invalid_contents"))),
    # app data
    SnapField("advertiser_tracking_enabled", "app_data", rules.advertiser_tracking_enabled,
              description="Whether the user allows tracking (iOS ATT): 1 or 0. Sent in v3 only.",
              accepted=((True, 1), ("no", 0), (1.0, 1)),
              rejected=((2, "invalid_advertiser_tracking_enabled"), ("maybe", "invalid_advertiser_tracking_enabled"))),
    SnapField("extinfo", "app_data", rules.extinfo,
              description="App and device details of an app event: 16 texts, starting `i2` (iOS) or `a2` "
                          "(Android). Sent in v3 only.",
              accepted=((["i2", "com.example.app", "1.0", "1.0 (1)", "17.1", "iPhone15,2", "en_US", "GMT-5",
                          "", 1179, 2556, "3", "6", "256", "120", "America/New_York"],
                         ["i2", "com.example.app", "1.0", "1.0 (1)", "17.1", "iPhone15,2", "en_US", "GMT-5",
                          "", "1179", "2556", "3", "6", "256", "120", "America/New_York"]),),
              rejected=(('["i2", "com.example.app"]', "invalid_extinfo"), ("i2", "invalid_extinfo"))),
)

BY_KEY: dict[str, SnapField] = {field.key: field for field in FIELDS}
BY_NAME: dict[str, SnapField] = {name.lower(): field for field in FIELDS for name in field.names}
_BY_COMPACT_NAME = {name.replace("_", ""): field for name, field in BY_NAME.items()}  # PhoneNumber, OrderID
HASHED_KEYS: frozenset[str] = frozenset(field.key for field in FIELDS if field.hashed)
USER_DATA_KEYS: frozenset[str] = frozenset(field.key for field in FIELDS if field.location == "user_data")
IDENTITY_RULE = "em, or ph, or madid, or client_ip_address and client_user_agent"


def resolve(name: str) -> SnapField | None:
    """The field a Snap key or alias names (case-insensitive; spaces and hyphens read as ``_``, so the
    headers ``First Name`` and ``User-Agent`` name ``fn`` and ``client_user_agent``; written without
    them too: ``PhoneNumber``, ``OrderID``), or None."""
    key = _HEADER_BREAK.sub("_", name.strip().lower())
    return BY_NAME.get(key) or _BY_COMPACT_NAME.get(key.replace("_", ""))


_HEADER_BREAK = re.compile(r"[\s\-]+")


def has_identity(present: set[str] | frozenset[str]) -> bool:
    """Snap's identity minimum for one event, given the keys it carries."""
    return bool(
        "em" in present or "ph" in present or "madid" in present
        or ("client_ip_address" in present and "client_user_agent" in present)
    )
