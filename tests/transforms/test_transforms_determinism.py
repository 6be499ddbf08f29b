"""Re-running a transform on the same calls gives bit-identical rows, whatever the row order.

Found by the integration test "partitions twice give identical tables": conversation seconds
were summed as floats, and Polars adds floats in a thread-dependent order, so a second run
could differ in the last bit. Sums are now of integer microseconds, divided at the end.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import polars as pl

from pipeline.transforms import CallData, LocalDays, UtcHours, direction_mix, trunk_usage

T0 = datetime(2026, 11, 9, 6, tzinfo=UTC)
UTC_US = pl.Datetime("us", "UTC")


def calls_frame(rows: list[tuple]) -> pl.DataFrame:
    """``raw.calls``-shaped frame from (call_id, create, answer, end, direction, result, trunk,
    billed seconds) tuples; no prices."""
    return pl.DataFrame(
        rows,
        schema={
            "call_id": pl.String,
            "create_time": UTC_US,
            "answer_time": UTC_US,
            "end_time": UTC_US,
            "direction": pl.String,
            "call_result": pl.String,
            "trunk_id": pl.String,
            "billing_duration_seconds": pl.Int64,
        },
        orient="row",
    ).with_columns(price=pl.lit(None, pl.Decimal(18, 6)), price_currency=pl.lit(None, pl.String))


def calls(seed: int, n: int = 20_000) -> pl.DataFrame:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        created = T0 + timedelta(microseconds=rng.randrange(3_600_000_000))
        answer = created + timedelta(microseconds=rng.randrange(30_000_000))
        end = answer + timedelta(microseconds=rng.randrange(1, 900_000_000))
        rows.append((f"c{i}", created, answer, end, "INBOUND", "COMPLETED", "T1", 60))
    return calls_frame(rows)


def test_row_order_does_not_change_any_bit():
    frame = calls(seed=3)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=9)
    hourly = [
        trunk_usage(CallData(f.lazy()), UtcHours(T0, T0 + timedelta(hours=2))).collect()
        for f in (frame, shuffled, frame.reverse())
    ]
    daily = [
        direction_mix(
            CallData(f.lazy()), LocalDays(T0.date(), T0.date() + timedelta(days=1), "UTC")
        ).collect()
        for f in (frame, shuffled, frame.reverse())
    ]
    for runs in (hourly, daily):
        assert runs[0].to_dicts() == runs[1].to_dicts() == runs[2].to_dicts()
    # Exact: the sum of integer microseconds, divided once.
    expected_us = (frame["end_time"] - frame["answer_time"]).dt.total_microseconds().sum()
    assert hourly[0]["conversation_seconds"].sum() == expected_us / 1_000_000


def test_many_trunks_get_their_own_peaks_on_every_collect():
    """Group ids came from ``unique()``, whose order can change between evaluations of the same
    sub-plan; with many trunks the three joins on those ids then mixed trunks up, so peaks and
    holding times were wrong on some collects (seen as a flaky Copenhagen peak check)."""
    rng = random.Random(5)
    rows = []
    for i in range(6000):
        created = T0 + timedelta(seconds=rng.randrange(7200))
        end = created + timedelta(seconds=rng.randrange(1, 900))
        rows.append((f"c{i}", created, created, end, "INBOUND", "COMPLETED", f"T{i % 600}", 60))
    frame = calls_frame(rows)
    plan = trunk_usage(CallData(frame.lazy()), UtcHours(T0, T0 + timedelta(hours=3)))

    def brute_force_peak(trunk: str, hour: datetime) -> int:
        spans = [(r[1], r[3]) for r in rows if r[6] == trunk and r[1] < hour + timedelta(hours=1)]
        instants = [max(s, hour) for s, e in spans if e > hour]
        return max((sum(1 for s, e in spans if s <= t < e) for t in instants), default=0)

    first = plan.collect()
    for _ in range(10):
        assert plan.collect().equals(first)
    for trunk, hour, peak in first.select(
        "trunk_id", "hour_start", "trunk_peak_concurrent_calls"
    ).rows()[:60]:
        assert peak == brute_force_peak(trunk, hour), (trunk, hour)
