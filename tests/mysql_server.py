"""A throwaway MariaDB (MySQL) server for the SQL source tests: ``mariadb-install-db`` in a temporary
folder, a free loopback port, stopped at the end of the session. Uses the binaries of Debian's
``mariadb-server`` package (``.ci/run`` installs it); as root, the server runs as the ``mysql`` user."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

DATABASE = "snap"


@dataclass(frozen=True)
class MySqlServer:
    host: str
    port: int
    user: str = "root"
    database: str = DATABASE

    def connect(self, **options):
        import pymysql

        return pymysql.connect(host=self.host, port=self.port, user=self.user, database=self.database,
                               autocommit=True, **options)


def _binary(*names: str) -> str | None:
    for name in names:
        for path in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
            if path and os.path.exists(path):
                return path
    return None


def find_binaries() -> tuple[str, str] | None:
    """(server, installer) binaries, or None where MariaDB / MySQL is not installed."""
    daemon, install = _binary("mariadbd", "mysqld"), _binary("mariadb-install-db", "mysql_install_db")
    return (daemon, install) if daemon and install else None


@contextmanager
def mysql_server() -> Iterator[MySqlServer]:
    binaries = find_binaries()
    if binaries is None:
        raise RuntimeError("MariaDB server binaries not found (apt-get install mariadb-server)")
    daemon, install = binaries
    root = tempfile.mkdtemp(prefix="snap-capi-mysql-")
    data = os.path.join(root, "data")
    user = pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() == 0:  # the server refuses to run as root
        user = "mysql"
        pwd.getpwnam(user)
        shutil.chown(root, user)
    subprocess.run([install, "--no-defaults", f"--datadir={data}", f"--user={user}", "--skip-test-db",
                    "--auth-root-authentication-method=normal"], check=True, capture_output=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(os.path.join(root, "server.log"), "wb")  # noqa: SIM115 (open while the server runs)
    process = subprocess.Popen(
        [daemon, "--no-defaults", f"--datadir={data}", f"--socket={root}/server.sock", f"--port={port}",
         "--bind-address=127.0.0.1", f"--user={user}", "--skip-grant-tables", f"--pid-file={root}/server.pid",
         "--innodb-buffer-pool-size=32M", "--innodb-flush-log-at-trx-commit=0", "--skip-log-bin"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        server = MySqlServer("127.0.0.1", port, database="mysql")
        deadline = time.monotonic() + 60
        while True:
            try:
                with server.connect() as conn, conn.cursor() as cursor:
                    cursor.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
                break
            except Exception:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        yield MySqlServer("127.0.0.1", port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(root, ignore_errors=True)
