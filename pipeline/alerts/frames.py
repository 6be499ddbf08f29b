"""The alert row: its columns and types, the evaluation scope, and building rows.

An alert is one row of ``analytics.alerts`` (``sql/schema/alerts.sql``) without
``raised_at``, which the store sets: ``(rule, project_id, trunk_id, direction, bucket)`` is
its key; ``observed``, ``baseline`` and ``threshold`` are in the rule's unit
(docs/alerts.md); ``message`` is the line people read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import polars as pl

#: Severity of every alert (the asset checks' ``AssetCheckSeverity.WARN``).
SEVERITY = "WARN"
#: The key of an alert (and, with ``channel``, of a delivery).
KEY = ("rule", "project_id", "trunk_id", "direction", "bucket")
#: Trunk-wide rules (CPS, concurrency) use this direction.
ALL_DIRECTIONS = "ALL"
WEEK = timedelta(days=7)
UTC_HOUR = pl.Datetime("us", "UTC")

_COLUMNS: dict[str, pl.DataType] = {
    "rule": pl.String(),
    "project_id": pl.String(),
    "trunk_id": pl.String(),
    "direction": pl.String(),
    "bucket": UTC_HOUR,
    "observed": pl.Float64(),
    "baseline": pl.Float64(),
    "threshold": pl.Float64(),
    "severity": pl.String(),
    "message": pl.String(),
}
ALERT_SCHEMA = pl.Schema(_COLUMNS)


@dataclass(frozen=True, slots=True)
class Scope:
    """Which alerts one evaluation owns: the hours ``[start, end)`` of some projects.

    Attributes:
        start: first UTC hour evaluated (whole hour, aware).
        end: end hour, exclusive.
        project_ids: the projects evaluated; None = every project in the data.
    """

    start: datetime
    end: datetime
    project_ids: tuple[str, ...] | None = None

    def current(self, frame: pl.DataFrame, column: str = "hour_start") -> pl.DataFrame:
        """The rows of ``frame`` in the scope's hours (and projects)."""
        rows = frame.filter(pl.col(column).is_between(self.start, self.end, closed="left"))
        if self.project_ids is not None:
            rows = rows.filter(pl.col("project_id").is_in(list(self.project_ids)))
        return rows


def empty_alerts() -> pl.DataFrame:
    """No alert, with the alert columns."""
    return ALERT_SCHEMA.to_frame()


def alerts_from(
    rule: str,
    rows: pl.DataFrame,
    *,
    observed: str,
    baseline: str | None,
    threshold: str,
    message: Callable[[dict[str, Any]], str],
    direction: str | None = None,
) -> pl.DataFrame:
    """Alert rows from the rows of ``rows`` that fire (one alert each).

    Args:
        rule: the rule's name.
        rows: firing rows with ``project_id``, ``trunk_id``, ``hour_start`` and (unless
            ``direction`` is given) ``direction``, plus the named value columns.
        observed: column of the observed value.
        baseline: column of the baseline, or None (no baseline).
        threshold: column of the threshold crossed.
        message: the text of one row (a dict of its columns).
        direction: the direction of every alert (``ALL`` for trunk-wide rules).

    Returns:
        The alerts, in :data:`ALERT_SCHEMA`, sorted by key.
    """
    if rows.is_empty():
        return empty_alerts()
    texts = [message(row) for row in rows.iter_rows(named=True)]
    frame = rows.select(
        pl.lit(rule).alias("rule"),
        pl.col("project_id"),
        pl.col("trunk_id"),
        (pl.lit(direction) if direction else pl.col("direction")).alias("direction"),
        pl.col("hour_start").alias("bucket"),
        pl.col(observed).cast(pl.Float64).alias("observed"),
        (pl.col(baseline) if baseline else pl.lit(None)).cast(pl.Float64).alias("baseline"),
        pl.col(threshold).cast(pl.Float64).alias("threshold"),
        pl.lit(SEVERITY).alias("severity"),
        pl.Series("message", texts, dtype=pl.String),
    )
    return frame.cast(ALERT_SCHEMA).sort(list(KEY))


def concat_alerts(frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Every rule's alerts in one frame, sorted by key."""
    return pl.concat([empty_alerts(), *frames], how="vertical").sort(list(KEY))


def name_trunks(alerts: pl.DataFrame, names: pl.DataFrame) -> pl.DataFrame:
    """Messages with ``trunk <name> (<id>)`` where ``names`` knows the trunk's name.

    Args:
        alerts: alert rows whose messages end with ``; trunk <id>...`` (:func:`where`).
        names: ``project_id``, ``trunk_id``, ``trunk_name`` (``raw.trunks``, newest fetch).
    """
    known = {(p, t): n for p, t, n in names.select("project_id", "trunk_id", "trunk_name").rows()}
    texts = [
        message.replace(f"; trunk {trunk}", f"; trunk {known[(project, trunk)]} ({trunk})", 1)
        if known.get((project, trunk))
        else message
        for project, trunk, message in alerts.select("project_id", "trunk_id", "message").rows()
    ]
    return alerts.with_columns(pl.Series("message", texts, dtype=pl.String))


def hour_text(value: datetime) -> str:
    """``2026-11-16 10:00Z``: the bucket in messages."""
    return f"{value:%Y-%m-%d %H:%M}Z"


def where(row: dict[str, Any]) -> str:
    """``trunk T (OUTBOUND), project P, hour 2026-11-16 10:00Z``: the subject of a message.

    :func:`name_trunks` later puts the trunk's name before its id.
    """
    direction = row.get("direction")
    side = f" ({direction})" if direction and direction != ALL_DIRECTIONS else ""
    return f"trunk {row['trunk_id']}{side}, project {row['project_id']}, hour " + hour_text(
        row["hour_start"]
    )
