"""Living beside the pipeline, with real second processes (DuckDB locks are per process).

Design under test: nobody holds the file. Readers (``pipeline sql``, the notebook) open a
read-only connection, read into Polars and close; writers (the ingestion) hold their write
connection for one run. Both sides open through ``pipeline.warehouse.connection.connect``,
which waits with backoff while the other side holds the lock instead of failing.

The child processes are steered by readiness signals, never by the clock: the writer holds its
lock until the test writes a line to its stdin (then ``HOLD_S`` more), the reader loops until
a stop file appears, so a loaded machine only makes the tests slower, never wrong.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.reporting.queries import run_query
from pipeline.warehouse.connection import WarehouseBusyError, connect
from tests.conftest import DEMO_END, DEMO_SEED, DEMO_TZ

HOLD_S = 2.0
#: Hang guard only: how long a child may wait for its signal, and a reader for the lock.
HANG_GUARD_S = 240
REPO = Path(__file__).resolve().parents[2]

# Holds the write lock from "locked" until a line (or EOF) on stdin, then HOLD_S more.
WRITER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])  # read-write: takes the file lock
con.execute("CREATE TABLE IF NOT EXISTS main.lock_probe AS SELECT 1 AS x")
print("locked", flush=True)
sys.stdin.readline()
time.sleep(float(sys.argv[2]))
con.close()
print("released", flush=True)
"""

# Reads in a loop until the stop file exists (or the hang guard), then prints a summary.
READER = f"""
import json, sys, time
from pathlib import Path
from pipeline.reporting.queries import run_query
stop = Path(sys.argv[2])
deadline = time.monotonic() + {HANG_GUARD_S}
ok, errors = 0, []
while not stop.exists() and time.monotonic() < deadline:
    try:
        frame = run_query(sys.argv[1], "answer_rate_7d", lock_wait_s={HANG_GUARD_S})
        ok += frame.height > 0
    except Exception as exc:  # report every failure to the test
        errors.append(repr(exc))
    if ok == 1:
        print("reading", flush=True)
    time.sleep(0.02)
print(json.dumps({{"ok": ok, "errors": errors, "stopped": stop.exists()}}), flush=True)
"""


INGEST = f"""
import sys
from datetime import datetime, timedelta
from pipeline.jobs import run_ingest_job
from pipeline.sandbox.testing import sandbox_server
from tests.conftest import api_resource, quiet_console
end = datetime.fromisoformat("{DEMO_END.isoformat()}")
console = quiet_console()
with sandbox_server(seed={DEMO_SEED}) as sb:
    ok = run_ingest_job(end, end + timedelta(hours=2), db_path=sys.argv[1],
                        report_tz="{DEMO_TZ}", console=console, sinch=api_resource(sb))
print(console.file.getvalue())
sys.exit(0 if ok else 1)
"""


@pytest.fixture
def warehouse(demo_db: Path, tmp_path: Path) -> Path:
    """A private copy of the demo warehouse (the session one stays untouched)."""
    copy = tmp_path / "calls.duckdb"
    shutil.copy(demo_db, copy)
    return copy


def _spawn(script: str, *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)],
        stdin=subprocess.PIPE,  # closed on exit of the ``with``: a writer's release at the latest
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def _wait_for(proc: subprocess.Popen[str], line: str) -> None:
    assert proc.stdout is not None
    got = proc.stdout.readline().strip()
    assert got == line, f"child said {got!r}"


def _release(writer: subprocess.Popen[str]) -> None:
    """Let the writer go: it closes its connection ``HOLD_S`` after this call."""
    assert writer.stdin is not None
    writer.stdin.write("release\n")
    writer.stdin.flush()


def test_sql_waits_for_a_writer_process_then_succeeds(warehouse: Path) -> None:
    with _spawn(WRITER, warehouse, HOLD_S) as writer:
        _wait_for(writer, "locked")
        started = time.monotonic()
        _release(writer)  # it still holds the lock for HOLD_S from now
        result = CliRunner().invoke(
            app, ["sql", "answer_rate_7d", "--db", str(warehouse), "--format", "csv"]
        )
        waited = time.monotonic() - started
        _wait_for(writer, "released")  # before the ``with`` closes its stdout
    assert result.exit_code == 0, result.output
    assert result.output.startswith("project_id,trunk_id,")
    assert waited >= HOLD_S * 0.5, f"did not wait for the writer ({waited:.2f} s)"
    assert writer.returncode == 0


def test_reader_gives_up_with_a_clear_error_after_its_wait(warehouse: Path) -> None:
    with _spawn(WRITER, warehouse, 0) as writer:
        _wait_for(writer, "locked")  # and it holds the lock until the test is done
        with pytest.raises(WarehouseBusyError, match="stayed locked by another process"):
            run_query(warehouse, "answer_rate_7d", lock_wait_s=0.5)


def test_report_reader_waits_for_a_writer_process(warehouse: Path, tmp_path: Path) -> None:
    from pipeline.reporting.notebook import execute_report

    with _spawn(WRITER, warehouse, HOLD_S) as writer:
        _wait_for(writer, "locked")
        _release(writer)
        nb = execute_report(warehouse)
    charts = [
        output
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if "Plotly.newPlot(" in output.get("data", {}).get("text/html", "")
    ]
    assert len(charts) == 11  # 8 of the call list, 3 of the export details it landed


def test_ingestion_succeeds_while_a_reader_process_loops(warehouse: Path, tmp_path: Path) -> None:
    # The ingestion runs in its own process too (as the scheduled job would): a job run
    # against the embedded sandbox over loopback, for two hours after the demo range. The
    # reader keeps reading until the ingestion is over, however long that takes.
    stop = tmp_path / "stop-reading"
    with _spawn(READER, warehouse, stop) as reader:
        _wait_for(reader, "reading")
        ingest = subprocess.run(
            [sys.executable, "-c", INGEST, str(warehouse)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=HANG_GUARD_S,
            check=False,
        )
        stop.touch()
        assert reader.stdout is not None
        summary = json.loads(reader.stdout.readline())
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    assert summary["stopped"], "the reader hit its hang guard"
    assert summary["errors"] == []
    assert summary["ok"] >= 2
    # the new hours landed and readers see them
    with connect(warehouse, read_only=True) as con:
        new = con.execute(
            "SELECT count(*) FROM raw.calls WHERE create_time >= $end", {"end": DEMO_END}
        ).fetchall()[0][0]
    assert new > 0
