"""What the report notebook reads: one short read of the warehouse into Polars frames.

:func:`load` opens one :func:`~pipeline.reporting.source.read_connection` (the DuckDB file or
the lake), reads the analytics tables for the report period and the period before it, the
ingestion windows (for gaps and partial days), times to answer from ``raw.calls`` and
destination countries from the ``calls_enriched`` view, and closes. Everything after that
works on the frames, so leaving the notebook open holds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from pipeline.reporting.source import read_connection, warehouse_name
from pipeline.reporting.views import apply_views

_PROJECT = "($project IS NULL OR project_id = $project)"

#: Seconds from createTime to answerTime of answered calls, per local date and direction.
_ANSWER_TIMES = f"""
SELECT CAST(timezone($tz, create_time) AS DATE) AS local_date,
       coalesce(direction, 'UNKNOWN') AS direction,
       count(*) AS timed_answers,
       median(epoch(answer_time) - epoch(create_time)) AS tta_median_s,
       quantile_cont(epoch(answer_time) - epoch(create_time), 0.9) AS tta_p90_s
FROM raw.calls
WHERE upper(call_result) = 'COMPLETED' AND answer_time IS NOT NULL
  AND create_time >= $start AND create_time < $end AND {_PROJECT}
GROUP BY ALL
"""

#: Outbound calls of the period per destination country and currency (calls_enriched view).
_COUNTRIES = f"""
SELECT coalesce(to_country, '??') AS country,
       coalesce(price_currency, 'NONE') AS currency,
       count(*) AS calls,
       count(*) FILTER (WHERE answered) AS answered,
       coalesce(sum(conversation_seconds), 0) / 60.0 AS minutes,
       coalesce(sum(price), 0)::DOUBLE AS cost
FROM calls_enriched
WHERE direction = 'OUTBOUND' AND create_time >= $start AND create_time < $end AND {_PROJECT}
GROUP BY ALL
"""


@dataclass(frozen=True)
class Period:
    """The report period and the one before it, both ``days`` × 24 h long (UTC instants).

    Attributes:
        start: first instant of the period (inclusive).
        end: end of the period (exclusive): the end of the hour holding the newest call.
        previous_start: start of the previous period, which ends at ``start``.
        days: length of each period in days.
    """

    start: datetime
    end: datetime
    previous_start: datetime
    days: int

    def label(self, tz: str) -> str:
        """``"Mon 23 Nov 2026 01:00 → Mon 30 Nov 2026 01:00 (Europe/Copenhagen)"``."""
        start = self.start.astimezone(_zone(tz))
        end = self.end.astimezone(_zone(tz))
        return f"{start:%a %d %b %Y %H:%M} → {end:%a %d %b %Y %H:%M} ({tz})"


def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def report_period(newest_call: datetime, days: int) -> Period:
    """The ``days`` × 24 h ending at the end of the UTC hour that holds ``newest_call``.

    Like the ready queries' "last 7 days" (view ``data_window``): the same file gives the same
    report whenever it is rendered.

    Args:
        newest_call: the newest ``create_time`` in the warehouse (timezone-aware).
        days: period length in days (≥ 1).
    """
    end = newest_call.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(days=days)
    return Period(start, end, start - timedelta(days=days), days)


@dataclass(frozen=True)
class ReportData:
    """Everything the report draws, read once.

    Attributes:
        warehouse: the file path or lake URI, for the header.
        tz: the report time zone (IANA).
        project: the project the report is limited to, or None for all.
        projects: project ids with calls (sorted).
        first_call: oldest ``create_time`` in the warehouse.
        newest_call: newest ``create_time``.
        total_calls: calls in the warehouse (all time).
        period: the report period and the previous one.
        trunks: ``project_id, trunk_id, trunk_name, cps_limit`` (newest fetch).
        windows: ingestion windows ``project_id, window_start, window_end`` overlapping both
            periods (``raw.ingest_ledger``).
        answer: ``analytics.answer_rate_hourly`` rows of both periods.
        usage: ``analytics.trunk_usage_hourly`` rows of both periods.
        cost: ``analytics.cost_hourly`` rows of both periods.
        answer_times: per local date and direction of the period: ``timed_answers``,
            ``tta_median_s`` and ``tta_p90_s`` (s, answerTime − createTime of answered calls
            that have an answerTime).
        countries: outbound calls of the period per ``country`` and ``currency``: ``calls``,
            ``answered``, ``minutes`` (conversation, min), ``cost`` (in the currency).
        quality: ``analytics.quality_hourly`` rows of the period (from the export).
        causes: ``analytics.sip_causes_hourly`` rows of the period (from the export).
        billing: ``analytics.billing_audit_daily`` rows of the local dates the period
            overlaps (in the report time zone the daily tables were built in).
    """

    warehouse: str
    tz: str
    project: str | None
    projects: list[str]
    first_call: datetime
    newest_call: datetime
    total_calls: int
    period: Period
    trunks: pl.DataFrame
    windows: pl.DataFrame
    answer: pl.DataFrame
    usage: pl.DataFrame
    cost: pl.DataFrame
    answer_times: pl.DataFrame
    countries: pl.DataFrame
    quality: pl.DataFrame
    causes: pl.DataFrame
    billing: pl.DataFrame


def load(
    db_path: str | Path,
    days: int = 7,
    report_tz: str | None = None,
    project: str | None = None,
) -> ReportData:
    """Read the report's data in one short read-only connection.

    Args:
        db_path: the DuckDB file (or, with ``CALLS_LAKE_URI`` set, ignored for the lake).
        days: length of the report period in days.
        report_tz: IANA zone; None = the zone the daily tables were built in.
        project: limit to this project id; None = every project.

    Raises:
        ValueError: no calls (for ``project``) in the warehouse.
    """
    with read_connection(db_path) as con:
        params: dict[str, object] = {"project": project}
        first, newest, total = con.execute(
            f"SELECT min(create_time), max(create_time), count(*) FROM raw.calls WHERE {_PROJECT}",
            params,
        ).fetchall()[0]
        if not total:
            raise ValueError(f"no calls in {warehouse_name(db_path)} for project {project!r}")
        (file_tz,) = con.execute(
            "SELECT coalesce(any_value(report_tz), 'UTC') FROM analytics.report_settings"
        ).fetchall()[0]
        tz = report_tz or file_tz
        period = report_period(newest, days)
        both = {**params, "start": period.previous_start, "end": period.end}
        current = {**params, "start": period.start, "end": period.end, "tz": tz}
        current_hours = {**params, "start": period.start, "end": period.end}
        return ReportData(
            warehouse=warehouse_name(db_path),
            tz=tz,
            project=project,
            projects=_column(
                con, f"SELECT DISTINCT project_id FROM raw.calls WHERE {_PROJECT}", params
            ),
            first_call=first,
            newest_call=newest,
            total_calls=int(total),
            period=period,
            trunks=_frame(
                con,
                "SELECT project_id, trunk_id, arg_max(name, fetched_at) AS trunk_name, "
                "arg_max(calls_per_second, fetched_at) AS cps_limit FROM raw.trunks "
                f"WHERE {_PROJECT} GROUP BY ALL",
                params,
            ),
            windows=_frame(
                con,
                "SELECT project_id, window_start, window_end FROM raw.ingest_ledger "
                f"WHERE window_end > $start AND window_start < $end AND {_PROJECT}",
                both,
            ),
            answer=_hourly(con, "analytics.answer_rate_hourly", both),
            usage=_hourly(con, "analytics.trunk_usage_hourly", both),
            cost=_hourly(con, "analytics.cost_hourly", both),
            answer_times=_frame(con, _ANSWER_TIMES, current),
            countries=_countries(con, {**params, "start": period.start, "end": period.end}),
            quality=_hourly(con, "analytics.quality_hourly", current_hours),
            causes=_hourly(con, "analytics.sip_causes_hourly", current_hours),
            billing=_frame(
                con,
                "SELECT * FROM analytics.billing_audit_daily WHERE report_date >= "
                "CAST(timezone($tz, $start) AS DATE) AND report_date <= "
                f"CAST(timezone($tz, $end) AS DATE) AND {_PROJECT}",
                {**current_hours, "tz": file_tz},
            ),
        )


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]) -> pl.DataFrame:
    return con.sql(sql, params=params).pl()


def _column(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]) -> list[str]:
    return sorted(str(row[0]) for row in con.execute(sql, params).fetchall() if row[0] is not None)


def _hourly(con: duckdb.DuckDBPyConnection, table: str, params: dict[str, object]) -> pl.DataFrame:
    sql = f"SELECT * FROM {table} WHERE hour_start >= $start AND hour_start < $end AND {_PROJECT}"
    return _frame(con, sql, params)


def _countries(con: duckdb.DuckDBPyConnection, params: dict[str, object]) -> pl.DataFrame:
    apply_views(con)
    return _frame(con, _COUNTRIES, params)
