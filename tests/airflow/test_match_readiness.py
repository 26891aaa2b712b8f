"""``match_readiness`` of a messy 10,000-row export, checked against counts the test makes itself.

The rows are generated here with a known kind per identifier cell (valid, invalid, empty), so the
expected shares, the identifiers-per-event histogram and the dropped counts follow from the generator
alone, not from the provider's normalizers. The file goes through the operators in ``dag.test()``:
the send operator (a row with an invalid identifier rejected) and the validate operator with
``invalid_field_policy="drop"`` (the value left out, the row kept)."""

from __future__ import annotations

import csv
import random
import time
import uuid
from collections import Counter

import pendulum
import phonenumbers
import pytest

from tests.airflow_helpers import run_dag, task_state, xcom

pytestmark = pytest.mark.usefixtures("airflow_db")

ROWS = 10_000
GROUPS = ("em", "ph", "madid", "sc_click_id", "sc_cookie1", "client_ip_address+client_user_agent", "external_id",
          "name+geo")
STRONG = {"em", "ph", "madid", "sc_click_id", "sc_cookie1"}
# (national text, its country) and international texts, each valid in phonenumbers' own metadata.
NATIONAL_PHONES = [("(650) 253-0000", "US"), ("020 7946 0958", "GB"), ("06 12 34 56 78", "FR")]
INTERNATIONAL_PHONES = ["+1 650-253-0000", "+44 20 7946 0958", "0033 6 12 34 56 78", "+49 30 901820"]
MAPPING = {"event_id": "order_id", "event_time": "ts", "value": "amount", "currency": "currency", "em": "email",
           "ph": "phone", "country": "country", "madid": "madid", "sc_click_id": "click_id",
           "client_ip_address": "ip", "client_user_agent": "ua", "external_id": "customer_id",
           "fn": "first_name", "ln": "last_name", "ct": "city", "zp": "zip"}


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


def messy_export(path, seed: int = 20261203) -> list[dict]:
    """Write the CSV; return per row the kind of each identifier cell."""
    rng = random.Random(seed)
    now = int(time.time()) - 3600
    kinds, rows = [], []
    for i in range(ROWS):
        kind = {
            "em": _pick(rng, {"valid": 0.55, "invalid": 0.08, "too_long": 0.02, "empty": 0.25, "blank": 0.10}),
            "ph": _pick(rng, {"national": 0.25, "international": 0.15, "invalid": 0.05, "empty": 0.55}),
            "madid": _pick(rng, {"valid": 0.10, "opted_out": 0.05, "empty": 0.85}),
            "sc_click_id": _pick(rng, {"valid": 0.10, "empty": 0.90}),
            "ip_ua": _pick(rng, {"both": 0.45, "ip_only": 0.15, "ua_only": 0.05, "none": 0.35}),
            "external_id": _pick(rng, {"valid": 0.30, "empty": 0.70}),
            "name": _pick(rng, {"both": 0.5, "first_only": 0.1, "none": 0.4}),
            "geo": _pick(rng, {"city": 0.3, "zip": 0.2, "none": 0.5}),
        }
        national, country = rng.choice(NATIONAL_PHONES)
        has_country = kind["ph"] == "national" or rng.random() < 0.5
        kind["country"] = has_country
        row = {
            "order_id": f"order-{i}", "ts": now - i, "amount": f"{rng.uniform(1, 500):.2f}", "currency": "usd",
            "email": {"valid": f"  Customer.{i}@Example.COM ", "invalid": f"customer{i}@@example",
                      "too_long": "x" * 300 + "@example.com", "empty": "", "blank": "   "}[kind["em"]],
            "phone": {"national": national, "international": rng.choice(INTERNATIONAL_PHONES),
                      "invalid": "12345", "empty": ""}[kind["ph"]],
            "country": country if has_country else "",
            "madid": {"valid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                      "opted_out": "00000000-0000-0000-0000-000000000000", "empty": ""}[kind["madid"]],
            "click_id": f"click-{i:08d}" if kind["sc_click_id"] == "valid" else "",
            "ip": f"203.0.113.{i % 250 + 1}" if kind["ip_ua"] in ("both", "ip_only") else "",
            "ua": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)" if kind["ip_ua"] in ("both", "ua_only")
            else "",
            "customer_id": f"cust-{i % 7000}" if kind["external_id"] == "valid" else "",
            "first_name": "Zoë" if kind["name"] in ("both", "first_only") else "",
            "last_name": " Müller-Lüdenscheidt" if kind["name"] == "both" else "",
            "city": "São Paulo" if kind["geo"] == "city" else "",
            "zip": "94043" if kind["geo"] == "zip" else "",
        }
        kinds.append(kind)
        rows.append(row)
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return kinds


def groups_of(kind: dict, drop_invalid: bool) -> set[str] | None:
    """The identifier groups the event of this row carries, or None when the row is rejected."""
    email_ok, phone_ok = kind["em"] == "valid", kind["ph"] in ("national", "international")
    if not drop_invalid and (kind["em"] in ("invalid", "too_long") or kind["ph"] == "invalid"):
        return None
    # Snap's identity minimum (SNAP_CAPI.md): em, ph, madid, or IP with user agent; the all-zero madid is none.
    if not (email_ok or phone_ok or kind["madid"] == "valid" or kind["ip_ua"] == "both"):
        return None
    groups = {name for name, present in [
        ("em", email_ok), ("ph", phone_ok), ("madid", kind["madid"] == "valid"),
        ("sc_click_id", kind["sc_click_id"] == "valid"),
        ("client_ip_address+client_user_agent", kind["ip_ua"] == "both"),
        ("external_id", kind["external_id"] == "valid"),
        ("name+geo", kind["name"] == "both" and (kind["geo"] != "none" or kind["country"]))] if present}
    return groups


def expected_readiness(kinds: list[dict], drop_invalid: bool) -> dict:
    events = [g for g in (groups_of(kind, drop_invalid) for kind in kinds) if g is not None]
    total = len(events)
    share = {name: round(sum(name in g for g in events) / total, 4) for name in GROUPS}
    return {
        "events": total,
        "share_with": share,
        "share_with_strong_identifier": round(sum(bool(g & STRONG) for g in events) / total, 4),
        "identifiers_per_event": {str(k): v for k, v in sorted(Counter(len(g) for g in events).items())},
        "madid_opted_out": count(kinds, "madid", "opted_out"),  # over the rows read, like the dropped counts
    }


def count(kinds: list[dict], field: str, *values: str) -> int:
    return sum(kind[field] in values for kind in kinds)


def phone_reasons(kinds: list[dict]) -> dict[str, int]:
    """An invalid national number is ``invalid_phone`` in the row's country, and without one (no default
    region either) ``phone_without_country_code``."""
    invalid = [kind for kind in kinds if kind["ph"] == "invalid"]
    reasons = {"invalid_phone": sum(k["country"] for k in invalid),
               "phone_without_country_code": sum(not k["country"] for k in invalid)}
    return dict(sorted(reasons.items(), key=lambda kv: -kv[1]))


def rejection_reasons(kinds: list[dict]) -> Counter:
    """The reason of each rejected row: the first invalid field in Snap's field order (em before ph), else
    the identity minimum."""
    reasons = Counter()
    for kind in kinds:
        if kind["em"] in ("invalid", "too_long"):
            reasons["invalid_email"] += 1
        elif kind["ph"] == "invalid":
            reasons["invalid_phone" if kind["country"] else "phone_without_country_code"] += 1
        elif groups_of(kind, drop_invalid=False) is None:
            reasons["insufficient_identity"] += 1
    return reasons


def test_the_phone_fixtures_are_valid_numbers():
    for text, country in NATIONAL_PHONES:
        assert phonenumbers.is_valid_number(phonenumbers.parse(text, country)), text
    for text in INTERNATIONAL_PHONES:
        assert phonenumbers.is_valid_number(phonenumbers.parse(text.replace("0033", "+33", 1), None)), text


def _dag(dag_id: str, operator: str, path: str, **kwargs):
    from airflow.sdk import dag

    from snap_capi_provider.operators import snap_capi

    @dag(dag_id=dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
    def pipeline():
        getattr(snap_capi, operator)(task_id="run", path=path, event_name="PURCHASE", action_source="OFFLINE",
                                     field_mapping=MAPPING, default_phone_region=None, chunk_rows=1500, **kwargs)

    return pipeline()


def test_send_report_match_readiness_matches_independent_counts(snap_conn, tmp_path):
    kinds = messy_export(tmp_path / "export.csv")
    dag_run = run_dag(_dag("readiness_send", "SnapCapiSendEventsOperator", str(tmp_path / "export.csv"),
                           max_rejected_ratio=1.0))
    report = xcom(dag_run, "run")
    assert task_state(dag_run, "run") == "success"
    expected = expected_readiness(kinds, drop_invalid=False)
    readiness = report["match_readiness"]
    assert report["accepted"] == expected["events"] == ROWS - report["rejected"]
    assert {key: readiness[key] for key in expected} == expected

    dropped = readiness["dropped"]
    assert dropped["em"] == {"invalid": {"invalid_email": count(kinds, "em", "invalid", "too_long")},
                             "empty": count(kinds, "em", "empty", "blank"), "unmapped": False}
    assert dropped["ph"] == {"invalid": phone_reasons(kinds),
                             "empty": count(kinds, "ph", "empty"), "unmapped": False}
    assert dropped["sc_cookie1"]["unmapped"] is True
    assert dropped["sc_click_id"]["empty"] == count(kinds, "sc_click_id", "empty")
    assert dropped["client_ip_address"]["empty"] == count(kinds, "ip_ua", "ua_only", "none")
    assert dropped["client_user_agent"]["empty"] == count(kinds, "ip_ua", "ip_only", "none")
    # the all-zero id is left out: empty for the event, and counted apart in madid_opted_out
    assert dropped["madid"]["empty"] == count(kinds, "madid", "empty", "opted_out")
    assert report["rejections"]["by_reason"] == dict(rejection_reasons(kinds))


def test_validate_report_with_dropped_values_matches_independent_counts(snap_conn, tmp_path):
    kinds = messy_export(tmp_path / "export.csv", seed=7)
    dag_run = run_dag(_dag("readiness_validate", "SnapCapiValidateOperator", str(tmp_path / "export.csv"),
                           invalid_field_policy="drop"))
    report = xcom(dag_run, "run")
    expected = expected_readiness(kinds, drop_invalid=True)
    readiness = report["match_readiness"]
    assert {key: readiness[key] for key in expected} == expected
    assert readiness["dropped"]["em"]["invalid"] == {"invalid_email": count(kinds, "em", "invalid", "too_long")}
    assert readiness["dropped"]["ph"]["invalid"] == phone_reasons(kinds)
