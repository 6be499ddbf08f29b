"""A backfill killed with ``kill -9`` half-way, then started again, ends with the same tables
as a clean run (raw and analytics), and with exactly the sandbox's calls.

The CLI runs as a subprocess (``python -m pipeline.cli ingest``) against a sandbox served by
this process; 150 ms latency per request and two fetchers make the 72-window backfill take a
few seconds, and the test kills it once it has reported ``KILL_AFTER`` committed windows on
its progress lines (a readiness signal, not a clock: however long a loaded machine takes to
start the process, the kill lands after the same commit, and more than 50 windows still have
to be fetched at 150 ms a request). The clean run is the same Dagster job, in this process,
while the subprocess starts up.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pytest
from reliability_kit import (
    THREE_DAYS,
    assert_exactly_the_sandbox_calls,
    cli_command,
    cli_env,
    resource,
)

from pipeline.jobs import run_ingest_job
from pipeline.sandbox.testing import sandbox_server
from pipeline.transforms import ANALYTICS_TABLES
from tests.conftest import quiet_console

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ARGS = ["ingest", "--verbose", "--start", "2026-11-16T00", "--end", "2026-11-19T00"]
FAULTS = {"latency_s": 0.15, "malformed_rate": 0.02, "duplicate_rate": 0.3}
#: Kill the victim right after it reports this many committed windows (of 72).
KILL_AFTER = 20
#: Hang guard only: no healthy run, however loaded the machine, gets near it.
HANG_GUARD_S = 240
PROGRESS = re.compile(r"\[(\d+)/72\]")


def _wait_for_committed_windows(
    victim: subprocess.Popen[str], count: int
) -> tuple[list[str], threading.Thread]:
    """Read the victim's progress lines (stderr) until it reports ``count`` committed windows;
    returns the lines read and the reading thread (it ends when the victim's stderr closes).
    Fails if the victim exits first, or on the hang guard."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert victim.stderr is not None
        for line in victim.stderr:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    seen: list[str] = []
    deadline = time.monotonic() + HANG_GUARD_S
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"no {count} committed windows within {HANG_GUARD_S} s:\n{''.join(seen)}")
        if line is None:
            pytest.fail(f"the run ended before {count} committed windows:\n{''.join(seen)}")
        seen.append(line)
        match = PROGRESS.search(line)
        if match and int(match.group(1)) >= count:
            return seen, reader


def _table(db: Path, name: str) -> list[tuple]:
    """Every row of a table, sorted, without the columns that record *when* it was fetched."""
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("SET TimeZone='UTC'")
        cols = [
            c
            for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema || '.' || table_name = ? ORDER BY ordinal_position",
                [name],
            ).fetchall()
            if c not in ("fetched_at", "refreshed_at", "built_at")
        ]
        assert cols, name
        return con.execute(f"SELECT {', '.join(cols)} FROM {name} ORDER BY ALL").fetchall()


def _ledger_windows(db: Path) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT count(DISTINCT window_start) FROM raw.ingest_ledger").fetchone()[
            0
        ]


def test_backfill_killed_mid_run_then_resumed_equals_a_clean_run(tmp_path: Path):
    start, end = THREE_DAYS
    killed_db, clean_db = tmp_path / "killed.duckdb", tmp_path / "clean.duckdb"
    # the clean run talks to its own sandbox (same settings, so the same calls and faults),
    # so the victim's request count is its own
    with (
        sandbox_server(**FAULTS) as sb,
        sandbox_server(**FAULTS) as clean_sb,
        ThreadPoolExecutor(1) as pool,
    ):
        env = cli_env(sb, CALLS_FETCH_CONCURRENCY="2", REPORT_TZ="Europe/Copenhagen")
        victim = subprocess.Popen(
            cli_command(*ARGS, "--db", str(killed_db)),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,  # the progress lines: one per committed window
            text=True,
        )
        clean = pool.submit(
            run_ingest_job,
            start,
            end,
            db_path=clean_db,
            report_tz="Europe/Copenhagen",
            console=quiet_console(),
            sinch=resource(clean_sb, page_size=1000, concurrency=8),
        )
        progress, reader = _wait_for_committed_windows(victim, KILL_AFTER)
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.wait(timeout=HANG_GUARD_S) == -signal.SIGKILL, "".join(progress)
        reader.join(HANG_GUARD_S)  # the pipe is at its end once the victim is gone
        victim.stderr.close()
        assert clean.result(timeout=HANG_GUARD_S)

        landed = _ledger_windows(killed_db)
        assert 0 < landed < 72, f"the kill did not land mid-backfill ({landed} windows)"
        assert landed >= KILL_AFTER, "a window reported as committed was lost"

        resumed = subprocess.run(
            cli_command(*ARGS, "--db", str(killed_db)),
            env={**env, "CALLS_FETCH_CONCURRENCY": "8"},
            capture_output=True,
            text=True,
            timeout=HANG_GUARD_S,
        )
        assert resumed.returncode == 0, resumed.stderr
        assert_exactly_the_sandbox_calls(sb, killed_db, start, end)
        assert_exactly_the_sandbox_calls(clean_sb, clean_db, start, end)

    for table in ("raw.calls", "raw.rejected_calls", *(f"analytics.{t}" for t in ANALYTICS_TABLES)):
        assert _table(killed_db, table) == _table(clean_db, table), table
    assert _ledger_windows(killed_db) == 72
