"""The ingest ledger records reconciliation and sub-windows; older files migrate.

A window whose result set cannot be paged fully is split by the client into sub-windows; the
ledger keeps whether every slice reconciled, the slices, and the calls the API counted but we
did not see. ``settled`` needs two equal counts AND a reconciled fetch.
"""

from __future__ import annotations

import json
from datetime import timedelta

import duckdb
import pytest
from warehouse_kit import at, hour_window, land, make_call

from pipeline.warehouse.checks import check_on
from pipeline.warehouse.connection import connect
from pipeline.warehouse.ledger import WindowFetch
from pipeline.warehouse.raw_calls import RawCallsWriter

W = hour_window("2026-03-01 10:00")
HALF = W.start + timedelta(minutes=30)
CALLS = [make_call("a", at("2026-03-01 10:01")), make_call("b", at("2026-03-01 10:41"))]

#: raw.ingest_ledger as the first release created it (before reconciled ... moved_in).
OLD_LEDGER = """
CREATE SCHEMA raw;
CREATE TABLE raw.ingest_ledger (
    window_start TIMESTAMPTZ NOT NULL, window_end TIMESTAMPTZ NOT NULL,
    fetched_at TIMESTAMPTZ NOT NULL, run_id VARCHAR, sweeps INTEGER NOT NULL,
    pages INTEGER NOT NULL, records BIGINT NOT NULL, rejected BIGINT NOT NULL,
    outside_window BIGINT NOT NULL, api_total_items BIGINT, attempts INTEGER NOT NULL,
    seconds DOUBLE NOT NULL, settled BOOLEAN NOT NULL, new_fields VARCHAR[]
);
INSERT INTO raw.ingest_ledger VALUES ('2026-03-01 10:00+00', '2026-03-01 11:00+00',
    '2026-03-01 11:00+00', 'old', 1, 1, 2, 0, 0, 2, 1, 0.1, false, NULL);
"""
NEW_COLUMNS = "reconciled, sub_windows, slices, shortfall, moved_in"


def fetch(**kw) -> WindowFetch:
    return WindowFetch(sweeps=1, pages=2, api_total_items=2, attempts=2, seconds=0.2, **kw)


def ledger(con) -> list[tuple]:
    return con.execute(
        f"SELECT settled, {NEW_COLUMNS} FROM raw.ingest_ledger ORDER BY fetched_at"
    ).fetchall()


def test_whole_window_defaults(tmp_path):
    """Old callers pass no reconciliation fields: reconciled, one slice, no shortfall."""
    with connect(tmp_path / "w.duckdb") as con:
        entry = land(RawCallsWriter(con, "r", "P"), W, CALLS, fetch=fetch())
        assert (entry.reconciled, entry.shortfall, entry.moved_in) == (True, 0, 0)
        assert ledger(con) == [(False, True, 1, None, 0, 0)]


def test_split_window_short_then_reconciled(tmp_path):
    """A split fetch that came up 3 calls short is never settled, even when the count repeats;
    the next reconciled fetch with the same count is."""
    with connect(tmp_path / "w.duckdb") as con:
        writer = RawCallsWriter(con, "r", "P")
        slices = ((W.start, HALF), (HALF, W.end))
        short = fetch(reconciled=False, sub_windows=slices, shortfall=3)
        first = land(writer, W, CALLS, fetch=short)
        again = land(writer, W, CALLS, fetch=short, fetched_at=W.end + timedelta(minutes=5))
        assert (first.settled, again.settled) == (False, False)
        assert (again.reconciled, again.shortfall) == (False, 3)
        whole = land(
            writer,
            W,
            CALLS,
            fetch=fetch(sub_windows=slices),
            fetched_at=W.end + timedelta(minutes=10),
        )
        assert whole.settled
        rows = ledger(con)
        assert [r[:3] + r[4:] for r in rows] == [
            (False, False, 2, 3, 0),
            (False, False, 2, 3, 0),
            (True, True, 2, 0, 0),
        ]
        assert json.loads(rows[0][3]) == [
            {"start": "2026-03-01T10:00:00+00:00", "end": "2026-03-01T10:30:00+00:00"},
            {"start": "2026-03-01T10:30:00+00:00", "end": "2026-03-01T11:00:00+00:00"},
        ]
        # The check names the window that did not reconcile (its slices overlap at edges,
        # so landed + rejected + outside is not compared with the total of a split window).
        failures, detail = check_on(con, "ledger_reconciles")
        assert failures == 0  # the latest fetch reconciled
        con.execute("DELETE FROM raw.ingest_ledger WHERE reconciled")
        failures, detail = check_on(con, "ledger_reconciles")
        assert failures == 1
        assert "NOT reconciled: 3 calls counted by the API but not seen over 2 slice(s)" in detail


@pytest.mark.parametrize(
    "kw",
    [
        {"shortfall": -1, "reconciled": False},
        {"shortfall": 2},  # reconciled, yet short
        {"sub_windows": ((HALF, W.start),)},  # empty
        {"sub_windows": ((W.start, W.end), (HALF, W.end))},  # overlapping
        {"sub_windows": ((W.start.replace(tzinfo=None), HALF),)},  # naive
    ],
)
def test_inconsistent_fetch_reports_are_refused(kw):
    with pytest.raises(ValueError):
        fetch(**kw)


def test_existing_file_migrates(tmp_path):
    """A file written before the new columns gets them when a writer opens it (twice: the
    statements are idempotent); old rows read NULL, new rows are written by column name."""
    db = tmp_path / "old.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(OLD_LEDGER)
    for _ in range(2):
        with connect(db):
            pass
    with connect(db) as con:
        assert ledger(con) == [(False, None, None, None, None, None)]
        entry = land(RawCallsWriter(con, "r", "P"), W, CALLS, fetch=fetch())
        assert entry.settled  # same totalItems as the old row, and reconciled
        assert ledger(con)[-1] == (True, True, 1, None, 0, 0)
        # the old row (no project_id then) belongs to the project that wrote the file next
        projects = con.execute("SELECT DISTINCT project_id FROM raw.ingest_ledger").fetchall()
        assert projects == [("P",)]
        # NULL reconciled (old rows) reads as reconciled in the check
        failures, _ = check_on(con, "ledger_reconciles")
        assert failures == 0
