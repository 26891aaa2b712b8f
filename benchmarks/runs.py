"""The measured runs of ``benchmarks/run.py``, each in its own process; the last line printed is JSON."""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import sys
import time
from pathlib import Path

from benchmarks.data import MAPPING, iter_rows

TOKEN = "bench-token"
PIXEL = "bench-pixel"
COLUMNS = ("order_id", "email", "phone", "first_name", "last_name", "city", "state", "zip", "country", "dob",
           "ip", "amount", "currency", "ts")


def bench_rows(n: int | str) -> list[dict]:
    """The benchmark's ``n`` rows, generated once into ``.bench/`` (generation costs ~0.1 ms a row) and
    read back from JSON lines by every run, so each client gets exactly the same values."""
    import orjson

    folder = Path(os.environ.get("SNAP_CAPI_BENCH_DIR", Path(__file__).resolve().parents[1] / ".bench"))
    folder.mkdir(exist_ok=True)
    path = folder / f"rows-{int(n)}.jsonl"
    if not path.exists():
        temporary = path.with_suffix(".tmp")
        with open(temporary, "wb") as out:
            for row in iter_rows(int(n)):
                out.write(orjson.dumps(row) + b"\n")
        temporary.replace(path)
    with open(path, "rb") as lines:
        return [orjson.loads(line) for line in lines]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _epoch(value: object) -> str:
    if isinstance(value, int):
        return str(value)
    return str(int(time.mktime(time.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ")) - time.timezone))


def run_sdk(url: str, n: str) -> dict:
    from snap_business_sdk.public.conversion_api import ConversionApi
    from snap_business_sdk.public.conversion_event import ConversionEvent

    rows = bench_rows(n)
    timestamps = [_epoch(row["ts"]) for row in rows]  # the SDK takes epoch text only: converted beforehand
    started = time.perf_counter()
    api = ConversionApi(access_token=TOKEN, launchpad_url=url)
    for start in range(0, len(rows), 2000):
        events = [ConversionEvent(
            pixel_id=PIXEL, event_type="PURCHASE", event_conversion_type="OFFLINE", timestamp=timestamps[i],
            email=row["email"], phone_number=row["phone"], first_name=row["first_name"], last_name=row["last_name"],
            city=row["city"], state=row["state"] or "", zip=row["zip"], ip_address=row["ip"],
            price=str(row["amount"]), currency=row["currency"], transaction_id=row["order_id"],
            client_dedup_id=row["order_id"],
        ) for i, row in enumerate(rows[start:start + 2000], start)]
        response = api.send_events_sync(events)
        if "SUCCESS" not in str(response):
            raise SystemExit(f"SDK: {response}")
    elapsed = time.perf_counter() - started
    return {"events_per_s": len(rows) / elapsed, "peak_rss_mb": peak_rss_mb()}


def _import_provider() -> None:
    """Import the provider's send path before the clock starts, as ``run_sdk`` imports the SDK's:
    the runs time sending, not Python's imports (about 0.3 s, the more so where no bytecode is cached)."""
    import snap_capi_provider.core.client
    import snap_capi_provider.core.pipeline  # noqa: F401


def _send(url: str, chunks, api_version: str = "v3", processes: int = 1, total: int | None = None):
    from snap_capi_provider.core.client import SnapCapiClient
    from snap_capi_provider.core.events import EventOptions
    from snap_capi_provider.core.pipeline import Assets, DeliveryOptions, send_rows

    options = EventOptions(event_name="PURCHASE", default_phone_region="US")
    with SnapCapiClient(TOKEN, url, api_version=api_version, pool_size=8) as client:
        return send_rows(client, chunks, assets=Assets(pixel_id=PIXEL), field_mapping=MAPPING, event_options=options,
                         delivery=DeliveryOptions(concurrency=4, prepare_processes=processes,
                                                  progress_interval_s=0), total_rows=total)


def run_ours(url: str, n: str, api_version: str, processes: str) -> dict:
    from snap_capi_provider.core.sources import iter_chunks

    rows = bench_rows(n)
    _import_provider()
    started = time.perf_counter()
    report = _send(url, iter_chunks(rows), api_version, int(processes))
    elapsed = time.perf_counter() - started
    if report.accepted != len(rows):
        raise SystemExit(f"ours accepted {report.accepted} of {len(rows)}: {report.to_dict()['rejections']}")
    return {"events_per_s": len(rows) / elapsed, "peak_rss_mb": peak_rss_mb()}


def run_split(url: str, n: str) -> dict:
    """Each stage of the send path timed on its own, one process: read (rows to chunks), normalize + hash
    (build_events), encode (JSON), HTTP (the whole send minus the rest)."""
    from snap_capi_provider.core.events import EventOptions, build_events, resolve_mapping
    from snap_capi_provider.core.prepare import gc_paused
    from snap_capi_provider.core.sources import iter_chunks
    from snap_capi_provider.core.wire import payloads_v3

    rows = bench_rows(n)
    options = EventOptions(event_name="PURCHASE", default_phone_region="US")
    clock = time.perf_counter
    started = clock()
    chunks = list(iter_chunks(rows))
    read = clock() - started
    mapping = resolve_mapping(list(chunks[0].columns), MAPPING)
    normalize = encode = 0.0
    for chunk in chunks:
        with gc_paused():
            mark = clock()
            events = build_events(chunk, mapping, options).events
            normalize += clock() - mark
            mark = clock()
            payloads_v3(events)
            encode += clock() - mark
    started = clock()
    _send(url, iter(chunks))
    total = clock() - started
    return {"split_s": {"read": read, "normalize+hash": normalize, "encode": encode,
                        "HTTP and batching": max(total - normalize - encode, 0.0)}}


def make_data(folder: str, big: str, small: str) -> None:
    """Parquet files and SQLite databases of ``big`` and ``small`` rows (200,000 generated rows repeated
    under new order ids), built once and kept for later runs."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = [tuple(row[c] for c in COLUMNS) for row in bench_rows(min(int(big), 200_000))]
    for n in {int(big), int(small)}:
        parquet, sqlite = Path(folder) / f"rows-{n}.parquet", Path(folder) / f"rows-{n}.db"
        if parquet.exists() and sqlite.exists():
            continue
        writer = None
        db = sqlite3.connect(sqlite)
        db.execute(f"CREATE TABLE IF NOT EXISTS purchases ({', '.join(COLUMNS)})")
        db.execute("DELETE FROM purchases")
        for start in range(0, n, len(base)):
            part = [(f"{row[0]}-{start}", *row[1:-1], str(row[-1])) for row in base[:n - start]]
            table = pa.Table.from_pylist([dict(zip(COLUMNS, row, strict=True)) for row in part])
            writer = writer or pq.ParquetWriter(parquet, table.schema)
            writer.write_table(table, row_group_size=50_000)
            db.executemany(f"INSERT INTO purchases VALUES ({', '.join('?' * len(COLUMNS))})", part)
        writer.close()
        db.commit()
        db.close()


def run_memory(url: str, folder: str, source: str, n: str) -> dict:
    from snap_capi_provider.core.sources import FileSource, iter_file_chunks, iter_sql_chunks

    _import_provider()
    started = time.perf_counter()
    if source == "parquet":
        file = FileSource.local(str(Path(folder) / f"rows-{n}.parquet"))
        report = _send(url, iter_file_chunks(file), total=file.row_count())
    else:
        db = sqlite3.connect(Path(folder) / f"rows-{n}.db")
        report = _send(url, iter_sql_chunks(db, "SELECT * FROM purchases"))
    elapsed = time.perf_counter() - started
    if report.accepted != int(n):
        raise SystemExit(f"memory run accepted {report.accepted} of {n}: {report.to_dict()['rejections']}")
    return {"events_per_s": int(n) / elapsed, "peak_rss_mb": peak_rss_mb()}


if __name__ == "__main__":
    kind, *rest = sys.argv[1:]
    if kind == "make-data":
        make_data(*rest)
        sys.exit(0)
    runner = {"sdk": run_sdk, "ours": run_ours, "split": run_split, "memory": run_memory}[kind]
    print(json.dumps(runner(*rest)))
