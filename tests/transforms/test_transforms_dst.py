"""Golden tests: report-time-zone days and busy hours across DST (Europe/Copenhagen).

Europe/Copenhagen 2026: CEST (UTC+2) → CET (UTC+1) at 2026-10-25 03:00 local = 01:00 UTC, so
local 2026-10-25 = [2026-10-24 22:00Z, 2026-10-25 23:00Z) = 25 h = 90 000 s and the local hour
02:00 occurs twice (00:00Z = 02:00+02:00 and 01:00Z = 02:00+01:00). Spring: CET → CEST at
2026-03-29 02:00 local = 01:00 UTC, local 2026-03-29 = [03-28 23:00Z, 03-29 22:00Z) = 23 h.
"""

from __future__ import annotations

from datetime import date

import pytest
from transforms_testkit import make_calls, ts

from pipeline.transforms import CallData, LocalDays, answer_rate, busy_hour, trunk_usage
from pipeline.transforms.calendar import local_day_buckets, local_hour_buckets

TZ = "Europe/Copenhagen"
FALL, FALL_NEXT = date(2026, 10, 25), date(2026, 10, 26)
FALL_DAY = LocalDays(FALL, FALL_NEXT, TZ)


def test_local_day_lengths():
    """Bucket lengths: 10-24 = 24 h, 10-25 = 25 h, 03-29 = 23 h; hours per day 24/25/23."""
    days = local_day_buckets(date(2026, 10, 24), FALL_NEXT, TZ)
    assert days["bucket_seconds"].to_list() == [86_400, 90_000]
    assert days["bucket_start"].to_list() == [ts("2026-10-23 22:00"), ts("2026-10-24 22:00")]
    spring = local_day_buckets(date(2026, 3, 29), date(2026, 3, 30), TZ)
    assert spring.row(0)[1:] == (ts("2026-03-28 23:00"), ts("2026-03-29 22:00"), 82_800)
    hours = local_hour_buckets(FALL, FALL_NEXT, TZ)
    assert hours.height == 25
    assert local_hour_buckets(date(2026, 3, 29), date(2026, 3, 30), TZ).height == 23


def test_erlangs_divide_by_25_hour_day():
    """One channel busy for the whole local day 2026-10-25 ([22:00Z on 10-24, 23:00Z on
    10-25)): holding = 90 000 s; Erlangs = 90 000 / 90 000 = 1.0 (dividing by 86 400 would give
    1.0417). A call lasts at most MAX_CALL_DURATION (24 h), so two back-to-back calls fill it:
    P [10-24 21:00Z, 10-25 21:00Z), created on local 10-24 (23:00 CEST), holds 23 h of the day;
    Q [10-25 21:00Z, 23:00Z) the last 2 h. Only Q is an attempt of 10-25; peak 1 (P ends as Q
    starts). A call created at 00:00 local (22:00Z the day before in UTC terms) is an attempt
    of the local day 10-25, not 10-24."""
    day = make_calls(
        [
            {"create_time": "2026-10-24 21:00", "end_time": "2026-10-25 21:00"},
            {"create_time": "2026-10-25 21:00", "end_time": "2026-10-25 23:00"},
        ]
    )
    calls = make_calls([{"create_time": "2026-10-24 22:00", "end_time": "2026-10-25 23:00"}])
    r = trunk_usage(CallData(day), FALL_DAY).collect()
    assert r.select("report_date", "bucket_seconds", "attempts", "holding_seconds").rows() == [
        (FALL, 90_000, 1, 90_000.0)
    ]
    assert r["erlangs"].item() == 1.0
    assert r["peak_concurrent_calls"].item() == 1
    ar = answer_rate(CallData(calls), LocalDays(date(2026, 10, 24), FALL_NEXT, TZ))
    assert ar.collect().select("report_date", "attempts").rows() == [(FALL, 1)]


def test_erlangs_divide_by_23_hour_day():
    """Spring: a call [2026-03-29 10:00Z, 2026-03-29 21:12Z) holds 11.2 h = 40 320 s;
    the local day is 82 800 s → 40 320 / 82 800 = 0.48695... E (not 40 320 / 86 400 = 0.4667)."""
    calls = make_calls([{"create_time": "2026-03-29 10:00", "end_time": "2026-03-29 21:12"}])
    r = trunk_usage(CallData(calls), LocalDays(date(2026, 3, 29), date(2026, 3, 30), TZ)).collect()
    assert r["holding_seconds"].item() == 40_320.0
    assert r["erlangs"].item() == pytest.approx(40_320 / 82_800)


def test_busy_hour_is_the_repeated_local_hour_with_offset():
    """Local 2026-10-25, trunk t1:
    * 00:00Z–00:30Z (= first 02:00, +02:00): one call → 1800 s = 0.5 E, 1 attempt;
    * 01:00Z–02:00Z (= second 02:00, +01:00): calls [01:00, 02:00) and [01:30, 02:00) →
      3600 + 1800 = 5400 s = 1.5 E, 2 attempts, 1 answered, peak 2;
    * 10:00Z–10:30Z (11:00+01:00): 1 call → 0.5 E.
    Busy hour = second 02:00 (1.5 E): start 01:00Z, local '2026-10-25T02:00:00+01:00',
    BHCA 2, BHCC 1. Daily Erlangs = (1800 + 5400 + 1800) / 90 000 = 0.1 E.
    """
    calls = make_calls(
        [
            {"create_time": "2026-10-25 00:00", "end_time": "2026-10-25 00:30"},
            {"create_time": "2026-10-25 01:00", "end_time": "2026-10-25 02:00"},
            {
                "create_time": "2026-10-25 01:30",
                "end_time": "2026-10-25 02:00",
                "call_result": "NO_ANSWER",
            },
            {"create_time": "2026-10-25 10:00", "end_time": "2026-10-25 10:30"},
        ]
    )
    bh = busy_hour(CallData(calls), FALL_DAY).collect()
    assert bh.rows() == [
        (FALL, "t1", ts("2026-10-25 01:00"), "2026-10-25T02:00:00+01:00", 5400.0, 1.5, 2, 2, 1)
    ]
    day = trunk_usage(CallData(calls), FALL_DAY).collect()
    assert day["erlangs"].item() == pytest.approx(9000 / 90_000)


def test_busy_hour_tie_takes_earliest_and_first_repeated_hour_offset():
    """Two equal hours (0.5 E each): 00:00Z (02:00+02:00) and 10:00Z → the earliest wins and
    its local label carries +02:00."""
    calls = make_calls(
        [
            {"create_time": "2026-10-25 00:00", "end_time": "2026-10-25 00:30"},
            {"create_time": "2026-10-25 10:00", "end_time": "2026-10-25 10:30"},
        ]
    )
    bh = busy_hour(CallData(calls), FALL_DAY).collect()
    assert bh.select("busy_hour_start", "busy_hour_local", "busy_hour_erlangs").rows() == [
        (ts("2026-10-25 00:00"), "2026-10-25T02:00:00+02:00", 0.5)
    ]


def test_busy_hour_uses_local_clock_hours_in_half_hour_zone():
    """Asia/Kolkata is UTC+05:30: local hours start at hh:30Z. A call [04:30Z, 05:30Z) fills
    local 10:00–11:00 exactly → 1.0 E with start 04:30Z (UTC-hour buckets would split it
    0.5/0.5)."""
    calls = make_calls([{"create_time": "2026-01-01 04:30", "end_time": "2026-01-01 05:30"}])
    bh = busy_hour(
        CallData(calls), LocalDays(date(2026, 1, 1), date(2026, 1, 2), "Asia/Kolkata")
    ).collect()
    assert bh.select("busy_hour_start", "busy_hour_local", "busy_hour_erlangs").rows() == [
        (ts("2026-01-01 04:30"), "2026-01-01T10:00:00+05:30", 1.0)
    ]
