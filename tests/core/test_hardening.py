"""Issue 10's smaller points, each with its test: pathological cells are rejected with reasons, columns
that appear only in later chunks are seen (or refused clearly), the rejected-rows file is atomic,
owner-only, never written through a symlink and defused against formulas."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pandas as pd
import pytest

from snap_capi_provider.core.client import RetryPolicy, SnapCapiClient
from snap_capi_provider.core.events import EventOptions, MappingError, build_events, resolve_mapping
from snap_capi_provider.core.pipeline import Assets, DeliveryOptions, send_rows
from snap_capi_provider.core.sources import iter_chunks
from tests.conftest import PIXEL, ROOT, TOKEN
from tests.reliability_helpers import emulator

NOW = int(time.time()) - 60


def base(**cells: object) -> dict:
    return {"event_id": f"e-{len(cells)}-{id(cells)}", "em": "a@example.com", "event_time": NOW, "value": 5,
            "currency": "USD", **cells}


@pytest.mark.parametrize(("cells", "reason"), [
    ({"value": 10**12 + 1}, "invalid_value"),
    ({"value": 1e15}, "invalid_value"),
    ({"value": "5000000000000"}, "invalid_value"),
    ({"content_ids": [["nested"], "sku"]}, "invalid_content_ids"),
    ({"content_ids": "[" * 100_000 + "]" * 100_000}, "invalid_content_ids"),  # past Python's stack
    ({"event_id": ["a", "list"]}, "invalid_value_type"),
    ({"event_id": "id\x00with-nul"}, "invalid_control_character"),
    ({"em": "x" * 10_000_000 + "@example.com"}, "value_too_long"),  # 10 MB: rejected, not regexed
])
def test_pathological_cells_are_rejected_with_a_reason(cells, reason):
    frame = pd.DataFrame([base(), base(**cells)], dtype=object)
    result = build_events(frame, resolve_mapping(list(frame.columns), None), EventOptions(event_name="PURCHASE"))
    assert result.rejected == [(1, reason)]


class FailingHash:
    """An object whose hash raises something else than TypeError."""

    def __hash__(self) -> int:
        raise RuntimeError("no hash")


@pytest.mark.parametrize("key", ["em", "ph", "event_time", "event_id", "content_ids", "value"])
def test_an_object_whose_hash_fails_is_rejected_not_a_crash(key):
    frame = pd.DataFrame([base(), base(**{key: FailingHash()})], dtype=object)
    result = build_events(frame, resolve_mapping(list(frame.columns), None), EventOptions(event_name="PURCHASE"))
    assert [row for row, _ in result.rejected] == [1]


def test_a_sane_value_is_kept():
    frame = pd.DataFrame([base(value=999_999_999_999.5)], dtype=object)
    assert build_events(frame, resolve_mapping(list(frame.columns), None),
                        EventOptions(event_name="PURCHASE")).rejected == []


# ---------------------------------------------------------------------------------- late columns


@pytest.fixture
def emu():
    with emulator() as emu:
        yield emu


def send(emu, chunks, mapping=None):
    with SnapCapiClient(TOKEN, emu.url, retry=RetryPolicy(max_retries=0)) as client:
        return send_rows(client, chunks, assets=Assets(pixel_id=PIXEL), field_mapping=mapping,
                         event_options=EventOptions(event_name="SIGN_UP"), delivery=DeliveryOptions(batch_size=10))


def test_a_list_of_dicts_is_mapped_from_the_union_of_its_keys(emu):
    rows = [{"event_id": f"e-{i}", "event_time": NOW, "em": "a@example.com"} for i in range(30)]
    rows[25]["ph"] = "+16505551212"  # only one late row has a phone: still mapped and sent
    report = send(emu, iter_chunks(rows, 10))
    assert (report.rows, report.accepted) == (30, 30)
    assert sum("ph" in event["user_data"] for event in emu.accepted_events()) == 1


def test_a_stream_whose_later_chunk_brings_an_unmapped_snap_column_fails_clearly(emu):
    def chunks() -> Iterator[pd.DataFrame]:
        yield pd.DataFrame([{"event_id": "a", "event_time": NOW, "em": "a@example.com"}])
        yield pd.DataFrame([{"event_id": "b", "event_time": NOW, "em": "b@example.com", "phone": "+16505551212"}])

    with pytest.raises(MappingError, match=r"'phone'.*field_mapping") as caught:
        send(emu, chunks())
    report = caught.value.snap_capi_report
    assert (report.rows, report.accepted + report.rejected + report.failed) == (1, 1)


def test_a_dataframe_s_named_index_is_sent_as_its_columns(emu):
    frame = pd.DataFrame({"email": ["a@example.com", "b@example.com"], "event_id": ["e-1", "e-2"],
                          "event_time": [NOW, NOW]}).set_index(["event_id", "email"])  # a groupby's keys, say
    report = send(emu, iter_chunks(frame, 10))
    assert (report.rows, report.accepted) == (2, 2)
    assert sorted(event["event_id"] for event in emu.accepted_events()) == ["e-1", "e-2"]
    labelled = pd.DataFrame({"email": ["a@example.com"]}, index=pd.Index([7], name="email"))
    assert next(iter_chunks(labelled, 10)).to_dict("records") == [{"email": "a@example.com"}]  # the column wins
    unnamed = pd.DataFrame({"email": ["a@example.com"]}, index=[7])
    assert list(next(iter_chunks(unnamed, 10)).columns) == ["email"]  # row labels are no data


def test_non_string_dict_keys_keep_their_values(emu):
    rows = [{"event_id": f"e-{i}", "event_time": NOW, "em": "a@example.com", 7: f"v{i}"} for i in range(3)]
    frame = next(iter_chunks(rows, 10))
    assert frame["7"].tolist() == ["v0", "v1", "v2"]
    report = send(emu, iter_chunks(rows, 10), mapping={"event_id": "event_id", "event_time": "event_time",
                                                       "em": "em", "order_id": "7"})
    assert report.accepted == 3


def test_cells_a_worker_process_cannot_receive_are_prepared_in_the_task_instead(emu, monkeypatch):
    import threading

    from snap_capi_provider.core import pipeline

    monkeypatch.setattr(pipeline, "WORKER_CHUNK_ROWS", 10)
    rows = [{"event_id": f"e-{i}", "event_time": NOW, "em": f"p{i}@example.com"} for i in range(40)]
    rows[13]["em"], rows[27]["event_id"] = threading.Lock(), (n for n in range(2))  # neither pickles
    with SnapCapiClient(TOKEN, emu.url, retry=RetryPolicy(max_retries=0)) as client:
        report = send_rows(client, iter_chunks(rows, 20), assets=Assets(pixel_id=PIXEL), field_mapping=None,
                           event_options=EventOptions(event_name="SIGN_UP"),
                           delivery=DeliveryOptions(batch_size=10, prepare_processes=2))
    assert (report.rows, report.accepted, report.rejected) == (40, 38, 2)
    assert report.rejections.by_reason == {"invalid_value_type": 2}


def test_a_worker_process_killed_mid_run_fails_the_run_instead_of_hanging_it(emu):
    """A worker killed while it answered (the OOM killer's timing) left half a message in the pool's
    pipe, on which ProcessPoolExecutor waited forever; answers now come back through files."""
    import threading
    from concurrent.futures.process import BrokenProcessPool

    import psutil

    rows = [{"event_id": f"e-{i}", "event_time": NOW, "em": f"p{i}@example.com"} for i in range(400_000)]
    outcome: dict[str, object] = {}

    def run() -> None:
        with SnapCapiClient(TOKEN, emu.url, retry=RetryPolicy(max_retries=0)) as client:
            try:
                send_rows(client, iter_chunks(rows, 5000), assets=Assets(pixel_id=PIXEL), field_mapping=None,
                          event_options=EventOptions(event_name="SIGN_UP"),
                          delivery=DeliveryOptions(prepare_processes=2, progress_interval_s=0))
            except BrokenProcessPool as exc:
                outcome["error"] = exc

    def busy_workers() -> list[psutil.Process]:
        me = os.getpid()  # the pool's workers, forked from here or from a fork server (a child of this process)
        found = []
        for process in psutil.Process(me).children(recursive=True):
            try:
                if ((process.ppid() != me or "multiprocessing" not in " ".join(process.cmdline()))
                        and process.cpu_times().user > 0.3):  # busy preparing pieces
                    found.append(process)
            except psutil.Error:  # gone meanwhile
                continue
        return found

    sender = threading.Thread(target=run, daemon=True)
    sender.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sender.is_alive():
        workers = busy_workers()
        if workers:
            workers[0].kill()
            break
        time.sleep(0.05)
    sender.join(timeout=60)
    assert not sender.is_alive(), "the run hung after a worker process died"
    assert "error" in outcome, "the run ended before a worker could be killed"
    error = outcome["error"]
    assert "A worker process preparing events died" in str(error)
    report = error.snap_capi_report
    assert report.rows == report.accepted + report.rejected + report.failed and report.failed > 0


# ------------------------------------------------------------------------------ rejected-rows file


def write_file(path, rows):
    from snap_capi_provider.utils.rejected_rows import rejected_rows_file

    with rejected_rows_file(str(path), ["order_id"]) as writer:
        for row, order_id in rows:
            writer.write(row, "rejected", "invalid_email", {"order_id": order_id})


def test_the_file_is_owner_only_and_formula_cells_are_quoted(tmp_path):
    target = tmp_path / "rejected.csv"
    write_file(target, [(0, "=HYPERLINK(\"http://evil\")"), (1, "+1"), (2, "-2"), (3, "@SUM(A1)"), (4, "ok")])
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    with target.open(newline="") as stream:
        cells = [row["order_id"] for row in csv.DictReader(stream)]
    assert cells == ["'=HYPERLINK(\"http://evil\")", "'+1", "'-2", "'@SUM(A1)", "ok"]


def test_a_symlink_at_the_target_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = tmp_path / "rejected.jsonl"
    target.symlink_to(victim)
    write_file(target, [(0, "o-0")])
    assert victim.read_text() == "precious"
    assert not target.is_symlink() and '"order_id": "o-0"' in target.read_text()


def test_an_earlier_try_s_file_survives_a_try_killed_before_the_end(tmp_path):
    target = tmp_path / "rejected.jsonl"
    write_file(target, [(0, "first-try")])
    script = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r})\n"
              "from snap_capi_provider.utils.rejected_rows import rejected_rows_file\n"
              f"with rejected_rows_file({str(target)!r}, ['order_id']) as w:\n"
              "    w.write(0, 'failed', 'x', {'order_id': 'second-try'}); w.stream.flush()\n"
              "    print('writing', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        while (line := proc.stdout.readline()) and line.strip() != b"writing":
            pass
        assert line.strip() == b"writing"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "first-try" in target.read_text() and "second-try" not in target.read_text()


@pytest.mark.parametrize("statement", ["UPDATE t SET n = 2", "CREATE TABLE u (x)", ""])
def test_a_sql_statement_that_is_no_query_is_a_clear_error_not_an_empty_run(statement):
    import sqlite3

    from snap_capi_provider.core.sources import InputError, iter_sql_chunks

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (email TEXT, n INT)")
    db.execute("INSERT INTO t VALUES ('a@example.com', 1)")
    with pytest.raises(InputError, match="no result set: sql must be a query"):
        list(iter_sql_chunks(db, statement))
    assert list(iter_sql_chunks(db, "SELECT * FROM t WHERE n > 5")) == []  # a query with no rows: no rows


def test_a_csv_without_its_header_line_is_a_clear_error_that_prints_no_address(tmp_path):
    from snap_capi_provider.core.sources import FileSource, InputError, iter_file_chunks

    path = tmp_path / "export.csv"
    path.write_text("jane.doe@example.com,+16505551212,1790000000\nb@example.com,+16505551213,1790000000\n")
    with pytest.raises(InputError, match="looks like data, not a header") as caught:
        list(iter_file_chunks(FileSource.local(str(path))))
    assert "jane.doe" not in str(caught.value) and "6505551212" not in str(caught.value)


def test_column_names_that_are_values_are_masked_in_errors_and_logs(emu, caplog):
    import logging

    rows = [{"+1 650 555 1212": "x", "event_time": NOW, "note": "y"}]
    with pytest.raises(MappingError) as caught:
        send(emu, iter_chunks(rows, 10))
    assert "650" not in str(caught.value) and "<column 1: a value?>" in str(caught.value)
    caplog.set_level(logging.INFO)
    rows = [{"em": "a@example.com", "event_id": "e-1", "event_time": NOW, "+44 20 7946 0958": "z"}]
    assert send(emu, iter_chunks(rows, 10)).accepted == 1
    assert "7946" not in caplog.text and "a value?" in caplog.text
