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
import pytest

from pipeline.sandbox.testing import sandbox_server
from tests.conftest import sandbox_env

START = datetime(2026, 11, 16, 0, tzinfo=UTC)
HOURS = 48
SPAN = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d)Z → (\d{4}-\d\d-\d\d \d\d:\d\d)Z")


def _command(env: dict[str, str], hours: list[str] | None = None) -> subprocess.Popen[str]:
    """``pipeline ingest -v`` over the test's hours, or over ``hours`` (its options)."""
    entry_point = Path(sys.executable).with_name("pipeline")
    end = START + timedelta(hours=HOURS)
    hours = hours or ["--start", f"{START:%Y-%m-%dT%H}", "--end", f"{end:%Y-%m-%dT%H}"]
    return subprocess.Popen(
        [str(entry_point), "ingest", "-v", *hours],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # like a terminal: SIGINT goes to the whole process group
    )


def _ledger_hours(db: Path, ledger: str = "raw.ingest_ledger") -> set[datetime]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(f"SELECT DISTINCT window_start FROM {ledger}").fetchall()
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
        assert _ledger_hours(db, "raw.details_ledger") == set()  # runs after every window
        # The command named finishes the run: the whole range, since the landed hours have no
        # details or analytics yet (it named the first hour not landed: their details were
        # never fetched, and the analytics of those hours never built).
        again = re.search(r"run `pipeline ingest (--start \S+ --end \S+)`", after)
        assert again is not None and again.group(1) == "--start 2026-11-16T00 --end 2026-11-18T00"

        with _command(env, again.group(1).split()) as rerun:
            out, _ = rerun.communicate(timeout=600)
        assert rerun.returncode == 0, out
        assert _ledger_hours(db) == everything
        assert _ledger_hours(db, "raw.details_ledger") == everything
        with duckdb.connect(str(db), read_only=True) as con:
            built = con.execute("SELECT DISTINCT hour_start FROM analytics.answer_rate_hourly")
            assert {h.astimezone(UTC) for (h,) in built.fetchall()} >= landed


def _error(cls_name: str, message: str, cause=None):  # type: ignore[no-untyped-def]
    from dagster._utils.error import SerializableErrorInfo

    return SerializableErrorInfo(f"{cls_name}: {message}\n", [], cls_name, cause)


def test_a_step_failure_duckdb_rewrapped_from_the_interrupt_counts_as_interrupted():
    """DuckDB turns Dagster's interrupt error into its own: the step failure must still stop."""
    from pipeline.progress import _interrupted

    step_error = "DagsterExecutionStepExecutionError"
    assert _interrupted(_error(step_error, "op", _error("RuntimeError", "Query interrupted")))
    filter_failed = "offering a filter ... failed: DagsterExecutionInterruptedError:"
    assert _interrupted(_error(step_error, "op", _error("InvalidInputException", filter_failed)))
    assert not _interrupted(_error(step_error, "op", _error("RuntimeError", "disk full")))
    assert not _interrupted(None)


def test_watch_interrupts_sees_a_signal_another_handler_swallowed():
    """Dagster's handlers may drop the signal (GC callback, DuckDB): the wakeup fd sees it."""
    from pipeline.jobs import watch_interrupts

    with watch_interrupts() as received:
        assert not received()
        before = signal.signal(signal.SIGINT, lambda *_: None)  # like capture_interrupts
        try:
            os.kill(os.getpid(), signal.SIGINT)
        finally:
            signal.signal(signal.SIGINT, before)
        assert received() and received()  # sticky


def test_ctrl_c_outside_a_step_still_names_every_hour(make_sandbox, tmp_path, monkeypatch):
    """Planning a run (before any step) raises a bare KeyboardInterrupt out of Dagster."""
    import dagster as dg
    import pytest

    from pipeline.jobs import IngestInterrupted, run_ingest_job
    from tests.conftest import api_resource, quiet_console

    def interrupted(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(dg.JobDefinition, "execute_in_process", interrupted)
    monkeypatch.delenv("CALLS_DB_PATH", raising=False)
    monkeypatch.delenv("CALLS_LAKE_URI", raising=False)
    end = START + timedelta(hours=3)
    with make_sandbox() as sb, pytest.raises(IngestInterrupted) as caught:
        run_ingest_job(
            START,
            end,
            db_path=tmp_path / "w.duckdb",
            report_tz="UTC",
            console=quiet_console(),
            sinch=api_resource(sb),
        )
    assert caught.value.landed == 0
    assert caught.value.not_landed == [(None, START, end)]
    # The run wrote to another file than the default: the command that finishes it says so
    # (without --db it would fetch everything again into data/calls.duckdb).
    rerun = f"--end 2026-11-16T03 --db {tmp_path / 'w.duckdb'}`"
    assert rerun in str(caught.value), str(caught.value)


def test_the_message_counts_every_project_and_names_the_command_that_finishes():
    """A project that failed before another was interrupted was left out of the count."""
    from pipeline.defs.partitions import PartitionRange
    from pipeline.jobs import IngestInterrupted, _not_landed

    hour = timedelta(hours=1)
    end = START + 3 * hour
    ranges = [PartitionRange(p, f"{p}-first", f"{p}-last") for p in ("a", "b", "c")]
    # a failed on its last hour, b was interrupted after one window, c never ran
    missing = _not_landed(ranges, [{START, START + hour}, {START + hour}], START, end)
    assert missing == [
        ("a", START + 2 * hour, end),
        ("b", START, START + hour),
        ("b", START + 2 * hour, end),
        ("c", START, end),
    ]
    message = str(IngestInterrupted(3, missing, (START, end)))
    assert "interrupted: 3 windows landed, 6 not: " in message
    assert message.count("→") == 4 and "(project c)" in message
    assert "to finish, run `pipeline ingest --start 2026-11-16T00 --end 2026-11-16T03`" in message
    # The hours that landed have no details or analytics yet: the command starts at the
    # range's start, not at the first hour not landed (it said --start 2026-11-16T02).
    one = str(IngestInterrupted(1, [(None, START + 2 * hour, end)], (START, end)))
    assert "1 window landed, 1 not" in one and "--start 2026-11-16T00 --end" in one
    spaced = str(IngestInterrupted(1, [], (START, end), db=Path("/tmp/my calls.duckdb")))
    assert "--end 2026-11-16T03 --db '/tmp/my calls.duckdb'`" in spaced


def _interrupted_at_import(
    module: str, signame: str, argv: list[str], folder: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``pipeline <argv>`` through the installed console script's entry point, with
    ``signame`` sent to itself by an import hook when ``module`` is first imported."""
    script = (
        "import os, signal, sys\n"
        "from importlib.metadata import entry_points\n"
        "class Trip:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name == {module!r}:\n"
        f"            os.kill(os.getpid(), signal.{signame})\n"
        "        return None\n"
        "sys.meta_path.insert(0, Trip())\n"
        f"sys.argv = ['pipeline', *{argv!r}]\n"
        "(command,) = entry_points(group='console_scripts', name='pipeline')\n"
        "command.load()()\n"
    )
    path = folder / "interrupted.py"
    path.write_text(script)
    return subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, cwd=folder, timeout=120
    )


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_an_interrupt_while_the_command_starts_is_one_line_exit_130(
    signame: str, tmp_path: Path
) -> None:
    # The signal arrives while the commands are imported, before any command runs. It used to
    # end in a KeyboardInterrupt traceback (SIGINT) or kill the process without a word
    # (SIGTERM).
    run = _interrupted_at_import("pipeline.cli.common", signame, ["status"], tmp_path)
    assert run.returncode == 130, run.stderr
    assert run.stderr.strip() == "error: interrupted while starting; nothing ran"
    assert not (tmp_path / ".dagster").exists()


def test_an_interrupt_a_command_did_not_handle_is_one_line_exit_130(tmp_path: Path) -> None:
    # Ctrl-C while `pipeline ingest` loads the job (before any window): typer ended the command
    # with exit 130 and printed nothing at all.
    hours = ["--start", "2026-11-01T00", "--end", "2026-11-01T02"]
    argv = ["ingest", *hours, "--db", str(tmp_path / "calls.duckdb")]
    run = _interrupted_at_import("pipeline.jobs", "SIGINT", argv, tmp_path)
    assert run.returncode == 130, run.stderr
    assert run.stderr.strip() == "error: interrupted", run.stderr


def test_ctrl_c_during_a_sql_query_is_one_line_exit_130(tmp_path: Path) -> None:
    # DuckDB stops the query and raises `RuntimeError: Query interrupted`: a 40-line traceback
    # and exit 1 before.
    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    slow = tmp_path / "slow.sql"
    slow.write_text("SELECT count(*) FROM range(100000000000) t(x) WHERE x % 7 = 3")
    entry_point = Path(sys.executable).with_name("pipeline")
    with subprocess.Popen(
        [str(entry_point), "sql", str(slow), "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        start_new_session=True,
    ) as run:
        try:
            # Ready when the process holds the database file open: the query runs next.
            while str(db) not in _open_files(run.pid):
                assert run.poll() is None, run.communicate()
            while run.poll() is None:  # until it stops: a signal before the query starts is
                os.killpg(run.pid, signal.SIGINT)  # taken too (exit 130 either way)
                try:
                    run.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    continue
            _, err = run.communicate(timeout=60)
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 130, err
    assert err.strip() == "error: interrupted", err


def _open_files(pid: int) -> set[str]:
    """The files process ``pid`` holds open (empty once it is gone)."""
    targets = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return targets
    for fd in fds:
        try:
            targets.add(str(fd.readlink()))
        except OSError:  # closed while listing
            continue
    return targets


def test_ctrl_c_before_dagster_starts_a_created_run_cancels_it(make_sandbox, tmp_path, monkeypatch):
    """The run Dagster had created stayed NOT_STARTED (in `dagster dev`, until a later command
    found this process gone and called it failed)."""
    import dagster as dg
    import dagster._core.execution.execute_in_process as in_process
    import pytest

    from pipeline.jobs import IngestInterrupted, run_ingest_job
    from tests.conftest import api_resource, quiet_console

    def interrupted(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt  # after create_run_for_job, before the run starts

    monkeypatch.setattr(in_process, "ExecuteRunWithPlanIterable", interrupted)
    with make_sandbox() as sb, dg.DagsterInstance.ephemeral() as instance:
        with pytest.raises(IngestInterrupted):
            run_ingest_job(
                START,
                START + timedelta(hours=2),
                db_path=tmp_path / "w.duckdb",
                report_tz="UTC",
                console=quiet_console(),
                sinch=api_resource(sb),
                instance=instance,
            )
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.CANCELED
        canceled = [
            e.message
            for e in instance.all_logs(run.run_id)
            if e.dagster_event_type == dg.DagsterEventType.RUN_CANCELED
        ]
    assert canceled == ["interrupted (Ctrl-C or SIGTERM)"], canceled
