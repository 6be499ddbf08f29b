"""Gaps, partial days and few-call buckets (pipeline.reporting.series), golden values by hand.

The scenario: the report period is the 6 UTC hours 2026-11-28 22:00 → 2026-11-29 04:00; the
ingestion covered 22:00, 23:00 and 02:00 (00:00, 01:00 and 03:00 are a gap). Calls: 22:00
INBOUND 10 attempts (5 answered) and OUTBOUND 5 (5 answered); 02:00 INBOUND 30 (20 answered).
Copenhagen is UTC+1 in November, so 22:00 UTC is 23:00 on the 28th and every later hour is on
the 29th (local 00:00-04:00).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl

from pipeline.reporting.series import (
    MIN_DENOMINATOR,
    complete_hours,
    covered_hours,
    daily,
    day_lengths,
    day_ticks,
    hour_ticks,
    line_and_marks,
    ratio,
)

START = datetime(2026, 11, 28, 22, tzinfo=UTC)
END = START + timedelta(hours=6)
TZ = "Europe/Copenhagen"
H = timedelta(hours=1)
UTC_US = pl.Datetime("us", "UTC")


def _windows(*starts: datetime) -> pl.DataFrame:
    return pl.DataFrame(
        {"window_start": list(starts), "window_end": [s + H for s in starts]},
        schema={"window_start": UTC_US, "window_end": UTC_US},
    )


def _calls() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "hour_start": [START, START, START + 4 * H],
            "direction": ["INBOUND", "OUTBOUND", "INBOUND"],
            "attempts": [10, 5, 30],
            "answered": [5, 5, 20],
        },
        schema_overrides={"hour_start": UTC_US},
    )


def _hourly() -> pl.DataFrame:
    covered = covered_hours(_windows(START, START + H, START + 4 * H), START, END)
    return complete_hours(_calls(), START, END, covered, ["attempts", "answered"], ["direction"])


def test_covered_hours_expand_windows_and_clip_to_the_period() -> None:
    windows = pl.DataFrame(
        {"window_start": [START - 2 * H, START + 4 * H], "window_end": [START + H, END + 3 * H]},
        schema={"window_start": UTC_US, "window_end": UTC_US},
    )
    hours = covered_hours(windows, START, END).to_list()
    assert hours == [START, START + 4 * H, START + 5 * H]


def test_gaps_are_null_and_covered_hours_without_calls_are_zero() -> None:
    hourly = _hourly()
    inbound = hourly.filter(pl.col("direction") == "INBOUND")
    assert inbound["attempts"].to_list() == [10, 0, None, None, 30, None]
    assert inbound["covered"].to_list() == [True, True, False, False, True, False]
    outbound = hourly.filter(pl.col("direction") == "OUTBOUND")
    # no OUTBOUND row at 02:00, but the hour was ingested: 0 calls, not a gap
    assert outbound["attempts"].to_list() == [5, 0, None, None, 0, None]


def test_an_hour_with_calls_counts_as_covered_without_a_ledger() -> None:
    empty = covered_hours(_windows().clear(), START, END)
    hourly = complete_hours(_calls(), START, END, empty, ["attempts"])
    assert hourly["attempts"].to_list() == [15, None, None, None, 30, None]


def test_local_days_are_marked_partial_with_their_covered_hours() -> None:
    days = daily(_hourly(), TZ, ["attempts", "answered"], ["direction"])
    inbound = days.filter(pl.col("direction") == "INBOUND")
    assert inbound["local_date"].to_list() == [date(2026, 11, 28), date(2026, 11, 29)]
    assert inbound["attempts"].to_list() == [10, 30]
    assert inbound["covered_hours"].to_list() == [1, 2]
    assert inbound["day_hours"].to_list() == [24, 24]
    assert inbound["partial"].to_list() == [True, True]


def test_a_day_without_any_covered_hour_is_null_not_zero() -> None:
    end = START + timedelta(hours=30)  # runs into 30 Nov, never ingested
    covered = covered_hours(_windows(START), START, end)
    hourly = complete_hours(_calls().head(1), START, end, covered, ["attempts"])
    days = daily(hourly, TZ, ["attempts"])
    assert days["attempts"].to_list() == [10, None, None]
    assert days["covered_hours"].to_list() == [1, 0, 0]


def test_day_lengths_follow_daylight_saving() -> None:
    days = [date(2026, 3, 29), date(2026, 10, 25), date(2026, 11, 29)]
    assert day_lengths(days, TZ)["day_hours"].to_list() == [23, 25, 24]


def test_whole_day_is_not_partial() -> None:
    start = datetime(2026, 11, 29, 23, tzinfo=UTC)  # 30 Nov 00:00 local
    end = start + timedelta(hours=24)
    frame = pl.DataFrame(
        {"hour_start": [start], "attempts": [3]}, schema_overrides={"hour_start": UTC_US}
    )
    covered = covered_hours(
        pl.DataFrame(
            {"window_start": [start], "window_end": [end]},
            schema={"window_start": UTC_US, "window_end": UTC_US},
        ),
        start,
        end,
    )
    days = daily(complete_hours(frame, start, end, covered, ["attempts"]), TZ, ["attempts"])
    assert days.select("local_date", "attempts", "covered_hours", "partial").rows() == [
        (date(2026, 11, 30), 3, 24, False)
    ]


def test_ratio_marks_few_calls_and_partial_days_instead_of_plotting_them() -> None:
    frame = pl.DataFrame(
        {
            "answered": [19, 10, 60, 0, 1],
            "attempts": [19, 20, 100, 0, 1],
            "partial": [False, False, True, False, True],
            "covered_hours": [24, 24, 1, 24, 1],
            "day_hours": [24, 24, 24, 24, 24],
        }
    )
    out = ratio(frame, "asr", "answered", "attempts", "attempts")
    assert out["asr"].to_list() == [1.0, 0.5, 0.6, None, 1.0]
    assert out["asr_ok"].to_list() == [False, True, False, False, False]
    assert out["asr_note"].to_list() == [
        f"only 19 attempts (< {MIN_DENOMINATOR})",
        "",
        "partial day: 1 of 24 h",
        "only 0 attempts (< 20)",
        "partial day: 1 of 24 h; only 1 attempts (< 20)",
    ]
    line, marked = line_and_marks(out, "asr")
    # the 100 % of 19 calls and the 1-hour day are hollow markers, not points of the line
    assert line == [None, 0.5, None, None, None]
    assert marked == [1.0, None, 0.6, None, 1.0]


def test_gaps_break_the_line() -> None:
    hourly = _hourly().filter(pl.col("direction") == "INBOUND")
    hourly_asr = ratio(hourly, "asr", "answered", "attempts", "attempts", min_denominator=1)
    line, marked = line_and_marks(hourly_asr, "asr")
    # 22:00 5 of 10; 23:00 ingested, no calls: no rate; 00:00-01:00 gap; 02:00 20 of 30; 03:00
    # gap. Each None is a break: no straight line from 22:00 to 02:00.
    assert line == [0.5, None, None, None, 20 / 30, None]
    assert marked == [None] * 6


def test_day_ticks_label_each_date_once() -> None:
    days = [date(2026, 11, 20) + timedelta(days=i) for i in range(20)]
    values, labels = day_ticks(days)
    assert len(labels) == len(set(labels)) == 10  # every 2nd day: at most 14 labels
    assert values[:2] == ["2026-11-20", "2026-11-22"]
    assert labels[0] == "Fri<br>20 Nov"
    short = day_ticks([date(2026, 11, 29), date(2026, 11, 30)])
    assert short == (["2026-11-29", "2026-11-30"], ["Sun<br>29 Nov", "Mon<br>30 Nov"])
    assert day_ticks([]) == ([], [])


def test_hour_ticks_print_a_date_only_where_it_changes() -> None:
    first = datetime(2026, 11, 28, 20)
    hours = [first + i * H for i in range(32)]  # 28 Nov 20:00 → 30 Nov 03:00, local
    values, labels = hour_ticks(hours)
    assert labels == [
        "00:00<br>Sun 29 Nov",
        "06:00",
        "12:00",
        "18:00",
        "00:00<br>Mon 30 Nov",
    ]
    assert values[0] == "2026-11-29T00:00:00"
    assert hour_ticks(hours[:3])[1] == []  # 20:00-22:00: no tick at a multiple of 6 h
