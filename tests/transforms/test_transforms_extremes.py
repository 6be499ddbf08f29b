"""Every duration derived from end_time stops at create_time + MAX_CALL_DURATION (24 h).

A landed end_time of 9999-12-31 used to fill every hour of the build with a busy channel and
add 8 000 years of conversation; the refresh only looks back 24 h anyway, so a longer call
could never be counted consistently.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
from transforms_testkit import make_calls, ts

from pipeline.transforms import MAX_CALL_DURATION, CallData, UtcHours, trunk_usage
from pipeline.transforms.prepare import prepare_calls

DAY_S = MAX_CALL_DURATION.total_seconds()
Y9999 = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_prepare_caps_occupancy_and_conversation_keeps_nulls():
    """9999 end → occupancy and conversation end at create + 24 h; an in-progress answered
    call still has no conversation and (without as_of) no occupancy; with an as_of 3 days
    later it occupies 24 h, not 3 days."""
    calls = make_calls(
        [
            {
                "create_time": "2026-03-01 10:00",
                "answer_time": "2026-03-01 10:00:30",
                "end_time": Y9999,
            },
            {"create_time": "2026-03-01 10:00", "answer_time": "2026-03-01 10:00:30"},
            {"create_time": "2026-03-01 10:00", "end_time": "2026-03-01 11:00"},
        ]
    )
    rows = prepare_calls(calls).select("conv_us", "occ_end", "in_progress").collect().rows()
    assert rows == [
        ((DAY_S - 30) * 1_000_000, ts("2026-03-02 10:00"), False),
        (0, None, True),
        (0, ts("2026-03-01 11:00"), False),  # shorter calls are untouched
    ]
    late = prepare_calls(calls, as_of=ts("2026-03-04 10:00")).collect()
    assert late["occ_end"][1] == ts("2026-03-02 10:00")


def test_9999_call_occupies_24_hours_of_the_build():
    calls = make_calls(
        [{"create_time": "2026-03-01 10:00", "answer_time": "2026-03-01 10:00", "end_time": Y9999}]
    )
    df = trunk_usage(CallData(calls), UtcHours(ts("2026-03-01 10:00"), ts("2026-03-03 10:00")))
    df = df.collect()
    assert df["holding_seconds"].sum() == DAY_S
    assert df.filter(pl.col("holding_seconds") > 0)["hour_start"].max() == ts("2026-03-02 09:00")
    assert df["conversation_seconds"].sum() == DAY_S
    assert df["peak_concurrent_calls"].max() == 1
