"""What the ingestion shows: a progress bar in a terminal, lines only with ``verbose``, a summary.

The job runs against the sandbox on loopback; the display is fed by the structured ``extra``
of each window's log record and by Dagster's check events, so the summary's counts must equal
the warehouse's.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import duckdb
import pytest
from rich.console import Console

from pipeline.jobs import run_ingest_job
from tests.conftest import api_resource

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 16, 8, tzinfo=UTC)
END = START + timedelta(hours=4)


def _run(sb, db, console: Console, *, verbose: bool, analytics: bool = False) -> str:
    ok = run_ingest_job(
        START,
        END,
        db_path=db,
        report_tz="UTC",
        console=console,
        analytics=analytics,
        sinch=api_resource(sb),
        verbose=verbose,
    )
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert ok, output
    return output


def test_quiet_run_prints_only_the_summary_with_the_warehouse_counts(make_sandbox, tmp_path):
    db = tmp_path / "quiet.duckdb"
    with make_sandbox(seed=5, malformed_rate=0.05) as sb:
        pipe = Console(file=io.StringIO(), width=100)  # not a terminal: no bar
        output = _run(sb, db, pipe, verbose=False)
        verbose = _run(sb, tmp_path / "verbose.duckdb", Console(file=io.StringIO()), verbose=True)
    with duckdb.connect(str(db), read_only=True) as con:
        (calls,) = con.execute("SELECT count(*) FROM raw.calls").fetchone()
        (rejected,) = con.execute("SELECT count(*) FROM raw.rejected_calls").fetchone()
    assert rejected > 0
    lines = [line for line in output.splitlines() if line.strip()]
    # the failing no_rejected_records check (a WARN) is the one other line
    assert len(lines) == 2, output
    assert "check no_rejected_records on raw/calls failed" in lines[0]
    assert lines[1].startswith(
        f"Landed {calls:,} calls in 4 windows ({rejected:,} rejected; 0 re-swept, 0 unreconciled);"
        " checks: 4 passed, 1 failed;"
    ), output
    assert "\x1b[" not in output
    assert sum("[1/4]" in line or "[4/4]" in line for line in verbose.splitlines()) == 2


def test_a_terminal_gets_a_bar_with_windows_calls_and_rate(make_sandbox, tmp_path):
    terminal = Console(file=io.StringIO(), force_terminal=True, width=160)
    with make_sandbox(seed=5) as sb:
        output = _run(sb, tmp_path / "tty.duckdb", terminal, verbose=False, analytics=True)
    assert "4/4" in output and "windows ·" in output and "calls/s" in output and "ETA" in output
    assert "analytics tables" in output
    assert "[1/4]" not in output  # per-window lines only with verbose
