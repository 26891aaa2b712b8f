"""Fixtures of the emulator tests: one emulator per module, reset per test, and a partial-mode one."""

from __future__ import annotations

from typing import Any

import pytest

from snap_capi_provider.emulator import CapiEmulator


@pytest.fixture(scope="module")
def server() -> Any:
    with CapiEmulator() as emu:
        yield emu


@pytest.fixture
def emu(server: CapiEmulator) -> Any:
    server.reset()
    yield server
    assert server.errors == []  # no emulator bug was hit (they are answered with 500)


@pytest.fixture
def partial_emu() -> Any:
    with CapiEmulator(batch_mode="partial") as emu:
        yield emu
