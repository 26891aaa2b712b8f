"""Where a run sends its events and how: the assets (pixel, Snap app) and the delivery options."""

from __future__ import annotations

from dataclasses import dataclass

MAX_EVENTS_PER_REQUEST = 2000
DEFAULT_MAX_BATCH_BYTES = 2_000_000


MAX_PREPARE_PROCESSES = 64


@dataclass(frozen=True)
class Assets:
    """Where events go: WEB and OFFLINE to the pixel, MOBILE_APP to the Snap app (v2 also needs app_id)."""

    pixel_id: str | None = None
    snap_app_id: str | None = None
    app_id: str | None = None

    def __post_init__(self) -> None:
        for name in ("pixel_id", "snap_app_id", "app_id"):
            object.__setattr__(self, name, asset_text(name, getattr(self, name)))
        if self.pixel_id is not None and self.pixel_id == self.snap_app_id:
            raise ValueError("pixel_id and snap_app_id are the same id: app events and pixel events go to "
                             "different assets, in separate requests. Check which one is the Snap app id.")

    def for_source(self, action_source: str) -> str | None:
        return self.snap_app_id if action_source == "MOBILE_APP" else self.pixel_id


def asset_text(name: str, value: object) -> str | None:
    """An asset id as text (a whole number is read as its digits); ``None`` when empty. Anything else (a
    list, a bool, a float a template rendered) is a ``ValueError`` naming ``name``, before anything is sent."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text (an id such as 'a1b2c3d4-...'), not {type(value).__name__}.")
    return value.strip() or None


@dataclass(frozen=True)
class DeliveryOptions:
    batch_size: int = MAX_EVENTS_PER_REQUEST
    max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES
    concurrency: int = 4
    dedupe_event_ids: bool = True
    """Reject a repeated ``event_id`` within one run (Snap would drop it anyway)."""
    max_requests_per_second: float | None = None
    """Client-side cap on event requests started per second (Snap asks for under 1000)."""
    dry_run: bool = False
    """Prepare and account for every row, send nothing (``would_send`` in the report)."""
    prepare_processes: int = 1
    """Worker processes that normalize and encode chunks (1: in the task's own process)."""
    progress_interval_s: float = 5.0
    """Seconds between progress lines in the task log (0: only the final one)."""

    def __post_init__(self) -> None:
        if not _is_int(self.batch_size) or not 1 <= self.batch_size <= MAX_EVENTS_PER_REQUEST:
            raise ValueError(f"batch_size must be a whole number between 1 and {MAX_EVENTS_PER_REQUEST}, "
                             f"not {self.batch_size!r}.")
        if not _is_int(self.max_batch_bytes) or self.max_batch_bytes < 1024:
            raise ValueError(f"max_batch_bytes must be a whole number of at least 1024, not {self.max_batch_bytes!r}.")
        if not _is_int(self.concurrency) or not 1 <= self.concurrency <= 256:
            raise ValueError(f"concurrency must be a whole number between 1 and 256, not {self.concurrency!r}.")
        if self.max_requests_per_second is not None and not 0 < self.max_requests_per_second <= 100_000:
            raise ValueError("max_requests_per_second must be positive (Snap asks for under 1000), "
                             f"not {self.max_requests_per_second!r}.")
        if not _is_int(self.prepare_processes) or not 1 <= self.prepare_processes <= MAX_PREPARE_PROCESSES:
            raise ValueError(f"prepare_processes must be between 1 and {MAX_PREPARE_PROCESSES}, "
                             f"not {self.prepare_processes!r}.")
        if not self.progress_interval_s >= 0:
            raise ValueError("progress_interval_s must not be negative.")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
