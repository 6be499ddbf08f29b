"""Analytics survive extreme but landed values, through the real refresh on a DuckDB file.

A call with end_time 9999-12-31T23:59:59Z made every refresh of its hour raise OverflowError
(the occupancy reach was rounded up to the hour past year 9999), on every re-run. Each call's
occupancy (and conversation) now ends 24 h (MAX_CALL_DURATION) after its creation at the
latest. Ends before the answer or the creation keep their rule: zero-length, never negative.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from warehouse_kit import at, hour_window, land, make_call, scalar, settle

from pipeline.transforms import MAX_CALL_DURATION
from pipeline.warehouse.analytics import refresh_all
from pipeline.warehouse.checks import check_on
from pipeline.warehouse.connection import connect
from pipeline.warehouse.raw_calls import RawCallsWriter

W = hour_window("2026-03-01 10:00")
NEXT_DAY = hour_window("2026-03-02 23:00")  # the last hour of the next day
CREATED = at("2026-03-01 10:05")
FOREVER = make_call(
    "forever",
    CREATED,
    answer=CREATED + timedelta(seconds=3),
    end=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    trunk="T9",
)


def totals(con, table: str, trunk: str) -> tuple:
    return con.execute(
        f"SELECT sum(holding_seconds), sum(conversation_seconds), max(peak_concurrent_calls), "
        f"count(*) FROM analytics.{table} WHERE trunk_id = ?",
        [trunk],
    ).fetchall()[0]


def test_end_in_year_9999_holds_at_most_24_hours(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        writer = RawCallsWriter(con, "r", "P")
        land(writer, W, [FOREVER, make_call("short", CREATED, end=CREATED + timedelta(minutes=1))])
        # a later window, so the ingested hours reach past the cap
        land(writer, NEXT_DAY, [make_call("later", at("2026-03-02 23:10"))])
        for _ in range(2):  # a re-run must not crash either
            refreshed = refresh_all(con, W.start, W.end, "UTC", "P")
        usage = {r.table: r for r in refreshed}["trunk_usage_hourly"]
        assert (usage.first_bucket, usage.end_bucket) == (W.start, W.end)  # its own hour
        # the 24 later hours it occupies (03-01 23:00 owns the first day too) and the owner of
        # the second day wait for their refresh
        marked = "SELECT count(*) FROM raw.stale_hours"
        assert scalar(con, marked) == 24 + 1
        assert settle(con) == 2  # 2026-03-01 11:00 … 03-02 11:00, and 03-02 23:00
        assert scalar(con, marked) == 0
        day = MAX_CALL_DURATION.total_seconds()
        # 24 h of channel, 24 h − 3 s of conversation, spread over the 25 hours it touches
        assert totals(con, "trunk_usage_hourly", "T9") == (day, day - 3, 1, 25)
        assert (
            scalar(
                con,
                "SELECT holding_seconds FROM analytics.trunk_usage_hourly WHERE trunk_id = 'T9' "
                "AND hour_start = ?",
                [at("2026-03-02 10:00")],
            )
            == 5 * 60
        )
        assert totals(con, "trunk_usage_daily", "T9") == (day, day - 3, 1, 2)
        assert (
            scalar(
                con,
                "SELECT sum(conversation_seconds) FROM analytics.direction_mix_daily "
                "WHERE trunk_id = 'T9'",
            )
            == day - 3
        )
        assert (
            scalar(
                con,
                "SELECT max(busy_hour_erlangs) FROM analytics.busy_hour_daily "
                "WHERE trunk_id = 'T9'",
            )
            == 1.0
        )

        # Moving it to another window marks its old hour with the capped reach, and the
        # refresh of that stale hour works too.
        land(
            writer,
            hour_window("2026-03-01 12:00"),
            [make_call("forever", at("2026-03-01 12:00"), trunk="T9")],
        )
        assert (
            scalar(con, "SELECT occupied_until FROM raw.stale_hours") == CREATED + MAX_CALL_DURATION
        )
        refresh_all(con, at("2026-03-01 12:00"), at("2026-03-01 13:00"), "UTC", "P")
        settle(con)
        # in progress now: an attempt in hour 12, no occupancy left in any of the 25 hours
        assert totals(con, "trunk_usage_hourly", "T9") == (0, 0, 0, 1)


def test_end_before_answer_or_creation_is_zero_length(tmp_path):
    """end < create: an attempt without occupancy; end < answer: occupancy up to the end,
    no conversation. The no_negative_durations check still reports both."""
    with connect(tmp_path / "w.duckdb") as con:
        writer = RawCallsWriter(con, "r", "P")
        before_create = make_call("c", CREATED, end=CREATED - timedelta(minutes=2), trunk="TC")
        before_answer = make_call(
            "a",
            CREATED,
            answer=CREATED + timedelta(minutes=10),
            end=CREATED + timedelta(minutes=2),
            trunk="TA",
        )
        land(writer, W, [before_create, before_answer])
        refresh_all(con, W.start, W.end, "UTC", "P")
        assert totals(con, "trunk_usage_hourly", "TC") == (0, 0, 0, 1)
        assert totals(con, "trunk_usage_hourly", "TA") == (120, 0, 1, 1)
        assert scalar(con, "SELECT sum(attempts) FROM analytics.answer_rate_hourly") == 2
        assert check_on(con, "no_negative_durations")[0] == 2


def test_a_call_over_24_hours_is_named_by_its_check(tmp_path):
    """The analytics cap it silently at 24 h (above); the WARN check names it, and a call of
    exactly 24 h (the cap itself) passes."""
    with connect(tmp_path / "w.duckdb") as con:
        writer = RawCallsWriter(con, "r", "P")
        day = make_call("day", CREATED, end=CREATED + MAX_CALL_DURATION, trunk="T1")
        over = make_call("over", CREATED, end=CREATED + MAX_CALL_DURATION + timedelta(seconds=1))
        land(writer, W, [FOREVER, day, over, make_call("short", CREATED)])
        assert check_on(con, "no_calls_over_24_hours") == (
            2,
            "forever, over in 1 hour(s) from 2026-03-01 10:00Z",
        )
        later = at("2026-03-02 23:10")
        many = [make_call(f"x{i}", later, end=later + 2 * MAX_CALL_DURATION) for i in range(7)]
        land(writer, NEXT_DAY, many)  # the detail names 5 ids, counts the rest
        assert check_on(con, "no_calls_over_24_hours") == (
            9,
            "forever, over, x0, x1, x2 … (9 in all) in 2 hour(s) from 2026-03-01 10:00Z",
        )
