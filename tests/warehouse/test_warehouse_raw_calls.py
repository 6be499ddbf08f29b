"""The raw landing: window replace, de-duplication, late versions, ledger, lock waiting.

What it pins down: re-committing a window ends in the same table; a call staged twice (the
client re-swept the window) lands once with its latest version; rejected records are kept with
their reason; the ledger marks a window settled only when two fetches agree on totalItems.
"""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import duckdb
import pytest

from pipeline.sinch.models import CallRecord, RejectedRecord, Window
from pipeline.sinch.pages import records_to_arrow
from pipeline.warehouse.connection import WarehouseBusyError, connect, open_connection
from pipeline.warehouse.ledger import WindowFetch
from pipeline.warehouse.raw_calls import RawCallsWriter

T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)
W = Window(T0, T0 + timedelta(hours=1))
NEXT = Window(W.end, W.end + timedelta(hours=1))
FETCH = WindowFetch(sweeps=1, pages=1, api_total_items=3, attempts=1, seconds=0.5)


def call(call_id: str, minute: float, *, end_minute: float | None = None, price: str = "0.0040"):
    created = T0 + timedelta(minutes=minute)
    end = None if end_minute is None else T0 + timedelta(minutes=end_minute)
    return CallRecord(
        call_id=call_id,
        create_time=created,
        answer_time=created if end else None,
        end_time=end,
        direction="OUTBOUND",
        call_result="COMPLETED" if end else "NO_ANSWER",
        from_number="+4520000001",
        to_number="sip:4520000002@10.0.0.1",
        from_e164="+4520000001",
        to_e164="+4520000002",
        trunk_id="T1",
        project_id="P",
        duration_seconds=60,
        billing_duration_seconds=60,
        price_per_minute=Decimal(price),
        price_per_minute_currency="EUR",
        price=Decimal(price),
        price_currency="EUR",
        raw=f'{{"callId":"{call_id}","extra":1}}',
    )


def rows(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        "SELECT call_id, end_time, price, raw::VARCHAR FROM raw.calls ORDER BY call_id"
    ).fetchall()


def test_commit_is_idempotent_and_keeps_latest_version(tmp_path):
    db = tmp_path / "w.duckdb"
    with connect(db) as con:
        writer = RawCallsWriter(con, "run-1", "P")
        writer.stage_page(
            W, [call("a", 1), call("b", 2)], [RejectedRecord("createTime: missing", "{}")], T0
        )
        # Second sweep re-delivers b, now ended and priced differently: the latest wins.
        writer.stage_page(W, [call("b", 2, end_minute=5, price="0.0100")], [], T0)
        entry = writer.commit_window(W, FETCH, T0)
        assert (entry.records, entry.rejected, entry.settled) == (2, 1, False)
        first = rows(con)
        assert first[1][1] == T0 + timedelta(minutes=5)
        assert first[1][2] == Decimal("0.010000")
        assert first[0][3] == '{"callId":"a","extra":1}'  # raw JSON kept verbatim

        writer.stage_page(
            W,
            [call("a", 1), call("b", 2, end_minute=5, price="0.0100")],
            [RejectedRecord("createTime: missing", "{}")],
            T0,
        )
        again = writer.commit_window(W, FETCH, T0 + timedelta(hours=2))
        assert again.settled  # same totalItems as the previous fetch of this window
        assert rows(con) == first
        assert con.execute("SELECT count(*) FROM raw.rejected_calls").fetchall() == [(1,)]
        assert con.execute(
            "SELECT count(*), sum(settled::INT) FROM raw.ingest_ledger"
        ).fetchall() == [(2, 1)]


def test_commit_touches_only_its_window(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        writer = RawCallsWriter(con, "r", "P")
        writer.stage_page(W, [call("a", 59.99)], [], T0)
        writer.commit_window(W, FETCH, T0)
        nxt = call("n", 60)  # exactly at W.end: belongs to the next window
        writer.stage_page(NEXT, [nxt], [], T0)
        writer.commit_window(NEXT, FETCH, T0)
        writer.commit_window(W, FETCH, T0)  # W re-fetched empty: only W is cleared
        assert rows(con)[0][0] == "n"
        assert len(rows(con)) == 1


def test_stage_rejects_record_outside_window(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        writer = RawCallsWriter(con, "r", "P")
        with pytest.raises(ValueError, match="outside window"):
            writer.stage_page(W, [call("late", 60)], [], T0)


def test_discard_drops_what_was_staged(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        writer = RawCallsWriter(con, "r", "P")
        writer.stage_page(W, [call("a", 1)], [], T0)
        writer.commit_window(W, FETCH, T0)
        writer.stage_page(W, [call("zzz", 2)], [], T0)
        writer.discard_window(W)  # the fetch failed half-way
        writer.commit_window(W, FETCH, T0)
        # Nothing staged survives a discard; the committed empty re-fetch cleared the window.
        assert rows(con) == []


def test_arrow_conversion_keeps_exact_money_and_utc():
    table = records_to_arrow([call("a", 1, price="0.0043")])
    assert table.column("price")[0].as_py() == Decimal("0.004300")
    assert str(table.schema.field("create_time").type) == "timestamp[us, tz=UTC]"


def test_connections_are_pinned_to_utc(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    with connect(tmp_path / "w.duckdb") as con:
        assert con.execute("SELECT current_setting('TimeZone')").fetchall() == [("UTC",)]


#: Hang guard only, for the lock holder's start, its release and its exit.
HANG_GUARD_S = 240


def _hold_lock(path: str, ready, release) -> None:
    con = duckdb.connect(path)
    ready.set()
    release.wait(HANG_GUARD_S)  # holds the lock until the test says so
    con.close()


def test_writer_waits_for_another_process_then_fails_clearly(tmp_path):
    db = tmp_path / "locked.duckdb"
    with connect(db):
        pass
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(db), ready, release))
    holder.start()
    try:
        assert ready.wait(HANG_GUARD_S)
        with pytest.raises(WarehouseBusyError, match="stayed locked"):
            open_connection(db, lock_wait_s=0.5)
        release.set()
        holder.join(HANG_GUARD_S)
        con = open_connection(db, lock_wait_s=10)  # free again: opens
        con.close()
    finally:
        release.set()
        holder.join(HANG_GUARD_S)


@pytest.mark.parametrize(
    ("said", "locked"),
    [
        ('Could not set lock on file "w.duckdb": Conflicting lock is held in python', True),
        ("Resource temporarily unavailable", True),
        ("Could not read enough bytes from file: the block at offset 4096 is damaged", False),
        ('The file "w.duckdb" exists, but it is not a valid DuckDB database file!', False),
    ],
)
def test_only_a_lock_conflict_is_waited_on(said: str, locked: bool) -> None:
    """A damaged file's error may speak of a "block": it was waited on as a lock (300 s)."""
    from pipeline.warehouse.connection import _is_lock_conflict

    assert _is_lock_conflict(duckdb.IOException(said)) is locked
    assert not _is_lock_conflict(RuntimeError("lock"))


def test_rejected_records_of_a_resweep_land_once(tmp_path):
    """The client re-swept the window (totalItems drifted): the same malformed record came twice."""
    bad = RejectedRecord("createTime: not a timestamp 'yesterday'", '{"callId":"x"}', "x")
    with connect(tmp_path / "w.duckdb") as con:
        writer = RawCallsWriter(con, "r", "P")
        writer.stage_page(W, [call("a", 1)], [bad], T0, sweep=1)
        writer.stage_page(W, [call("a", 1), call("b", 3)], [bad], T0, sweep=2)
        entry = writer.commit_window(W, FETCH, T0)
        assert (entry.records, entry.rejected) == (2, 1)
        assert con.execute("SELECT call_id, reason FROM raw.rejected_calls").fetchall() == [
            ("x", "createTime: not a timestamp 'yesterday'")
        ]
