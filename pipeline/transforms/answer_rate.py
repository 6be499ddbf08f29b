"""Answer rate (ASR) and network effectiveness proxy (NER) per bucket, trunk and direction.

Sources: ASR = answered seizures ÷ seizures (ITU-T E.411); NER = (answers + user busy +
ring-no-answer + terminal rejects) ÷ seizures (ITU-T E.425). The Sinch record has no SIP cause,
so NER is a **proxy**: ``(attempts − failed) ÷ attempts`` (COMPLETED + BUSY + NO_ANSWER + CANCEL +
any other result, over attempts); FAILED mixes network failures with invalid numbers.

Calls are attributed to the bucket of their ``create_time``. Rates are stored as fractions
(0–1, not percent) **next to** their numerator and denominator, so roll-ups re-derive them
(Rule 1: never average averages).

Output columns (the bucket key: ``hour_start`` Datetime UTC for ``answer_rate_hourly``,
``report_date`` Date in the report time zone for ``answer_rate_daily``), then ``trunk_id``,
``direction`` (String, keys) and:

``attempts`` (Int64, distinct call_id), ``answered`` (call_result COMPLETED), ``busy``,
``no_answer``, ``cancel``, ``failed``, ``other`` (any other or NULL result),
``answer_time_mismatch`` (answered without answer_time, or answer_time without COMPLETED),
``ner_numerator`` (= attempts − failed), all Int64 counts; ``asr`` = answered / attempts and
``ner_proxy`` = ner_numerator / attempts (Float64, NULL when attempts = 0).
"""

from __future__ import annotations

import polars as pl

from pipeline.transforms.buckets import Buckets
from pipeline.transforms.prepare import RESULTS, CallData


def _count(cond: pl.Expr) -> pl.Expr:
    return cond.fill_null(False).sum().cast(pl.Int64)


def answer_rate(data: CallData, buckets: Buckets) -> pl.LazyFrame:
    """Answer rate (ASR, ITU-T E.411) and NER proxy (E.425) per bucket, trunk and direction.

    Args:
        data: calls created in the buckets (others are ignored); ``dedupe`` if a ``call_id``
            may repeat.
        buckets: UTC hours (key ``hour_start``) or local days (key ``report_date``).

    Returns:
        The columns of the module docstring, one row per (bucket, trunk, direction) with an
        attempt, sorted by the keys.
    """
    res = pl.col("call_result")
    keys = [buckets.key, "trunk_id", "direction"]
    return (
        data.created_in(*buckets.bounds)
        .group_by([buckets.key_of("create_time"), "trunk_id", "direction"])
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
        .sort(keys)
    )
