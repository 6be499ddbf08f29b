"""What the ingestion shows: a progress bar in a terminal, lines only with ``verbose``, a summary.

The job runs against the sandbox on loopback; the display is fed by the structured ``extra``
of each window's log record and by Dagster's check events, so the summary's counts must equal
the warehouse's.
"""

from __future__ import annotations

import io
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
import pytest
from dagster._core.storage.dagster_run import DagsterRun
from rich.console import Console

from pipeline.defs.raw_assets import WRITER_POOL
from pipeline.ingest.report import WINDOW_EXTRA
from pipeline.jobs import run_ingest_job
from pipeline.progress import RunProgress
from pipeline.state.instance import open_instance, run_tags
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
    # the failing no_rejected_records check (a WARN) is the one other line; the call details'
    # line follows the summary
    assert len(lines) == 3, output
    assert "check no_rejected_records on raw/calls failed" in lines[0]
    assert lines[1].startswith(
        f"Landed {calls:,} calls in 4 windows ({rejected:,} rejected; 0 re-swept, 0 unreconciled);"
        " checks: 6 passed, 1 failed;"
    ), output
    assert lines[2] == (
        f"call details: {calls:,} of {calls:,} calls (100.0 %) from /calls/export, 0 rejected"
    )
    assert "\x1b[" not in output
    assert sum("[1/4]" in line or "[4/4]" in line for line in verbose.splitlines()) == 2


def test_a_terminal_gets_a_bar_with_windows_calls_and_rate(make_sandbox, tmp_path):
    terminal = Console(file=io.StringIO(), force_terminal=True, width=160)
    with make_sandbox(seed=5) as sb:
        output = _run(sb, tmp_path / "tty.duckdb", terminal, verbose=False, analytics=True)
    assert "4/4" in output and "windows ·" in output and "calls/s" in output and "ETA" in output
    assert "analytics tables" in output
    assert "[1/4]" not in output  # per-window lines only with verbose


class _Signal(io.StringIO):
    """A console file that sets ``seen`` once ``text`` has been written (a readiness signal)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.seen = threading.Event()

    def write(self, s: str) -> int:
        n = super().write(s)
        if self.text in self.getvalue():
            self.seen.set()
        return n


def test_a_run_waiting_for_the_writer_pool_says_so_once_then_lands(make_sandbox, tmp_path):
    out = _Signal("waits for a slot of the pool duckdb_writer")
    with make_sandbox(seed=5) as sb, open_instance(tmp_path / "home") as instance:
        # another live run of this host (a UI backfill, say) holds the writer's only slot
        holder = DagsterRun(
            job_name="ingest_calls",
            run_id=str(uuid.uuid4()),
            status=dg.DagsterRunStatus.STARTED,
            tags=run_tags(),
        )
        instance.add_run(holder)
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(WRITER_POOL)
        storage.claim_concurrency_slot(WRITER_POOL, holder.run_id, "raw__calls")
        with ThreadPoolExecutor(1) as pool:
            job = pool.submit(
                run_ingest_job,
                START,
                START + timedelta(hours=1),
                db_path=tmp_path / "waits.duckdb",
                report_tz="UTC",
                console=Console(file=out, width=200),
                analytics=False,
                sinch=api_resource(sb),
                instance=instance,
                verbose=False,
            )
            assert out.seen.wait(timeout=240), out.getvalue()  # hang guard only
            storage.free_concurrency_slots_for_run(holder.run_id)
            assert job.result(timeout=240), out.getvalue()
    output = out.getvalue()
    assert output.count("waits for a slot of the pool duckdb_writer") == 1, output
    assert "Landed " in output and " in 1 window " in output


def _window_record(
    start: datetime, rejected: int = 0, taken: tuple[datetime, ...] = ()
) -> logging.LogRecord:
    extra = {"start": start.isoformat(), "calls": 100, "rejected": rejected, "pages": 1,
             "sweeps": 1, "rejected_taken": [t.isoformat() for t in taken]}  # fmt: skip
    fields = {"msg": "window", "levelno": logging.INFO, "levelname": "INFO"}
    return logging.makeLogRecord(fields | {WINDOW_EXTRA: extra | {"reconciled": True}})


def test_a_record_two_windows_rejected_is_one_rejected_record_in_the_summary():
    """The summary said "7 rejected" over 6 rows of raw.rejected_calls: a record listed at two
    windows' boundary second with an unreadable createTime counted in both windows."""
    before = START - timedelta(hours=5)  # a window landed by an earlier run
    progress = RunProgress(Console(file=io.StringIO(), width=200), 3, heartbeat_every=None)
    with progress:
        progress.emit(_window_record(START, rejected=2))
        progress.emit(_window_record(START + timedelta(hours=1), rejected=1, taken=(START,)))
        progress.emit(_window_record(START + timedelta(hours=2), rejected=1, taken=(before,)))
    assert "(3 rejected;" in progress.summary()


@pytest.mark.parametrize("terminal", [False, True])
def test_a_pipe_gets_a_progress_line_every_30_seconds_a_terminal_only_its_bar(terminal):
    """Without a terminal a long backfill used to print nothing until its summary."""
    now = [0.0]
    console = Console(file=io.StringIO(), width=200, force_terminal=terminal)
    progress = RunProgress(console, 10, clock=lambda: now[0], heartbeat_every=None)
    with progress:
        for hour in range(10):
            now[0] += 7.0  # a window every 7 s: a line at 35 s (5 windows), then at 70 s
            progress.emit(_window_record(START + timedelta(hours=hour)))
    output = console.file.getvalue()  # type: ignore[attr-defined]
    lines = [line for line in output.splitlines() if line.startswith("fetching:")]
    if terminal:
        assert lines == [] and "10/10" in output
        return
    assert lines == [
        "fetching: 5 of 10 windows · 500 calls · 14 calls/s · 35 s",
        "fetching: 10 of 10 windows · 1,000 calls · 14 calls/s · 70 s",
    ]
    assert progress.landed == {START + timedelta(hours=h) for h in range(10)}
    verbose = RunProgress(
        Console(file=io.StringIO()), 10, verbose=True, clock=lambda: now[0], heartbeat_every=None
    )
    with verbose:
        now[0] += 60.0
        verbose.emit(_window_record(START))
    assert "fetching:" not in verbose.console.file.getvalue()  # type: ignore[attr-defined]


def _step_record(step: str) -> logging.LogRecord:
    meta = {"step_key": step, "orig_message": f"{step}: built"}
    return logging.makeLogRecord({"levelno": logging.INFO, "dagster_meta": meta})


def test_a_pipe_hears_from_a_quiet_phase_too_naming_it():
    """Lines used to follow committed windows only: a slow first window, the call details or
    the analytics tables were silent on a pipe however long they took."""
    now = [0.0]
    console = Console(file=io.StringIO(), width=200)
    progress = RunProgress(console, 4, clock=lambda: now[0], heartbeat_every=None)
    with progress:
        now[0] += 29.0
        progress.heartbeat()  # not due yet
        now[0] += 2.0
        progress.heartbeat()
        progress.emit(_window_record(START))
        progress.emit(_step_record("analytics__answer_rate_hourly"))
        now[0] += 40.0
        progress.heartbeat()
        progress.heartbeat()  # just printed: not due
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert lines[:2] == [
        "fetching: 0 of 4 windows · 0 calls · 0 calls/s · 31 s",
        "analytics tables: 1 of 4 windows · 100 calls · 1 calls/s · 71 s",
    ]
    assert len(lines) == 2


def test_the_heartbeat_thread_prints_a_due_line_and_stops_with_the_run():
    now = [0.0]
    console = Console(file=io.StringIO(), width=200)
    progress = RunProgress(console, 4, clock=lambda: now[0], heartbeat_every=0.01)
    with progress:
        now[0] += 31.0
        deadline = time.monotonic() + 60
        while "fetching: 0 of 4 windows" not in console.file.getvalue():  # type: ignore[attr-defined]
            assert time.monotonic() < deadline, "no line from the heartbeat thread"
            time.sleep(0.01)
    assert not any(t.name == "progress-heartbeat" for t in threading.enumerate())
    terminal = RunProgress(Console(file=io.StringIO(), force_terminal=True), 4)
    with terminal:
        assert not any(t.name == "progress-heartbeat" for t in threading.enumerate())


def _step_start(step: str) -> logging.LogRecord:
    event = dg.DagsterEvent(event_type_value="STEP_START", job_name="ingest_calls", step_key=step)
    meta = {"step_key": step, "dagster_event": event}
    return logging.makeLogRecord({"levelno": logging.DEBUG, "dagster_meta": meta})


def test_the_plain_line_names_the_step_that_runs_now():
    """The label used to change only on a window commit or a step's own log line: after
    "waiting for pool", or from one project's analytics into the next project's first (slow)
    window, the line named a phase that had ended."""
    now = [0.0]
    console = Console(file=io.StringIO(), width=200)
    progress = RunProgress(console, 4, clock=lambda: now[0], heartbeat_every=None)
    steps = [
        "raw__calls",
        "raw__calls_unique_call_ids",
        "raw__call_details",
        "analytics_tables",
        "alert_rules",
        "raw__calls",  # the next project's execution
    ]
    with progress:
        progress.emit(_step_start("analytics_tables"))  # a label another step would leave
        for step in steps:
            progress.emit(_step_start(step))
            now[0] += 31.0
            progress.heartbeat()
    labels = [line.split(":")[0] for line in console.file.getvalue().splitlines()]  # type: ignore[attr-defined]
    assert labels == [
        "fetching",
        "checks",
        "call details",
        "analytics tables",
        "alert rules",
        "fetching",
    ]


def _skip_record(step: str, failed: str) -> logging.LogRecord:
    text = f"Dependencies for step {step} failed: [{failed!r}]. Not executing."
    meta = {"step_key": step, "orig_message": text}
    return logging.makeLogRecord({"levelno": logging.WARNING, "dagster_meta": meta})


def test_steps_skipped_after_a_failure_are_counted_in_the_summary_not_listed():
    """A failed raw__calls printed one "Dependencies for step … Not executing." line for each
    of the ~10 steps after it, above the one line that said what failed."""
    console = Console(file=io.StringIO(), width=200)
    progress = RunProgress(console, 4, heartbeat_every=None)
    with progress:
        for step in ("raw__calls_unique_call_ids", "raw__call_details", "analytics_tables"):
            progress.emit(_skip_record(step, "raw__calls"))
        warning = _skip_record("raw__calls", "x")
        warning.dagster_meta["orig_message"] = "a warning that is not a skip"  # type: ignore[attr-defined]
        progress.emit(warning)
    printed = console.file.getvalue()  # type: ignore[attr-defined]
    assert "Not executing" not in printed
    assert "raw__calls: a warning that is not a skip" in printed
    assert progress.summary().split("; ")[-1].startswith("3 later steps not run after a failure")
