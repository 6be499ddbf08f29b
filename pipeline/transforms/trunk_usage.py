"""Trunk usage per bucket, trunk and direction; busy hour per local day and trunk.

Definitions (kpi-definitions.md):

* attempts = distinct call_id; answered = COMPLETED; both attributed to the bucket of
  ``create_time`` (like MOU, billed minutes);
* **MOU** = Σ conversation / 60, conversation ``= end_time − answer_time`` of answered calls
  (never raw ``duration_seconds``); billed minutes = Σ billing_duration_seconds / 60
  (Bandwidth "minutes of use", CGRateS ``*tcd``);
* **ACD** = Σ conversation ÷ answered (project choice: the *answered* denominator, as CGRateS
  ``*acd``/Yeti; not CDR-Stats' all-calls denominator). Numerator and denominator are stored;
* **Erlangs** = Σ (holding ∩ bucket) ÷ bucket length (ITU-T B.18/E.600), holding =
  ``[create_time, end_time)`` clipped to the bucket (see :mod:`.concurrency`), ``end_time``
  capped at ``create_time + MAX_CALL_DURATION`` (:mod:`.prepare`). For a daily bucket the
  length is the real local day: 82 800 s / 86 400 s / 90 000 s on DST days;
* **peak concurrent calls**: exact sweep line, ends before starts, crossing calls counted
  (:mod:`.concurrency`);
* **peak CPS** = max over whole seconds of calls created in that second; **CPS utilisation** =
  trunk peak CPS ÷ the trunk's ``calls_per_second`` (Sinch trunk resource; the limit applies to
  the trunk, so utilisation uses the trunk-wide peak);
* **busy hour** (ITU-T E.500): the local clock hour of the report time zone with the highest
  trunk Erlangs that day (ties: earliest); **BHCA** = attempts created in that hour, BHCC =
  answered ones.

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
acd_seconds                    Float64    conversation_seconds / answered (s); NULL if 0
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
=============================  =========  ====================================================
"""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

from pipeline.transforms.calendar import (
    check_hour_window,
    hour_buckets,
    local_day_buckets,
    local_hour_buckets,
)
from pipeline.transforms.concurrency import (
    bucket_index,
    occupancy,
    occupancy_split,
    peak_cps_from_counts,
    per_second_counts,
)
from pipeline.transforms.prepare import DIRECTIONS, in_range, prepare_calls

KEYS_HOURLY = ("hour_start", "trunk_id", "direction")
KEYS_DAILY = ("report_date", "trunk_id", "direction")
KEYS_BUSY_HOUR = ("report_date", "trunk_id")

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
)


def _cps_limits(trunks: pl.LazyFrame | None) -> pl.LazyFrame:
    """``trunk_id`` → ``cps_limit`` (Int64). One row per trunk expected; the highest wins."""
    if trunks is None:
        return pl.LazyFrame(schema={"trunk_id": pl.String, "cps_limit": pl.Int64})
    return trunks.group_by("trunk_id").agg(
        pl.col("calls_per_second").max().cast(pl.Int64).alias("cps_limit")
    )


def _usage(
    calls: pl.LazyFrame,
    trunks: pl.LazyFrame | None,
    buckets: pl.DataFrame,
    key: str,
    as_of: datetime | None,
    dedupe: bool,
) -> pl.LazyFrame:
    starts = buckets["bucket_start"].to_list()
    lo, hi = starts[0], buckets["bucket_end"][-1]
    prepared = prepare_calls(calls, as_of=as_of, dedupe=dedupe).filter(
        pl.col("create_time") < pl.lit(hi, dtype=pl.Datetime("us", "UTC"))
    )
    in_window = prepared.filter(in_range("create_time", lo, hi))
    dir_keys = ["bucket_idx", "trunk_id", "direction"]

    counts = (
        in_window.with_columns(bucket_index("create_time", starts))
        .group_by(dir_keys)
        .agg(
            pl.len().cast(pl.Int64).alias("attempts"),
            pl.col("answered").sum().cast(pl.Int64).alias("answered"),
            pl.col("in_progress").sum().cast(pl.Int64).alias("in_progress"),
            (pl.col("conv_us").sum() / 1_000_000).alias("conversation_seconds"),
            pl.col("billing_duration_seconds").sum().cast(pl.Int64).alias("billed_seconds"),
        )
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
    bucket_frame = (
        buckets.lazy()
        .with_row_index("bucket_idx")
        .with_columns(pl.col("bucket_idx").cast(pl.Int64))
    )
    zero_int = [
        "attempts",
        "answered",
        "in_progress",
        "billed_seconds",
        "peak_concurrent_calls",
        "peak_cps",
        "trunk_peak_concurrent_calls",
        "trunk_peak_cps",
    ]
    zero_float = ["conversation_seconds", "holding_seconds", "trunk_holding_seconds"]
    return (
        counts.join(occ_dir, on=dir_keys, how="full", coalesce=True)
        .join(cps_dir, on=dir_keys, how="left")
        .join(occ_trunk, on=["bucket_idx", "trunk_id"], how="left")
        .join(cps_trunk, on=["bucket_idx", "trunk_id"], how="left")
        .join(bucket_frame, on="bucket_idx", how="inner")
        .join(_cps_limits(trunks), on="trunk_id", how="left")
        .with_columns(
            *(pl.col(c).fill_null(0) for c in zero_int),
            *(pl.col(c).fill_null(0.0) for c in zero_float),
        )
        .with_columns(
            (pl.col("conversation_seconds") / 60).alias("mou"),
            (pl.col("billed_seconds") / 60).alias("billed_minutes"),
            pl.when(pl.col("answered") > 0)
            .then(pl.col("conversation_seconds") / pl.col("answered"))
            .alias("acd_seconds"),
            (pl.col("holding_seconds") / pl.col("bucket_seconds")).alias("erlangs"),
            (pl.col("trunk_holding_seconds") / pl.col("bucket_seconds")).alias("trunk_erlangs"),
            pl.when(pl.col("cps_limit") > 0)
            .then(pl.col("trunk_peak_cps") / pl.col("cps_limit"))
            .alias("cps_utilisation"),
        )
        .select(key, "trunk_id", "direction", *COLUMNS)
        .sort([key, "trunk_id", "direction"])
    )


def trunk_usage_hourly(
    calls: pl.LazyFrame,
    trunks: pl.LazyFrame | None = None,
    *,
    start: datetime,
    end: datetime,
    as_of: datetime | None = None,
    dedupe: bool = False,
) -> pl.LazyFrame:
    """Trunk usage per UTC hour in ``[start, end)`` (whole hours), trunk and direction.

    ``calls``: ``raw.calls`` columns (see :mod:`.prepare`), including calls created up to
    :data:`.calendar.MAX_CALL_DURATION` before ``start``. ``trunks``: ``trunk_id``,
    ``calls_per_second``. ``as_of``: end assumed for in-progress calls (else excluded from
    occupancy). A row exists for every (hour, trunk, direction) with an attempt or with
    channel occupancy. Columns: see module docstring.
    """
    start, end = check_hour_window(start, end)
    buckets = hour_buckets(start, end).rename({"bucket_start": "hour_start"})
    buckets = buckets.with_columns(pl.col("hour_start").alias("bucket_start"))
    return _usage(calls, trunks, buckets, "hour_start", as_of, dedupe)


def trunk_usage_daily(
    calls: pl.LazyFrame,
    trunks: pl.LazyFrame | None = None,
    *,
    report_tz: str,
    start_date: date,
    end_date: date,
    as_of: datetime | None = None,
    dedupe: bool = False,
) -> pl.LazyFrame:
    """Trunk usage per local date ``[start_date, end_date)`` of ``report_tz``, trunk, direction.

    Same columns as :func:`trunk_usage_hourly` with ``report_date`` (Date) as the bucket key;
    ``bucket_seconds`` is the real length of the local day (23 h/25 h on DST changes), so
    ``erlangs`` is the day's average occupancy. Peaks are over the whole local day.
    """
    buckets = local_day_buckets(start_date, end_date, report_tz)
    return _usage(calls, trunks, buckets, "report_date", as_of, dedupe)


def busy_hour_daily(
    calls: pl.LazyFrame,
    trunks: pl.LazyFrame | None = None,
    *,
    report_tz: str,
    start_date: date,
    end_date: date,
    as_of: datetime | None = None,
    dedupe: bool = False,
) -> pl.LazyFrame:
    """Busy hour (ITU-T E.500) per local date of ``report_tz`` and trunk (both directions).

    Buckets are the local clock hours of each day (23/24/25 of them); the busy hour is the one
    with the highest trunk Erlangs (ties: the earliest). Days where the trunk had no occupancy
    have no row. Keyed by ``(report_date, trunk_id)`` only: the busy hour sizes the trunk's
    shared channels, so it is not split by direction.

    Columns: ``report_date`` (Date), ``trunk_id`` (String), ``busy_hour_start`` (Datetime UTC:
    the instant the local hour starts), ``busy_hour_local`` (String, local start with offset,
    e.g. ``2026-10-25T02:00:00+01:00`` — distinguishes the repeated fall-back hour),
    ``busy_hour_holding_seconds`` (Float64 s), ``busy_hour_erlangs`` (Float64 E = holding / 3600),
    ``busy_hour_peak_concurrent_calls`` (Int64), ``bhca`` (Int64, attempts created in the hour),
    ``bhcc`` (Int64, of which answered).
    """
    buckets = local_hour_buckets(start_date, end_date, report_tz)
    starts = buckets["bucket_start"].to_list()
    lo, hi = starts[0], buckets["bucket_end"][-1]
    prepared = prepare_calls(calls, as_of=as_of, dedupe=dedupe).filter(
        pl.col("create_time") < pl.lit(hi, dtype=pl.Datetime("us", "UTC"))
    )
    counts = (
        prepared.filter(in_range("create_time", lo, hi))
        .with_columns(bucket_index("create_time", starts))
        .group_by("bucket_idx", "trunk_id")
        .agg(
            pl.len().cast(pl.Int64).alias("bhca"),
            pl.col("answered").sum().cast(pl.Int64).alias("bhcc"),
        )
    )
    bucket_frame = (
        buckets.lazy()
        .with_row_index("bucket_idx")
        .with_columns(pl.col("bucket_idx").cast(pl.Int64))
    )
    return (
        occupancy(prepared, ["trunk_id"], starts, hi)
        .join(counts, on=["bucket_idx", "trunk_id"], how="left")
        .join(bucket_frame, on="bucket_idx", how="inner")
        .with_columns(
            pl.col("bhca").fill_null(0),
            pl.col("bhcc").fill_null(0),
            (pl.col("holding_seconds") / pl.col("bucket_seconds")).alias("erlangs"),
        )
        .group_by("report_date", "trunk_id")
        .agg(pl.all().sort_by(["erlangs", "bucket_start"], descending=[True, False]).first())
        .select(
            "report_date",
            "trunk_id",
            pl.col("bucket_start").alias("busy_hour_start"),
            pl.col("bucket_start")
            .dt.convert_time_zone(report_tz)
            .dt.strftime("%Y-%m-%dT%H:%M:%S%:z")
            .alias("busy_hour_local"),
            pl.col("holding_seconds").alias("busy_hour_holding_seconds"),
            pl.col("erlangs").alias("busy_hour_erlangs"),
            pl.col("peak_concurrent_calls").alias("busy_hour_peak_concurrent_calls"),
            "bhca",
            "bhcc",
        )
        .sort("report_date", "trunk_id")
    )
