"""Pure Polars analytics transforms over ``raw.calls`` (LazyFrame → LazyFrame, no I/O).

See ``docs/analytics.md`` and ``sql/schema/analytics.sql``; the table registry is
:data:`ANALYTICS_TABLES`.
"""

from pipeline.transforms.answer_rate import answer_rate_daily, answer_rate_hourly
from pipeline.transforms.calendar import MAX_CALL_DURATION, affected_hours, input_range
from pipeline.transforms.cost import cost_daily, cost_hourly
from pipeline.transforms.direction_mix import direction_mix_daily
from pipeline.transforms.erlang import channels_for_grade_of_service, erlang_b
from pipeline.transforms.tables import ANALYTICS_TABLES, TableSpec
from pipeline.transforms.trunk_usage import busy_hour_daily, trunk_usage_daily, trunk_usage_hourly

__all__ = [
    "ANALYTICS_TABLES",
    "MAX_CALL_DURATION",
    "TableSpec",
    "affected_hours",
    "answer_rate_daily",
    "answer_rate_hourly",
    "busy_hour_daily",
    "channels_for_grade_of_service",
    "cost_daily",
    "cost_hourly",
    "direction_mix_daily",
    "erlang_b",
    "input_range",
    "trunk_usage_daily",
    "trunk_usage_hourly",
]
