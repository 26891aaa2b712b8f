"""The run report: every input row in exactly one bucket, folded as the run goes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    """What happened to each input row. Invariant: ``rows == accepted + rejected + failed``."""

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

    @property
    def rejected(self) -> int:
        return sum(self.rejections.by_reason.values())

    @property
    def failed(self) -> int:
        return sum(self.failures.by_reason.values())

    def warn(self, code: str, count: int = 1) -> None:
        self.warnings[code] = self.warnings.get(code, 0) + count

    def to_dict(self) -> dict[str, Any]:
        """JSON-native dict for XCom."""
        return {
            "api_version": self.api_version,
            "rows": self.rows,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "failed": self.failed,
            "requests": self.requests,
            "retries": self.retries,
            "batches": self.batches,
            "duration_s": round(self.duration_s, 3),
            "events_per_s": round(self.accepted / self.duration_s, 1) if self.duration_s > 0 else 0.0,
            "rejections": self.rejections.to_dict(),
            "failures": self.failures.to_dict(),
            "warnings": dict(self.warnings),
            "error": self.error,
        }
