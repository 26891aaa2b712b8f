"""Match readiness: which identifiers the events carry, so a run shows what its data can match.

Snap matches a conversion to a Snapchatter through its identifiers. Its Signal Readiness guidance asks
for email, phone, the click id, the ``_scid`` cookie and IP + user agent. The deterministic ones (email,
phone, mobile ad id, click id, cookie) count as *strong* here: each can match a person on its own. IP +
user agent meets Snap's identity minimum but matches only probabilistically, and ``external_id`` and
name + geography only help next to the others, so they are reported but not strong.

Each event gets a bit mask of the identifier groups below; the report folds
the masks of the events Snap accepted (or, for validation and dry runs, the events prepared).
"""

from __future__ import annotations

import itertools
import operator
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snap_capi_provider.core.fields import BY_KEY


@dataclass(frozen=True)
class IdentifierGroup:
    name: str
    """Name in the report."""
    all_of: tuple[str, ...] = ()
    """Snap keys the event must all carry."""
    any_of: tuple[str, ...] = ()
    """And, when set, at least one of these."""
    strong: bool = False
    """A deterministic identifier that matches a person on its own."""


GROUPS: tuple[IdentifierGroup, ...] = (
    IdentifierGroup("em", ("em",), strong=True),
    IdentifierGroup("ph", ("ph",), strong=True),
    IdentifierGroup("madid", ("madid",), strong=True),
    IdentifierGroup("sc_click_id", ("sc_click_id",), strong=True),
    IdentifierGroup("sc_cookie1", ("sc_cookie1",), strong=True),
    IdentifierGroup("client_ip_address+client_user_agent", ("client_ip_address", "client_user_agent")),
    IdentifierGroup("external_id", ("external_id",)),
    IdentifierGroup("name+geo", ("fn", "ln"), ("ct", "st", "zp", "country")),
)
for _group in GROUPS:
    assert all(key in BY_KEY for key in (*_group.all_of, *_group.any_of)), _group
STRONG_MASK = sum(1 << i for i, group in enumerate(GROUPS) if group.strong)
IDENTIFIER_KEYS: tuple[str, ...] = tuple(dict.fromkeys(k for g in GROUPS for k in (*g.all_of, *g.any_of)))
POOR_SHARE = 0.5
"""Below this share of events with an email or a phone, the task log warns."""


def present(values: Sequence[object] | None, n: int) -> np.ndarray:
    """Where ``values`` (``n`` of them, or None for an absent column) hold a value."""
    if values is None:
        return np.zeros(n, bool)
    if None not in values:  # one C scan: the common case of a full column
        return np.ones(n, bool)
    return np.fromiter(map(operator.is_not, values, itertools.repeat(None)), bool, n)


def identity_masks(plain: Mapping[str, Sequence[object]], n: int) -> np.ndarray:
    """One bit mask per event: bit ``i`` set when the event carries ``GROUPS[i]``."""
    present_of = {key: present(plain[key], n) for key in IDENTIFIER_KEYS if key in plain}
    none = np.zeros(n, bool)
    masks = np.zeros(n, np.int64)
    for bit, group in enumerate(GROUPS):
        has = np.ones(n, bool)
        for key in group.all_of:
            has &= present_of.get(key, none)
        if group.any_of:
            has &= np.logical_or.reduce([present_of.get(key, none) for key in group.any_of])
        masks |= has.astype(np.int64) << bit
    return masks


@dataclass
class Readiness:
    """Identifier masks of the counted events, and why identifiers were missing."""

    masks: Counter[int] = field(default_factory=Counter)
    invalid: dict[str, Counter[str]] = field(default_factory=dict)
    """Per Snap key: reasons its values were refused (the row rejected, or the value dropped)."""
    empty: Counter[str] = field(default_factory=Counter)
    """Per Snap key: rows whose mapped column was empty."""
    unmapped: tuple[str, ...] = ()
    """Identifier fields that no column was mapped to."""
    opted_out: int = 0
    """Mobile ad ids that were the all-zero id (tracking denied): left out, the row kept."""

    def count(self, masks: Sequence[int]) -> None:
        self.masks.update(masks)

    def note_field(self, key: str, errors: Sequence[str | None], values: Sequence[object]) -> None:
        if key not in IDENTIFIER_KEYS:
            return
        if not any(errors):  # the common case: only the empty values are None
            self.empty[key] += values.count(None) if isinstance(values, list) else sum(v is None for v in values)
            return
        reasons = Counter(error for error in errors if error is not None)
        self.invalid.setdefault(key, Counter()).update(reasons)
        self.empty[key] += sum(1 for value, error in zip(values, errors, strict=True)
                               if value is None and error is None)

    def merge(self, other: Readiness) -> None:
        self.masks.update(other.masks)
        for key, reasons in other.invalid.items():
            self.invalid.setdefault(key, Counter()).update(reasons)
        self.empty.update(other.empty)
        self.unmapped = tuple(dict.fromkeys((*self.unmapped, *other.unmapped)))
        self.opted_out += other.opted_out

    @property
    def events(self) -> int:
        return sum(self.masks.values())

    def share(self, mask: int) -> float:
        total = self.events
        return round(sum(c for m, c in self.masks.items() if m & mask) / total, 4) if total else 0.0

    def to_dict(self, top: int = 5) -> dict[str, Any]:
        """JSON-native section ``match_readiness`` of a report."""
        total = self.events
        per_event = Counter()
        for mask, count in self.masks.items():
            per_event[str(bin(mask).count("1"))] += count
        dropped = {}
        for key in IDENTIFIER_KEYS:
            reasons = dict(self.invalid.get(key, Counter()).most_common(top))
            if reasons or self.empty.get(key) or key in self.unmapped:
                dropped[key] = {"invalid": reasons, "empty": int(self.empty.get(key, 0)),
                                "unmapped": key in self.unmapped}
        return {
            "events": total,
            "share_with": {group.name: self.share(1 << bit) for bit, group in enumerate(GROUPS)},
            "share_with_strong_identifier": self.share(STRONG_MASK),
            "identifiers_per_event": dict(sorted(per_event.items(), key=lambda kv: int(kv[0]))),
            "dropped": dropped,
            "madid_opted_out": self.opted_out,
        }


def readiness_advice(section: Mapping[str, Any]) -> str | None:
    """A warning for the task log when few events carry an email or a phone, naming what to fix
    (from a report's ``match_readiness`` section)."""
    if not section.get("events"):
        return None
    shares = section.get("share_with", {})
    email, phone = shares.get("em", 0.0), shares.get("ph", 0.0)
    if max(email, phone) >= POOR_SHARE:
        return None
    hints = []
    for key in ("em", "ph"):
        info = section.get("dropped", {}).get(key)
        if not info:
            continue
        if info.get("unmapped"):
            hints.append(f"{key}: no column mapped")
        elif info.get("invalid"):
            reason, count = next(iter(info["invalid"].items()))
            hints.append(f"{key}: {count} values refused ({reason})")
        elif info.get("empty"):
            hints.append(f"{key}: {info['empty']} rows empty")
    return (f"Poor match readiness: {email:.0%} of the events carry an email and {phone:.0%} a phone "
            f"({'; '.join(hints) or 'map an email or phone column'}). Snap matches few events without them; "
            "see match_readiness in the report.")


def merge_readiness(sections: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Combine ``match_readiness`` sections of several reports (e.g. mapped shards), weighted by events."""
    total = sum(int(section.get("events", 0)) for section in sections)
    merged: dict[str, Any] = {"events": total, "share_with": {}, "share_with_strong_identifier": 0.0,
                              "identifiers_per_event": {}, "dropped": {}, "madid_opted_out": 0}
    if not total:
        return merged
    for section in sections:
        weight = int(section.get("events", 0)) / total
        for name, share in section.get("share_with", {}).items():
            merged["share_with"][name] = round(merged["share_with"].get(name, 0.0) + share * weight, 4)
        merged["share_with_strong_identifier"] = round(
            merged["share_with_strong_identifier"] + section.get("share_with_strong_identifier", 0.0) * weight, 4)
        for bucket, count in section.get("identifiers_per_event", {}).items():
            merged["identifiers_per_event"][bucket] = merged["identifiers_per_event"].get(bucket, 0) + count
        for key, info in section.get("dropped", {}).items():
            into = merged["dropped"].setdefault(key, {"invalid": {}, "empty": 0, "unmapped": False})
            for reason, count in info.get("invalid", {}).items():
                into["invalid"][reason] = into["invalid"].get(reason, 0) + count
            into["empty"] += info.get("empty", 0)
            into["unmapped"] = into["unmapped"] or info.get("unmapped", False)
        merged["madid_opted_out"] += section.get("madid_opted_out", 0)
    return merged
