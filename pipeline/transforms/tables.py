"""Registry of the analytics output tables, for the Dagster layer to loop over.

Every builder is a pure function ``(calls, trunks, **window) -> LazyFrame``:

* ``grain == "hour"``: ``builder(calls, trunks, start=<UTC datetime>, end=<UTC datetime>,
  as_of=None)``; buckets are UTC hours in ``[start, end)``; key column ``hour_start``;
* ``grain == "day"``: ``builder(calls, trunks, report_tz=<IANA name>, start_date=<date>,
  end_date=<date>, as_of=None)``; buckets are local dates in ``[start_date, end_date)``; key
  column ``report_date``.

All builders also accept ``as_of`` (end assumed for calls still in progress; only the
occupancy tables use it) and ``dedupe`` (drop repeated ``call_id`` rows; off because
``raw.calls`` is unique on ``call_id``). Builders return lazy frames whose columns are exactly the
DDL's, in order (``tests/transforms/test_transforms_ddl.py``); collect once at the caller.

Refresh recipe (delete + insert by key range): after re-ingesting raw hours ``[ws, we)``,
rebuild hour buckets ``[ws, we + MAX_CALL_DURATION)`` and the local dates overlapping that range
(:func:`.calendar.affected_hours`), passing calls with ``create_time`` in
``[bucket range start − MAX_CALL_DURATION, bucket range end)`` (:func:`.calendar.input_range`);
then ``DELETE FROM analytics.<t> WHERE <bucket column> in range`` and
``INSERT INTO analytics.<t> BY NAME SELECT * FROM df``. Tables whose ``needs_lookback`` is False
only need the calls created inside the range.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import polars as pl

from pipeline.transforms.answer_rate import answer_rate_daily, answer_rate_hourly
from pipeline.transforms.cost import cost_daily, cost_hourly
from pipeline.transforms.direction_mix import direction_mix_daily
from pipeline.transforms.trunk_usage import busy_hour_daily, trunk_usage_daily, trunk_usage_hourly

Grain = Literal["hour", "day"]


@dataclass(frozen=True)
class TableSpec:
    """One output table: ``analytics.<name>``."""

    name: str
    builder: Callable[..., pl.LazyFrame]
    keys: tuple[str, ...]
    grain: Grain
    needs_lookback: bool  # True: needs calls created up to MAX_CALL_DURATION before the range

    @property
    def qualified_name(self) -> str:
        return f"analytics.{self.name}"

    @property
    def bucket_column(self) -> str:
        return "hour_start" if self.grain == "hour" else "report_date"


_SPECS = (
    TableSpec(
        "answer_rate_hourly",
        answer_rate_hourly,
        ("hour_start", "trunk_id", "direction"),
        "hour",
        False,
    ),
    TableSpec(
        "answer_rate_daily",
        answer_rate_daily,
        ("report_date", "trunk_id", "direction"),
        "day",
        False,
    ),
    TableSpec(
        "direction_mix_daily",
        direction_mix_daily,
        ("report_date", "trunk_id", "direction"),
        "day",
        False,
    ),
    TableSpec(
        "cost_hourly",
        cost_hourly,
        ("hour_start", "trunk_id", "direction", "currency"),
        "hour",
        False,
    ),
    TableSpec(
        "cost_daily",
        cost_daily,
        ("report_date", "trunk_id", "direction", "currency"),
        "day",
        False,
    ),
    TableSpec(
        "trunk_usage_hourly",
        trunk_usage_hourly,
        ("hour_start", "trunk_id", "direction"),
        "hour",
        True,
    ),
    TableSpec(
        "trunk_usage_daily",
        trunk_usage_daily,
        ("report_date", "trunk_id", "direction"),
        "day",
        True,
    ),
    TableSpec("busy_hour_daily", busy_hour_daily, ("report_date", "trunk_id"), "day", True),
)

#: table name (without schema) → spec
ANALYTICS_TABLES: dict[str, TableSpec] = {s.name: s for s in _SPECS}
