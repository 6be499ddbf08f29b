"""Helpers for the warehouse tests: calls built by hand, windows landed with the real writer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb

from pipeline.sinch.models import CallRecord, RejectedRecord, Trunk, Window
from pipeline.warehouse.analytics import pending_hours, refresh_all
from pipeline.warehouse.backend import DuckDBWarehouse, Warehouse
from pipeline.warehouse.lake import LakeWarehouse
from pipeline.warehouse.ledger import LedgerEntry, WindowFetch
from pipeline.warehouse.ownership import hour_runs
from pipeline.warehouse.raw_calls import RawCallsWriter

HOUR = timedelta(hours=1)


def at(text: str) -> datetime:
    """``'2026-03-01 10:05'`` (UTC) → aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def hour_window(text: str) -> Window:
    """The hourly window starting at ``text`` (UTC)."""
    start = at(text)
    return Window(start, start + HOUR)


def make_call(
    call_id: str,
    created: datetime,
    *,
    end: datetime | None = None,
    answer: datetime | None = None,
    trunk: str = "T1",
) -> CallRecord:
    """An outbound call; answered (COMPLETED, answered when created) if it has an end."""
    answered = end is not None
    return CallRecord(
        call_id=call_id,
        create_time=created,
        answer_time=(answer or created) if answered else None,
        end_time=end,
        direction="OUTBOUND",
        call_result="COMPLETED" if answered else "NO_ANSWER",
        from_number="+4520000001",
        to_number="+4520000002",
        from_e164="+4520000001",
        to_e164="+4520000002",
        trunk_id=trunk,
        project_id="P",
        duration_seconds=60,
        billing_duration_seconds=60,
        price_per_minute=Decimal("0.01"),
        price_per_minute_currency="EUR",
        price=Decimal("0.01"),
        price_currency="EUR",
        raw=f'{{"callId":"{call_id}"}}',
    )


def land(
    writer: RawCallsWriter,
    window: Window,
    calls: list[CallRecord],
    rejected: list[RejectedRecord] | None = None,
    *,
    fetch: WindowFetch | None = None,
    fetched_at: datetime | None = None,
) -> LedgerEntry:
    """Stage one page for ``window`` and commit it (``fetched_at`` defaults to window end)."""
    when = fetched_at or window.end
    total = len(calls) + len(rejected or [])
    writer.stage_page(window, calls, rejected or [], when)
    fetch = fetch or WindowFetch(sweeps=1, pages=1, api_total_items=total, attempts=1, seconds=0.1)
    return writer.commit_window(window, fetch, when)


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    """The first column of the first row of ``sql``."""
    return con.execute(sql, params or []).fetchall()[0][0]


# The moved-call scenario both backends are tested on (tests/warehouse/test_warehouse_moves.py,
# tests/lake/test_lake_backend.py): X is listed in window A, then again, later, in window B.
A = hour_window("2026-03-01 10:00")
MID = hour_window("2026-03-01 11:00")
B = hour_window("2026-03-01 12:00")
#: X as window A lists it: created 10:30, up until 11:30 (it occupies a channel in hour 11)
X_IN_A = make_call("X", at("2026-03-01 10:30"), end=at("2026-03-01 11:30"))
#: X as window B lists it later: created 12:10, ended 12:20
X_IN_B = make_call("X", at("2026-03-01 12:10"), end=at("2026-03-01 12:20"))
Y = make_call("Y", at("2026-03-01 10:10"), end=at("2026-03-01 10:12"))
Z = make_call("Z", at("2026-03-01 11:05"), end=at("2026-03-01 11:06"))


def commit_via(
    warehouse: Warehouse,
    project_id: str,
    window: Window,
    calls: list[CallRecord],
    rejected: list[RejectedRecord] | None = None,
    *,
    fetch: WindowFetch | None = None,
) -> LedgerEntry:
    """Land one page for ``window`` through ``warehouse``'s ingest session (trunks too)."""
    fetched = window.end
    total = len(calls) + len(rejected or [])
    fetch = fetch or WindowFetch(sweeps=1, pages=1, api_total_items=total, attempts=1, seconds=0.1)
    with warehouse.ingest_session("run", project_id) as session:
        session.replace_trunks([Trunk("T1", f"trunk of {project_id}", 5, "{}")], fetched)
        session.stage_page(window, calls, rejected or [], fetched)
        return session.commit_window(window, fetch, fetched)


def rows_of(warehouse: Warehouse, sql: str) -> list[tuple]:
    """The rows of ``sql`` on a reader of ``warehouse``, sorted."""
    with warehouse.reader() as con:
        return sorted(con.execute(sql).fetchall(), key=str)


#: Both backends, each made in a test's tmp directory.
BACKENDS: dict[str, Callable[[Path], Warehouse]] = {
    "duckdb": lambda tmp: DuckDBWarehouse(tmp / "w.duckdb"),
    "lake": lambda tmp: LakeWarehouse(str(tmp / "lake")),
}


def settle(con: duckdb.DuckDBPyConnection, project_id: str = "P", report_tz: str = "UTC") -> int:
    """Refresh every hour marked in ``raw.stale_hours`` (analytics only), as the follow-up
    of ``pipeline ingest`` and the ``stale_analytics`` sensor do; returns the hour runs."""
    runs = hour_runs(pending_hours(con, project_id, report_tz))
    for first, end in runs:
        refresh_all(con, first, end, report_tz, project_id, raw_changed=False)
    return len(runs)


def settle_warehouse(warehouse: Warehouse, project_id: str = "P", report_tz: str = "UTC") -> int:
    """:func:`settle` through a backend (the DuckDB file or the lake)."""
    with warehouse.reader() as con:
        runs = hour_runs(pending_hours(con, project_id, report_tz))
    for first, end in runs:
        warehouse.refresh_analytics(first, end, report_tz, project_id, raw_changed=False)
    return len(runs)
