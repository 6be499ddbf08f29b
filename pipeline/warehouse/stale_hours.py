"""Mark hours in ``raw.stale_hours``: their analytics wait for a refresh (the DuckDB file).

Three writers mark hours, all with this one upsert (the lake's equivalent is
:func:`pipeline.warehouse.lake.merge_stale`):

- the raw/calls commit: the hours that calls moved out of, with the end of their occupancy
  (:class:`~pipeline.warehouse.raw_calls.RawCallsWriter`);
- the export commit: the window's hours, occupied until each hour's end (no export table
  reads occupancy; :class:`~pipeline.warehouse.raw_call_details.DetailsWriter`);
- the analytics refresh: owner hours of other days it could not rebuild itself
  (:class:`~pipeline.warehouse.analytics.DuckDBSink`), with no occupancy (NULL).

A mark already there keeps the later ``occupied_until`` (``greatest`` skips NULL) and takes the
new ``marked_at``, so a refresh that read the older mark does not delete the newer one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import duckdb

from pipeline.sinch.models import Window

#: Parameters per row: ``project_id, hour_start, occupied_until (or NULL), marked_at``.
MARK_STALE_HOURS = (
    "INSERT INTO raw.stale_hours (project_id, hour_start, occupied_until, marked_at) "
    "VALUES (?, ?, ?, ?) ON CONFLICT (project_id, hour_start) DO UPDATE SET "
    "occupied_until = greatest(occupied_until, excluded.occupied_until), "
    "marked_at = excluded.marked_at"
)

_HOUR = timedelta(hours=1)


def mark_stale_hours(
    con: duckdb.DuckDBPyConnection,
    project_id: str,
    hours: Mapping[datetime, datetime | None],
    marked_at: datetime,
) -> None:
    """Mark ``hours`` (UTC hour start → end of occupancy, or None) of ``project_id``.

    Runs in the caller's transaction; nothing when ``hours`` is empty.
    """
    if hours:
        con.executemany(
            MARK_STALE_HOURS,
            [(project_id, hour, until, marked_at) for hour, until in hours.items()],
        )


def window_hours(window: Window) -> dict[datetime, datetime | None]:
    """Each UTC hour of ``window`` → that hour's end (an export commit's marks)."""
    hours: dict[datetime, datetime | None] = {}
    hour = window.start
    while hour < window.end:
        hours[hour] = hour + _HOUR
        hour += _HOUR
    return hours
