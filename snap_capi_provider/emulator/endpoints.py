"""The API's event endpoints: v3 and v2 send and validate, and count-only sends (for benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .counting import count_events, scan_ids, scan_v2_asset
from .http import BodyError
from .validation import v2_asset_id, v2_dedup_id, validate_v2_event, validate_v3_event

if TYPE_CHECKING:
    from .http import RequestHandler

    _Base = RequestHandler
else:
    _Base = object

V3_OK = {"status": "VALID", "reason": "Events have been processed successfully."}
V2_OK = {"status": "SUCCESS", "reason": "All events have been processed successfully."}
_DAY = 86400.0


@dataclass
class ValidatedEvent:
    """An event posted to a validate endpoint, with its verdict (for the stats and logs endpoints)."""

    asset_id: str | None
    version: str
    event: Any
    received_ts: float
    status: str
    errors: list[str]
    warnings: list[str]


class EventEndpoints(_Base):
    """``POST /v3/{asset}/events[/validate]`` and ``POST /v2/conversion[/validate]`` (a handler mixin)."""

    def _count_events(self, n: int, empty: str) -> int:
        """Record the request's event count; refuse an empty request (``empty``) or one over the limit."""
        self._n_events = n
        if n == 0:
            raise BodyError(400, empty)
        limit = self._emu.max_events_per_request
        if n > limit:
            raise BodyError(400, f"Too many events: {n} in one request, the limit is {limit} per request")
        return n

    def _count_only(self, version: str, body: bytes) -> None:
        """Count-only mode: count the events and scan their ids, no parsing, no validation."""
        emu = self._emu
        n = self._count_events(count_events(body, version), "Request body must contain at least one event")
        if version == "v2":
            self._asset = scan_v2_asset(body)
        emu._record_counted(self._asset, n, scan_ids(body, version))
        self._send(200, V3_OK if version == "v3" else V2_OK)

    def _record_verdicts(self, version: str, assets: list[str | None], events: list[Any],
                         verdicts: list[tuple[list[tuple[str, str]], list[str]]], now: float) -> list[dict[str, Any]]:
        """Keep validated events for the stats and logs endpoints; return their ``event_logs`` entries."""
        tests, logs = [], []
        for i, (errs, warns) in enumerate(verdicts):
            status = "INVALID" if errs else "VALID"
            msgs = [m for _, m in errs]
            tests.append(ValidatedEvent(assets[i], version, events[i], now, status, msgs, warns))
            logs.append({"event": i, "status": status,
                         "errors": {"codes": [c for c, _ in errs], "error_msgs": msgs}, "warnings": warns})
        self._emu._record_tests(tests)
        return logs

    # ------------------------------------------------------------------ v3

    def _v3_events(self, kind: str, raw: bytes, payload: Any) -> None:
        emu = self._emu
        data = payload.get("data") if type(payload) is dict else None
        if type(data) is not list:
            raise BodyError(400, "Request body must be a JSON object with a 'data' list of events")
        n = self._count_events(len(data), "Param data must contain at least one event")
        now = emu.clock()
        max_age = emu.max_event_age_days * _DAY
        skew = emu.max_future_skew_s
        verdicts = [validate_v3_event(ev, now, max_age, skew) for ev in data]
        asset = self._asset

        if kind == "validate":
            logs = self._record_verdicts("v3", [asset] * n, data, verdicts, now)
            first_bad = next((i for i, (errs, _) in enumerate(verdicts) if errs), None)
            if first_bad is None:
                reason = "All events are valid."
            else:
                n_bad = sum(1 for errs, _ in verdicts if errs)
                first_msg = verdicts[first_bad][0][0][1]
                reason = f"{n_bad} of {n} events are invalid; first at index {first_bad}: {first_msg}"
            self._send(
                200,
                {
                    "status": "VALID" if first_bad is None else "INVALID",
                    "test_event": True,
                    "reason": reason,
                    "event_logs": logs,
                },
            )
            return

        first_bad = next((i for i, (errs, _) in enumerate(verdicts) if errs), None)
        if first_bad is None:
            emu._record_live(raw, "v3", [(asset, i, _v3_event_id(ev)) for i, ev in enumerate(data)])
            self._send(200, V3_OK)
            return
        if emu.batch_mode == "partial":
            valid = [
                (asset, i, _v3_event_id(ev))
                for i, (ev, (errs, _)) in enumerate(zip(data, verdicts, strict=True))
                if not errs
            ]
            emu._record_live(raw, "v3", valid)
        errs = verdicts[first_bad][0]
        self._send(
            400,
            {
                "status": "INVALID",
                "reason": errs[0][1],
                "event": first_bad,
                "errors": {"codes": [c for c, _ in errs], "error_msgs": [m for _, m in errs]},
            },
        )

    # ------------------------------------------------------------------ v2

    def _v2_events(self, kind: str, raw: bytes, payload: Any) -> None:
        emu = self._emu
        events = [payload] if type(payload) is dict else payload
        if type(events) is not list:
            raise BodyError(400, "Request body must be a JSON array of events")
        n = self._count_events(len(events), "Request body must contain at least one event")
        assets = [v2_asset_id(ev) for ev in events]
        self._asset = next((a for a in assets if a), None)
        if emu.assets is not None and any(a is not None and a not in emu.assets for a in assets):
            self._send(403, {"status": "FAILED", "reason": "No access to this asset"})
            return
        now = emu.clock()
        max_age = emu.max_event_age_days * _DAY
        verdicts = [validate_v2_event(ev, now, max_age, emu.max_future_skew_s) for ev in events]
        bad = [i for i, (errs, _) in enumerate(verdicts) if errs]
        grouped: dict[str, list[int]] = {}
        for i in bad:
            for _, msg in verdicts[i][0]:
                grouped.setdefault(msg, []).append(i)
        error_records = [{"reason": msg, "record_indexes": idx} for msg, idx in grouped.items()]
        reason = f"{len(bad)} of {n} events failed validation." if bad else V2_OK["reason"]

        if kind == "validate":
            logs = self._record_verdicts("v2", assets, events, verdicts, now)
            self._send(
                200,
                {
                    "status": "FAILED" if bad else "SUCCESS",
                    "test_event": True,
                    "reason": reason if bad else "All events are valid.",
                    "error_records": error_records,
                    "event_logs": logs,
                },
            )
            return

        if not bad:
            emu._record_live(raw, "v2", [(assets[i], i, v2_dedup_id(ev)) for i, ev in enumerate(events)])
            self._send(200, V2_OK)
            return
        bad_set = set(bad)
        if emu.batch_mode == "partial" and len(bad) < n:
            valid = [(assets[i], i, v2_dedup_id(ev)) for i, ev in enumerate(events) if i not in bad_set]
            emu._record_live(raw, "v2", valid)
            self._send(200, {"status": "PARTIAL", "reason": reason, "error_records": error_records})
            return
        self._send(400, {"status": "FAILED", "reason": reason, "error_records": error_records})


def _v3_event_id(event: dict[str, Any]) -> str | None:
    eid = event.get("event_id")
    return eid if type(eid) is str and eid else None
