"""Media quality of answered calls from the export's MOS (``quality_hourly``/``quality_daily``).

MOS is the mean opinion score 1–5 of ITU-T P.800 (ACR scale: 5 excellent … 1 bad) as the
export estimates it; ``raw.call_details.mos`` is NULL when no media was measured. Only
**answered** calls (COMPLETED) with a measured MOS are scored: an unanswered call has no media.

Bands: the E-model user-satisfaction categories of ITU-T G.107 (Annex B, with G.109), R-factor
converted to MOS by G.107's formula: R ≥ 90 "very satisfied" = MOS ≥ 4.34; R 80–90
"satisfied" = 4.03–4.34; R 70–80 "some users dissatisfied" = 3.60–4.03; R 60–70 "many users
dissatisfied" = 3.10–3.60; R 50–60 "nearly all users dissatisfied" = 2.58–3.10; below, "not
recommended". Lower bounds are inclusive. **Poor** quality is MOS < 3.5 (the project's alarm
line, inside G.107's "many users dissatisfied" band, the threshold many carriers use);
``poor_mos_share`` = mos_below_3_5 / mos_calls.

Sums are exact: MOS is summed in units of 0.0001 as integers (the export sends two decimals),
so a re-run or the lake gives bit-identical rows; ``mos_sum`` and ``mos_sum_squares`` give the
mean and the standard deviation of any roll-up (``sqrt(ss/n − (s/n)²)``).

Columns (key ``hour_start`` Datetime UTC or ``report_date`` Date, ``trunk_id``, ``direction``):

=========================  =======  ==========================================================
column                     dtype    meaning
=========================  =======  ==========================================================
details_calls              Int64    calls with a ``raw.call_details`` row
answered_details           Int64    of which answered (COMPLETED)
mos_calls                  Int64    of which with a measured MOS (denominator of the means)
mos_sum                    Float64  Σ MOS of those calls
mos_sum_squares            Float64  Σ MOS²
mos_min                    Float64  lowest MOS (NULL without one)
mos_below_3_5              Int64    answered calls with MOS < 3.5 (poor)
mos_very_satisfied         Int64    MOS ≥ 4.34
mos_satisfied              Int64    4.03 ≤ MOS < 4.34
mos_some_dissatisfied      Int64    3.60 ≤ MOS < 4.03
mos_many_dissatisfied      Int64    3.10 ≤ MOS < 3.60
mos_nearly_all_dissatisfied Int64   2.58 ≤ MOS < 3.10
mos_not_recommended        Int64    MOS < 2.58
mos_avg                    Float64  mos_sum / mos_calls (NULL when 0)
poor_mos_share             Float64  mos_below_3_5 / mos_calls (NULL when 0)
=========================  =======  ==========================================================
"""

from __future__ import annotations

import polars as pl

from pipeline.transforms.buckets import Buckets
from pipeline.transforms.prepare import CallData

#: MOS below which an answered call counts as poor
POOR_MOS = 3.5
#: (column, lower bound inclusive, upper bound exclusive) of the G.107 bands
BANDS = (
    ("mos_very_satisfied", 4.34, None),
    ("mos_satisfied", 4.03, 4.34),
    ("mos_some_dissatisfied", 3.60, 4.03),
    ("mos_many_dissatisfied", 3.10, 3.60),
    ("mos_nearly_all_dissatisfied", 2.58, 3.10),
    ("mos_not_recommended", None, 2.58),
)
COLUMNS = (
    "details_calls",
    "answered_details",
    "mos_calls",
    "mos_sum",
    "mos_sum_squares",
    "mos_min",
    "mos_below_3_5",
    *(name for name, _lo, _hi in BANDS),
    "mos_avg",
    "poor_mos_share",
)
_SCALE = 10_000


def _count(cond: pl.Expr) -> pl.Expr:
    return cond.fill_null(False).sum().cast(pl.Int64)


def _band(lo: float | None, hi: float | None) -> pl.Expr:
    # bounds compared in the integer units the sums use, so 4.34 is exactly 43 400
    units = pl.col("mos_units")
    cond = units.is_not_null()
    if lo is not None:
        cond &= units >= round(lo * _SCALE)
    if hi is not None:
        cond &= units < round(hi * _SCALE)
    return _count(cond)


def quality(data: CallData, buckets: Buckets) -> pl.LazyFrame:
    """MOS distribution of answered calls per bucket, trunk and direction (module docstring).

    Args:
        data: calls created in the buckets, with ``details`` (None: no rows).
        buckets: UTC hours (key ``hour_start``) or local days (key ``report_date``).

    Returns:
        Key, ``trunk_id``, ``direction``, then :data:`COLUMNS`; one row per group with a
        details row, sorted by the keys.
    """
    keys = [buckets.key, "trunk_id", "direction"]
    scored = pl.col("answered") & pl.col("mos").is_not_null()
    units = pl.col("mos_units")
    return (
        data.with_details(*buckets.bounds)
        .filter(pl.col("has_details"))
        .with_columns(
            pl.when(scored)
            .then((pl.col("mos") * _SCALE).round(0).cast(pl.Int64))
            .alias("mos_units")
        )
        .group_by(buckets.key_of("create_time"), "trunk_id", "direction")
        .agg(
            pl.len().cast(pl.Int64).alias("details_calls"),
            _count(pl.col("answered")).alias("answered_details"),
            _count(units.is_not_null()).alias("mos_calls"),
            (units.sum() / _SCALE).alias("mos_sum"),
            ((units * units).sum() / _SCALE**2).alias("mos_sum_squares"),
            # the value itself: Polars divides by a constant as a product with its reciprocal
            # (25300 / 10000 -> 2.5300000000000002), which the sums tolerate, a minimum not
            pl.when(scored).then(pl.col("mos")).min().alias("mos_min"),
            _count(units < round(POOR_MOS * _SCALE)).alias("mos_below_3_5"),
            *(_band(lo, hi).alias(name) for name, lo, hi in BANDS),
        )
        .with_columns(
            pl.when(pl.col("mos_calls") > 0)
            .then(pl.col("mos_sum") / pl.col("mos_calls"))
            .alias("mos_avg"),
            pl.when(pl.col("mos_calls") > 0)
            .then(pl.col("mos_below_3_5") / pl.col("mos_calls"))
            .alias("poor_mos_share"),
        )
        .select(*keys, *COLUMNS)
        .sort(keys)
    )
