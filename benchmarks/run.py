"""`make bench`: snap-capi-provider against the real `snap-business-sdk` 1.0.0, same rows, same emulator.

Both clients send the same realistic messy rows (``benchmarks/data.py``: raw PII to normalize and
hash) to one local emulator in its own process, in count-only mode so the server is not the bottleneck,
and every row must arrive exactly once. The SDK runs before and after the provider's runs (the
machine's speed drifts), and the ratios printed are against the mean of its two runs. Printed: events/s
of each and the ratio measured in this run,
peak RSS of each run (each in its own process), the time split of the provider's send path (read /
normalize+hash / encode / HTTP), and a memory run: 2,000,000 rows from Parquet and from SQLite.

    python -m benchmarks.run [--rows 200000] [--memory-rows 2000000] [--processes 2] [--skip-memory]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

TOKEN = "bench-token"
PIXEL = "bench-pixel"
ROOT = Path(__file__).resolve().parents[1]


def _emulator() -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "snap_capi_provider.emulator", "--port", str(port),
                                "--token", TOKEN, "--count-only"], stdout=subprocess.PIPE, text=True)
    process.stdout.readline()
    return process, f"http://127.0.0.1:{port}"


def _summary(url: str, reset: bool = True) -> dict:
    with urllib.request.urlopen(f"{url}/_emulator/summary") as response:
        summary = json.load(response)
    if reset:
        urllib.request.urlopen(urllib.request.Request(f"{url}/_emulator/reset", method="POST")).close()
    return summary


def _child(kind: str, url: str, *args: str) -> dict:
    """One measured run in its own process (so its peak RSS is its own); returns its JSON result."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.runs", kind, url, *args], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"benchmark run {kind} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _check(summary: dict, rows: int, label: str) -> None:
    if summary.get("unique_event_ids") != rows or summary.get("duplicates", 0):
        raise SystemExit(f"benchmark invalid: {label}: the emulator counted {summary.get('unique_event_ids')} "
                         f"distinct events ({summary.get('duplicates')} duplicates) for {rows} rows")


def _sdk_run(url: str, rows: int, which: str) -> float:
    """One run of the SDK; it runs before and after the provider's runs, since the machine's speed
    drifts within a bench (the ratio is taken against the mean of both)."""
    sdk = _child("sdk", url, str(rows))
    _check(_summary(url), rows, "sdk")
    print(f"  snap-business-sdk 1.0.0, send_events_sync, batches of 2000 (v2), {which}: "
          f"{sdk['events_per_s']:>9,.0f} events/s, peak RSS {sdk['peak_rss_mb']:,.0f} MB", flush=True)
    return sdk["events_per_s"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the speed runs")
    parser.add_argument("--sdk-rows", type=int, default=0, help="rows of the SDK run (default: --rows)")
    parser.add_argument("--memory-rows", type=int, default=2_000_000, help="rows of the memory runs")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="prepare_processes of the provider's multi-process run")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    data_dir = Path(os.environ.get("SNAP_CAPI_BENCH_DIR", ROOT / ".bench"))
    data_dir.mkdir(exist_ok=True)
    sdk_rows = args.sdk_rows or args.rows

    os.environ["SNAP_CAPI_BENCH_DIR"] = str(data_dir)  # the runs read the same generated rows
    subprocess.run([sys.executable, "-c", f"from benchmarks.runs import bench_rows; bench_rows({args.rows}); "
                    f"bench_rows({sdk_rows})"], cwd=ROOT, check=True)
    process, url = _emulator()
    try:
        print(f"{args.rows:,} messy rows (30% repeat customers, 10 countries), emulator at {url} "
              f"(own process, count-only), {os.cpu_count()} cores", flush=True)
        sdk_runs = [_sdk_run(url, sdk_rows, "first")]
        results = {}
        for label, version, processes in (("v3, 1 process", "v3", 1), ("v2, 1 process", "v2", 1),
                                          (f"v3, {args.processes} prepare processes", "v3", args.processes)):
            result = _child("ours", url, str(args.rows), version, str(processes))
            _check(_summary(url), args.rows, label)
            results[label] = result
            print(f"  snap-capi-provider, {label:<28} {result['events_per_s']:>9,.0f} events/s "
                  f"({result['events_per_s'] / sdk_runs[0]:.1f}x the SDK's first run), peak RSS "
                  f"{result['peak_rss_mb']:,.0f} MB", flush=True)
        sdk_runs.append(_sdk_run(url, sdk_rows, "again"))
        sdk = sum(sdk_runs) / len(sdk_runs)
        print(f"  the SDK's two runs: {sdk_runs[0]:,.0f} and {sdk_runs[1]:,.0f} events/s, mean {sdk:,.0f}; "
              "against the mean: " + ", ".join(f"{label} {result['events_per_s'] / sdk:.1f}x"
                                              for label, result in results.items()), flush=True)
        split = _child("split", url, str(args.rows))
        _check(_summary(url), args.rows, "split")
        print("  time split of the send path, 1 process (s): " + ", ".join(
            f"{stage} {seconds:.2f}" for stage, seconds in split["split_s"].items()), flush=True)
        best = max(result["events_per_s"] for result in results.values())
        print(f"ratio, best provider run / mean of the SDK's runs: {best / sdk:.1f}x", flush=True)

        if not args.skip_memory:
            print(f"memory: {args.memory_rows:,} and {args.rows:,} rows streamed from files and SQLite "
                  f"({data_dir})", flush=True)
            subprocess.run([sys.executable, "-m", "benchmarks.runs", "make-data", str(data_dir),
                            str(args.memory_rows), str(args.rows)], cwd=ROOT, check=True)
            for source in ("parquet", "sqlite"):
                for rows in (args.rows, args.memory_rows):
                    result = _child("memory", url, str(data_dir), source, str(rows))
                    _check(_summary(url), rows, f"memory {source}")
                    print(f"  {source:<8} {rows:>10,} rows: peak RSS {result['peak_rss_mb']:>6,.0f} MB, "
                          f"{result['events_per_s']:>9,.0f} events/s", flush=True)
    finally:
        process.terminate()
        process.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
