"""JSON lines and streams of dict rows leave out a row's empty keys: a mapped column that no row of the
first chunk has is absent there, not a missing column, and the events are those of the same rows given
as one list (whose columns are the union of every row's keys)."""

from __future__ import annotations

import json
import logging
import time

import pytest

from snap_capi_provider.core.events import EventOptions
from snap_capi_provider.core.sources import FileSource, iter_chunks, iter_file_chunks
from tests.core.test_sources import sent

NOW = int(time.time()) - 3600
MAPPING = {"em": "email", "event_time": "ts", "ph": "phone", "value": "amount", "currency": "currency"}
OPTIONS = EventOptions(event_name="PURCHASE", default_phone_region="US")


def rows(n: int = 40) -> list[dict]:
    """Rows without empty keys: only the last ones have a phone."""
    out = []
    for i in range(n):
        row = {"email": f"p{i}@example.com", "ts": NOW, "amount": 10 + i, "currency": "USD"}
        if i >= n - 3:
            row["phone"] = f"+1 650 555 01{i % 100:02d}"
        out.append(row)
    return out


@pytest.mark.parametrize("chunk_rows", [1, 7, 1000])
def test_json_lines_whose_first_chunk_lacks_a_mapped_key_give_the_events_of_the_list(tmp_path, chunk_rows):
    data = rows()
    path = tmp_path / "conversions.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in data))
    expected = sent(iter_chunks(data), MAPPING, OPTIONS)
    assert sent(iter_file_chunks(FileSource.local(str(path)), chunk_rows), MAPPING, OPTIONS) == expected
    assert sent(iter_chunks(iter(data), chunk_rows), MAPPING, OPTIONS) == expected  # a generator of dicts
    payloads, report = expected
    assert report["accepted"] == 40 and sum(b'"ph":' in payload for payload in payloads.values()) == 3


def test_a_mapped_column_no_row_has_is_warned_about_not_silently_absent(tmp_path, caplog):
    path = tmp_path / "conversions.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows()))
    with caplog.at_level(logging.WARNING, logger="snap_capi_provider.core.pipeline"):
        _, report = sent(iter_file_chunks(FileSource.local(str(path)), 7), {**MAPPING, "fn": "frist_name"}, OPTIONS)
    assert report["accepted"] == 40 and report["warnings"]["mapped_column_not_in_input"] == 40
    assert "['frist_name']" in caplog.text


def test_a_csv_missing_a_mapped_column_is_still_a_mapping_error(tmp_path):
    from snap_capi_provider.core.events import MappingError

    path = tmp_path / "conversions.csv"
    path.write_text(f"email,ts,amount,currency\np@example.com,{NOW},10,USD\n")
    with pytest.raises(MappingError, match="missing column"):
        sent(iter_file_chunks(FileSource.local(str(path))), MAPPING, OPTIONS)


def test_event_id_and_rejected_rows_columns_may_first_appear_in_a_later_chunk_too(tmp_path):
    data = rows()
    for i, row in enumerate(data):
        if i >= 30:
            row["order"] = f"o-{i}"
    path = tmp_path / "conversions.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in data))
    options = EventOptions(event_name="PURCHASE", default_phone_region="US", event_id_columns=("order",))
    from_file = sent(iter_file_chunks(FileSource.local(str(path)), 7), MAPPING, options)
    assert from_file == sent(iter_chunks(data), MAPPING, options)
    assert from_file[1]["rejected"] == 30  # missing_event_id where every id column is empty
