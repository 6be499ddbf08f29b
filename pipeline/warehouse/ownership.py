"""Which analytics buckets a refresh owns, and what it leaves marked for the others.

An analytics refresh runs for a range of UTC hours ``[start, end)`` (the hourly partitions of
one project). So that refreshes of different ranges, running at once on different workers,
never write the same rows, each bucket has exactly one owner hour:

* an hourly bucket ``H`` is owned by the hour ``H``;
* a local day ``D`` (report time zone) is owned by the UTC hour holding the day's last
  instant, :func:`day_owner`. A range owns the days ``[local date of start, local date of
  end)`` (:func:`owned_days`): a day is written once its last hour is, never half-built by
  the hour that opens it.

A bucket's rows depend on raw calls created up to ``MAX_CALL_DURATION`` (24 h) before it
(channel occupancy), i.e. the owner hour ``H`` reads raw hours back to ``H - 49 h`` at most
(a 25-hour day, plus 24 h of lookback): the analytics assets declare that dependency as a
partition mapping (:data:`OWNER_LOOKBACK_HOURS`).

When raw calls change in hours ``[a, b)`` (a re-ingest, or a call that moved to another
window, recorded in ``raw.stale_hours`` by the raw writers), the buckets that depend on them
are the hours from ``a`` to where the calls' occupancy ends and the days overlapping those
hours (:func:`dependent_owners`). A refresh rebuilds those it owns and marks the owner hours
of the rest in ``raw.stale_hours``; a follow-up refresh of those hours (the CLI after its
run, the ``stale_analytics`` sensor under Dagster) clears them. Owners of hours not ingested
yet are not marked: their own run will build them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from pipeline.transforms.calendar import HOUR, local_midnight_utc

#: How many hours before an owner hour its buckets may read raw calls from: a local day of up
#: to 25 hours ending in the owner hour, plus 24 hours of occupancy lookback.
OWNER_LOOKBACK_HOURS = 49


def floor_hour(instant: datetime) -> datetime:
    """The UTC hour holding ``instant`` (aware)."""
    return instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(instant: datetime) -> datetime:
    """The first whole UTC hour at or after ``instant`` (aware)."""
    floor = floor_hour(instant)
    return floor if floor == instant else floor + HOUR


def local_date(instant: datetime, report_tz: str) -> date:
    """The local date of the UTC instant ``instant`` in ``report_tz``."""
    return instant.astimezone(ZoneInfo(report_tz)).date()


def owned_days(start: datetime, end: datetime, report_tz: str) -> tuple[date, date] | None:
    """The local days owned by the hours ``[start, end)``: those whose last instant is in them.

    Args:
        start: first hour (aware).
        end: end of the hours (exclusive, aware).
        report_tz: IANA zone of the days.

    Returns:
        ``(first_date, end_date)`` (end exclusive), or None when the hours end no local day.
    """
    first, last = local_date(start, report_tz), local_date(end, report_tz)
    return (first, last) if first < last else None


def day_owner(day: date, report_tz: str) -> datetime:
    """The UTC hour owning local day ``day``: the hour holding the day's last microsecond."""
    end = local_midnight_utc(day + timedelta(days=1), report_tz)
    return floor_hour(end - timedelta(microseconds=1))


def dependent_owners(
    first: datetime, until: datetime, report_tz: str, ingested_end: datetime | None
) -> set[datetime]:
    """Owner hours of the buckets fed by calls created from ``first`` and occupying to ``until``.

    Every hour in ``[first, until)`` and the owner of every local day those hours overlap,
    excluding hours at or after ``ingested_end`` (not built yet).

    Args:
        first: the whole UTC hour the calls were created in (or the first of several).
        until: where their occupancy ends (at least ``first + 1 h`` is used).
        report_tz: IANA zone of the daily buckets.
        ingested_end: end of the last hour fetched for the project, or None (nothing marked).

    Returns:
        Whole UTC hours.
    """
    if ingested_end is None:
        return set()
    end = max(ceil_hour(until), first + HOUR)
    owners: set[datetime] = set()
    hour = first
    while hour < end:
        owners.add(hour)
        hour += HOUR
    day, last_day = local_date(first, report_tz), local_date(end - HOUR, report_tz)
    while day <= last_day:
        owners.add(day_owner(day, report_tz))
        day += timedelta(days=1)
    return {hour for hour in owners if hour < ingested_end}


def hour_runs(hours: Iterable[datetime]) -> list[tuple[datetime, datetime]]:
    """Consecutive runs ``[first, end)`` of the given whole UTC hours, in order."""
    runs: list[tuple[datetime, datetime]] = []
    for hour in sorted(set(hours)):
        if runs and runs[-1][1] == hour:
            runs[-1] = (runs[-1][0], hour + HOUR)
        else:
            runs.append((hour, hour + HOUR))
    return runs
