"""Fuzzing the whole send path: random rows of random objects (builtins, numpy and pandas scalars,
an object whose ``str()`` raises) under random column names (Snap field names among them) through
:func:`~snap_capi_provider.core.pipeline.send_rows` against the in-process emulator, with automatic
and explicit mappings. No exception escapes (other than a clear ``MappingError`` before anything is
sent) and ``rows == accepted + rejected + failed`` always."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import math
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snap_capi_provider.core.client import RetryPolicy, SnapCapiClient
from snap_capi_provider.core.events import EventOptions, MappingError
from snap_capi_provider.core.pipeline import Assets, DeliveryOptions, send_rows
from snap_capi_provider.core.rejected_rows import RejectedRowsWriter
from snap_capi_provider.core.sources import iter_chunks
from tests.conftest import PIXEL, TOKEN
from tests.reliability_helpers import emulator

SNAP_NAMES = ["em", "email", "ph", "phone", "fn", "ln", "value", "currency", "event_time", "event_id",
              "order_id", "event_name", "content_ids", "client_ip_address", "madid", "ct", "st", "zp",
              "country", "db", "ge", "external_id", "num_items", "action_source"]
NOW = time.time()

class Unprintable:
    """An object whose str() and == raise (its repr works, for hypothesis's reports)."""

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no ==")

    def __repr__(self) -> str:
        return "Unprintable()"


class FailingHash:
    """An object whose hash raises something else than TypeError."""

    def __hash__(self) -> int:
        raise RuntimeError("no hash")

    def __repr__(self) -> str:
        return "FailingHash()"


class EmailText(str):
    """A str subclass."""


#: Objects of other libraries and odd builtins, made fresh for each example.
odd_objects = st.sampled_from([
    Unprintable, FailingHash, lambda: decimal.Decimal("NaN"), lambda: decimal.Decimal("1e400"), lambda: np.int64(5),
    lambda: np.float32("nan"), lambda: pd.NaT, lambda: pd.NA, lambda: pd.Timestamp("2026-01-01"),
    lambda: np.datetime64("NaT"), lambda: np.bool_(True), lambda: np.array([1, 2]), lambda: {1, 2},
    lambda: (1, "a"), lambda: complex(1, 2), lambda: bytearray(b"\xff"), lambda: memoryview(b"ab"),
    lambda: EmailText("x@example.com"), object, lambda: range(3), lambda: -0.0,
]).map(lambda make: make())

cells = st.one_of(
    odd_objects,
    st.none(), st.just(math.nan), st.booleans(), st.integers(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40), st.binary(max_size=20),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3),
    st.sampled_from(["person@example.com", "+1 650 555 1212", "USD", "PURCHASE", "10.5", "2026-01-01",
                     str(int(NOW - 3600)), "1.2.3.4", "", " ", "\x00", "=cmd|calc", "a" * 300]),
    st.floats(min_value=NOW - 86400 * 40, max_value=NOW + 3600),
    st.datetimes(timezones=st.just(dt.timezone.utc)),
    st.lists(st.one_of(st.text(max_size=5), st.integers(), st.lists(st.integers(), max_size=2)), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
names = st.one_of(st.sampled_from(SNAP_NAMES), st.text(min_size=1, max_size=8), st.integers(-3, 3))
random_row = st.dictionaries(names, cells, max_size=8)
# A valid row with a few cells replaced or added at random, so that many rows reach the server.
spoiled_row = st.builds(
    lambda n, extra: {"email": f"buyer.{n}@example.com", "event_time": int(NOW - 120), "value": 10,
                      "currency": "USD", "event_id": f"e-{n}", **extra},
    st.integers(0, 50), st.dictionaries(names, cells, max_size=2))
rows = st.lists(st.one_of(random_row, spoiled_row), max_size=30)


@pytest.fixture(scope="module")
def emu():
    with emulator() as emu:
        yield emu


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=rows, explicit=st.booleans(), chunk_rows=st.integers(1, 12), batch_size=st.integers(1, 5),
       api_version=st.sampled_from(["v3", "v2"]))
def test_random_rows_never_raise_and_every_row_is_accounted(emu, data, explicit, chunk_rows, batch_size,
                                                            api_version):
    mapping = {"em": "email", "ph": "ph", "value": "value", "event_id": "event_id", "event_time": "event_time",
               "content_ids": "content_ids", "currency": "currency"} if explicit else None
    if mapping is not None:  # the columns the rows have (a mapping naming absent columns is refused upfront)
        present = {key for row in data for key in row}
        mapping = {field: column for field, column in mapping.items() if column in present} or None
    stream = io.StringIO()
    with SnapCapiClient(TOKEN, emu.url, api_version=api_version,
                        retry=RetryPolicy(max_retries=0, backoff_initial_s=0.0)) as client:
        try:
            report = send_rows(client, iter_chunks(data, chunk_rows), assets=Assets(pixel_id=PIXEL, app_id="app"),
                               field_mapping=mapping, event_options=EventOptions(event_name="PURCHASE"),
                               delivery=DeliveryOptions(batch_size=batch_size, concurrency=2, progress_interval_s=0),
                               sink=RejectedRowsWriter(stream, ["event_id"]), sink_columns=())
        except MappingError as exc:  # a clear refusal of the columns, with the report of what was read
            report = exc.snap_capi_report  # type: ignore[attr-defined]
            assert report.rows == report.accepted + report.rejected + report.failed
            return
    assert report.rows == len(data)
    assert report.rows == report.accepted + report.rejected + report.failed
    assert not any(reason.startswith("internal_error") for reason in report.failures.by_reason), report.failures
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == report.rejected + report.failed
    json.dumps(report.to_dict())  # the report is JSON-native for XCom
    OUTCOMES.append((report.accepted, report.rejected, report.failed))


OUTCOMES: list[tuple[int, int, int]] = []


def test_the_fuzzing_reached_the_server():
    """Run after the fuzz test (file order): some random rows were accepted, others rejected."""
    if not OUTCOMES:
        pytest.skip("the fuzz test did not run")
    assert any(accepted for accepted, _, _ in OUTCOMES) and any(rejected for _, rejected, _ in OUTCOMES)
