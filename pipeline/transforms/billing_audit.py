"""Billing audit per local day, trunk, direction, destination country and currency.

Three questions the call list answers by itself (``raw.calls``; no export needed):

1. **Billed vs conversation.** For answered calls with a known conversation (``conv_known``,
   :mod:`.prepare`): ``audited_billed_seconds`` vs ``audited_conversation_seconds``; billing
   overhead = billed ÷ conversation − 1 (kpi-definitions.md "MOU").
2. **Price vs list price.** A call's expected price is ``price_per_minute ×
   billing_duration_seconds ÷ 60``. Compared exactly in decimals as ``|60 × price −
   price_per_minute × billing_duration_seconds| > 60 × PRICE_TOLERANCE``, i.e. the price is
   off by more than **0.000001** (one unit of the 6th decimal, the precision ``price`` is
   stored in; exact arithmetic leaves no rounding to forgive beyond the expected price's own
   rounding to 6 decimals, < 0.0000005). Only calls with both amounts in the **same**
   currency are compared (``priced_calls``); others are counted in ``currency_mismatch``.
   Sums are per currency (never across currencies): ``cost`` = Σ price,
   ``expected_cost`` = Σ (price_per_minute × billed s) ÷ 60, rounded once to 6 decimals.
3. **Billing increment observed** (e.g. 60/60, 60/6, 6/6, 1/1: initial/subsequent seconds).
   Of the calls billed more than 0 s (``billed_calls``), ``billed_div_<n>`` count those whose
   billed seconds are a multiple of n (n in :data:`STEPS`), ``billed_below_60`` those under a
   minute and ``min_billed_seconds`` the least. The subsequent increment is the largest n
   dividing every billed duration (1 if none); the initial one is 60 when no call was billed
   under 60 s and the step is smaller, else the step. ``increment_observed`` is
   ``"<initial>/<step>"`` (NULL without billed calls). It is an inference: a 6/6 trunk whose
   calls all ran over a minute reads 60/6, and few calls prove little — read it with
   ``billed_calls``. Every input to it is a count or a minimum, so roll-ups re-derive it.

Destination country: the region of ``to_number`` by its E.164 prefix (:mod:`.destination`);
for INBOUND calls that is your own number's country. Calls without a price are still here
(currency ``'UNKNOWN'``), so the increment sees every billed call.

Columns: ``report_date`` (Date, local), ``trunk_id``, ``direction``, ``destination_country``,
``currency`` (String: ``price_currency``, else ``price_per_minute_currency``, else
``'UNKNOWN'``) — the keys — then :data:`COLUMNS`: ``calls``, ``billed_calls``,
``billed_seconds`` (Int64 s), ``audited_calls`` (Int64, answered with known conversation),
``audited_conversation_seconds`` (Float64 s), ``audited_billed_seconds`` (Int64 s),
``priced_calls`` (Int64), ``cost``, ``expected_cost`` (Decimal(38, 6)), ``price_mismatch``
(Int64, priced calls off by more than the tolerance), ``currency_mismatch`` (Int64),
``min_billed_seconds`` (Int64 s, NULL without billed calls), ``billed_below_60`` and
``billed_div_60`` … ``billed_div_6`` (Int64), ``increment_observed`` (String).
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from pipeline.transforms.buckets import Buckets
from pipeline.transforms.destination import country_of
from pipeline.transforms.prepare import UNKNOWN, CallData

#: largest difference between price and the list price's product not reported (currency units)
PRICE_TOLERANCE = Decimal("0.000001")
#: candidate subsequent increments (s), largest first
STEPS = (60, 30, 10, 6)
COLUMNS = (
    "calls",
    "billed_calls",
    "billed_seconds",
    "audited_calls",
    "audited_conversation_seconds",
    "audited_billed_seconds",
    "priced_calls",
    "cost",
    "expected_cost",
    "price_mismatch",
    "currency_mismatch",
    "min_billed_seconds",
    "billed_below_60",
    *(f"billed_div_{n}" for n in STEPS),
    "increment_observed",
)


def _count(cond: pl.Expr) -> pl.Expr:
    return cond.fill_null(False).sum().cast(pl.Int64)


def increment_label() -> pl.Expr:
    """``increment_observed`` from the rollable columns (module docstring, point 3)."""
    n = pl.col("billed_calls")
    step = pl.lit(1, pl.Int64)
    for size in reversed(STEPS):  # the largest dividing step wins: apply it last
        step = (
            pl.when(pl.col(f"billed_div_{size}") == n).then(pl.lit(size, pl.Int64)).otherwise(step)
        )
    initial = pl.when((pl.col("billed_below_60") == 0) & (step < 60)).then(60).otherwise(step)
    label = initial.cast(pl.String) + pl.lit("/") + step.cast(pl.String)
    return pl.when(n > 0).then(label)


def billing_audit(data: CallData, buckets: Buckets) -> pl.LazyFrame:
    """Billing audit rows per bucket, trunk, direction, country and currency (module docstring).

    Args:
        data: calls created in the buckets (others are ignored).
        buckets: local days (key ``report_date``) or UTC hours (key ``hour_start``).

    Returns:
        The module docstring's columns, sorted by the keys.
    """
    keys = [buckets.key, "trunk_id", "direction", "destination_country", "currency"]
    billed = pl.col("billing_duration_seconds")
    price, ppm = pl.col("price"), pl.col("price_per_minute")
    same = (
        price.is_not_null()
        & ppm.is_not_null()
        & (pl.col("price_currency") == pl.col("price_per_minute_currency"))
    ).fill_null(False)
    product = ppm * billed.fill_null(0)
    off = (price * 60 - product).abs() > PRICE_TOLERANCE * 60
    is_billed = (billed > 0).fill_null(False)
    return (
        data.created_in(*buckets.bounds)
        .with_columns(
            country_of("to_number").alias("destination_country"),
            pl.coalesce("price_currency", "price_per_minute_currency", pl.lit(UNKNOWN)).alias(
                "currency"
            ),
        )
        .group_by(buckets.key_of("create_time"), *keys[1:])
        .agg(
            pl.len().cast(pl.Int64).alias("calls"),
            _count(is_billed).alias("billed_calls"),
            billed.sum().cast(pl.Int64).alias("billed_seconds"),
            _count(pl.col("conv_known")).alias("audited_calls"),
            (pl.col("conv_us").filter(pl.col("conv_known")).sum() / 1_000_000).alias(
                "audited_conversation_seconds"
            ),
            billed.filter(pl.col("conv_known"))
            .sum()
            .cast(pl.Int64)
            .alias("audited_billed_seconds"),
            _count(same).alias("priced_calls"),
            price.filter(same).sum().cast(pl.Decimal(38, 6)).alias("cost"),
            (product.filter(same).sum() / 60).cast(pl.Decimal(38, 6)).alias("expected_cost"),
            _count(same & off).alias("price_mismatch"),
            _count(
                price.is_not_null()
                & ppm.is_not_null()
                & (pl.col("price_currency") != pl.col("price_per_minute_currency"))
            ).alias("currency_mismatch"),
            billed.filter(is_billed).min().cast(pl.Int64).alias("min_billed_seconds"),
            _count(is_billed & (billed < 60)).alias("billed_below_60"),
            *(_count(is_billed & (billed % n == 0)).alias(f"billed_div_{n}") for n in STEPS),
        )
        .with_columns(increment_label().alias("increment_observed"))
        .select(*keys, *COLUMNS)
        .sort(keys)
    )
