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

Daily tables depend on the report time zone. It is recorded in ``analytics.report_settings``;
when it changes, the daily tables are rebuilt over all of ``raw.calls``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb
import polars as pl

from pipeline.transforms import ANALYTICS_TABLES, MAX_CALL_DURATION, TableSpec
from pipeline.transforms.calendar import local_day_bounds
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


def _local_date(instant: datetime, report_tz: str) -> date:
    return pl.Series([instant]).dt.convert_time_zone(report_tz).dt.date()[0]


def _read_calls(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> pl.LazyFrame:
    columns = ", ".join(INPUT_COLUMNS)  # not `raw`: the JSON stays in DuckDB
    frame = con.sql(
        f"SELECT {columns} FROM raw.calls WHERE create_time >= $start AND create_time < $end",
        params={"start": start, "end": end},
    ).pl()
    return frame.lazy()


def _read_trunks(con: duckdb.DuckDBPyConnection) -> pl.LazyFrame:
    return con.sql("SELECT trunk_id, calls_per_second FROM raw.trunks").pl().lazy()


def occupancy_end(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> datetime:
    """End of the hours whose occupancy the calls created in ``[start, end)`` reach.

    ``end`` at least; at most ``end + MAX_CALL_DURATION`` and the end of the last ingested hour.
    """
    last_end, ingested_end = con.execute(
        "SELECT (SELECT max(end_time) FROM raw.calls WHERE create_time >= ? AND create_time < ?),"
        " (SELECT max(window_end) FROM raw.calls)",
        [start, end],
    ).fetchall()[0]
    if last_end is None or ingested_end is None:
        return end
    reach = min(_ceil_hour(last_end.astimezone(UTC)), end + MAX_CALL_DURATION, ingested_end)
    return max(end, reach)


def _replace(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, frame: pl.DataFrame, first, end
) -> None:
    table = spec.qualified_name  # identifiers come from the registry, values are bound
    column = spec.bucket_column
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM {table} WHERE {column} >= ? AND {column} < ?", [first, end])
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
) -> TableRefresh:
    """Rebuild the buckets of ``spec`` that the raw hours ``[start, end)`` touch.

    Args:
        con: a write connection.
        spec: the table (from :data:`ANALYTICS_TABLES`).
        start: first re-ingested hour (UTC, whole hour).
        end: end of the re-ingested hours (exclusive).
        report_tz: IANA zone of daily buckets.

    Returns:
        The bucket range replaced and the rows written.
    """
    hours_end = occupancy_end(con, start, end) if spec.needs_lookback else end
    lookback = MAX_CALL_DURATION if spec.needs_lookback else timedelta(0)
    trunks = _read_trunks(con)
    if spec.grain == "hour":
        calls = _read_calls(con, start - lookback, hours_end)
        frame = spec.builder(calls, trunks, start=start, end=hours_end).collect()
        first, last = start, hours_end
    else:
        first = _local_date(start, report_tz)
        last = _local_date(hours_end - timedelta(microseconds=1), report_tz) + timedelta(days=1)
        day_start, day_end = local_day_bounds(first, last, report_tz)
        calls = _read_calls(con, day_start - lookback, day_end)
        frame = spec.builder(
            calls, trunks, report_tz=report_tz, start_date=first, end_date=last
        ).collect()
    _replace(con, spec, frame, first, last)
    return TableRefresh(spec.name, first, last, frame.height)


def refresh_all(
    con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, report_tz: str
) -> list[TableRefresh]:
    """Refresh every analytics table for the raw hours ``[start, end)``.

    If ``report_tz`` differs from the zone the daily tables were built in, the daily tables are
    first rebuilt over the whole of ``raw.calls`` in the new zone.
    """
    done: list[TableRefresh] = []
    previous = con.execute("SELECT report_tz FROM analytics.report_settings").fetchall()
    if previous and previous[0][0] != report_tz:
        bounds = con.execute("SELECT min(window_start), max(window_end) FROM raw.calls").fetchall()
        first, last = bounds[0]
        log.warning(
            "report time zone changed from %s to %s: rebuilding the daily tables",
            previous[0][0],
            report_tz,
        )
        for spec in ANALYTICS_TABLES.values():
            if spec.grain == "day":
                con.execute(f"DELETE FROM {spec.qualified_name}")
                if first is not None:
                    done.append(refresh_table(con, spec, first, last, report_tz))
    con.execute("DELETE FROM analytics.report_settings")
    con.execute("INSERT INTO analytics.report_settings VALUES (?)", [report_tz])
    done.extend(
        refresh_table(con, spec, start, end, report_tz) for spec in ANALYTICS_TABLES.values()
    )
    return done
