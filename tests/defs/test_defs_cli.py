"""The `pipeline` command: bad settings stop with one clear line and exit code 2."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.sandbox.testing import sandbox_server
from tests.conftest import sandbox_env

runner = CliRunner()
CREDENTIALS = {"SINCH_PROJECT_ID": "p", "SINCH_KEY_ID": "k", "SINCH_KEY_SECRET": "s"}
HOUR = ["ingest", "--start", "2026-11-16T00", "--end", "2026-11-16T01"]


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["ingest", "--start", "2026-11-02T00", "--end", "2026-11-01T00"], {}, "must be before"),
        (["ingest", "--start", "yesterday", "--end", "2026-11-01T00"], {}, "ISO time"),
        (["ingest", "--start", "2026-11-01T00:30", "--end", "2026-11-01T02"], {}, "whole hour"),
        (["demo", "--report-tz", "Mars/Olympus"], {}, "unknown time zone"),
        (["demo"], {"SINCH_PROJECT_ID": "p"}, "incomplete Sinch credentials"),
        (["demo"], {"CALLS_FETCH_CONCURRENCY": "1000"}, "between 1 and 32"),
        (["demo"], {"SANDBOX_SEED": "abc"}, "SANDBOX_SEED must be a whole number"),
        (["demo"], {"CALLS_DB_MEMORY_LIMIT": "lots"}, "CALLS_DB_MEMORY_LIMIT must be a size"),
        # Too small for DuckDB: this used to fail inside the job, windows later, many lines.
        (["demo"], {"CALLS_DB_MEMORY_LIMIT": "16MB"}, "between 128MB and 1PiB"),
        (["demo"], {**CREDENTIALS, "SINCH_API_URL": "notaurl"}, "http:// or https://"),
        # NaN printed a pydantic traceback (exit 1); 1e-9 was accepted and the run sat silent.
        (["demo"], {**CREDENTIALS, "SINCH_RATE_LIMIT": "nan"}, "SINCH_RATE_LIMIT must be a"),
        (["demo"], {**CREDENTIALS, "SINCH_RATE_LIMIT": "1e-9"}, "at least 0.01 requests/s"),
        (["demo"], {"SINCH_MAX_RESULT_WINDOW": "0"}, "SINCH_MAX_RESULT_WINDOW"),
        (["demo"], {"SINCH_PAGE_SIZE": "1001"}, "SINCH_PAGE_SIZE must be between 1 and 1000"),
        # Hours before the first partition used to be fetched, then fail in Dagster.
        (
            ["ingest", "--start", "2025-12-31T20", "--end", "2026-01-01T02"],
            {},
            "before the first partition",
        ),
        (["ingest", "--start", "2099-01-01T00", "--end", "2099-01-01T02"], {}, "in the future"),
        # Without credentials (the sandbox) these were accepted silently, exit 0.
        (HOUR, {"SINCH_AUTH": "token"}, "SINCH_AUTH must be 'oauth' or 'basic'"),
        (HOUR, {"SINCH_RATE_LIMIT": "nan"}, "SINCH_RATE_LIMIT must be a finite number"),
        (HOUR, {"SINCH_RATE_LIMIT": "-5"}, "SINCH_RATE_LIMIT must be a finite number"),
        (HOUR, {"SINCH_RATE_LIMIT": "0"}, "SINCH_RATE_LIMIT must be a finite number"),
        (HOUR, {"SINCH_API_URL": "ftp://x"}, "SINCH_API_URL must be an http:// or https://"),
        (HOUR, {"SINCH_RATE_LIMIT_STORE": "foo://bar"}, "SINCH_RATE_LIMIT_STORE: cannot use"),
        # With credentials it failed inside the job: exit 1 and "Re-run the range".
        (HOUR, {**CREDENTIALS, "SINCH_RATE_LIMIT_STORE": "foo://bar"}, "(foo://…)"),
    ],
)
def test_bad_settings_give_one_line(args, env, message, monkeypatch, tmp_path):
    for name in ("SINCH_PROJECT_ID", "SINCH_KEY_ID", "SINCH_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    result = runner.invoke(app, [*args, "--db", str(tmp_path / "x.duckdb")], env=env)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 3  # typer may wrap one long line


@pytest.mark.parametrize("env", [{}, CREDENTIALS])
def test_a_rate_limit_store_password_is_never_printed(env, monkeypatch, tmp_path):
    for name in ("SINCH_PROJECT_ID", "SINCH_KEY_ID", "SINCH_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    store = {"SINCH_RATE_LIMIT_STORE": "foo://user:hunter2@bar:6379/1"}
    result = runner.invoke(app, [*HOUR, "--db", str(tmp_path / "x.duckdb")], env={**env, **store})
    assert result.exit_code == 2, result.output
    assert "SINCH_RATE_LIMIT_STORE" in result.output and "hunter2" not in result.output


def test_a_directory_as_the_warehouse_file_is_a_setting_error(tmp_path):
    """It used to start the job and fail there (exit 1, DuckDB's IO error)."""
    result = runner.invoke(app, ["ingest", "--start", "2026-11-01T00", "--end", "2026-11-01T01",
                                 "--db", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "is a directory" in result.output


@pytest.mark.slow
def test_page_size_setting_reaches_a_server_that_refuses_pages_of_1000(tmp_path, monkeypatch):
    for name in ("CALLS_LAKE_URI", "CALLS_PROJECTS_FILE"):
        monkeypatch.delenv(name, raising=False)
    hour = ["ingest", "--start", "2026-11-16T10", "--end", "2026-11-16T11"]
    with sandbox_server(seed=7, max_page_size=250, oversize_page="reject") as sb:
        refused = runner.invoke(app, [*hour, "--db", str(tmp_path / "a.duckdb")],
                                env=sandbox_env(sb))  # fmt: skip
        served = runner.invoke(app, [*hour, "--db", str(tmp_path / "b.duckdb")],
                               env={**sandbox_env(sb), "SINCH_PAGE_SIZE": "250"})  # fmt: skip
    # refused before the job starts, with the server's reason (a setting to change)
    assert refused.exit_code == 2, refused.output
    assert "size must be <= 250" in refused.output
    assert served.exit_code == 0, served.output


def test_a_file_that_is_not_duckdb_is_one_line(tmp_path):
    bad = tmp_path / "notes.duckdb"
    bad.write_text("hi")
    result = runner.invoke(app, ["sql", "answer_rate_7d", "--db", str(bad)])
    assert result.exit_code == 2, result.output
    assert "not a valid DuckDB database file" in result.output
    assert "Traceback" not in result.output


def test_report_on_empty_analytics_says_what_to_do(tmp_path):
    from pipeline.warehouse.connection import connect

    db = tmp_path / "empty.duckdb"
    with connect(db):  # schema only, no rows
        pass
    result = runner.invoke(app, ["report", "--db", str(db), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2, result.output
    assert "analytics tables" in result.output and "are empty" in result.output


def test_dotenv_in_the_working_directory_is_read(tmp_path):
    """Settings in ./.env reach the command (they used to be ignored)."""
    (tmp_path / ".env").write_text("REPORT_TZ=Nowhere/Land\n")
    env = {k: v for k, v in os.environ.items() if k != "REPORT_TZ"}
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "demo", "--db", str(tmp_path / "x.duckdb")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "unknown time zone 'Nowhere/Land'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate-429", "2"], "rate_429 must be in [0, 1]"),
        (["--replay", "/nonexistent/calls.csv"], "No such file"),
    ],
)
def test_sandbox_serve_bad_settings_are_one_line(args, message):
    result = runner.invoke(app, ["sandbox", "serve", "--port", "0", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_sandbox_serve_stops_on_ctrl_c():
    """SIGINT used to be swallowed: `pipeline sandbox serve` kept running after Ctrl-C."""
    # Like a terminal: the installed entry point in its own process group, SIGINT to the group.
    entry_point = Path(sys.executable).with_name("pipeline")
    with subprocess.Popen(
        [str(entry_point), "sandbox", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            for line in proc.stdout:
                if "Ctrl-C to stop" in line:
                    break
            os.killpg(proc.pid, signal.SIGINT)
            # 60 s: a hang guard, not a deadline (stopping joins the server thread for up to
            # 10 s). A pytest started with SIGINT ignored used to hang here: tests/conftest.py.
            assert proc.wait(timeout=60) in (0, 130)  # 130: the conventional Ctrl-C status
        finally:
            proc.kill()


def test_sql_file_without_a_select_is_one_line(tmp_path):
    """An empty .sql file used to crash with 'NoneType' object has no attribute 'pl'."""
    from pipeline.warehouse.connection import connect

    db = tmp_path / "w.duckdb"
    with connect(db):
        pass
    empty = tmp_path / "empty.sql"
    empty.write_text("-- nothing here\n")
    result = runner.invoke(app, ["sql", str(empty), "--db", str(db)])
    assert result.exit_code == 2, result.output
    assert "has no query that returns rows" in result.output


def test_sql_with_no_rows_says_why(tmp_path):
    from pipeline.warehouse.connection import connect

    db = tmp_path / "w.duckdb"
    with connect(db):
        pass
    result = runner.invoke(app, ["sql", "answer_rate_7d", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "no rows: the warehouse holds no calls yet" in result.output


def test_sql_with_no_matching_rows_does_not_blame_an_empty_warehouse(tmp_path):
    """A legitimately empty answer once said "run pipeline demo" on a warehouse full of calls."""
    from pipeline.warehouse.connection import connect

    db = tmp_path / "w.duckdb"
    with connect(db) as con:
        con.execute(
            "INSERT INTO raw.calls (call_id, create_time, raw, window_start, window_end, "
            "fetched_at) VALUES ('c1', TIMESTAMPTZ '2026-11-02 10:00:00+00', '{}', "
            "TIMESTAMPTZ '2026-11-02 10:00:00+00', TIMESTAMPTZ '2026-11-02 11:00:00+00', now())"
        )
    query = tmp_path / "none.sql"
    query.write_text("SELECT call_id, 1.5 AS x FROM raw.calls WHERE call_id = 'nope'\n")
    result = runner.invoke(app, ["sql", str(query), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "nothing in the 1 calls of the warehouse matches" in result.output
    assert "pipeline demo" not in result.output
    query.write_text("SELECT call_id, 1234.5::DOUBLE AS x, NULL AS n FROM raw.calls\n")
    result = runner.invoke(app, ["sql", str(query), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "shape:" not in result.output  # a table, not the Polars repr
    assert "1,234.5" in result.output and "c1" in result.output


def test_help_shows_every_environment_variable_and_the_options_env_and_defaults():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    config = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names = re.findall(r"^\| `([A-Z_]+)` \|", config, flags=re.M)
    assert len(names) > 15
    top = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert top.exit_code == 0, top.output
    for name in [*names, "DAGSTER_HOME"]:
        assert name in top.output, name
    assert "CALLS_DB_PATH = data/calls.duckdb" in top.output
    demo = runner.invoke(app, ["demo", "--help"])
    text = " ".join(demo.output.split())  # help wraps long lines
    # Rich markup used to swallow these bracketed notes
    assert "[env CALLS_DB_PATH, default data/calls.duckdb]" in text
    assert "[env REPORT_TZ, default UTC]" in text
    assert "--verbose" in text


@pytest.mark.parametrize("command", ["demo", "ingest"])
def test_a_warehouse_path_that_cannot_be_written_is_one_line(tmp_path, command):
    """It failed inside the job: step noise, exit 1 and "re-run the range" (wrong advice)."""
    text = tmp_path / "notes.duckdb"
    text.write_text("not a database", encoding="utf-8")
    args = [command, "--db", str(text)]
    if command == "ingest":
        args += ["--start", "2026-11-16T00", "--end", "2026-11-16T01"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "is not a DuckDB warehouse" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert text.read_text(encoding="utf-8") == "not a database"  # untouched
    under_a_file = tmp_path / "notes.duckdb" / "calls.duckdb"
    result = runner.invoke(app, [*args[:1], "--db", str(under_a_file), *args[3:]])
    assert result.exit_code == 2 and "cannot create the folder" in result.output, result.output


def _warehouse(path: Path) -> Path:
    """A real, empty warehouse file (the schema, as the ingestion's writer leaves it)."""
    from pipeline.warehouse.connection import connect

    with connect(path):
        pass
    return path


def _unwritable(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``chmod a-w path``; as root, which chmod does not stop, ``os.access`` is stubbed.

    The stub answers for ``path`` as the kernel does for a read-only mount (EROFS) or a
    non-root user without write permission: not writable. Other paths get the real answer.
    """
    path.chmod(path.stat().st_mode & ~0o222)
    if os.geteuid() == 0:
        real = os.access

        def access(target, mode, **kwargs):
            if Path(target).absolute() == path.absolute() and mode & os.W_OK:
                return False
            return real(target, mode, **kwargs)

        monkeypatch.setattr(os, "access", access)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("empty", "is an empty file, not a DuckDB warehouse"),
        ("truncated", "Could not read enough bytes"),
        ("read-only file", "cannot write"),
        ("existing file, read-only folder", "cannot write in the folder"),
        ("new file, read-only folder", "cannot write in the folder"),
    ],
)
def test_an_unusable_warehouse_file_stops_ingest_before_the_job(
    case, message, tmp_path, monkeypatch
):
    """These failed inside the job: a dozen "Not executing." lines, exit 1, "Re-run the range"."""
    folder = tmp_path / "w"
    folder.mkdir()
    db = folder / "calls.duckdb"
    if case == "empty":
        db.touch()  # DuckDB refuses a 0-byte file ("not a valid DuckDB database file")
    elif case == "truncated":
        whole = _warehouse(tmp_path / "whole.duckdb").read_bytes()
        db.write_bytes(whole[:20_000])
    elif case == "read-only file":
        _unwritable(_warehouse(db), monkeypatch)
    elif case == "existing file, read-only folder":
        _warehouse(db)
        _unwritable(folder, monkeypatch)  # DuckDB writes its .wal file there
    else:
        _unwritable(folder, monkeypatch)
    before = db.read_bytes() if db.exists() else None
    try:
        result = runner.invoke(app, ["ingest", "--start", "2026-11-16T00",
                                     "--end", "2026-11-16T01", "--db", str(db)])  # fmt: skip
    finally:
        folder.chmod(0o755)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert (db.read_bytes() if db.exists() else None) == before  # untouched


def test_a_warehouse_file_another_process_writes_passes_the_check(tmp_path):
    """The check opens the file read-only; a writer's lock means a warehouse, not a bad file."""
    from pipeline.cli.ingest import check_warehouse_file

    db = _warehouse(tmp_path / "calls.duckdb")
    holder = [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
              "print('ready', flush=True); sys.stdin.read()", str(db)]  # fmt: skip
    with subprocess.Popen(holder, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as p:
        try:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
            check_warehouse_file(db)  # returns: the job waits for the lock, as before
        finally:
            assert p.stdin is not None
            p.stdin.close()
            p.wait(timeout=60)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("a directory", "is a directory: name the HTML file to write"),
        ("under a file", "is not a folder"),
        ("in a read-only folder", "cannot write in the folder"),
    ],
)
def test_report_refuses_an_unusable_out_before_running_the_notebook(
    case, message, tmp_path, monkeypatch
):
    """A directory used to end the whole run in IsADirectoryError and a traceback (exit 1)."""
    db = _warehouse(tmp_path / "calls.duckdb")  # no rows: the notebook would refuse it later
    folder = tmp_path / "out"
    folder.mkdir()
    out = {"a directory": folder, "under a file": db / "r.html"}.get(case, folder / "r.html")
    if case == "in a read-only folder":
        _unwritable(folder, monkeypatch)
    try:
        result = runner.invoke(app, ["report", "--db", str(db), "--out", str(out)])
    finally:
        folder.chmod(0o755)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("read-only", "cannot write in the folder"),
        ("under a file", "is not a folder"),
        # what os.access cannot foresee (a pseudo file system such as /sys): mkdir fails
        ("mkdir fails", "DIR: cannot create"),
    ],
)
def test_export_refuses_an_unwritable_dir_in_one_line(case, message, tmp_path, monkeypatch):
    """An unwritable DIR used to end in an OSError traceback (exit 1)."""
    from pipeline.reporting import export

    db = _warehouse(tmp_path / "calls.duckdb")
    out = tmp_path / "out"
    out.mkdir()
    if case == "read-only":
        _unwritable(out, monkeypatch)
    else:
        out = db / "out"
    if case == "mkdir fails":
        monkeypatch.setattr(export, "check_writable", lambda *_args: None)
    try:
        result = runner.invoke(app, ["export", str(out), "--db", str(db)])
    finally:
        (tmp_path / "out").chmod(0o755)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
