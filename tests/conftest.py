"""Test harness: a real Airflow (temporary home, SQLite metadata DB) and the local CAPI emulator.

Airflow reads its configuration when first imported, so the environment is set here, before any
test module imports it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="snap-capi-airflow-"))
os.environ.update({
    "AIRFLOW_HOME": str(AIRFLOW_HOME),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME}/airflow.db",
    "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
})
sys.path.insert(0, str(ROOT))

from snap_capi_provider.emulator import CapiEmulator  # noqa: E402

TOKEN = "tok-SECRET-7f3a9c1e"
PIXEL = "pixel-123"
APP = "app-456"


@pytest.fixture(scope="session")
def _emulator_server():
    with CapiEmulator(access_tokens=(TOKEN,)) as emu:
        yield emu


@pytest.fixture
def emulator(_emulator_server):
    """The session's emulator, reset for this test (events, requests, faults, batch mode)."""
    _emulator_server.reset()
    _emulator_server.batch_mode = "whole"
    yield _emulator_server
    _emulator_server.reset()


def conn_json(url: str, token: str = TOKEN, **extra: object) -> str:
    return json.dumps({"conn_type": "snap_capi", "host": url, "password": token,
                       "extra": {"pixel_id": PIXEL, "snap_app_id": APP, **extra}})


@pytest.fixture
def snap_conn(emulator, monkeypatch):
    """``snap_capi_default`` pointing at the emulator, from an environment variable."""
    monkeypatch.setenv("AIRFLOW_CONN_SNAP_CAPI_DEFAULT", conn_json(emulator.url))
    return emulator


@pytest.fixture(scope="session")
def airflow_db():
    """A fresh Airflow metadata database for the session."""
    from airflow.utils import db

    db.resetdb()
    return AIRFLOW_HOME
