"""Window arithmetic: hourly split, lookback, bad bounds."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest

from pipeline.ingest.windows import closed_hours_with_lookback, floor_hour, hourly_windows

T = datetime(2026, 10, 25, 0, tzinfo=UTC)


def test_hourly_windows_are_contiguous_and_half_open():
    windows = hourly_windows(T, T + timedelta(hours=3))
    assert [w.start.hour for w in windows] == [0, 1, 2]
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))
    assert windows[-1].end == T + timedelta(hours=3)


def test_hourly_windows_accept_other_offsets_but_return_utc():
    cph = timezone(timedelta(hours=2))
    windows = hourly_windows(
        datetime(2026, 10, 25, 2, tzinfo=cph), datetime(2026, 10, 25, 4, tzinfo=cph)
    )
    assert windows[0].start == T
    assert windows[0].start.tzinfo is UTC


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (T + timedelta(minutes=30), T + timedelta(hours=2), "not on a whole UTC hour"),
        (T + timedelta(hours=2), T, "after"),
        (datetime(2026, 1, 1), T, "naive"),
    ],
)
def test_hourly_windows_reject_bad_bounds(start, end, message):
    with pytest.raises(ValueError, match=message):
        hourly_windows(start, end)


def test_closed_hours_with_lookback():
    now = datetime(2026, 11, 30, 10, 10, 5, tzinfo=UTC)
    start, end = closed_hours_with_lookback(now, 3)
    assert (start, end) == (
        datetime(2026, 11, 30, 6, tzinfo=UTC),
        datetime(2026, 11, 30, 10, tzinfo=UTC),
    )
    assert floor_hour(now) == end
