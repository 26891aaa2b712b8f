"""The whole send path (``send_rows``) against the emulator: batching, concurrency, one session,
row accounting, the rejected-rows file, and stable event ids across an interrupted run and its re-run
(SNAP_CAPI.md section 6; mistakes 9 and 10)."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator

import pandas as pd
import pytest

from snap_capi_provider.core.client import RetryPolicy, SnapCapiClient
from snap_capi_provider.core.events import EventOptions, MappingError
from snap_capi_provider.core.pipeline import Assets, DeliveryOptions, send_rows
from snap_capi_provider.core.rejected_rows import RejectedRowsWriter
from snap_capi_provider.core.report import SendReport
from snap_capi_provider.core.sources import iter_chunks
from snap_capi_provider.emulator import Fault
from tests.conftest import PIXEL, TOKEN
from tests.reliability_helpers import MAPPING, emulator, leaks, pii_rows, raw_pii

FAST = RetryPolicy(max_retries=2, backoff_initial_s=0.0, backoff_max_s=0.0)
OPTIONS = EventOptions(event_name="PURCHASE", default_phone_region="US")


@pytest.fixture
def emu():
    with emulator() as emu:
        yield emu


def run(emu, data, *, mapping=MAPPING, options=OPTIONS, delivery=None, sink=None, sink_columns=(),
        chunk_rows: int = 20_000, retry: RetryPolicy = FAST, pool_size: int = 4) -> SendReport:
    chunks = data if isinstance(data, Iterator) else iter_chunks(data, chunk_rows)
    with SnapCapiClient(TOKEN, emu.url, retry=retry, pool_size=pool_size) as client:
        report = send_rows(client, chunks, assets=Assets(pixel_id=PIXEL), field_mapping=mapping,
                           event_options=options, delivery=delivery, sink=sink, sink_columns=sink_columns)
    assert report.rows == report.accepted + report.rejected + report.failed
    return report


def records(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_batches_hold_at_most_2000_events_over_one_pooled_session(emu, caplog):
    caplog.set_level(logging.DEBUG, logger="urllib3.connectionpool")
    report = run(emu, pii_rows(4500), delivery=DeliveryOptions(concurrency=2), pool_size=2)
    assert (report.accepted, report.requests, report.batches) == (4500, 3, 3)
    assert sorted(r.n_events for r in emu.requests) == [500, 2000, 2000]
    opened = [r for r in caplog.records if r.getMessage().startswith("Starting new HTTP connection")]
    assert 1 <= len(opened) <= 2  # one session, not one per request (mistake 10)


@pytest.mark.parametrize("api_version", ["v3", "v2"])
def test_a_mapped_event_id_is_written_once_per_event(emu, api_version):
    rows = [{"id": f"order-{i}", "email": f"p{i}@example.com", "ts": int(time.time()) - 60} for i in range(3)]
    with SnapCapiClient(TOKEN, emu.url, retry=FAST, api_version=api_version) as client:
        report = send_rows(client, iter_chunks(rows), assets=Assets(pixel_id=PIXEL),
                           field_mapping={"event_id": "id", "em": "email", "event_time": "ts"},
                           event_options=EventOptions(event_name="SIGN_UP"))
    assert report.accepted == 3  # the emulator refuses a key repeated in an object, as a strict parser does
    assert sorted(emu.accepted_count_by_event_id()) == [
        "order-0", "order-1", "order-2"]


def test_concurrent_requests_really_overlap(emu):
    emu.set_fault_rate(1.0, kinds=("delay",), delay_s=0.3)  # every request takes 0.3 s, then succeeds
    started = time.monotonic()
    report = run(emu, pii_rows(400), delivery=DeliveryOptions(batch_size=50, concurrency=4))
    elapsed = time.monotonic() - started
    assert (report.accepted, report.requests) == (400, 8)
    assert elapsed < 8 * 0.3 * 0.6  # in turn it would take 2.4 s; four at a time about 0.6 s


@pytest.mark.parametrize("batch_mode", ["whole", "partial"])
def test_rejected_row_numbers_line_up_with_the_input(batch_mode):
    rows = pii_rows(30)
    rows[3]["email"], rows[3]["phone"] = "not-an-email", None  # rejected before sending
    rows[17]["currency"] = None  # PURCHASE without currency: rejected before sending
    for i in (10, 22):  # too old for this server only: rejected by Snap
        rows[i]["ts"] -= 10 * 86400
    stream = io.StringIO()
    with emulator(batch_mode=batch_mode, max_event_age_days=7) as emu:
        report = run(emu, rows, delivery=DeliveryOptions(batch_size=10),
                     sink=RejectedRowsWriter(stream, ["order_id"]), sink_columns=["order_id"])
        accepted = set(emu.accepted_count_by_event_id())
    lines = {line["row"]: line for line in records(stream)}
    assert set(lines) == {3, 10, 17, 22}
    assert lines[3]["reason"] == "invalid_email" and lines[17]["reason"] == "purchase_missing_currency"
    assert lines[10]["reason"].startswith("snap_rejected: ") and "too old" in lines[10]["reason"]
    assert all(line["order_id"] == f"o-{row}" and line["status"] == "rejected" for row, line in lines.items())
    assert set(lines[3]) == {"row", "status", "reason", "order_id"}  # no other column, no PII
    assert accepted == {f"o-{i}" for i in range(30)} - {"o-3", "o-10", "o-17", "o-22"}
    assert (report.accepted, report.rejected, report.failed) == (26, 4, 0)


def test_a_refused_token_stops_the_run_and_every_row_is_accounted_and_written(emu):
    emu.add_faults(Fault("bad_event_400"), Fault("401"))
    rows = pii_rows(3000)
    rows[5]["email"], rows[5]["phone"] = "nope", None
    stream = io.StringIO()
    report = run(emu, rows, delivery=DeliveryOptions(batch_size=500, concurrency=1), chunk_rows=1000,
                 sink=RejectedRowsWriter(stream, ["order_id"]), sink_columns=["order_id"])
    assert report.error.startswith("auth_error: ") and "HTTP 401" in report.error
    assert report.rejected == 2  # the client-side one, and the event the 400 named
    assert report.failed == 3000 - report.accepted - 2
    assert set(report.failures.by_reason) <= {"auth_error", "not_sent_after_auth_error"}
    lines = records(stream)
    assert len(lines) == report.rejected + report.failed == len({line["row"] for line in lines})
    failed_ids = {line["order_id"] for line in lines if line["status"] == "failed"}
    assert failed_ids.isdisjoint(emu.accepted_count_by_event_id())
    assert len(failed_ids) + len(emu.accepted_count_by_event_id()) == 2998


def test_failed_rows_are_written_marked_failed_and_nothing_is_lost(emu):
    emu.set_fault_rate(0.5, kinds=("503", "drop"), seed=11)
    stream = io.StringIO()
    report = run(emu, pii_rows(2000), delivery=DeliveryOptions(batch_size=100),
                 retry=RetryPolicy(max_retries=0), sink=RejectedRowsWriter(stream, ["order_id"]),
                 sink_columns=["order_id"])
    accepted = set(emu.accepted_count_by_event_id())
    failed = {line["order_id"] for line in records(stream) if line["status"] == "failed"}
    assert 0 < report.failed < 2000 and report.failed == len(failed)
    assert failed.isdisjoint(accepted) and failed | accepted == {f"o-{i}" for i in range(2000)}
    assert set(report.failures.by_reason) <= {"retries_exhausted: HTTP 503",
                                              "retries_exhausted: connection error (ConnectionError)"}


def chunks_then_crash(rows: list[dict], size: int, crash_after: int) -> Iterator[pd.DataFrame]:
    """A source that yields ``crash_after`` chunks, then dies the way a killed worker would stop reading."""
    for n, frame in enumerate(iter_chunks(rows, size)):
        if n == crash_after:
            raise RuntimeError("worker killed")
        yield frame


@pytest.mark.parametrize(("mapping", "options"), [
    (MAPPING, OPTIONS),  # the mapped event_id (an order id)
    ({k: v for k, v in MAPPING.items() if k != "event_id"}, EventOptions(  # derived from key columns
        event_name="PURCHASE", default_phone_region="US", event_id_columns=("order_id", "ts"))),
    ({k: v for k, v in MAPPING.items() if k not in ("event_id", "order_id")}, OPTIONS),  # content hash
], ids=["mapped", "event_id_columns", "content_hash"])
def test_an_interrupted_run_and_its_rerun_send_the_same_event_ids(emu, mapping, options):
    rows = pii_rows(1000)
    with pytest.raises(RuntimeError, match="worker killed"):
        run(emu, chunks_then_crash(rows, 200, crash_after=3), mapping=mapping, options=options,
            delivery=DeliveryOptions(batch_size=100))
    first = emu.accepted_count_by_event_id()
    assert 0 < len(first) <= 600
    report = run(emu, rows, mapping=mapping, options=options, delivery=DeliveryOptions(batch_size=100))
    second = emu.accepted_count_by_event_id()
    assert report.accepted == 1000 and len(second) == 1000
    assert set(first) <= set(second)
    assert {eid for eid, count in second.items() if count == 2} == set(first)  # resent, deduplicated
    assert len(emu.accepted_events()) == 1000


def test_a_later_chunk_of_dict_rows_may_lack_a_column(emu):
    rows = pii_rows(10)
    for row in rows[5:]:
        del row["phone"]
        del row["first_name"]
    report = run(emu, rows, chunk_rows=5)
    assert report.accepted == 10


def test_the_log_names_the_mapping_and_the_columns_not_sent_never_values(emu, caplog):
    caplog.set_level(logging.INFO, logger="snap_capi_provider.core.pipeline")
    rows = [{"email": "a@example.com", "pn": "+1 650 555 1212", "timestamp": int(time.time()) - 60, "amount": 1,
             "currency": "USD"}]
    report = run(emu, rows, mapping=None)
    assert report.accepted == 1
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Snap fields from columns")]
    assert line == ("Snap fields from columns (by column name): em <- 'email', event_time <- 'timestamp', "
                    "value <- 'amount', currency <- 'currency'. Columns not sent: 'pn'.")


def test_a_bad_mapping_fails_before_any_request(emu):
    with pytest.raises(MappingError, match=r"missing column\(s\) \['emial'\]\. Available columns: \['order"):
        run(emu, pii_rows(5), mapping={**MAPPING, "em": "emial"})
    assert emu.requests == []


def test_empty_input_is_a_success_with_zero_rows(emu):
    for data in ([], pd.DataFrame(), pd.DataFrame(columns=list(pii_rows(1)[0]))):
        report = run(emu, data)
        assert (report.rows, report.accepted, report.error) == (0, 0, None)
    assert emu.requests == []


def test_all_rows_invalid_sends_nothing(emu):
    rows = pii_rows(20)
    for row in rows:
        row["email"], row["phone"] = "x", "12"
    report = run(emu, rows)
    assert (report.rejected, report.requests) == (20, 0) and emu.requests == []
    assert report.rejections.by_reason == {"invalid_email": 20}


def test_duplicate_rows_are_sent_once(emu):
    rows = pii_rows(5)
    report = run(emu, rows + [dict(rows[1]), dict(rows[3])])
    assert (report.accepted, report.rejections.by_reason) == (5, {"duplicate_event_id": 2})
    assert report.rejections.examples == [{"row": 5, "reason": "duplicate_event_id"},
                                          {"row": 6, "reason": "duplicate_event_id"}]


def test_an_event_too_large_for_any_request_is_rejected_alone(emu):
    rows = pii_rows(3)
    for row in rows:
        row["search"] = "ok"
    # Each field under its length cap, the event over any request's byte cap (2 MB).
    rows[1]["items"] = ["🙂" * 900 + str(i) for i in range(700)]
    report = run(emu, rows, mapping={**MAPPING, "search_string": "search", "content_ids": "items"})
    assert report.accepted == 2 and report.rejections.by_reason == {"event_too_large": 1}


def test_reports_and_rejected_rows_hold_no_raw_pii(emu):
    rows = pii_rows(20)
    rows[2]["email"], rows[2]["phone"] = "Broken.Address@", "+1 650 555 1"
    emu.add_faults(Fault("bad_event_400", event_index=4))
    stream = io.StringIO()
    report = run(emu, rows, sink=RejectedRowsWriter(stream, ["order_id"]), sink_columns=["order_id"])
    assert report.rejected == 2
    text = json.dumps(report.to_dict()) + stream.getvalue()
    assert leaks(text, raw_pii(rows) | {"Broken.Address@", "+1 650 555 1"}) == []


def test_asset_ids_are_text_a_whole_number_reads_as_its_digits_anything_else_is_refused():
    assert Assets(pixel_id=123, snap_app_id=" app ").pixel_id == "123"
    assert Assets(snap_app_id=" app ").snap_app_id == "app"
    for odd in (["a"], True, 12.5, {"x": 1}):
        with pytest.raises(ValueError, match="pixel_id must be text"):
            Assets(pixel_id=odd)


def test_one_id_as_both_pixel_and_snap_app_is_refused_before_anything_is_sent():
    # App and pixel events would share requests, and a v2 app event would name the pixel.
    with pytest.raises(ValueError, match="pixel_id and snap_app_id are the same id"):
        Assets(pixel_id="a1", snap_app_id=" a1 ")


def test_a_v2_web_event_for_a_pixel_given_as_a_number_goes_to_that_pixel():
    # The id compared as text: 123 once read "123" != 123 and the event went out as an app event.
    from snap_capi_provider.core.prepare import prepare_chunk

    frame = pd.DataFrame([{"email": "a@example.com", "ts": int(time.time()) - 60}], dtype=object)
    prepared = prepare_chunk(frame, {"em": "email", "event_time": "ts"}, EventOptions(event_name="SIGN_UP"),
                             [0], "v2", Assets(pixel_id=123))
    (payload,) = prepared.groups["123"][1]
    assert json.loads(payload)["pixel_id"] == "123" and "snap_app_id" not in json.loads(payload)


def test_fields_v2_has_no_name_for_are_counted_as_warnings_not_dropped_quietly(emu):
    rows = [dict(row, gender="f", country="US", dob="1990-01-02") for row in pii_rows(5)]
    mapping = {**MAPPING, "ge": "gender", "country": "country", "db": "dob"}
    with SnapCapiClient(TOKEN, emu.url, api_version="v2", retry=FAST) as client:
        report = send_rows(client, iter_chunks(rows, 2), assets=Assets(pixel_id=PIXEL), field_mapping=mapping,
                           event_options=OPTIONS)
    assert report.accepted == 5
    assert {code: n for code, n in report.warnings.items() if code.endswith("_not_sent_in_v2")} == {
        "ge_not_sent_in_v2": 5, "country_not_sent_in_v2": 5, "db_not_sent_in_v2": 5}
    assert not run(emu, rows, mapping=mapping).warnings  # v3 carries them
