"""Refresh the ``analytics.*`` tables for a project's hours: read, transform, replace.

For each table of :data:`pipeline.transforms.ANALYTICS_TABLES` and a range of UTC hours
``[start, end)``:

1. **Buckets owned.** The hourly buckets ``[start, end)`` and the local days (report time
   zone) whose last hour lies in the range (:mod:`pipeline.warehouse.ownership`): every bucket
   has one owner hour, so refreshes of different ranges never write the same rows and may run
   at once. A local day appears once its last hour is refreshed.
2. **Input, chunk by chunk.** The buckets are cut into chunks of whole buckets
   (:func:`pipeline.warehouse.chunks.bucket_chunks`, ``CHUNK_DAYS`` days each) and built one
   chunk at a time, so memory follows the chunk, not the range (a backfill, the time-zone
   rebuild over all history). For a chunk, calls created in its buckets, plus
   ``MAX_CALL_DURATION`` (24 h) before them for the occupancy tables (Erlangs, concurrency,
   busy hour: calls still up when a bucket starts), are read from ``raw.calls`` into Polars
   with bound parameters (a ``create_time`` range: DuckDB's zonemaps, or the lake's Arrow
   dataset filter); never calls created at or after ``end``. The chunks' rows are
   concatenated (they are aggregates: small) and written in one replace. The tables from the
   export also read the ``raw.call_details`` rows of those calls (joined on
   ``(project_id, call_id)``); a call without one is unknown there. Details that land after
   the calls' hours were refreshed need a refresh of those hours (``raw_changed=False``).
3. **Replace.** In one transaction: delete the bucket range, insert the new rows by name.
4. **Marks.** Calls of re-ingested hours also occupy later hours (up to 24 h), and days
   overlap hours owned by others. Those buckets' owner hours, when already ingested, are
   marked in ``raw.stale_hours``; the range's own marks are deleted. A follow-up refresh of
   the marked hours (``pipeline ingest`` after its run; the ``stale_analytics`` sensor under
   Dagster) clears them: :func:`pending_hours` lists them.

**Projects.** Everything here is per project: a refresh reads the calls and trunks of one
``project_id``, writes rows carrying it, and replaces only that project's buckets, so two
projects' refreshes never touch the same rows.

Daily tables depend on the report time zone. It is recorded in ``analytics.report_settings``;
when it changes, the daily tables are rebuilt over all of ``raw.calls``.

**Moved calls.** A call that a later fetch lists in another window moves there
(:mod:`pipeline.warehouse.raw_calls`); the commit records the hour it left in
``raw.stale_hours``, with the end of its occupancy. A refresh treats it like a re-ingested
hour: the owners of the buckets the moved calls fed are marked, and the hour's own mark goes
when its owner refreshes it.

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
from pipeline.transforms.buckets import LocalDays, UtcHours
from pipeline.transforms.prepare import DETAIL_COLUMNS, INPUT_COLUMNS
from pipeline.warehouse.chunks import bucket_chunks
from pipeline.warehouse.ownership import ceil_hour, dependent_owners, owned_days
from pipeline.warehouse.stale_hours import mark_stale_hours

log = logging.getLogger("pipeline.warehouse")


@dataclass(frozen=True, slots=True)
class TableRefresh:
    """What one refresh replaced: the table, its bucket range and how many rows it wrote."""

    table: str
    first_bucket: datetime | date
    end_bucket: datetime | date
    rows: int


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


def _read_details(
    con: duckdb.DuckDBPyConnection, project_id: str, start: datetime, end: datetime
) -> pl.LazyFrame:
    """The ``raw.call_details`` rows of the project's calls created in ``[start, end)``."""
    columns = ", ".join(f"d.{c}" for c in DETAIL_COLUMNS)
    frame: pl.DataFrame = con.sql(
        f"SELECT {columns} FROM raw.call_details AS d JOIN raw.calls AS c "
        "ON c.project_id = d.project_id AND c.call_id = d.call_id "
        "WHERE c.project_id = $project AND c.create_time >= $start AND c.create_time < $end",
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
    con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, *, project_id: str
) -> datetime:
    """End of the hours whose occupancy the calls created in ``[start, end)`` reach.

    Each call occupies ``[create_time, min(end_time, create_time + MAX_CALL_DURATION))``.

    Args:
        con: a connection to the warehouse.
        start: first hour (UTC).
        end: end of the hours (exclusive, UTC).
        project_id: the project whose calls count.

    Returns:
        A whole UTC hour from ``end`` to ``end + MAX_CALL_DURATION``.
    """
    (last_end,) = con.execute(
        "SELECT max(CASE WHEN end_time > create_time + $cap THEN create_time + $cap "
        "ELSE end_time END) FROM raw.calls "
        "WHERE project_id = $project AND create_time >= $start AND create_time < $end",
        {"cap": MAX_CALL_DURATION, "start": start, "end": end, "project": project_id},
    ).fetchall()[0]
    if last_end is None:
        return end
    return min(max(end, ceil_hour(last_end)), end + MAX_CALL_DURATION)


def ingested_end(con: duckdb.DuckDBPyConnection, project_id: str) -> datetime | None:
    """End of the last hourly window fetched for the project (``raw.ingest_ledger``), or None."""
    (last,) = con.execute(
        "SELECT max(window_end) FROM raw.ingest_ledger WHERE project_id = ?", [project_id]
    ).fetchall()[0]
    return None if last is None else last.astimezone(UTC)


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

    def mark_stale(self, hours: list[datetime], marked_at: datetime) -> None:
        """Mark owner hours in ``raw.stale_hours``.

        A mark of the hour already there keeps its ``occupied_until`` and gets ``marked_at``.
        """


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

    def mark_stale(self, hours: list[datetime], marked_at: datetime) -> None:
        """Insert or re-date the marks of ``hours`` (one statement)."""
        mark_stale_hours(self._con, self._project_id, dict.fromkeys(hours), marked_at)


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
    sink: AnalyticsSink | None = None,
) -> TableRefresh | None:
    """Rebuild the buckets of ``spec`` that the hours ``[start, end)`` own.

    Hourly tables: the hours ``[start, end)``. Daily tables: the local days whose last instant
    lies in ``[start, end)`` (:func:`~pipeline.warehouse.ownership.owned_days`). Occupancy
    tables read calls created up to ``MAX_CALL_DURATION`` before the buckets; no table reads
    calls created at or after ``end``. The buckets are built in chunks of whole buckets
    (:func:`~pipeline.warehouse.chunks.bucket_chunks`), each reading only its own calls and
    lookback, then written in one replace: memory follows the chunk, not the range.

    Args:
        con: a write connection (or, with ``sink``, any connection reading the warehouse).
        spec: the table (from :data:`ANALYTICS_TABLES`).
        start: first hour (UTC, whole hour).
        end: end of the hours (exclusive).
        report_tz: IANA zone of daily buckets.
        project_id: the project whose calls are read and whose rows are replaced.
        sink: where the rows go; None: ``con`` itself (:class:`DuckDBSink`).

    Returns:
        The bucket range replaced and the rows written (each with ``project_id``); None for a
        daily table when the hours own no day.
    """
    buckets: UtcHours | LocalDays
    if spec.grain == "hour":
        buckets = UtcHours(start, end)
    else:
        days = owned_days(start, end, report_tz)
        if days is None:
            return None
        buckets = LocalDays(*days, report_tz)
    lookback = MAX_CALL_DURATION if spec.needs_lookback else timedelta(0)
    trunks = _read_trunks(con, project_id)
    parts = []
    for chunk in bucket_chunks(buckets):  # one chunk's calls in memory at a time
        lo, hi = chunk.bounds
        calls = _read_calls(con, project_id, lo - lookback, hi)
        details = _read_details(con, project_id, lo, hi) if spec.needs_details else None
        parts.append(spec.builder(CallData(calls, trunks, details=details), chunk).collect())
        del calls, details
    frame = parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical")
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
    *,
    raw_changed: bool = True,
) -> list[TableRefresh]:
    """Refresh the analytics buckets a project's hours ``[start, end)`` own; mark the others.

    Args:
        con: a write connection.
        start: first hour (UTC, whole hour).
        end: end of the hours (exclusive, whole hour).
        report_tz: IANA zone of the daily tables.
        project_id: the project refreshed (its rows only are read and replaced).
        sink: where the rows go; None: ``con`` itself, a write connection. Over the Delta lake,
            ``con`` reads the lake's tables and the sink writes them.
        raw_changed: the raw hours ``[start, end)`` were just (re-)ingested, so later buckets
            their calls occupy may have changed too; False for a refresh of analytics alone.

    If ``report_tz`` differs from the zone the daily tables were built in, the daily tables are
    first rebuilt over the whole of ``raw.calls`` in the new zone. Buckets owned by other hours
    (:mod:`pipeline.warehouse.ownership`) that depend on changed raw calls (``raw_changed``, or
    the calls that moved, ``raw.stale_hours``) are marked in ``raw.stale_hours`` for their
    owners; the marks of the hours refreshed here are deleted once every table is done (a
    crash leaves them for the next refresh).

    Returns:
        One :class:`TableRefresh` per table refreshed.

    Raises:
        ValueError: ``start``/``end`` are not whole UTC hours or ``start >= end``.
        duckdb.Error: a write failed (that table's refresh is rolled back).
    """
    sink = sink or DuckDBSink(con, project_id)
    done = _rebuild_if_zone_changed(con, sink, report_tz, project_id)
    stale = con.execute(
        "SELECT hour_start, occupied_until, marked_at FROM raw.stale_hours "
        "WHERE project_id = ? ORDER BY hour_start",
        [project_id],
    ).fetchall()
    changed = [(hour.astimezone(UTC), until or hour) for hour, until, _marked_at in stale]
    if raw_changed:
        changed.append((start, occupancy_end(con, start, end, project_id=project_id)))
    ingested = ingested_end(con, project_id)
    owners = set().union(*(dependent_owners(h, u, report_tz, ingested) for h, u in changed))
    marked = {hour for hour, _until in changed}
    foreign = sorted(h for h in owners - marked if not start <= h < end)
    for spec in ANALYTICS_TABLES.values():
        refreshed = refresh_table(
            con, spec, start, end, report_tz, project_id=project_id, sink=sink
        )
        if refreshed is not None:
            done.append(refreshed)
    if foreign:
        log.info("%d later hours depend on these calls: marked for a refresh", len(foreign))
        sink.mark_stale(foreign, datetime.now(UTC))
    sink.drop_stale([(h, m) for h, _u, m in stale if start <= h.astimezone(UTC) < end])
    return done


def _rebuild_if_zone_changed(
    con: duckdb.DuckDBPyConnection, sink: AnalyticsSink, report_tz: str, project_id: str
) -> list[TableRefresh]:
    """Rebuild the project's daily tables over all its hours if the report zone changed."""
    project = [project_id]
    previous = con.execute(
        "SELECT report_tz FROM analytics.report_settings WHERE project_id = ?", project
    ).fetchall()
    if previous and previous[0][0] == report_tz:
        return []
    done: list[TableRefresh] = []
    if previous:
        first, last = con.execute(
            "SELECT min(window_start), max(window_end) FROM raw.calls WHERE project_id = ?",
            project,
        ).fetchall()[0]
        log.warning(
            "report time zone changed from %s to %s: rebuilding the daily tables",
            previous[0][0],
            report_tz,
        )
        for spec in ANALYTICS_TABLES.values():
            if spec.grain == "day":
                sink.clear(spec)
                refreshed = None
                if first is not None:
                    refreshed = refresh_table(
                        con, spec, first, last, report_tz, project_id=project_id, sink=sink
                    )
                if refreshed is not None:
                    done.append(refreshed)
    sink.set_report_tz(report_tz)
    return done


def pending_hours(
    con: duckdb.DuckDBPyConnection, project_id: str, report_tz: str
) -> list[datetime]:
    """The owner hours whose analytics wait for a refresh (``raw.stale_hours``, expanded).

    Args:
        con: a connection reading the warehouse.
        project_id: the project.
        report_tz: IANA zone of the daily tables.

    Returns:
        Sorted whole UTC hours: the marked hours and, for calls that moved, every later hour
        and day owner their occupancy reached (up to the end of the ingested hours).
    """
    stale = con.execute(
        "SELECT hour_start, occupied_until FROM raw.stale_hours WHERE project_id = ?",
        [project_id],
    ).fetchall()
    ingested = ingested_end(con, project_id)
    hours: set[datetime] = set()
    for hour, until in stale:
        hour = hour.astimezone(UTC)
        hours |= dependent_owners(hour, until or hour, report_tz, ingested) | {hour}
    return sorted(hours)
