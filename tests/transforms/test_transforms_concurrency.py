"""Golden tests: peak concurrency (sweep line), Erlangs clipped to hours, CPS peak."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from transforms_testkit import make_calls, make_trunks, ts

from pipeline.transforms import CallData, UtcHours, trunk_usage
from pipeline.transforms.concurrency import occupancy, occupancy_split


def _hourly(calls, trunks=None, start="2026-01-01 09:00", end="2026-01-01 12:00", **kw):
    return trunk_usage(CallData(calls, trunks, **kw), UtcHours(ts(start), ts(end))).collect()


def _row(df: pl.DataFrame, hour: str, direction: str = "OUTBOUND", trunk: str = "t1") -> dict:
    rows = df.filter(
        (pl.col("hour_start") == ts(hour))
        & (pl.col("direction") == direction)
        & (pl.col("trunk_id") == trunk)
    ).to_dicts()
    assert len(rows) == 1, rows
    return rows[0]


def test_tie_end_equals_start_gives_peak_one():
    """A = [10:00, 10:30), B = [10:30, 11:00): at 10:30 A ends exactly when B starts.

    Half-open intervals (ends before starts): at every instant exactly one call is up, so
    peak = 1 (a naive +1-before-−1 sweep says 2). Holding = 1800 + 1800 = 3600 s →
    Erlangs = 3600 / 3600 = 1.0 in hour 10; no occupancy in hours 9 and 11 → no rows there.
    """
    calls = make_calls(
        [
            {"create_time": "2026-01-01 10:00", "end_time": "2026-01-01 10:30"},
            {"create_time": "2026-01-01 10:30", "end_time": "2026-01-01 11:00"},
        ]
    )
    df = _hourly(calls)
    assert df["hour_start"].to_list() == [ts("2026-01-01 10:00")]
    r = _row(df, "2026-01-01 10:00")
    assert r["peak_concurrent_calls"] == 1
    assert r["trunk_peak_concurrent_calls"] == 1
    assert r["holding_seconds"] == 3600.0
    assert r["erlangs"] == 1.0


def test_overlap_by_one_second_gives_peak_two():
    """Control for the tie test: B starts one second before A ends → 2 up during [10:29:59,
    10:30:00), so peak = 2; holding = 1800 + 1801 = 3601 s."""
    calls = make_calls(
        [
            {"create_time": "2026-01-01 10:00", "end_time": "2026-01-01 10:30"},
            {"create_time": "2026-01-01 10:29:59", "end_time": "2026-01-01 11:00"},
        ]
    )
    r = _row(_hourly(calls), "2026-01-01 10:00")
    assert r["peak_concurrent_calls"] == 2
    assert r["holding_seconds"] == 3601.0


def test_call_crossing_hour_split_and_counted_in_both_hours():
    """A = [09:40, 10:20) crosses 10:00; B = [10:10, 10:15) inside hour 10.

    Hour 09: A holds 09:40–10:00 = 1200 s → 1200/3600 = 1/3 E; peak 1; attempts 1 (A).
    Hour 10: A holds 10:00–10:20 = 1200 s, B 300 s → 1500 s → 1500/3600 E; during
    [10:10, 10:15) both are up → peak 2; attempts 1 (only B was created in hour 10).
    The whole call is *not* attributed to 09:00: Σ holding = 2700 s = 2400 + 300.
    """
    calls = make_calls(
        [
            {"create_time": "2026-01-01 09:40", "end_time": "2026-01-01 10:20"},
            {"create_time": "2026-01-01 10:10", "end_time": "2026-01-01 10:15"},
        ]
    )
    df = _hourly(calls)
    h9, h10 = _row(df, "2026-01-01 09:00"), _row(df, "2026-01-01 10:00")
    assert (h9["holding_seconds"], h9["peak_concurrent_calls"], h9["attempts"]) == (1200.0, 1, 1)
    assert h9["erlangs"] == pytest.approx(1 / 3)
    assert (h10["holding_seconds"], h10["peak_concurrent_calls"], h10["attempts"]) == (1500, 2, 1)
    assert h10["erlangs"] == pytest.approx(1500 / 3600)
    assert df["holding_seconds"].sum() == 2700.0


def test_call_started_before_window_is_counted_but_not_as_attempt():
    """Same calls, window starts at 10:00 (A was created at 09:40, before the window).

    Hour 10 must still see A: peak 2, holding 1500 s (pitfall ii), but attempts = 1 (B): a
    crossing call contributes occupancy, never counts. No row for 09:00 (outside the window).
    """
    calls = make_calls(
        [
            {"create_time": "2026-01-01 09:40", "end_time": "2026-01-01 10:20"},
            {"create_time": "2026-01-01 10:10", "end_time": "2026-01-01 10:15"},
        ]
    )
    df = _hourly(calls, start="2026-01-01 10:00", end="2026-01-01 11:00")
    assert df.height == 1
    r = _row(df, "2026-01-01 10:00")
    assert (r["peak_concurrent_calls"], r["holding_seconds"], r["attempts"]) == (2, 1500.0, 1)


def test_carry_in_only_row_has_zero_attempts():
    """A = [09:30, 11:30) spans three hours; window [10:00, 12:00).

    Hour 10: 3600 s, 1.0 E, peak 1, attempts 0; hour 11: 1800 s, 0.5 E, peak 1, attempts 0.
    """
    calls = make_calls([{"create_time": "2026-01-01 09:30", "end_time": "2026-01-01 11:30"}])
    df = _hourly(calls, start="2026-01-01 10:00", end="2026-01-01 12:00")
    assert df.select(
        "hour_start", "attempts", "holding_seconds", "erlangs", "peak_concurrent_calls"
    ).rows() == [
        (ts("2026-01-01 10:00"), 0, 3600.0, 1.0, 1),
        (ts("2026-01-01 11:00"), 0, 1800.0, 0.5, 1),
    ]


def test_direction_and_trunk_levels_and_exact_trunk_filter():
    """t1: OUTBOUND [10:00, 10:30), INBOUND [10:10, 10:20); t2: OUTBOUND [10:00, 10:30).

    Per direction on t1: OUTBOUND peak 1 (1800 s), INBOUND peak 1 (600 s).
    Trunk-wide t1: both up during [10:10, 10:20) → trunk peak 2, 2400 s → 2/3 E, repeated on
    both direction rows. t2's call must not leak into t1 (pitfall iii): t2 peak 1.
    """
    calls = make_calls(
        [
            {"create_time": "2026-01-01 10:00", "end_time": "2026-01-01 10:30"},
            {
                "create_time": "2026-01-01 10:10",
                "end_time": "2026-01-01 10:20",
                "direction": "INBOUND",
            },
            {"create_time": "2026-01-01 10:00", "end_time": "2026-01-01 10:30", "trunk_id": "t2"},
        ]
    )
    df = _hourly(calls)
    out, inb = _row(df, "2026-01-01 10:00"), _row(df, "2026-01-01 10:00", "INBOUND")
    t2 = _row(df, "2026-01-01 10:00", trunk="t2")
    assert (out["peak_concurrent_calls"], out["holding_seconds"]) == (1, 1800.0)
    assert (inb["peak_concurrent_calls"], inb["holding_seconds"]) == (1, 600.0)
    for r in (out, inb):
        assert r["trunk_peak_concurrent_calls"] == 2
        assert r["trunk_holding_seconds"] == 2400.0
        assert r["trunk_erlangs"] == pytest.approx(2 / 3)
    assert (t2["peak_concurrent_calls"], t2["trunk_peak_concurrent_calls"]) == (1, 1)


def test_in_progress_calls_use_as_of_or_are_excluded():
    """A = [10:00, NULL) still up; B = [10:00, 10:10).

    Without ``as_of``: A is an attempt and ``in_progress`` = 1 but holds no channel → holding
    600 s (B only), peak 1. With ``as_of`` = 10:30: A holds [10:00, 10:30) = 1800 s → 2400 s,
    peak 2 during [10:00, 10:10).
    """
    calls = make_calls(
        [
            {"create_time": "2026-01-01 10:00", "answer_time": "2026-01-01 10:00:05"},
            {"create_time": "2026-01-01 10:00", "end_time": "2026-01-01 10:10"},
        ]
    )
    r = _row(_hourly(calls), "2026-01-01 10:00")
    assert (r["attempts"], r["in_progress"], r["holding_seconds"], r["peak_concurrent_calls"]) == (
        2,
        1,
        600.0,
        1,
    )
    r = _row(_hourly(calls, as_of=ts("2026-01-01 10:30")), "2026-01-01 10:00")
    assert (r["holding_seconds"], r["peak_concurrent_calls"]) == (2400.0, 2)


def test_cps_peak_against_trunk_limit():
    """Created at 10:00:05.000, .400, .900 (OUTBOUND) and 10:00:05.500 (INBOUND), 10:00:06.0
    (OUTBOUND). Seconds: 10:00:05 holds 4 creates (3 out + 1 in), 10:00:06 holds 1.

    peak_cps OUTBOUND = 3, INBOUND = 1; trunk_peak_cps = 4; limit 2 → utilisation 4/2 = 2.0.
    A trunk without a known limit gets cps_limit NULL and utilisation NULL.
    """
    base = datetime(2026, 1, 1, 10, 0, 5, tzinfo=UTC)
    rows = [
        {"create_time": base + timedelta(milliseconds=ms), "end_time": base + timedelta(seconds=9)}
        for ms in (0, 400, 900)
    ]
    rows.append(
        {
            "create_time": base + timedelta(milliseconds=500),
            "end_time": base + timedelta(seconds=9),
            "direction": "INBOUND",
        }
    )
    rows.append(
        {"create_time": base + timedelta(seconds=1), "end_time": base + timedelta(seconds=9)}
    )
    rows.append({"create_time": base, "end_time": base + timedelta(seconds=9), "trunk_id": "t9"})
    df = _hourly(make_calls(rows), make_trunks({"t1": 2}))
    out, inb = _row(df, "2026-01-01 10:00"), _row(df, "2026-01-01 10:00", "INBOUND")
    assert (out["peak_cps"], inb["peak_cps"]) == (3, 1)
    assert (out["trunk_peak_cps"], out["cps_limit"], out["cps_utilisation"]) == (4, 2, 2.0)
    assert inb["cps_utilisation"] == 2.0
    t9 = _row(df, "2026-01-01 10:00", trunk="t9")
    assert (t9["peak_cps"], t9["cps_limit"], t9["cps_utilisation"]) == (1, None, None)


def _brute_force(intervals, bucket_starts, window_end):
    """Peak = max over candidate instants (bucket start + every start inside the bucket) of
    #{s <= t < e}; the count only rises at starts, so those candidates are enough."""
    out = {}
    edges = [*bucket_starts, window_end]
    for i, (b0, b1) in enumerate(itertools.pairwise(edges)):
        cands = [b0] + [s for s, _ in intervals if b0 <= s < b1]
        peak = max(sum(1 for s, e in intervals if s <= t < e) for t in cands)
        hold = sum(max(0.0, (min(e, b1) - max(s, b0)).total_seconds()) for s, e in intervals)
        if hold > 0:
            out[i] = (peak, hold)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_sweep_line_matches_brute_force_on_random_intervals(seed):
    """Property: for seeded random intervals (whole seconds, many exact ties from a coarse
    grid, some starting before the window and some ending after it), the sweep line gives the
    same per-bucket peak and holding seconds as the brute-force count."""
    rng = random.Random(seed)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    intervals = []
    for _ in range(150):
        s = t0 + timedelta(seconds=rng.randrange(-3600, 6 * 3600, 60 if rng.random() < 0.5 else 1))
        e = s + timedelta(seconds=rng.choice([0, 60, 120, 1800, rng.randrange(1, 7200)]))
        intervals.append((s, e))
    # 10-minute buckets make the peaks local, so a wrong tie order shows up as a wrong peak
    bucket_starts = [t0 + timedelta(minutes=m) for m in range(0, 300, 10)]
    window_end = t0 + timedelta(hours=5)
    frame = pl.LazyFrame(
        {
            "g": ["x"] * len(intervals),
            "create_time": [s for s, _ in intervals],
            "occ_end": [e for _, e in intervals],
        },
        schema={
            "g": pl.String,
            "create_time": pl.Datetime("us", "UTC"),
            "occ_end": pl.Datetime("us", "UTC"),
        },
    )
    got = {
        r["bucket_idx"]: (r["peak_concurrent_calls"], r["holding_seconds"])
        for r in occupancy(frame, ["g"], bucket_starts, window_end).collect().to_dicts()
    }
    assert got == _brute_force(intervals, bucket_starts, window_end)
    assert len(got) >= 25  # enough traffic to fill most buckets


def _trunk_intervals(rows: list[tuple]) -> pl.LazyFrame:
    """(trunk_id, direction, start, end) tuples → an occupancy input frame."""
    return pl.LazyFrame(
        rows,
        schema={
            "trunk_id": pl.String,
            "direction": pl.String,
            "create_time": pl.Datetime("us", "UTC"),
            "occ_end": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_split_sweep_matches_brute_force_per_direction_and_per_trunk(seed):
    """Property: the one-sort two-level sweep (trunk and trunk × direction) equals the brute
    force for every trunk and for every (trunk, direction), on seeded random intervals with
    exact ties (minute grid) across three trunks and three directions."""
    rng = random.Random(seed)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for _ in range(240):
        s = t0 + timedelta(minutes=rng.randrange(-60, 180))
        e = s + timedelta(minutes=rng.choice([0, 1, 5, 30, rng.randrange(1, 120)]))
        rows.append(
            (rng.choice(["t1", "t2", "t3"]), rng.choice(["INBOUND", "OUTBOUND", "UNKNOWN"]), s, e)
        )
    frame = _trunk_intervals(rows)
    bucket_starts = [t0 + timedelta(minutes=m) for m in range(0, 180, 15)]
    window_end = t0 + timedelta(hours=3)
    by_dir, by_trunk = occupancy_split(
        frame,
        ["trunk_id"],
        "direction",
        ["INBOUND", "OUTBOUND", "UNKNOWN"],
        bucket_starts,
        window_end,
    )
    got_dir = {
        (r["trunk_id"], r["direction"], r["bucket_idx"]): (
            r["peak_concurrent_calls"],
            r["holding_seconds"],
        )
        for r in by_dir.collect().to_dicts()
    }
    got_trunk = {
        (r["trunk_id"], r["bucket_idx"]): (r["peak_concurrent_calls"], r["holding_seconds"])
        for r in by_trunk.collect().to_dicts()
    }
    want_dir, want_trunk = {}, {}
    for trunk in ("t1", "t2", "t3"):
        ivs = [(s, e) for t, _, s, e in rows if t == trunk]
        for i, v in _brute_force(ivs, bucket_starts, window_end).items():
            want_trunk[(trunk, i)] = v
        for d in ("INBOUND", "OUTBOUND", "UNKNOWN"):
            ivs = [(s, e) for t, dd, s, e in rows if t == trunk and dd == d]
            for i, v in _brute_force(ivs, bucket_starts, window_end).items():
                want_dir[(trunk, d, i)] = v
    assert got_trunk == want_trunk
    assert got_dir == want_dir
    assert len(want_dir) > 50


def test_recomputing_a_sub_range_matches_the_full_build():
    """Incremental refresh: building only hours [10, 12) from calls created in
    [10 − 24 h, 12) gives exactly the rows the full-day build has for those hours."""
    rng = random.Random(7)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for _ in range(300):
        s = t0 + timedelta(seconds=rng.randrange(0, 24 * 3600))
        rows.append(
            {
                "create_time": s,
                "end_time": s + timedelta(seconds=rng.randrange(0, 3 * 3600)),
                "direction": rng.choice(["INBOUND", "OUTBOUND"]),
                "trunk_id": rng.choice(["t1", "t2"]),
                "call_result": rng.choice(["COMPLETED", "BUSY"]),
            }
        )
    calls = make_calls(rows)
    full = trunk_usage(CallData(calls), UtcHours(t0, t0 + timedelta(hours=24))).collect()
    lo, hi = t0 + timedelta(hours=10), t0 + timedelta(hours=12)
    part = trunk_usage(
        CallData(calls.filter(pl.col("create_time") >= lo - timedelta(hours=24))), UtcHours(lo, hi)
    ).collect()
    expected = full.filter((pl.col("hour_start") >= lo) & (pl.col("hour_start") < hi))
    assert part.height > 0
    assert_frame_equal(part, expected)


def test_zone_label_of_input_does_not_matter():
    """The same instants labelled Europe/Copenhagen (as a DuckDB session not pinned to UTC
    would return them) give the same table as the UTC-labelled frame."""
    calls = make_calls(
        [
            {"create_time": "2026-01-01 09:40", "end_time": "2026-01-01 10:20"},
            {"create_time": "2026-01-01 10:10", "end_time": "2026-01-01 10:15"},
        ]
    )
    local = calls.with_columns(
        pl.col(c).dt.convert_time_zone("Europe/Copenhagen")
        for c in ("create_time", "answer_time", "end_time")
    )
    assert_frame_equal(_hourly(local), _hourly(calls))


def test_group_only_sweep_equals_the_split_sweeps_group_level():
    """One sweep line serves both: ``occupancy`` per trunk gives the same rows as the trunk
    level of ``occupancy_split`` (trunk and trunk × direction from one sort)."""
    rng = random.Random(21)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for _ in range(400):
        s = t0 + timedelta(seconds=rng.randrange(-1800, 4 * 3600, rng.choice([1, 60])))
        e = s + timedelta(seconds=rng.choice([0, 60, rng.randrange(1, 5400)]))
        rows.append((rng.choice(["t1", "t2"]), rng.choice(["INBOUND", "OUTBOUND"]), s, e))
    frame = _trunk_intervals(rows)
    starts = [t0 + timedelta(hours=h) for h in range(4)]
    end = t0 + timedelta(hours=4)
    _, by_trunk = occupancy_split(
        frame, ["trunk_id"], "direction", ["INBOUND", "OUTBOUND"], starts, end
    )
    alone = occupancy(frame, ["trunk_id"], starts, end)
    order = ["trunk_id", "bucket_idx"]
    assert_frame_equal(alone.collect().sort(order), by_trunk.collect().sort(order))
    assert alone.collect().height == 8
