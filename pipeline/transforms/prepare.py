"""Normalise ``raw.calls`` rows into the shape every transform uses.

Input (a ``LazyFrame`` with the columns of ``raw.calls``; only these are read):

==========================  ===========================  =====================================
column                      dtype                        meaning
==========================  ===========================  =====================================
call_id                     String                       callId (attempt identity)
create_time                 Datetime("us", "UTC")        seizure instant
answer_time                 Datetime("us", "UTC") | null answer instant
end_time                    Datetime("us", "UTC") | null release instant; null = in progress
direction                   String                       INBOUND / OUTBOUND
call_result                 String                       COMPLETED / NO_ANSWER / CANCEL / ...
trunk_id                    String                       trunk
billing_duration_seconds    Int64 (s)                    billed duration
price                       Decimal(18, 6)               total charge
price_currency              String                       ISO 4217 of ``price``
price_per_minute            Decimal(18, 6) | null        list price per minute
price_per_minute_currency   String | null                ISO 4217 of ``price_per_minute``
to_number                   String | null                called number as sent (E.164)
==========================  ===========================  =====================================

Choices (docs/kpi-definitions.md, "Choices this project makes"):

* timestamps must be time-zone aware; any zone label is converted to UTC (same instants) and
  to microseconds, so a frame read from a DuckDB session that was not pinned to UTC still works;
* one row per ``call_id``: ``raw.calls`` is unique on it (latest version wins at ingestion),
  so attempts = rows = ``count(distinct call_id)``. Inputs without that guarantee pass
  ``dedupe=True`` (``CallData(..., dedupe=True)`` for a builder), which drops repeats first;
* ``direction`` and ``call_result`` are upper-cased; a ``direction`` that is not INBOUND or
  OUTBOUND (NULL included) and a NULL ``trunk_id`` become ``'UNKNOWN'``, so they stay visible
  as their own group (and can be a key column);
* ``answered := call_result == 'COMPLETED'``; ``answer_time IS NOT NULL`` is a cross-check and
  every disagreement is counted in ``answer_time_mismatch``;
* every duration derived from ``end_time`` ends at ``create_time + MAX_CALL_DURATION`` (24 h)
  at the latest (``end_cap``): the refresh only looks back that far, and a landed ``end_time``
  as absurd as 9999-12-31 must neither crash the analytics nor fill every later hour;
* conversation time ``conv_us = min(end_time, end_cap) - answer_time`` (microseconds) for
  answered calls that have both timestamps (never raw ``duration_seconds``, which includes
  ringing for INBOUND), else 0; an ``end_time`` before ``answer_time`` gives 0;
* ``conv_known``: the call is answered *and* has both timestamps. An answered call without
  ``answer_time`` (or still without ``end_time``) has an **unknown** conversation, not 0 s: it
  is left out of ACD's numerator and denominator (``acd_calls``), stays in
  ``answer_time_mismatch`` and is still answered for ASR (kpi-definitions.md "Choices");
* channel occupancy is ``[create_time, occ_end)`` where ``occ_end = min(end_time, end_cap)``;
  for a call still in progress (NULL ``end_time``) ``occ_end = min(as_of, end_cap)`` when the
  caller passes ``as_of``, else the call is left out of occupancy (Erlangs, concurrency) and
  only counted as an attempt (and in ``in_progress``). An ``end_time`` before ``create_time``
  is treated as zero length.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from pipeline.transforms.calendar import MAX_CALL_DURATION, as_utc

UNKNOWN = "UNKNOWN"
RESULTS = ("COMPLETED", "BUSY", "NO_ANSWER", "CANCEL", "FAILED")
#: every ``direction`` after normalisation (anything else, NULL included, becomes UNKNOWN)
DIRECTIONS = ("INBOUND", "OUTBOUND", UNKNOWN)

INPUT_COLUMNS = (
    "call_id",
    "create_time",
    "answer_time",
    "end_time",
    "direction",
    "call_result",
    "trunk_id",
    "billing_duration_seconds",
    "price",
    "price_currency",
    "price_per_minute",
    "price_per_minute_currency",
    "to_number",
)
#: columns of :data:`INPUT_COLUMNS` a frame may lack (older callers): NULL of this type then
OPTIONAL_COLUMNS: dict[str, pl.DataType] = {
    "price_per_minute": pl.Decimal(18, 6),
    "price_per_minute_currency": pl.String(),
    "to_number": pl.String(),
}
#: ``raw.call_details`` columns a builder may read (:attr:`CallData.details`)
DETAIL_COLUMNS = ("call_id", "sip_response_code", "cause_code", "mos", "is_emergency")
DETAIL_SCHEMA = {
    "call_id": pl.String,
    "sip_response_code": pl.Int32,
    "cause_code": pl.Int32,
    "mos": pl.Float64,
    "is_emergency": pl.Boolean,
}


def prepare_calls(
    calls: pl.LazyFrame, *, as_of: datetime | None = None, dedupe: bool = False
) -> pl.LazyFrame:
    """Dedupe and derive the per-call fields (choices: module docstring).

    ``dedupe=True`` drops repeated ``call_id`` rows (keeping an arbitrary one). It is off by
    default because ``raw.calls`` holds one row per ``call_id`` (the ingestion upserts and has
    a "unique call ids" asset check) and the hash pass over 10 M string ids is the most
    expensive step of the cheap tables; pass it for inputs without that guarantee.

    Args:
        calls: ``raw.calls`` rows with at least :data:`INPUT_COLUMNS` (table above); the
            :data:`OPTIONAL_COLUMNS` may be absent (NULL then).
        as_of: aware instant the calls were fetched: calls still in progress occupy a channel
            until then (at most ``MAX_CALL_DURATION``); None leaves them out of occupancy.
        dedupe: drop repeated ``call_id`` rows first.

    Returns:
        :data:`INPUT_COLUMNS` (times as Datetime("us", "UTC"), ``direction``/``call_result``
        upper-cased, UNKNOWN filled in) plus ``answered`` (Boolean), ``answer_time_mismatch``
        (Boolean), ``in_progress`` (Boolean), ``conv_us`` (Int64 µs, 0 unless answered with
        answer and end time), ``conv_known`` (Boolean, answered with both: in ACD),
        ``occ_end`` (Datetime UTC, end of channel occupancy; NULL = not
        counted in occupancy). Both end at ``create_time + MAX_CALL_DURATION`` at the latest.

    Raises:
        ValueError: ``as_of`` is naive.
    """
    as_of_lit = pl.lit(as_utc(as_of), dtype=pl.Datetime("us", "UTC")) if as_of else None
    end_cap = pl.col("create_time") + pl.lit(MAX_CALL_DURATION)
    # NULL stays NULL (pl.min_horizontal would skip it and invent a 24 h call).
    end = pl.when(pl.col("end_time") > end_cap).then(end_cap).otherwise(pl.col("end_time"))
    occ_end = end if as_of_lit is None else pl.coalesce(end, pl.min_horizontal(as_of_lit, end_cap))
    occ_end = pl.max_horizontal(occ_end, pl.col("create_time"))
    answered = pl.col("call_result") == "COMPLETED"
    # Integer microseconds: sums of them are exact whatever order Polars adds them in, so a
    # re-run gives bit-identical tables (float sums in parallel group-bys do not).
    conv = (end - pl.col("answer_time")).dt.total_microseconds().clip(lower_bound=0)
    # Same instants whatever zone label the frame carries (a DuckDB session not pinned to UTC
    # labels TIMESTAMPTZ with its own zone; docs/stack-hazards.md §0.4) and microsecond precision.
    present = calls.collect_schema().names()
    missing = [pl.lit(None, t).alias(c) for c, t in OPTIONAL_COLUMNS.items() if c not in present]
    selected = (
        calls.with_columns(missing)
        .select(INPUT_COLUMNS)
        .with_columns(
            pl.col(c).dt.convert_time_zone("UTC").cast(pl.Datetime("us", "UTC"))
            for c in ("create_time", "answer_time", "end_time")
        )
    )
    if dedupe:
        selected = selected.unique(subset=["call_id"], keep="any")
    return selected.with_columns(
        pl.when(pl.col("direction").str.to_uppercase().is_in(DIRECTIONS[:2]))
        .then(pl.col("direction").str.to_uppercase())
        .otherwise(pl.lit(UNKNOWN)),
        pl.col("call_result").str.to_uppercase(),
        pl.col("trunk_id").fill_null(UNKNOWN),
    ).with_columns(
        answered.fill_null(False).alias("answered"),
        (answered.fill_null(False) != pl.col("answer_time").is_not_null()).alias(
            "answer_time_mismatch"
        ),
        end.is_null().alias("in_progress"),
        pl.when(answered).then(conv).otherwise(0).fill_null(0).alias("conv_us"),
        (answered & pl.col("answer_time").is_not_null() & end.is_not_null())
        .fill_null(False)
        .alias("conv_known"),
        pl.when(end.is_not_null() | (as_of_lit is not None))
        .then(occ_end)
        .otherwise(None)
        .alias("occ_end"),
    )


def in_range(col: str, start: datetime, end: datetime) -> pl.Expr:
    """``start <= col < end`` with UTC literals (``start``/``end`` aware; naive raise)."""
    dt = pl.Datetime("us", "UTC")
    return (pl.col(col) >= pl.lit(as_utc(start), dtype=dt)) & (
        pl.col(col) < pl.lit(as_utc(end), dtype=dt)
    )


def volume(calls: str) -> list[pl.Expr]:
    """Aggregations shared by the count tables, over :func:`prepare_calls` rows.

    Args:
        calls: name of the row count column (``attempts`` or ``calls``).

    Returns:
        Expressions for ``<calls>`` (Int64, rows = distinct call_id), ``answered`` (Int64,
        COMPLETED), ``acd_calls`` (Int64, answered with a known conversation: ACD's
        denominator), ``conversation_seconds`` (Float64 s: Σ ``conv_us`` as an exact integer sum,
        divided once, so it is bit-identical whatever the row order) and ``billed_seconds``
        (Int64 s, Σ ``billing_duration_seconds``).
    """
    return [
        pl.len().cast(pl.Int64).alias(calls),
        pl.col("answered").sum().cast(pl.Int64).alias("answered"),
        pl.col("conv_known").sum().cast(pl.Int64).alias("acd_calls"),
        (pl.col("conv_us").sum() / 1_000_000).alias("conversation_seconds"),
        pl.col("billing_duration_seconds").sum().cast(pl.Int64).alias("billed_seconds"),
    ]


@dataclass(frozen=True, eq=False)
class CallData:
    """What a builder reads: ``raw.calls`` rows, ``raw.trunks`` rows, and how to read them.

    Every builder is ``builder(data, buckets)``; it reads what its table needs from here.

    Attributes:
        calls: ``raw.calls`` rows (:data:`INPUT_COLUMNS` at least), created in the buckets and,
            for occupancy tables, up to ``MAX_CALL_DURATION`` before them.
        trunks: ``raw.trunks`` rows (``trunk_id``, ``calls_per_second``); None: limits unknown.
        as_of: aware instant the calls were fetched (see :func:`prepare_calls`), or None.
        dedupe: the calls may repeat a ``call_id`` (see :func:`prepare_calls`).
        details: ``raw.call_details`` rows of the same project (:data:`DETAIL_COLUMNS` at
            least; one per ``call_id``, as the table is keyed), or None: no export, every
            call's details unknown.
    """

    calls: pl.LazyFrame
    trunks: pl.LazyFrame | None = None
    as_of: datetime | None = None
    dedupe: bool = False
    details: pl.LazyFrame | None = None

    def prepared(self) -> pl.LazyFrame:
        """:func:`prepare_calls` of :attr:`calls` with :attr:`as_of` and :attr:`dedupe`."""
        return prepare_calls(self.calls, as_of=self.as_of, dedupe=self.dedupe)

    def created_in(self, start: datetime, end: datetime) -> pl.LazyFrame:
        """:meth:`prepared` rows with ``create_time`` in ``[start, end)`` (aware instants)."""
        return self.prepared().filter(in_range("create_time", start, end))

    def with_details(self, start: datetime, end: datetime) -> pl.LazyFrame:
        """:meth:`created_in` rows joined to their export details (left join on ``call_id``).

        Args:
            start: first instant of ``create_time`` (aware).
            end: end instant (exclusive, aware).

        Returns:
            The :meth:`created_in` columns plus :data:`DETAIL_COLUMNS` (NULL without a details
            row; types :data:`DETAIL_SCHEMA`) and ``has_details`` (Boolean): the call has a
            ``raw.call_details`` row. Calls without one are *unknown* for every KPI from the
            export, never a success or a failure.
        """
        details = self.details
        if details is None:
            details = pl.LazyFrame(schema=DETAIL_SCHEMA)
        details = (
            details.select(DETAIL_COLUMNS)
            .cast(DETAIL_SCHEMA)  # type: ignore[arg-type]
            .with_columns(pl.lit(True).alias("has_details"))
        )
        return (
            self.created_in(start, end)
            .join(details, on="call_id", how="left")
            .with_columns(pl.col("has_details").fill_null(False))
        )
