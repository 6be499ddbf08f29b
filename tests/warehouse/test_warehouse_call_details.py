"""raw.call_details on both backends: window replace, latest wins, moves, rejected, ledger.

The writer the ``raw/call_details`` asset uses (:mod:`pipeline.warehouse.raw_call_details`,
:mod:`pipeline.warehouse.lake_details`), driven through ``Warehouse.details_session`` as the
ingestion does.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pytest
from warehouse_kit import BACKENDS, at, commit_via, hour_window, make_call, rows_of

from pipeline.sinch.csv_rows import DETAILS_ARROW_SCHEMA
from pipeline.sinch.models import RejectedRecord, Trunk, Window
from pipeline.warehouse.backend import Warehouse
from pipeline.warehouse.ledger import WindowFetch
from pipeline.warehouse.raw_call_details import (
    DetailsFetch,
    details_coverage,
    known_window_calls,
)

A = hour_window("2026-03-01 10:00")
B = hour_window("2026-03-01 12:00")
FETCH = DetailsFetch(pages=1, attempts=1, seconds=0.1, file_name="EST_call_records.csv")


def detail(call_id: str, created: datetime, sip: int = 200, project: str | None = "P") -> dict:
    return {
        "call_id": call_id, "project_id": project, "create_time": created,
        "sip_response_code": sip, "cause_code": 16, "mos": 4.2, "region": "eu-central",
        "from_country": "DK", "to_country": "SE", "is_emergency": False, "group_id": None,
        "relationship_type": "initial", "has_children": False, "transport": "udp",
        "port": 5060, "trunk_name": "HQ", "raw_line": f'"{call_id}",{sip}',
    }  # fmt: skip


def land(
    warehouse: Warehouse,
    window: Window,
    *pages: list[dict],
    rejected: list[RejectedRecord] | None = None,
):
    with warehouse.details_session("run-1", "P") as session:
        for i, page in enumerate(pages):
            table = pa.Table.from_pylist(page, schema=DETAILS_ARROW_SCHEMA)
            session.stage_page(window, table, rejected if i == 0 and rejected else [], window.end)
        return session.commit_window(window, FETCH, window.end)


def details(warehouse: Warehouse) -> list[tuple]:
    return rows_of(
        warehouse,
        "SELECT call_id, project_id, sip_response_code, window_start FROM raw.call_details",
    )


def ledger(warehouse: Warehouse) -> list[tuple]:
    return rows_of(
        warehouse,
        "SELECT window_start, status, pages, records, rejected, file_name, note, run_id "
        "FROM raw.details_ledger",
    )


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_a_window_is_replaced_and_the_latest_page_wins(tmp_path, backend):
    warehouse = BACKENDS[backend](tmp_path)
    first = land(
        warehouse, A, [detail("x", at("2026-03-01 10:05")), detail("y", at("2026-03-01 10:06"))]
    )
    assert (first.status, first.records) == ("landed", 2)
    # Re-fetched: y is gone, x came twice (a later page wins), z is new.
    again = land(
        warehouse, A,
        [detail("x", at("2026-03-01 10:05"), sip=486), detail("z", at("2026-03-01 10:07"))],
        [detail("x", at("2026-03-01 10:05"), sip=603)],
    )  # fmt: skip
    assert again.records == 2
    assert details(warehouse) == [("x", "P", 603, A.start), ("z", "P", 200, A.start)]
    assert [row[1:6] for row in ledger(warehouse)] == [
        ("landed", 1, 2, 0, "EST_call_records.csv"),
        ("landed", 1, 2, 0, "EST_call_records.csv"),
    ]


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_rerunning_a_window_leaves_the_same_rows(tmp_path, backend):
    warehouse = BACKENDS[backend](tmp_path)
    page = [detail("x", at("2026-03-01 10:05")), detail("y", at("2026-03-01 10:59"))]
    land(warehouse, A, page)
    once = details(warehouse)
    land(warehouse, A, page)
    assert details(warehouse) == once and len(ledger(warehouse)) == 2


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_a_call_listed_in_another_window_moves_there(tmp_path, backend):
    warehouse = BACKENDS[backend](tmp_path)
    land(warehouse, A, [detail("x", at("2026-03-01 10:05")), detail("y", at("2026-03-01 10:06"))])
    land(warehouse, B, [detail("x", at("2026-03-01 12:10"), sip=404)])
    assert details(warehouse) == [("x", "P", 404, B.start), ("y", "P", 200, A.start)]


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_rejected_rows_are_kept_with_their_window_and_replaced(tmp_path, backend):
    warehouse = BACKENDS[backend](tmp_path)
    odd = RejectedRecord("field count 15, header has 26", "a,b,c", None)
    bad = RejectedRecord("MOS: 'x' is not a number", '"w","x"', "w")
    entry = land(warehouse, A, [detail("x", at("2026-03-01 10:05"))], rejected=[odd, bad])
    assert entry.rejected == 2
    sql = "SELECT call_id, reason, raw_line FROM raw.rejected_call_details"
    assert rows_of(warehouse, sql) == sorted(
        [(None, odd.reason, "a,b,c"), ("w", bad.reason, '"w","x"')], key=str
    )
    # Re-fetched with w readable: its rejected row goes, and so does the odd one (replaced).
    land(warehouse, A, [detail("x", at("2026-03-01 10:05")), detail("w", at("2026-03-01 10:09"))])
    assert rows_of(warehouse, sql) == []


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_rows_of_another_project_are_rejected_and_missing_ids_filled(tmp_path, backend):
    warehouse = BACKENDS[backend](tmp_path)
    entry = land(
        warehouse, A,
        [detail("x", at("2026-03-01 10:05"), project=None),
         detail("q", at("2026-03-01 10:06"), project="other")],
    )  # fmt: skip
    assert (entry.records, entry.rejected) == (1, 1)
    assert details(warehouse) == [("x", "P", 200, A.start)]
    [(reason,)] = rows_of(warehouse, "SELECT reason FROM raw.rejected_call_details")
    assert reason == "Project Id 'other' is not the project fetched (P)"


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_unavailable_windows_keep_their_rows_and_say_why(tmp_path, backend):
    warehouse = BACKENDS[backend](tmp_path)
    land(warehouse, A, [detail("x", at("2026-03-01 10:05"))])
    with warehouse.details_session("run-2", "P") as session:
        entries = session.record_unavailable([A, B], "the export answered HTTP 403", B.end)
    assert [e.status for e in entries] == ["unavailable", "unavailable"]
    assert details(warehouse) == [("x", "P", 200, A.start)]
    unavailable = [r for r in ledger(warehouse) if r[1] == "unavailable"]
    assert [(r[0], r[2], r[3], r[6], r[7]) for r in unavailable] == [
        (A.start, 0, 0, "the export answered HTTP 403", "run-2"),
        (B.start, 0, 0, "the export answered HTTP 403", "run-2"),
    ]


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_coverage_counts_calls_with_a_details_row(tmp_path, backend):
    warehouse = BACKENDS[backend](tmp_path)
    calls = [make_call(c, at(f"2026-03-01 10:0{i}")) for i, c in enumerate("xyz")]
    commit_via(warehouse, "P", A, calls)
    land(warehouse, A, [detail("x", at("2026-03-01 10:00")), detail("y", at("2026-03-01 10:01"))])
    with warehouse.reader() as con:
        assert details_coverage(con, "P", A.start, A.end) == (3, 2)
        assert details_coverage(con, "other", A.start, A.end) == (0, 0)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_known_calls_are_the_ledgers_of_windows_listed_after_their_end(tmp_path, backend):
    """What bounds the export's pages: a window listed while open, or never, is unknown."""
    warehouse = BACKENDS[backend](tmp_path)
    calls = [make_call(c, at(f"2026-03-01 10:0{i}")) for i, c in enumerate("xyz")]
    fetch = WindowFetch(sweeps=1, pages=1, api_total_items=5, attempts=1, seconds=0.1)
    commit_via(warehouse, "P", A, calls, fetch=fetch)  # totalItems 5 > the 3 landed
    early = at("2026-03-01 12:30")  # B listed half-way through its hour
    with warehouse.ingest_session("run", "P") as session:
        session.replace_trunks([Trunk("T1", "trunk", 5, "{}")], early)
        session.stage_page(B, [make_call("w", at("2026-03-01 12:01"))], [], early)
        session.commit_window(B, fetch, early)
    never = hour_window("2026-03-01 14:00")
    with warehouse.reader() as con:
        assert known_window_calls(con, "P", [A, B, never]) == {A: 5}
        assert known_window_calls(con, "other", [A, B]) == {}


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_details_mark_their_hours_for_the_analytics(tmp_path, backend):
    """Details landing after their hour's analytics were built once left its true NER unknown
    until the hour was re-ingested: each window's commit marks its hours (occupied_until = the
    hour's end), and a refresh of the hour drops the mark."""
    warehouse = BACKENDS[backend](tmp_path)
    commit_via(warehouse, "P", A, [make_call("x", at("2026-03-01 10:05"))])
    warehouse.refresh_analytics(A.start, A.end, "UTC", "P")
    before = set(rows_of(warehouse, "SELECT hour_start FROM raw.stale_hours"))
    land(warehouse, A, [detail("x", at("2026-03-01 10:05"))])
    land(warehouse, B, [detail("z", at("2026-03-01 12:05"))])
    marks = rows_of(warehouse, "SELECT project_id, hour_start, occupied_until FROM raw.stale_hours")
    new = sorted(m for m in marks if (m[1],) not in before)
    assert new == [("P", A.start, A.end), ("P", B.start, B.end)]
    warehouse.refresh_analytics(A.start, A.end, "UTC", "P", raw_changed=False)
    left = rows_of(warehouse, "SELECT hour_start FROM raw.stale_hours")
    assert (A.start,) not in left and (B.start,) in left
