"""Busy hour per bucket and trunk (``busy_hour_daily``: per local day of the report time zone).

Definition (ITU-T E.500; docs/kpi-definitions.md): the busy hour of a trunk in a bucket is the
**clock hour** of the buckets' zone with the highest trunk Erlangs (holding ∩ hour ÷ 3600 s,
both directions, occupancy as in :mod:`.concurrency`); ties go to the earliest hour. **BHCA** =
attempts created in that hour, **BHCC** = the answered ones. Feed ``busy_hour_erlangs`` to
:func:`.erlang.channels_for_grade_of_service`.

For local days the clock hours are local (23, 24 or 25 a day): on a fall-back day the repeated
hour is two buckets, told apart by ``busy_hour_start`` (UTC) and the offset in
``busy_hour_local``; in a half-hour zone local hours start at hh:30 UTC. (For UTC hour buckets
each hour is its own busy hour.)

Output columns: the bucket key (``report_date`` Date for local days), ``trunk_id`` (String),
``busy_hour_start`` (Datetime UTC: the instant the clock hour starts), ``busy_hour_local``
(String, local start with offset, e.g. ``2026-10-25T02:00:00+01:00``),
``busy_hour_holding_seconds`` (Float64 s), ``busy_hour_erlangs`` (Float64 E = holding / 3600),
``busy_hour_peak_concurrent_calls`` (Int64), ``bhca`` (Int64, attempts created in the hour),
``bhcc`` (Int64, of which answered). Keyed by ``(key, trunk_id)`` only: the busy hour sizes the
trunk's shared channels, so it is not split by direction. Buckets where the trunk had no
occupancy have no row.
"""

from __future__ import annotations

import polars as pl

from pipeline.transforms.buckets import Buckets
from pipeline.transforms.concurrency import occupancy
from pipeline.transforms.prepare import CallData
from pipeline.transforms.trunk_usage import bucket_table, occupancy_calls


def busy_hour(data: CallData, buckets: Buckets) -> pl.LazyFrame:
    """Busy hour (ITU-T E.500) per bucket and trunk, both directions (module docstring).

    Args:
        data: calls created in the buckets and up to :data:`.calendar.MAX_CALL_DURATION` before
            them; ``as_of`` for calls still in progress (else left out of occupancy).
        buckets: the buckets (local days for ``busy_hour_daily``); their clock hours are the
            candidates.

    Returns:
        The columns of the module docstring, sorted by key and ``trunk_id``.
    """
    hours = buckets.clock_hours()
    _, hi = buckets.bounds
    prepared, created = occupancy_calls(data, hours, buckets.bounds)
    counts = created.group_by("bucket_idx", "trunk_id").agg(
        pl.len().cast(pl.Int64).alias("bhca"),
        pl.col("answered").sum().cast(pl.Int64).alias("bhcc"),
    )
    return (
        occupancy(prepared, ["trunk_id"], hours["bucket_start"].to_list(), hi)
        .join(counts, on=["bucket_idx", "trunk_id"], how="left")
        .join(bucket_table(hours), on="bucket_idx", how="inner")
        .with_columns(
            pl.col("bhca").fill_null(0),
            pl.col("bhcc").fill_null(0),
            (pl.col("holding_seconds") / pl.col("bucket_seconds")).alias("erlangs"),
        )
        .group_by(buckets.key, "trunk_id")
        .agg(pl.all().sort_by(["erlangs", "bucket_start"], descending=[True, False]).first())
        .select(
            buckets.key,
            "trunk_id",
            pl.col("bucket_start").alias("busy_hour_start"),
            pl.col("bucket_start")
            .dt.convert_time_zone(buckets.zone)
            .dt.strftime("%Y-%m-%dT%H:%M:%S%:z")
            .alias("busy_hour_local"),
            pl.col("holding_seconds").alias("busy_hour_holding_seconds"),
            pl.col("erlangs").alias("busy_hour_erlangs"),
            pl.col("peak_concurrent_calls").alias("busy_hour_peak_concurrent_calls"),
            "bhca",
            "bhcc",
        )
        .sort(buckets.key, "trunk_id")
    )
