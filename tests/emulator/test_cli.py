"""``snap-capi-emulator`` from the command line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest
import requests

from tests.emulator.helpers import PIXEL, REPO_ROOT, TOKEN, make_event


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "launcher",
    [
        ["-m", "snap_capi_provider.emulator"],
        ["-c", "import sys; from snap_capi_provider.emulator.cli import main; sys.exit(main())"],
    ],
    ids=["module", "entry-point"],
)
def test_cli_serves_until_sigterm(launcher: list[str]) -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, *launcher, "--port", str(port), "--token", "cli-token", "--batch-mode", "partial"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as proc:
        _check_cli(proc, port)


def _check_cli(proc: subprocess.Popen, port: int) -> None:
    try:
        line = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert line == f"snap-capi-emulator listening on http://127.0.0.1:{port}"
        r = requests.post(
            f"http://127.0.0.1:{port}/v3/{PIXEL}/events",
            params={"access_token": "cli-token"},
            json={"data": [make_event(), make_event(event_name="BAD")]},
            timeout=5,
        )
        assert r.status_code == 400
        summary = requests.get(f"http://127.0.0.1:{port}/_emulator/summary", timeout=5).json()
        assert summary["accepted"] == 1  # partial mode from the command line
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr.read() == ""  # type: ignore[union-attr]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_fault_rate_survives_reset() -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [
        sys.executable,
        "-m",
        "snap_capi_provider.emulator",
        "--port",
        str(port),
        "--fault-rate",
        "1",
        "--fault-kinds",
        "503",
        "--seed",
        "3",
    ]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env) as proc:
        _check_cli_reset(proc, port)


def _check_cli_reset(proc: subprocess.Popen, port: int) -> None:
    try:
        assert "listening" in proc.stdout.readline()  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        requests.post(f"{base}/_emulator/reset", timeout=5)
        r = requests.post(
            f"{base}/v3/{PIXEL}/events?access_token={TOKEN}", json={"data": [make_event()]}, timeout=5
        )
        assert r.status_code == 503
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_refuses_a_non_loopback_host_with_the_default_token(capsys) -> None:
    from snap_capi_provider.emulator.cli import main

    assert main(["--host", "0.0.0.0", "--port", "0"]) == 2
    assert "default token" in capsys.readouterr().err
    assert main(["--host", "0.0.0.0", "--port", "0", "--token", "test-token"]) == 2  # named, still the default
