"""Bucketing helpers: UTC hours, report-time-zone local days and local clock hours.

Storage and partitions are UTC (docs/kpi-definitions.md, "Choices this project makes").
Hourly tables use UTC hour buckets ``[h, h + 1 h)``. Daily tables and the busy hour use a
declared *report time zone* (an IANA name such as ``"Europe/Copenhagen"``):

* a **local day** is ``[first instant of the local date, first instant of the next local date)``
  converted to UTC, so it lasts 23 h on the spring-forward date and 25 h on the fall-back date;
* a **local clock hour** starts at each hour boundary of the local wall clock. On a fall-back day
  the repeated hour (e.g. 02:00 in Copenhagen on 2026-10-25) is two separate buckets,
  distinguished by their UTC offset (``02:00+02:00`` and ``02:00+01:00``).

Everything here is pure: no I/O and no wall clock. The functions that return Python values only
work on their parameters (the window), never on data.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl

#: Longest call the transforms count. Every duration derived from ``end_time`` (channel
#: occupancy, so Erlangs, concurrency and holding time; conversation, so MOU and ACD) ends at
#: ``create_time + MAX_CALL_DURATION`` at the latest (:func:`.prepare.prepare_calls`), so a
#: landed ``end_time`` of 9999-12-31 counts 24 h. A bucket ``[b0, b1)`` therefore needs exactly
#: the calls with ``create_time < b1`` and capped end ``> b0``: ``create_time`` in
#: ``[b0 - MAX_CALL_DURATION, b1)``, which is what a recompute loads.
MAX_CALL_DURATION = timedelta(hours=24)

HOUR = timedelta(hours=1)
UTC_DT = pl.Datetime("us", "UTC")


def as_utc(ts: datetime) -> datetime:
    """Return ``ts`` as an aware UTC datetime (the same instant).

    Raises:
        ValueError: ``ts`` is naive (ambiguous).
    """
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {ts!r}: pass an aware (UTC) datetime")
    return ts.astimezone(UTC)


def check_hour_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """Validate an hourly window: aware, whole UTC hours, ``start < end``.

    Returns:
        ``(start, end)`` converted to UTC.

    Raises:
        ValueError: a naive datetime, an instant off a whole UTC hour, or an empty window.
    """
    start, end = as_utc(start), as_utc(end)
    for ts in (start, end):
        if ts.minute or ts.second or ts.microsecond:
            raise ValueError(f"{ts.isoformat()} is not on a whole UTC hour")
    if not start < end:
        raise ValueError(f"empty window [{start}, {end})")
    return start, end


def local_midnight_utc(day: date, report_tz: str) -> datetime:
    """First instant of local date ``day`` in ``report_tz``, as an aware UTC datetime.

    ``zoneinfo`` resolves a non-existent local midnight (zones that spring forward at 00:00)
    with the pre-transition offset, which lands on the first instant that exists that day.
    """
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(report_tz)).astimezone(UTC)


def local_day_bounds(start_date: date, end_date: date, report_tz: str) -> tuple[datetime, datetime]:
    """UTC instants ``[start, end)`` covering local dates ``[start_date, end_date)``.

    Raises:
        ValueError: ``start_date >= end_date``.
        zoneinfo.ZoneInfoNotFoundError: ``report_tz`` is not a known zone.
    """
    if not start_date < end_date:
        raise ValueError(f"empty date range [{start_date}, {end_date})")
    return local_midnight_utc(start_date, report_tz), local_midnight_utc(end_date, report_tz)


def hour_buckets(start: datetime, end: datetime) -> pl.DataFrame:
    """UTC hours in ``[start, end)`` (validated as :func:`check_hour_window` does).

    Returns:
        ``bucket_start``, ``bucket_end`` (Datetime UTC), ``bucket_seconds`` (Int64, 3600).
    """
    start, end = check_hour_window(start, end)
    n = int((end - start) / HOUR)
    starts = [start + i * HOUR for i in range(n)]
    return pl.DataFrame(
        {
            "bucket_start": starts,
            "bucket_end": [s + HOUR for s in starts],
            "bucket_seconds": [3600] * n,
        },
        schema={"bucket_start": UTC_DT, "bucket_end": UTC_DT, "bucket_seconds": pl.Int64},
    )


def local_day_buckets(start_date: date, end_date: date, report_tz: str) -> pl.DataFrame:
    """Local days ``[start_date, end_date)`` in ``report_tz``.

    Columns: ``report_date`` (Date, local), ``bucket_start``/``bucket_end`` (UTC instants of the
    local midnights), ``bucket_seconds`` (Int64, real length: 82 800 / 86 400 / 90 000).
    """
    local_day_bounds(start_date, end_date, report_tz)  # validates
    days = [start_date + timedelta(days=i) for i in range((end_date - start_date).days)]
    starts = [local_midnight_utc(d, report_tz) for d in days]
    ends = [local_midnight_utc(d + timedelta(days=1), report_tz) for d in days]
    return pl.DataFrame(
        {
            "report_date": days,
            "bucket_start": starts,
            "bucket_end": ends,
            "bucket_seconds": [
                int((e - s).total_seconds()) for s, e in zip(starts, ends, strict=True)
            ],
        },
        schema={
            "report_date": pl.Date,
            "bucket_start": UTC_DT,
            "bucket_end": UTC_DT,
            "bucket_seconds": pl.Int64,
        },
    )


def local_hour_buckets(start_date: date, end_date: date, report_tz: str) -> pl.DataFrame:
    """Local clock hours of local dates ``[start_date, end_date)`` in ``report_tz``.

    Starts at each local midnight (as a UTC instant) and steps one real hour, so a 25-hour day
    has 25 buckets (the repeated hour twice) and a 23-hour day has 23. Assumes the zone's UTC
    offset changes by whole hours (true for all current zones but Australia/Lord_Howe).
    Columns: ``report_date`` (Date), ``bucket_start``, ``bucket_end`` (UTC), ``bucket_seconds``.
    """
    lo, hi = local_day_bounds(start_date, end_date, report_tz)
    n = int((hi - lo) / HOUR)
    starts = [lo + i * HOUR for i in range(n)]
    tz = ZoneInfo(report_tz)
    return pl.DataFrame(
        {
            "report_date": [s.astimezone(tz).date() for s in starts],
            "bucket_start": starts,
            "bucket_end": [s + HOUR for s in starts],
            "bucket_seconds": [3600] * n,
        },
        schema={
            "report_date": pl.Date,
            "bucket_start": UTC_DT,
            "bucket_end": UTC_DT,
            "bucket_seconds": pl.Int64,
        },
    )


def utc_hour(col: str | pl.Expr) -> pl.Expr:
    """Start of the UTC hour containing the instant ``col`` (Datetime UTC)."""
    e = pl.col(col) if isinstance(col, str) else col
    return e.dt.truncate("1h")


def report_date(col: str | pl.Expr, report_tz: str) -> pl.Expr:
    """Local date in ``report_tz`` of the UTC instant ``col``."""
    e = pl.col(col) if isinstance(col, str) else col
    return e.dt.convert_time_zone(report_tz).dt.date()


def affected_hours(window_start: datetime, window_end: datetime) -> tuple[datetime, datetime]:
    """UTC hours whose rows change when the raw hours ``[window_start, window_end)`` change.

    Counts live in the window's own hours, occupancy (Erlangs, concurrency) of its calls can
    reach up to :data:`MAX_CALL_DURATION` later. The caller recomputes hourly buckets
    ``[window_start, window_end + MAX_CALL_DURATION)`` (and the local days overlapping that
    range), loading calls with ``create_time`` in
    ``[window_start - MAX_CALL_DURATION, window_end + MAX_CALL_DURATION)``.

    Raises:
        ValueError: as :func:`check_hour_window`.
    """
    start, end = check_hour_window(window_start, window_end)
    return start, end + MAX_CALL_DURATION


def input_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """``create_time`` range of the calls needed to build buckets covering ``[start, end)``."""
    start, end = as_utc(start), as_utc(end)
    return start - MAX_CALL_DURATION, end
