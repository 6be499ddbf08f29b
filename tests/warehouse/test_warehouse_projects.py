"""Projects share the warehouse without touching each other's rows, on both backends.

Two projects land the same call ids in the same hour (opaque ids need not be unique across
projects): each window replace, move, rejected record, trunks list and analytics refresh is
limited to the writing project. Also: a record naming another project is rejected, and a file
from before ``project_id`` is adopted by the first project that writes it.
"""

from __future__ import annotations

import duckdb
import pytest
from warehouse_kit import (
    BACKENDS,
    MID,
    X_IN_A,
    X_IN_B,
    A,
    B,
    Y,
    at,
    commit_via,
    land,
    make_call,
    rows_of,
)

from pipeline.sinch.models import CallRecord
from pipeline.warehouse.connection import connect
from pipeline.warehouse.ledger import WindowFetch
from pipeline.warehouse.raw_calls import RawCallsWriter


def _as(project_id: str, calls: list[CallRecord]) -> list[CallRecord]:
    return [c._replace(project_id=project_id) for c in calls]


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_projects_with_the_same_ids_keep_their_ownrows_of(tmp_path, backend):
    warehouse = BACKENDS[backend](tmp_path)
    commit_via(warehouse, "P", A, [X_IN_A, Y])
    commit_via(warehouse, "Q", A, _as("Q", [X_IN_A, Y]))
    warehouse.refresh_analytics(A.start, A.end, "UTC", "P")
    warehouse.refresh_analytics(A.start, A.end, "UTC", "Q")
    calls = "SELECT project_id, call_id, window_start FROM raw.calls"
    assert rows_of(warehouse, calls) == sorted(
        [(p, c, A.start) for p in "PQ" for c in "XY"], key=str
    )

    # Q's X moves to B and Q's hour A is re-landed empty: P's rows do not move or vanish.
    commit_via(warehouse, "Q", B, _as("Q", [X_IN_B]))
    commit_via(warehouse, "Q", A, [])
    warehouse.refresh_analytics(A.start, B.end, "UTC", "Q")
    assert rows_of(warehouse, calls) == sorted(
        [("P", "X", A.start), ("P", "Y", A.start), ("Q", "X", B.start)], key=str
    )
    attempts = "SELECT project_id, hour_start, sum(attempts) FROM analytics.answer_rate_hourly "
    attempts += "GROUP BY ALL HAVING sum(attempts) > 0"
    assert rows_of(warehouse, attempts) == sorted([("P", A.start, 2), ("Q", B.start, 1)], key=str)
    trunks = "SELECT project_id, trunk_id, name FROM raw.trunks"
    assert rows_of(warehouse, trunks) == [("P", "T1", "trunk of P"), ("Q", "T1", "trunk of Q")]
    stale = rows_of(warehouse, "SELECT project_id FROM raw.stale_hours")
    assert stale == []  # Q's refresh took its own stale hour; P never had one
    zones = "SELECT project_id, report_tz FROM analytics.report_settings"
    assert rows_of(warehouse, zones) == [("P", "UTC"), ("Q", "UTC")]


def test_a_call_of_another_project_is_rejected_with_its_reason(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        writer = RawCallsWriter(con, "r", "P")
        stray = make_call("S", at("2026-03-01 10:20"))._replace(project_id="OTHER")
        anonymous = make_call("N", at("2026-03-01 10:30"))._replace(project_id=None)
        fetch = WindowFetch(sweeps=1, pages=1, api_total_items=3, attempts=1, seconds=0.1)
        writer.stage_page(A, [X_IN_A, stray, anonymous], [], A.end)
        entry = writer.commit_window(A, fetch, A.end)
        assert (entry.records, entry.rejected) == (2, 1)
        landed = con.execute("SELECT call_id, project_id FROM raw.calls ORDER BY 1").fetchall()
        assert landed == [("N", "P"), ("X", "P")]  # no projectId: the fetched project's
        (reason,) = con.execute("SELECT reason FROM raw.rejected_calls").fetchall()[0]
        assert reason == "projectId 'OTHER' is not the project fetched (P)"


OLD_STALE = """
DROP TABLE raw.stale_hours;
CREATE TABLE raw.stale_hours (
    hour_start TIMESTAMPTZ NOT NULL PRIMARY KEY, occupied_until TIMESTAMPTZ,
    marked_at TIMESTAMPTZ NOT NULL
);
INSERT INTO raw.stale_hours VALUES ('2026-03-01 10:00+00', NULL, '2026-03-01 12:00+00');
"""


def test_a_file_from_before_projects_keeps_its_stale_hours(tmp_path):
    """The old stale_hours (keyed by hour alone) is rebuilt once; its hours stay marked for
    the project of the file's calls, and two projects can then mark the same hour."""
    db = tmp_path / "old.duckdb"
    with connect(db) as con:
        land(RawCallsWriter(con, "r", "P"), B, [X_IN_B])
    with duckdb.connect(str(db)) as con:
        con.execute(OLD_STALE)
    for _ in range(2):  # idempotent
        with connect(db) as con:
            rows = con.execute("SELECT project_id, hour_start FROM raw.stale_hours").fetchall()
            assert rows == [("P", at("2026-03-01 10:00"))]
    with connect(db) as con:
        con.execute("INSERT INTO raw.stale_hours VALUES ('Q', ?, NULL, ?)", [A.start, MID.start])
        assert con.execute("SELECT count(*) FROM raw.stale_hours").fetchall() == [(2,)]
