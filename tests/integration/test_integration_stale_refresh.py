"""Re-ingesting earlier hours: the run refreshes the buckets it owns, marks the later ones its
calls occupy, and the follow-up (the CLI's, or the ``stale_analytics`` sensor's runs) leaves
the analytics equal to one clean run, with no mark left.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipeline.definitions import build_definitions
from pipeline.defs.partitions import partition_key
from pipeline.defs.resources import SandboxCallsResource, WarehouseResource
from pipeline.defs.schedules import RANGE_END_TAG, RANGE_START_TAG
from pipeline.jobs import run_ingest_job
from pipeline.transforms import ANALYTICS_TABLES
from tests.conftest import DEMO_SEED, DEMO_START, DEMO_TZ, quiet_console

pytestmark = pytest.mark.integration

START, END = DEMO_START + timedelta(hours=6), DEMO_START + timedelta(hours=30)
#: Busy hours in the middle: their long calls occupy hours after them.
AGAIN = (DEMO_START + timedelta(hours=9), DEMO_START + timedelta(hours=12))
SANDBOX = SandboxCallsResource(seed=DEMO_SEED)


def _ingest(db: Path, start, end) -> str:
    console = quiet_console()
    ok = run_ingest_job(start, end, db_path=db, report_tz=DEMO_TZ, console=console, sinch=SANDBOX)
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert ok, output
    return output


def _analytics(db: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            name: con.execute(f"SELECT * FROM analytics.{name} ORDER BY ALL").fetchall()
            for name in ANALYTICS_TABLES
        }


def _reach(db: Path) -> tuple:
    """End of the occupancy of the calls created in AGAIN (capped at 24 h), and the local
    dates of the hours from AGAIN's start to it."""
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "SELECT date_trunc('hour', max(least(end_time, create_time + INTERVAL 24 HOUR)) "
            "+ INTERVAL 59 MINUTE + INTERVAL 59 SECOND) FROM raw.calls "
            "WHERE create_time >= ? AND create_time < ?",
            list(AGAIN),
        ).fetchall()[0][0]


def _marks(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT hour_start FROM raw.stale_hours ORDER BY 1").fetchall()


def test_cli_reingest_of_earlier_hours_refreshes_the_later_ones(tmp_path: Path) -> None:
    db = tmp_path / "calls.duckdb"
    _ingest(db, START, END)
    clean = _analytics(db)
    assert _marks(db) == []
    reach = _reach(db)
    assert AGAIN[1] < reach < END  # the calls occupy hours after AGAIN, not all of them
    with duckdb.connect(str(db)) as con:  # damage: what gets rebuilt shows
        con.execute("UPDATE analytics.trunk_usage_hourly SET holding_seconds = -1")
    output = _ingest(db, *AGAIN)
    assert "marked stale" in output
    assert _marks(db) == []
    with duckdb.connect(str(db), read_only=True) as con:
        damaged = con.execute(
            "SELECT min(hour_start), max(hour_start) FROM analytics.trunk_usage_hourly "
            "WHERE holding_seconds = -1 AND hour_start >= ?",
            [AGAIN[0]],
        ).fetchall()[0]
        untouched_before = con.execute(
            "SELECT bool_and(holding_seconds = -1) FROM analytics.trunk_usage_hourly "
            "WHERE hour_start < ?",
            [AGAIN[0]],
        ).fetchall()[0][0]
    # rebuilt: AGAIN's own hours and the later hours its calls occupy; nothing else written
    assert untouched_before is True
    assert damaged[0] >= reach
    rebuilt = [r for r in _analytics(db)["trunk_usage_hourly"] if AGAIN[0] <= r[0] < reach]
    assert rebuilt == [r for r in clean["trunk_usage_hourly"] if AGAIN[0] <= r[0] < reach]


def test_the_sensor_asks_for_the_marked_hours_once(tmp_path: Path) -> None:
    db = tmp_path / "calls.duckdb"
    _ingest(db, START, END)
    warehouse = WarehouseResource(path=str(db), report_tz=DEMO_TZ)
    defs = build_definitions(sinch=SANDBOX, warehouse=warehouse)
    sensor = defs.resolve_sensor_def("stale_analytics")
    resources = {"warehouse": warehouse, "sinch": SANDBOX}
    with dg.instance_for_test() as instance:
        skipped = sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert isinstance(skipped, dg.SkipReason)
        # raw hours re-ingested without their follow-up: what a scheduled run leaves
        last = AGAIN[1] - timedelta(hours=1)
        result = defs.resolve_job_def("ingest_calls").execute_in_process(
            tags={RANGE_START_TAG: partition_key(AGAIN[0]), RANGE_END_TAG: partition_key(last)},
            instance=instance,
        )
        assert result.success
        marked = [r[0] for r in _marks(db)]
        assert marked and min(marked) >= AGAIN[1]
        requests = sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert isinstance(requests, list) and requests
        first = min(r.tags[RANGE_START_TAG] for r in requests)
        assert first == f"{min(marked):%Y-%m-%d-%H:%M}"
        again = sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert [r.run_key for r in again] == [r.run_key for r in requests]  # same marks
        job = defs.resolve_job_def("refresh_analytics")
        for request in requests:
            assert job.execute_in_process(tags=request.tags, instance=instance).success
    assert _marks(db) == []
