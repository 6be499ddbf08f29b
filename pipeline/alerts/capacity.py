"""Capacity rules: peak CPS over the trunk's limit, peak concurrency over Erlang B channels.

Input: ``analytics.trunk_usage_hourly`` rows, reduced to one row per project, UTC hour and
trunk (the ``trunk_*`` and ``cps_*`` columns are trunk-wide and repeated on each direction
row): ``trunk_peak_cps`` (calls created in one second), ``cps_limit`` (``raw.trunks``
``callsPerSecond``), ``trunk_peak_concurrent_calls`` (sweep-line maximum) and
``trunk_erlangs`` (E). Alerts are trunk-wide: direction ``ALL``.

- CPS over limit: ``trunk_peak_cps > factor x cps_limit``; hours of a trunk with no known
  limit are skipped. Sinch enforces ``callsPerSecond``; calls over it are rejected.
- Concurrency over channels: Sinch trunks have no channel limit in the API, so the reference
  is the Erlang B channel count (:func:`pipeline.transforms.erlang.channels_for_grade_of_service`,
  ITU-T E.520 grade of service ``blocking``) for the trunk's busy-hour traffic: the highest
  hourly ``trunk_erlangs`` over the ``lookback_days`` x 24 hours up to and including the
  hour. An hour alerts when its peak exceeds ``margin`` x those channels and is at least
  ``min_peak`` calls. Erlang B sizes for the mean busy hour; an instantaneous peak above it is
  traffic the trunk's sizing did not plan for (bursts, dialler campaigns, a stuck PBX).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from pipeline.alerts.config import ConcurrencyOverChannels, CpsOverLimit
from pipeline.alerts.frames import ALL_DIRECTIONS, Scope, alerts_from, empty_alerts, where
from pipeline.transforms.erlang import channels_for_grade_of_service

_TRUNK_HOUR = ["project_id", "trunk_id", "hour_start"]


def trunk_hours(usage: pl.DataFrame) -> pl.DataFrame:
    """One row per project, trunk and hour of ``trunk_usage_hourly`` (trunk-wide columns)."""
    return usage.group_by(_TRUNK_HOUR).agg(
        pl.col("trunk_peak_cps").max(),
        pl.col("cps_limit").max(),
        pl.col("trunk_peak_concurrent_calls").max(),
        pl.col("trunk_erlangs").max(),
    )


def cps_over_limit(usage: pl.DataFrame, scope: Scope, config: CpsOverLimit) -> pl.DataFrame:
    """Alerts where a trunk's peak calls per second went over its ``callsPerSecond``.

    Args:
        usage: ``analytics.trunk_usage_hourly`` rows (module docstring).
        scope: the evaluated hours.
        config: ``factor`` of the limit.

    Returns:
        Alert rows: observed = peak CPS (calls/s), baseline = the limit (calls/s),
        threshold = ``factor`` x limit.
    """
    if not config.enabled:
        return empty_alerts()
    firing = (
        scope.current(trunk_hours(usage))
        .filter(pl.col("cps_limit").is_not_null())
        .with_columns(limit=pl.col("cps_limit") * config.factor)
        .filter(pl.col("trunk_peak_cps") > pl.col("limit"))
    )

    def message(row: dict[str, Any]) -> str:
        return (
            f"peak {row['trunk_peak_cps']} call attempts in one second over the trunk's limit of "
            f"{row['cps_limit']} calls/s (alert above {row['limit']:g}; Sinch refuses the excess "
            f"with SIP 603); {where(row)}"
        )

    return alerts_from(
        "cps_over_limit",
        firing,
        observed="trunk_peak_cps",
        baseline="cps_limit",
        threshold="limit",
        message=message,
        direction=ALL_DIRECTIONS,
    )


def busy_hour_erlangs(hours: pl.DataFrame, lookback_days: int) -> pl.DataFrame:
    """``hours`` with ``busy_erlangs``: the trunk's highest ``trunk_erlangs`` in the lookback.

    The lookback of an hour H is ``[H - lookback_days x 24 h, H]`` (H included).
    """
    window = f"{lookback_days * 24 + 1}h"
    return hours.sort([*_TRUNK_HOUR]).with_columns(
        busy_erlangs=pl.col("trunk_erlangs")
        .rolling_max_by("hour_start", window_size=window, closed="right")
        .over("project_id", "trunk_id")
    )


def concurrency_over_channels(
    usage: pl.DataFrame, scope: Scope, config: ConcurrencyOverChannels
) -> pl.DataFrame:
    """Alerts where a trunk's peak concurrent calls exceeded its Erlang B channels.

    Args:
        usage: ``analytics.trunk_usage_hourly`` rows of the evaluated hours and the
            ``lookback_days`` before them (module docstring).
        scope: the evaluated hours.
        config: ``blocking``, ``lookback_days``, ``margin`` and ``min_peak``.

    Returns:
        Alert rows: observed = peak concurrent calls, baseline = recommended channels,
        threshold = ``margin`` x channels.
    """
    if not config.enabled:
        return empty_alerts()
    rows = scope.current(busy_hour_erlangs(trunk_hours(usage), config.lookback_days))
    traffic = rows.get_column("busy_erlangs").unique().drop_nulls().to_list()
    channels = pl.DataFrame(
        {
            "busy_erlangs": traffic,
            "channels": [channels_for_grade_of_service(a, config.blocking) for a in traffic],
        },
        schema={"busy_erlangs": pl.Float64, "channels": pl.Int64},
    )
    firing = (
        rows.join(channels, on="busy_erlangs", how="inner")
        .with_columns(limit=pl.col("channels") * config.margin)
        .filter(
            (pl.col("trunk_peak_concurrent_calls") > pl.col("limit"))
            & (pl.col("trunk_peak_concurrent_calls") >= config.min_peak)
        )
    )

    def message(row: dict[str, Any]) -> str:
        return (
            f"peak {row['trunk_peak_concurrent_calls']} simultaneous calls vs "
            f"{row['channels']} channels recommended (Erlang B, {config.blocking:.0%} blocking "
            f"at {row['busy_erlangs']:.2f} E, the busiest hour of {config.lookback_days} days; "
            f"alert above {row['limit']:g}); {where(row)}"
        )

    return alerts_from(
        "concurrency_over_channels",
        firing,
        observed="trunk_peak_concurrent_calls",
        baseline="channels",
        threshold="limit",
        message=message,
        direction=ALL_DIRECTIONS,
    )
