"""One row per callId across raw.calls: a call met in another window moves there.

The API can list a call in another hour than before (its createTime was corrected, or it is
served in two hours). Each commit keeps the staged calls and deletes their rows in OTHER
windows (latest fetch wins everywhere); the hours they left go to raw.stale_hours. A refresh
rebuilds the buckets its hours own and marks the owners of the others (the hours left, their
days, the later hours the moved call occupied); the follow-up refresh of the marked hours
(``settle``, as ``pipeline ingest`` and the sensor do) clears them.
"""

from __future__ import annotations

from datetime import timedelta

from warehouse_kit import (
    MID,
    X_IN_A,
    X_IN_B,
    A,
    B,
    Y,
    Z,
    at,
    hour_window,
    land,
    make_call,
    scalar,
    settle,
)

from pipeline.sinch.models import RejectedRecord
from pipeline.warehouse.analytics import pending_hours, refresh_all
from pipeline.warehouse.checks import check_on
from pipeline.warehouse.connection import connect
from pipeline.warehouse.raw_calls import RawCallsWriter

DAY_END = hour_window("2026-03-01 23:00")


def check(con, name: str) -> tuple[int, str | None]:
    return check_on(con, name)


def attempts(con, hour: str) -> int | None:
    return scalar(
        con,
        "SELECT sum(attempts) FROM analytics.answer_rate_hourly WHERE hour_start = ?",
        [at(hour)],
    )


def holding(con, hour: str) -> float | None:
    return scalar(
        con,
        "SELECT sum(holding_seconds) FROM analytics.trunk_usage_hourly WHERE hour_start = ?",
        [at(hour)],
    )


def windows_of(con, call_id: str) -> list:
    rows = con.execute(
        "SELECT window_start FROM raw.calls WHERE call_id = ? ORDER BY 1", [call_id]
    ).fetchall()
    return [r[0] for r in rows]


def test_call_met_in_another_window_moves_and_analytics_follow(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        writer = RawCallsWriter(con, "r", "P")
        land(writer, A, [X_IN_A, Y])
        land(writer, MID, [Z])
        land(writer, DAY_END, [])  # the day's last hour: its owner
        refresh_all(con, A.start, MID.end, "UTC", "P")
        assert pending_hours(con, "P", "UTC") == [DAY_END.start]  # the day waits for its owner
        settle(con)
        assert (attempts(con, "2026-03-01 10:00"), holding(con, "2026-03-01 11:00")) == (2, 1860)

        entry = land(writer, B, [X_IN_B])
        assert (entry.records, entry.moved_in) == (1, 1)
        assert windows_of(con, "X") == [B.start]  # once, in the window fetched last
        assert con.execute("SELECT hour_start, occupied_until FROM raw.stale_hours").fetchall() == [
            (A.start, at("2026-03-01 11:30"))
        ]
        assert (
            scalar(con, "SELECT moved_in FROM raw.ingest_ledger WHERE window_start = ?", [B.start])
            == 1
        )
        assert check(con, "unique_call_ids")[0] == 0

        # The run that landed B refreshes B and marks what it does not own: hour 10 (X left
        # it) keeps its mark, hour 11 (X's old tail) and the day's owner get one.
        refresh_all(con, B.start, B.end, "UTC", "P")
        assert pending_hours(con, "P", "UTC") == [A.start, MID.start, DAY_END.start]
        assert settle(con) == 2
        assert scalar(con, "SELECT count(*) FROM raw.stale_hours") == 0
        assert attempts(con, "2026-03-01 10:00") == 1  # Y only
        assert holding(con, "2026-03-01 11:00") == 60  # Z only: X no longer occupies hour 11
        assert (attempts(con, "2026-03-01 12:00"), holding(con, "2026-03-01 12:00")) == (1, 600)
        daily = "SELECT sum(attempts) FROM analytics.answer_rate_daily"
        assert scalar(con, daily) == 3  # X, Y, Z once each

        # A's ledger still says 2 records; the check says why they differ.
        failures, detail = check(con, "ledger_reconciles")
        assert failures == 1
        assert "2026-03-01T10:00Z" in detail and "moved to another window" in detail

        # Re-running A alone while the API still lists X there moves it back: latest fetch
        # wins, and the analytics follow again.
        entry = land(writer, A, [X_IN_A, Y], fetched_at=B.end + timedelta(hours=1))
        assert entry.moved_in == 1
        assert windows_of(con, "X") == [A.start]
        refresh_all(con, A.start, A.end, "UTC", "P")
        settle(con)
        assert attempts(con, "2026-03-01 12:00") is None
        assert holding(con, "2026-03-01 12:00") is None
        assert (attempts(con, "2026-03-01 10:00"), holding(con, "2026-03-01 11:00")) == (2, 1860)
        assert scalar(con, daily) == 3
        assert scalar(con, "SELECT count(*) FROM raw.stale_hours") == 0


def test_moving_call_deletes_its_rejected_row_in_another_window(tmp_path):
    """Window A rejected X's record; B later lands X: one trace of X remains, in raw.calls."""
    with connect(tmp_path / "w.duckdb") as con:
        writer = RawCallsWriter(con, "r", "P")
        bad = RejectedRecord("endTime: not a timestamp", '{"callId":"X"}', "X")
        assert land(writer, A, [Y], [bad]).rejected == 1
        entry = land(writer, B, [X_IN_B])
        assert entry.moved_in == 0  # nothing of X was in raw.calls
        assert scalar(con, "SELECT count(*) FROM raw.rejected_calls") == 0
        assert windows_of(con, "X") == [B.start]


def test_stale_hours_keep_the_latest_reach_and_survive_until_refreshed(tmp_path):
    """Two calls leave hour 10 in two commits: the hour is marked once, with the later end."""
    with connect(tmp_path / "w.duckdb") as con:
        writer = RawCallsWriter(con, "r", "P")
        early = make_call("E", at("2026-03-01 10:01"), end=at("2026-03-01 10:02"))
        ringing = make_call("R", at("2026-03-01 10:03"))  # no end: occupies nothing
        land(writer, A, [X_IN_A, early, ringing])
        land(writer, B, [make_call("E", at("2026-03-01 12:01"), end=at("2026-03-01 12:02"))])
        land(writer, MID, [make_call("R", at("2026-03-01 11:03"))])
        land(writer, B, [X_IN_B, make_call("E", at("2026-03-01 12:01"))])
        assert con.execute("SELECT hour_start, occupied_until FROM raw.stale_hours").fetchall() == [
            (A.start, at("2026-03-01 11:30"))
        ]
        assert windows_of(con, "X") == [B.start] and windows_of(con, "R") == [MID.start]
        refresh_all(con, MID.start, MID.end, "UTC", "P")
        # hour 10 is not MID's to refresh: it stays marked, with the hour X's tail reaches
        assert pending_hours(con, "P", "UTC") == [A.start, MID.start]
        settle(con)
        assert scalar(con, "SELECT count(*) FROM raw.stale_hours") == 0
        assert attempts(con, "2026-03-01 10:00") is None


def test_unique_call_ids_names_the_windows_and_a_reingest_fixes_it(tmp_path):
    """Duplicates landed before commits moved calls: the check says which windows hold them
    and what helps; re-ingesting one of those windows leaves one row."""
    with connect(tmp_path / "w.duckdb") as con:
        writer = RawCallsWriter(con, "r", "P")
        land(writer, A, [X_IN_A])
        land(writer, B, [X_IN_B])
        # an older version of the code left both rows: put A's back by hand
        con.execute(
            "INSERT INTO raw.calls SELECT * REPLACE (?::TIMESTAMPTZ AS create_time, "
            "?::TIMESTAMPTZ AS window_start, ?::TIMESTAMPTZ AS window_end) FROM raw.calls",
            [X_IN_A.create_time, A.start, A.end],
        )
        failures, detail = check(con, "unique_call_ids")
        assert failures == 1
        assert detail.startswith("X in 2026-03-01T10:00Z and 2026-03-01T12:00Z")
        assert "Re-ingest one of the windows" in detail
        land(writer, B, [X_IN_B])
        assert check(con, "unique_call_ids") == (0, None)
        assert windows_of(con, "X") == [B.start]
