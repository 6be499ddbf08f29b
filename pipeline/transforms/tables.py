"""Registry of the analytics output tables, for the Dagster layer and the refresh to loop over.

Every builder is a pure function ``builder(data, buckets) -> LazyFrame`` (:data:`Builder`):
``data`` is a :class:`.prepare.CallData` (``raw.calls`` rows, ``raw.trunks`` rows, ``as_of``,
``dedupe``, and ``raw.call_details`` rows for the tables with ``needs_details``) and
``buckets`` the table's buckets (:mod:`.buckets`):

* ``grain == "hour"``: :class:`.buckets.UtcHours` ``(start, end)``, UTC hours; key column
  ``hour_start``;
* ``grain == "day"``: :class:`.buckets.LocalDays` ``(start_date, end_date, report_tz)``, local
  dates of the report time zone; key column ``report_date``.

One KPI is one builder: ``answer_rate_hourly`` and ``answer_rate_daily`` are the same function
over different buckets. Builders return lazy frames whose columns are exactly the DDL's, in
order (``tests/transforms/test_transforms_ddl.py``); collect once at the caller.

Refresh recipe (delete + insert by key range): after re-ingesting raw hours ``[ws, we)``,
rebuild hour buckets ``[ws, we + MAX_CALL_DURATION)`` and the local dates overlapping that range
(:func:`.calendar.affected_hours`, :meth:`TableSpec.buckets`), passing calls with
``create_time`` in ``[bucket range start − MAX_CALL_DURATION, bucket range end)``
(:func:`.calendar.input_range`); then ``DELETE FROM analytics.<t> WHERE <bucket column> in
range`` and ``INSERT INTO analytics.<t> BY NAME SELECT * FROM df``. Tables whose
``needs_lookback`` is False only need the calls created inside the range.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from pipeline.transforms.answer_rate import answer_rate
from pipeline.transforms.billing_audit import billing_audit
from pipeline.transforms.buckets import Buckets, Grain, LocalDays, UtcHours, covering
from pipeline.transforms.busy_hour import busy_hour
from pipeline.transforms.cost import cost
from pipeline.transforms.direction_mix import direction_mix
from pipeline.transforms.emergency import emergency_calls
from pipeline.transforms.prepare import CallData
from pipeline.transforms.quality import quality
from pipeline.transforms.sip_causes import sip_causes
from pipeline.transforms.time_to_answer import time_to_answer
from pipeline.transforms.trunk_usage import trunk_usage

#: ``builder(data, buckets) -> LazyFrame`` of the table's DDL columns.
Builder = Callable[[CallData, Buckets], pl.LazyFrame]


@dataclass(frozen=True)
class TableSpec:
    """One output table, ``analytics.<name>``.

    Attributes:
        name: table name without the schema.
        builder: the KPI function, ``builder(data, buckets)``.
        keys: the documented key columns, bucket column first.
        grain: ``"hour"`` (UTC hours) or ``"day"`` (local days of the report time zone).
        needs_lookback: True if the table needs calls created up to ``MAX_CALL_DURATION``
            before its buckets (occupancy: Erlangs, concurrency, busy hour).
        needs_details: True if the builder reads ``raw.call_details`` (``CallData.details``)
            for the calls created in its buckets.
    """

    name: str
    builder: Builder
    keys: tuple[str, ...]
    grain: Grain
    needs_lookback: bool
    needs_details: bool = False

    @property
    def qualified_name(self) -> str:
        """``analytics.<name>``."""
        return f"analytics.{self.name}"

    @property
    def bucket_column(self) -> str:
        """The key column of the buckets: ``hour_start`` or ``report_date``."""
        return UtcHours.key if self.grain == "hour" else LocalDays.key

    def buckets(self, start: datetime, end: datetime, report_tz: str) -> UtcHours | LocalDays:
        """This table's buckets covering the UTC instants ``[start, end)``.

        Args:
            start: first instant (a whole UTC hour for hourly tables).
            end: end instant (exclusive; likewise).
            report_tz: IANA zone of daily buckets.

        Returns:
            See :func:`.buckets.covering`.
        """
        return covering(self.grain, start, end, report_tz)


_SPECS = (
    TableSpec(
        "answer_rate_hourly",
        answer_rate,
        ("hour_start", "trunk_id", "direction"),
        "hour",
        False,
        needs_details=True,
    ),
    TableSpec(
        "answer_rate_daily",
        answer_rate,
        ("report_date", "trunk_id", "direction"),
        "day",
        False,
        needs_details=True,
    ),
    TableSpec(
        "direction_mix_daily",
        direction_mix,
        ("report_date", "trunk_id", "direction"),
        "day",
        False,
    ),
    TableSpec(
        "cost_hourly", cost, ("hour_start", "trunk_id", "direction", "currency"), "hour", False
    ),
    TableSpec(
        "cost_daily", cost, ("report_date", "trunk_id", "direction", "currency"), "day", False
    ),
    TableSpec(
        "trunk_usage_hourly", trunk_usage, ("hour_start", "trunk_id", "direction"), "hour", True
    ),
    TableSpec(
        "trunk_usage_daily", trunk_usage, ("report_date", "trunk_id", "direction"), "day", True
    ),
    TableSpec("busy_hour_daily", busy_hour, ("report_date", "trunk_id"), "day", True),
    # From the export (raw.call_details): calls without a details row are unknown there.
    TableSpec(
        "sip_causes_hourly",
        sip_causes,
        (
            "hour_start",
            "trunk_id",
            "direction",
            "sip_response_code",
            "cause_code",
            "release_class",
        ),
        "hour",
        False,
        needs_details=True,
    ),
    TableSpec(
        "quality_hourly",
        quality,
        ("hour_start", "trunk_id", "direction"),
        "hour",
        False,
        needs_details=True,
    ),
    TableSpec(
        "quality_daily",
        quality,
        ("report_date", "trunk_id", "direction"),
        "day",
        False,
        needs_details=True,
    ),
    TableSpec(
        "emergency_calls_hourly",
        emergency_calls,
        ("hour_start", "trunk_id", "direction"),
        "hour",
        False,
        needs_details=True,
    ),
    # From the call list alone.
    TableSpec("time_to_answer_hourly", time_to_answer, ("hour_start", "trunk_id"), "hour", False),
    TableSpec(
        "billing_audit_daily",
        billing_audit,
        ("report_date", "trunk_id", "direction", "destination_country", "currency"),
        "day",
        False,
    ),
)

#: table name (without schema) → spec
ANALYTICS_TABLES: dict[str, TableSpec] = {s.name: s for s in _SPECS}
