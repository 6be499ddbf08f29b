"""Exact channel occupancy per bucket: peak concurrent calls and Erlang-seconds (sweep line).

Definitions (``docs/kpi-definitions.md``, where pitfalls i-iii are explained):

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
the last event of each ``(group, instant)`` (see the comments in :func:`_sweep`). There is one
sweep (:func:`_sweep`): it carries one delta column for the whole group and one per value of an
optional split column, so :func:`occupancy` (groups only) and :func:`occupancy_split` (groups and
groups × split value, from the same sort) share it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl

from pipeline.transforms.calendar import UTC_DT, as_utc

#: delta (and level) column of the whole group in the sweep
_TOTAL = "d"


def bucket_index(col: str, starts: Sequence[datetime]) -> pl.Expr:
    """Index of the bucket holding the instant in ``col``, aliased ``bucket_idx``.

    Args:
        col: a Datetime UTC column.
        starts: sorted, aware bucket starts; bucket ``i`` is ``[starts[i], starts[i + 1])``.

    Returns:
        Int64 ``search_sorted(side="right") − 1``: −1 before the first start; the last bucket
        is open-ended, so callers filter instants to their window first.
    """
    s = pl.Series("starts", [as_utc(x) for x in starts], dtype=UTC_DT)
    return (pl.lit(s).search_sorted(pl.col(col), side="right").cast(pl.Int64) - 1).alias(
        "bucket_idx"
    )


def _sweep(
    intervals: pl.LazyFrame,
    groups: list[str],
    parts: dict[str, pl.Expr],
    bucket_starts: Sequence[datetime],
    window_end: datetime,
    columns: tuple[str, str],
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The sweep line: levels per ``(gid, bucket_idx)`` of each group and of parts of it.

    ``parts`` maps a level column name to a Boolean expression over ``intervals`` choosing the
    calls of that part of the group (e.g. one direction); ``columns`` are the interval's start
    and end columns. Returns ``(swept, ids)``: ``swept`` has ``gid``, ``bucket_idx`` and, per
    level column ``c`` in ``["d", *parts]``, ``peak_<c>`` (Int64 calls) and ``hold_<c>``
    (Float64 s); ``ids`` maps ``groups`` to ``gid``.
    """
    start_col, end_col = columns
    lo = pl.lit(as_utc(bucket_starts[0]), dtype=UTC_DT)
    hi = pl.lit(as_utc(window_end), dtype=UTC_DT)
    ks = list(parts)
    clipped = (
        intervals.filter(pl.col(end_col).is_not_null())
        .select(
            *groups,
            *(part.cast(pl.Int32).alias(k) for k, part in parts.items()),
            pl.max_horizontal(pl.col(start_col), lo).alias("s"),
            pl.min_horizontal(pl.col(end_col), hi).alias("e"),
        )
        .filter(pl.col("s") < pl.col("e"))
    )
    # Small integer id per group: sorting and comparing u32 is much cheaper than strings. The
    # ids must not depend on evaluation order: ``ids`` feeds several joins, and a plain
    # ``unique()`` may number the groups differently each time the sub-plan is evaluated.
    ids = clipped.select(groups).unique().sort(groups, nulls_last=True).with_row_index("gid")
    iv = clipped.join(ids, on=groups, how="inner", nulls_equal=True).select("gid", "s", "e", *ks)
    starts = pl.LazyFrame({"t": [as_utc(x) for x in bucket_starts]}, schema={"t": UTC_DT})
    levels = [_TOTAL, *ks]
    events = pl.concat(
        [
            iv.select("gid", pl.col("s").alias("t"), pl.lit(1, pl.Int32).alias(_TOTAL), *ks),
            iv.select(
                "gid",
                pl.col("e").alias("t"),
                pl.lit(-1, pl.Int32).alias(_TOTAL),
                *(-pl.col(k) for k in ks),
            ),
            ids.select("gid")
            .join(starts, how="cross")
            .with_columns(pl.lit(0, pl.Int32).alias(c) for c in levels),
        ]
    )
    # Every group's deltas sum to 0 in every column (each clipped interval has both events), so
    # after sorting by (gid, t) a global cum_sum equals the per-group one, and the level after a
    # group's last event is 0 (so its segment to the next group's first instant has zero area).
    # Only the level after the *last* event of an instant is a real state: intermediate values
    # inside a tie are dropped, which is exactly "ends before starts" (a tie nets to its sum).
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
            bucket_index("t", bucket_starts),
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
    return swept, ids


def _level_rows(swept: pl.LazyFrame, level: str, *extra: pl.Expr) -> pl.LazyFrame:
    """Rows of one level column of :func:`_sweep` with positive holding.

    Columns: ``gid``, ``bucket_idx``, ``extra``, ``peak_concurrent_calls`` (Int64),
    ``holding_seconds`` (Float64 s).
    """
    return swept.filter(pl.col(f"hold_{level}") > 0).select(
        "gid",
        "bucket_idx",
        *extra,
        pl.col(f"peak_{level}").alias("peak_concurrent_calls"),
        pl.col(f"hold_{level}").alias("holding_seconds"),
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

    Buckets are ``[bucket_starts[i], bucket_starts[i+1])`` and the last one ends at
    ``window_end``; they must be contiguous and sorted. Intervals may start before the first
    bucket (crossing calls) and end after the last.

    Args:
        intervals: one row per call with ``group_cols``, ``start_col`` and ``end_col``
            (Datetime UTC; rows with a NULL end are ignored).
        group_cols: the columns of a group (e.g. ``["trunk_id"]``).
        bucket_starts: sorted, aware bucket starts.
        window_end: end of the last bucket (aware).
        start_col: start of each interval (inclusive).
        end_col: end of each interval (exclusive).

    Returns:
        ``group_cols`` + ``bucket_idx`` (Int64, index into ``bucket_starts``),
        ``peak_concurrent_calls`` (Int64, calls), ``holding_seconds`` (Float64, s), only for
        buckets with positive holding time.
    """
    groups = list(group_cols)
    swept, ids = _sweep(intervals, groups, {}, bucket_starts, window_end, (start_col, end_col))
    return (
        _level_rows(swept, _TOTAL)
        .join(ids, on="gid", how="inner")
        .select(*groups, "bucket_idx", "peak_concurrent_calls", "holding_seconds")
    )


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

    The events are sorted once by (group, instant) and carry one delta column per split value;
    each level is a global ``cum_sum`` (every group nets to 0 in every column), ties are netted
    as in :func:`occupancy`.

    Args:
        intervals: as for :func:`occupancy`, plus ``split_col``.
        group_cols: the columns of a group (e.g. ``["trunk_id"]``).
        split_col: the column splitting a group (e.g. ``direction``); rows whose value is not
            in ``split_values`` count in the group total only.
        split_values: the values of ``split_col`` to report.
        bucket_starts: sorted, aware bucket starts.
        window_end: end of the last bucket (aware).
        start_col: start of each interval (inclusive).
        end_col: end of each interval (exclusive).

    Returns:
        ``(by_split, by_group)``: ``group_cols + [split_col]`` (resp. ``group_cols``) +
        ``bucket_idx`` + ``peak_concurrent_calls`` (Int64) + ``holding_seconds`` (Float64 s),
        rows with positive holding only.
    """
    groups = list(group_cols)
    parts = {f"k{i}": pl.col(split_col) == v for i, v in enumerate(split_values)}
    swept, ids = _sweep(intervals, groups, parts, bucket_starts, window_end, (start_col, end_col))
    by_group = (
        _level_rows(swept, _TOTAL)
        .join(ids, on="gid", how="inner")
        .select(*groups, "bucket_idx", "peak_concurrent_calls", "holding_seconds")
    )
    by_split = pl.concat(
        [
            _level_rows(swept, k, pl.lit(v, pl.String).alias(split_col))
            for k, v in zip(parts, split_values, strict=True)
        ]
    )
    by_split = by_split.join(ids, on="gid", how="inner").select(
        *groups, split_col, "bucket_idx", "peak_concurrent_calls", "holding_seconds"
    )
    return by_split, by_group


def per_second_counts(
    calls: pl.LazyFrame,
    group_cols: Sequence[str],
    window_start: datetime,
    window_end: datetime,
    *,
    time_col: str = "create_time",
) -> pl.LazyFrame:
    """Calls created per whole UTC second (the base of peak CPS).

    Coarser groups are re-aggregated from this (``sum(n)``) instead of re-reading the calls.

    Args:
        calls: one row per call with ``group_cols`` and ``time_col`` (Datetime UTC).
        group_cols: the columns of a group.
        window_start: first instant counted (aware).
        window_end: end instant (exclusive, aware).
        time_col: the instant counted.

    Returns:
        ``group_cols`` + ``sec`` (Datetime UTC, the whole second) + ``n`` (Int64, calls).
    """
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
    """Peak calls per second per ``(group, bucket)``: ``max(n)`` over the bucket's seconds.

    Args:
        counts: :func:`per_second_counts` rows, of ``group_cols`` or a finer group (summed to
            ``group_cols`` first).
        group_cols: the columns of a group.
        bucket_starts: sorted, aware bucket starts (the counts lie within the buckets).

    Returns:
        ``group_cols`` + ``bucket_idx`` (Int64) + ``peak_cps`` (Int64, calls started in one
        whole UTC second).
    """
    groups = list(group_cols)
    return (
        counts.group_by([*groups, "sec"])
        .agg(pl.col("n").sum())
        .with_columns(bucket_index("sec", bucket_starts))
        .group_by([*groups, "bucket_idx"])
        .agg(pl.col("n").max().cast(pl.Int64).alias("peak_cps"))
    )
