"""Answer rate (ASR) and network effectiveness proxy (NER) per bucket, trunk and direction.

Sources: ASR = answered seizures ÷ seizures (ITU-T E.411); NER = (answers + user busy +
ring-no-answer + terminal rejects) ÷ seizures (ITU-T E.425). The Sinch record has no SIP cause,
so NER is a **proxy**: ``(attempts − failed) ÷ attempts`` (COMPLETED + BUSY + NO_ANSWER + CANCEL +
any other result, over attempts); FAILED mixes network failures with invalid numbers.

Calls are attributed to the bucket of their ``create_time``. Rates are stored as fractions
(0–1, not percent) **next to** their numerator and denominator, so roll-ups re-derive them
(Rule 1: never average averages).

Output columns (hourly: ``hour_start`` Datetime UTC; daily: ``report_date`` Date in the report
time zone), then ``trunk_id``, ``direction`` (String, keys) and:

``attempts`` (Int64, distinct call_id), ``answered`` (call_result COMPLETED), ``busy``,
``no_answer``, ``cancel``, ``failed``, ``other`` (any other or NULL result),
``answer_time_mismatch`` (answered without answer_time, or answer_time without COMPLETED),
``ner_numerator`` (= attempts − failed), all Int64 counts; ``asr`` = answered / attempts and
``ner_proxy`` = ner_numerator / attempts (Float64, NULL when attempts = 0).
"""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

from pipeline.transforms.calendar import check_hour_window, local_day_bounds, report_date
from pipeline.transforms.prepare import RESULTS, in_range, prepare_calls

KEYS_HOURLY = ("hour_start", "trunk_id", "direction")
KEYS_DAILY = ("report_date", "trunk_id", "direction")


def _count(cond: pl.Expr) -> pl.Expr:
    return cond.fill_null(False).sum().cast(pl.Int64)


def _answer_rate(prepared: pl.LazyFrame, bucket: pl.Expr, keys: tuple[str, ...]) -> pl.LazyFrame:
    res = pl.col("call_result")
    return (
        prepared.group_by([bucket, "trunk_id", "direction"])
        .agg(
            pl.len().cast(pl.Int64).alias("attempts"),
            _count(pl.col("answered")).alias("answered"),
            _count(res == "BUSY").alias("busy"),
            _count(res == "NO_ANSWER").alias("no_answer"),
            _count(res == "CANCEL").alias("cancel"),
            _count(res == "FAILED").alias("failed"),
            _count(~res.is_in(RESULTS) | res.is_null()).alias("other"),
            _count(pl.col("answer_time_mismatch")).alias("answer_time_mismatch"),
        )
        .with_columns((pl.col("attempts") - pl.col("failed")).alias("ner_numerator"))
        .with_columns(
            (pl.col("answered") / pl.col("attempts")).alias("asr"),
            (pl.col("ner_numerator") / pl.col("attempts")).alias("ner_proxy"),
        )
        .sort(list(keys))
    )


def answer_rate_hourly(
    calls: pl.LazyFrame,
    trunks: pl.LazyFrame | None = None,
    *,
    start: datetime,
    end: datetime,
    as_of: datetime | None = None,
    dedupe: bool = False,
) -> pl.LazyFrame:
    """Answer rate per UTC hour ``[start, end)`` (whole hours), trunk and direction.

    Needs calls with ``create_time`` in ``[start, end)``. ``trunks`` and ``as_of`` are
    accepted for a uniform builder signature and not used. Columns: see module docstring.
    """
    start, end = check_hour_window(start, end)
    prepared = prepare_calls(calls, dedupe=dedupe).filter(in_range("create_time", start, end))
    return _answer_rate(
        prepared, pl.col("create_time").dt.truncate("1h").alias("hour_start"), KEYS_HOURLY
    )


def answer_rate_daily(
    calls: pl.LazyFrame,
    trunks: pl.LazyFrame | None = None,
    *,
    report_tz: str,
    start_date: date,
    end_date: date,
    as_of: datetime | None = None,
    dedupe: bool = False,
) -> pl.LazyFrame:
    """Answer rate per local date in ``report_tz`` for ``[start_date, end_date)``.

    Needs calls with ``create_time`` in the UTC instants of those local days
    (:func:`pipeline.transforms.calendar.local_day_bounds`). Columns: see module docstring.
    """
    lo, hi = local_day_bounds(start_date, end_date, report_tz)
    prepared = prepare_calls(calls, dedupe=dedupe).filter(in_range("create_time", lo, hi))
    return _answer_rate(
        prepared, report_date("create_time", report_tz).alias("report_date"), KEYS_DAILY
    )
