"""A commit that lands while a refresh registers the lake's tables is never lost.

Each table's snapshot is taken when the reader registers it, so a commit can land between two
registrations. The writers commit rows before the marks in ``raw/stale_hours``; the reader
takes the marks' snapshot first. The failing input of the bug: an export commit landing just
after the refresh registered ``raw/call_details`` (alphabetically before ``raw/stale_hours``):
the refresh saw the mark without the rows, rebuilt the hour without its details and dropped
the mark, so the true NER of that hour stayed empty for good.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "warehouse"))

from test_lake_export_kpis import TZ, WINDOW, _details, _land
from warehouse_kit import settle_warehouse

from pipeline.warehouse.lake import LakeWarehouse, merge_stale
from pipeline.warehouse.lake_tables import FIRST_SNAPSHOT, Lake, snapshot_order
from pipeline.warehouse.stale_hours import window_hours


def test_the_marks_snapshot_comes_first() -> None:
    names = ["analytics.a", "raw.call_details", "raw.calls", "raw.stale_hours", "raw.trunks"]
    assert snapshot_order(names) == [FIRST_SNAPSHOT, *(n for n in names if n != FIRST_SNAPSHOT)]


def test_details_committed_while_a_refresh_registers_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = LakeWarehouse(str(tmp_path / "lake"))
    _land(lake)
    lake.refresh_analytics(WINDOW.start, WINDOW.end, TZ, "P")
    settle_warehouse(lake, "P", TZ)

    table, connect = Lake.table, Lake.connect
    state = {"connecting": False, "committed": False}

    def connecting(self: Lake, names=None):  # type: ignore[no-untyped-def]
        state["connecting"] = True
        try:
            return connect(self, names)
        finally:
            state["connecting"] = False

    def registering(self: Lake, name: str):  # type: ignore[no-untyped-def]
        found = table(self, name)
        if name == "raw.call_details" and state["connecting"] and not state["committed"]:
            state["committed"] = True  # the export commit of the window: rows, then the marks
            self.write("raw.call_details", _details())
            merge_stale(self, "P", window_hours(WINDOW), datetime.now(UTC))
        return found

    monkeypatch.setattr(Lake, "connect", connecting)
    monkeypatch.setattr(Lake, "table", registering)
    lake.refresh_analytics(WINDOW.start, WINDOW.end, TZ, "P", raw_changed=False)
    monkeypatch.undo()
    assert state["committed"], "the refresh never registered raw.call_details"

    settle_warehouse(lake, "P", TZ)  # what the stale_analytics sensor runs
    with lake.reader() as con:
        details = con.execute(
            "SELECT sum(details_calls) FROM analytics.answer_rate_hourly WHERE project_id = 'P'"
        ).fetchone()
        marks = con.execute("SELECT count(*) FROM raw.stale_hours").fetchone()
    assert details == (2,)  # A and B have export rows, C has none
    assert marks == (0,)
