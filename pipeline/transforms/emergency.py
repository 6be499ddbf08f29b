"""Emergency calls per bucket, trunk and direction (``emergency_calls_hourly``).

The export flags each call ``Is Emergency Call`` (``raw.call_details.is_emergency``); the
call list does not. Only calls with a details row are counted; ``details_calls`` says how many
had one (a call without details is unknown, never "not an emergency").

Columns: ``hour_start`` (Datetime UTC, hour of ``create_time``), ``trunk_id``, ``direction``
(String, keys); ``details_calls`` (Int64, calls with details), ``emergency_calls`` (Int64,
``is_emergency`` true), ``emergency_answered`` (Int64, of which COMPLETED),
``emergency_failed`` (Int64, of which FAILED). One row per group with a details row.
"""

from __future__ import annotations

import polars as pl

from pipeline.transforms.buckets import Buckets
from pipeline.transforms.prepare import CallData


def emergency_calls(data: CallData, buckets: Buckets) -> pl.LazyFrame:
    """Emergency calls per bucket, trunk and direction (module docstring).

    Args:
        data: calls created in the buckets, with ``details`` (None: no rows).
        buckets: UTC hours (key ``hour_start``) or local days (key ``report_date``).

    Returns:
        The module docstring's columns, sorted by the keys.
    """
    keys = [buckets.key, "trunk_id", "direction"]
    emergency = pl.col("is_emergency").fill_null(False)
    return (
        data.with_details(*buckets.bounds)
        .filter(pl.col("has_details"))
        .group_by(buckets.key_of("create_time"), "trunk_id", "direction")
        .agg(
            pl.len().cast(pl.Int64).alias("details_calls"),
            emergency.sum().cast(pl.Int64).alias("emergency_calls"),
            (emergency & pl.col("answered")).sum().cast(pl.Int64).alias("emergency_answered"),
            (emergency & (pl.col("call_result") == "FAILED"))
            .fill_null(False)
            .sum()
            .cast(pl.Int64)
            .alias("emergency_failed"),
        )
        .select(*keys, "details_calls", "emergency_calls", "emergency_answered", "emergency_failed")
        .sort(keys)
    )
