"""`pipeline ingest` of a 25,000-call hour lands exactly the 25,000 in every hostile mode.

The sandbox plays the API behaviours the public material leaves open (docs/sandbox.md,
"Hostile behaviours"); the job runs as `pipeline ingest` does (the production resource, over
HTTP on loopback) and the landed call ids are compared with the sandbox's own truth. Before
the client's guards, the capped modes landed 10,000 and exited 0, the strict lower bound lost
the hour's first second, the capped count stopped at 1,000, the shuffled order ended
"settled" and short, and float money rejected calls.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.jobs import run_ingest_job
from pipeline.warehouse.connection import connect
from tests.conftest import api_resource, quiet_console

pytestmark = pytest.mark.integration

HOUR = datetime(2026, 11, 18, 10, tzinfo=UTC)
CALLS = 25_000
CAP = {"max_result_window": 10_000}

MODES = {
    "cap-empty": {**CAP, "result_window_mode": "empty"},
    "cap-error": {**CAP, "result_window_mode": "error"},
    "unstable-order": {**CAP, "unstable_order": True},
    "strict-lower-bound": {"strict_lower_bound": True},
    "page-size-key-size": {"page_size_key": "size"},
    "page-size-key-pageSize": {"page_size_key": "pageSize"},
    "total-items-capped": {"total_items_cap": 1000},
    "float-money": {"float_money": True},
}


def ingest_hour(sb, db: Path, analytics: bool = False) -> tuple[bool, str]:
    console = quiet_console()
    ok = run_ingest_job(
        HOUR,
        HOUR + timedelta(hours=1),
        db_path=db,
        report_tz="UTC",
        console=console,
        analytics=analytics,
        sinch=api_resource(sb),
    )
    return ok, console.file.getvalue()


def hour_ids(db: Path) -> list[str]:
    with connect(db, read_only=True) as con:
        return [
            r[0]
            for r in con.execute(
                "SELECT call_id FROM raw.calls WHERE create_time >= ? AND create_time < ?",
                [HOUR, HOUR + timedelta(hours=1)],
            ).fetchall()
        ]


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(MODES))
def test_busy_hour_lands_exactly_once_in_each_hostile_mode(make_sandbox, tmp_path, mode):
    db = tmp_path / f"{mode}.duckdb"
    with make_sandbox(seed=21, busy_hour_calls=CALLS, **MODES[mode]) as sb:
        ok, printed = ingest_hour(sb, db)
        truth = set(sb.app_state.call_ids_between(HOUR, HOUR + timedelta(hours=1)))
    assert ok, printed
    ids = hour_ids(db)
    assert len(truth) == CALLS
    assert len(ids) == len(set(ids)) and set(ids) == truth
    with connect(db, read_only=True) as con:
        ledger = con.execute(
            "SELECT reconciled, shortfall, sub_windows, records FROM raw.ingest_ledger"
        ).fetchall()
        rejected = con.execute("SELECT count(*) FROM raw.rejected_calls").fetchall()[0][0]
        if mode == "float-money":
            # every amount arrived as a float one step below its value; none rejected, and the
            # landed decimals are the exact amounts (e.g. 0.012300, never 0.012299)
            digits = con.execute(
                "SELECT count(*) FROM raw.calls WHERE price::VARCHAR LIKE '%99999%'"
            ).fetchall()[0][0]
            assert digits == 0
    assert rejected == 0
    assert ledger[0][:2] == (True, 0) and ledger[0][3] == CALLS
    if mode in ("cap-empty", "cap-error", "unstable-order"):
        assert ledger[0][2] >= 4  # split into slices that fit the 10,000 result window


@pytest.mark.slow
def test_all_hostile_modes_at_once_with_analytics(make_sandbox, tmp_path):
    db = tmp_path / "all.duckdb"
    every = {
        **CAP,
        "result_window_mode": "error",
        "unstable_order": True,
        "strict_lower_bound": True,
        "page_size_key": "pageSize",
        "total_items_cap": 5000,
        "float_money": True,
    }
    with make_sandbox(seed=22, busy_hour_calls=CALLS, **every) as sb:
        ok, printed = ingest_hour(sb, db, analytics=True)
        truth = set(sb.app_state.call_ids_between(HOUR, HOUR + timedelta(hours=1)))
    assert ok, printed
    assert sorted(hour_ids(db)) == sorted(truth)
    with connect(db, read_only=True) as con:
        attempts = con.execute(
            "SELECT sum(attempts) FROM analytics.answer_rate_hourly WHERE hour_start = ?", [HOUR]
        ).fetchall()[0][0]
    assert attempts == CALLS
