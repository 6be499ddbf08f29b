"""Hostile answers through the job: each ends in a clear failure or a kept record, never a
silently emptied window, a leaked secret, or an exit code that lies.

The sandbox plays each answer (docs/sandbox.md); the job runs as `pipeline ingest` does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from pipeline.definitions import build_definitions
from pipeline.defs.resources import WarehouseResource
from pipeline.jobs import progress_logger, run_ingest_job
from pipeline.warehouse.connection import connect
from tests.conftest import REPO, api_resource, quiet_console, sandbox_env

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 18, 8, tzinfo=UTC)
END = START + timedelta(hours=3)


def run(sb, db: Path, start=START, end=END, **resource) -> tuple[bool, str]:
    console = quiet_console()
    ok = run_ingest_job(
        start,
        end,
        db_path=db,
        report_tz="UTC",
        console=console,
        sinch=api_resource(sb, **resource),
    )
    return ok, console.file.getvalue()


def scalar(db: Path, sql: str, params=None):
    with connect(db, read_only=True) as con:
        return con.execute(sql, params or []).fetchall()[0][0]


@pytest.mark.parametrize("fault", ["status-ok", "no-calls", "calls-null", "calls-not-list"])
def test_a_body_without_calls_never_empties_a_landed_hour(make_sandbox, tmp_path, fault):
    # {"status":"ok"} replaced an hour's 5,000 landed calls with nothing, exit 0, checks green.
    db = tmp_path / "env.duckdb"
    with make_sandbox(seed=31) as sb:
        ok, printed = run(sb, db)
    assert ok, printed
    landed = scalar(db, "SELECT count(*) FROM raw.calls")
    with make_sandbox(seed=31, envelope_fault=fault) as sb:
        ok, printed = run(sb, db)
    assert not ok
    assert "did not land completely" in printed and "2026-11-18T08:00Z" in printed
    assert "refusing to read it as an empty page" in printed or "JSON object" in printed
    assert scalar(db, "SELECT count(*) FROM raw.calls") == landed > 0


def test_trunks_without_a_list_keep_raw_trunks_and_fail_the_run(make_sandbox, tmp_path):
    db = tmp_path / "trunks.duckdb"
    with make_sandbox(seed=32) as sb:
        assert run(sb, db)[0]
    trunks = scalar(db, "SELECT count(*) FROM raw.trunks")
    with make_sandbox(seed=32, trunks_envelope_fault=True) as sb:
        ok, printed = run(sb, db)
    assert not ok and "trunks not refreshed (raw.trunks kept)" in printed
    assert scalar(db, "SELECT count(*) FROM raw.trunks") == trunks > 0


def test_year_9999_times_reject_one_record_and_never_break_the_analytics(make_sandbox, tmp_path):
    # createTime 9999-12-31T23:30:00-01:00 raised OverflowError out of the parser (the window
    # failed forever); an endTime in year 9999 broke the analytics on every re-run.
    db = tmp_path / "extreme.duckdb"
    with make_sandbox(seed=33, extreme_times=True) as sb:
        extremes = sb.app_state.extreme_time_call_ids_between(START, END)
        for _ in range(2):  # and again: a re-run ends the same
            ok, printed = run(sb, db)
            assert ok, printed
            # landed and capped at 24 h by the analytics, but named (a WARN: the run succeeds)
            assert "check no_calls_over_24_hours on raw/calls failed: 3 (" in printed, printed
    bad_create = {c for c, field in extremes.items() if field == "createTime"}
    bad_end = {c for c, field in extremes.items() if field == "endTime"}
    assert len(bad_create) == len(bad_end) == 3  # one of each per hour
    with connect(db, read_only=True) as con:
        rejected = dict(con.execute("SELECT call_id, reason FROM raw.rejected_calls").fetchall())
        landed_ends = con.execute(
            "SELECT call_id, year(end_time) FROM raw.calls WHERE call_id IN "
            "(SELECT unnest(?::VARCHAR[]))",
            [sorted(bad_end)],
        ).fetchall()
        peak = con.execute("SELECT max(peak_concurrent_calls) FROM analytics.trunk_usage_hourly")
        assert peak.fetchall()[0][0] > 0
    assert set(rejected) == bad_create
    assert all(r.startswith("createTime: out of range in UTC") for r in rejected.values())
    assert sorted(y for _, y in landed_ends) == [9999] * 3


def test_echoed_credentials_never_reach_output_or_the_run_storage(make_sandbox, tmp_path):
    # The Basic credential was printed on stderr and stored in the Dagster run database.
    with make_sandbox(seed=34, echo_authorization=True) as sb:
        resource = api_resource(sb, auth="basic", project_id="no-such-project")
        console = quiet_console()
        defs = build_definitions(
            sinch=resource,
            warehouse=WarehouseResource(path=str(tmp_path / "echo.duckdb")),
            loggers={"progress": progress_logger(console)},
        )
        with dg.DagsterInstance.ephemeral() as instance:
            result = defs.resolve_job_def("ingest_calls").execute_in_process(
                instance=instance,
                partition_key="2026-11-18-08:00",
                raise_on_error=False,
                run_config={"loggers": {"progress": {}}},
            )
            stored = "\n".join(repr(entry) for entry in instance.all_logs(result.run_id))
        secret, encoded = sb.key_secret, resource.build_client().transport.http.auth._header
    assert not result.success
    printed = console.file.getvalue()
    assert "404" in printed and "Basic ***" in stored  # the echo is there, masked
    for text in (printed, stored):
        assert secret not in text and encoded.removeprefix("Basic ") not in text


def test_a_30_second_token_is_reused_not_fetched_per_request(make_sandbox, tmp_path):
    started = time.monotonic()
    with make_sandbox(seed=35, token_lifetime_s=30, calls_per_hour=600) as sb:
        ok, printed = run(sb, tmp_path / "token.duckdb", page_size=100)
        stats = dict(sb.app_state.stats)
    took = time.monotonic() - started
    assert ok, printed
    assert stats["calls_requests"] >= 10
    # one per 15 s of run at most (a 30 s token is renewed at half-life), not one per request;
    # the bound grows with the run's real duration, which a loaded machine stretches past 30 s
    assert stats["token_requests"] <= max(2, 1 + int(took // 15))


def test_a_call_listed_in_two_hours_lands_once(make_sandbox, tmp_path):
    # The same callId in two windows landed twice; the blocking check then failed every
    # later run with advice ("re-run to finish") that could not work.
    db = tmp_path / "moved.duckdb"
    with make_sandbox(seed=36, duplicate_across_windows_rate=0.05) as sb:
        for _ in range(2):
            ok, printed = run(sb, db)
            assert ok, printed
        truth = set(sb.app_state.call_ids_between(START, END))
        copies = sb.app_state.cross_window_call_ids_between(START, END - timedelta(hours=1))
    assert copies  # the fault fired
    with connect(db, read_only=True) as con:
        ids = [r[0] for r in con.execute("SELECT call_id FROM raw.calls").fetchall()]
    assert len(ids) == len(set(ids)) and truth <= set(ids)
    assert "unique_call_ids" not in printed


def test_a_moved_call_leaves_its_old_hour_and_its_analytics(make_sandbox, tmp_path):
    db = tmp_path / "move.duckdb"
    with make_sandbox(seed=37) as sb:
        assert run(sb, db)[0]
        first = sorted(sb.app_state.call_ids_between(START, START + timedelta(hours=1)))[0]
        sb.app_state.move_call(first, END - timedelta(minutes=30))
        ok, printed = run(sb, db, start=END - timedelta(hours=1), end=END)  # the new hour only
    assert ok, printed
    hours = scalar(
        db,
        "SELECT list(window_start ORDER BY window_start) FROM raw.calls WHERE call_id = ?",
        [first],
    )
    assert hours == [END - timedelta(hours=1)]
    attempts = scalar(
        db,
        "SELECT sum(attempts) FROM analytics.answer_rate_hourly WHERE hour_start = ?",
        [START],
    )
    assert attempts == scalar(
        db,
        "SELECT count(*) FROM raw.calls WHERE create_time >= ? AND create_time < ?",
        [START, START + timedelta(hours=1)],
    )


def test_gzip_bomb_fails_the_window_with_a_clear_error(make_sandbox, tmp_path):
    with make_sandbox(seed=38, gzip_bomb=True) as sb:
        ok, printed = run(sb, tmp_path / "bomb.duckdb", start=START, end=START + timedelta(hours=1))
    assert not ok
    assert "response body too large" in printed and "2026-11-18T08:00Z" in printed


def test_dripping_headers_fail_within_the_deadline(make_sandbox, tmp_path):
    with make_sandbox(seed=39, header_drip_s=0.5) as sb:
        ok, printed = run(
            sb,
            tmp_path / "drip.duckdb",
            start=START,
            end=START + timedelta(hours=1),
            request_deadline_s=1.0,
            max_attempts=1,
        )
    assert not ok
    assert "no complete response within 1 s" in printed


@pytest.mark.slow
def test_exit_code_names_the_windows_then_a_clean_rerun_ends_green(make_sandbox, tmp_path):
    # A server that counts 5,000 calls but serves the first 10 only (a result window far
    # smaller than the client believes) used to land 10 and exit 0.
    db = tmp_path / "exit.duckdb"
    hour = ["--start", "2026-11-18T10", "--end", "2026-11-18T11", "--no-analytics"]

    def ingest(sb) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            **sandbox_env(sb),
            "SINCH_RATE_LIMIT": "1000",
            "CALLS_DB_PATH": str(db),
        }
        return subprocess.run(
            [sys.executable, "-m", "pipeline.cli", "ingest", *hour],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )

    with make_sandbox(seed=40, busy_hour_calls=5000, max_result_window=10) as sb:
        short = ingest(sb)
    with make_sandbox(seed=40, busy_hour_calls=5000) as sb:  # the same calls, served whole
        clean = ingest(sb)
    output = short.stdout + short.stderr
    assert short.returncode == 1, output
    assert "1 of 1 windows did not land completely" in output
    # the slices' counts share their boundary seconds, so the API's sum is a little above 5,000
    assert re.search(r"2026-11-18T10:00Z  short: [\d,]+ of 5,0\d\d calls the API counted", output)
    assert "Traceback" not in output
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert scalar(db, "SELECT count(*) FROM raw.calls") == 5000
    assert scalar(
        db,
        "SELECT bool_and(reconciled) FROM raw.ingest_ledger WHERE run_id = "
        "(SELECT max_by(run_id, fetched_at) FROM raw.ingest_ledger)",
    )


def test_an_unreadable_first_answer_is_not_a_user_error(make_sandbox, tmp_path):
    # The CLI's pre-flight /trunks request called any API error a setting (exit 2) and fetched
    # nothing; a malformed /trunks is the server's fault: the calls land, the run exits 1.
    db = tmp_path / "preflight.duckdb"
    with make_sandbox(seed=41, trunks_envelope_fault=True) as sb:
        env = {
            **os.environ,
            **sandbox_env(sb),
            "CALLS_DB_PATH": str(db),
        }
        hour = ["--start", "2026-11-18T08", "--end", "2026-11-18T09", "--no-analytics"]
        proc = subprocess.run(
            [sys.executable, "-m", "pipeline.cli", "ingest", *hour],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        truth = set(sb.app_state.call_ids_between(START, START + timedelta(hours=1)))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "trunks not refreshed (raw.trunks kept)" in output
    assert scalar(db, "SELECT count(*) FROM raw.calls") == len(truth) > 0
