"""Bucket specs: the time buckets a table is built for, and how an instant maps to one.

Every builder takes its buckets as one value instead of an hourly and a daily parameter set:

* :class:`UtcHours` — UTC hours ``[h, h + 1 h)`` between two whole UTC hours; key column
  ``hour_start`` (Datetime UTC); the clock is UTC.
* :class:`LocalDays` — local dates of a report time zone (IANA name); key column
  ``report_date`` (Date); a bucket is ``[first instant of the date, first instant of the next)``
  in UTC, so 23 h or 25 h long on DST change dates (:mod:`.calendar`).

Both satisfy the :class:`Buckets` protocol: the UTC bounds of the whole range, the key column
and its expression for an instant, the bucket table (key, UTC start and end, length in seconds)
and the clock hours inside the buckets (for the busy hour). :func:`covering` picks the buckets
of a grain that cover a range of UTC instants (the refresh).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import ClassVar, Literal, Protocol
from zoneinfo import ZoneInfo

import polars as pl

from pipeline.transforms.calendar import (
    as_utc,
    check_hour_window,
    hour_buckets,
    local_day_bounds,
    local_day_buckets,
    local_hour_buckets,
    report_date,
    utc_hour,
)

#: ``"hour"``: :class:`UtcHours`; ``"day"``: :class:`LocalDays` of the report time zone.
Grain = Literal["hour", "day"]


class Buckets(Protocol):
    """Contiguous time buckets covering one range, with the key column that names them."""

    @property
    def key(self) -> str:
        """Name of the key column (``hour_start`` or ``report_date``)."""
        ...

    @property
    def zone(self) -> str:
        """IANA zone of the buckets' clock (``"UTC"`` for UTC hours)."""
        ...

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """UTC instants ``[start of the first bucket, end of the last)``."""
        ...

    @property
    def key_range(self) -> tuple[date, date]:
        """Key values ``[first, end)`` (end exclusive): the range a refresh deletes."""
        ...

    def key_of(self, instant: str) -> pl.Expr:
        """Key of the bucket holding the instant in column ``instant``, aliased :attr:`key`."""
        ...

    def frame(self) -> pl.DataFrame:
        """One row per bucket: key, ``bucket_start``/``bucket_end`` (UTC), ``bucket_seconds``."""
        ...

    def clock_hours(self) -> pl.DataFrame:
        """One row per clock hour of :attr:`zone` in the buckets, same columns as :meth:`frame`.

        The key column holds the key of the bucket the hour belongs to.
        """
        ...


@dataclass(frozen=True)
class UtcHours:
    """UTC hour buckets ``[start, end)``.

    Attributes:
        start: first hour, aware, on a whole UTC hour (stored converted to UTC).
        end: end of the last hour (exclusive), likewise.

    Raises:
        ValueError: a naive datetime, an instant off a whole UTC hour, or ``start >= end``.
    """

    start: datetime
    end: datetime

    key: ClassVar[str] = "hour_start"
    zone: ClassVar[str] = "UTC"

    def __post_init__(self) -> None:
        """Validate the window and store it in UTC."""
        start, end = check_hour_window(self.start, self.end)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """``(start, end)``, UTC."""
        return self.start, self.end

    @property
    def key_range(self) -> tuple[date, date]:
        """``(start, end)``: the ``hour_start`` values are the bucket starts."""
        return self.start, self.end

    def key_of(self, instant: str) -> pl.Expr:
        """``hour_start``: start of the UTC hour holding ``instant`` (Datetime UTC)."""
        return utc_hour(instant).alias(self.key)

    def frame(self) -> pl.DataFrame:
        """One row per hour.

        Returns:
            ``hour_start``, ``bucket_start``, ``bucket_end`` (Datetime UTC), ``bucket_seconds``
            (Int64, 3600).
        """
        hours = hour_buckets(self.start, self.end)
        return hours.select(pl.col("bucket_start").alias(self.key), pl.all())

    def clock_hours(self) -> pl.DataFrame:
        """The hours themselves: each UTC hour is its own clock hour."""
        return self.frame()


@dataclass(frozen=True)
class LocalDays:
    """Local-date buckets ``[start_date, end_date)`` of the report time zone ``report_tz``.

    Attributes:
        start_date: first local date.
        end_date: end local date (exclusive).
        report_tz: IANA zone name, e.g. ``"Europe/Copenhagen"``.

    Raises:
        ValueError: ``start_date >= end_date``.
        zoneinfo.ZoneInfoNotFoundError: ``report_tz`` is not a known zone.
    """

    start_date: date
    end_date: date
    report_tz: str

    key: ClassVar[str] = "report_date"

    def __post_init__(self) -> None:
        """Validate the date range and the zone."""
        local_day_bounds(self.start_date, self.end_date, self.report_tz)

    @property
    def zone(self) -> str:
        """The report time zone."""
        return self.report_tz

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """UTC instants of the first local midnight and of the end date's local midnight."""
        return local_day_bounds(self.start_date, self.end_date, self.report_tz)

    @property
    def key_range(self) -> tuple[date, date]:
        """``(start_date, end_date)``."""
        return self.start_date, self.end_date

    def key_of(self, instant: str) -> pl.Expr:
        """``report_date``: local date (Date) in ``report_tz`` of the UTC instant ``instant``."""
        return report_date(instant, self.report_tz).alias(self.key)

    def frame(self) -> pl.DataFrame:
        """One row per local date.

        Returns:
            ``report_date`` (Date), ``bucket_start``/``bucket_end`` (Datetime UTC, the local
            midnights), ``bucket_seconds`` (Int64: 82 800, 86 400 or 90 000).
        """
        return local_day_buckets(self.start_date, self.end_date, self.report_tz)

    def clock_hours(self) -> pl.DataFrame:
        """Local clock hours of the dates (23, 24 or 25 a day), keyed by their ``report_date``."""
        return local_hour_buckets(self.start_date, self.end_date, self.report_tz)


def covering(grain: Grain, start: datetime, end: datetime, report_tz: str) -> UtcHours | LocalDays:
    """Buckets of ``grain`` covering the UTC instants ``[start, end)``.

    Args:
        grain: ``"hour"`` or ``"day"``.
        start: first instant, aware; a whole UTC hour for ``"hour"``.
        end: end instant (exclusive), aware; a whole UTC hour for ``"hour"``.
        report_tz: IANA zone of the local days (only read for ``"day"``).

    Returns:
        ``UtcHours(start, end)``, or the :class:`LocalDays` from the local date of ``start`` to
        the day after the local date of the last microsecond before ``end``.

    Raises:
        ValueError: as :class:`UtcHours` and :class:`LocalDays` do.
    """
    if grain == "hour":
        return UtcHours(start, end)
    tz = ZoneInfo(report_tz)
    first = as_utc(start).astimezone(tz).date()
    last = (as_utc(end) - timedelta(microseconds=1)).astimezone(tz).date() + timedelta(days=1)
    return LocalDays(first, last, report_tz)
