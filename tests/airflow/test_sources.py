"""The operators read SQL and files themselves (no rows in XCom), fan out over mapped shards and files,
dry-run without sending, and refuse ambiguous or empty input, all in real ``dag.test()`` runs."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time

import pandas as pd
import pendulum
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.airflow_helpers import run_dag, task_state, xcom
from tests.conftest import PIXEL
from tests.pg_server import find_bin_dir, pg_server

pytestmark = pytest.mark.usefixtures("airflow_db")
MAPPING = {"event_id": "order_id", "email": "email", "phone": "phone", "event_time": "ts", "value": "amount",
           "currency": "currency"}


def make_rows(n: int, start: int = 0) -> list[dict]:
    now = int(time.time()) - 600
    return [{"order_id": f"o-{i}", "email": f"User{i}@Example.com ", "phone": f"+1 650 555 {1000 + i % 9000:04d}",
             "ts": now - i, "amount": 10.0 + i, "currency": "usd"} for i in range(start, start + n)]


def sqlite_warehouse(tmp_path, monkeypatch, rows: list[dict]) -> str:
    path = tmp_path / "warehouse.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE purchases (order_id TEXT, email TEXT, phone TEXT, ts INTEGER, amount REAL, "
                   "currency TEXT)")
        db.executemany("INSERT INTO purchases VALUES (:order_id, :email, :phone, :ts, :amount, :currency)", rows)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return str(path)


def one_task_dag(dag_id: str, operator: str = "SnapCapiSendEventsOperator", field_mapping=MAPPING, **kwargs):
    from airflow.sdk import dag

    from snap_capi_provider.operators import snap_capi

    @dag(dag_id=dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
    def pipeline():
        getattr(snap_capi, operator)(task_id="send", event_name="PURCHASE", field_mapping=field_mapping, **kwargs)

    return pipeline()


def test_sql_on_an_airflow_sqlite_connection_streams_in_chunks(snap_conn, tmp_path, monkeypatch):
    sqlite_warehouse(tmp_path, monkeypatch, make_rows(2500))
    dag_run = run_dag(one_task_dag("sql_sqlite", sql="SELECT * FROM purchases WHERE amount >= :low",
                                   sql_conn_id="warehouse", sql_parameters={"low": 0}, chunk_rows=400,
                                   count_rows=True))
    assert task_state(dag_run, "send") == "success"
    report = xcom(dag_run, "send")
    assert (report["rows"], report["accepted"], report["batches"]) == (2500, 2500, 2)
    assert len(snap_conn.accepted_count_by_event_id(PIXEL)) == 2500


@pytest.mark.parametrize("forked", [True, False], ids=["forked-from-the-task", "from-the-fork-server"])
def test_sql_with_worker_processes_sends_every_row_once(snap_conn, tmp_path, monkeypatch, forked):
    from snap_capi_provider.core import prepare

    monkeypatch.setattr(prepare, "_only_thread", lambda: forked)
    sqlite_warehouse(tmp_path, monkeypatch, make_rows(2500))
    dag_run = run_dag(one_task_dag(f"sql_workers_{forked}", sql="SELECT * FROM purchases", sql_conn_id="warehouse",
                                   chunk_rows=400, prepare_processes=2))
    assert task_state(dag_run, "send") == "success"
    report = xcom(dag_run, "send")
    assert (report["rows"], report["accepted"], report["prepare_processes"]) == (2500, 2500, 2)
    assert sorted(snap_conn.accepted_count_by_event_id(PIXEL).values()) == [1] * 2500


@pytest.mark.skipif(find_bin_dir() is None, reason="PostgreSQL server binaries not installed")
@pytest.mark.parametrize("processes", [1, 2])
def test_sql_on_a_postgres_connection(snap_conn, monkeypatch, processes):
    from snap_capi_provider.core import prepare

    # Workers forked while the server-side cursor is open: they must leave the task's connection alone.
    monkeypatch.setattr(prepare, "_only_thread", lambda: True)
    rows = make_rows(1200)
    with pg_server() as server:
        conn = server.connect()
        with conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE purchases (order_id text, email text, phone text, ts bigint, "
                        "amount numeric(10, 2), currency text, updated_at timestamptz DEFAULT now())")
            cur.executemany("INSERT INTO purchases VALUES (%(order_id)s, %(email)s, %(phone)s, %(ts)s, "
                            "%(amount)s, %(currency)s)", rows)
        conn.close()
        monkeypatch.setenv("AIRFLOW_CONN_PG_WAREHOUSE", json.dumps(server.conn_json()))
        dag_run = run_dag(one_task_dag(
            "sql_postgres", sql="SELECT * FROM purchases WHERE updated_at < '{{ data_interval_end }}'",
            sql_conn_id="pg_warehouse", chunk_rows=500, prepare_processes=processes))
    assert task_state(dag_run, "send") == "success"
    assert xcom(dag_run, "send")["accepted"] == 1200
    assert sorted(snap_conn.accepted_count_by_event_id(PIXEL).values()) == [1] * 1200
    assert len(snap_conn.accepted_count_by_event_id(PIXEL)) == 1200


def test_files_by_glob_csv_jsonl_and_parquet(snap_conn, tmp_path):
    rows = make_rows(900)
    (tmp_path / "in").mkdir()
    pd.DataFrame(rows[:300]).to_csv(tmp_path / "in" / "part-0.csv", index=False)
    (tmp_path / "in" / "part-1.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows[300:600]))
    pq.write_table(pa.Table.from_pylist(rows[600:]), tmp_path / "in" / "part-2.parquet")
    dag_run = run_dag(one_task_dag("files_glob", path=f"file://{tmp_path}/in/part-*", chunk_rows=128))
    assert task_state(dag_run, "send") == "success"
    assert xcom(dag_run, "send")["accepted"] == 900
    assert len(snap_conn.accepted_count_by_event_id(PIXEL)) == 900


def test_excels_european_csv_semicolons_decimal_commas_and_cp1252(snap_conn, tmp_path):
    rows = make_rows(40)
    for row in rows:
        row["first_name"] = "Renée"
    frame = pd.DataFrame(rows)
    frame.to_csv(tmp_path / "export.csv", index=False, sep=";", decimal=",", encoding="cp1252")
    mapping = {**MAPPING, "first_name": "first_name"}
    dag_run = run_dag(one_task_dag("excel_csv", path=str(tmp_path / "export.csv"), file_encoding="{{ 'cp1252' }}",
                                   field_mapping=mapping))
    assert task_state(dag_run, "send") == "success"
    assert (xcom(dag_run, "send")["accepted"], xcom(dag_run, "send")["rejected"]) == (40, 0)
    (event,) = [e for e in snap_conn.accepted_events(PIXEL) if e["event_id"] == "o-1"]
    assert event["custom_data"]["value"] == 11.0
    assert event["user_data"]["fn"] == [hashlib.sha256("renée".encode()).hexdigest()]


def test_dry_run_sends_nothing_and_still_reports_and_writes_rejected_rows(snap_conn, tmp_path, monkeypatch):
    rows = make_rows(50)
    rows[3]["email"], rows[3]["phone"] = "nobody", None
    sqlite_warehouse(tmp_path, monkeypatch, rows)
    out = tmp_path / "rejected.jsonl"
    dag_run = run_dag(one_task_dag("dry_run", sql="SELECT * FROM purchases", sql_conn_id="warehouse",
                                   dry_run=True, rejected_rows_path=str(out), rejected_rows_columns="order_id",
                                   max_rejected_ratio=0.5))
    report = xcom(dag_run, "send")
    assert task_state(dag_run, "send") == "success"
    assert report["dry_run"] is True and (report["would_send"], report["accepted"], report["rejected"]) == (49, 0, 1)
    assert report["requests"] == 0 and snap_conn.requests == []
    assert report["match_readiness"]["events"] == 49
    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        {"row": 3, "status": "rejected", "reason": "invalid_email", "order_id": "o-3"}]


def test_exactly_one_source(snap_conn):
    from snap_capi_provider.operators.snap_capi import SnapCapiSendEventsOperator

    with pytest.raises(ValueError, match="exactly one source"):
        SnapCapiSendEventsOperator(task_id="t", data=[{}], sql="SELECT 1", sql_conn_id="x")
    dag_run = run_dag(one_task_dag("no_source"))
    assert task_state(dag_run, "send") == "failed"


def test_an_empty_source_warns_and_fail_on_empty_fails(snap_conn, tmp_path, monkeypatch, capfd):
    sqlite_warehouse(tmp_path, monkeypatch, [])
    dag_run = run_dag(one_task_dag("empty_ok", sql="SELECT * FROM purchases", sql_conn_id="warehouse"))
    assert task_state(dag_run, "send") == "success" and xcom(dag_run, "send")["rows"] == 0
    assert "The source gave no rows" in capfd.readouterr().out
    failing = run_dag(one_task_dag("empty_fails", sql="SELECT * FROM purchases", sql_conn_id="warehouse",
                                   fail_on_empty=True))
    assert task_state(failing, "send") == "failed" and xcom(failing, "send")["rows"] == 0
    few = run_dag(one_task_dag("too_few", sql="SELECT * FROM purchases", sql_conn_id="warehouse", min_rows=10))
    assert task_state(few, "send") == "failed"


def test_min_rows_fails_before_sending_when_the_count_is_known(snap_conn, tmp_path, monkeypatch, capfd):
    sqlite_warehouse(tmp_path, monkeypatch, make_rows(5))
    counted = run_dag(one_task_dag("few_counted", sql="SELECT * FROM purchases", sql_conn_id="warehouse",
                                   count_rows=True, min_rows=10))
    assert task_state(counted, "send") == "failed" and snap_conn.requests == []
    assert "holds 5 rows, fewer than min_rows=10; nothing was sent" in capfd.readouterr().out
    in_memory = run_dag(one_task_dag("few_in_memory", data=make_rows(3), min_rows=4))
    assert task_state(in_memory, "send") == "failed" and snap_conn.requests == []
    enough = run_dag(one_task_dag("enough", sql="SELECT * FROM purchases", sql_conn_id="warehouse",
                                  count_rows=True, min_rows=5))
    assert task_state(enough, "send") == "success" and xcom(enough, "send")["accepted"] == 5


def test_min_match_ready_ratio_fails_a_run_whose_events_cannot_match(snap_conn, tmp_path, monkeypatch):
    """Events with only IP + user agent meet Snap's minimum but match probabilistically: not strong."""
    rows = make_rows(20)
    for i, row in enumerate(rows):
        if i % 4:
            row["email"], row["phone"] = None, None
    sqlite_warehouse(tmp_path, monkeypatch, rows)
    with sqlite3.connect(tmp_path / "warehouse.db") as db:
        db.execute("ALTER TABLE purchases ADD COLUMN ip TEXT")
        db.execute("ALTER TABLE purchases ADD COLUMN ua TEXT")
        db.execute("UPDATE purchases SET ip = '203.0.113.9', ua = 'Mozilla/5.0'")
    mapping = {**MAPPING, "client_ip_address": "ip", "client_user_agent": "ua"}
    dag_run = run_dag(one_task_dag("readiness", field_mapping=mapping, sql="SELECT * FROM purchases",
                                   sql_conn_id="warehouse", min_match_ready_ratio=0.5))
    report = xcom(dag_run, "send")
    assert report["accepted"] == 20 and task_state(dag_run, "send") == "failed"
    readiness = report["match_readiness"]
    assert readiness["share_with_strong_identifier"] == readiness["share_with"]["em"] == 0.25
    assert readiness["share_with"]["client_ip_address+client_user_agent"] == 1.0
    assert readiness["dropped"]["em"] == {"invalid": {}, "empty": 15, "unmapped": False}
    assert readiness["dropped"]["madid"]["unmapped"] is True


def test_mapped_shards_send_every_row_exactly_once_and_merge_their_reports(snap_conn, tmp_path, monkeypatch):
    from airflow.sdk import dag, task

    from snap_capi_provider.core.report import merge_reports
    from snap_capi_provider.operators.snap_capi import SnapCapiSendEventsOperator

    sqlite_warehouse(tmp_path, monkeypatch, make_rows(1000))

    @dag(dag_id="shards", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
    def pipeline():
        sent = SnapCapiSendEventsOperator.partial(
            task_id="send", sql="SELECT * FROM purchases", sql_conn_id="warehouse", event_name="PURCHASE",
            field_mapping=MAPPING, shard_count=4, chunk_rows=300,
        ).expand(shard_index=[0, 1, 2, 3])

        @task(trigger_rule="all_done")
        def merge(reports):
            return merge_reports(reports)

        merge(sent.output)

    dag_run = run_dag(pipeline())
    merged = xcom(dag_run, "merge")
    assert (merged["tasks"], merged["rows"], merged["accepted"], merged["failed"]) == (4, 1000, 1000, 0)
    counts = snap_conn.accepted_count_by_event_id(PIXEL)
    assert len(counts) == 1000 and set(counts.values()) == {1}  # every row once, by exactly one shard
    shard_rows = [ti.xcom_pull(task_ids="send", map_indexes=i)["rows"] for i, ti in
                  enumerate([dag_run.get_task_instance("send", map_index=i) for i in range(4)])]
    assert sum(shard_rows) == 1000 and all(150 < rows < 350 for rows in shard_rows)
    assert merged["match_readiness"]["events"] == 1000


def test_mapped_over_files(snap_conn, tmp_path):
    from airflow.sdk import dag

    from snap_capi_provider.operators.snap_capi import SnapCapiSendEventsOperator

    paths = []
    for part in range(3):
        path = tmp_path / f"day-{part}.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in make_rows(100, start=100 * part)))
        paths.append(str(path))

    @dag(dag_id="per_file", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
    def pipeline():
        SnapCapiSendEventsOperator.partial(task_id="send", event_name="PURCHASE", field_mapping=MAPPING,
                                           ).expand(path=paths)

    dag_run = run_dag(pipeline())
    assert all(str(dag_run.get_task_instance("send", map_index=i).state) == "success" for i in range(3))
    assert len(snap_conn.accepted_count_by_event_id(PIXEL)) == 300


def test_validate_operator_reads_sql_too(snap_conn, tmp_path, monkeypatch):
    sqlite_warehouse(tmp_path, monkeypatch, make_rows(30))
    dag_run = run_dag(one_task_dag("validate_sql", operator="SnapCapiValidateOperator",
                                   sql="SELECT * FROM purchases", sql_conn_id="warehouse", sample_size=10))
    report = xcom(dag_run, "send")
    assert task_state(dag_run, "send") == "success"
    assert (report["rows"], report["valid"]) == (10, 10) and report["match_readiness"]["events"] == 10


@pytest.mark.parametrize("native", [False, True])
def test_a_templated_field_mapping_needs_native_rendering_and_says_so(snap_conn, tmp_path, monkeypatch, capfd,
                                                                       native):
    from airflow.sdk import dag

    from snap_capi_provider.operators.snap_capi import SnapCapiSendEventsOperator

    sqlite_warehouse(tmp_path, monkeypatch, make_rows(3))

    @dag(dag_id=f"templated_mapping_{native}", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
         catchup=False, params={"mapping": MAPPING}, render_template_as_native_obj=native)
    def pipeline():
        SnapCapiSendEventsOperator(task_id="send", event_name="PURCHASE", field_mapping="{{ params.mapping }}",
                                   sql="SELECT * FROM purchases", sql_conn_id="warehouse")

    dag_run = run_dag(pipeline())
    if native:
        assert task_state(dag_run, "send") == "success" and xcom(dag_run, "send")["accepted"] == 3
    else:
        assert task_state(dag_run, "send") == "failed" and snap_conn.requests == []
        assert "render_template_as_native_obj=True" in capfd.readouterr().out
