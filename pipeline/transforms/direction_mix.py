"""Direction mix per local day: calls, answered, minutes, and each direction's share.

Grain: one row per ``(report_date, trunk_id, direction)``; ``report_date`` is the local date of
``create_time`` in the report time zone. Money is **not** here: costs are per currency, so they
live in ``cost_daily`` (same keys plus ``currency``), never summed across currencies.

Columns: ``report_date`` (Date), ``trunk_id``, ``direction`` (String, keys);
``calls`` (Int64, distinct call_id), ``answered`` (Int64, COMPLETED),
``conversation_seconds`` (Float64 s, Σ end_time − answer_time of answered calls),
``conversation_minutes`` (Float64 min = conversation_seconds / 60, MOU),
``billed_seconds`` (Int64 s, Σ billing_duration_seconds), ``billed_minutes`` (Float64 min),
``trunk_calls`` (Int64, calls of the trunk that day in all directions: the share's
denominator), ``direction_share`` (Float64 = calls / trunk_calls; the INBOUND row's value is the
inbound share).
"""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

from pipeline.transforms.calendar import local_day_bounds, report_date
from pipeline.transforms.prepare import in_range, prepare_calls

KEYS = ("report_date", "trunk_id", "direction")


def direction_mix_daily(
    calls: pl.LazyFrame,
    trunks: pl.LazyFrame | None = None,
    *,
    report_tz: str,
    start_date: date,
    end_date: date,
    as_of: datetime | None = None,
    dedupe: bool = False,
) -> pl.LazyFrame:
    """Direction mix for local dates ``[start_date, end_date)`` in ``report_tz``.

    Needs calls with ``create_time`` in those local days. ``trunks``/``as_of`` unused (uniform
    signature). Columns: see module docstring.
    """
    lo, hi = local_day_bounds(start_date, end_date, report_tz)
    return (
        prepare_calls(calls, dedupe=dedupe)
        .filter(in_range("create_time", lo, hi))
        .group_by(
            report_date("create_time", report_tz).alias("report_date"), "trunk_id", "direction"
        )
        .agg(
            pl.len().cast(pl.Int64).alias("calls"),
            pl.col("answered").sum().cast(pl.Int64).alias("answered"),
            (pl.col("conv_us").sum() / 1_000_000).alias("conversation_seconds"),
            pl.col("billing_duration_seconds").sum().cast(pl.Int64).alias("billed_seconds"),
        )
        .with_columns(
            (pl.col("conversation_seconds") / 60).alias("conversation_minutes"),
            (pl.col("billed_seconds") / 60).alias("billed_minutes"),
            pl.col("calls").sum().over("report_date", "trunk_id").alias("trunk_calls"),
        )
        .with_columns((pl.col("calls") / pl.col("trunk_calls")).alias("direction_share"))
        .select(
            *KEYS,
            "calls",
            "answered",
            "conversation_seconds",
            "conversation_minutes",
            "billed_seconds",
            "billed_minutes",
            "trunk_calls",
            "direction_share",
        )
        .sort(list(KEYS))
    )
