"""Direction mix per bucket: calls, answered, minutes, and each direction's share.

Grain of ``direction_mix_daily``: one row per ``(report_date, trunk_id, direction)``;
``report_date`` is the local date of ``create_time`` in the report time zone. Money is **not**
here: costs are per currency, so they live in ``cost_daily`` (same keys plus ``currency``),
never summed across currencies.

Columns: the bucket key (``report_date`` Date), ``trunk_id``, ``direction`` (String, keys);
``calls`` (Int64, distinct call_id), ``answered`` (Int64, COMPLETED),
``conversation_seconds`` (Float64 s, Σ end_time − answer_time of answered calls),
``conversation_minutes`` (Float64 min = conversation_seconds / 60, MOU),
``billed_seconds`` (Int64 s, Σ billing_duration_seconds), ``billed_minutes`` (Float64 min),
``trunk_calls`` (Int64, calls of the trunk in the bucket in all directions: the share's
denominator), ``direction_share`` (Float64 = calls / trunk_calls; the INBOUND row's value is the
inbound share).
"""

from __future__ import annotations

import polars as pl

from pipeline.transforms.buckets import Buckets
from pipeline.transforms.prepare import CallData, volume


def direction_mix(data: CallData, buckets: Buckets) -> pl.LazyFrame:
    """Direction mix per bucket, trunk and direction (module docstring).

    Args:
        data: calls created in the buckets (others are ignored); ``dedupe`` if a ``call_id``
            may repeat.
        buckets: local days (key ``report_date``) or UTC hours (key ``hour_start``).

    Returns:
        The columns of the module docstring, sorted by the keys.
    """
    keys = [buckets.key, "trunk_id", "direction"]
    return (
        data.created_in(*buckets.bounds)
        .group_by(buckets.key_of("create_time"), "trunk_id", "direction")
        .agg(*volume("calls"))
        .with_columns(
            (pl.col("conversation_seconds") / 60).alias("conversation_minutes"),
            (pl.col("billed_seconds") / 60).alias("billed_minutes"),
            pl.col("calls").sum().over(buckets.key, "trunk_id").alias("trunk_calls"),
        )
        .with_columns((pl.col("calls") / pl.col("trunk_calls")).alias("direction_share"))
        .select(
            *keys,
            "calls",
            "answered",
            "conversation_seconds",
            "conversation_minutes",
            "billed_seconds",
            "billed_minutes",
            "trunk_calls",
            "direction_share",
        )
        .sort(keys)
    )
