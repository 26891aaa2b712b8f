"""A small SQLite "warehouse" of store purchases, seeded with realistic rows for the examples.

The rows look like a real CRM export: mixed-case emails with stray spaces, phones in national and
international formats with a country column to read them by, full state names, zip+4 codes.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

CUSTOMERS = [
    ("Ava", "Martinez", " Ava.Martinez@Example.com", "(415) 555-0132", "San Francisco", "California", "94107-2311",
     "US"),
    ("Liam", "O'Connor", "liam.oconnor+shop@example.org ", "+1 212 555 0187", "New York", "NY", "10001", "US"),
    ("Raphaël", "Dubois", "raphael.dubois@example.fr", "+33 (0)1 42 68 53 00", "Paris", "Île-de-France", "75008",
     "France"),
    ("Mia", "Schmidt", "MIA.SCHMIDT@EXAMPLE.DE", "030 901820", "Berlin", "Berlin", "10117", "DE"),
    ("Noah", "Smith", "noah.smith@example.co.uk", "020 7946 0958", "London", "England", "SW1A 1AA", "United Kingdom"),
    ("Emma", "Johnson", "emma.j@example.com", "650.555.1212", "Menlo Park", "CA", "94025", "US"),
    ("Lucas", "Silva", "lucas.silva@example.com.br", "+55 11 91234-5678", "São Paulo", "SP", "01310-100", "BR"),
    ("Olivia", "Brown", "olivia.brown@example.com", "+1 (312) 555-0199", "Chicago", "Illinois", "60601-1234", "US"),
]
STORES = ["sf-market-st", "nyc-5th-ave", "paris-opera", "berlin-mitte", "london-soho", "menlo-park", "sp-paulista"]
CURRENCIES = {"US": "USD", "France": "EUR", "DE": "EUR", "United Kingdom": "GBP", "BR": "BRL"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS purchases (
    order_id TEXT PRIMARY KEY,
    purchased_at TEXT NOT NULL,      -- ISO-8601 with UTC offset
    store_id TEXT NOT NULL,
    first_name TEXT, last_name TEXT, email TEXT, phone TEXT,
    city TEXT, state TEXT, zip TEXT, country TEXT,
    amount NUMERIC NOT NULL, currency TEXT NOT NULL, items INTEGER NOT NULL
)
"""


BROKEN_CUSTOMER = ("Kim", "Lee", "kim.lee(at)example.com", None, "Austin", "Texas", "73301", "US")
"""A customer whose email is malformed and who left no phone: Snap could never match the purchase."""


def seed(path: str | Path, start: datetime, end: datetime, per_day: int = 12, seed_value: int = 7,
         broken_every: int = 0) -> int:
    """Create (or extend) the warehouse with purchases between ``start`` and ``end``; returns rows added.

    With ``broken_every`` N, every Nth purchase is made by :data:`BROKEN_CUSTOMER` (to show a rejection)."""
    rng = random.Random(seed_value)
    rows = []
    moment = start.astimezone(timezone.utc)
    step = timedelta(days=1) / per_day
    number = int(start.timestamp()) // 60
    while moment < end:
        first, last, email, phone, city, state, zip_code, country = rng.choice(CUSTOMERS)
        number += 1
        if broken_every and number % broken_every == 0:
            first, last, email, phone, city, state, zip_code, country = BROKEN_CUSTOMER
        rows.append((
            f"ORD-{number}", moment.isoformat(timespec="seconds"), rng.choice(STORES), first, last, email, phone,
            city, state, zip_code, country, round(rng.uniform(5, 400), 2), CURRENCIES[country], rng.randint(1, 5),
        ))
        moment += step
    with sqlite3.connect(path) as db:
        db.execute(SCHEMA)
        db.executemany("INSERT OR IGNORE INTO purchases VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    return len(rows)


def count_between(path: str | Path, start: datetime, end: datetime, broken: bool | None = None) -> int:
    """Purchases in ``[start, end)``; only the broken ones (True) or only the others (False)."""
    where = "" if broken is None else (" AND email = ?" if broken else " AND email != ?")
    params = (_iso(start), _iso(end)) + (() if broken is None else (BROKEN_CUSTOMER[2],))
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT COUNT(*) FROM purchases WHERE purchased_at >= ? AND purchased_at < ?" + where, params,
        ).fetchone()[0]


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")
