"""Cost per currency, per bucket, trunk and direction (exact decimals).

Costs are summed per ``price_currency`` and never across currencies (docs/kpi-definitions.md
"Cost per minute"; project choice). ``price`` is ``Decimal(18, 6)``; its sum is
``Decimal(38, 6)`` — exact, never a float. Calls without a ``price`` are not in these tables
(they are still attempts in the other tables); a price without a currency is grouped under
currency ``'UNKNOWN'``.

Grain: ``cost_hourly`` ``(hour_start, trunk_id, direction, currency)`` (UTC hour of
``create_time``), ``cost_daily`` ``(report_date, trunk_id, direction, currency)`` (local date in
the report time zone).

Columns: keys; ``priced_calls`` (Int64, calls with a price), ``billed_seconds`` (Int64 s, Σ
billing_duration_seconds of those calls), ``billed_minutes`` (Float64 min), ``cost``
(Decimal(38, 6), Σ price in ``currency``), ``cost_per_billed_minute`` (Float64 = cost /
billed_minutes, the effective rate, NULL when nothing was billed).
"""

from __future__ import annotations

import polars as pl

from pipeline.transforms.buckets import Buckets
from pipeline.transforms.prepare import UNKNOWN, CallData


def cost(data: CallData, buckets: Buckets) -> pl.LazyFrame:
    """Cost per bucket, trunk, direction and currency, exact decimals (module docstring).

    Args:
        data: calls created in the buckets (others are ignored); ``dedupe`` if a ``call_id``
            may repeat.
        buckets: UTC hours (key ``hour_start``) or local days (key ``report_date``).

    Returns:
        The columns of the module docstring, one row per (bucket, trunk, direction, currency)
        with a priced call, sorted by the keys.
    """
    keys = [buckets.key, "trunk_id", "direction", "currency"]
    return (
        data.created_in(*buckets.bounds)
        .filter(pl.col("price").is_not_null())
        .group_by(
            buckets.key_of("create_time"),
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
        .sort(keys)
    )
