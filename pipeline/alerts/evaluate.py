"""Read what the rules need from the warehouse, and evaluate every enabled rule.

:func:`load_inputs` runs a few aggregate queries on a reader connection
(:meth:`pipeline.warehouse.backend.Warehouse.reader`: the DuckDB file, or the lake's tables
under the same names) and returns Polars frames; :func:`evaluate` runs the rules of
:mod:`pipeline.alerts.rules`, :mod:`pipeline.alerts.capacity` and
:mod:`pipeline.alerts.calls_rules` on them. Rows without a ``project_id`` (files from before
projects that no run adopted yet) are not evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import polars as pl

from pipeline.alerts.calls_rules import new_countries, short_calls
from pipeline.alerts.capacity import concurrency_over_channels, cps_over_limit
from pipeline.alerts.config import AlertsConfig
from pipeline.alerts.frames import WEEK, Scope, concat_alerts, name_trunks
from pipeline.alerts.rules import asr_drop, failure_spike, ner_drop, true_ner_drop


@dataclass(frozen=True, slots=True)
class RuleInputs:
    """The frames the rules read (columns in each rule module's docstring).

    Attributes:
        answer_rate: ``analytics.answer_rate_hourly``, the scope's hours and the week before.
        usage: ``analytics.trunk_usage_hourly``, the scope's hours and the concurrency
            lookback before them.
        short: answered / short calls per project, trunk, direction and hour (scope's hours).
        destinations: OUTBOUND calls per project, trunk, hour and number head (scope's hours
            and the new-countries lookback).
        first_calls: the UTC hour of each trunk's first call (``analytics.answer_rate_hourly``).
        trunk_names: each trunk's name (``raw.trunks``, newest fetch), for messages.
    """

    answer_rate: pl.DataFrame
    usage: pl.DataFrame
    short: pl.DataFrame
    destinations: pl.DataFrame
    first_calls: pl.DataFrame
    trunk_names: pl.DataFrame


def _projects(scope: Scope) -> str:
    """SQL condition on ``project_id`` for the scope (quotes doubled)."""
    if scope.project_ids is None:
        return "project_id IS NOT NULL"
    ids = ", ".join("'" + p.replace("'", "''") + "'" for p in scope.project_ids)
    return f"project_id IN ({ids})" if ids else "FALSE"


def _frame(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[object], schema: dict[str, pl.DataType]
) -> pl.DataFrame:
    rows = con.execute(sql, params).fetchall()
    return pl.DataFrame(rows, schema=schema, orient="row")


_HOUR = pl.Datetime("us", "UTC")
_ANSWER_RATE = {
    "project_id": pl.String(), "hour_start": _HOUR, "trunk_id": pl.String(),
    "direction": pl.String(), "attempts": pl.Int64(), "answered": pl.Int64(),
    "failed": pl.Int64(), "ner_numerator": pl.Int64(), "details_calls": pl.Int64(),
    "ner_true_numerator": pl.Int64(),
}  # fmt: skip
_USAGE = {
    "project_id": pl.String(), "hour_start": _HOUR, "trunk_id": pl.String(),
    "trunk_peak_cps": pl.Int64(), "cps_limit": pl.Int64(),
    "trunk_peak_concurrent_calls": pl.Int64(), "trunk_erlangs": pl.Float64(),
}  # fmt: skip
_SHORT = {
    "project_id": pl.String(), "trunk_id": pl.String(), "direction": pl.String(),
    "hour_start": _HOUR, "answered": pl.Int64(), "short": pl.Int64(),
}  # fmt: skip
_DESTINATIONS = {
    "project_id": pl.String(), "trunk_id": pl.String(), "hour_start": _HOUR,
    "head": pl.String(), "calls": pl.Int64(),
}  # fmt: skip
_FIRST = {"project_id": pl.String(), "trunk_id": pl.String(), "first_call": _HOUR}
_NAMES: dict[str, pl.DataType] = {
    "project_id": pl.String(),
    "trunk_id": pl.String(),
    "trunk_name": pl.String(),
}


def load_inputs(con: duckdb.DuckDBPyConnection, scope: Scope, config: AlertsConfig) -> RuleInputs:
    """Read the rules' inputs for ``scope`` (aggregates only: a few rows per trunk and hour).

    Args:
        con: a reader connection (UTC) on which ``raw.calls`` and ``analytics.*`` resolve.
        scope: the evaluated hours and projects.
        config: the thresholds (lookbacks, the short-call limit).

    Returns:
        The frames of :class:`RuleInputs`.
    """
    where = _projects(scope)
    end = scope.end
    week = scope.start - WEEK
    usage_from = scope.start - timedelta(days=config.concurrency_over_channels.lookback_days)
    countries_from = scope.start - timedelta(days=config.new_countries.lookback_days)
    answer_rate = _frame(
        con,
        f"SELECT {', '.join(_ANSWER_RATE)} FROM analytics.answer_rate_hourly "
        f"WHERE {where} AND hour_start >= ? AND hour_start < ?",
        [week, end],
        _ANSWER_RATE,
    )
    usage = _frame(
        con,
        f"SELECT {', '.join(_USAGE)} FROM analytics.trunk_usage_hourly "
        f"WHERE {where} AND hour_start >= ? AND hour_start < ?",
        [usage_from, end],
        _USAGE,
    )
    calls = f"FROM raw.calls WHERE {where} AND create_time >= ? AND create_time < ?"
    short = _frame(
        con,
        "SELECT project_id, coalesce(trunk_id, 'UNKNOWN'), coalesce(direction, 'UNKNOWN'), "
        "date_trunc('hour', create_time), count(*), count(*) FILTER (WHERE "
        "(epoch_ms(end_time) - epoch_ms(answer_time)) / 1000.0 < ?) "
        f"{calls} AND upper(call_result) = 'COMPLETED' AND answer_time IS NOT NULL "
        "AND end_time IS NOT NULL GROUP BY ALL",
        [config.short_calls.max_seconds, scope.start, end],
        _SHORT,
    )
    destinations = _frame(
        con,
        "SELECT project_id, coalesce(trunk_id, 'UNKNOWN'), date_trunc('hour', create_time), "
        f"left(ltrim(to_e164, '+'), 4), count(*) {calls} AND upper(direction) = 'OUTBOUND' "
        "AND to_e164 IS NOT NULL GROUP BY ALL",
        [countries_from, end],
        _DESTINATIONS,
    )
    # The hourly table, not raw.calls: min(create_time) over every call scanned all history on
    # every hourly tick (1.6 s at 16 M calls, growing); the hour of the first call is enough
    # for "the trunk has min_history_days of history", and one row per trunk-hour is small.
    first_calls = _frame(
        con,
        "SELECT project_id, trunk_id, min(hour_start) FROM analytics.answer_rate_hourly "
        f"WHERE {where} GROUP BY ALL",
        [],
        _FIRST,
    )
    names = _frame(
        con,
        "SELECT project_id, trunk_id, arg_max(name, fetched_at) FROM raw.trunks "
        f"WHERE {where} GROUP BY ALL",
        [],
        _NAMES,
    )
    return RuleInputs(answer_rate, usage, short, destinations, first_calls, names)


def evaluate(inputs: RuleInputs, scope: Scope, config: AlertsConfig) -> pl.DataFrame:
    """Every enabled rule over the scope's hours.

    Returns:
        The alerts (:data:`pipeline.alerts.frames.ALERT_SCHEMA`), sorted by key.
    """
    alerts = concat_alerts(
        [
            asr_drop(inputs.answer_rate, scope, config.asr_drop),
            ner_drop(inputs.answer_rate, scope, config.ner_drop),
            true_ner_drop(inputs.answer_rate, scope, config.true_ner_drop),
            failure_spike(inputs.answer_rate, scope, config.failure_spike),
            cps_over_limit(inputs.usage, scope, config.cps_over_limit),
            concurrency_over_channels(inputs.usage, scope, config.concurrency_over_channels),
            short_calls(inputs.short, scope, config.short_calls),
            new_countries(inputs.destinations, inputs.first_calls, scope, config.new_countries),
        ]
    )
    return name_trunks(alerts, inputs.trunk_names)


def hours_with_data(con: duckdb.DuckDBPyConnection, hours: int) -> tuple[datetime, datetime] | None:
    """The last ``hours`` UTC hours up to the newest call in ``raw.calls`` (None: no call).

    For a check run outside a partitioned run (e.g. from the UI on its own).
    """
    ((newest,),) = con.execute("SELECT max(create_time) FROM raw.calls").fetchall()
    if newest is None:
        return None
    end = newest.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return end - timedelta(hours=hours), end
