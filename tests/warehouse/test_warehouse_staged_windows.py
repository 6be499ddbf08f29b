"""Pages held in memory until commit, or spilled to the TEMP table: the same rows land.

``StagedWindows`` keeps a window's pages as Arrow and inserts them once at commit; past
``spill_rows`` it moves them into ``staged_calls`` (bounded memory). Both forms must land the
same rows: latest staged version per call, moves out of other windows marked stale, a
discarded window forgotten.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pytest

from pipeline.sinch.models import Window
from pipeline.warehouse.connection import open_connection
from pipeline.warehouse.ledger import WindowFetch
from pipeline.warehouse.raw_calls import RawCallsWriter
from tests.warehouse.test_warehouse_raw_calls import NEXT, T0, W, call

FETCH = WindowFetch(sweeps=2, pages=3, api_total_items=3, attempts=1, seconds=0.5)


def land_sweeps(spill_rows: int) -> list[tuple]:
    """Stage two sweeps of W (a call changed in between) and one of NEXT; commit; read back."""
    con = open_connection(":memory:")
    writer = RawCallsWriter(con, "run", "P", spill_rows=spill_rows)
    # NEXT first: "moved" lands there, then W's sweep lists it in W (it moves, NEXT goes stale).
    writer.stage_page(NEXT, [call("moved", 61)], [], T0)
    writer.commit_window(NEXT, FETCH, T0)
    writer.stage_page(W, [call("a", 1), call("b", 2, end_minute=3)], [], T0)
    writer.stage_page(NEXT, [call("gone", 70)], [], T0)  # staged, then its fetch fails
    writer.stage_page(W, [call("b", 2, end_minute=9, price="0.0100"), call("c", 4)], [], T0)
    moved = call("moved", 59)._replace(create_time=T0 + timedelta(minutes=59))
    writer.stage_page(W, [call("a", 1, end_minute=5), moved], [], T0 + timedelta(seconds=1))
    writer.discard_window(NEXT)
    entry = writer.commit_window(W, FETCH, T0 + timedelta(hours=2))
    assert (entry.records, entry.moved_in) == (4, 1)
    got = landed(con)
    con.close()
    return got


def landed(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    calls = con.execute(
        "SELECT call_id, create_time, end_time, price, raw::VARCHAR, window_start, window_end, "
        "fetched_at FROM raw.calls ORDER BY call_id"
    ).fetchall()
    stale = con.execute("SELECT hour_start FROM raw.stale_hours").fetchall()
    return [*calls, *stale]


@pytest.mark.parametrize("spill_rows", [1, 3])
def test_spilled_windows_land_the_same_rows_as_held_ones(spill_rows: int) -> None:
    held = land_sweeps(spill_rows=10_000)
    assert held == land_sweeps(spill_rows=spill_rows)
    by_id = {row[0]: row for row in held if len(row) > 1}
    assert set(by_id) == {"a", "b", "c", "moved"}  # "gone" was discarded with its window
    assert by_id["b"][2] == T0 + timedelta(minutes=9)  # the later sweep's version
    assert by_id["a"][2] == T0 + timedelta(minutes=5)
    assert by_id["a"][7] == T0 + timedelta(seconds=1)  # fetched_at of the page that won
    assert by_id["moved"][5:7] == (W.start, W.end)
    assert (NEXT.start,) in held  # the hour "moved" left is marked for refresh


def test_a_window_with_nothing_staged_commits_empty() -> None:
    con = open_connection(":memory:")
    writer = RawCallsWriter(con, "run", "P")
    empty = Window(T0, T0 + timedelta(hours=1))
    fetch = WindowFetch(sweeps=1, pages=1, api_total_items=0, attempts=1, seconds=0.1)
    assert writer.commit_window(empty, fetch, T0).records == 0
    assert con.execute("SELECT count(*) FROM raw.calls").fetchall() == [(0,)]
