"""Why calls end: counts per final SIP response and Q.850 cause (``sip_causes_hourly``).

A long table, one row per (UTC hour of ``create_time``, trunk, direction, SIP code, Q.850
cause, release class) with a call, over the calls that have a ``raw.call_details`` row (calls
without one are unknown and not here; ``answer_rate_hourly.details_calls`` counts the others).
Long so that "the top failure codes of trunk X last week" is one ``GROUP BY`` and a new code
needs no new column.

Sources: SIP status classes and codes, RFC 3261 §7.2 and §21; Q.850 cause values, ITU-T Q.850
(SIP ↔ Q.850 per RFC 3398 §7.2.4.1/§8.2.6.1 and RFC 6432); release class,
:mod:`.release_class` (docs/kpi-definitions.md "True NER: release classes").

Columns: ``hour_start`` (Datetime UTC), ``trunk_id``, ``direction`` (String),
``sip_response_code`` (Int32, NULL when not exported), ``cause_code`` (Int32, NULL likewise),
``release_class`` (String, :data:`.release_class.CLASSES`) — the keys — then ``sip_class``
(String ``'2xx'`` … ``'6xx'``, ``'none'``), ``calls`` (Int64, calls with that outcome) and
``details_calls`` (Int64, calls with details of the hour, trunk and direction: the share's
denominator, repeated on each row of the group; never sum it over codes).
"""

from __future__ import annotations

import polars as pl

from pipeline.transforms.buckets import Buckets
from pipeline.transforms.prepare import CallData
from pipeline.transforms.release_class import release_class, sip_class

CODE_KEYS = ("sip_response_code", "cause_code", "release_class")


def sip_causes(data: CallData, buckets: Buckets) -> pl.LazyFrame:
    """Calls per final SIP response, Q.850 cause and release class (module docstring).

    Args:
        data: calls created in the buckets, with ``details`` (None: an empty table).
        buckets: UTC hours (key ``hour_start``) or local days (key ``report_date``).

    Returns:
        The module docstring's columns, sorted by the keys (NULL codes first).
    """
    group = [buckets.key, "trunk_id", "direction"]
    keys = [*group, *CODE_KEYS]
    return (
        data.with_details(*buckets.bounds)
        .filter(pl.col("has_details"))
        .with_columns(
            release_class("sip_response_code", "cause_code", "call_result").alias("release_class")
        )
        .group_by(buckets.key_of("create_time"), "trunk_id", "direction", *CODE_KEYS)
        .agg(pl.len().cast(pl.Int64).alias("calls"))
        .with_columns(
            sip_class("sip_response_code").alias("sip_class"),
            pl.col("calls").sum().over(group).alias("details_calls"),
        )
        .select(*keys, "sip_class", "calls", "details_calls")
        .sort(keys, nulls_last=False)
    )
