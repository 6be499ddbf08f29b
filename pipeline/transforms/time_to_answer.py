"""Time to answer of inbound answered calls (``time_to_answer_hourly``), from the call list.

``tta = answer_time − create_time`` for **INBOUND** calls that are answered (COMPLETED) and have
an ``answer_time`` at or after ``create_time``. For an inbound call Sinch creates the record
when the INVITE arrives and the PBX answers after ringing, so this is how long callers ring
before your side picks up (a service level). It is *not* PDD (no ringing timestamp; see
docs/kpi-definitions.md "PDD"); outbound calls are left out because their time to answer is
the far end's PDD plus ring time.

Stored as sums and counts (rule 1: never average averages): ``tta_seconds`` / ``tta_calls`` is
the mean of any roll-up. Percentiles do not roll up, so each row carries cumulative histogram
counts (``tta_le_<n>s``: calls answered within n seconds; roll-ups sum them and read a
percentile off the first bound reaching it) and the hour's own exact 90th percentile
(nearest-rank: the ⌈0.9·n⌉-th smallest value; for that hour only, never averaged).

Columns: ``hour_start`` (Datetime UTC, hour of ``create_time``), ``trunk_id`` (String; keys:
only INBOUND calls, so no direction column); ``tta_calls`` (Int64), ``tta_seconds`` (Float64
s, Σ tta, exact integer-µs sum), ``tta_max_seconds`` (Float64 s), ``tta_p90_seconds`` (Float64
s), then :data:`BOUNDS` as ``tta_le_3s`` … ``tta_le_60s`` (Int64, tta ≤ bound). One row per
hour and trunk with such a call.
"""

from __future__ import annotations

import polars as pl

from pipeline.transforms.buckets import Buckets
from pipeline.transforms.prepare import CallData

#: histogram bounds (s), cumulative: ``tta_le_<b>s`` counts calls answered within ``b`` s
BOUNDS = (3, 6, 10, 20, 30, 60)
COLUMNS = (
    "tta_calls",
    "tta_seconds",
    "tta_max_seconds",
    "tta_p90_seconds",
    *(f"tta_le_{b}s" for b in BOUNDS),
)


def time_to_answer(data: CallData, buckets: Buckets) -> pl.LazyFrame:
    """Time to answer of inbound answered calls per bucket and trunk (module docstring).

    Args:
        data: calls created in the buckets (others are ignored).
        buckets: UTC hours (key ``hour_start``) or local days (key ``report_date``).

    Returns:
        Key, ``trunk_id``, then :data:`COLUMNS`, sorted by the keys.
    """
    keys = [buckets.key, "trunk_id"]
    tta = pl.col("tta_us")
    rank = (pl.len() * 9 + 9) // 10  # ⌈0.9·n⌉ in integers (no float rounding at n = 10k)
    return (
        data.created_in(*buckets.bounds)
        .filter(
            (pl.col("direction") == "INBOUND")
            & pl.col("answered")
            & (pl.col("answer_time") >= pl.col("create_time"))
        )
        .with_columns(
            (pl.col("answer_time") - pl.col("create_time")).dt.total_microseconds().alias("tta_us")
        )
        .group_by(buckets.key_of("create_time"), "trunk_id")
        .agg(
            pl.len().cast(pl.Int64).alias("tta_calls"),
            (tta.sum() / 1_000_000).alias("tta_seconds"),
            (tta.max() / 1_000_000).alias("tta_max_seconds"),
            (tta.sort().get(rank.cast(pl.Int64) - 1) / 1_000_000).alias("tta_p90_seconds"),
            *((tta <= b * 1_000_000).sum().cast(pl.Int64).alias(f"tta_le_{b}s") for b in BOUNDS),
        )
        .select(*keys, *COLUMNS)
        .sort(keys)
    )
