"""`make bench`: snap-capi-provider against the real `snap-business-sdk`, same rows, same emulator.

Both clients send the same realistic rows (raw PII to normalize and hash) to one local emulator
running in its own process, and every event must be accepted. Printed: events per second for each
and the ratio, measured in this run. Baselines: the SDK as its docs show it, batches of 2000 sent
one request at a time (``send_events_sync``); and the SDK one event per request, as many scripts
use it (on a smaller sample). Also printed: preparation alone (normalize + hash + encode, no HTTP).
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable

import pandas as pd

TOKEN = "bench-token"
PIXEL = "bench-pixel"
FIRST = ["Ava", "Liam", "Raphaël", "Mia", "Noah", "Emma", "Lucas", "Olivia", "Zoë", "Mateo"]
LAST = ["Martinez", "O'Connor", "Dubois", "Schmidt", "Smith", "Johnson", "Silva", "Brown", "Núñez", "Kim"]
PLACES = [("San Francisco", "California", "94107"), ("New York", "NY", "10001"), ("Menlo Park", "CA", "94025"),
          ("Chicago", "Illinois", "60601"), ("Austin", "TX", "73301"), ("Seattle", "Washington", "98101")]


def make_rows(n: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    now = int(time.time()) - 3600
    rows = []
    for i in range(n):
        city, state, zip_code = rng.choice(PLACES)
        rows.append({
            "order_id": f"ord-{seed}-{i}",
            "email": f" User.{i}.{rng.randint(0, 10**6)}@Example.com ",
            "phone": f"(650) 555-{rng.randint(0, 9999):04d}",
            "first_name": rng.choice(FIRST),
            "last_name": rng.choice(LAST),
            "city": city, "state": state, "zip": f"{zip_code}-{rng.randint(1000, 9999)}",
            "ip": f"203.0.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            "amount": round(rng.uniform(5, 500), 2),
            "ts": now - rng.randint(0, 86400),
        })
    return rows


def run_ours(url: str, rows: list[dict], api_version: str, concurrency: int) -> float:
    from snap_capi_provider.core.client import SnapCapiClient
    from snap_capi_provider.core.events import EventOptions
    from snap_capi_provider.core.pipeline import Assets, DeliveryOptions, send_rows
    from snap_capi_provider.core.sources import iter_chunks

    mapping = {"order_id": "order_id", "email": "email", "phone": "phone", "first_name": "first_name",
               "last_name": "last_name", "city": "city", "state": "state", "zip": "zip", "ip_address": "ip",
               "value": "amount", "event_time": "ts"}
    options = EventOptions(event_name="PURCHASE", default_phone_region="US")
    started = time.perf_counter()
    frame = pd.DataFrame(rows)
    frame["currency"] = "USD"
    mapping["currency"] = "currency"
    with SnapCapiClient(TOKEN, url, api_version=api_version, pool_size=concurrency) as client:
        report = send_rows(client, iter_chunks(frame), assets=Assets(pixel_id=PIXEL), field_mapping=mapping,
                           event_options=options, delivery=DeliveryOptions(concurrency=concurrency))
    elapsed = time.perf_counter() - started
    _require(report.accepted == len(rows), f"ours accepted {report.accepted} of {len(rows)}: {report.to_dict()}")
    return len(rows) / elapsed


def run_prepare_only(rows: list[dict]) -> float:
    from snap_capi_provider.core.events import EventOptions, build_events, resolve_mapping
    from snap_capi_provider.core.sources import iter_chunks
    from snap_capi_provider.core.wire import encode_v3

    started = time.perf_counter()
    frame = pd.DataFrame(rows)
    frame["currency"] = "USD"
    options = EventOptions(event_name="PURCHASE", default_phone_region="US")
    mapping = resolve_mapping(list(frame.columns), {
        "email": "email", "phone": "phone", "first_name": "first_name", "last_name": "last_name", "city": "city",
        "state": "state", "zip": "zip", "ip_address": "ip", "value": "amount", "currency": "currency",
        "event_time": "ts", "order_id": "order_id"})
    count = 0
    for chunk in iter_chunks(frame):
        for event in encode_v3(build_events(chunk, mapping, options).events):
            json.dumps(event, separators=(",", ":"))
            count += 1
    _require(count == len(rows), "prepare-only lost rows")
    return len(rows) / (time.perf_counter() - started)


def _sdk_events(rows: list[dict]) -> list:
    from snap_business_sdk.public.conversion_event import ConversionEvent

    return [ConversionEvent(
        pixel_id=PIXEL, event_type="PURCHASE", event_conversion_type="OFFLINE", timestamp=str(row["ts"]),
        email=row["email"], phone_number=row["phone"], first_name=row["first_name"], last_name=row["last_name"],
        city=row["city"], state=row["state"], zip=row["zip"], ip_address=row["ip"], price=str(row["amount"]),
        currency="USD", transaction_id=row["order_id"], client_dedup_id=row["order_id"],
    ) for row in rows]


def run_sdk_batched(url: str, rows: list[dict], batch: int = 2000) -> float:
    from snap_business_sdk.public.conversion_api import ConversionApi

    started = time.perf_counter()
    api = ConversionApi(access_token=TOKEN, launchpad_url=url)
    for start in range(0, len(rows), batch):
        response = api.send_events_sync(_sdk_events(rows[start:start + batch]))
        _require(getattr(response, "status", None) == "SUCCESS" or "SUCCESS" in str(response), f"SDK: {response}")
    return len(rows) / (time.perf_counter() - started)


def run_sdk_per_event(url: str, rows: list[dict]) -> float:
    from snap_business_sdk.public.conversion_api import ConversionApi

    started = time.perf_counter()
    api = ConversionApi(access_token=TOKEN, launchpad_url=url)
    for event in _sdk_events(rows):
        response = api.send_event_sync(event)
        _require("SUCCESS" in str(response), f"SDK: {response}")
    return len(rows) / (time.perf_counter() - started)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"benchmark invalid: {message}")


def _emulator() -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "snap_capi_provider.emulator", "--port", str(port),
                                "--token", TOKEN], stdout=subprocess.PIPE, text=True)
    process.stdout.readline()
    return process, f"http://127.0.0.1:{port}"


def _reset(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/_emulator/summary") as response:
        summary = json.load(response)
    urllib.request.urlopen(urllib.request.Request(f"{url}/_emulator/reset", method="POST")).close()
    return summary


def _timed(label: str, func: Callable[[], float], results: dict[str, float]) -> None:
    results[label] = func()
    print(f"  {label:<44} {results[label]:>10,.0f} events/s", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000, help="rows per batched run")
    parser.add_argument("--per-event-rows", type=int, default=500, help="rows for the one-request-per-event SDK run")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    rows = make_rows(args.rows)
    process, url = _emulator()
    results: dict[str, float] = {}
    try:
        print(f"{args.rows:,} rows, emulator at {url} (own process), {args.concurrency} requests in flight")
        _timed("snap-business-sdk 1.0.0, batches of 2000 (v2)", lambda: run_sdk_batched(url, rows), results)
        _reset(url)
        _timed("snap-business-sdk 1.0.0, one request per event", lambda: run_sdk_per_event(
            url, rows[:args.per_event_rows]), results)
        _reset(url)
        _timed("snap-capi-provider, v2", lambda: run_ours(url, rows, "v2", args.concurrency), results)
        _reset(url)
        _timed("snap-capi-provider, v3", lambda: run_ours(url, rows, "v3", args.concurrency), results)
        summary = _reset(url)
        _require(summary["unique_event_ids"] == args.rows, f"emulator kept {summary['unique_event_ids']} events")
        _timed("snap-capi-provider, prepare only (no HTTP)", lambda: run_prepare_only(rows), results)
    finally:
        process.terminate()
        process.wait(timeout=10)
    base = results["snap-business-sdk 1.0.0, batches of 2000 (v2)"]
    print(f"ratio v3 / SDK batched:         {results['snap-capi-provider, v3'] / base:5.1f}x")
    print(f"ratio v2 / SDK batched:         {results['snap-capi-provider, v2'] / base:5.1f}x  (same wire format)")
    print(f"ratio v3 / SDK one per request: "
          f"{results['snap-capi-provider, v3'] / results['snap-business-sdk 1.0.0, one request per event']:5.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
