"""Window helpers: which buckets a re-ingest touches and which calls a bucket needs."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from transforms_testkit import ts

from pipeline.transforms import MAX_CALL_DURATION, affected_hours, input_range
from pipeline.transforms.calendar import hour_buckets, local_midnight_utc


def test_lookback_constant_and_ranges():
    """Re-ingesting [10:00, 11:00) can change occupancy up to 24 h later: hours
    [10:00, next day 11:00). Building [10:00, 12:00) needs calls created from 10:00 − 24 h."""
    assert timedelta(hours=24) == MAX_CALL_DURATION
    assert affected_hours(ts("2026-01-01 10:00"), ts("2026-01-01 11:00")) == (
        ts("2026-01-01 10:00"),
        ts("2026-01-02 11:00"),
    )
    assert input_range(ts("2026-01-01 10:00"), ts("2026-01-01 12:00")) == (
        ts("2025-12-31 10:00"),
        ts("2026-01-01 12:00"),
    )


def test_hour_buckets_and_validation():
    b = hour_buckets(ts("2026-01-01 22:00"), ts("2026-01-02 01:00"))
    assert b["bucket_start"].to_list() == [
        ts("2026-01-01 22:00"),
        ts("2026-01-01 23:00"),
        ts("2026-01-02 00:00"),
    ]
    assert b["bucket_seconds"].to_list() == [3600] * 3
    with pytest.raises(ValueError, match="empty"):
        hour_buckets(ts("2026-01-01 10:00"), ts("2026-01-01 10:00"))


def test_local_midnight_in_utc():
    """Copenhagen midnight is 23:00Z in winter (UTC+1) and 22:00Z in summer (UTC+2)."""
    assert local_midnight_utc(date(2026, 1, 2), "Europe/Copenhagen") == ts("2026-01-01 23:00")
    assert local_midnight_utc(date(2026, 7, 2), "Europe/Copenhagen") == ts("2026-07-01 22:00")
