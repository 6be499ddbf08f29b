"""One Dagster state: the CLI's runs land in the persistent instance ``dagster dev`` reads.

``pipeline demo --days 1`` runs as a subprocess in an empty folder, on the embedded sandbox,
with ``DAGSTER_HOME`` unset: its runs must be in ``./.dagster`` (created with the repository's
``dagster.yaml``), where a fresh ``DagsterInstance`` finds a materialization of every asset and
an evaluation of every check, and ``pipeline status`` names them; its output stays under 40
lines. A range with a gap is reported hour for hour by ``pipeline status``, and a check whose
latest evaluation failed is named.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.definitions import build_definitions
from pipeline.defs.checks import RAW_CALLS_CHECKS
from pipeline.jobs import run_ingest_job
from pipeline.sinch.models import Window
from pipeline.state.instance import open_instance
from pipeline.state.status import asset_status
from tests.conftest import REPO, api_resource, quiet_console

pytestmark = pytest.mark.integration

RAW = dg.AssetKey(["raw", "calls"])


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SINCH_", "CALLS_", "REPORT_TZ", "SANDBOX_", "DAGSTER_HOME"))
    }
    return {**env, "NO_COLOR": "1", "COLUMNS": "120", **extra}


def _asset_keys() -> set[dg.AssetKey]:
    return set(build_definitions().resolve_asset_graph().materializable_asset_keys)


@pytest.mark.slow
def test_demo_records_its_runs_where_dagster_dev_looks_and_prints_under_40_lines(
    tmp_path: Path,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    demo = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "demo", "--days", "1"],
        cwd=work,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = demo.stdout + demo.stderr
    assert demo.returncode == 0, output
    lines = output.splitlines()
    assert len(lines) < 40, output
    assert "\x1b[" not in output  # not a terminal: no progress bar, no control codes
    summary = next(line for line in lines if line.startswith("Landed "))
    passed, failed = map(int, re.findall(r"checks: (\d+) passed, (\d+) failed", summary)[0])
    assert passed + failed == 7 + 8, summary  # raw checks (6 calls, 1 details) + 8 alert checks

    home = work / ".dagster"
    assert (home / "dagster.yaml").read_text() == (REPO / "dagster.yaml").read_text()
    assert f"Runs recorded in {home}" in output
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for key in _asset_keys():
            event = instance.get_latest_materialization_event(key)
            assert event is not None, f"{key.to_user_string()} has no materialization"
            assert len(instance.get_materialized_partitions(key)) == 24, key  # the last day
        for check in RAW_CALLS_CHECKS:
            (check_key,) = check.check_keys
            record = instance.get_latest_asset_check_evaluation_record(check_key)
            assert record is not None and record.evaluation is not None, check_key.name
            assert record.evaluation.passed, check_key.name
        assert instance.get_runs_count() >= 1
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in instance.get_runs())

    status = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.cli",
            "status",
            "--days",
            "1",
            "--end",
            f"{end:%Y-%m-%dT%H}",
        ],
        cwd=work,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    for key in _asset_keys():
        line = next(x for x in status.stdout.splitlines() if f" {key.to_user_string()} " in x)
        assert "missing none" in line or "missing 1 h" in line, line  # the hour the demo began
    # the raw/calls checks pass; the alert checks may fire on the sandbox's bursts (WARN)
    assert re.search(r"Checks: \d+ passing, \d+ failing, 0 never evaluated", status.stdout)
    failing = [x for x in status.stdout.splitlines() if "FAILING" in x]
    assert not [x for x in failing if " on raw/calls " in x], failing
    # alerts raised for the range's hours are counted from the warehouse, whatever the
    # latest evaluation of each check says
    with duckdb.connect(str(work / "data" / "calls.duckdb"), read_only=True) as con:
        (raised,) = con.execute(
            "SELECT count(*) FROM analytics.alerts WHERE bucket >= ? AND bucket < ?",
            [end - timedelta(days=1), end],
        ).fetchall()[0]
    if raised:
        assert f"Alerts: {raised:,} raised for hours in the range" in status.stdout
    else:
        assert "Alerts:" not in status.stdout


def test_status_reports_the_hours_a_range_is_missing(make_sandbox, tmp_path, dagster_home):
    day = datetime(2026, 11, 16, tzinfo=UTC)
    db = tmp_path / "gap.duckdb"
    with make_sandbox(seed=3, malformed_rate=0.05) as sb, open_instance() as instance:
        for start, end in (
            (day, day + timedelta(hours=3)),
            (day + timedelta(hours=5), day + timedelta(hours=6)),
        ):
            ok = run_ingest_job(
                start,
                end,
                db_path=db,
                report_tz="UTC",
                console=quiet_console(),
                analytics=False,
                sinch=api_resource(sb),
                instance=instance,
            )
            assert ok
    # a fresh instance on the folder, as `dagster dev` would open it
    with dg.DagsterInstance.get() as instance:
        assert instance.root_directory == str(dagster_home)
        defs = build_definitions()
        partitions = defs.resolve_assets_def(RAW).partitions_def
        status = asset_status(instance, RAW, partitions, day, day + timedelta(hours=8))
    assert status.last_hour == day + timedelta(hours=5)
    assert status.missing == {
        "": [
            Window(day + timedelta(hours=3), day + timedelta(hours=5)),
            Window(day + timedelta(hours=6), day + timedelta(hours=8)),
        ]
    }
    assert status.missing_hours == 4

    result = CliRunner().invoke(
        app, ["status", "--start", "2026-11-16T00", "--end", "2026-11-16T08"]
    )
    assert result.exit_code == 0, result.output
    raw = next(x for x in result.output.splitlines() if " raw/calls " in x)
    assert "last 2026-11-16T05" in raw
    assert "missing 4 h: 2026-11-16T03–2026-11-16T04, 2026-11-16T06–2026-11-16T07" in raw
    analytics = next(x for x in result.output.splitlines() if " analytics/cost_hourly " in x)
    assert "last never" in analytics and "missing 8 h" in analytics
    # the latest evaluation of each check: records were rejected, so that WARN check fails
    # (the alert checks on the analytics assets never ran: analytics=False)
    assert "Checks: 6 passing, 1 failing, 8 never evaluated" in result.output
    failing = next(x for x in result.output.splitlines() if "FAILING" in x)
    assert failing.startswith("  FAILING no_rejected_records on raw/calls (WARN, ")
    assert "failures: " in failing


def test_status_after_a_failed_run_shows_the_last_real_check_results(make_sandbox, tmp_path):
    """A run that fails before its checks leaves *planned* evaluations as the newest records:
    status used to crash on them (AttributeError on AssetCheckEvaluationPlanned)."""
    day = datetime(2026, 11, 16, tzinfo=UTC)
    db = tmp_path / "failed.duckdb"
    with make_sandbox(seed=3) as sb, open_instance() as instance:
        assert run_ingest_job(
            day,
            day + timedelta(hours=1),
            db_path=db,
            report_tz="UTC",
            console=quiet_console(),
            analytics=False,
            sinch=api_resource(sb),
            instance=instance,
        )
        broken = api_resource(sb, auth_url="http://127.0.0.1:9/token", max_attempts=1)
        assert not run_ingest_job(
            day,
            day + timedelta(hours=1),
            db_path=db,
            report_tz="UTC",
            console=quiet_console(),
            analytics=False,
            sinch=broken,
            instance=instance,
        )
    result = CliRunner().invoke(
        app, ["status", "--start", "2026-11-16T00", "--end", "2026-11-16T01"]
    )
    assert result.exit_code == 0, result.output
    assert "Checks: 7 passing, 0 failing, 8 never evaluated" in result.output
