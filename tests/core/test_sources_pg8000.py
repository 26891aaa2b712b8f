"""A PostgreSQL driver that reads a whole result at ``execute()`` (pg8000, and ``redshift_connector``, Airflow's
Redshift driver, built the same way) streams through a SQL cursor (``DECLARE`` ... ``FETCH FORWARD``) and
gives exactly the events, hashes and report of the same rows handed over in memory."""

from __future__ import annotations

import logging

import pytest

from snap_capi_provider.core.sources import InputError, iter_sql_chunks
from tests.core.test_sources import CHUNK, _timestamp, assert_same, insert_purchases, needs_postgres, reference_run
from tests.pg_server import pg_server

pytestmark = needs_postgres
SQL = "SELECT * FROM purchases ORDER BY n"
TABLE = ("CREATE TABLE purchases (n int, order_id text, email text, phone text, first_name text, last_name text, "
         "city text, state text, zip text, country text, dob text, ip inet, amount numeric(10, 2), currency text, "
         "ts timestamptz)")


@pytest.fixture(scope="module")
def reference():
    return reference_run()


@pytest.fixture(scope="module")
def server(reference):
    import psycopg2

    data, _, _ = reference
    with pg_server() as running:
        conn = psycopg2.connect(host=running.host, port=running.port, user=running.user, dbname=running.database)
        with conn, conn.cursor() as cursor:
            cursor.execute(TABLE)
            insert_purchases(cursor, data, _timestamp)
        conn.close()
        yield running


def connect(server, **options):
    import pg8000.dbapi

    return pg8000.dbapi.connect(host=server.host, port=server.port, user=server.user, database=server.database,
                                **options)


def open_cursors(conn) -> list[str]:
    cursor = conn.cursor()
    cursor.execute("SELECT name FROM pg_cursors")
    return [name for (name,) in cursor.fetchall() if name.startswith("snap_capi_stream_")]


def test_pg8000_streams_through_a_sql_cursor_and_gives_the_same_events(reference, server):
    conn = connect(server)
    chunks = iter_sql_chunks(conn, SQL, chunk_rows=CHUNK)
    assert len(next(chunks)) == CHUNK
    assert open_cursors(conn)  # the rest of the result waits on the server, CHUNK rows fetched so far
    chunks.close()
    assert open_cursors(conn) == []  # a stopped run closes it
    assert_same(reference, iter_sql_chunks(conn, SQL, chunk_rows=CHUNK))
    conn.close()


def test_an_autocommit_connection_and_parameters_give_the_same_events(reference, server):
    conn = connect(server)
    conn.autocommit = True  # DECLARE needs a transaction: the stream opens one, and ends it
    sql = "SELECT * FROM purchases WHERE n >= %s ORDER BY n;"
    assert_same(reference, iter_sql_chunks(conn, sql, [0], chunk_rows=CHUNK))
    cursor = conn.cursor()
    cursor.execute("SELECT count(*) FROM pg_cursors")
    assert cursor.fetchall()[0][0] == 0
    conn.close()


def test_an_empty_result_gives_no_chunk(server):
    conn = connect(server)
    assert list(iter_sql_chunks(conn, "SELECT * FROM purchases WHERE n < 0", chunk_rows=CHUNK)) == []
    conn.close()


def test_a_statement_that_is_no_query_is_refused_clearly_after_the_cursor_is(server, caplog):
    conn = connect(server)
    with caplog.at_level(logging.WARNING), pytest.raises(InputError, match="no result set"):
        list(iter_sql_chunks(conn, "UPDATE purchases SET n = n WHERE n < 0"))
    assert "refused a server-side cursor" in caplog.text and "purchases" not in caplog.text  # no SQL logged
    conn.close()
