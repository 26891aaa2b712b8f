"""Command line entry point: ``snap-capi-emulator`` (also ``python -m snap_capi_provider.emulator``)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from .faults import DEFAULT_RANDOM_KINDS, FAULT_KINDS
from .server import CapiEmulator


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``snap-capi-emulator``."""
    p = argparse.ArgumentParser(
        prog="snap-capi-emulator", description="Serve a strict local emulator of Snap's Conversions API."
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8787, help="port (default 8787; 0 picks a free one)")
    p.add_argument(
        "--token", action="append", help="accepted access token; repeat for more (default: test-token)"
    )
    p.add_argument("--asset", action="append", help="known asset id; repeat for more (default: any asset)")
    p.add_argument("--batch-mode", choices=("whole", "partial"), default="whole")
    p.add_argument("--max-events", type=int, default=2000, help="events per request (default 2000)")
    p.add_argument("--max-body-bytes", type=int, default=None, help="body size limit (default none)")
    p.add_argument("--max-event-age-days", type=float, default=37)
    p.add_argument("--max-future-skew-s", type=float, default=300)
    p.add_argument("--fault-rate", type=float, default=0.0, help="share of send requests that fail at random")
    p.add_argument(
        "--fault-kinds",
        default=",".join(DEFAULT_RANDOM_KINDS),
        help=f"comma-separated kinds for --fault-rate, from: {', '.join(FAULT_KINDS)}",
    )
    p.add_argument("--seed", type=int, default=None, help="seed for random faults")
    p.add_argument("--oauth-client-id", help="start an OAuth token endpoint for this client id")
    p.add_argument("--oauth-client-secret", help="the OAuth app's client secret")
    p.add_argument("--oauth-refresh-token", help="the refresh token the OAuth endpoint accepts")
    p.add_argument("--token-lifetime", type=float, default=3600.0,
                   help="seconds an OAuth access token lives (default 3600; e.g. 5 to watch one expire)")
    p.add_argument("--rotate-refresh-token", action="store_true", help="issue a new refresh token on each grant")
    p.add_argument("--max-workers", type=int, default=64, help="connections served at once (default 64)")
    p.add_argument("--allow-default-token-off-loopback", action="store_true",
                   help="serve a non-loopback --host with the default token anyway (not recommended)")
    p.add_argument(
        "--count-only",
        action="store_true",
        help="send endpoints check the token, then only count events and their ids (for benchmarks)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Start the emulator, print its URL, serve until SIGINT or SIGTERM; return 0."""
    args = build_parser().parse_args(argv)
    emu = CapiEmulator(
        host=args.host,
        port=args.port,
        access_tokens=tuple(args.token or ("test-token",)),
        assets=args.asset,
        batch_mode=args.batch_mode,
        max_events_per_request=args.max_events,
        max_event_age_days=args.max_event_age_days,
        max_future_skew_s=args.max_future_skew_s,
        max_body_bytes=args.max_body_bytes,
        fault_rate=args.fault_rate,
        fault_kinds=[k.strip() for k in args.fault_kinds.split(",") if k.strip()],
        fault_seed=args.seed,
        count_only=args.count_only,
        oauth_client_id=args.oauth_client_id,
        oauth_client_secret=args.oauth_client_secret,
        oauth_refresh_token=args.oauth_refresh_token,
        token_lifetime_s=args.token_lifetime,
        rotate_refresh_token=args.rotate_refresh_token,
        max_workers=args.max_workers,
        allow_default_token_off_loopback=args.allow_default_token_off_loopback,
    )
    stop = threading.Event()
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
        except ValueError:  # not the main thread
            pass
    try:
        emu.start()
    except RuntimeError as exc:
        print(f"snap-capi-emulator: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        print(f"snap-capi-emulator listening on {emu.url}", flush=True)
        while not stop.wait(0.2):
            pass
    finally:
        emu.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0
