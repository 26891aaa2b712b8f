"""An exception raised in the task's main thread at any moment (as Airflow's ``execution_timeout`` does,
from a SIGALRM handler) ends the run with every row accounted for: ``rows == accepted + rejected +
failed`` in the report the exception carries, and every row not accepted in the rejected-rows sink.

Most of the time the main thread is blocked waiting for room among the requests in flight, holding the
next full batch: that batch must be failed, not lost."""

from __future__ import annotations

import io
import json
import signal
import time
from collections.abc import Sequence

import pytest

from snap_capi_provider.core.client import SnapCapiClient
from snap_capi_provider.core.delivery import BatchItem, BatchOutcome
from snap_capi_provider.core.events import EventOptions
from snap_capi_provider.core.pipeline import INTERRUPTED, Assets, DeliveryOptions, send_rows
from snap_capi_provider.core.rejected_rows import RejectedRowsWriter
from snap_capi_provider.core.sources import iter_chunks
from tests.conftest import PIXEL, TOKEN
from tests.reliability_helpers import MAPPING, pii_rows


class Timeout(Exception):
    """Stands for AirflowTaskTimeout."""


def slow_batch(client: SnapCapiClient, asset_id: str, items: Sequence[BatchItem]) -> BatchOutcome:
    time.sleep(0.05)  # every batch is accepted, slowly: no network at all
    return BatchOutcome(accepted=list(items), requests=1)


@pytest.mark.parametrize("after_s", [0.12, 0.33, 0.51, 0.78])
@pytest.mark.parametrize("concurrency", [1, 3])
def test_an_exception_at_any_moment_leaves_every_row_accounted(after_s, concurrency):
    def alarm(signum, frame):
        raise Timeout

    previous = signal.signal(signal.SIGALRM, alarm)
    stream = io.StringIO()
    signal.setitimer(signal.ITIMER_REAL, after_s)
    try:
        with SnapCapiClient(TOKEN, "http://127.0.0.1:9") as client, pytest.raises(Timeout) as raised:
            send_rows(client, iter_chunks(pii_rows(2000), 100), assets=Assets(pixel_id=PIXEL), field_mapping=MAPPING,
                      event_options=EventOptions(event_name="PURCHASE", default_phone_region="US"),
                      delivery=DeliveryOptions(batch_size=10, concurrency=concurrency, progress_interval_s=0),
                      sink=RejectedRowsWriter(stream, ["order_id"]), sink_columns=["order_id"], batch_fn=slow_batch)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    report = raised.value.snap_capi_report  # type: ignore[attr-defined]
    assert report.rows == report.accepted + report.rejected + report.failed, (
        report.rows, report.accepted, report.rejected, report.failed)
    assert 0 < report.accepted < report.rows and report.failed > 0
    assert set(report.failures.by_reason) == {INTERRUPTED}
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == report.failed + report.rejected
    assert len({line["row"] for line in lines}) == len(lines)  # no row failed twice
