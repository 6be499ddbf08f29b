"""Each alert rule on hand-derived inputs: what fires, with which numbers, and what does not.

Golden values are worked out in the comments (two-proportion z, Erlang B channels); every
test asserts alerts that only the rule under test produces, so it fails without the rule.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from pipeline.alerts.calls_rules import new_countries, short_calls
from pipeline.alerts.capacity import concurrency_over_channels, cps_over_limit
from pipeline.alerts.config import (
    ConcurrencyOverChannels,
    CpsOverLimit,
    FailureSpike,
    NewCountries,
    RateDrop,
    ShortCalls,
)
from pipeline.alerts.frames import ALERT_SCHEMA, Scope, name_trunks
from pipeline.alerts.rules import asr_drop, failure_spike, ner_drop, true_ner_drop

H = datetime(2026, 11, 16, 9, tzinfo=UTC)
WEEK = timedelta(days=7)
SCOPE = Scope(H, H + timedelta(hours=1), ("p",))
UTC_US = pl.Datetime("us", "UTC")


def answer_rate(rows: list[tuple]) -> pl.DataFrame:
    """(trunk, direction, hour, attempts, answered, failed) → answer_rate_hourly rows."""
    return pl.DataFrame(
        [("p", hour, trunk, d, n, a, f, n - f) for trunk, d, hour, n, a, f in rows],
        schema={"project_id": pl.String, "hour_start": UTC_US, "trunk_id": pl.String,
                "direction": pl.String, "attempts": pl.Int64, "answered": pl.Int64,
                "failed": pl.Int64, "ner_numerator": pl.Int64},
        orient="row",
    )  # fmt: skip


def keys(alerts: pl.DataFrame) -> list[tuple]:
    assert alerts.schema == ALERT_SCHEMA
    return [
        (r["rule"], r["trunk_id"], r["direction"], r["bucket"])
        for r in alerts.iter_rows(named=True)
    ]


def only(alerts: pl.DataFrame) -> dict:
    (row,) = alerts.iter_rows(named=True)
    return row


def test_asr_drop_needs_a_big_significant_fall_on_enough_attempts() -> None:
    frame = answer_rate(
        [
            # 10/40 = 0.25 now vs 30/40 = 0.75: drop 0.50; pooled 0.5,
            # se = sqrt(.25 x (1/40 + 1/40)) = 0.1118, z = 4.47 >= 3 → alert
            ("t1", "INBOUND", H, 40, 10, 0),
            ("t1", "INBOUND", H - WEEK, 40, 30, 0),
            # 18/30 = 0.60 vs 25/30 = 0.833: drop 0.233 >= 0.20 but pooled 43/60,
            # se = sqrt(.7167 x .2833 x 2/30) = 0.1164, z = 2.0 < 3 → chance, no alert
            ("t1", "OUTBOUND", H, 30, 18, 0),
            ("t1", "OUTBOUND", H - WEEK, 30, 25, 0),
            # a quiet hour: 0/10 vs 10/10, under min_attempts 30 → no alert
            ("t2", "INBOUND", H, 10, 0, 0),
            ("t2", "INBOUND", H - WEEK, 10, 10, 0),
            # no hour a week before → no comparison
            ("t3", "INBOUND", H, 50, 0, 0),
        ]
    )
    alerts = asr_drop(frame, SCOPE, RateDrop())
    assert keys(alerts) == [("asr_drop", "t1", "INBOUND", H)]
    row = only(alerts)
    assert row["observed"] == 0.25 and row["baseline"] == 0.75
    assert row["threshold"] == pytest.approx(0.55)
    assert row["severity"] == "WARN" and row["project_id"] == "p"
    assert "ASR 25% (10/40) vs 75% (30/40)" in row["message"] and "z = 4.5" in row["message"]
    # Without the significance test the chance fall alarms too.
    loose = asr_drop(frame, SCOPE, RateDrop(min_z=0))
    assert ("asr_drop", "t1", "OUTBOUND", H) in keys(loose)
    assert asr_drop(frame, SCOPE, RateDrop(enabled=False)).is_empty()


def test_asr_drop_compares_the_same_hour_exactly_a_week_before() -> None:
    frame = answer_rate(
        [
            ("t1", "INBOUND", H, 40, 10, 0),
            ("t1", "INBOUND", H - WEEK + timedelta(hours=1), 40, 40, 0),  # an hour off
            ("t1", "INBOUND", H - timedelta(days=1), 40, 40, 0),  # the day before
        ]
    )
    assert asr_drop(frame, SCOPE, RateDrop()).is_empty()


def test_ner_drop_counts_failed_calls_only() -> None:
    frame = answer_rate(
        [
            # NER (40-20)/40 = 0.5 vs 40/40 = 1.0: drop 0.5, pooled 60/80 = .75,
            # se = sqrt(.75 x .25 x .05) = 0.0968, z = 5.16 → alert, threshold 1.0 - 0.10
            ("t1", "OUTBOUND", H, 40, 10, 20),
            ("t1", "OUTBOUND", H - WEEK, 40, 30, 0),
            # ASR falls (BUSY / NO_ANSWER), nothing FAILED: NER unchanged → no NER alert
            ("t2", "OUTBOUND", H, 40, 5, 0),
            ("t2", "OUTBOUND", H - WEEK, 40, 35, 0),
        ]
    )
    alerts = ner_drop(frame, SCOPE, RateDrop(max_drop=0.10))
    assert keys(alerts) == [("ner_drop", "t1", "OUTBOUND", H)]
    row = only(alerts)
    assert (row["observed"], row["baseline"]) == (0.5, 1.0)
    assert row["threshold"] == pytest.approx(0.9)
    assert "z = 5.2" in row["message"]


def with_details(frame: pl.DataFrame, details: dict[tuple, tuple[int, int]]) -> pl.DataFrame:
    """``frame`` plus (details_calls, ner_true_numerator) per (trunk, hour); 0, 0 elsewhere."""
    rows = [
        details.get((r["trunk_id"], r["hour_start"]), (0, 0)) for r in frame.iter_rows(named=True)
    ]
    return frame.with_columns(
        details_calls=pl.Series([d for d, _ in rows], dtype=pl.Int64),
        ner_true_numerator=pl.Series([n for _, n in rows], dtype=pl.Int64),
    )


def test_true_ner_drop_sees_network_failures_the_proxy_counts_as_effective() -> None:
    frame = with_details(
        answer_rate(
            [
                # Nothing FAILED in either hour, so the NER proxy stays 1.0 (no ner_drop), but
                # the export's SIP causes class 24 of 40 calls now as network failures (e.g. 503
                # reported as BUSY): true NER 16/40 = 0.4 vs 38/40 = 0.95, drop 0.55; pooled
                # 54/80 = .675, se = sqrt(.675 x .325 x .05) = 0.1047, z = 5.25 → alert
                ("t1", "OUTBOUND", H, 40, 10, 0),
                ("t1", "OUTBOUND", H - WEEK, 40, 30, 0),
                # the same fall, but last week's hour had no export details (0 of 40): no
                # comparison, however bad this hour looks
                ("t2", "OUTBOUND", H, 40, 10, 0),
                ("t2", "OUTBOUND", H - WEEK, 40, 30, 0),
                # only 20 calls with details now (< min_attempts 30): no alert
                ("t3", "OUTBOUND", H, 40, 10, 0),
                ("t3", "OUTBOUND", H - WEEK, 40, 30, 0),
            ]
        ),
        {
            ("t1", H): (40, 16), ("t1", H - WEEK): (40, 38),
            ("t2", H): (40, 16),
            ("t3", H): (20, 2), ("t3", H - WEEK): (40, 38),
        },
    )  # fmt: skip
    assert ner_drop(frame, SCOPE, RateDrop(max_drop=0.10)).is_empty()
    alerts = true_ner_drop(frame, SCOPE, RateDrop(max_drop=0.10))
    assert keys(alerts) == [("true_ner_drop", "t1", "OUTBOUND", H)]
    row = only(alerts)
    assert (row["observed"], row["baseline"]) == (0.4, 0.95)
    assert row["threshold"] == pytest.approx(0.85)
    assert "true NER 40% (16/40) vs 95% (38/40)" in row["message"]
    assert "z = 5.3" in row["message"]
    assert true_ner_drop(frame, SCOPE, RateDrop(enabled=False)).is_empty()


def test_failure_spike_needs_enough_failures_and_twice_last_weeks_rate() -> None:
    frame = answer_rate(
        [
            ("t1", "OUTBOUND", H, 50, 30, 12),  # 0.24 vs 3/50 = 0.06: >= 2 x 0.06 → alert
            ("t1", "OUTBOUND", H - WEEK, 50, 40, 3),
            ("t2", "OUTBOUND", H, 50, 30, 9),  # 9 < min_failed 10 → no alert
            ("t2", "OUTBOUND", H - WEEK, 50, 40, 0),
            ("t3", "OUTBOUND", H, 50, 30, 12),  # 0.24 < 2 x 7/50 = 0.28 → no alert
            ("t3", "OUTBOUND", H - WEEK, 50, 40, 7),
            ("t4", "OUTBOUND", H, 50, 0, 50),  # no hour a week before → no comparison
        ]
    )
    alerts = failure_spike(frame, SCOPE, FailureSpike())
    assert keys(alerts) == [("failure_spike", "t1", "OUTBOUND", H)]
    row = only(alerts)
    assert (row["observed"], row["baseline"]) == (0.24, 0.06)
    assert row["threshold"] == pytest.approx(0.12)


def usage(rows: list[tuple]) -> pl.DataFrame:
    """(trunk, hour, peak_cps, cps_limit, peak_concurrent, erlangs) → one row per direction."""
    return pl.DataFrame(
        [("p", hour, trunk, d, cps, limit, peak, erl)
         for trunk, hour, cps, limit, peak, erl in rows for d in ("INBOUND", "OUTBOUND")],
        schema={"project_id": pl.String, "hour_start": UTC_US, "trunk_id": pl.String,
                "direction": pl.String, "trunk_peak_cps": pl.Int64, "cps_limit": pl.Int64,
                "trunk_peak_concurrent_calls": pl.Int64, "trunk_erlangs": pl.Float64},
        orient="row",
    )  # fmt: skip


def test_cps_over_limit_is_trunk_wide_and_strictly_over() -> None:
    frame = usage(
        [
            ("t1", H, 3, 2, 1, 0.1),  # 3 > 2 → one alert (not one per direction row)
            ("t2", H, 2, 2, 1, 0.1),  # at the limit → no alert
            ("t3", H, 9, None, 1, 0.1),  # limit unknown → no alert
            ("t1", H - timedelta(hours=1), 5, 2, 1, 0.1),  # outside the scope
        ]
    )
    alerts = cps_over_limit(frame, SCOPE, CpsOverLimit())
    assert keys(alerts) == [("cps_over_limit", "t1", "ALL", H)]
    row = only(alerts)
    assert (row["observed"], row["baseline"], row["threshold"]) == (3.0, 2.0, 2.0)
    assert cps_over_limit(frame, SCOPE, CpsOverLimit(factor=1.5)).is_empty()  # 3 <= 1.5 x 2


def erlang_b(a: float, m: int) -> float:
    """B(A, m) from the closed form, to derive the golden channel count independently."""
    terms = [a**k / math.factorial(k) for k in range(m + 1)]
    return terms[-1] / sum(terms)


def test_concurrency_over_the_erlang_b_channels_of_the_weeks_busy_hour() -> None:
    # The busiest hour of the last 7 days carried 5 E: B(5, 10) = 1.84 % > 1 %,
    # B(5, 11) = 0.83 % <= 1 % → 11 channels; x 1.25 margin → alert above 13.75.
    assert erlang_b(5, 10) > 0.01 >= erlang_b(5, 11)
    frame = usage(
        [
            ("t1", H - timedelta(days=2), 0, 10, 9, 5.0),
            ("t1", H - timedelta(days=8), 0, 10, 40, 20.0),  # outside the lookback
            ("t1", H, 0, 10, 15, 2.0),  # 15 > 13.75 → alert
            ("t2", H - timedelta(days=2), 0, 10, 9, 5.0),
            ("t2", H, 0, 10, 13, 2.0),  # 13 <= 13.75 → no alert
            ("t3", H, 0, 10, 4, 0.01),  # over 1 channel x 1.25 but under min_peak 5
        ]
    )
    alerts = concurrency_over_channels(frame, SCOPE, ConcurrencyOverChannels())
    assert keys(alerts) == [("concurrency_over_channels", "t1", "ALL", H)]
    row = only(alerts)
    assert (row["observed"], row["baseline"], row["threshold"]) == (15.0, 11.0, 13.75)
    assert "11 channels recommended" in row["message"] and "5.00 E" in row["message"]
    # With a 10-day lookback the 20 E hour counts: 30 channels, no alert.
    wide = ConcurrencyOverChannels(lookback_days=10)
    assert concurrency_over_channels(frame, SCOPE, wide).is_empty()


def test_short_calls_ratio_over_the_limit_on_enough_answered_calls() -> None:
    frame = pl.DataFrame(
        [
            ("p", "t1", "OUTBOUND", H, 20, 4),  # 4/20 = 0.20 > 0.15 → alert
            ("p", "t2", "OUTBOUND", H, 20, 3),  # 0.15, not over → no alert
            ("p", "t3", "OUTBOUND", H, 19, 19),  # under min_answered 20 → no alert
            ("q", "t1", "OUTBOUND", H, 20, 20),  # another project: not in the scope
        ],
        schema={"project_id": pl.String, "trunk_id": pl.String, "direction": pl.String,
                "hour_start": UTC_US, "answered": pl.Int64, "short": pl.Int64},
        orient="row",
    )  # fmt: skip
    alerts = short_calls(frame, SCOPE, ShortCalls())
    assert keys(alerts) == [("short_calls", "t1", "OUTBOUND", H)]
    row = only(alerts)
    assert (row["observed"], row["baseline"], row["threshold"]) == (0.2, None, 0.15)
    assert "4 of 20 answered calls (20%) lasted under 10 s" in row["message"]


def test_new_countries_are_those_not_called_in_the_lookback() -> None:
    day = timedelta(days=1)
    destinations = pl.DataFrame(
        [
            ("p", "t1", H - 3 * day, "4520", 1),  # DK three days ago
            ("p", "t1", H - 30 * day, "4420", 1),  # GB 30 days ago: outside 28 days
            ("p", "t1", H - day, "1212", 2),  # US (+1 212) yesterday
            ("p", "t1", H, "4520", 1),
            ("p", "t1", H, "4420", 2),  # GB again → new
            ("p", "t1", H, "1416", 1),  # +1 416 is Toronto: CA, never called → new
            ("p", "t1", H, "1212", 1),
            ("p", "t1", H + timedelta(hours=1), "1416", 1),  # CA an hour later: seen
            ("p", "t2", H, "5511", 3),  # BR on a trunk 5 days old → too young to judge
        ],
        schema={"project_id": pl.String, "trunk_id": pl.String, "hour_start": UTC_US,
                "head": pl.String, "calls": pl.Int64},
        orient="row",
    )  # fmt: skip
    first_calls = pl.DataFrame(
        [("p", "t1", H - 60 * day), ("p", "t2", H - 5 * day)],
        schema={"project_id": pl.String, "trunk_id": pl.String, "first_call": UTC_US},
        orient="row",
    )
    scope = Scope(H, H + timedelta(hours=2), ("p",))
    alerts = new_countries(destinations, first_calls, scope, NewCountries())
    assert keys(alerts) == [("new_countries", "t1", "OUTBOUND", H)]
    row = only(alerts)
    assert (row["observed"], row["baseline"], row["threshold"]) == (2.0, None, 0.0)
    assert (
        "2 countries not called in the previous 28 days: CA (1 call), GB (2 calls)"
        in (row["message"])
    )
    # A trunk with less history is judged once min_history_days allows it.
    young = new_countries(destinations, first_calls, scope, NewCountries(min_history_days=5))
    assert ("new_countries", "t2", "OUTBOUND", H) in keys(young)


def test_messages_name_the_trunk_where_its_name_is_known() -> None:
    frame = answer_rate(
        [
            (t, "INBOUND", hour, 40, n, 0)
            for t in ("t1", "t2")
            for hour, n in ((H, 10), (H - WEEK, 30))
        ]
    )
    names = pl.DataFrame({"project_id": ["p"], "trunk_id": ["t1"], "trunk_name": ["Copenhagen HQ"]})
    named = name_trunks(asr_drop(frame, SCOPE, RateDrop()), names)
    assert (
        "; trunk Copenhagen HQ (t1) (INBOUND), project p, hour 2026-11-16 09:00Z"
        in (named["message"][0])
    )
    assert "; trunk t2 (INBOUND), project p" in named["message"][1]
    usage_frame = usage([("t1", H, 3, 2, 1, 0.1)])
    (cps,) = name_trunks(cps_over_limit(usage_frame, SCOPE, CpsOverLimit()), names)["message"]
    assert cps.endswith("; trunk Copenhagen HQ (t1), project p, hour 2026-11-16 09:00Z")
