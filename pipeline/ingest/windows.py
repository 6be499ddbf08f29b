"""Window arithmetic for ingestion: hourly UTC windows, lookbacks. Pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.sinch.models import Window

HOUR = timedelta(hours=1)


def floor_hour(instant: datetime) -> datetime:
    """Truncate a timezone-aware instant to the start of its UTC hour.

    Raises:
        ValueError: ``instant`` is naive.
    """
    if instant.tzinfo is None:
        msg = f"naive datetime {instant.isoformat()}: pass a timezone-aware instant"
        raise ValueError(msg)
    return instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hourly_windows(start: datetime, end: datetime) -> list[Window]:
    """Split ``[start, end)`` into consecutive one-hour UTC windows.

    Both bounds must be timezone-aware and on whole UTC hours.

    Raises:
        ValueError: a bound is naive or not on an hour, or ``start > end``.
    """
    for name, bound in (("start", start), ("end", end)):
        if floor_hour(bound) != bound:
            msg = f"window {name} {bound.isoformat()} is not on a whole UTC hour"
            raise ValueError(msg)
    if start > end:
        msg = f"start {start.isoformat()} is after end {end.isoformat()}"
        raise ValueError(msg)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    count = int((end - start) / HOUR)
    return [Window(start + i * HOUR, start + (i + 1) * HOUR) for i in range(count)]


def closed_hours_with_lookback(now: datetime, lookback_hours: int) -> tuple[datetime, datetime]:
    """The range a scheduled run ingests: the last closed hour plus ``lookback_hours`` before it.

    Late data (calls that end, get priced or become visible after their hour closed) is picked
    up by re-ingesting the lookback; writes are idempotent, so the overlap costs only requests.

    Returns:
        ``(start, end)`` on whole UTC hours, ``end`` = the start of the current hour.
    """
    if lookback_hours < 0:
        msg = "lookback_hours must be >= 0"
        raise ValueError(msg)
    end = floor_hour(now)
    return end - (lookback_hours + 1) * HOUR, end
