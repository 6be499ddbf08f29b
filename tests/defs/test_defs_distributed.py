"""What the distributed deploy changes in the definitions: pools by backend, the executor."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from pipeline.definitions import build_definitions
from pipeline.defs.raw_assets import WRITER_POOL
from pipeline.defs.resources import SandboxCallsResource, WarehouseResource
from pipeline.settings import SettingsError
from tests.conftest import TWO_SANDBOX_PROJECTS

RAW = dg.AssetKey(["raw", "calls"])
ANALYTICS = dg.AssetKey(["analytics", "trunk_usage_hourly"])


def _defs(tmp_path: Path, lake_uri: str | None = None) -> dg.Definitions:
    warehouse = WarehouseResource(path=str(tmp_path / "d.duckdb"), lake_uri=lake_uri)
    return build_definitions(sinch=SandboxCallsResource(), warehouse=warehouse)


def _pools(defs: dg.Definitions, key: dg.AssetKey) -> set[str]:
    return set(defs.resolve_asset_graph().get(key).pools or ())


def test_the_duckdb_file_has_one_writer(tmp_path: Path) -> None:
    defs = _defs(tmp_path)
    assert _pools(defs, RAW) == {WRITER_POOL}
    assert _pools(defs, ANALYTICS) == {WRITER_POOL}


def test_over_a_lake_raw_calls_and_analytics_run_in_parallel(tmp_path: Path) -> None:
    """Each refresh writes only the buckets its hours own: no pool serialises them."""
    defs = _defs(tmp_path, lake_uri="s3://bucket/prefix")
    assert _pools(defs, RAW) == set()
    assert _pools(defs, ANALYTICS) == set()


def _upstream(defs: dg.Definitions, key: str) -> list[str]:
    graph = defs.resolve_asset_graph()
    subset = graph.get_parent_partition_keys_for_child(key, RAW, ANALYTICS)
    return sorted(subset.partitions_subset.get_partition_keys())


def test_analytics_of_an_hour_read_the_49_raw_hours_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    defs = _defs(tmp_path)
    hours = _upstream(defs, "2026-11-20-10:00")
    assert (hours[0], hours[-1], len(hours)) == ("2026-11-18-09:00", "2026-11-20-10:00", 50)
    projects = tmp_path / "projects.toml"
    projects.write_text(TWO_SANDBOX_PROJECTS, encoding="utf-8")
    monkeypatch.setenv("CALLS_PROJECTS_FILE", str(projects))
    keys = _upstream(_defs(tmp_path), "2026-11-20-10:00|acme-us")
    assert len(keys) == 50 and all(k.endswith("|acme-us") for k in keys)


@pytest.mark.parametrize(
    ("value", "name"),
    [("in_process", "in_process"), ("", "in_process"), ("multiprocess", "multiprocess")],
)
def test_the_executor_follows_calls_run_executor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, name: str
) -> None:
    # unset: in-process, so runs and backfills launched from `dagster dev` run in one process
    # like the CLI's (the pools still order the writers across runs)
    monkeypatch.setenv("CALLS_RUN_EXECUTOR", value)
    job = _defs(tmp_path).resolve_implicit_global_asset_job_def()
    assert job.executor_def.name == name
    assert _defs(tmp_path).resolve_job_def("ingest_calls").executor_def.name == "in_process"


def test_a_bad_executor_is_a_setting_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLS_RUN_EXECUTOR", "celery")
    with pytest.raises(SettingsError, match="CALLS_RUN_EXECUTOR"):
        _defs(tmp_path)


def test_hours_per_backfill_run_follow_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = _defs(tmp_path).resolve_asset_graph()
    assert graph.get(RAW).backfill_policy.max_partitions_per_run == 168
    monkeypatch.setenv("CALLS_BACKFILL_HOURS_PER_RUN", "1")
    graph = _defs(tmp_path).resolve_asset_graph()
    for key in (RAW, ANALYTICS):
        assert graph.get(key).backfill_policy.max_partitions_per_run == 1
    monkeypatch.setenv("CALLS_BACKFILL_HOURS_PER_RUN", "0")
    with pytest.raises(SettingsError, match="CALLS_BACKFILL_HOURS_PER_RUN"):
        _defs(tmp_path)
