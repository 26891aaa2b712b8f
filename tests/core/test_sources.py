"""Streaming sources (SQLite, PostgreSQL, CSV, JSON lines, Parquet) give exactly the events, hashes and
report of the same rows handed over in memory, chunk by chunk; a PostgreSQL query streams through a
server-side cursor."""

from __future__ import annotations

import datetime as dt
import decimal
import gzip
import io
import itertools
import json
import logging
import os
import sqlite3
import threading

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmarks.data import MAPPING, iter_rows
from snap_capi_provider.core import normalize as n
from snap_capi_provider.core import pipeline, prepare
from snap_capi_provider.core.client import SnapCapiClient
from snap_capi_provider.core.delivery import BatchOutcome
from snap_capi_provider.core.events import EventOptions, MappingError
from snap_capi_provider.core.pipeline import Assets, DeliveryOptions, send_rows
from snap_capi_provider.core.prepare import Shard, shard_of
from snap_capi_provider.core.sources import (
    UNREADABLE,
    FileSource,
    InputError,
    file_format_for,
    frame_from_records,
    iter_chunks,
    iter_file_chunks,
    iter_sql_chunks,
)
from tests.pg_server import find_bin_dir, pg_server

NOW = 1_790_000_000


def clock() -> float:  # a module-level function: options must pickle for worker processes
    return NOW + 3600


OPTIONS = EventOptions(event_name="PURCHASE", default_phone_region="US", clock=clock)
CHUNK = 700  # small, so every source yields many chunks


def rows(n: int = 3000) -> list[dict]:
    """Messy rows; timestamps as epoch ints or ISO text (both kinds in one column, as exports have)."""
    out = list(iter_rows(n, seed=3, now=NOW))
    out[5]["email"] = "not an email"  # a rejection, so reports differ if anything is off
    out[9]["phone"] = None
    return out


SIGN_UP = EventOptions(event_name="SIGN_UP", clock=clock)


def sent(chunks, mapping=MAPPING, event_options=OPTIONS, **options) -> tuple[dict[int, bytes], dict]:
    """Every event the send path would post (row -> JSON), and the report, without any HTTP."""
    payloads: dict[int, bytes] = {}
    lock = threading.Lock()

    def capture(client, asset_id, items):
        with lock:
            payloads.update((item.row, item.payload) for item in items)
        return BatchOutcome(accepted=list(items))

    with SnapCapiClient("token", "http://127.0.0.1:9") as client:
        report = send_rows(client, chunks, assets=Assets(pixel_id="px"), field_mapping=mapping,
                           event_options=event_options, batch_fn=capture, **options)
    result = report.to_dict()
    for key in ("duration_s", "events_per_s", "started_at", "started_at_iso", "prepare_processes"):
        result.pop(key)
    return payloads, result


def reference_run() -> tuple[list[dict], dict[int, bytes], dict]:
    """The rows, and the events and report of the in-memory path that every source must give back."""
    data = rows()
    payloads, report = sent(iter_chunks(data, 20_000))
    assert report["rows"] == len(data) and report["rejected"] >= 1 and report["accepted"] > 2900
    return data, payloads, report


@pytest.fixture(scope="module")
def reference():
    return reference_run()


def assert_same(reference, chunks, **options):
    _, payloads, report = reference
    got_payloads, got_report = sent(chunks, **options)
    assert got_report == report
    assert got_payloads.keys() == payloads.keys()
    differing = [row for row in payloads if orjson.loads(payloads[row]) != orjson.loads(got_payloads[row])]
    assert differing == []


def test_chunked_in_memory_rows_give_the_same_events(reference):
    data, _, _ = reference
    assert_same(reference, iter_chunks(data, CHUNK))
    assert_same(reference, iter_chunks(pd.DataFrame(data, dtype=object), CHUNK))


def test_sqlite_query_streams_the_same_events(reference, tmp_path):
    data, _, _ = reference
    db = sqlite3.connect(tmp_path / "w.db")
    columns = list(data[0])
    db.execute(f"CREATE TABLE t ({', '.join(columns)})")  # SQLite keeps each value's own type
    db.executemany(f"INSERT INTO t VALUES ({', '.join('?' * len(columns))})",
                   [tuple(row[c] for c in columns) for row in data])
    chunks = iter_sql_chunks(db, "SELECT * FROM t ORDER BY rowid", chunk_rows=CHUNK)
    first = next(chunks)
    assert len(first) == CHUNK and all(dtype is object or dtype == 'object' for dtype in first.dtypes)
    assert_same(reference, iter_sql_chunks(db, "SELECT * FROM t ORDER BY rowid", chunk_rows=CHUNK))
    params = iter_sql_chunks(db, "SELECT * FROM t WHERE order_id = :id", {"id": data[7]["order_id"]})
    assert [len(frame) for frame in params] == [1]


def test_a_query_naming_a_column_twice_keeps_both_so_the_mapping_can_refuse_the_ambiguity():
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE o (id, email)")
    db.execute("CREATE TABLE c (id, email)")
    db.execute("INSERT INTO o VALUES (1, 'a@example.com')")
    db.execute("INSERT INTO c VALUES (2, 'b@example.com')")
    query = "SELECT o.email, c.email, o.id AS ts FROM o JOIN c"
    assert list(next(iter_sql_chunks(db, query)).columns) == ["email", "email", "ts"]
    with pytest.raises(MappingError, match="more than once"):
        sent(iter_sql_chunks(db, query), mapping={"em": "email", "event_time": "ts"})


def test_csv_jsonl_and_gzip_files_give_the_same_events(reference, tmp_path):
    data, _, _ = reference
    csv = tmp_path / "rows.csv"
    pd.DataFrame(data).to_csv(csv, index=False)
    jsonl = tmp_path / "rows.jsonl.gz"
    with gzip.open(jsonl, "wt", encoding="utf-8") as out:
        out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in data)
    assert_same(reference, iter_file_chunks(FileSource.local(str(csv)), CHUNK))
    assert_same(reference, iter_file_chunks(FileSource.local(str(jsonl)), CHUNK))


def test_parquet_record_batches_give_the_same_events(reference, tmp_path):
    data, _, _ = reference
    typed = [{**row, "ts": str(row["ts"])} for row in data]  # Parquet columns have one type
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(typed), path, row_group_size=1000)
    source = FileSource.local(str(path))
    assert source.row_count() == len(data)
    assert [len(frame) for frame in iter_file_chunks(source, CHUNK)][:3] == [CHUNK, CHUNK, CHUNK]
    _, payloads, report = reference
    got_payloads, got_report = sent(iter_file_chunks(source, CHUNK))
    assert got_report == report and got_payloads == payloads  # "1790000000" reads as the epoch it spells


def test_csv_keeps_text_as_text_and_odd_bytes_become_rejections_not_crashes(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_bytes(b"email,zip,timestamp\nperson@example.com,02134,1790000000\n\xff\xfe@x.com,,1790000000\n")
    frames = list(iter_file_chunks(FileSource.local(str(path))))
    assert frames[0]["zip"].tolist() == ["02134", None]  # the leading zero survives, empty is absent
    payloads, report = sent(frames, mapping=None, event_options=SIGN_UP)
    assert report["rows"] == 2 and report["accepted"] + report["rejected"] == 2 and report["rejected"] == 1


def test_a_broken_json_line_is_a_row_level_rejection(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"email": "a@example.com", "timestamp": 1790000000}\n{not json\n[1, 2]\n'
                    '{"email": "b@example.com", "timestamp": 1790000000}\n')
    _, report = sent(iter_file_chunks(FileSource.local(str(path))), mapping=None, event_options=SIGN_UP)
    assert (report["rows"], report["accepted"]) == (4, 2)
    assert report["rejections"]["by_reason"] == {"unreadable_json_line": 2}
    assert [example["row"] for example in report["rejections"]["examples"]] == [1, 2]


@pytest.mark.parametrize("chunk_rows", [2, 3, 50])
def test_a_csv_line_with_more_fields_than_the_header_is_a_row_level_rejection(tmp_path, chunk_rows):
    lines = [f"p{i}@example.com,Ann,1790000000" for i in range(12)]
    lines[4] = 'p4@example.com,"Smith, John",1790000000'  # quoted: one field, fine
    lines[5] = "p5@example.com,Smith, John,1790000000"  # an unquoted comma: a field too many
    lines[11] += ",extra"
    path = tmp_path / "rows.csv"
    path.write_text("email,fn,timestamp\n" + "\n".join(lines) + "\n")
    frames = list(iter_file_chunks(FileSource.local(str(path)), chunk_rows=chunk_rows))
    emails = [email for frame in frames for email in frame["email"].tolist()]
    assert emails == [None if i in (5, 11) else f"p{i}@example.com" for i in range(12)]
    _, report = sent(frames, mapping=None, event_options=SIGN_UP)
    assert (report["rows"], report["accepted"], report["rejected"]) == (12, 10, 2)
    assert report["rejections"]["by_reason"] == {"malformed_csv_line": 2}
    malformed = [e["row"] for e in report["rejections"]["examples"] if e["reason"] == "malformed_csv_line"]
    assert malformed == [5, 11]


@pytest.mark.parametrize("chunk_rows", [1, 2, 50])
def test_malformed_csv_lines_after_blank_lines_are_counted_once_each(tmp_path, chunk_rows):
    path = tmp_path / "rows.csv"  # blank lines count in pandas' line numbers, not as rows
    path.write_text("email,timestamp\na@example.com,1790000000\n\n\n\nx,y,z\n\n\nx,y,z\nb@example.com,1790000000\n")
    frames = list(iter_file_chunks(FileSource.local(str(path)), chunk_rows=chunk_rows))
    assert sum(map(len, frames)) == 4
    _, report = sent(frames, mapping=None, event_options=SIGN_UP)
    assert (report["rows"], report["accepted"], report["rejections"]["by_reason"]) == (
        4, 2, {"malformed_csv_line": 2})


def test_a_csv_whose_first_row_has_more_fields_than_the_header_is_refused(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("email,timestamp\na@example.com,Smith, John,1790000000\nb@example.com,1790000000\n")
    with pytest.raises(InputError, match="first data row has more fields than its header"):
        list(iter_file_chunks(FileSource.local(str(path))))


def test_a_trailing_separator_on_every_csv_row_is_no_extra_field(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("email,timestamp\na@example.com,1790000000,\nb@example.com,1790000000,\n")
    (frame,) = iter_file_chunks(FileSource.local(str(path)))
    assert frame["email"].tolist() == ["a@example.com", "b@example.com"] and not frame.attrs.get(UNREADABLE)


def test_json_lines_and_csv_that_start_with_a_bom_read_their_first_row(tmp_path):
    jsonl, csv_file = tmp_path / "rows.jsonl", tmp_path / "rows.csv"
    jsonl.write_bytes(b'\xef\xbb\xbf{"email": "a@example.com", "timestamp": 1790000000}\n')
    csv_file.write_bytes(b"\xef\xbb\xbfemail,timestamp\na@example.com,1790000000\n")
    for path in (jsonl, csv_file):
        (frame,) = iter_file_chunks(FileSource.local(str(path)))
        assert list(frame.columns) == ["email", "timestamp"] and not frame.attrs.get(UNREADABLE)


@pytest.mark.parametrize("options", [{"delivery": DeliveryOptions(prepare_processes=2)},
                                     {"shard": Shard(index=0, count=2, key="email")}],
                         ids=["cut-for-workers", "sharded"])
def test_broken_json_lines_stay_on_their_own_rows_when_a_chunk_is_cut_or_sharded(tmp_path, monkeypatch, options):
    monkeypatch.setattr(pipeline, "WORKER_CHUNK_ROWS", 3)
    lines = [f'{{"email": "p{i}@example.com", "timestamp": 1790000000}}' for i in range(10)]
    lines[4] = lines[7] = "{not json"
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n")
    _, report = sent(iter_file_chunks(FileSource.local(str(path))), mapping=None, event_options=SIGN_UP, **options)
    broken = {4, 7} if "delivery" in options else {4, 7} & set(_rows_of_shard(lines, options["shard"]))
    assert report["rejections"]["by_reason"] == ({"unreadable_json_line": len(broken)} if broken else {})
    assert {example["row"] for example in report["rejections"]["examples"]} == broken
    assert report["accepted"] == report["rows"] - len(broken)


def _rows_of_shard(lines: list[str], shard: Shard) -> list[int]:
    emails = [json.loads(line)["email"] if line.startswith('{"') else None for line in lines]
    return [i for i, email in enumerate(emails) if shard_of(email, shard.count) == shard.index]


@pytest.mark.parametrize(("name", "content", "cause"), [
    ("rows.parquet", b"not a parquet file", "ArrowInvalid"),
    ("rows.csv.gz", gzip.compress(b"email\n" + b"p@example.com\n".join(b"%d" % i for i in range(999)))[:200],
     "EOFError"),
    ("rows.csv", b'email,phone\na@example.com,"+1 201 555 0100\n', "ParserError"),
])
def test_an_unreadable_file_is_a_clear_error_naming_the_file(tmp_path, name, content, cause):
    path = tmp_path / name
    path.write_bytes(content)
    source = FileSource.local(str(path))
    with pytest.raises(InputError, match=f"Cannot read .*{name} as .* after 0 rows: {cause}") as raised:
        source.row_count()
        list(iter_file_chunks(source))
    assert type(raised.value.__cause__).__name__ == cause
    assert "a@example.com" not in str(raised.value) and "201" not in str(raised.value)


def test_a_file_that_breaks_after_some_rows_says_how_many_were_read(tmp_path):
    path = tmp_path / "rows.csv.gz"
    body = b"email\n" + b"".join(b"p%d@example.com\n" % i for i in range(20000))
    path.write_bytes(gzip.compress(body)[:-400])
    with pytest.raises(InputError, match=r"after \d+ rows") as raised:
        list(iter_file_chunks(FileSource.local(str(path)), chunk_rows=1000))
    assert int(str(raised.value).split("after ")[1].split(" rows")[0]) >= 1000


def test_file_format_by_extension_or_override():
    assert file_format_for("s3://b/day/part-0.parquet") == "parquet"
    assert file_format_for("x.ndjson") == file_format_for("x.json.gz") == "jsonl"
    assert file_format_for("x.txt", "csv") == "csv"
    with pytest.raises(InputError, match="file_format"):
        file_format_for("export.dat")
    with pytest.raises(InputError, match="must be one of"):
        file_format_for("x.csv", "xlsx")


def test_dict_rows_that_omit_keys_are_mapped_from_the_union_of_columns():
    data = [{"ts": NOW, "email": "a@example.com"}] * 3 + [
        {"ts": NOW, "email": "b@example.com", "phone": "+1 650 555 1212"}]
    frames = list(iter_chunks(data, 2))
    assert all(list(frame.columns) == ["ts", "email", "phone"] for frame in frames)
    assert list(iter_chunks([{1: "x", "a": 2}]))[0].to_dict("records") == [{"1": "x", "a": 2}]



def test_records_without_given_columns_read_the_same_by_row_or_by_column():
    # Rows with every key (in any order) take the row-wise path; the others the column-wise one.
    uniform = [{"a": 1, "b": ["x", "y"]}, {"b": None, "a": "2"}]
    same_count_other_keys = [{"a": 1, "b": 2}, {"a": 3, "c": 4}]
    assert frame_from_records(uniform).to_dict("list") == {"a": [1, "2"], "b": [["x", "y"], None]}
    assert frame_from_records(same_count_other_keys).to_dict("list") == {
        "a": [1, 3], "b": [2, None], "c": [None, 4]}
    assert all(dtype.kind == "O" for dtype in frame_from_records(uniform).dtypes)


# ----------------------------------------------------------------------------------------- PostgreSQL

needs_postgres = pytest.mark.skipif(find_bin_dir() is None and not os.environ.get("CI"),
                                    reason="PostgreSQL server binaries not installed (apt-get install postgresql)")


@pytest.fixture(scope="module")
def postgres():
    with pg_server() as server:
        yield server


@needs_postgres
def test_postgres_streams_through_a_server_side_cursor_and_gives_the_same_events(reference, postgres):
    data, _, _ = reference
    conn = postgres.connect()
    with conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS purchases")
        cur.execute("CREATE TABLE purchases (n int, order_id text, email text, phone text, first_name text, "
                    "last_name text, city text, state text, zip text, country text, dob text, ip inet, "
                    "amount numeric(10, 2), currency text, ts timestamptz)")
        insert_purchases(cur, data, _timestamp)
    sql = "SELECT * FROM purchases ORDER BY n"
    chunks = iter_sql_chunks(conn, sql, chunk_rows=CHUNK)
    first = next(chunks)
    assert isinstance(first["amount"].iloc[0], decimal.Decimal) and first["ts"].iloc[0].tzinfo is not None
    with conn.cursor() as probe:  # the rows stay on the server: a named cursor, CHUNK rows fetched so far
        probe.execute("SELECT name FROM pg_cursors")
        assert [name for (name,) in probe.fetchall() if name.startswith("snap_capi_stream_")]
    chunks.close()
    assert_same(reference, iter_sql_chunks(conn, sql, chunk_rows=CHUNK))
    conn.close()


PURCHASE_COLUMNS = ("order_id", "email", "phone", "first_name", "last_name", "city", "state", "zip", "country",
                    "dob", "ip", "amount", "currency", "ts")


def insert_purchases(cursor, data: list[dict], timestamp) -> None:
    """The rows into a ``purchases`` table of ``n`` (the row's position) and PURCHASE_COLUMNS, in order."""
    placeholders = ",".join(["%s"] * (len(PURCHASE_COLUMNS) + 1))
    cursor.executemany(f"INSERT INTO purchases VALUES ({placeholders})", [
        (i, *(row[c] for c in PURCHASE_COLUMNS[:-1]), timestamp(row["ts"])) for i, row in enumerate(data)])


def _timestamp(value) -> dt.datetime:
    if isinstance(value, int):
        return dt.datetime.fromtimestamp(value, dt.timezone.utc)
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.mark.parametrize("forked", [True, False], ids=["forked-from-the-task", "from-the-fork-server"])
def test_worker_processes_prepare_the_same_events_in_input_order(reference, monkeypatch, forked):
    # Workers fork from the task process only while it has no other thread; both ways are checked.
    monkeypatch.setattr(prepare, "_only_thread", lambda: forked)
    data, _, _ = reference
    assert_same(reference, iter_chunks(data, CHUNK), delivery=DeliveryOptions(prepare_processes=2))


def test_progress_lines_name_rows_rate_and_an_eta_when_the_total_is_known(reference, caplog):
    data, _, _ = reference
    with caplog.at_level(logging.INFO, logger="snap_capi_provider.progress"):
        sent(iter_chunks(data, CHUNK), delivery=DeliveryOptions(progress_interval_s=1e-9), total_rows=len(data))
    lines = [record.getMessage() for record in caplog.records if record.name == "snap_capi_provider.progress"]
    assert any("ETA" in line and f"/{len(data):,} rows read" in line for line in lines)
    assert lines[-1].startswith("Snap CAPI done: 3,000/3,000 rows read") and "rows/s" in lines[-1]


# ------------------------------------------------------------------------------- odd shapes of input


def test_another_column_for_a_mapped_field_in_a_later_file_is_refused_not_ignored(tmp_path):
    first = tmp_path / "a.csv"
    first.write_text("email,timestamp\na@example.com,1790000000\n")
    second = tmp_path / "b.csv"
    second.write_text("e-mail,timestamp\nb@example.com,1790000000\n")
    chunks = itertools.chain(iter_file_chunks(FileSource.local(str(first))),
                             iter_file_chunks(FileSource.local(str(second))))
    with pytest.raises(MappingError, match="'e-mail' .*first appears after row 1"):
        sent(chunks, mapping=None, event_options=SIGN_UP)


def test_a_repeated_header_is_refused_in_csv_and_kept_repeated_from_parquet(tmp_path):
    csv_file = tmp_path / "rows.csv"
    csv_file.write_text("email,email,timestamp\na@example.com,b@example.com,1790000000\n")
    with pytest.raises(InputError, match="'email' more than once"):
        list(iter_file_chunks(FileSource.local(str(csv_file))))
    parquet = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array(["a@example.com"]), pa.array(["b@example.com"]),
                                         pa.array([1790000000])], names=["email", "email", "timestamp"]), parquet)
    (frame,) = iter_file_chunks(FileSource.local(str(parquet)))
    assert list(frame.columns) == ["email", "email", "timestamp"]
    with pytest.raises(MappingError, match="more than once"):
        sent(iter([frame]), mapping={"em": "email", "event_time": "timestamp"}, event_options=SIGN_UP)


def test_a_trailing_comma_on_every_csv_row_does_not_shift_the_values(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("email,timestamp\na@example.com,1790000000,\nb@example.com,1790000000,\n")
    (frame,) = iter_file_chunks(FileSource.local(str(path)))
    assert frame.to_dict("records") == [{"email": "a@example.com", "timestamp": "1790000000"},
                                        {"email": "b@example.com", "timestamp": "1790000000"}]


def test_a_semicolon_csv_with_decimal_commas_gives_the_same_events(reference, tmp_path):
    data, _, _ = reference  # Excel's CSV where the comma is the decimal mark: ';' between fields, 42,5
    path = tmp_path / "rows.csv"
    pd.DataFrame(data).to_csv(path, index=False, sep=";", decimal=",")
    assert ";" in path.read_text().splitlines()[0] and "," not in path.read_text().splitlines()[0]
    assert_same(reference, iter_file_chunks(FileSource.local(str(path)), CHUNK))


@pytest.mark.parametrize("header, separator", [("email;phone;ts", ";"), ("email|phone", "|"), ("email\tphone", "\t"),
                                               ("email,note;x", ","), ("email", ","), ("a;b|c", ",")])
def test_the_csv_separator_is_told_by_the_header_line_only(tmp_path, header, separator):
    path = tmp_path / "rows.csv"
    path.write_text(f"{header}\n" + header.replace("email", "a@example.com") + "\n")
    (frame,) = iter_file_chunks(FileSource.local(str(path)))
    assert list(frame.columns) == header.split(separator)


def test_a_csv_in_another_encoding_reads_with_its_file_encoding(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_bytes("email;first_name\na@example.com;Renée\n".encode("cp1252"))
    (frame,) = iter_file_chunks(FileSource.local(str(path), encoding="cp1252"))
    assert frame.to_dict("records") == [{"email": "a@example.com", "first_name": "Renée"}]
    (frame,) = iter_file_chunks(FileSource.local(str(path)))  # read as UTF-8: that cell is refused, not guessed
    values, errors = n.normalize_column(frame["first_name"], n.name)
    assert values == [None] and errors == ["invalid_text_encoding"]
    with pytest.raises(InputError, match="file_encoding 'klingon' is no text encoding"):
        FileSource.local(str(path), encoding="klingon")


def test_a_csv_in_a_folder_named_like_tsv_is_still_comma_separated(tmp_path):
    folder = tmp_path / "exports.tsv"
    folder.mkdir()
    path = folder / "rows.csv"
    path.write_text("email,timestamp\na@example.com,1790000000\n")
    (frame,) = iter_file_chunks(FileSource.local(str(path)))
    assert list(frame.columns) == ["email", "timestamp"]


@pytest.mark.parametrize("data", [{"email": "a@example.com", "timestamp": 1790000000},
                                  {"email": ["a@example.com", "b@example.com"], "timestamp": [1790000000]}])
def test_a_dict_of_columns_must_hold_lists_of_one_length(data):
    with pytest.raises(InputError, match="dict"):
        list(iter_chunks(data))


def test_a_cursor_giving_dict_rows_reads_their_values():
    db = sqlite3.connect(":memory:")
    db.row_factory = lambda cursor, row: {d[0]: value for d, value in zip(cursor.description, row, strict=True)}
    db.execute("CREATE TABLE t (email, timestamp)")
    db.execute("INSERT INTO t VALUES ('a@example.com', 1790000000)")
    (frame,) = iter_sql_chunks(db, "SELECT * FROM t")
    assert frame.to_dict("records") == [{"email": "a@example.com", "timestamp": 1790000000}]


def test_a_json_file_holding_an_array_reads_its_rows(tmp_path):
    path = tmp_path / "rows.json"
    path.write_bytes(orjson.dumps([{"email": "a@example.com", "timestamp": 1790000000}, 5,
                                   {"email": "b@example.com", "timestamp": 1790000000}], option=orjson.OPT_INDENT_2))
    (frame,) = iter_file_chunks(FileSource.local(str(path)))
    assert frame["email"].tolist() == ["a@example.com", None, "b@example.com"]
    assert frame.attrs[UNREADABLE] == {1: "unreadable_json_line"}  # the 5: a row-level rejection


def test_a_gzipped_parquet_file_has_no_row_count_to_peek_at(tmp_path):
    path = tmp_path / "rows.parquet.gz"
    buffer = io.BytesIO()
    pq.write_table(pa.table({"email": ["a@example.com"], "timestamp": [1790000000]}), buffer)
    path.write_bytes(gzip.compress(buffer.getvalue()))
    source = FileSource.local(str(path))
    assert source.row_count() is None and len(next(iter_file_chunks(source))) == 1


def test_an_item_of_a_list_that_is_no_row_is_refused_before_the_first_chunk():
    rows = [{"email": "a@example.com", "timestamp": NOW}] * (CHUNK + 1) + [5]
    chunks = iter_chunks(rows, CHUNK)
    with pytest.raises(InputError, match=f"row {CHUNK + 1} is a int"):
        next(chunks)


@pytest.mark.parametrize("content", [b"e\xe9mail,timestamp\na@example.com,1\n",
                                     "email,timestamp\n".encode("utf-16-le")])  # UTF-16 with no BOM
def test_a_csv_header_that_is_not_utf8_is_a_clear_error_naming_the_file(tmp_path, content):
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match="export.csv: The CSV header is not UTF-8"):
        list(iter_file_chunks(FileSource.local(str(path))))


def test_dataframe_columns_of_several_levels_are_a_clear_error():
    frame = pd.DataFrame([["a@example.com", NOW]], columns=pd.MultiIndex.from_tuples([("user", "email"),
                                                                                      ("user", "ts")]))
    with pytest.raises(InputError, match="MultiIndex"):
        list(iter_chunks(frame))


@pytest.mark.parametrize("array", [False, True], ids=["json-lines", "json-array"])
def test_json_integers_beyond_64_bits_keep_every_digit(tmp_path, array):
    big = 123456789012345678901234  # orjson reads it as a float: 1.2345678901234569e+23
    rows = [{"order_id": big, "amount": 1.5}, {"order_id": -big, "amount": 2.5}, {"order_id": 7, "amount": 1e300}]
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(rows) if array else "\n".join(json.dumps(row) for row in rows) + "\n")
    (frame,) = iter_file_chunks(FileSource.local(str(path)))
    assert frame["order_id"].tolist() == [big, -big, 7] and frame["amount"].tolist() == [1.5, 2.5, 1e300]
    assert not frame.attrs.get(UNREADABLE)

