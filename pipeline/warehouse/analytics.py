"""Refresh the ``analytics.*`` tables for re-ingested raw hours: read, transform, replace.

For each table of :data:`pipeline.transforms.ANALYTICS_TABLES` and a raw range ``[ws, we)``
that was just (re-)ingested:

1. **Buckets touched.** Counts, minutes and cost sit in the bucket of ``create_time``, so those
   tables refresh the hours ``[ws, we)``. Occupancy tables (Erlangs, concurrency, busy hour)
   also change in later hours that the range's calls reach: up to the end of the longest call
   created in the range, at most ``MAX_CALL_DURATION`` (24 h) past ``we``, and never past the
   last hour ingested. Daily tables refresh every local date (report time zone) overlapping
   those hours.
2. **Input.** Calls created in the bucket range, plus ``MAX_CALL_DURATION`` before it for the
   occupancy tables (calls still up when a bucket starts), are read from ``raw.calls`` into
   Polars with bound parameters.
3. **Replace.** In one transaction: delete the bucket range, insert the new rows by name.

**Projects.** Everything here is per project: a refresh reads the calls and trunks of one
``project_id``, writes rows carrying it, and replaces only that project's buckets, so two
projects' refreshes never touch the same rows.

Daily tables depend on the report time zone. It is recorded in ``analytics.report_settings``;
when it changes, the daily tables are rebuilt over all of ``raw.calls``.

**Stale hours.** A call that a later fetch lists in another window moves there
(:mod:`pipeline.warehouse.raw_calls`); the commit records the hour it left in
``raw.stale_hours``, with the end of its occupancy. :func:`refresh_all` refreshes those hours
too, like re-ingested ones (their local days, and every later hour the moved calls occupied,
even when no call left in the hour reaches that far), then deletes them, whatever range it
was asked for.

Every occupancy bound here caps a call's ``end_time`` at ``create_time + MAX_CALL_DURATION``
(as the transforms do), so an absurd ``end_time`` (year 9999) cannot push a bucket range, or a
Python ``datetime``, out of range.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

import duckdb
import polars as pl

from pipeline.transforms import ANALYTICS_TABLES, MAX_CALL_DURATION, CallData, TableSpec
from pipeline.transforms.prepare import INPUT_COLUMNS

log = logging.getLogger("pipeline.warehouse")

HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class TableRefresh:
    """What one refresh replaced: the table, its bucket range and how many rows it wrote."""

    table: str
    first_bucket: datetime | date
    end_bucket: datetime | date
    rows: int


def _ceil_hour(instant: datetime) -> datetime:
    floor = instant.replace(minute=0, second=0, microsecond=0)
    return floor if floor == instant else floor + HOUR


def _read_calls(
    con: duckdb.DuckDBPyConnection, project_id: str, start: datetime, end: datetime
) -> pl.LazyFrame:
    columns = ", ".join(INPUT_COLUMNS)  # not `raw`: the JSON stays in DuckDB
    frame: pl.DataFrame = con.sql(
        f"SELECT {columns} FROM raw.calls WHERE project_id = $project "
        "AND create_time >= $start AND create_time < $end",
        params={"project": project_id, "start": start, "end": end},
    ).pl()
    return frame.lazy()


def _read_trunks(con: duckdb.DuckDBPyConnection, project_id: str) -> pl.LazyFrame:
    frame: pl.DataFrame = con.sql(
        "SELECT trunk_id, calls_per_second FROM raw.trunks WHERE project_id = $project",
        params={"project": project_id},
    ).pl()
    return frame.lazy()


def occupancy_end(
    con: duckdb.DuckDBPyConnection,
    start: datetime,
    end: datetime,
    reach: datetime | None = None,
    *,
    project_id: str,
) -> datetime:
    """End of the hours whose occupancy the calls created in ``[start, end)`` reach.

    Each call occupies ``[create_time, min(end_time, create_time + MAX_CALL_DURATION))``.

    Args:
        con: a connection to the warehouse.
        start: first hour (UTC).
        end: end of the hours (exclusive, UTC).
        reach: occupancy known to extend at least this far (calls that moved out of the hours
            since their rows were built), or None.
        project_id: the project whose calls count.

    Returns:
        A whole UTC hour: ``end`` at least; at most ``end + MAX_CALL_DURATION`` and, for the
        calls in the table, the end of the last ingested hour.
    """
    last_end, ingested_end = con.execute(
        "SELECT (SELECT max(CASE WHEN end_time > create_time + $cap THEN create_time + $cap "
        "ELSE end_time END) FROM raw.calls "
        "WHERE project_id = $project AND create_time >= $start AND create_time < $end), "
        "(SELECT max(window_end) FROM raw.calls WHERE project_id = $project)",
        {"cap": MAX_CALL_DURATION, "start": start, "end": end, "project": project_id},
    ).fetchall()[0]
    hours_end = end
    if last_end is not None and ingested_end is not None:
        reach_in_table = min(_ceil_hour(last_end.astimezone(UTC)), ingested_end)
        hours_end = max(hours_end, min(reach_in_table, end + MAX_CALL_DURATION))
    if reach is not None:
        hours_end = max(hours_end, min(_ceil_hour(reach.astimezone(UTC)), end + MAX_CALL_DURATION))
    return hours_end


class AnalyticsSink(Protocol):
    """Where a refresh of one project writes: the DuckDB file (:class:`DuckDBSink`) or the lake.

    Every method touches the rows of the sink's project only.
    """

    def replace(self, spec: TableSpec, frame: pl.DataFrame, first: date, end: date) -> None:
        """Replace the buckets ``[first, end)`` of ``spec``'s table with ``frame``'s rows."""

    def clear(self, spec: TableSpec) -> None:
        """Delete every row of ``spec``'s table."""

    def set_report_tz(self, report_tz: str) -> None:
        """Record the zone the daily tables are built in (``analytics.report_settings``)."""

    def drop_stale(self, rows: list[tuple[datetime, datetime]]) -> None:
        """Delete the ``raw.stale_hours`` rows ``(hour_start, marked_at)`` just refreshed."""


class DuckDBSink:
    """:class:`AnalyticsSink` on a DuckDB write connection (each replace one transaction).

    Args:
        con: a write connection.
        project_id: the project whose rows it replaces.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, project_id: str) -> None:
        self._con = con
        self._project_id = project_id

    def replace(self, spec: TableSpec, frame: pl.DataFrame, first: date, end: date) -> None:
        """Delete the bucket range and insert ``frame`` by name, in one transaction."""
        _replace(self._con, spec, frame, first, end, self._project_id)

    def clear(self, spec: TableSpec) -> None:
        """Delete every row of the project in the table."""
        self._con.execute(
            f"DELETE FROM {spec.qualified_name} WHERE project_id = ?", [self._project_id]
        )

    def set_report_tz(self, report_tz: str) -> None:
        """Replace the project's row of ``analytics.report_settings``."""
        project = [self._project_id]
        self._con.execute("DELETE FROM analytics.report_settings WHERE project_id = ?", project)
        self._con.execute(
            "INSERT INTO analytics.report_settings (report_tz, project_id) VALUES (?, ?)",
            [report_tz, *project],
        )

    def drop_stale(self, rows: list[tuple[datetime, datetime]]) -> None:
        """Delete the refreshed ``raw.stale_hours`` rows (a newer mark of an hour stays)."""
        if rows:
            self._con.executemany(
                "DELETE FROM raw.stale_hours WHERE project_id = ? AND hour_start = ? "
                "AND marked_at = ?",
                [(self._project_id, hour, marked_at) for hour, marked_at in rows],
            )


def _replace(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    frame: pl.DataFrame,
    first: date,
    end: date,
    project_id: str,
) -> None:
    table = spec.qualified_name  # identifiers come from the registry, values are bound
    column = spec.bucket_column
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            f"DELETE FROM {table} WHERE project_id = ? AND {column} >= ? AND {column} < ?",
            [project_id, first, end],
        )
        if frame.height:
            con.register("refreshed_rows", frame)
            try:
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM refreshed_rows")
            finally:
                con.unregister("refreshed_rows")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def refresh_table(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    start: datetime,
    end: datetime,
    report_tz: str,
    *,
    project_id: str,
    reach: datetime | None = None,
    sink: AnalyticsSink | None = None,
) -> TableRefresh:
    """Rebuild the buckets of ``spec`` that the raw hours ``[start, end)`` touch.

    Args:
        con: a write connection.
        spec: the table (from :data:`ANALYTICS_TABLES`).
        start: first re-ingested hour (UTC, whole hour).
        end: end of the re-ingested hours (exclusive).
        report_tz: IANA zone of daily buckets.
        project_id: the project whose calls are read and whose rows are replaced.
        reach: for occupancy tables, refresh hours up to at least this instant (rounded up to
            the hour, at most ``end + MAX_CALL_DURATION``): where calls that left the hours
            still count. None: only as far as the calls now in the hours reach.
        sink: where the rows go; None: ``con`` itself (:class:`DuckDBSink`).

    Returns:
        The bucket range replaced and the rows written (each with ``project_id``).
    """
    hours_end = (
        occupancy_end(con, start, end, reach, project_id=project_id) if spec.needs_lookback else end
    )
    lookback = MAX_CALL_DURATION if spec.needs_lookback else timedelta(0)
    buckets = spec.buckets(start, hours_end, report_tz)
    lo, hi = buckets.bounds
    calls = _read_calls(con, project_id, lo - lookback, hi)
    data = CallData(calls, _read_trunks(con, project_id))
    frame = spec.builder(data, buckets).collect()
    frame = frame.with_columns(pl.lit(project_id, pl.String).alias("project_id"))
    first, last = buckets.key_range
    (sink or DuckDBSink(con, project_id)).replace(spec, frame, first, last)
    return TableRefresh(spec.name, first, last, frame.height)


def refresh_all(
    con: duckdb.DuckDBPyConnection,
    start: datetime,
    end: datetime,
    report_tz: str,
    project_id: str,
    sink: AnalyticsSink | None = None,
) -> list[TableRefresh]:
    """Refresh a project's analytics tables for the raw hours ``[start, end)`` and stale hours.

    Args:
        con: a write connection.
        start: first re-ingested hour (UTC, whole hour).
        end: end of the re-ingested hours (exclusive, whole hour).
        report_tz: IANA zone of the daily tables.
        project_id: the project refreshed (its rows only are read and replaced).
        sink: where the rows go; None: ``con`` itself, a write connection. Over the Delta lake,
            ``con`` reads the lake's tables and the sink writes them.

    If ``report_tz`` differs from the zone the daily tables were built in, the daily tables are
    first rebuilt over the whole of ``raw.calls`` in the new zone. Then the hours of
    ``raw.stale_hours`` (calls moved out of them, wherever they are) are refreshed as well, and
    deleted from it once every table is done (a crash leaves them for the next refresh).

    Returns:
        One :class:`TableRefresh` per table and range refreshed.

    Raises:
        ValueError: ``start``/``end`` are not whole UTC hours or ``start >= end``.
        duckdb.Error: a write failed (that table's refresh is rolled back).
    """
    sink = sink or DuckDBSink(con, project_id)
    done: list[TableRefresh] = []
    project = [project_id]
    previous = con.execute(
        "SELECT report_tz FROM analytics.report_settings WHERE project_id = ?", project
    ).fetchall()
    if previous and previous[0][0] != report_tz:
        bounds = con.execute(
            "SELECT min(window_start), max(window_end) FROM raw.calls WHERE project_id = ?",
            project,
        ).fetchall()
        first, last = bounds[0]
        log.warning(
            "report time zone changed from %s to %s: rebuilding the daily tables",
            previous[0][0],
            report_tz,
        )
        for spec in ANALYTICS_TABLES.values():
            if spec.grain == "day":
                sink.clear(spec)
                if first is not None:
                    done.append(
                        refresh_table(
                            con, spec, first, last, report_tz, project_id=project_id, sink=sink
                        )
                    )
    sink.set_report_tz(report_tz)
    stale = con.execute(
        "SELECT hour_start, occupied_until, marked_at FROM raw.stale_hours "
        "WHERE project_id = ? ORDER BY hour_start",
        project,
    ).fetchall()
    reach, others = _stale_ranges(stale, start, end)
    for first, last, until in [(start, end, reach), *others]:
        if first != start:
            log.info("refreshing hours [%s, %s) that calls moved out of", first, last)
        done.extend(
            refresh_table(
                con, spec, first, last, report_tz, project_id=project_id, reach=until, sink=sink
            )
            for spec in ANALYTICS_TABLES.values()
        )
    sink.drop_stale([(hour, marked_at) for hour, _until, marked_at in stale])
    return done


def _stale_ranges(
    stale: list[tuple[datetime, datetime | None, datetime]], start: datetime, end: datetime
) -> tuple[datetime | None, list[tuple[datetime, datetime, datetime | None]]]:
    """Split stale ``(hour, occupied_until, marked_at)`` rows (sorted by hour).

    Returns:
        The reach they add to the span ``[start, end)`` (hours inside it), and the runs of
        consecutive hours outside it, ``(first, end, occupied_until)`` each.
    """
    inside: datetime | None = None
    runs: list[tuple[datetime, datetime, datetime | None]] = []
    for hour, until, _marked_at in stale:
        hour = hour.astimezone(UTC)
        if start <= hour < end:
            inside = _latest(inside, until)
        elif runs and runs[-1][1] == hour:
            first, _end, reach = runs[-1]
            runs[-1] = (first, hour + HOUR, _latest(reach, until))
        else:
            runs.append((hour, hour + HOUR, until))
    return inside, runs


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)
