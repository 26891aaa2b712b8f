"""Dates of birth (never invent a part) and event times (vectorised, RFC 2822, no relative words)."""

from __future__ import annotations

import datetime as dt
import decimal

import numpy as np
import pandas as pd
import pytest

from snap_capi_provider.core import normalize as n


@pytest.mark.parametrize("raw", [
    "1997-12-26", "19971226", 19971226, 19971226.0, "12/26/1997", "26/12/1997", "26.12.1997", "1997/12/26",
    "1997.12.26", "12-26-1997", "26-12-1997", "1997-12-26T00:00:00", "1997-12-26 10:30:00+02:00", "26 Dec 1997",
    "26 December 1997", "December 26, 1997", "Dec. 26, 1997", "Dec 26th, 1997", "26-Dec-1997", "1997 Dec 26",
    "Friday, December 26, 1997", dt.date(1997, 12, 26), dt.datetime(1997, 12, 26, 23, 59),
    pd.Timestamp("1997-12-26"), np.datetime64("1997-12-26"), decimal.Decimal("19971226"),
    "19971226.0", "19971226.00",  # a float column's YYYYMMDD, as a CSV writes it
    "1997年12月26日", "1997年12月26", "1997 年 12 月 26 日", "１９９７年１２月２６日",  # the day's 日 optional
    "1997년 12월 26일", "1997년12월26일",
])
def test_full_dates_of_birth(raw):
    assert n.normalize_column([raw], n.date_of_birth) == (["19971226"], [None])


def test_ambiguous_day_month_reads_us_order_and_dots_european():
    assert n.date_of_birth("05/06/1997") == "19970506"
    assert n.date_of_birth("05.06.1997") == "19970605"
    # dots are European, but a second part over 12 can only be the day: the one reading that is a date
    assert n.date_of_birth("12.26.1997") == n.date_of_birth_day_first("12.26.1997") == "19971226"
    assert n.normalize_column(["13.13.1997"], n.date_of_birth) == ([None], ["invalid_date_of_birth"])


@pytest.mark.parametrize(("raw", "us", "day_first"), [
    ("05/06/1997", "19970506", "19970605"), ("05-06-1997", "19970506", "19970605"),
    ("26/12/1997", "19971226", "19971226"), ("12/26/1997", "19971226", "19971226"),
    ("05.06.1997", "19970605", "19970605"), ("1997-05-06", "19970506", "19970506"),
    ("19970506", "19970506", "19970506"),
])
def test_day_first_reads_only_the_swappable_slash_and_dash_dates_the_other_way(raw, us, day_first):
    assert n.date_of_birth(raw) == us and n.date_of_birth_day_first(raw) == day_first


@pytest.mark.parametrize("raw", ["12/26/97", "13/13/1997", "1997", "31/02/1997"])
def test_day_first_refuses_what_the_us_rule_refuses(raw):
    assert n.normalize_column([raw], n.date_of_birth_day_first)[1] == n.normalize_column([raw], n.date_of_birth)[1]


@pytest.mark.parametrize(("raw", "reason"), [
    ("1997", "incomplete_date_of_birth"), (1997, "invalid_date_of_birth"), ("1997-12", "incomplete_date_of_birth"),
    ("12/1997", "incomplete_date_of_birth"), ("12/26", "incomplete_date_of_birth"),
    ("199712", "incomplete_date_of_birth"),
    ("Dec 26", "incomplete_date_of_birth"), ("26 Dec", "incomplete_date_of_birth"),
    ("December", "incomplete_date_of_birth"),
    ("December 1997", "incomplete_date_of_birth"), ("Friday", "incomplete_date_of_birth"),
    ("10:30", "incomplete_date_of_birth"),
    ("10:30 pm", "incomplete_date_of_birth"), ("now", "incomplete_date_of_birth"),
    ("today", "incomplete_date_of_birth"),
    ("12/26/97", "ambiguous_date_of_birth"), (12345, "invalid_date_of_birth"), (-19971226, "invalid_date_of_birth"),
    ("-1", "invalid_date_of_birth"), ("1997-02-30", "invalid_date_of_birth"), ("13/13/1997", "invalid_date_of_birth"),
    ("0000-01-01", "invalid_date_of_birth"), ("2999-01-01", "date_of_birth_in_future"),
    ("not a date", "invalid_date_of_birth"),
    ("Smarch 3, 1997", "invalid_date_of_birth"), (True, "invalid_value_type"), ({"y": 1997}, "invalid_value_type"),
    (dt.time(10, 30), "invalid_value_type"),
    ("19971226.5", "invalid_date_of_birth"), ("19971226.", "invalid_date_of_birth"),
    ("19971332.0", "invalid_date_of_birth"),
    ("1997年12月", "incomplete_date_of_birth"), ("1997年", "incomplete_date_of_birth"),
    ("12月26日", "incomplete_date_of_birth"), ("1997년 12월", "incomplete_date_of_birth"),
    ("1997年12월26日", "invalid_date_of_birth"), ("1997年2月30日", "invalid_date_of_birth"),
    ("2999年1月1日", "date_of_birth_in_future"),
])
def test_dates_of_birth_with_a_part_missing_or_invalid_are_rejected(raw, reason):
    assert n.normalize_column([raw], n.date_of_birth) == ([None], [reason])


def test_date_of_birth_never_fills_from_today():
    today = dt.date.today()
    for raw in (f"{today.month}/{today.day}", today.strftime("%B %d"), str(today.year),
                f"{today.month}月{today.day}日", f"{today.year}年{today.month}月"):
        assert n.normalize_column([raw], n.date_of_birth)[0] == [None]


def test_future_date_of_birth_is_invalid():
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    assert n.normalize_column([tomorrow], n.date_of_birth) == ([None], ["date_of_birth_in_future"])


SECONDS = 1732000000


@pytest.mark.parametrize("value", [
    "Tue, 19 Nov 2024 07:06:40 GMT", "Tue, 19 Nov 2024 07:06:40 +0000", "19 Nov 2024 08:06:40 +0100",
    "2024-11-19T07:06:40.123456789Z", "2024-11-19T07:06:40.5Z", "20241119T070640Z",
])
def test_event_time_rfc_2822_and_more_iso(value):
    assert n.event_time(value) == SECONDS


@pytest.mark.parametrize("word", ["now", "today", "yesterday", "tomorrow", "Now"])
def test_event_time_relative_words_are_rejected(word):
    with pytest.raises(n.InvalidValue, match="invalid_event_time"):
        n.event_time(word)


def test_event_time_rejects_containers_and_surrogates():
    for value, reason in [({"t": 1}, "invalid_value_type"), ([1], "invalid_value_type"),
                          ("2024\ud800", "invalid_text_encoding")]:
        with pytest.raises(n.InvalidValue, match=reason):
            n.event_time(value)


MIXED = [SECONDS, SECONDS * 1000, "2024-11-19T07:06:40Z", "2024-11-19 08:06:40", None, float("nan"), "now",
         pd.Timestamp(SECONDS, unit="s", tz="UTC"), dt.datetime(2024, 11, 19, 7, 6, 40),
         "Tue, 19 Nov 2024 07:06:40 GMT", {"a": 1}, [1], True, -5, "1e400", str(SECONDS), np.int64(SECONDS),
         decimal.Decimal(SECONDS), pd.NaT,
         "2024-11-19T07:06:40Z", "2024-11-19T08:06:40[Europe/Paris]", "2024/11/19 07:06:40", "2024/11/19 07:06:40Z",
         "Tue Nov 19 07:06:40 UTC 2024", "2024-11-19 07:06:40 EST"]


@pytest.mark.parametrize("timezone", [None, "UTC", "Europe/Paris", "Not/AZone"])
def test_normalize_event_times_gives_exactly_what_event_time_gives(timezone):
    values, errors = n.normalize_event_times(MIXED, timezone)
    for value, seconds, error in zip(MIXED, values, errors, strict=True):
        try:
            expected = (n.event_time(value, timezone), None)
        except n.InvalidValue as exc:
            expected = (None, exc.reason)
        assert (seconds, error) == expected, value


def test_normalize_event_times_accepts_a_series():
    values, errors = n.normalize_event_times(pd.Series(["2024-11-19T07:06:40Z"] * 3), None)
    assert values == [SECONDS] * 3 and errors == [None] * 3


@pytest.mark.parametrize("raw", [
    "2024-11-19 07:06:40 UTC", "2024-11-19 07:06:40.123456 UTC",  # BigQuery
    "2024-11-19 07:06:40.000 +0000", "2024-11-18 23:06:40.000 -0800",  # Snowflake TIMESTAMP_TZ
    "2024-11-19T07:06:40GMT", "Tue, 19 Nov 2024 07:06:40 -0000",  # RFC 5322: -0000 is a UTC time
])
def test_warehouse_timestamps_with_a_written_zone_are_read_in_that_zone(raw):
    assert n.normalize_event_times([raw], None) == ([SECONDS], [None])


def test_a_warehouse_timestamp_without_a_zone_stays_naive():
    assert n.normalize_event_times(["2024-11-19 07:06:40.000"], None) == ([None], ["naive_event_time"])


@pytest.mark.parametrize("raw", ["12/26/1997 12:00:00 AM", "12/26/1997 1:00 PM", "1997-12-26 10:00 pm"])
def test_a_birth_date_exported_with_a_twelve_hour_time_keeps_its_date(raw):
    assert n.normalize_column([raw], n.date_of_birth) == (["19971226"], [None])


def test_nanoseconds_never_round_an_event_up_to_the_next_second():
    moment = pd.Timestamp("2024-11-19 07:06:40.9999999", tz="UTC")
    assert n.normalize_event_times([moment, "2024-11-19T07:06:40.9999999Z"], None) == ([SECONDS] * 2, [None] * 2)


@pytest.mark.parametrize("cell", ["0000-00-00", "0000-00-00 00:00:00", "00/00/0000", "00000000", "1900-01-01",
                                  "0001-01-01", "01/01/1753", "17971226", "1899-12-30", dt.date(1900, 1, 1),
                                  "00000000.0", "1900年1月1日"])
def test_a_placeholder_birth_date_is_absent_and_counted_not_a_rejection(cell):
    # MySQL's zero date, Go's and .NET's zero time, SQL Server's and Excel's first days: no one's birthday
    notes: dict[str, int] = {}
    assert n.normalize_column([cell], n.date_of_birth, notes=notes) == ([None], [None])
    assert notes == {"placeholder_date_of_birth": 1}


def test_a_birth_date_120_years_ago_is_still_a_birth_date():
    year = dt.date.today().year - 120
    assert n.normalize_column([f"{year}-12-31"], n.date_of_birth) == ([f"{year}1231"], [None])


def test_a_row_whose_birth_date_is_a_placeholder_is_sent_without_it_and_the_report_says_so():
    from snap_capi_provider.core.events import EventOptions, build_events, resolve_mapping

    now = int(dt.datetime.now(dt.timezone.utc).timestamp()) - 60
    frame = pd.DataFrame({"event_id": ["a", "b"], "event_time": [now, now], "email": ["a@example.com"] * 2,
                          "date_of_birth": ["0000-00-00", "1997-12-26"]})
    result = build_events(frame, resolve_mapping(list(frame.columns), None), EventOptions(event_name="SIGN_UP"))
    assert result.rejected == [] and result.warnings == {"placeholder_date_of_birth": 1}
    assert result.events.plain["db"] == [None, "19971226"]


DEC_7 = int(dt.datetime(2026, 12, 7, 10, tzinfo=dt.timezone.utc).timestamp())  # 10:00 UTC
PARIS, NEW_YORK = DEC_7 - 3600, DEC_7 + 5 * 3600  # 10:00 there, in winter


@pytest.mark.parametrize(("raw", "expected"), [
    ("2026-12-07T10:00+01:00[Europe/Paris]", PARIS), ("2026-12-07T10:00:00Z[UTC]", DEC_7),  # Java's ZonedDateTime
    ("2026-12-07T10:00:00.123456789+01:00[Europe/Paris]", PARIS), ("2026-12-07T10:00-05:00[Europe/Paris]", NEW_YORK),
    ("2026-12-07T10:00:00[Europe/Paris]", PARIS), ("2026-12-07T10:00:00[!Europe/Paris]", PARIS),
    ("2026-12-07T10:00:00[America/New_York]", NEW_YORK), ("2026-12-07T10:00:00[UTC]", DEC_7),
    ("2026-07-07T10:00:00[Europe/Paris]", int(dt.datetime(2026, 7, 7, 8, tzinfo=dt.timezone.utc).timestamp())),
    ("2026-12-07 10:00:00 America/New_York", NEW_YORK), ("2026-12-07T10:00:00 Europe/Paris", PARIS),
    ("2026-12-07 10:00:00 Etc/GMT+5", NEW_YORK),  # IANA's POSIX sign: GMT+5 is UTC-5
    ("2026-12-07 10:00:00 UTC", DEC_7), ("2026-12-07 10:00:00 GMT", DEC_7), ("2026-12-07 10:00:00Z", DEC_7),
])
def test_event_time_in_a_written_zone_needs_no_timezone_option_and_wins_over_it(raw, expected):
    # an offset decides; without one, the local time in the written zone, as the timezone option would
    assert n.event_time(raw) == n.event_time(raw, "Asia/Tokyo") == expected


@pytest.mark.parametrize("raw", [
    "Mon Dec 07 10:00:00 UTC 2026", "Mon Dec 07 10:00:00 GMT 2026", "Mon Dec 07 10:00:00 Z 2026",
    "Dec 07 10:00:00 UTC 2026", "Mon Dec  7 10:00:00 UTC 2026",  # Unix date pads the day with a space
    "Mon Dec 07 11:00:00 +0100 2026", "Mon Dec 07 11:00:00 +01:00 2026", "Mon Dec 07 05:00:00 -05 2026",
    "Fri Dec 07 10:00:00 UTC 2026", "Fri, 07 Dec 2026 10:00:00 GMT",  # a wrong weekday is ignored, as email.utils does
])
def test_event_time_java_date_to_string_and_unix_date(raw):
    assert n.event_time(raw) == DEC_7


@pytest.mark.parametrize("raw", [
    "2026/12/07 10:00:00 +00:00", "2026/12/07 10:00:00Z", "2026/12/07T11:00:00+01:00", "2026/12/07 10:00:00 UTC",
    "2026/12/7 10:00:00Z", "2026/12/07 11:00:00 Europe/Paris",
])
def test_event_time_year_first_slashes_read_like_dashes(raw):
    assert n.event_time(raw) == DEC_7


@pytest.mark.parametrize("raw", ["2026/12/07 10:00:00", "2026/12/07T10:00:00", "2026/12/07 10:00"])
def test_event_time_year_first_slashes_without_an_offset_are_naive(raw):
    with pytest.raises(n.InvalidValue, match="naive_event_time"):
        n.event_time(raw)
    assert n.event_time(raw, "Europe/Paris") == PARIS


@pytest.mark.parametrize("raw", [
    "2026-12-07 10:00:00 EST", "2026-12-07 10:00:00 PST", "2026-12-07 10:00:00 CET", "2026-12-07 10:00:00 IST",
    "2026-12-07T10:00:00 CST", "2026-12-07T10:00:00[EST]", "2026-12-07T10:00:00[IST]",  # several zones each
    "2026-12-07T10:00:00[Mars/Olympus]", "2026-12-07 10:00:00 Mars/Olympus", "2026-12-07T10:00:00[u-ca=japanese]",
    "1796637600[Europe/Paris]", "1796637600 Europe/Paris", "Europe/Paris",
    "Mon Dec 07 10:00:00 EST 2026", "Mon Dec 07 10:00:00 PST 2026", "Mon Dec 07 10:00:00 CET 2026",
    "Mon Dec 07 10:00:00 IST 2026", "Xyz Dec 07 10:00:00 UTC 2026", "Mon Dec 32 10:00:00 UTC 2026",
    "Mon, 07 Dec 2026 10:00:00 CET",  # a zone email.utils does not know: not a naive time for the option to place
    "07/12/2026 10:00", "12/07/2026 10:00:00Z", "07/12/2026 10:00:00+01:00", "07/12/2026 10:00 Europe/Paris",
    "07.12.2026 10:00:00Z", "26/12/07 10:00:00Z",  # day or month first: the order would be a guess
])
def test_event_time_abbreviated_unknown_or_ambiguous_zones_and_orders_are_refused(raw):
    for timezone in (None, "UTC"):
        with pytest.raises(n.InvalidValue, match="invalid_event_time"):
            n.event_time(raw, timezone)


@pytest.mark.parametrize("cell", ["N/A", "NULL", " - ", "0", "none", "TBD"])
def test_an_exports_word_for_no_event_time_is_missing_in_the_rule_itself(cell):
    with pytest.raises(n.InvalidValue, match="missing_event_time"):
        n.event_time(cell, "UTC")
    assert n.normalize_event_times([cell]) == ([None], ["missing_event_time"])


@pytest.mark.parametrize(("value", "zone"), [
    ("2026-03-08 02:30:00", "America/New_York"),  # clocks go forward: this time never happens
    ("2026-11-01 01:30:00", "America/New_York"),  # clocks go back: it happens twice
    ("2026-10-25 02:30", "Europe/Paris"), (pd.Timestamp("2026-11-01 01:30"), "America/New_York"),
    (dt.datetime(2026, 3, 8, 2, 30), "America/New_York"), ("2026-11-01T01:30:00[America/New_York]", None),
])
def test_a_local_time_a_clock_change_makes_ambiguous_is_refused_never_guessed(value, zone):
    with pytest.raises(n.InvalidValue, match="ambiguous_local_event_time"):
        n.event_time(value, zone)


def test_the_same_local_times_with_their_offset_or_off_the_change_are_read():
    assert n.event_time("2026-11-01T01:30:00-04:00") == 1793511000
    assert n.event_time("2026-11-01T01:30:00-05:00") == 1793514600
    assert n.event_time("2026-11-01 02:30:00", "America/New_York") == 1793518200


@pytest.mark.parametrize("value", [1796637600999999999, "1796637600999999999", np.int64(1796637600999999999)])
def test_a_nanosecond_epoch_never_rounds_up_to_the_next_second(value):
    assert n.event_time(value) == 1796637600
