"""The run report: every input row in exactly one bucket, folded as the run goes."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from snap_capi_provider.core.readiness import Readiness, merge_readiness

MAX_EXAMPLES = 10


@dataclass
class Bucket:
    """Counts per reason plus a few examples (row number and reason, never a value)."""

    by_reason: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)

    def add(self, row: int, reason: str) -> None:
        self.by_reason[reason] = self.by_reason.get(reason, 0) + 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append({"row": row, "reason": reason})

    def to_dict(self) -> dict[str, Any]:
        return {"by_reason": dict(sorted(self.by_reason.items(), key=lambda kv: -kv[1])),
                "examples": sorted(self.examples, key=lambda example: example["row"])}


@dataclass
class SendReport:
    """What happened to each input row. Invariant: ``rows == accepted + rejected + failed`` (in a dry
    run, where nothing is sent, ``rows == would_send + rejected + failed``)."""

    api_version: str = "v3"
    rows: int = 0
    accepted: int = 0
    requests: int = 0
    retries: int = 0
    batches: int = 0
    duration_s: float = 0.0
    rejections: Bucket = field(default_factory=Bucket)
    failures: Bucket = field(default_factory=Bucket)
    warnings: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    dry_run: bool = False
    prepare_processes: int = 1
    rows_seen: int = 0
    """Rows read from the source, of this shard or not (``rows`` counts this shard's only)."""
    readiness: Readiness = field(default_factory=Readiness)
    started_at: float = field(default_factory=time.time)

    @property
    def rejected(self) -> int:
        return sum(self.rejections.by_reason.values())

    @property
    def failed(self) -> int:
        return sum(self.failures.by_reason.values())

    @property
    def delivered_label(self) -> str:
        return "ready to send (dry run)" if self.dry_run else "accepted"

    def warn(self, code: str, count: int = 1) -> None:
        self.warnings[code] = self.warnings.get(code, 0) + count

    def to_dict(self) -> dict[str, Any]:
        """JSON-native dict for XCom."""
        accepted = 0 if self.dry_run else self.accepted
        result = {
            "api_version": self.api_version,
            "rows": self.rows,
            "accepted": accepted,
            "rejected": self.rejected,
            "failed": self.failed,
            "requests": self.requests,
            "retries": self.retries,
            "batches": 0 if self.dry_run else self.batches,
            "duration_s": round(self.duration_s, 3),
            "events_per_s": round(self.rows / self.duration_s, 1) if self.duration_s > 0 else 0.0,
            "started_at": round(self.started_at, 3),
            "started_at_iso": _iso(self.started_at),
            "rejections": self.rejections.to_dict(),
            "failures": self.failures.to_dict(),
            "warnings": dict(self.warnings),
            "match_readiness": self.readiness.to_dict(),
            "prepare_processes": self.prepare_processes,
            "error": self.error,
        }
        if self.dry_run:
            result["dry_run"] = True
            result["would_send"] = self.accepted
        return result


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat(timespec="seconds")


_SUMMED = ("rows", "accepted", "rejected", "failed", "requests", "retries", "batches", "would_send")


def merge_reports(reports: Iterable[Mapping[str, Any] | None]) -> dict[str, Any]:
    """One report from the reports of several tasks (mapped shards, files or partitions).

    Counts and reasons add up, ``match_readiness`` is weighted by events, ``errors`` lists each
    task's error; a missing report (a task that died before pushing one) is counted in
    ``missing_reports``. Use it in a downstream task with ``trigger_rule="all_done"``::

        @task(trigger_rule="all_done")
        def merge(reports):
            return merge_reports(reports)
    """
    merged: dict[str, Any] = {key: 0 for key in _SUMMED if key != "would_send"}
    merged.update({"tasks": 0, "missing_reports": 0, "duration_s": 0.0, "errors": [],
                   "rejections": {"by_reason": {}, "examples": []}, "failures": {"by_reason": {}, "examples": []},
                   "warnings": {}})
    readiness = []
    for report in reports:
        if not report:
            merged["missing_reports"] += 1
            continue
        merged["tasks"] += 1
        for key in _SUMMED:
            if key in report:
                merged[key] = merged.get(key, 0) + int(report[key] or 0)
        merged["duration_s"] = max(merged["duration_s"], float(report.get("duration_s") or 0.0))
        for bucket in ("rejections", "failures"):
            into = merged[bucket]
            for reason, count in (report.get(bucket) or {}).get("by_reason", {}).items():
                into["by_reason"][reason] = into["by_reason"].get(reason, 0) + count
            into["examples"] = (into["examples"] + list((report.get(bucket) or {}).get("examples", [])))[:MAX_EXAMPLES]
        for code, count in (report.get("warnings") or {}).items():
            merged["warnings"][code] = merged["warnings"].get(code, 0) + count
        if report.get("error"):
            merged["errors"].append(report["error"])
        if report.get("match_readiness"):
            readiness.append(report["match_readiness"])
    merged["match_readiness"] = merge_readiness(readiness)
    return merged
