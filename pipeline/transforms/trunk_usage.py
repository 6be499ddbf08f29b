"""Trunk usage per bucket, trunk and direction (``trunk_usage_hourly``, ``trunk_usage_daily``).

Definitions (``docs/kpi-definitions.md``):

* attempts = distinct call_id; answered = COMPLETED; both attributed to the bucket of
  ``create_time`` (like MOU, billed minutes);
* **MOU** = Σ conversation / 60, conversation ``= end_time − answer_time`` of answered calls
  (never raw ``duration_seconds``); billed minutes = Σ billing_duration_seconds / 60
  (Bandwidth "minutes of use", CGRateS ``*tcd``);
* **ACD** = Σ conversation ÷ ``acd_calls`` (project choice: the *answered* denominator, as
  CGRateS ``*acd``/Yeti; not CDR-Stats' all-calls denominator), where ``acd_calls`` are the
  answered calls whose conversation is known (``answer_time`` and ``end_time`` present): an
  answered call without ``answer_time`` is in neither the numerator nor the denominator (it is
  counted in ``answer_time_mismatch`` and is still answered for ASR). Numerator and denominator
  are stored;
* **Erlangs** = Σ (holding ∩ bucket) ÷ bucket length (ITU-T B.18/E.600), holding =
  ``[create_time, end_time)`` clipped to the bucket (see :mod:`.concurrency`), ``end_time``
  capped at ``create_time + MAX_CALL_DURATION`` (:mod:`.prepare`). For a daily bucket the
  length is the real local day: 82 800 s / 86 400 s / 90 000 s on DST days;
* **peak concurrent calls**: exact sweep line, ends before starts, crossing calls counted
  (:mod:`.concurrency`);
* **peak CPS** = max over whole seconds of calls created in that second; **CPS utilisation** =
  trunk peak CPS ÷ the trunk's ``calls_per_second`` (Sinch trunk resource; the limit applies to
  the trunk, so utilisation uses the trunk-wide peak);

Channels are shared by both directions, so the table carries two levels, both explicit:
per-direction values (``erlangs``, ``peak_concurrent_calls``, ``peak_cps``: additive only for
``holding_seconds``/``erlangs``) and trunk-wide values repeated on each direction row of the
trunk and bucket (``trunk_*``, ``cps_*``; never sum these over directions).

In-progress calls (NULL ``end_time``): with ``as_of`` they occupy a channel until ``as_of``;
without it they are left out of occupancy (Erlangs, concurrency) and only counted as attempts
and in ``in_progress``.

Input needed for buckets ``[b0, b1)``: calls with ``create_time < b1`` and ``end_time > b0``, i.e.
``create_time`` in ``[b0 − MAX_CALL_DURATION, b1)`` (:func:`.calendar.input_range`). Calls created
before ``b0`` only contribute occupancy, never counts.

The busy hour is in :mod:`.busy_hour`.

Output columns (key: hourly ``hour_start`` Datetime UTC, daily ``report_date`` Date local), then
``trunk_id``, ``direction`` (String) and:

=============================  =========  ====================================================
column                         dtype      meaning (unit)
=============================  =========  ====================================================
bucket_seconds                 Int64      bucket length (s): 3600, or 82 800/86 400/90 000
attempts                       Int64      calls created in the bucket (distinct call_id)
answered                       Int64      of which COMPLETED
in_progress                    Int64      of which without end_time
conversation_seconds           Float64    Σ conversation (s) of answered calls created in the bucket
mou                            Float64    conversation_seconds / 60 (min)
billed_seconds                 Int64      Σ billing_duration_seconds (s)
billed_minutes                 Float64    billed_seconds / 60 (min)
acd_seconds                    Float64    conversation_seconds / acd_calls (s); NULL if 0
holding_seconds                Float64    Σ occupancy ∩ bucket (s), this direction
erlangs                        Float64    holding_seconds / bucket_seconds (E)
peak_concurrent_calls          Int64      max simultaneous calls, this direction
peak_cps                       Int64      max calls created in one second, this direction
trunk_holding_seconds          Float64    Σ occupancy ∩ bucket (s), whole trunk
trunk_erlangs                  Float64    trunk_holding_seconds / bucket_seconds (E)
trunk_peak_concurrent_calls    Int64      max simultaneous calls, whole trunk
trunk_peak_cps                 Int64      max calls created in one second, whole trunk
cps_limit                      Int64      trunk calls_per_second (NULL if unknown)
cps_utilisation                Float64    trunk_peak_cps / cps_limit
acd_calls                      Int64      answered calls with a known conversation (ACD denominator)
=============================  =========  ====================================================
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from pipeline.transforms.buckets import Buckets
from pipeline.transforms.calendar import UTC_DT
from pipeline.transforms.concurrency import (
    bucket_index,
    occupancy_split,
    peak_cps_from_counts,
    per_second_counts,
)
from pipeline.transforms.prepare import DIRECTIONS, CallData, in_range, volume

COLUMNS = (
    "bucket_seconds",
    "attempts",
    "answered",
    "in_progress",
    "conversation_seconds",
    "mou",
    "billed_seconds",
    "billed_minutes",
    "acd_seconds",
    "holding_seconds",
    "erlangs",
    "peak_concurrent_calls",
    "peak_cps",
    "trunk_holding_seconds",
    "trunk_erlangs",
    "trunk_peak_concurrent_calls",
    "trunk_peak_cps",
    "cps_limit",
    "cps_utilisation",
    "acd_calls",
)
_DIR_KEYS = ["bucket_idx", "trunk_id", "direction"]
_TRUNK_KEYS = ["bucket_idx", "trunk_id"]
_ZERO_INT = (
    "attempts",
    "answered",
    "acd_calls",
    "in_progress",
    "billed_seconds",
    "peak_concurrent_calls",
    "peak_cps",
    "trunk_peak_concurrent_calls",
    "trunk_peak_cps",
)
_ZERO_FLOAT = ("conversation_seconds", "holding_seconds", "trunk_holding_seconds")


def cps_limits(trunks: pl.LazyFrame | None) -> pl.LazyFrame:
    """Calls-per-second limit of each trunk.

    Args:
        trunks: ``raw.trunks`` rows (``trunk_id``, ``calls_per_second``), or None (unknown).

    Returns:
        ``trunk_id`` (String), ``cps_limit`` (Int64); one row per trunk is expected, and the
        highest limit wins if there are more.
    """
    if trunks is None:
        return pl.LazyFrame(schema={"trunk_id": pl.String, "cps_limit": pl.Int64})
    return trunks.group_by("trunk_id").agg(
        pl.col("calls_per_second").max().cast(pl.Int64).alias("cps_limit")
    )


def bucket_table(frame: pl.DataFrame) -> pl.LazyFrame:
    """A bucket frame (:meth:`.buckets.Buckets.frame`) with ``bucket_idx`` (Int64, row index)."""
    return (
        frame.lazy().with_row_index("bucket_idx").with_columns(pl.col("bucket_idx").cast(pl.Int64))
    )


def occupancy_calls(
    data: CallData, frame: pl.DataFrame, bounds: tuple[datetime, datetime]
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The calls an occupancy table reads, for the buckets of ``frame`` within ``bounds``.

    Args:
        data: the calls (with up to ``MAX_CALL_DURATION`` of lookback).
        frame: bucket rows (``bucket_start`` sorted, :meth:`.buckets.Buckets.frame`).
        bounds: UTC instants ``[start of the first bucket, end of the last)``.

    Returns:
        ``(up, created)``: ``up`` = :meth:`.prepare.CallData.prepared` rows created before
        the end (they may occupy a channel in a bucket); ``created`` = those created in the
        buckets, with ``bucket_idx`` (Int64, row of ``frame``): the ones counted as attempts.
    """
    lo, hi = bounds
    up = data.prepared().filter(pl.col("create_time") < pl.lit(hi, dtype=UTC_DT))
    created = up.filter(in_range("create_time", lo, hi)).with_columns(
        bucket_index("create_time", frame["bucket_start"].to_list())
    )
    return up, created


def trunk_usage(data: CallData, buckets: Buckets) -> pl.LazyFrame:
    """Trunk usage per bucket, trunk and direction (module docstring: definitions, columns).

    A row exists for every (bucket, trunk, direction) with an attempt or with channel
    occupancy. For local days ``bucket_seconds`` is the real length of the day (23 h/25 h on
    DST changes), so ``erlangs`` is the day's average occupancy and peaks are over the day.

    Args:
        data: calls created in the buckets and up to :data:`.calendar.MAX_CALL_DURATION` before
            them (they only add occupancy); ``trunks`` for ``cps_limit``; ``as_of`` for calls
            still in progress (else left out of occupancy).
        buckets: UTC hours (key ``hour_start``) or local days (key ``report_date``).

    Returns:
        Key, ``trunk_id``, ``direction``, then :data:`COLUMNS`, sorted by the first three.
    """
    frame = buckets.frame()
    starts = frame["bucket_start"].to_list()
    lo, hi = buckets.bounds
    prepared, created = occupancy_calls(data, frame, (lo, hi))
    counts = created.group_by(_DIR_KEYS).agg(
        *volume("attempts"), pl.col("in_progress").sum().cast(pl.Int64).alias("in_progress")
    )
    occ_dir, occ_trunk = occupancy_split(
        prepared, ["trunk_id"], "direction", DIRECTIONS, starts, hi
    )
    occ_trunk = occ_trunk.rename(
        {
            "peak_concurrent_calls": "trunk_peak_concurrent_calls",
            "holding_seconds": "trunk_holding_seconds",
        }
    )
    per_sec = per_second_counts(prepared, ["trunk_id", "direction"], lo, hi)
    cps_dir = peak_cps_from_counts(per_sec, ["trunk_id", "direction"], starts)
    cps_trunk = peak_cps_from_counts(per_sec, ["trunk_id"], starts).rename(
        {"peak_cps": "trunk_peak_cps"}
    )
    return (
        counts.join(occ_dir, on=_DIR_KEYS, how="full", coalesce=True)
        .join(cps_dir, on=_DIR_KEYS, how="left")
        .join(occ_trunk, on=_TRUNK_KEYS, how="left")
        .join(cps_trunk, on=_TRUNK_KEYS, how="left")
        .join(bucket_table(frame), on="bucket_idx", how="inner")
        .join(cps_limits(data.trunks), on="trunk_id", how="left")
        .with_columns(
            *(pl.col(c).fill_null(0) for c in _ZERO_INT),
            *(pl.col(c).fill_null(0.0) for c in _ZERO_FLOAT),
        )
        .with_columns(
            (pl.col("conversation_seconds") / 60).alias("mou"),
            (pl.col("billed_seconds") / 60).alias("billed_minutes"),
            pl.when(pl.col("acd_calls") > 0)
            .then(pl.col("conversation_seconds") / pl.col("acd_calls"))
            .alias("acd_seconds"),
            (pl.col("holding_seconds") / pl.col("bucket_seconds")).alias("erlangs"),
            (pl.col("trunk_holding_seconds") / pl.col("bucket_seconds")).alias("trunk_erlangs"),
            pl.when(pl.col("cps_limit") > 0)
            .then(pl.col("trunk_peak_cps") / pl.col("cps_limit"))
            .alias("cps_utilisation"),
        )
        .select(buckets.key, "trunk_id", "direction", *COLUMNS)
        .sort([buckets.key, "trunk_id", "direction"])
    )
