"""Exact channel occupancy per bucket: peak concurrent calls and Erlang-seconds (sweep line).

Definitions (kpi-definitions.md):

* **Peak concurrent calls** = ``max over t of count(calls with start <= t < end)``
  (POSSA/freepbx-Call-Statistics ``concurrentcalls.php`` definition). Intervals are half-open,
  so at equal timestamps ends are applied before starts: a call ending at 10:00:00 and one
  starting at 10:00:00 give 1, not 2 (pitfall i). Calls that started before the bucket and are
  still up count in it (pitfall ii). Groups are exact (pitfall iii).
* **Traffic intensity** ``A = Σ(holding ∩ bucket) / bucket length`` in Erlangs (ITU-T B.18 /
  E.600: the average number of simultaneously busy resources). Holding is channel occupancy
  ``[create_time, end_time)``, which includes ringing and failed seizures; each interval is
  clipped to the bucket, so a call crossing an hour contributes to both hours.

Algorithm (no Python UDFs): clip each interval to the window, emit ``+1`` at its start and
``-1`` at its end, add a ``0`` event at every bucket start for every group (it carries the level
of calls already up into the bucket), sum the deltas per ``(group, instant)`` (netting equal
timestamps is exactly "ends before starts"), sort, ``cum_sum`` per group. The level after an
instant holds until the group's next instant, so

* peak in a bucket = ``max(level)`` over the instants in ``[bucket_start, bucket_end)``, and
* Erlang-seconds in a bucket = ``Σ level × (next instant − instant)`` (bucket starts are
  instants, so no segment crosses a bucket edge).

Groups are mapped to a small integer id first; ties are netted by keeping only the level after
the last event of each ``(group, instant)`` (see the comments in :func:`occupancy`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl

from pipeline.transforms.calendar import UTC_DT, as_utc


def _bucket_index(col: str, starts: Sequence[datetime]) -> pl.Expr:
    """Index of the bucket (sorted ``starts``) containing ``col``: ``search_sorted`` − 1."""
    s = pl.Series("starts", [as_utc(x) for x in starts], dtype=UTC_DT)
    return (pl.lit(s).search_sorted(pl.col(col), side="right").cast(pl.Int64) - 1).alias(
        "bucket_idx"
    )


def occupancy(
    intervals: pl.LazyFrame,
    group_cols: Sequence[str],
    bucket_starts: Sequence[datetime],
    window_end: datetime,
    *,
    start_col: str = "create_time",
    end_col: str = "occ_end",
) -> pl.LazyFrame:
    """Peak concurrency and holding time per ``(group, bucket)``.

    ``intervals``: one row per call with ``group_cols``, ``start_col`` and ``end_col``
    (Datetime UTC; rows with NULL end are ignored). Buckets are ``[bucket_starts[i],
    bucket_starts[i+1])`` and the last one ends at ``window_end``; they must be contiguous and
    sorted. Intervals may start before the first bucket (crossing calls) and end after the last.

    Returns ``group_cols`` + ``bucket_idx`` (Int64, index into ``bucket_starts``),
    ``peak_concurrent_calls`` (Int64, calls), ``holding_seconds`` (Float64, s), only for
    buckets with positive holding time.
    """
    groups = list(group_cols)
    lo = pl.lit(as_utc(bucket_starts[0]), dtype=UTC_DT)
    hi = pl.lit(as_utc(window_end), dtype=UTC_DT)
    clipped = (
        intervals.filter(pl.col(end_col).is_not_null())
        .select(
            *groups,
            pl.max_horizontal(pl.col(start_col), lo).alias("s"),
            pl.min_horizontal(pl.col(end_col), hi).alias("e"),
        )
        .filter(pl.col("s") < pl.col("e"))
    )
    # Small integer id per group: sorting and comparing u32 is much cheaper than strings. The
    # ids must not depend on evaluation order: ``ids`` feeds three joins, and a plain
    # ``unique()`` may number the groups differently each time the sub-plan is evaluated.
    ids = clipped.select(groups).unique().sort(groups, nulls_last=True).with_row_index("gid")
    iv = clipped.join(ids, on=groups, how="inner", nulls_equal=True).select("gid", "s", "e")
    starts = pl.LazyFrame({"t": [as_utc(x) for x in bucket_starts]}, schema={"t": UTC_DT})
    events = pl.concat(
        [
            iv.select("gid", pl.col("s").alias("t"), pl.lit(1, pl.Int64).alias("d")),
            iv.select("gid", pl.col("e").alias("t"), pl.lit(-1, pl.Int64).alias("d")),
            ids.select("gid")
            .join(starts, how="cross")
            .with_columns(pl.lit(0, pl.Int64).alias("d")),
        ]
    )
    # Every group's deltas sum to 0 (each clipped interval has both events), so after sorting by
    # (gid, t) a global cum_sum equals the per-group one, and the level after a group's last
    # event is 0 (so its segment to the next group's first instant has zero area). Only the
    # level after the *last* event of an instant is a real state: intermediate values inside a
    # tie are dropped, which is exactly "ends before starts" (a tie nets to its sum).
    swept = (
        events.sort("gid", "t")
        .with_columns(
            pl.col("d").cum_sum().alias("level"),
            pl.col("t").shift(-1).alias("next_t"),
            pl.col("gid").shift(-1).alias("next_gid"),
        )
        .filter(
            (pl.col("t") < hi)
            & (
                pl.col("next_t").is_null()
                | (pl.col("next_t") != pl.col("t"))
                | (pl.col("next_gid") != pl.col("gid"))
            )
        )
        .with_columns(
            _bucket_index("t", bucket_starts),
            (pl.col("level") * (pl.col("next_t") - pl.col("t")).dt.total_microseconds())
            .fill_null(0)
            .alias("level_us"),
        )
    )
    return (
        swept.group_by("gid", "bucket_idx")
        .agg(
            pl.col("level").max().cast(pl.Int64).alias("peak_concurrent_calls"),
            (pl.col("level_us").sum() / 1_000_000).alias("holding_seconds"),
        )
        .filter(pl.col("holding_seconds") > 0)
        .join(ids, on="gid", how="inner")
        .select(*groups, "bucket_idx", "peak_concurrent_calls", "holding_seconds")
    )


def per_second_counts(
    calls: pl.LazyFrame,
    group_cols: Sequence[str],
    window_start: datetime,
    window_end: datetime,
    *,
    time_col: str = "create_time",
) -> pl.LazyFrame:
    """Calls created per whole UTC second: ``group_cols`` + ``sec`` (Datetime UTC) + ``n``
    (Int64), for calls with ``time_col`` in ``[window_start, window_end)``. Coarser groups are
    re-aggregated from this (``sum(n)``) instead of re-reading the calls."""
    lo = pl.lit(as_utc(window_start), dtype=UTC_DT)
    hi = pl.lit(as_utc(window_end), dtype=UTC_DT)
    return (
        calls.filter((pl.col(time_col) >= lo) & (pl.col(time_col) < hi))
        .group_by([*group_cols, pl.col(time_col).dt.truncate("1s").alias("sec")])
        .agg(pl.len().cast(pl.Int64).alias("n"))
    )


def peak_cps_from_counts(
    counts: pl.LazyFrame, group_cols: Sequence[str], bucket_starts: Sequence[datetime]
) -> pl.LazyFrame:
    """``max(n)`` per ``(group, bucket)`` from :func:`per_second_counts` rows (summed to
    ``group_cols`` first). Returns ``group_cols`` + ``bucket_idx`` + ``peak_cps`` (Int64)."""
    groups = list(group_cols)
    return (
        counts.group_by([*groups, "sec"])
        .agg(pl.col("n").sum())
        .with_columns(_bucket_index("sec", bucket_starts))
        .group_by([*groups, "bucket_idx"])
        .agg(pl.col("n").max().cast(pl.Int64).alias("peak_cps"))
    )


def peak_cps(
    calls: pl.LazyFrame,
    group_cols: Sequence[str],
    bucket_starts: Sequence[datetime],
    window_end: datetime,
    *,
    time_col: str = "create_time",
) -> pl.LazyFrame:
    """Peak calls per second: ``max over whole UTC seconds of count(create_time in it)``.

    Only calls with ``time_col`` in ``[bucket_starts[0], window_end)`` count. Returns
    ``group_cols`` + ``bucket_idx`` + ``peak_cps`` (Int64, calls started in one second).
    """
    counts = per_second_counts(calls, group_cols, bucket_starts[0], window_end, time_col=time_col)
    return peak_cps_from_counts(counts, group_cols, bucket_starts)


def occupancy_split(
    intervals: pl.LazyFrame,
    group_cols: Sequence[str],
    split_col: str,
    split_values: Sequence[str],
    bucket_starts: Sequence[datetime],
    window_end: datetime,
    *,
    start_col: str = "create_time",
    end_col: str = "occ_end",
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """:func:`occupancy` for ``group_cols`` and for ``group_cols + [split_col]`` in one sort.

    ``split_col`` must only hold values of ``split_values`` (rows with other values count in
    the group total only). The events are sorted once by (group, instant) and carry one delta
    column per split value; each level is a global ``cum_sum`` (every group nets to 0 in every
    column), ties are netted as in :func:`occupancy`.

    Returns ``(by_split, by_group)``: ``group_cols + [split_col]`` (resp. ``group_cols``) +
    ``bucket_idx`` + ``peak_concurrent_calls`` (Int64) + ``holding_seconds`` (Float64), rows
    with positive holding only.
    """
    groups = list(group_cols)
    values = list(split_values)
    lo = pl.lit(as_utc(bucket_starts[0]), dtype=UTC_DT)
    hi = pl.lit(as_utc(window_end), dtype=UTC_DT)
    clipped = (
        intervals.filter(pl.col(end_col).is_not_null())
        .select(
            *groups,
            split_col,
            pl.max_horizontal(pl.col(start_col), lo).alias("s"),
            pl.min_horizontal(pl.col(end_col), hi).alias("e"),
        )
        .filter(pl.col("s") < pl.col("e"))
    )
    ids = clipped.select(groups).unique().sort(groups, nulls_last=True).with_row_index("gid")
    iv = clipped.join(ids, on=groups, how="inner", nulls_equal=True).select(
        "gid",
        "s",
        "e",
        *((pl.col(split_col) == v).cast(pl.Int32).alias(f"k{i}") for i, v in enumerate(values)),
    )
    ks = [f"k{i}" for i in range(len(values))]
    starts = pl.LazyFrame({"t": [as_utc(x) for x in bucket_starts]}, schema={"t": UTC_DT})
    events = pl.concat(
        [
            iv.select("gid", pl.col("s").alias("t"), pl.lit(1, pl.Int32).alias("d"), *ks),
            iv.select(
                "gid",
                pl.col("e").alias("t"),
                pl.lit(-1, pl.Int32).alias("d"),
                *(-pl.col(k) for k in ks),
            ),
            ids.select("gid")
            .join(starts, how="cross")
            .with_columns(pl.lit(0, pl.Int32).alias(c) for c in ["d", *ks]),
        ]
    )
    levels = ["d", *ks]
    swept = (
        events.sort("gid", "t")
        .with_columns(
            *(pl.col(c).cum_sum().alias(c) for c in levels),
            pl.col("t").shift(-1).alias("next_t"),
            pl.col("gid").shift(-1).alias("next_gid"),
        )
        .filter(
            (pl.col("t") < hi)
            & (
                pl.col("next_t").is_null()
                | (pl.col("next_t") != pl.col("t"))
                | (pl.col("next_gid") != pl.col("gid"))
            )
        )
        .with_columns(
            _bucket_index("t", bucket_starts),
            (pl.col("next_t") - pl.col("t")).dt.total_microseconds().fill_null(0).alias("dt_us"),
        )
        .group_by("gid", "bucket_idx")
        .agg(
            *(pl.col(c).max().cast(pl.Int64).alias(f"peak_{c}") for c in levels),
            *(
                ((pl.col(c).cast(pl.Int64) * pl.col("dt_us")).sum() / 1_000_000).alias(f"hold_{c}")
                for c in levels
            ),
        )
    )
    by_group = (
        swept.filter(pl.col("hold_d") > 0)
        .join(ids, on="gid", how="inner")
        .select(
            *groups,
            "bucket_idx",
            pl.col("peak_d").alias("peak_concurrent_calls"),
            pl.col("hold_d").alias("holding_seconds"),
        )
    )
    by_split = pl.concat(
        [
            swept.filter(pl.col(f"hold_{k}") > 0).select(
                "gid",
                "bucket_idx",
                pl.lit(v, pl.String).alias(split_col),
                pl.col(f"peak_{k}").alias("peak_concurrent_calls"),
                pl.col(f"hold_{k}").alias("holding_seconds"),
            )
            for k, v in zip(ks, values, strict=True)
        ]
    )
    by_split = by_split.join(ids, on="gid", how="inner").select(
        *groups, split_col, "bucket_idx", "peak_concurrent_calls", "holding_seconds"
    )
    return by_split, by_group
