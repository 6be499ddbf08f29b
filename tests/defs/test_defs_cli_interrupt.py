"""Ctrl-C during `pipeline ingest`: exit 130, name the windows not landed, keep the landed ones.

Dagster turns SIGINT into a failed step, so the command used to exit 1 with the generic "did
not land everything (see above)" and nothing above said what was missing; the compute-log
watcher processes also printed KeyboardInterrupt tracebacks.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from pipeline.sandbox.testing import sandbox_server
from tests.conftest import sandbox_env

START = datetime(2026, 11, 16, 0, tzinfo=UTC)
HOURS = 48
SPAN = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d)Z → (\d{4}-\d\d-\d\d \d\d:\d\d)Z")


def _command(env: dict[str, str]) -> subprocess.Popen[str]:
    entry_point = Path(sys.executable).with_name("pipeline")
    end = START + timedelta(hours=HOURS)
    hours = ["--start", f"{START:%Y-%m-%dT%H}", "--end", f"{end:%Y-%m-%dT%H}"]
    return subprocess.Popen(
        [str(entry_point), "ingest", "-v", *hours],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # like a terminal: SIGINT goes to the whole process group
    )


def _ledger_hours(db: Path) -> set[datetime]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT DISTINCT window_start FROM raw.ingest_ledger").fetchall()
    return {start.astimezone(UTC) for (start,) in rows}


def _hours(first: str, end: str) -> set[datetime]:
    a = datetime.fromisoformat(first).replace(tzinfo=UTC)
    b = datetime.fromisoformat(end).replace(tzinfo=UTC)
    return {a + timedelta(hours=i) for i in range(int((b - a) / timedelta(hours=1)))}


def test_ctrl_c_exits_130_naming_the_windows_not_landed_and_a_rerun_finishes(tmp_path):
    db = tmp_path / "w.duckdb"
    # Latency per request, so the run is still fetching when the signal arrives.
    with sandbox_server(latency_s=0.2) as sb:
        env = {
            **os.environ,
            **sandbox_env(sb),
            "DAGSTER_HOME": str(tmp_path / "dagster"),
            "CALLS_DB_PATH": str(db),
        }
        with _command(env) as proc:
            try:
                assert proc.stdout is not None
                before, landed_lines = [], 0
                for line in proc.stdout:  # ready: three windows have been committed
                    before.append(line)
                    landed_lines += line.startswith("raw__calls: [")
                    if landed_lines == 3:
                        break
                os.killpg(proc.pid, signal.SIGINT)
                after = proc.stdout.read()
                code = proc.wait(timeout=120)
            finally:
                proc.kill()
        output = "".join(before) + after
        assert code == 130, output
        assert "Traceback" not in output, output
        assert "raw__calls interrupted" in after
        message = re.search(r"interrupted: (\d+) windows landed, (\d+) not: (.*)", after)
        assert message, after
        named: set[datetime] = set()
        for first, end in SPAN.findall(message.group(3)):
            named |= _hours(first, end)
        landed = _ledger_hours(db)
        everything = {START + timedelta(hours=i) for i in range(HOURS)}
        assert 3 <= len(landed) < HOURS
        assert int(message.group(1)) == len(landed)
        assert int(message.group(2)) == len(named) == HOURS - len(landed)
        assert named == everything - landed  # exactly the windows a re-run still has to fetch

        with _command(env) as rerun:
            out, _ = rerun.communicate(timeout=600)
        assert rerun.returncode == 0, out
        assert _ledger_hours(db) == everything
