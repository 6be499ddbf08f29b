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
``ner_proxy`` = ner_numerator / attempts (Float64, NULL when attempts = 0); then the **true
NER** from the export's SIP and Q.850 codes (:mod:`.release_class`), over the calls that have a
``raw.call_details`` row only (a call without one is unknown, neither effective nor failed):
``details_calls`` (Int64, the true NER's denominator), ``ner_true_numerator`` (Int64, release
class answered or user), ``network_failures``, ``invalid_number``, ``cps_refused`` (SIP 603 on
a FAILED call: over the trunk's callsPerSecond), ``unclassified`` (Int64 counts of those
classes), ``ner`` (Float64 = ner_true_numerator / details_calls, NULL when no call has
details). The columns after ``ner_proxy`` are in the order the DDL's ``ALTER TABLE`` adds them.
"""

from __future__ import annotations

import polars as pl

from pipeline.transforms.buckets import Buckets
from pipeline.transforms.prepare import RESULTS, CallData
from pipeline.transforms.release_class import (
    CPS_REFUSED,
    EFFECTIVE,
    INVALID,
    NETWORK,
    UNCLASSIFIED,
    release_class,
)

#: output columns after the keys, in DDL order
COLUMNS = (
    "attempts",
    "answered",
    "busy",
    "no_answer",
    "cancel",
    "failed",
    "other",
    "answer_time_mismatch",
    "ner_numerator",
    "asr",
    "ner_proxy",
    "details_calls",
    "ner_true_numerator",
    "network_failures",
    "invalid_number",
    "cps_refused",
    "unclassified",
    "ner",
)


def _count(cond: pl.Expr) -> pl.Expr:
    return cond.fill_null(False).sum().cast(pl.Int64)


def answer_rate(data: CallData, buckets: Buckets) -> pl.LazyFrame:
    """ASR (ITU-T E.411), NER proxy and true NER (E.425) per bucket, trunk and direction.

    Args:
        data: calls created in the buckets (others are ignored); ``dedupe`` if a ``call_id``
            may repeat; ``details`` for the true NER (None: every call's details unknown).
        buckets: UTC hours (key ``hour_start``) or local days (key ``report_date``).

    Returns:
        The columns of the module docstring, one row per (bucket, trunk, direction) with an
        attempt, sorted by the keys.
    """
    res = pl.col("call_result")
    keys = [buckets.key, "trunk_id", "direction"]
    known = pl.col("has_details")
    cls = pl.col("release_class")
    return (
        data.with_details(*buckets.bounds)
        .with_columns(
            release_class("sip_response_code", "cause_code", "call_result").alias("release_class")
        )
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
            _count(known).alias("details_calls"),
            _count(known & cls.is_in(EFFECTIVE)).alias("ner_true_numerator"),
            _count(known & (cls == NETWORK)).alias("network_failures"),
            _count(known & (cls == INVALID)).alias("invalid_number"),
            _count(known & (cls == CPS_REFUSED)).alias("cps_refused"),
            _count(known & (cls == UNCLASSIFIED)).alias("unclassified"),
        )
        .with_columns((pl.col("attempts") - pl.col("failed")).alias("ner_numerator"))
        .with_columns(
            (pl.col("answered") / pl.col("attempts")).alias("asr"),
            (pl.col("ner_numerator") / pl.col("attempts")).alias("ner_proxy"),
            pl.when(pl.col("details_calls") > 0)
            .then(pl.col("ner_true_numerator") / pl.col("details_calls"))
            .alias("ner"),
        )
        .select(*keys, *COLUMNS)
        .sort(keys)
    )
