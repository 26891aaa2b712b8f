"""From a DataFrame chunk to normalized, validated events (still wire-format free).

:func:`resolve_mapping` checks a ``field_mapping`` against the input's columns once, before anything
is sent. :func:`build_events` turns one chunk into an :class:`EventChunk` (column-oriented, hashed
where Snap wants hashes) plus the rows it rejected with a reason. Encoders in
:mod:`snap_capi_provider.core.wire` turn an EventChunk into v3 or v2 JSON.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import operator
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import pandas as pd
import pendulum
import phonenumbers

from snap_capi_provider.core import fields as catalogue
from snap_capi_provider.core import normalize as rules
from snap_capi_provider.core.fields import BY_KEY, FIELDS, SnapField
from snap_capi_provider.core.places import country_context
from snap_capi_provider.core.readiness import IDENTIFIER_KEYS, Readiness, identity_masks, present
from snap_capi_provider.core.sources import UNREADABLE
from snap_capi_provider.core.text import column_names

InvalidFieldPolicy = Literal["reject", "drop"]
INVALID_FIELD_POLICIES: tuple[str, ...] = get_args(InvalidFieldPolicy)
DateOrder = Literal["MDY", "DMY"]
DATE_ORDERS: tuple[str, ...] = get_args(DateOrder)
log = logging.getLogger(__name__)
SNAP_MAX_EVENT_AGE_DAYS = 37
"""Snap refuses events older than this (SNAP_CAPI.md section 6)."""
# Fields whose bad value always rejects the row: without them there is no event; and the privacy options,
# since an event sent without the Limited Data Use its row asked for is worse than no event.
_NEVER_DROPPED = frozenset({"event_name", "event_time", "action_source", "event_id", "data_processing_options"})
# Fields whose rule reads the row's normalized country (lower-case alpha-2) as its second argument.
_COUNTRY_CONTEXT = frozenset({"zp", "st"})


class ConfigError(ValueError):
    """An option that cannot work (unknown time zone, bad limit): raised before anything is sent."""


class MappingError(ConfigError):
    """The field mapping does not fit the input: raised before anything is sent."""


@dataclass(frozen=True)
class EventOptions:
    """How rows become events. Every option has a safe default."""

    event_name: str | None = None
    """Event name for rows whose mapped column is empty (or for all rows when none is mapped)."""
    action_source: str = "OFFLINE"
    """Action source for rows whose mapped column is empty."""
    default_phone_region: str | None = None
    """ISO country used to read national phone numbers when the row has no country."""
    timezone: str | None = None
    """Zone of naive timestamps; naive timestamps are rejected when unset."""
    max_event_age_days: float = SNAP_MAX_EVENT_AGE_DAYS
    """Older events are rejected here (``event_too_old``); Snap refuses them past 37 days anyway."""
    max_future_skew_s: float = 300
    event_id_columns: tuple[str, ...] = ()
    """Source columns whose values derive ``event_id`` when none is mapped."""
    invalid_field_policy: InvalidFieldPolicy = "reject"
    """``reject`` a row with an invalid PII value, or ``drop`` just that value (counted as a warning)."""
    hash_madid: bool = False
    """Send ``madid`` SHA-256 hashed in v3 instead of raw lower case (Snap's docs are ambiguous)."""
    date_order: DateOrder = "MDY"
    """How a birth date such as ``12/11/1997`` reads when both first parts could be the month: ``MDY``
    (US, December 11) or ``DMY`` (most of the world, 12 November)."""
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        for name in ("event_name", "action_source", "default_phone_region", "timezone"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"{name} must be text, not {type(value).__name__} ({value!r}).")
        for name in ("max_event_age_days", "max_future_skew_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{name} must be a number, not {type(value).__name__} ({value!r}).")
        if self.date_order not in DATE_ORDERS:
            raise ConfigError(f"date_order must be 'MDY' or 'DMY', not {self.date_order!r}.")
        if self.invalid_field_policy not in INVALID_FIELD_POLICIES:
            raise ConfigError("invalid_field_policy must be 'reject' or 'drop', "
                              f"not {self.invalid_field_policy!r}.")
        if not self.max_event_age_days > 0 or not self.max_future_skew_s >= 0:
            raise ConfigError("max_event_age_days must be positive and max_future_skew_s not negative.")
        if self.max_event_age_days > SNAP_MAX_EVENT_AGE_DAYS:
            log.warning("max_event_age_days=%g: Snap refuses events older than %d days, so the older ones will "
                        "be sent and rejected by Snap (snap_rejected), not rejected here as event_too_old.",
                        self.max_event_age_days, SNAP_MAX_EVENT_AGE_DAYS)
        if self.timezone:
            try:
                pendulum.timezone(self.timezone)
            except (ValueError, pendulum.tz.exceptions.InvalidTimezone):
                raise ConfigError(f"timezone {self.timezone!r} is not a known IANA time zone "
                                  "(e.g. 'Europe/Paris').") from None
        region = self.default_phone_region
        if region and str(region).upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigError(f"default_phone_region {region!r} is not an ISO 3166-1 alpha-2 country "
                              "with a phone numbering plan (e.g. 'US').")
        if isinstance(self.event_id_columns, str):
            raise ConfigError("event_id_columns must be a list of column names, not one string.")


@dataclass
class EventChunk:
    """Valid events of one chunk, column-oriented: ``plain[key][i]`` is event i's normalized value."""

    rows: list[int]
    plain: dict[str, list[object]]
    digests: dict[str, list[str | None]]
    event_ids: list[str]
    masks: np.ndarray | None = None
    """Identifier bit mask of each event (:mod:`snap_capi_provider.core.readiness`)."""

    def __len__(self) -> int:
        return len(self.rows)


@dataclass
class ChunkResult:
    events: EventChunk
    rejected: list[tuple[int, str]] = field(default_factory=list)
    warnings: dict[str, int] = field(default_factory=dict)
    readiness: Readiness = field(default_factory=Readiness)


def resolve_mapping(columns: Sequence[str], field_mapping: Mapping[str, str] | None) -> dict[str, str]:
    """Return ``{snap key: source column}``; raise :class:`MappingError` naming what is wrong.

    With columns to check against, the mapping must name existing, unambiguous columns and cover
    ``event_time`` and Snap's identity minimum, or no row could ever become an event.
    """
    available = [str(column) for column in columns]
    if field_mapping is None:
        resolved = _auto_mapping(available)
    elif isinstance(field_mapping, Mapping):
        resolved = _explicit_mapping(available, field_mapping)
    else:
        raise MappingError("field_mapping must be a dict of Snap field -> column, "
                           f"not {type(field_mapping).__name__}.")
    if available:
        duplicated = sorted({column for column in resolved.values() if available.count(column) > 1})
        if duplicated:
            raise MappingError(f"Column(s) {column_names(duplicated)} appear more than once in the input; "
                               "rename them.")
        if "event_time" not in resolved:
            raise MappingError("No column for event_time, which every event needs: map one, e.g. "
                               f"field_mapping={{'event_time': '<column>', ...}}. {_columns(available)}")
        if not catalogue.has_identity(frozenset(resolved)):
            raise MappingError(f"No identity column: every event needs {catalogue.IDENTITY_RULE}; map at "
                               f"least one (e.g. 'em': '<email column>'). {_columns(available)}")
    return resolved


def _columns(available: Sequence[str], limit: int = 50) -> str:
    return f"Available columns: {column_names(available, limit)}."


def _auto_mapping(available: Sequence[str]) -> dict[str, str]:
    resolved: dict[str, str] = {}
    for column in available:
        snap_field = catalogue.resolve(column)
        if snap_field is None:
            continue
        if snap_field.key in resolved:
            raise MappingError(
                f"Columns {resolved[snap_field.key]!r} and {column!r} both map to Snap field "
                f"{snap_field.key!r}; pass field_mapping to choose one."
            )
        resolved[snap_field.key] = column
    return resolved


def _explicit_mapping(available: Sequence[str], field_mapping: Mapping[str, str]) -> dict[str, str]:
    unknown = [str(name) for name in field_mapping if catalogue.resolve(str(name)) is None]
    if unknown:
        raise MappingError(
            f"Unknown Snap field(s) in field_mapping: {sorted(unknown)}. "
            f"Known fields: {sorted(f.key for f in FIELDS)} (aliases: {sorted(_aliases())})."
        )
    missing = sorted({str(col) for col in field_mapping.values() if str(col) not in available})
    if missing and available:
        raise MappingError(f"field_mapping names missing column(s) {missing}. {_columns(available)}")
    resolved: dict[str, str] = {}
    for name, column in field_mapping.items():
        snap_field = catalogue.resolve(str(name))
        assert snap_field is not None
        if snap_field.key in resolved and resolved[snap_field.key] != str(column):
            raise MappingError(f"Snap field {snap_field.key!r} is mapped twice in field_mapping.")
        resolved[snap_field.key] = str(column)
    return resolved


def _aliases() -> set[str]:
    return {alias for snap_field in FIELDS for alias in snap_field.aliases}


def build_events(frame: pd.DataFrame, mapping: Mapping[str, str], options: EventOptions,
                 first_row: int = 0, row_numbers: Sequence[int] | None = None) -> ChunkResult:
    """Normalize, hash and validate one chunk; every row ends as an event or a rejection.

    Rows are numbered ``first_row + position`` unless ``row_numbers`` gives each row's number (a
    sharded run keeps the positions of the whole input). Rows the source could not read (listed in
    ``frame.attrs[UNREADABLE]``) are rejected with the source's reason.
    """
    n = len(frame)
    numbers = list(row_numbers) if row_numbers is not None else list(range(first_row, first_row + n))
    reasons: list[str | None] = [None] * n
    for position, reason in frame.attrs.get(UNREADABLE, {}).items():
        if 0 <= position < n:
            reasons[position] = reason
    warnings: dict[str, int] = {}
    plain: dict[str, list[object]] = {}
    readiness = Readiness(unmapped=tuple(key for key in IDENTIFIER_KEYS if key not in mapping))

    def reject(errors: Sequence[str | None], snap_field: SnapField, values: Sequence[object]) -> None:
        readiness.note_field(snap_field.key, errors, values)
        if not any(errors):  # the common case: every value of the column accepted
            return
        drop = options.invalid_field_policy == "drop" and snap_field.key not in _NEVER_DROPPED
        for i, error in enumerate(errors):
            if error is None:
                continue
            if drop:
                warnings[f"dropped_{error}"] = warnings.get(f"dropped_{error}", 0) + 1
            elif reasons[i] is None:
                reasons[i] = error

    def column(key: str) -> list[object] | None:
        return frame[mapping[key]].tolist() if key in mapping else None

    # Country first: phones, states and zips read it (a pre-hashed country as the code it is the hash of).
    countries: list[object] = [None] * n
    notes: dict[str, int] = {}  # values absent for a reason worth counting (a placeholder, an opt-out)
    if "country" in mapping:
        country_values, errors = rules.normalize_column(column("country"), BY_KEY["country"].rule, notes=notes)
        reject(errors, BY_KEY["country"], country_values)
        plain["country"] = country_values
        countries = list(map(country_context, country_values))
    done: dict[tuple[str, object], tuple[list[object], list[str | None]]] = {}
    for key, source in mapping.items():  # each by its catalogue rule; structured ones read whole cells
        snap_field = BY_KEY[key]
        if key in ("country", "event_time"):
            continue
        rule = rules.BIRTH_DATE_RULES[options.date_order] if key == "db" else snap_field.rule
        if (source, rule) in done and key not in _COUNTRY_CONTEXT and key != "ph":
            values, errors = done[(source, rule)]  # e.g. one column as both event_id and order_id
        elif key == "ph":
            context = rules.phone_context(countries, options.default_phone_region)
            values, errors = rules.normalize_column(frame[source], rule, context, notes=notes)
        elif key in _COUNTRY_CONTEXT:
            values, errors = rules.normalize_column(frame[source], rule, countries, notes=notes)
        else:
            values, errors = rules.normalize_column(frame[source], rule, notes=notes)
            done[(source, rule)] = (values, errors)
        reject(errors, snap_field, values)
        plain[key] = values
    for note, count in notes.items():
        if note.endswith("_opted_out"):
            readiness.opted_out += count
        else:  # a placeholder (N/A, 0000-00-00): absent, and said in the report's warnings
            warnings[note] = warnings.get(note, 0) + count

    _fill_constant(plain, "event_name", options.event_name, n, reasons, rules.event_name)
    _fill_constant(plain, "action_source", options.action_source, n, reasons, rules.action_source)
    plain["event_time"] = _event_times(column("event_time"), options, n, reasons)

    digests = _hash_columns(plain)
    _check_events(plain, n, reasons, warnings)
    event_ids = _event_ids(frame, plain, digests, options, n, reasons)
    masks = identity_masks(plain, n)

    keep = [i for i in range(n) if reasons[i] is None]
    rejected = [(numbers[i], reasons[i]) for i in range(n) if reasons[i] is not None]
    if len(keep) == n:
        chunk = EventChunk(numbers, plain, digests, event_ids, masks)
    else:
        chunk = EventChunk(
            rows=[numbers[i] for i in keep],
            plain={key: [values[i] for i in keep] for key, values in plain.items()},
            digests={key: [values[i] for i in keep] for key, values in digests.items()},
            event_ids=[event_ids[i] for i in keep],
            masks=masks[keep],
        )
    return ChunkResult(chunk, rejected, warnings, readiness)


def _fill_constant(plain: dict[str, list[object]], key: str, constant: str | None, n: int,
                   reasons: list[str | None], rule: Callable[[str], str]) -> None:
    values = plain.get(key)
    if constant is not None:
        try:
            default = rule(constant)
        except rules.InvalidValue as exc:
            raise MappingError(f"{key}={constant!r} is not accepted by Snap ({exc.reason}).") from None
        values = [default] * n if values is None else [default if value is None else value for value in values]
    values = values or [None] * n
    plain[key] = values
    if None not in values:
        return
    for i, value in enumerate(values):
        if value is None and reasons[i] is None:
            reasons[i] = f"missing_{key}"


def _event_times(values: list[object] | None, options: EventOptions, n: int,
                 reasons: list[str | None]) -> list[object]:
    if values is None:
        for i in range(n):
            reasons[i] = reasons[i] or "missing_event_time"
        return [None] * n
    seconds, errors = rules.normalize_event_times(values, options.timezone)
    now = options.clock()
    oldest = now - options.max_event_age_days * 86400
    newest = now + options.max_future_skew_s
    out: list[object] = [None] * n
    for i, value in enumerate(seconds):
        if errors[i] is not None:
            reasons[i] = reasons[i] or errors[i]
        elif value is None:
            reasons[i] = reasons[i] or "missing_event_time"
        elif value < oldest:
            reasons[i] = reasons[i] or "event_too_old"
        elif value > newest:
            reasons[i] = reasons[i] or "event_in_future"
        else:
            out[i] = value
    return out


def _hash_columns(plain: dict[str, list[object]]) -> dict[str, list[str | None]]:
    """SHA-256 of every field hashed in v3, once per distinct value (v2-only hashes, such as the IP's,
    are made when a v2 event needs them: :func:`digests_of`)."""
    return {key: hash_values(values) for key, values in plain.items() if BY_KEY[key].hashed}


def hash_values(values: Sequence[object]) -> list[str | None]:
    distinct = dict.fromkeys(values)
    distinct.pop(None, None)
    sha256 = hashlib.sha256  # inline for text that cannot be a digest already: the hot case, no call
    digest_of = {value: sha256(value.encode()).hexdigest() if type(value) is str and len(value) != 64
                 else _sha256(value) for value in distinct}
    return list(map(digest_of.get, values))


def digests_of(chunk: EventChunk, key: str) -> list[str | None]:
    """The SHA-256 hex digests of one field's values in a chunk, made (and kept) on first use."""
    if key not in chunk.digests:
        chunk.digests[key] = hash_values(chunk.plain[key])
    return chunk.digests[key]


def _sha256(value: object) -> str:
    return rules.sha256_hex(value if type(value) is str else str(value))


def _check_events(plain: dict[str, list[object]], n: int, reasons: list[str | None],
                  warnings: dict[str, int]) -> None:
    """Event-level rules: identity minimum, PURCHASE currency/value, WEB page URL (column-wise)."""

    def has(key: str) -> np.ndarray:
        return present(plain.get(key), n)

    identity = has("em") | has("ph") | has("madid") | (has("client_ip_address") & has("client_user_agent"))
    purchase = np.fromiter(map(operator.eq, plain["event_name"], itertools.repeat("PURCHASE")), bool, n)
    no_currency, no_value = purchase & ~has("currency"), purchase & ~has("value")
    web = np.fromiter(map(operator.eq, plain["action_source"], itertools.repeat("WEB")), bool, n)
    web_without_url = web & ~has("event_source_url")
    for rule, reason in ((~identity, "insufficient_identity"), (no_currency, "purchase_missing_currency"),
                         (no_value, "purchase_missing_value")):
        for i in np.flatnonzero(rule).tolist():
            if reasons[i] is None:
                reasons[i] = reason
    warned = sum(1 for i in np.flatnonzero(web_without_url).tolist() if reasons[i] is None)
    if warned:
        warnings["web_event_without_event_source_url"] = warnings.get("web_event_without_event_source_url", 0) + warned


def _event_ids(frame: pd.DataFrame, plain: dict[str, list[object]], digests: dict[str, list[str | None]],
               options: EventOptions, n: int, reasons: list[str | None]) -> list[str]:
    """The mapped id, else the id columns' hash, else a PURCHASE's order id, else a content hash."""
    mapped = plain.get("event_id")
    orders = plain.get("order_id")
    id_columns = [frame[column].tolist() if column in frame.columns else [None] * n
                  for column in options.event_id_columns]
    content_keys = sorted(key for key in plain if key != "event_id")
    names = plain["event_name"]
    if mapped is None and not id_columns and any(
            reason is None and not (orders is not None and orders[i] is not None and names[i] == "PURCHASE")
            for i, reason in enumerate(reasons)):
        for key in content_keys:  # the content hash reads every hashed field's digest, v2's included
            if key not in digests and BY_KEY[key].v2_hashed:
                digests[key] = hash_values(plain[key])
    ids: list[str] = [""] * n
    for i in range(n):
        if reasons[i] is not None:
            continue
        if mapped is not None and mapped[i] is not None:
            ids[i] = str(mapped[i])
        elif id_columns:
            try:
                parts = [rules.to_text(values[i]) for values in id_columns]
            except rules.InvalidValue:
                reasons[i] = "invalid_event_id_columns"
                continue
            if all(part is None for part in parts):
                reasons[i] = "missing_event_id"  # all id columns empty: an id would collide with others
                continue
            ids[i] = _digest(json.dumps(parts, ensure_ascii=False))
        elif orders is not None and orders[i] is not None and plain["event_name"][i] == "PURCHASE":
            ids[i] = str(orders[i])
        else:
            content = {key: (digests[key][i] if key in digests else plain[key][i]) for key in content_keys}
            ids[i] = _digest(json.dumps(content, sort_keys=True, ensure_ascii=False, default=str))
    return ids


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
