"""The Dagster code location: what `dagster dev` shows, and how the schedules pick hours.

Pins the asset keys (they name DuckDB tables), partitions, checks, schedules, the
environment switch between the real API and the sandbox, and the schedules' ranges.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import dagster as dg
import pytest

from pipeline.alerts.config import RULES
from pipeline.definitions import build_definitions
from pipeline.defs.environment import calls_api_resource, lookback_hours
from pipeline.defs.resources import SandboxCallsResource, SinchCallsResource
from pipeline.defs.schedules import RANGE_END_TAG, RANGE_START_TAG
from pipeline.settings import SettingsError
from pipeline.transforms import ANALYTICS_TABLES


@pytest.fixture
def defs(tmp_path) -> dg.Definitions:
    from pipeline.defs.resources import WarehouseResource

    return build_definitions(
        sinch=SandboxCallsResource(), warehouse=WarehouseResource(path=str(tmp_path / "d.duckdb"))
    )


def test_assets_checks_and_schedules(defs):
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == {"raw/calls", "raw/call_details"} | {
        f"analytics/{name}" for name in ANALYTICS_TABLES
    }
    raw = graph.get(dg.AssetKey(["raw", "calls"]))
    assert isinstance(raw.partitions_def, dg.HourlyPartitionsDefinition)
    assert raw.partitions_def.timezone == "UTC"
    assert raw.backfill_policy == dg.BackfillPolicy.multi_run(168)
    details = graph.get(dg.AssetKey(["raw", "call_details"]))
    assert details.partitions_def == raw.partitions_def
    assert details.backfill_policy == raw.backfill_policy and details.pools == raw.pools
    for name in ANALYTICS_TABLES:
        node = graph.get(dg.AssetKey(["analytics", name]))
        assert node.partitions_def == raw.partitions_def
        assert dg.AssetKey(["raw", "calls"]) in node.parent_keys
    checks = {key.name for key in graph.asset_check_keys}
    assert checks == {
        "unique_call_ids",
        "create_time_in_window",
        "ledger_reconciles",
        "no_negative_durations",
        "no_calls_over_24_hours",
        "no_rejected_records",
        "no_rejected_call_details",
        *RULES,  # the alert rules (pipeline/defs/alerts.py)
    }
    assert {s.name for s in defs.schedules} == {"hourly_ingest", "daily_reingest", "full_audit"}
    assert {s.name for s in defs.sensors} == {"stale_analytics", "alert_delivery"}
    defs.resolve_job_def("ingest_calls")
    # the weekly audit runs the raw/calls checks alone, unpartitioned: over every window
    audit = defs.resolve_job_def("audit_raw_calls")
    assert audit.partitions_def is None


def test_the_module_level_definitions_load(monkeypatch):
    from pipeline.definitions import defs

    monkeypatch.delenv("SINCH_PROJECT_ID", raising=False)
    assert defs().resolve_job_def("ingest_calls").name == "ingest_calls"


#: Every setting the code location reads, each set to a value it refuses.
BAD_SETTINGS = {
    "CALLS_PARTITIONS_START": "not-a-time",
    "CALLS_LOOKBACK_HOURS": "soon",
    "CALLS_EXPORT": "maybe",
    "SINCH_PROJECT_ID": "only-the-project",
    "REPORT_TZ": "Mars/Olympus",
    "CALLS_DB_MEMORY_LIMIT": "lots",
    "CALLS_FETCH_CONCURRENCY": "1000",
    "CALLS_ALERTS_FILE": "no-such-alerts.toml",
    "ALERT_SMTP_HOST": "127.0.0.1",
    "ALERT_SMTP_PORT": "smtp",
}


def test_importing_the_code_location_reads_no_setting(tmp_path):
    """`import pipeline.definitions` neither reads the environment nor builds resources: with
    every setting bad, the import succeeds and only loading the definitions fails."""
    script = (
        "import dagster as dg\n"
        "import pipeline.definitions as location\n"
        "assert not isinstance(location.defs, dg.Definitions), type(location.defs)\n"
        "try:\n"
        "    location.defs()\n"
        "except ValueError as exc:\n"
        "    print('refused:', exc)\n"
    )
    env = {**os.environ, **BAD_SETTINGS}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,  # no .env here
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "refused: CALLS_PARTITIONS_START" in result.stdout


def _tick(defs, name: str, when: datetime):
    schedule = defs.resolve_schedule_def(name)
    context = dg.build_schedule_context(scheduled_execution_time=when)
    return schedule.evaluate_tick(context).run_requests


def test_hourly_schedule_ingests_last_closed_hour_plus_lookback(defs):
    (request,) = _tick(defs, "hourly_ingest", datetime(2026, 11, 30, 10, 10, tzinfo=UTC))
    assert request.tags[RANGE_START_TAG] == "2026-11-30-06:00"
    assert request.tags[RANGE_END_TAG] == "2026-11-30-09:00"


def test_daily_schedule_reingests_previous_utc_day(defs):
    (request,) = _tick(defs, "daily_reingest", datetime(2026, 11, 30, 1, 30, tzinfo=UTC))
    assert request.tags[RANGE_START_TAG] == "2026-11-29-00:00"
    assert request.tags[RANGE_END_TAG] == "2026-11-29-23:00"


def test_environment_switch(monkeypatch):
    for name in ("SINCH_PROJECT_ID", "SINCH_KEY_ID", "SINCH_KEY_SECRET", "SINCH_AUTH"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(calls_api_resource(), SandboxCallsResource)
    monkeypatch.setenv("SINCH_PROJECT_ID", "p")
    with pytest.raises(SettingsError, match="SINCH_KEY_ID, SINCH_KEY_SECRET"):
        calls_api_resource()
    monkeypatch.setenv("SINCH_KEY_ID", "k")
    monkeypatch.setenv("SINCH_KEY_SECRET", "s3cret-value")
    monkeypatch.setenv("SINCH_AUTH", "basic")
    resource = calls_api_resource()
    assert isinstance(resource, SinchCallsResource)
    assert resource.auth == "basic"
    assert resource.rate_limit_per_s == 2.0  # Basic auth is heavily rate limited
    monkeypatch.setenv("SINCH_AUTH", "digest")
    with pytest.raises(SettingsError, match="SINCH_AUTH"):
        calls_api_resource()


def test_lookback_setting(monkeypatch):
    monkeypatch.setenv("CALLS_LOOKBACK_HOURS", "6")
    assert lookback_hours() == 6
    monkeypatch.setenv("CALLS_LOOKBACK_HOURS", "-1")
    with pytest.raises(SettingsError, match="whole number"):
        lookback_hours()


@pytest.mark.parametrize(
    ("value", "export"), [("", True), ("on", True), ("OFF", False), ("false", False), ("0", False)]
)
def test_calls_export_switches_the_resources_export(monkeypatch, value, export):
    from pipeline.defs.environment import calls_api_resource

    monkeypatch.setenv("CALLS_EXPORT", value)
    assert calls_api_resource().export is export


def test_a_bad_calls_export_is_refused_naming_it(monkeypatch):
    from pipeline.defs.environment import calls_api_resource
    from pipeline.settings import SettingsError

    monkeypatch.setenv("CALLS_EXPORT", "maybe")
    with pytest.raises(SettingsError, match="CALLS_EXPORT must be 'on' or 'off', not 'maybe'"):
        calls_api_resource()
