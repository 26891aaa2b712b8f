"""A query the database fails is a clear SqlQueryError naming the error, never the driver's own exception:
a data error quotes the row's value (``invalid input syntax for type integer: "john@example.com"``), and
the task log and exception must not carry it. Against real SQLite, PostgreSQL (psycopg2, pg8000) and
MariaDB servers."""

from __future__ import annotations

import os
import sqlite3
import traceback

import pytest

from snap_capi_provider.core.sources import InputError, count_sql_rows, iter_sql_chunks
from snap_capi_provider.core.sources.sql import SqlQueryError
from tests.core.test_sources import needs_postgres
from tests.mysql_server import find_binaries, mysql_server
from tests.pg_server import pg_server

PII = "john.doe@example.com"
DATA_ERROR = f"SELECT '{PII}'::int AS n"


def failure(connection, sql: str, count: bool = False) -> SqlQueryError:
    with pytest.raises(SqlQueryError) as caught:
        if count:
            count_sql_rows(connection, sql)
        else:
            list(iter_sql_chunks(connection, sql))
    error = caught.value
    shown = "".join(traceback.format_exception(error))  # what the task log prints
    assert PII not in shown and "john" not in shown
    assert error.__cause__ is None and error.__suppress_context__
    assert isinstance(error, InputError)
    return error


@pytest.fixture(scope="module")
def postgres():
    with pg_server() as server:
        yield server


@needs_postgres
@pytest.mark.parametrize("count", [False, True])
def test_a_postgres_data_error_names_its_sqlstate_and_masks_the_value(postgres, count):
    conn = postgres.connect()
    try:
        message = str(failure(conn, DATA_ERROR, count))
    finally:
        conn.close()
    assert message == ("The SQL query failed: InvalidTextRepresentation (SQLSTATE 22P02): invalid input syntax "
                       'for type integer: "***"')


@needs_postgres
def test_a_postgres_error_in_the_statement_keeps_the_words_it_quotes_and_the_hint(postgres):
    conn = postgres.connect()
    try:
        message = str(failure(conn, "SELECT emial FROM (SELECT 1 AS email) AS t"))
        conn.rollback()
        syntax = str(failure(conn, "SELECT email FORM t"))
    finally:
        conn.close()
    assert message == ('The SQL query failed: UndefinedColumn (SQLSTATE 42703): column "emial" does not exist '
                       'HINT:  Perhaps you meant to reference the column "t.email".')
    assert syntax == 'The SQL query failed: SyntaxError (SQLSTATE 42601): syntax error at or near "t"'


@needs_postgres
def test_pg8000_errors_read_the_servers_fields(postgres):
    import pg8000.dbapi

    conn = pg8000.dbapi.connect(host=postgres.host, port=postgres.port, user=postgres.user,
                                database=postgres.database)
    try:
        message = str(failure(conn, f"SELECT '{{\"a\": {PII}}}'::json AS j"))
    finally:
        conn.close()
    assert message == ("The SQL query failed: DatabaseError (SQLSTATE 22P02): invalid input syntax for type json "
                       'Token "***" is invalid.')


def test_sqlite_errors_quote_the_statement_and_stay_readable():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE purchases (email text)")
    assert str(failure(conn, "SELECT emial FROM purchases")) == (
        "The SQL query failed: OperationalError: no such column: emial")
    assert str(failure(conn, "SELECT email FORM purchases")) == (
        'The SQL query failed: OperationalError: near "purchases": syntax error')


def test_an_error_of_the_code_reading_rows_is_not_taken_for_the_databases():
    class Broken:  # a connection whose cursor is not a DB-API cursor at all
        def cursor(self):
            raise TypeError("not a cursor")

    with pytest.raises(TypeError, match="not a cursor"):
        list(iter_sql_chunks(Broken(), "SELECT 1"))


@pytest.mark.skipif(find_binaries() is None and not os.environ.get("CI"),
                    reason="MariaDB server binaries not installed (apt-get install mariadb-server)")
def test_mysql_errors_keep_the_statement_and_mask_values():
    import pymysql

    with mysql_server() as server, server.connect() as conn:
        syntax = str(failure(conn, "SELECT email FORM t"))
        assert syntax.startswith("The SQL query failed: ProgrammingError: You have an error in your SQL syntax")
        assert syntax.endswith("near 't' at line 1")  # the statement's words, not masked
    # A data error as MySQL words one (a warning made an error by strict mode): the value masked.
    data = pymysql.err.OperationalError(1292, f"Truncated incorrect DOUBLE value: '{PII}'")
    from snap_capi_provider.core.sources.sql import _query_failed

    assert str(_query_failed(data)) == "The SQL query failed: OperationalError: Truncated incorrect DOUBLE value: '***'"
