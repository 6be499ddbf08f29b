"""The main job against the sandbox over real HTTP on loopback, into temporary DuckDB files.

What it pins down (issue 4, "Must show"):

- several hourly partitions materialized twice end in identical tables (raw and analytics);
- with the sandbox's faults on (429s, 5xx, duplicated and malformed records, token expiry),
  every call the sandbox holds lands exactly once and the malformed ones are kept as rejected;
- a re-ingested hour whose calls changed refreshes the analytics rows it touches;
- two processes backfilling different ranges of one file at the same time both succeed
  (one writer at a time: the second waits for the lock instead of failing).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from pipeline.defs.resources import SinchCallsResource
from pipeline.jobs import run_ingest_job
from pipeline.projects import Project
from pipeline.sinch.auth import OAuth2ClientCredentials
from pipeline.sinch.client import CallsClient
from pipeline.transforms import ANALYTICS_TABLES
from pipeline.warehouse.checks import check_on
from pipeline.warehouse.connection import connect
from tests.conftest import REPO, api_resource, quiet_console, sandbox_env

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 9, 6, tzinfo=UTC)
END = START + timedelta(hours=8)


class FastRetrySinch(SinchCallsResource):
    """The production resource with test-sized backoffs, so fault runs take seconds."""

    @contextmanager
    def open_client(self, project: Project | None = None) -> Iterator[CallsClient]:
        auth = OAuth2ClientCredentials(
            self.key_id, self.key_secret, auth_url=self.auth_url, backoff_base_s=0.01
        )
        with CallsClient(
            self.api_url,
            self.project_id,
            auth,
            page_size=self.page_size,
            backoff_base_s=0.01,
            backoff_max_s=0.05,
            max_attempts=8,
            request_deadline_s=10,
        ) as client:
            yield client


def run_job(sb, db: Path, start=START, end=END, resource=None, report_tz="UTC") -> str:
    """Run the job; return what it printed."""
    console = quiet_console()
    ok = run_ingest_job(
        start,
        end,
        db_path=db,
        report_tz=report_tz,
        console=console,
        sinch=resource or api_resource(sb),
    )
    assert ok, console.file.getvalue()
    return console.file.getvalue()


def table_contents(db: Path) -> dict[str, list[tuple]]:
    """Every raw and analytics table, minus columns that record when or by which run."""
    volatile = {"fetched_at", "run_id", "seconds"}
    out = {}
    with connect(db, read_only=True) as con:
        tables = ["raw.calls", "raw.rejected_calls", "raw.trunks"] + [
            spec.qualified_name for spec in ANALYTICS_TABLES.values()
        ]
        for table in tables:
            schema, name = table.split(".")
            columns = [
                c
                for (c,) in con.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                    [schema, name],
                ).fetchall()
                if c not in volatile
            ]
            select = ", ".join(f'"{c}"' for c in columns)
            out[table] = con.execute(f"SELECT {select} FROM {table} ORDER BY ALL").fetchall()
    return out


def landed_ids(db: Path) -> list[str]:
    with connect(db, read_only=True) as con:
        return [r[0] for r in con.execute("SELECT call_id FROM raw.calls").fetchall()]


def test_partitions_twice_give_identical_tables(make_sandbox, tmp_path):
    db = tmp_path / "twice.duckdb"
    with make_sandbox(seed=11) as sb:
        run_job(sb, db)
        first = table_contents(db)
        run_job(sb, db)
        second = table_contents(db)
        truth = {c["callId"] for c in sb.app_state.calls_between(START, END)}
    assert first == second
    assert len(first["raw.calls"]) == len(truth) > 100
    assert set(landed_ids(db)) == truth
    for spec in ANALYTICS_TABLES.values():
        # 06:00–14:00 UTC: the UTC day ends later, so only its hours have rows yet
        assert bool(first[spec.qualified_name]) == (spec.grain == "hour"), spec.name
    with connect(db, read_only=True) as con:
        # Two fetches of each window, both with the same totalItems: settled the second time.
        assert con.execute(
            "SELECT count(*), sum(settled::INT) FROM raw.ingest_ledger"
        ).fetchall() == [(16, 8)]


@pytest.mark.slow
def test_faults_lose_nothing_and_double_nothing(make_sandbox, tmp_path):
    db = tmp_path / "faults.duckdb"
    faults = {
        "seed": 12,
        "rate_429": 0.25,
        "retry_after_s": None,
        "rate_5xx": 0.1,
        "duplicate_rate": 0.5,  # per page after the first
        "malformed_rate": 0.01,
        "token_max_requests": 7,  # tokens expire every few requests: refresh mid-sweep
        "calls_per_hour": 400,  # several pages per window
    }
    with make_sandbox(**faults) as sb:
        resource = FastRetrySinch(**api_resource(sb, page_size=250).model_dump())
        printed = run_job(sb, db, resource=resource)
        truth = {c["callId"] for c in sb.app_state.calls_between(START, END)}
        malformed = set(sb.app_state.malformed_call_ids_between(START, END))
        stats = dict(sb.app_state.stats)
    ids = landed_ids(db)
    assert len(ids) == len(set(ids))  # nothing doubled
    assert malformed  # the fault did fire
    assert set(ids) | malformed == truth  # nothing lost: landed or kept as rejected
    assert not set(ids) & malformed
    with connect(db, read_only=True) as con:
        rejected = con.execute("SELECT call_id, reason FROM raw.rejected_calls").fetchall()
        retried_windows, multi_page_windows, big_windows = con.execute(
            "SELECT count(*) FILTER (WHERE attempts > pages), count(*) FILTER (WHERE pages > 1), "
            "count(*) FILTER (WHERE api_total_items > 250) FROM raw.ingest_ledger"
        ).fetchall()[0]
        checks = {
            name: check_on(con, name)[0]
            for name in ("unique_call_ids", "create_time_in_window", "ledger_reconciles")
        }
    assert {call_id for call_id, _ in rejected} == malformed
    assert all(reason for _, reason in rejected)
    assert retried_windows > 0  # the 429s and 5xx were retried
    # Pages of 250: duplicates cross page edges in every window with more calls than that.
    assert multi_page_windows == big_windows >= 6
    assert stats["duplicates"] > 0
    assert stats["tokens_issued"] > 1  # tokens expired mid-sweep and were refreshed
    assert checks == dict.fromkeys(checks, 0)  # the asset checks agree
    # The rejected records are visible at the end of the run, not only in the table.
    assert f"check no_rejected_records on raw/calls failed: {len(malformed)}" in printed


@pytest.mark.slow
def test_reingested_hour_refreshes_its_analytics(make_sandbox, tmp_path):
    """A late call arriving in an already-ingested hour shows up in that hour's analytics.

    With ``visibility_delay_s`` the sandbox hides calls for a while after they end; the first
    run sees fewer calls in the last hour, the re-run (as the hourly lookback does) sees all.
    """
    db = tmp_path / "late.duckdb"
    now = [END + timedelta(minutes=5)]
    with make_sandbox(seed=13, visibility_delay_s=1800, now=lambda: now[0]) as sb:
        run_job(sb, db)
        with connect(db, read_only=True) as con:
            before = con.execute(
                "SELECT sum(attempts) FROM analytics.answer_rate_hourly WHERE hour_start = ?",
                [END - timedelta(hours=1)],
            ).fetchall()[0][0]
        now[0] = END + timedelta(hours=3)
        run_job(sb, db)
        truth = sb.app_state.calls_between(END - timedelta(hours=1), END)
    with connect(db, read_only=True) as con:
        after = con.execute(
            "SELECT sum(attempts) FROM analytics.answer_rate_hourly WHERE hour_start = ?",
            [END - timedelta(hours=1)],
        ).fetchall()[0][0]
    assert (before or 0) < after == len(truth)


@pytest.mark.slow
def test_parallel_backfills_share_the_file_without_lock_errors(make_sandbox, tmp_path):
    db = tmp_path / "parallel.duckdb"
    with make_sandbox(seed=14, latency_s=0.02) as sb:
        env = {
            **os.environ,
            **sandbox_env(sb),
            "CALLS_DB_PATH": str(db),
        }
        ranges = [("2026-11-09T00", "2026-11-09T12"), ("2026-11-09T12", "2026-11-10T00")]
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "pipeline.cli", "ingest", "--start", a, "--end", b],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for a, b in ranges
        ]
        outputs = [p.communicate(timeout=240)[0] for p in procs]
        day = datetime(2026, 11, 9, tzinfo=UTC)
        truth = {c["callId"] for c in sb.app_state.calls_between(day, day + timedelta(days=1))}
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, output
        # a lock error, not the word inside "blocking" (Erlang B in alert messages)
        lock_error = re.search(r"\block\b|could not set lock", output.lower())
        assert lock_error is None or "waiting" in output.lower(), output
    assert sorted(landed_ids(db)) == sorted(truth)
    with duckdb.connect(str(db), read_only=True) as con:
        windows = con.execute(
            "SELECT count(DISTINCT window_start) FROM raw.ingest_ledger"
        ).fetchall()
    assert windows == [(24,)]
