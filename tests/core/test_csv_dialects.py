"""CSV as Excel writes it beyond the plain comma-separated UTF-8: its "Unicode text" export (UTF-16 with a
byte order mark, tab-separated, CRLF lines) and the ``sep=;`` line it reads and writes before the header;
JSON lines as Windows PowerShell's ``>`` writes them (UTF-16). Each gives exactly the events of the same
rows in memory."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from snap_capi_provider.core.events import EventOptions
from snap_capi_provider.core.sources import FileSource, iter_file_chunks
from tests.core.test_sources import CHUNK, assert_same, clock, reference, sent  # noqa: F401  (reference: a fixture)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_excels_unicode_text_export_gives_the_same_events(reference, tmp_path, encoding):  # noqa: F811
    data, _, _ = reference
    text = pd.DataFrame(data).to_csv(index=False, sep="\t", lineterminator="\r\n")
    path = tmp_path / "export.csv"
    path.write_bytes(text.encode(encoding) if encoding == "utf-16" else b"\xfe\xff" + text.encode(encoding))
    assert path.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")
    assert_same(reference, iter_file_chunks(FileSource.local(str(path)), CHUNK))


def test_a_utf16_export_gzipped_or_named_with_its_encoding_reads_the_same(tmp_path):
    text = "email\tfirst_name\r\nRaphaël@Example.com\tZoë\r\n".encode("utf-16")
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(text))
    (tmp_path / "b.tsv").write_bytes(text)
    expected = [{"email": "Raphaël@Example.com", "first_name": "Zoë"}]
    for name, encoding in (("a.csv.gz", None), ("b.tsv", None), ("b.tsv", "utf-16")):
        (frame,) = iter_file_chunks(FileSource.local(str(tmp_path / name), encoding=encoding))
        assert frame.to_dict("records") == expected, name


@pytest.mark.parametrize("first_line", ["sep=;", '"sep=;"', "\ufeffsep=;", "SEP=;"])
def test_excels_sep_line_names_the_separator_and_is_no_row(reference, tmp_path, first_line):  # noqa: F811
    data, _, _ = reference
    path = tmp_path / "export.csv"
    path.write_text(first_line + "\r\n" + pd.DataFrame(data).to_csv(index=False, sep=";", decimal=","),
                    encoding="utf-8")
    assert_same(reference, iter_file_chunks(FileSource.local(str(path)), CHUNK))


def test_a_malformed_line_after_a_sep_line_is_rejected_on_its_own_row(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("sep=|\nemail|timestamp\na@example.com|1790000000\nb@example.com|1790000000|x\n"
                    "c@example.com|1790000000\n")
    frames = list(iter_file_chunks(FileSource.local(str(path))))
    _, report = sent(frames, mapping=None, event_options=EventOptions(event_name="SIGN_UP", clock=clock))
    assert (report["rows"], report["accepted"], report["rejected"]) == (3, 2, 1)
    assert [e["row"] for e in report["rejections"]["examples"]] == [1]


def test_a_column_named_sep_is_still_a_column(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("sep=x,email\nsomething,a@example.com\n")
    (frame,) = iter_file_chunks(FileSource.local(str(path)))
    assert list(frame.columns) == ["sep=x", "email"]


def test_json_lines_written_as_utf16_give_the_same_events(reference, tmp_path):  # noqa: F811
    data, _, _ = reference
    text = "\r\n".join(pd.DataFrame(data).to_json(orient="records", lines=True).splitlines()) + "\r\n"
    path = tmp_path / "export.jsonl"
    path.write_bytes(text.encode("utf-16"))
    assert_same(reference, iter_file_chunks(FileSource.local(str(path)), CHUNK))
