"""Cost per currency, per bucket, trunk and direction (exact decimals).

Costs are summed per ``price_currency`` and never across currencies (kpi-definitions "Cost per
minute"; project choice). ``price`` is ``Decimal(18, 6)``; its sum is ``Decimal(38, 6)`` — exact,
never a float. Calls without a ``price`` are not in these tables (they are still attempts in the
other tables); a price without a currency is grouped under currency ``'UNKNOWN'``.

Grain: hourly ``(hour_start, trunk_id, direction, currency)`` (UTC hour of ``create_time``), daily
``(report_date, trunk_id, direction, currency)`` (local date in the report time zone).

Columns: keys; ``priced_calls`` (Int64, calls with a price), ``billed_seconds`` (Int64 s, Σ
billing_duration_seconds of those calls), ``billed_minutes`` (Float64 min), ``cost``
(Decimal(38, 6), Σ price in ``currency``), ``cost_per_billed_minute`` (Float64 = cost /
billed_minutes, the effective rate, NULL when nothing was billed).
"""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

from pipeline.transforms.calendar import check_hour_window, local_day_bounds, report_date
from pipeline.transforms.prepare import UNKNOWN, in_range, prepare_calls

KEYS_HOURLY = ("hour_start", "trunk_id", "direction", "currency")
KEYS_DAILY = ("report_date", "trunk_id", "direction", "currency")


def _cost(prepared: pl.LazyFrame, bucket: pl.Expr, keys: tuple[str, ...]) -> pl.LazyFrame:
    return (
        prepared.filter(pl.col("price").is_not_null())
        .group_by(
            bucket,
            "trunk_id",
            "direction",
            pl.col("price_currency").fill_null(UNKNOWN).alias("currency"),
        )
        .agg(
            pl.len().cast(pl.Int64).alias("priced_calls"),
            pl.col("billing_duration_seconds").sum().cast(pl.Int64).alias("billed_seconds"),
            pl.col("price").sum().cast(pl.Decimal(38, 6)).alias("cost"),
        )
        .with_columns((pl.col("billed_seconds") / 60).alias("billed_minutes"))
        .with_columns(
            pl.when(pl.col("billed_seconds") > 0)
            .then(pl.col("cost").cast(pl.Float64) / pl.col("billed_minutes"))
            .alias("cost_per_billed_minute")
        )
        .select(
            *keys,
            "priced_calls",
            "billed_seconds",
            "billed_minutes",
            "cost",
            "cost_per_billed_minute",
        )
        .sort(list(keys))
    )


def cost_hourly(
    calls: pl.LazyFrame,
    trunks: pl.LazyFrame | None = None,
    *,
    start: datetime,
    end: datetime,
    as_of: datetime | None = None,
    dedupe: bool = False,
) -> pl.LazyFrame:
    """Cost per UTC hour ``[start, end)``, trunk, direction and currency (module docstring)."""
    start, end = check_hour_window(start, end)
    prepared = prepare_calls(calls, dedupe=dedupe).filter(in_range("create_time", start, end))
    return _cost(prepared, pl.col("create_time").dt.truncate("1h").alias("hour_start"), KEYS_HOURLY)


def cost_daily(
    calls: pl.LazyFrame,
    trunks: pl.LazyFrame | None = None,
    *,
    report_tz: str,
    start_date: date,
    end_date: date,
    as_of: datetime | None = None,
    dedupe: bool = False,
) -> pl.LazyFrame:
    """Cost per local date in ``report_tz``, trunk, direction and currency (module docstring)."""
    lo, hi = local_day_bounds(start_date, end_date, report_tz)
    prepared = prepare_calls(calls, dedupe=dedupe).filter(in_range("create_time", lo, hi))
    return _cost(prepared, report_date("create_time", report_tz).alias("report_date"), KEYS_DAILY)
