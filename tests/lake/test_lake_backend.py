"""The lake backend against the DuckDB file, window by window: the same sequence of commits
(moves between windows, rejected records, re-runs) leaves the same tables on both.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "warehouse"))

from lake_kit import column_types, snapshot, tables
from warehouse_kit import MID, X_IN_A, X_IN_B, A, B, Y, Z, settle_warehouse

from pipeline import settings
from pipeline.defs.resources import WarehouseResource
from pipeline.ingest.report import run_rejected
from pipeline.sinch.models import RejectedRecord, Window
from pipeline.warehouse import lake_tables
from pipeline.warehouse.backend import DuckDBWarehouse, Warehouse, open_warehouse
from pipeline.warehouse.checks import EVERYTHING, CheckScope, run_checks
from pipeline.warehouse.lake import LakeWarehouse
from pipeline.warehouse.lake_tables import in_lists
from pipeline.warehouse.ledger import WindowFetch

BAD = RejectedRecord(reason="createTime: missing", raw='{"callId":"R"}', call_id="R")
NO_ID = RejectedRecord(reason="not an object", raw="[1]", call_id=None)


def commit(session, window: Window, calls, rejected=(), total: int | None = None):
    when = window.end
    session.stage_page(window, calls[:1], [], when)
    session.stage_page(window, calls, list(rejected), when)  # a repeated record: kept once
    count = len(calls) + len(rejected) if total is None else total
    fetch = WindowFetch(sweeps=1, pages=2, api_total_items=count, attempts=2, seconds=0.1)
    return session.commit_window(window, fetch, when)


def history(warehouse: Warehouse) -> list:
    """Windows landed, moved, re-run and refreshed: every path of the commit."""
    entries = []
    with warehouse.ingest_session("run", "P") as session:
        entries.append(commit(session, A, [X_IN_A, Y], [BAD, NO_ID]))
        entries.append(commit(session, MID, [Z]))
    warehouse.refresh_analytics(A.start, MID.end, "Europe/Copenhagen", "P")
    settle_warehouse(warehouse, "P", "Europe/Copenhagen")
    with warehouse.ingest_session("run", "P") as session:
        entries.append(commit(session, B, [X_IN_B]))  # X moves from A to B
        entries.append(commit(session, B, [X_IN_B]))  # the re-run changes nothing
        entries.append(commit(session, MID, [Z], [BAD]))  # R's rejection moves to MID
    warehouse.refresh_analytics(B.start, B.end, "Europe/Copenhagen", "P")
    assert settle_warehouse(warehouse, "P", "Europe/Copenhagen")  # the hours X left
    return [(e.records, e.rejected, e.settled, e.moved_in, e.api_total_items) for e in entries]


@pytest.fixture
def both(tmp_path: Path) -> tuple[DuckDBWarehouse, LakeWarehouse]:
    return DuckDBWarehouse(tmp_path / "w.duckdb"), LakeWarehouse(str(tmp_path / "lake"))


def test_same_history_same_tables(both) -> None:
    duck, lake = both
    assert history(duck) == history(lake)
    with duck.reader() as d, lake.reader() as lk:
        assert snapshot(lk) == snapshot(d)
        for table in tables():
            assert column_types(lk, table) == column_types(d, table), table
        assert lk.execute("SELECT count(*) FROM raw.stale_hours").fetchall() == [(0,)]
        assert lk.execute("SELECT count(*) FROM raw.ingest_ledger").fetchall() == [(5,)]


def test_ledger_entries(both) -> None:
    _duck, lake = both
    entries = history(lake)
    # A: X and Y, 2 rejected; MID: Z; B: X moved in; B again: settled; MID again: R moved.
    assert entries == [
        (2, 2, False, 0, 4),
        (1, 0, False, 0, 1),
        (1, 0, False, 1, 1),
        (1, 0, True, 0, 1),
        (1, 1, False, 0, 2),
    ]


def test_rerun_of_every_window_changes_nothing(both) -> None:
    _duck, lake = both
    history(lake)
    with lake.reader() as con:
        before = snapshot(con)
    with lake.ingest_session("again", "P") as session:
        commit(session, A, [Y], [NO_ID])
        commit(session, MID, [Z], [BAD])
        commit(session, B, [X_IN_B])
    lake.refresh_analytics(A.start, B.end, "Europe/Copenhagen", "P")
    settle_warehouse(lake, "P", "Europe/Copenhagen")
    with lake.reader() as con:
        after = snapshot(con)
    before.pop("raw.ingest_ledger"), after.pop("raw.ingest_ledger")  # one row per fetch
    assert after == before


def test_open_warehouse_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(open_warehouse(tmp_path / "w.duckdb"), DuckDBWarehouse)
    assert isinstance(open_warehouse(tmp_path / "w.duckdb", ""), DuckDBWarehouse)
    lake = open_warehouse(tmp_path / "w.duckdb", str(tmp_path / "lake"))
    assert isinstance(lake, LakeWarehouse)
    with pytest.raises(FileNotFoundError, match="run the ingestion first"), lake.reader():
        pass


def test_id_lists_are_chunked(both, monkeypatch: pytest.MonkeyPatch) -> None:
    """Long IN lists crash DataFusion: ids go in chunks, with the same result."""
    assert in_lists("c", []) == []
    assert in_lists("c", ["a'b", "x"]) == ["c IN ('a''b', 'x')"]
    monkeypatch.setattr(lake_tables, "IN_LIST_MAX", 1)
    assert in_lists("c", ["a", "b"]) == ["c IN ('a')", "c IN ('b')"]
    duck, lake = both
    assert history(duck) == history(lake)
    with duck.reader() as d, lake.reader() as lk:
        assert snapshot(lk) == snapshot(d)


def test_checks_over_the_lake_see_a_duplicate(both) -> None:
    _duck, lake = both
    history(lake)
    resource = WarehouseResource(path="unused.duckdb", lake_uri=lake.location)
    assert run_checks(resource.backend(), names=["unique_call_ids"])[0].passed
    with lake.reader() as con:
        row = con.sql("SELECT * FROM raw.calls WHERE call_id = 'X'").to_arrow_table()
    lake.lake.write("raw.calls", row)  # the same call twice, as a half-done commit could leave
    (outcome,) = run_checks(resource.backend(), names=["unique_call_ids"])
    assert outcome.failures == 1
    assert "X" in outcome.detail


def test_scoped_checks_over_the_lake(both) -> None:
    """A run's checks read its windows of the lake's Arrow datasets, and nothing else."""
    _duck, lake = both
    history(lake)
    with lake.reader() as con:
        y = con.sql(
            "SELECT * REPLACE (-5::BIGINT AS duration_seconds) FROM raw.calls WHERE call_id = 'Y'"
        ).to_arrow_table()
        x = con.sql("SELECT * FROM raw.calls WHERE call_id = 'X'").to_arrow_table()
    lake.lake.write("raw.calls", y, predicate="call_id = 'Y'")  # damage in A
    lake.lake.write("raw.calls", x)  # X twice, both in B

    def failures(scope: CheckScope) -> dict[str, int]:
        return {o.spec.name: o.failures for o in run_checks(lake, [scope], memory_limit="256MB")}

    over_b = failures(CheckScope(B.start, B.end, "P"))
    assert (over_b["unique_call_ids"], over_b["no_negative_durations"]) == (1, 0)
    over_a = failures(CheckScope(A.start, A.end, "P"))
    assert (over_a["unique_call_ids"], over_a["no_negative_durations"]) == (0, 1)
    assert failures(CheckScope(A.start, A.end, "Q"))["no_negative_durations"] == 0
    everything = failures(EVERYTHING)
    assert (everything["unique_call_ids"], everything["no_negative_durations"]) == (1, 1)


def test_lake_uri_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLS_LAKE_URI", raising=False)
    assert settings.lake_uri() is None
    monkeypatch.setenv("CALLS_LAKE_URI", "  ")
    assert settings.lake_uri() is None
    monkeypatch.setenv("CALLS_LAKE_URI", "file:///srv/lake")
    assert settings.lake_uri() == "/srv/lake"
    monkeypatch.setenv("CALLS_LAKE_URI", "s3://bucket/prefix")
    assert settings.lake_uri() == "s3://bucket/prefix"
    monkeypatch.setenv("CALLS_LAKE_URI", "gs://bucket/prefix")
    with pytest.raises(settings.SettingsError, match="CALLS_LAKE_URI"):
        settings.lake_uri()


@pytest.mark.parametrize("backend", [0, 1], ids=["duckdb", "lake"])
def test_a_record_two_windows_of_a_run_reject_counts_once(both, backend) -> None:
    # The API lists a record at two windows' shared boundary second and its createTime is
    # unreadable: both windows reject it, the later commit takes the row over, and the run's
    # total (the summary line) counts it once, as raw.rejected_calls holds it once.
    warehouse = both[backend]
    with warehouse.ingest_session("run", "P") as session:
        first = commit(session, A, [Y], [BAD])
        second = commit(session, MID, [Z], [BAD])
    assert (first.rejected, second.rejected) == (1, 1)  # each window's count at its commit
    assert second.rejected_taken == (A.start,)
    assert run_rejected([first, second]) == 1
    with warehouse.reader() as con:
        assert con.execute("SELECT count(*) FROM raw.rejected_calls").fetchall() == [(1,)]
    with warehouse.ingest_session("later", "P") as session:  # A's row came from another run
        again = commit(session, A, [Y], [BAD])
    assert again.rejected_taken == (MID.start,) and run_rejected([again]) == 1
