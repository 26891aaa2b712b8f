"""A MySQL (MariaDB) query streams through an unbuffered cursor, the result left on the server, and gives
exactly the events, hashes and report of the same rows handed over in memory."""

from __future__ import annotations

import decimal
import os

import pytest

from snap_capi_provider.core.sources import iter_sql_chunks
from snap_capi_provider.core.sources.sql import MYSQL_WRITE_TIMEOUT_S
from tests.core.test_sources import CHUNK, assert_same, insert_purchases, reference_run
from tests.mysql_server import find_binaries, mysql_server

pytestmark = pytest.mark.skipif(find_binaries() is None and not os.environ.get("CI"),
                                reason="MariaDB server binaries not installed (apt-get install mariadb-server)")

SQL = "SELECT * FROM purchases ORDER BY n"


@pytest.fixture(scope="module")
def reference():
    return reference_run()


@pytest.fixture(scope="module")
def mysql(reference):
    data, _, _ = reference
    with mysql_server() as server:
        with server.connect() as conn, conn.cursor() as cursor:
            cursor.execute("CREATE TABLE purchases (n int, order_id text, email text, phone text, first_name text, "
                           "last_name text, city text, state text, zip text, country text, dob text, ip text, "
                           "amount decimal(10, 2), currency text, ts varchar(40)) CHARACTER SET utf8mb4")
            insert_purchases(cursor, data, str)  # the epoch ints and ISO texts as text: read alike
        yield server


def test_mysql_streams_through_an_unbuffered_cursor_and_gives_the_same_events(reference, mysql):
    conn = mysql.connect()
    chunks = iter_sql_chunks(conn, SQL, chunk_rows=CHUNK)
    first = next(chunks)
    assert len(first) == CHUNK and isinstance(first["amount"].iloc[0], decimal.Decimal)
    # PyMySQL's default cursor reads the whole result at execute(); this one leaves it on the server.
    assert conn._result is not None and conn._result.unbuffered_active
    chunks.close()
    assert_same(reference, iter_sql_chunks(conn, SQL, chunk_rows=CHUNK))
    conn.close()


def test_a_dict_cursor_connection_and_parameters_give_the_same_events(reference, mysql):
    import pymysql.cursors

    conn = mysql.connect(cursorclass=pymysql.cursors.DictCursor)
    sql = "SELECT * FROM purchases WHERE n >= %s ORDER BY n"
    assert_same(reference, iter_sql_chunks(conn, sql, [0], chunk_rows=CHUNK))
    conn.close()


def test_the_stream_waits_for_a_slow_reader_and_an_early_stop_leaves_the_connection_usable(mysql):
    conn = mysql.connect()
    chunks = iter_sql_chunks(conn, SQL, chunk_rows=CHUNK)
    next(chunks)
    chunks.close()  # the task stopped halfway: the rest of the result is discarded, the connection kept
    with conn.cursor() as cursor:
        cursor.execute("SELECT @@SESSION.net_write_timeout")
        assert cursor.fetchone() == (MYSQL_WRITE_TIMEOUT_S,)
    conn.close()


def test_mysql_connector_python_streams_unbuffered_even_from_a_buffered_connection(reference, mysql):
    from mysql import connector  # the fixture is named mysql too

    conn = connector.connect(host=mysql.host, port=mysql.port, user=mysql.user, database=mysql.database,
                             buffered=True)  # a connection whose cursors would read every row first
    chunks = iter_sql_chunks(conn, SQL, chunk_rows=CHUNK)
    first = next(chunks)
    assert len(first) == CHUNK and isinstance(first["amount"].iloc[0], decimal.Decimal)
    assert conn.unread_result  # the rest of the result is still on the server
    chunks.close()
    cursor = conn.cursor()
    cursor.execute("SELECT @@SESSION.net_write_timeout")
    assert cursor.fetchone() == (MYSQL_WRITE_TIMEOUT_S,)
    cursor.close()
    assert_same(reference, iter_sql_chunks(conn, SQL, chunk_rows=CHUNK))
    conn.close()
