"""Bucket specs (UTC hours, local days), the buckets a refresh covers, and the one-builder shape."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from transforms_testkit import make_calls, ts

from pipeline.transforms import (
    ANALYTICS_TABLES,
    CallData,
    LocalDays,
    UtcHours,
    busy_hour,
    covering,
    trunk_usage,
)

TZ = "Europe/Copenhagen"


def test_utc_hours_key_bounds_and_frame():
    """[22:00, 01:00) → 3 buckets keyed hour_start; an instant maps to its hour's start."""
    hours = UtcHours(ts("2026-01-01 22:00"), ts("2026-01-02 01:00"))
    assert (hours.key, hours.zone) == ("hour_start", "UTC")
    assert hours.bounds == hours.key_range == (ts("2026-01-01 22:00"), ts("2026-01-02 01:00"))
    frame = hours.frame()
    assert frame.columns == ["hour_start", "bucket_start", "bucket_end", "bucket_seconds"]
    assert frame["hour_start"].to_list() == frame["bucket_start"].to_list()
    assert frame["bucket_seconds"].to_list() == [3600] * 3
    assert hours.clock_hours().equals(frame)
    got = pl.DataFrame({"t": [ts("2026-01-01 22:59:59")]}).select(hours.key_of("t"))
    assert got.rows() == [(ts("2026-01-01 22:00"),)]


def test_local_days_key_bounds_and_frame():
    """Local 2026-10-25 in Copenhagen is [10-24 22:00Z, 10-25 23:00Z), 25 clock hours; 23:30Z
    on 10-25 is already local 10-26."""
    days = LocalDays(date(2026, 10, 25), date(2026, 10, 26), TZ)
    assert (days.key, days.zone) == ("report_date", TZ)
    assert days.bounds == (ts("2026-10-24 22:00"), ts("2026-10-25 23:00"))
    assert days.key_range == (date(2026, 10, 25), date(2026, 10, 26))
    assert days.frame()["bucket_seconds"].to_list() == [90_000]
    assert days.clock_hours().height == 25
    got = pl.DataFrame({"t": [ts("2026-10-25 22:59"), ts("2026-10-25 23:30")]})
    assert got.select(days.key_of("t"))["report_date"].to_list() == [
        date(2026, 10, 25),
        date(2026, 10, 26),
    ]


def test_bucket_specs_validate_when_built():
    with pytest.raises(ValueError, match="whole UTC hour"):
        UtcHours(ts("2026-01-01 10:30"), ts("2026-01-01 12:00"))
    with pytest.raises(ValueError, match="empty"):
        UtcHours(ts("2026-01-01 10:00"), ts("2026-01-01 10:00"))
    with pytest.raises(ValueError, match="empty date range"):
        LocalDays(date(2026, 1, 2), date(2026, 1, 2), TZ)


def test_covering_hours_and_local_days():
    """Hours are the range itself. Days: from the local date of the start to the day after the
    local date of the last instant before the end: [10-24 22:00Z, 10-25 23:00Z) is exactly
    local 10-25; one hour more reaches into 10-26."""
    assert covering("hour", ts("2026-10-24 22:00"), ts("2026-10-25 23:00"), TZ) == UtcHours(
        ts("2026-10-24 22:00"), ts("2026-10-25 23:00")
    )
    day = covering("day", ts("2026-10-24 22:00"), ts("2026-10-25 23:00"), TZ)
    assert day == LocalDays(date(2026, 10, 25), date(2026, 10, 26), TZ)
    longer = covering("day", ts("2026-10-24 22:00"), ts("2026-10-26 00:00"), TZ)
    assert longer.key_range == (date(2026, 10, 25), date(2026, 10, 27))
    assert covering("day", ts("2026-10-24 22:00"), ts("2026-10-25 23:00"), "UTC").key_range == (
        date(2026, 10, 24),
        date(2026, 10, 26),
    )


def test_one_builder_per_kpi_whatever_the_grain():
    """The hourly and daily table of a KPI share one builder; the spec picks the buckets."""
    tables = ANALYTICS_TABLES
    for kpi in ("answer_rate", "cost", "trunk_usage"):
        assert tables[f"{kpi}_hourly"].builder is tables[f"{kpi}_daily"].builder
    for spec in tables.values():
        b = spec.buckets(ts("2026-10-24 22:00"), ts("2026-10-25 23:00"), TZ)
        assert b.key == spec.bucket_column == spec.keys[0]


def test_busy_hour_of_utc_hours_is_each_hour():
    """With UTC-hour buckets every hour is its own clock hour: a call [10:15, 11:30) gives a
    busy hour per hour, keyed hour_start, with the same holding as trunk usage."""
    calls = CallData(
        make_calls([{"create_time": "2026-01-01 10:15", "end_time": "2026-01-01 11:30"}])
    )
    hours = UtcHours(ts("2026-01-01 10:00"), ts("2026-01-01 12:00"))
    bh = busy_hour(calls, hours).collect()
    assert bh.select("hour_start", "busy_hour_start", "busy_hour_local", "bhca").rows() == [
        (ts("2026-01-01 10:00"), ts("2026-01-01 10:00"), "2026-01-01T10:00:00+00:00", 1),
        (ts("2026-01-01 11:00"), ts("2026-01-01 11:00"), "2026-01-01T11:00:00+00:00", 0),
    ]
    usage = trunk_usage(calls, hours).collect()
    assert bh["busy_hour_holding_seconds"].to_list() == usage["trunk_holding_seconds"].to_list()


def test_as_of_must_be_aware():
    data = CallData(make_calls([{"create_time": "2026-01-01 10:00"}]), as_of=ts("2026-01-01 11:00"))
    naive = CallData(data.calls, as_of=ts("2026-01-01 11:00").replace(tzinfo=None))
    hours = UtcHours(ts("2026-01-01 10:00"), ts("2026-01-01 11:00"))
    assert trunk_usage(data, hours).collect()["holding_seconds"].to_list() == [3600.0]
    with pytest.raises(ValueError, match="naive"):
        trunk_usage(naive, hours)
