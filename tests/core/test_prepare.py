"""The packed form a chunk travels in to a worker process gives back the same values of the same types; the
workers' answers and their folders."""

import datetime as dt
import decimal
import os
import pickle

import pandas as pd
import pytest

from snap_capi_provider.core.prepare import JoinedText, PackedFrame
from snap_capi_provider.core.sources.memory import UNREADABLE, frame_from_records


def round_trip(frame: pd.DataFrame, needed) -> pd.DataFrame:
    packed = PackedFrame.of(frame, needed)
    back = pickle.loads(pickle.dumps(packed))
    return back.frame() if isinstance(back, PackedFrame) else back


class Text(str):
    pass


def test_every_kind_of_value_comes_back_as_it_was():
    columns = {
        "email": ["a@b.co", None, "Zoë@Example.com", ""],
        "phone": ["+1 415 555 0100", 4155550100, 4.5, None],
        "odd_text": [Text("x"), "y", None, "z"],
        "surrogate": ["\ud800", "ok", None, "fine"],
        "bytes": [b"raw", "text", None, "x"],
        "when": [dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc), pd.Timestamp("2026-01-02"), None, "2026"],
        "amount": [decimal.Decimal("1.10"), 1, True, float("nan")],
        "ids": [["a", "b"], None, [], ["c"]],
    }
    frame = frame_from_records([{key: values[i] for key, values in columns.items()} for i in range(4)])
    frame.attrs[UNREADABLE] = {2: "unreadable_row"}
    back = round_trip(frame, list(columns))
    assert list(back.columns) == list(columns) and len(back) == 4
    assert back.attrs[UNREADABLE] == {2: "unreadable_row"}
    for key in columns:
        got = back[key].tolist()
        assert [type(value) for value in got] == [type(value) for value in frame[key].tolist()]
        assert [repr(value) for value in got] == [repr(value) for value in frame[key].tolist()]


def test_text_columns_travel_as_one_string_and_only_the_needed_columns_travel():
    frame = frame_from_records([{"email": "a@b.co", "unused": "x" * 100, "n": 1}] * 3)
    packed = PackedFrame.of(frame, ["email", "n", "absent"])
    assert packed.names == ("email", "n")
    assert isinstance(packed.columns[0], JoinedText) and packed.columns[1] == [1, 1, 1]


@pytest.mark.parametrize("values", [[None], [""], ["", None, ""], [None, None], ["a\x00b", "c"], ["\x00"],
                                    ["\ud800", None, "x"], ["é", "\U0001f600", ""]])
def test_text_with_absent_values_empty_text_or_the_separator_comes_back_as_it_was(values):
    frame = frame_from_records([{"t": value} for value in values])
    assert round_trip(frame, ["t"])["t"].tolist() == values


def test_repeated_column_names_travel_as_the_frame_itself():
    frame = pd.DataFrame([[1, 2]], columns=["a", "a"], dtype=object)
    assert PackedFrame.of(frame, ["a"]) is frame


def test_an_empty_chunk_packs():
    frame = frame_from_records([], ["email"])
    back = round_trip(frame, ["email"])
    assert list(back.columns) == ["email"] and len(back) == 0


def test_a_list_of_rows_chunks_the_same_whatever_its_items():
    from snap_capi_provider.core.sources.memory import InputError, iter_chunks

    rows = [{"a": i, "b": str(i)} for i in range(10)]
    ragged = [*rows[:4], {"a": 4}, {1: "x", "a": 5, "b": "5"}, *rows[6:]]
    mixed = [*rows[:3], pd.DataFrame({"a": [100], "b": ["100"]}, dtype=object), *rows[3:]]
    assert [frame.to_dict("records") for frame in iter_chunks(rows, 4)] == [rows[:4], rows[4:8], rows[8:]]
    records = [record for frame in iter_chunks(ragged, 4) for record in frame.to_dict("records")]
    assert records[4] == {"a": 4, "b": None, "1": None} and records[5] == {"a": 5, "b": "5", "1": "x"}
    records = [record for frame in iter_chunks(mixed, 4) for record in frame.to_dict("records")]
    assert [record["a"] for record in records] == [0, 1, 2, 100, *range(3, 10)]
    with pytest.raises(InputError, match="row 10 is a str"):
        list(iter_chunks([*rows, "oops"], 4))


def test_workers_are_forked_from_the_task_process_only_while_no_other_thread_runs():
    import threading

    from snap_capi_provider.core import prepare

    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert not prepare._only_thread()  # an HTTP thread, say: its locks would be copied mid-use
    finally:
        release.set()
        thread.join()


def test_a_worker_whose_result_folder_is_full_answers_through_the_pipe(tmp_path):
    from concurrent.futures import Future

    from snap_capi_provider.core.events import EventOptions
    from snap_capi_provider.core.pipeline import Assets
    from snap_capi_provider.core.prepare import (
        PackedFrame,
        Prepared,
        prepare_in_worker,
        prepared_result,
    )

    frame = pd.DataFrame({"em": ["a@example.com"], "event_time": [1790000000], "event_id": ["e-1"]}, dtype=object)
    mapping = {"em": "em", "event_time": "event_time", "event_id": "event_id"}
    args = (PackedFrame.of(frame, list(frame.columns)), mapping, EventOptions(event_name="SIGN_UP"), [0], "v3",
            Assets(pixel_id="px"))
    written = prepare_in_worker(str(tmp_path), *args)
    unwritable = prepare_in_worker(str(tmp_path / "gone"), *args)  # no such folder: as if full
    assert isinstance(written, str) and isinstance(unwritable, Prepared)
    answers = []
    for answer in (written, unwritable):
        future: Future = Future()
        future.set_result(answer)
        answers.append(prepared_result(future))
    assert answers[0].groups == answers[1].groups and not list(tmp_path.iterdir())  # read, then removed


def test_result_folders_of_task_processes_that_are_gone_are_removed(tmp_path):
    import subprocess
    import sys

    from snap_capi_provider.core import prepare

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    orphan, mine, other = (tmp_path / f"snap-capi-workers-{gone}-abc", tmp_path / f"snap-capi-workers-{os.getpid()}-x",
                           tmp_path / "unrelated-1")
    for folder in (orphan, mine, other):
        folder.mkdir()
        (folder / "piece.pickle").write_bytes(b"x")
    prepare._remove_orphaned_folders(str(tmp_path))
    assert not orphan.exists() and mine.exists() and other.exists()


@pytest.mark.parametrize(("files", "cap"), [
    ({"cpu.max": "150000 100000\n"}, 2),  # 1.5 cores: rounded up
    ({"cpu.max": "100000 100000\n"}, 1),
    ({"cpu.max": "max 100000\n"}, None),
    ({"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 3),
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
    ({}, None),
])
def test_usable_cpus_is_capped_by_the_container_s_cpu_quota(tmp_path, files, cap):
    from snap_capi_provider.core.prepare import usable_cpus

    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    cores = len(os.sched_getaffinity(0))
    assert usable_cpus(str(tmp_path)) == (min(cores, cap) if cap else min(cores, 64))
