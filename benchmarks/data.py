"""Realistic messy rows for the benchmark: the shapes a CRM or warehouse export really has.

Emails with case and spaces, phones in national and international formats across several countries
(only numbers ``phonenumbers`` holds valid, so every row can be accepted), names with accents,
cities, states by name or code, zips with +4, birth dates in mixed formats, IPs, and about 30% of
rows repeating an earlier customer. Deterministic for a seed.
"""

from __future__ import annotations

import random
import time
import unicodedata
from collections.abc import Iterator

import phonenumbers

COUNTRIES = ("US", "US", "US", "GB", "FR", "DE", "CA", "BR", "IN", "MX")
FIRST = ["Ava", "Liam", "Raphaël", "Mia", "Noah", "Emma", "Lucas", "Olivia", "Zoë", "Mateo", "José", "Chloé",
         "Søren", "Amélie", "Björn", "Léa", "Ana María", "Jean-Luc"]
LAST = ["Martinez", "O'Connor", "Dubois", "Schmidt", "Smith", "Johnson", "Silva", "Brown", "Núñez", "Kim",
        "Müller", "García-López", "D’Angelo", "Nguyễn"]
PLACES = {
    "US": [("San Francisco", "California", "94107"), ("New York", "NY", "10001"), ("Menlo Park", "CA", "94025"),
           ("Chicago", "Illinois", "60601"), ("Austin", "TX", "73301"), ("Boston", "Massachusetts", "02134")],
    "GB": [("London", "", "SW1A 1AA"), ("Manchester", "", "M1 1AE")],
    "FR": [("Paris", "Île-de-France", "75001"), ("Lyon", "", "69001")],
    "DE": [("Berlin", "Berlin", "10115"), ("München", "Bayern", "80331")],
    "CA": [("Toronto", "Ontario", "M5H 2N2"), ("Montréal", "QC", "H2Y 1C6")],
    "BR": [("São Paulo", "SP", "01310-100")],
    "IN": [("Mumbai", "Maharashtra", "400001")],
    "MX": [("Ciudad de México", "CDMX", "06000")],
}
COUNTRY_SPELLINGS = {"US": ["US", "us", "USA", "United States"], "GB": ["GB", "UK", "United Kingdom"],
                     "FR": ["FR", "France"], "DE": ["DE", "Germany"], "CA": ["CA", "Canada"],
                     "BR": ["BR", "Brazil"], "IN": ["IN", "India"], "MX": ["MX", "Mexico"]}
DOMAINS = ["Example.com", "gmail.com", "Yahoo.COM", "outlook.com", "example.co.uk"]


def phone_pool(region: str, size: int, rng: random.Random) -> list[phonenumbers.PhoneNumber]:
    """Example mobile and fixed-line numbers of a region, the bases new numbers are varied from."""
    bases = [phonenumbers.example_number_for_type(region, kind)
             for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)]
    return [base for base in bases if base is not None]


def new_phone(bases: list[phonenumbers.PhoneNumber], rng: random.Random) -> phonenumbers.PhoneNumber:
    """A valid number of the region, its last six digits random (so customers rarely share one)."""
    while True:
        base = rng.choice(bases)
        national = str(base.national_number)
        varied = national[:-6] + f"{rng.randint(0, 999_999):06d}"
        number = phonenumbers.PhoneNumber(country_code=base.country_code, national_number=int(varied))
        if phonenumbers.is_valid_number(number):
            return number


_FORMATS = (phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.INTERNATIONAL,
            phonenumbers.PhoneNumberFormat.E164)


def _phone_text(number: phonenumbers.PhoneNumber, rng: random.Random) -> str:
    style = rng.random()
    if style < 0.45:
        return phonenumbers.format_number(number, _FORMATS[0])
    if style < 0.75:
        return phonenumbers.format_number(number, _FORMATS[1])
    if style < 0.9:
        return phonenumbers.format_number(number, _FORMATS[2])
    return "00" + phonenumbers.format_number(number, _FORMATS[2])[1:]


def _dob(rng: random.Random) -> str:
    year, month, day = rng.randint(1950, 2004), rng.randint(1, 12), rng.randint(1, 28)
    style = rng.random()
    if style < 0.4:
        return f"{year:04d}-{month:02d}-{day:02d}"
    if style < 0.6:
        return f"{month}/{day}/{year}"
    if style < 0.8:
        return f"{year:04d}{month:02d}{day:02d}"
    return f"{day + 12 if day <= 16 else day:02d}.{month:02d}.{year:04d}"


def _customer(i: int, rng: random.Random, pools: dict[str, list]) -> dict[str, object]:
    country = rng.choice(COUNTRIES)
    city, state, zip_code = rng.choice(PLACES[country])
    if country == "US" and rng.random() < 0.3:
        zip_code += f"-{rng.randint(1000, 9999)}"
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = unicodedata.normalize("NFKD", f"{first}.{last}{i}").encode("ascii", "ignore").decode()
    email = f"{local}@{rng.choice(DOMAINS)}".replace(" ", "").replace("'", "")
    if rng.random() < 0.5:
        email = f"  {email.upper() if rng.random() < 0.2 else email} "
    return {
        "email": email, "phone": _phone_text(new_phone(pools[country], rng), rng),
        "first_name": first if rng.random() < 0.7 else first.upper(), "last_name": last,
        "city": city, "state": state or None, "zip": zip_code,
        "country": rng.choice(COUNTRY_SPELLINGS[country]), "dob": _dob(rng),
    }


def iter_rows(n: int, seed: int = 1, repeat_share: float = 0.3, now: float | None = None) -> Iterator[dict]:
    """``n`` messy purchase rows; ``repeat_share`` of them reuse an earlier customer's identity."""
    rng = random.Random(seed)
    pools = {region: phone_pool(region, 400, rng) for region in set(COUNTRIES)}
    customers: list[dict[str, object]] = []
    end = int(now or time.time()) - 3600
    for i in range(n):
        if customers and rng.random() < repeat_share:
            customer = rng.choice(customers)
        else:
            customer = _customer(i, rng, pools)
            if len(customers) < 50_000:
                customers.append(customer)
        ts = end - rng.randint(0, 20 * 86400)
        yield {
            "order_id": f"ord-{seed}-{i}",
            **customer,
            "ip": f"{rng.randint(11, 220)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            "amount": round(rng.uniform(5, 500), 2),
            "currency": "USD" if customer["country"] in ("US", "us", "USA", "United States") else "EUR",
            "ts": ts if rng.random() < 0.6 else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)),
        }


MAPPING = {"order_id": "order_id", "email": "email", "phone": "phone", "first_name": "first_name",
           "last_name": "last_name", "city": "city", "state": "state", "zip": "zip", "country": "country",
           "date_of_birth": "dob", "ip_address": "ip", "value": "amount", "currency": "currency",
           "event_time": "ts"}
"""The field mapping of these rows (``event_id`` is the PURCHASE's order id)."""
