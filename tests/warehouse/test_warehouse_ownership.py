"""Each analytics bucket has one owner hour: refreshes of different hours never write the same
rows, and refreshing hour by hour, in any order, then the marked hours, equals one refresh.

Owners derived by hand: in Europe/Copenhagen, 2026-03-29 has 23 hours (02:00 CET jumps to
03:00 CEST) and ends at 2026-03-29 22:00 UTC, so its owner is the UTC hour 21:00;
2026-10-25 has 25 hours and ends at 23:00 UTC (owner 22:00); in Asia/Kolkata (+05:30) a day
ends at 18:30 UTC, inside the UTC hour 18:00.
"""

from __future__ import annotations

import itertools
import random
from datetime import date, timedelta

import pytest
from warehouse_kit import at, hour_window, land, make_call, scalar, settle

from pipeline.transforms import ANALYTICS_TABLES
from pipeline.warehouse.analytics import pending_hours, refresh_all
from pipeline.warehouse.connection import connect
from pipeline.warehouse.ownership import day_owner, dependent_owners, hour_runs, owned_days
from pipeline.warehouse.raw_calls import RawCallsWriter

CPH = "Europe/Copenhagen"
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("day", "tz", "owner"),
    [
        (date(2026, 3, 1), "UTC", "2026-03-01 23:00"),
        (date(2026, 3, 29), CPH, "2026-03-29 21:00"),  # 23-hour day
        (date(2026, 10, 25), CPH, "2026-10-25 22:00"),  # 25-hour day
        (date(2026, 3, 1), "Asia/Kolkata", "2026-03-01 18:00"),  # ends at 18:30 UTC
    ],
)
def test_a_day_is_owned_by_the_hour_holding_its_last_instant(day, tz, owner) -> None:
    assert day_owner(day, tz) == at(owner)
    # and exactly that one hour's range owns it
    assert owned_days(at(owner), at(owner) + HOUR, tz) == (day, day + timedelta(days=1))
    assert owned_days(at(owner) - HOUR, at(owner), tz) is None


def test_consecutive_ranges_own_disjoint_days_covering_all() -> None:
    """Split 2026-03-27 00:00 … 2026-04-02 00:00 UTC at random hours: the ranges' days never
    overlap and together are every day ending in the span (the DST week of Copenhagen)."""
    start, end = at("2026-03-27 00:00"), at("2026-04-02 00:00")
    hours = int((end - start) / HOUR)
    cuts = sorted(random.Random(5).sample(range(1, hours), 40))
    bounds = [start + i * HOUR for i in (0, *cuts, hours)]
    owned: list[date] = []
    for first, last in itertools.pairwise(bounds):
        days = owned_days(first, last, CPH)
        if days is not None:
            owned += [days[0] + timedelta(days=i) for i in range((days[1] - days[0]).days)]
    assert owned == [date(2026, 3, 27) + timedelta(days=i) for i in range(6)]  # no repeats


def test_dependents_are_the_occupied_hours_and_their_days_owners() -> None:
    first, until = at("2026-03-01 22:00"), at("2026-03-02 01:10")
    owners = dependent_owners(first, until, "UTC", ingested_end=at("2026-03-03 00:00"))
    expected = {at("2026-03-01 22:00") + i * HOUR for i in range(4)}  # 22, 23, 00, 01
    assert owners == expected | {at("2026-03-02 23:00")}  # the second day's owner
    # hours not ingested are left to their own runs
    assert dependent_owners(first, until, "UTC", ingested_end=at("2026-03-02 00:00")) == {
        at("2026-03-01 22:00"),
        at("2026-03-01 23:00"),
    }
    assert dependent_owners(first, until, "UTC", ingested_end=None) == set()


def test_hour_runs_merge_consecutive_hours() -> None:
    h = [at("2026-03-01 10:00"), at("2026-03-01 11:00"), at("2026-03-01 14:00")]
    assert hour_runs(reversed(h)) == [(h[0], h[1] + HOUR), (h[2], h[2] + HOUR)]


def _history(con) -> None:
    """Calls over two Copenhagen days, some long enough to occupy the next hours and day."""
    writer = RawCallsWriter(con, "r", "P")
    rng = random.Random(11)
    start = at("2026-03-28 20:00")
    for i in range(30):  # 2026-03-28 20:00 … 2026-03-30 02:00 UTC
        window = hour_window(f"{start + i * HOUR:%Y-%m-%d %H:%M}")
        calls = []
        for n in range(rng.randint(0, 6)):
            created = window.start + timedelta(minutes=rng.randint(0, 59))
            length = timedelta(minutes=rng.choice([1, 5, 45, 150]))
            calls.append(
                make_call(f"c{i}-{n}", created, answer=created, end=created + length, trunk="T")
            )
        land(writer, window, calls)


def _analytics(con) -> dict[str, list[tuple]]:
    return {
        name: con.execute(f"SELECT * FROM analytics.{name} ORDER BY ALL").fetchall()
        for name in ANALYTICS_TABLES
    }


def test_hour_by_hour_in_any_order_then_marks_equals_one_refresh(tmp_path) -> None:
    with connect(tmp_path / "whole.duckdb") as con:
        _history(con)
        refresh_all(con, at("2026-03-28 20:00"), at("2026-03-30 02:00"), CPH, "P")
        assert pending_hours(con, "P", CPH) == []
        whole = _analytics(con)
    assert whole["answer_rate_daily"] and whole["busy_hour_daily"]

    with connect(tmp_path / "hourly.duckdb") as con:
        _history(con)
        hours = [at("2026-03-28 20:00") + i * HOUR for i in range(30)]
        random.Random(3).shuffle(hours)
        written: dict[str, list[tuple]] = {}
        for hour in hours:
            for refreshed in refresh_all(con, hour, hour + HOUR, CPH, "P"):
                written.setdefault(refreshed.table, []).append(
                    (refreshed.first_bucket, refreshed.end_bucket)
                )
        # no two refreshes replaced overlapping buckets of any table
        for table, ranges in written.items():
            ranges.sort()
            assert all(a[1] <= b[0] for a, b in itertools.pairwise(ranges)), table
        marked = pending_hours(con, "P", CPH)
        assert marked  # earlier hours refreshed after later ones left those to redo
        settle(con, "P", CPH)
        assert scalar(con, "SELECT count(*) FROM raw.stale_hours") == 0
        assert _analytics(con) == whole
