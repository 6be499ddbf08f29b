"""Pure Polars analytics transforms over ``raw.calls`` (LazyFrame → LazyFrame, no I/O).

One function per KPI, each ``builder(data, buckets)``: :func:`answer_rate`, :func:`cost`,
:func:`direction_mix`, :func:`trunk_usage`, :func:`busy_hour`. ``data`` is a :class:`CallData`,
``buckets`` a :class:`UtcHours` or :class:`LocalDays` (:class:`Buckets`). See
``docs/analytics.md`` and ``sql/schema/analytics.sql``; the table registry is
:data:`ANALYTICS_TABLES`.
"""

from pipeline.transforms.answer_rate import answer_rate
from pipeline.transforms.buckets import Buckets, Grain, LocalDays, UtcHours, covering
from pipeline.transforms.busy_hour import busy_hour
from pipeline.transforms.calendar import MAX_CALL_DURATION, affected_hours, input_range
from pipeline.transforms.cost import cost
from pipeline.transforms.direction_mix import direction_mix
from pipeline.transforms.erlang import channels_for_grade_of_service, erlang_b
from pipeline.transforms.prepare import CallData
from pipeline.transforms.tables import ANALYTICS_TABLES, Builder, TableSpec
from pipeline.transforms.trunk_usage import trunk_usage

__all__ = [
    "ANALYTICS_TABLES",
    "MAX_CALL_DURATION",
    "Buckets",
    "Builder",
    "CallData",
    "Grain",
    "LocalDays",
    "TableSpec",
    "UtcHours",
    "affected_hours",
    "answer_rate",
    "busy_hour",
    "channels_for_grade_of_service",
    "cost",
    "covering",
    "direction_mix",
    "erlang_b",
    "input_range",
    "trunk_usage",
]
