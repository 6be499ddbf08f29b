"""Rules on call details: short answered calls, calls to countries not called recently.

Inputs are per-hour aggregates of ``raw.calls`` (the analytics tables keep sums, not single
calls), read by :mod:`pipeline.alerts.store`:

- ``short``: per project, trunk, direction and UTC hour of ``create_time``, ``answered``
  (COMPLETED calls with answer and end time) and ``short`` (of which the conversation,
  ``end_time - answer_time``, lasted less than ``max_seconds``);
- ``destinations``: OUTBOUND calls per project, trunk, UTC hour and ``head`` (the first four
  digits of ``to_e164`` without ``+``), over the evaluated hours and ``lookback_days`` before;
- ``first_calls``: per project and trunk, the UTC hour of its first call (``first_call``).

Short calls (Twilio Voice Insights' "short duration calls", a fraud / bad-route signal; see
``sql/queries/short_duration_ratio.sql``): an hour with at least ``min_answered`` answered
calls alerts when ``short / answered > max_ratio``.

New countries: the country of a number is its longest E.164 prefix in
:func:`pipeline.transforms.countries.country_code_rows` (the ``country_codes`` view's table: +1
split by area code). A country called in hour H is new when the trunk made no OUTBOUND call
to it in ``[H - lookback_days, H)``; a trunk whose first call is younger than
``min_history_days`` at H raises nothing (everything is new to a new trunk). One alert per
trunk and hour lists the new countries; observed = their number.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

import polars as pl

from pipeline.alerts.config import NewCountries, ShortCalls
from pipeline.alerts.frames import Scope, alerts_from, empty_alerts, where
from pipeline.transforms.countries import country_code_rows


def short_calls(short: pl.DataFrame, scope: Scope, config: ShortCalls) -> pl.DataFrame:
    """Alerts where the share of short answered calls is high.

    Args:
        short: hourly ``answered`` / ``short`` counts (module docstring).
        scope: the evaluated hours.
        config: ``min_answered`` (calls) and ``max_ratio`` (0-1); ``max_seconds`` was applied
            when ``short`` was counted.

    Returns:
        Alert rows: observed = short / answered (0-1), no baseline, threshold = ``max_ratio``.
    """
    if not config.enabled:
        return empty_alerts()
    firing = (
        scope.current(short)
        .filter(pl.col("answered") >= config.min_answered)
        .with_columns(ratio=pl.col("short") / pl.col("answered"), limit=pl.lit(config.max_ratio))
        .filter(pl.col("ratio") > pl.col("limit"))
    )

    def message(row: dict[str, Any]) -> str:
        return (
            f"{row['short']} of {row['answered']} answered calls ({row['ratio']:.0%}) lasted "
            f"under {config.max_seconds:g} s (limit {config.max_ratio:.0%}); {where(row)}"
        )

    return alerts_from(
        "short_calls", firing, observed="ratio", baseline=None, threshold="limit", message=message
    )


@cache
def _prefix_maps() -> tuple[dict[str, str], ...]:
    """``{prefix: region}`` for prefixes of 1, 2, 3 and 4 digits (longest wins)."""
    maps: tuple[dict[str, str], ...] = ({}, {}, {}, {})
    for prefix, _code, region in country_code_rows():
        maps[len(prefix) - 1][prefix] = region
    return maps


def with_country(destinations: pl.DataFrame) -> pl.DataFrame:
    """``destinations`` with ``country``: the region of ``head`` by longest prefix (or null)."""
    maps = _prefix_maps()
    candidates = [
        pl.col("head").str.slice(0, length).replace_strict(maps[length - 1], default=None)
        for length in (4, 3, 2, 1)
    ]
    return destinations.with_columns(country=pl.coalesce(candidates).cast(pl.String))


def new_countries(
    destinations: pl.DataFrame, first_calls: pl.DataFrame, scope: Scope, config: NewCountries
) -> pl.DataFrame:
    """Alerts for OUTBOUND calls to countries the trunk did not call in the lookback.

    Args:
        destinations: OUTBOUND calls per hour and number head (module docstring), covering
            ``lookback_days`` before the scope.
        first_calls: the hour of each trunk's first call (``first_call``, UTC hour start).
        scope: the evaluated hours.
        config: ``lookback_days`` and ``min_history_days``.

    Returns:
        Alert rows: observed = the number of new countries, no baseline, threshold 0.
    """
    if not config.enabled:
        return empty_alerts()
    keys = ["project_id", "trunk_id", "country"]
    seen = (
        with_country(destinations)
        .filter(pl.col("country").is_not_null())
        .group_by([*keys, "hour_start"])
        .agg(pl.col("calls").sum())
        .sort([*keys, "hour_start"])
        .with_columns(previous=pl.col("hour_start").shift(1).over(keys))
    )
    lookback = timedelta(days=config.lookback_days)
    history = timedelta(days=config.min_history_days)
    fresh = (
        scope.current(seen)
        .filter(
            pl.col("previous").is_null() | (pl.col("previous") < pl.col("hour_start") - lookback)
        )
        .join(first_calls, on=["project_id", "trunk_id"], how="inner")
        .filter(pl.col("first_call") <= pl.col("hour_start") - history)
    )
    firing = (
        fresh.sort("country")
        .group_by(["project_id", "trunk_id", "hour_start"], maintain_order=True)
        .agg(
            pl.col("country"),
            pl.col("calls"),
            pl.len().alias("new"),
        )
        .with_columns(limit=pl.lit(0.0))
    )

    def message(row: dict[str, Any]) -> str:
        listed = ", ".join(
            f"{country} ({calls} call{'s' if calls != 1 else ''})"
            for country, calls in zip(row["country"], row["calls"], strict=True)
        )
        return (
            f"OUTBOUND calls to {row['new']} countr{'ies' if row['new'] != 1 else 'y'} not "
            f"called in the previous {config.lookback_days} days: {listed}; "
            f"{where({**row, 'direction': 'OUTBOUND'})}"
        )

    return alerts_from(
        "new_countries",
        firing,
        observed="new",
        baseline=None,
        threshold="limit",
        message=message,
        direction="OUTBOUND",
    )
