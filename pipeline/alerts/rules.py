"""Answer-rate rules: ASR or NER drop and failure spikes vs the same UTC hour a week before.

Input: ``analytics.answer_rate_hourly`` rows (one per project, UTC hour, trunk and direction:
``attempts``, ``answered``, ``failed``, ``ner_numerator``, ``details_calls``,
``ner_true_numerator``), covering the evaluated hours and the hours 7 days (168 h) before them.

Comparison: each hour with the same UTC hour one week earlier, CDR-Stats style ("alarm when ASR
changes against the same day last week"). The same weekday and UTC hour is the same local hour
except in the week after a DST change, where the baseline is the local hour one off. An hour
is compared only when both hours have enough attempts (``min_attempts``), so quiet hours never
alarm; a missing baseline hour means no comparison (no alert).

- ASR (ITU-T E.411): answered / attempts; NER proxy (ITU-T E.425): (attempts - failed) /
  attempts; true NER (E.425 from the CSV export's SIP causes): calls ended by the user or
  answered / calls with export details (``ner_true_numerator / details_calls``; an hour
  without details is never compared) (docs/kpi-definitions.md). The proxy counts a network
  failure reported as BUSY or NO_ANSWER as effective; the true NER does not. A drop alerts
  when ``baseline - observed >= max_drop``
  (absolute, fractions 0-1) and, with ``min_z > 0``, the two-proportion z statistic
  ``(p0 - p1) / sqrt(p(1-p)(1/n0 + 1/n1))`` (p pooled) is at least ``min_z``: a fall that
  chance explains (20 attempts at ASR 0.6 vary by ±0.11) does not alarm.
- Failure spike: at least ``min_failed`` FAILED calls in the hour and a failure rate (failed /
  attempts) at least ``factor`` times last week's (as ``sql/queries/failed_call_spikes.sql``,
  per hour). A week-earlier hour with no attempts gives no comparison.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from pipeline.alerts.config import FailureSpike, RateDrop
from pipeline.alerts.frames import WEEK, Scope, alerts_from, empty_alerts, where

_KEYS = ["project_id", "trunk_id", "direction", "hour_start"]


def with_last_week(frame: pl.DataFrame, scope: Scope, columns: list[str]) -> pl.DataFrame:
    """The scope's rows with ``<column>_base``: the same key 7 days (168 h) earlier.

    Args:
        frame: hourly rows with ``project_id``, ``trunk_id``, ``direction``, ``hour_start``
            and ``columns``.
        scope: the evaluated hours.
        columns: the columns to bring from a week before (null where that hour has no row).

    Returns:
        One row per row of the scope's hours, with ``columns`` and ``<column>_base``.
    """
    base = frame.select(
        pl.col("project_id", "trunk_id", "direction"),
        (pl.col("hour_start") + WEEK).alias("hour_start"),
        *[pl.col(c).alias(f"{c}_base") for c in columns],
    )
    return scope.current(frame).select(*_KEYS, *columns).join(base, on=_KEYS, how="left")


def rate_drop(
    rule: str,
    label: str,
    numerator: str,
    frame: pl.DataFrame,
    scope: Scope,
    config: RateDrop,
    *,
    denominator: str = "attempts",
) -> pl.DataFrame:
    """Alerts where ``numerator / denominator`` fell against the same hour a week before.

    Args:
        rule: the rule's name (``asr_drop``, ``ner_drop``, ``true_ner_drop``).
        label: the rate's name in messages (``ASR``, ``NER``, ``true NER``).
        numerator: the column counting successes (``answered``, ``ner_numerator``...).
        frame: ``analytics.answer_rate_hourly`` rows (module docstring).
        scope: the evaluated hours.
        config: the thresholds (``min_attempts`` applies to ``denominator``).
        denominator: the column counting the calls the rate is over (default ``attempts``).

    Returns:
        Alert rows: observed = the hour's rate, baseline = last week's, threshold =
        baseline - ``max_drop`` (fractions 0-1).
    """
    if not config.enabled:
        return empty_alerts()
    rows = with_last_week(frame, scope, [denominator, numerator])
    n1, x1 = pl.col(denominator), pl.col(numerator)
    n0, x0 = pl.col(f"{denominator}_base"), pl.col(f"{numerator}_base")
    pooled = (x0 + x1) / (n0 + n1)
    firing = (
        rows.filter((n1 >= config.min_attempts) & (n0 >= config.min_attempts))
        .with_columns(rate=x1 / n1, rate_base=x0 / n0)
        .with_columns(
            drop=pl.col("rate_base") - pl.col("rate"),
            se=(pooled * (1 - pooled) * (1 / n0 + 1 / n1)).sqrt(),
            limit=pl.col("rate_base") - config.max_drop,
        )
        .with_columns(
            z=pl.when(pl.col("se") > 0).then(pl.col("drop") / pl.col("se")).otherwise(0.0)
        )
        .filter(
            (pl.col("drop") >= config.max_drop - 1e-12)
            & ((config.min_z <= 0) | (pl.col("z") >= config.min_z))
        )
    )

    def message(row: dict[str, Any]) -> str:
        return (
            f"{label} {row['rate']:.0%} ({row[numerator]}/{row[denominator]}) vs "
            f"{row['rate_base']:.0%} ({row[f'{numerator}_base']}/{row[f'{denominator}_base']}) the "
            f"same hour a week before: down {row['drop'] * 100:.0f} points "
            f"(limit {config.max_drop * 100:.0f}, z = {row['z']:.1f}); {where(row)}"
        )

    return alerts_from(
        rule, firing, observed="rate", baseline="rate_base", threshold="limit", message=message
    )


def asr_drop(frame: pl.DataFrame, scope: Scope, config: RateDrop) -> pl.DataFrame:
    """ASR (E.411, answered / attempts) drop vs the same hour last week (:func:`rate_drop`)."""
    return rate_drop("asr_drop", "ASR", "answered", frame, scope, config)


def ner_drop(frame: pl.DataFrame, scope: Scope, config: RateDrop) -> pl.DataFrame:
    """NER proxy (E.425, (attempts - failed) / attempts) drop (:func:`rate_drop`)."""
    return rate_drop("ner_drop", "NER", "ner_numerator", frame, scope, config)


def true_ner_drop(frame: pl.DataFrame, scope: Scope, config: RateDrop) -> pl.DataFrame:
    """True NER (E.425 from SIP causes, over calls with export details) drop (:func:`rate_drop`).

    ``min_attempts`` counts calls with details: hours the export did not cover never alarm.
    """
    return rate_drop(
        "true_ner_drop",
        "true NER",
        "ner_true_numerator",
        frame,
        scope,
        config,
        denominator="details_calls",
    )


def failure_spike(frame: pl.DataFrame, scope: Scope, config: FailureSpike) -> pl.DataFrame:
    """Alerts where FAILED calls spiked against the same hour a week before.

    Args:
        frame: ``analytics.answer_rate_hourly`` rows (module docstring).
        scope: the evaluated hours.
        config: ``min_failed`` (calls) and ``factor`` (x last week's failure rate).

    Returns:
        Alert rows: observed = failure rate (failed / attempts, 0-1), baseline = last week's,
        threshold = ``factor`` x baseline.
    """
    if not config.enabled:
        return empty_alerts()
    rows = with_last_week(frame, scope, ["attempts", "failed"])
    firing = (
        rows.filter(pl.col("attempts_base") > 0)
        .with_columns(
            rate=pl.col("failed") / pl.col("attempts"),
            rate_base=pl.col("failed_base") / pl.col("attempts_base"),
        )
        .with_columns(limit=pl.col("rate_base") * config.factor)
        .filter((pl.col("failed") >= config.min_failed) & (pl.col("rate") >= pl.col("limit")))
    )

    def message(row: dict[str, Any]) -> str:
        return (
            f"{row['failed']} of {row['attempts']} calls FAILED ({row['rate']:.0%}) vs "
            f"{row['failed_base']} of {row['attempts_base']} ({row['rate_base']:.0%}) the same "
            f"hour a week before (limit {config.factor:g}x and {config.min_failed} calls); "
            f"{where(row)}"
        )

    return alerts_from(
        "failure_spike",
        firing,
        observed="rate",
        baseline="rate_base",
        threshold="limit",
        message=message,
    )
