"""Parsing pages in worker processes lands exactly what parsing in threads lands."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from pipeline.ingest import parsers
from pipeline.ingest.parsers import (
    AUTO_MIN_WINDOWS,
    PARENT_CHECK_S,
    PIPE_BYTES,
    auto_parse_processes,
    page_parsers,
)
from pipeline.ingest.runner import ingest_windows
from pipeline.sinch.auth import OAuth2ClientCredentials
from pipeline.sinch.client import CallsClient
from pipeline.sinch.models import Window
from pipeline.warehouse.connection import connect
from tests.client.test_client_parsing import base
from tests.conftest import REPO

START = datetime(2026, 11, 16, 6, tzinfo=UTC)
WINDOWS = [Window(START + timedelta(hours=h), START + timedelta(hours=h + 1)) for h in range(4)]


@pytest.mark.parametrize(
    ("windows", "cpus", "processes"),
    [
        (AUTO_MIN_WINDOWS - 1, 8, 0),  # the hourly schedule: not worth starting a process
        (AUTO_MIN_WINDOWS, 1, 0),  # one CPU: nothing to gain
        (AUTO_MIN_WINDOWS, 2, 2),
        (24 * 7, 3, 3),
        (24 * 365, 64, 4),
    ],
)
def test_processes_follow_run_size_and_cpus(windows, cpus, processes):
    assert auto_parse_processes(windows, cpus) == processes


def test_processes_follow_the_affinity_mask(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert parsers.usable_cpus() == 1
    assert auto_parse_processes(24 * 7) == 0  # one CPU to use: parse in threads


def test_processes_follow_a_cpu_limit_the_host_count_does_not_show():
    # DuckDB reads a container's CPU quota (and SLURM's count) for its own pool; here a
    # limit of 1 CPU stands in for a container's, whatever os.cpu_count() says.
    code = (
        "import os; from pipeline.ingest.parsers import auto_parse_processes, usable_cpus; "
        "print(os.cpu_count() >= 1, usable_cpus(), auto_parse_processes(24 * 7))"
    )
    env = {**os.environ, "SLURM_CPUS_ON_NODE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["True", "1", "0"]


def test_negative_processes_are_refused():
    with pytest.raises(ValueError, match=">= 0"), page_parsers(-1):
        pass


def _libraries_loaded(pid: int) -> str:
    """The shared objects a process has mapped (``/proc/<pid>/maps``)."""
    return Path(f"/proc/{pid}/maps").read_text()


def test_workers_load_neither_polars_nor_duckdb():
    # A worker types pages with Arrow's kernels: Polars (and its thread pool) and DuckDB
    # would cost each worker an import and memory for nothing.
    body = orjson.dumps({"calls": [base(), base(callId="b")], "totalItems": 2})
    with page_parsers(2) as parse:
        assert parse is not None
        for _ in range(4):  # both workers have parsed a page by now, most likely
            decoded = parse(
                body, datetime(2021, 11, 1, tzinfo=UTC), datetime(2021, 11, 2, tzinfo=UTC), None
            )
            assert decoded is not None and decoded.parsed is not None
            assert decoded.parsed.calls.num_rows == 2
        children = multiprocessing.active_children()
        assert len(children) == 2
        maps = [_libraries_loaded(child.pid) for child in children]
    assert all("pyarrow" in m for m in maps)  # the check can see what a worker loaded
    assert not any("polars" in m or "_duckdb" in m for m in maps)


def landed(db):
    with connect(db, read_only=True) as con:
        calls = con.execute(
            "SELECT * EXCLUDE (fetched_at) FROM raw.calls ORDER BY call_id"
        ).fetchall()
        rejected = con.execute(
            "SELECT * EXCLUDE (fetched_at) FROM raw.rejected_calls ORDER BY raw"
        ).fetchall()
    return calls, rejected


def test_worker_processes_land_the_same_rows_as_threads(make_sandbox, tmp_path):
    # Format variants, malformed records and pages repeated across pages all go through the
    # workers; the tables must be the same row for row.
    faults = {"variant_rate": 0.3, "malformed_rate": 0.02, "duplicate_rate": 0.2}
    with make_sandbox(seed=11, calls_per_hour=400, **faults) as sb:
        auth = OAuth2ClientCredentials(sb.key_id, sb.key_secret, auth_url=sb.auth_url)
        with CallsClient(sb.base_url, sb.project_id, auth, page_size=100) as client:
            for processes in (0, 1):
                report = ingest_windows(
                    client, tmp_path / f"p{processes}.duckdb", WINDOWS, parse_processes=processes
                )
                assert report.rejected > 0 and report.records > 1000
    threads, workers = landed(tmp_path / "p0.duckdb"), landed(tmp_path / "p1.duckdb")
    assert workers == threads
    assert len(threads[0]) > 1000 and len(threads[1]) > 0


def pipe_max_size() -> int:
    path = Path("/proc/sys/fs/pipe-max-size")
    return int(path.read_text()) if path.exists() else 0


@pytest.mark.skipif(pipe_max_size() < PIPE_BYTES, reason="Linux pipes of 1 MB")
def test_the_workers_pipes_hold_a_whole_page(monkeypatch):
    widened: list[int] = []

    def widen(pool):  # the real function; the size it leaves is recorded
        widened.append(real(pool))
        return widened[-1]

    real = parsers._widen_pipes
    monkeypatch.setattr(parsers, "_widen_pipes", widen)
    with page_parsers(1) as parse:
        assert parse is not None
        body = b'{"calls": [], "totalItems": 0}'
        decoded = parse(body, START, START + timedelta(hours=1), None)
        assert decoded is not None and decoded.total_items == 0
    assert widened == [PIPE_BYTES]  # both pipes: 64 KB each before


def alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "\nState:\tZ" not in status.read_text()
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_workers_end_when_the_ingestion_is_killed(tmp_path):
    # kill -9 of a backfill used to leave its parser process waiting forever (found by the
    # kill -9 reliability test: an orphan holding ~120 MB).
    script = (
        "import multiprocessing, sys, time\n"
        "from pipeline.ingest.parsers import page_parsers\n"
        "if __name__ == '__main__':\n"
        "    with page_parsers(1) as parse:\n"
        "        assert parse is not None\n"
        "        print(*[p.pid for p in multiprocessing.active_children()], flush=True)\n"
        "        time.sleep(120)\n"
    )
    path = tmp_path / "hold_workers.py"
    path.write_text(script)
    with subprocess.Popen(
        [sys.executable, str(path)], stdout=subprocess.PIPE, text=True, cwd=REPO
    ) as run:
        try:
            workers = [int(pid) for pid in run.stdout.readline().split()]
            assert workers and all(alive(pid) for pid in workers)
        finally:
            run.kill()
    # they look for their parent every PARENT_CHECK_S; the deadline is only a hang guard
    deadline = time.monotonic() + max(120, 10 * PARENT_CHECK_S)
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers)


def test_a_script_without_main_guard_is_not_run_again_by_the_workers(tmp_path):
    # spawn imports the parent's __main__ in every worker unless it is hidden: an unguarded
    # script calling the ingestion would have run (and ingested) twice.
    script = (
        "from datetime import UTC, datetime\n"
        "import orjson\n"
        "from pipeline.ingest.parsers import page_parsers\n"
        "print('script body ran', flush=True)\n"
        "body = orjson.dumps({'calls': [{'callId': 'a', 'createTime': '2026-11-16T10:00:00Z'}]})\n"
        "start = datetime(2026, 11, 16, 10, tzinfo=UTC)\n"
        "end = datetime(2026, 11, 16, 11, tzinfo=UTC)\n"
        "with page_parsers(1) as parse:\n"
        "    print('parsed in a worker:', parse(body, start, end, None).parsed.calls.num_rows)\n"
    )
    path = tmp_path / "unguarded.py"
    path.write_text(script)
    run = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["script body ran", "parsed in a worker: 1"]
    assert "parsing in threads" not in run.stderr


def test_ctrl_c_is_left_to_the_ingestion_not_the_workers(tmp_path):
    # Ctrl-C reaches the whole process group; a worker used to die on it with a traceback
    # printed from the middle of its queue read.
    script = (
        "import multiprocessing, sys\n"
        "from datetime import UTC, datetime\n"
        "import orjson\n"
        "from pipeline.ingest.parsers import page_parsers\n"
        "body = orjson.dumps({'calls': [{'callId': 'a', 'createTime': '2026-11-16T10:00:00Z'}]})\n"
        "start = datetime(2026, 11, 16, 10, tzinfo=UTC)\n"
        "end = datetime(2026, 11, 16, 11, tzinfo=UTC)\n"
        "if __name__ == '__main__':\n"
        "    with page_parsers(1) as parse:\n"
        "        print(*[p.pid for p in multiprocessing.active_children()], flush=True)\n"
        "        sys.stdin.readline()\n"
        "        page = parse(body, start, end, None)\n"
        "        print('parsed after SIGINT:', page.parsed.calls.num_rows)\n"
    )
    path = tmp_path / "interrupt_workers.py"
    path.write_text(script)
    with subprocess.Popen(
        [sys.executable, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    ) as run:
        workers = [int(pid) for pid in run.stdout.readline().split()]
        for pid in workers:
            os.kill(pid, signal.SIGINT)
        out, err = run.communicate("go\n", timeout=60)
    assert workers and run.returncode == 0, err
    assert out.strip() == "parsed after SIGINT: 1"
    assert "Traceback" not in err


def test_ctrl_c_while_the_workers_start_prints_no_traceback(tmp_path):
    # SIGINT to the whole process group every few ms from before the workers are spawned until
    # they have started. A worker still importing (before its initializer ignores SIGINT) used
    # to die of it: the pool broke and the run parsed in threads with a warning, or the start
    # hung until its 120 s timeout (both seen before the fix).
    script = (
        "import os, signal, threading, time\n"
        "from pipeline.ingest.parsers import page_parsers\n"
        "caught = []\n"
        "signal.signal(signal.SIGINT, lambda *_: caught.append(1))\n"
        "done = threading.Event()\n"
        "def barrage():\n"
        "    while not done.is_set():\n"
        "        os.killpg(0, signal.SIGINT)\n"
        "        time.sleep(0.005)\n"
        "if __name__ == '__main__':\n"
        "    threading.Thread(target=barrage, daemon=True).start()\n"
        "    with page_parsers(2) as parse:\n"
        "        done.set()\n"
        "        print('workers:', parse is not None, 'parent caught SIGINT:', bool(caught))\n"
    )
    path = tmp_path / "interrupt_start.py"
    path.write_text(script)
    run = subprocess.run(
        [sys.executable, str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=90,
        start_new_session=True,  # its own process group: the barrage reaches nothing else
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "workers: True parent caught SIGINT: True"
    assert "Traceback" not in run.stderr
    assert "KeyboardInterrupt" not in run.stderr
    assert "parsing in threads" not in run.stderr


def test_a_daemonic_process_parses_in_threads(monkeypatch):
    """A run in a Celery worker's child (daemonic) may not start parser processes."""
    monkeypatch.setattr(multiprocessing.current_process(), "daemon", True)
    assert auto_parse_processes(24 * 7, 8) == 0


def test_a_second_ctrl_c_while_the_workers_stop_does_not_hang_the_exit(tmp_path):
    # `pipeline ingest` with a Ctrl-C as its parser workers are spawned (they survive it while
    # importing) and a second one 50 ms later, while the pool waits for them to stop: the
    # interpreter's exit then waited forever for workers that never got their stop signal
    # (the real command hung 3 of 5 tries; this placement, every time).
    script = (
        "import os, signal, sys, threading\n"
        "from contextlib import contextmanager\n"
        "from pipeline.ingest import parsers\n"
        "spawning = parsers._spawning_workers\n"
        "def ctrl_c():\n"
        "    os.killpg(0, signal.SIGINT)\n"
        "@contextmanager\n"
        "def interrupted_twice():\n"
        "    with spawning():\n"
        "        yield\n"
        "    threading.Timer(0.05, ctrl_c).start()\n"
        "    ctrl_c()\n"
        "parsers._spawning_workers = interrupted_twice\n"
        "from pipeline.entry import main\n"
        "sys.argv = ['pipeline', 'ingest', '--start', '2026-11-01T00', '--end', '2026-11-03T00',\n"
        f"            '--db', {str(tmp_path / 'calls.duckdb')!r}]\n"
        "main()\n"
    )
    path = tmp_path / "double_interrupt.py"
    path.write_text(script)
    run = subprocess.Popen(
        [sys.executable, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,  # no .env: the embedded sandbox
        start_new_session=True,  # its own process group, as a terminal's Ctrl-C reaches
    )
    try:
        _, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:  # hung: stop it and its workers
            os.killpg(run.pid, signal.SIGKILL)
            run.communicate()
    assert run.returncode == 130, err
    assert "error: interrupted" in err
