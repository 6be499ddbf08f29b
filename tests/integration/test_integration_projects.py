"""Many Sinch projects from ``CALLS_PROJECTS_FILE``: project × hour partitions, rows per project.

Two sandbox projects are ingested by the same job into one DuckDB file and into the lake.
Each project's rows equal the sandbox's ground truth for that project (its traffic is seeded
per project), every raw and analytics row carries its ``project_id``, and re-running one
project's hours touches only that project's rows.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipeline.definitions import build_definitions
from pipeline.defs.partitions import PROJECT_DIMENSION
from pipeline.defs.resources import SandboxCallsResource, SinchCallsResource
from pipeline.defs.schedules import PROJECT_TAG
from pipeline.jobs import run_ingest_job
from pipeline.projects import sandbox_seed
from pipeline.sandbox.settings import SandboxSettings
from pipeline.sandbox.testing import sandbox_server
from pipeline.warehouse.lake import LakeWarehouse
from tests.conftest import DEMO_SEED, DEMO_START, DEMO_TZ, TWO_SANDBOX_PROJECTS, quiet_console

pytestmark = pytest.mark.integration

#: 21:00–24:00 UTC: holds 22:00 UTC, the hour that owns the Copenhagen day (its daily rows).
START = DEMO_START + timedelta(hours=21)
END = START + timedelta(hours=3)
PROJECTS = ("acme-eu", "acme-us")
ANALYTICS = (
    "answer_rate_hourly",
    "answer_rate_daily",
    "direction_mix_daily",
    "cost_hourly",
    "cost_daily",
    "trunk_usage_hourly",
    "trunk_usage_daily",
    "busy_hour_daily",
)


def _truth(project_id: str) -> set[str]:
    """The ids the sandbox serving ``project_id`` (as the job seeds it) holds in the hours."""
    seed = sandbox_seed(DEMO_SEED, project_id)
    with sandbox_server(SandboxSettings(seed=seed, project_id=project_id)) as sb:
        return set(sb.app_state.call_ids_between(START, END))


def _ids(con: duckdb.DuckDBPyConnection, project_id: str) -> set[str]:
    rows = con.execute(
        "SELECT call_id FROM raw.calls WHERE project_id = ?", [project_id]
    ).fetchall()
    return {call_id for (call_id,) in rows}


@pytest.fixture
def projects_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "projects.toml"
    path.write_text(TWO_SANDBOX_PROJECTS, encoding="utf-8")
    monkeypatch.setenv("CALLS_PROJECTS_FILE", str(path))
    monkeypatch.delenv("CALLS_LAKE_URI", raising=False)
    return path


def _run(db: Path, **kw: object) -> str:
    console = quiet_console()
    ok = run_ingest_job(
        START,
        END,
        db_path=db,
        report_tz=DEMO_TZ,
        console=console,
        sinch=SandboxCallsResource(seed=DEMO_SEED),
        **kw,  # type: ignore[arg-type]
    )
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert ok, output
    return output


@pytest.mark.slow
def test_each_project_lands_its_own_calls_and_reruns_touch_only_its_rows(projects_file, tmp_path):
    db = tmp_path / "calls.duckdb"
    output = _run(db)
    assert "project acme-eu" in output and "project acme-us" in output
    truth = {p: _truth(p) for p in PROJECTS}
    assert truth["acme-eu"] and truth["acme-us"] and not truth["acme-eu"] & truth["acme-us"]
    with duckdb.connect(str(db), read_only=True) as con:
        for project_id in PROJECTS:
            assert _ids(con, project_id) == truth[project_id]
        for table in ("raw.calls", "raw.ingest_ledger", "raw.trunks", "raw.rejected_calls"):
            (nulls,) = con.execute(
                f"SELECT count(*) FROM {table} WHERE project_id IS NULL"
            ).fetchall()[0]
            assert nulls == 0, table
        ledger = con.execute(
            "SELECT project_id, count(*) FROM raw.ingest_ledger GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert ledger == [("acme-eu", 3), ("acme-us", 3)]
        # two trunks lists, one per project, even though the sandbox's trunk ids coincide
        trunks = con.execute("SELECT project_id, count(*) FROM raw.trunks GROUP BY 1").fetchall()
        assert len(trunks) == 2
        before = {}
        for name in ANALYTICS:
            projects = con.execute(
                f"SELECT DISTINCT project_id FROM analytics.{name} ORDER BY 1"
            ).fetchall()
            assert projects == [(p,) for p in PROJECTS], name
            before[name] = sorted(
                con.execute(f"SELECT * FROM analytics.{name} ORDER BY ALL").fetchall(), key=str
            )
        attempts = con.execute(
            "SELECT project_id, sum(attempts) FROM analytics.answer_rate_hourly GROUP BY 1"
        ).fetchall()
        assert dict(attempts) == {p: len(truth[p]) for p in PROJECTS}

    # Re-running the same hours changes no row of either project (ledger rows aside).
    _run(db)
    with duckdb.connect(str(db), read_only=True) as con:
        for project_id in PROJECTS:
            assert _ids(con, project_id) == truth[project_id]
        for name in ANALYTICS:
            after = con.execute(f"SELECT * FROM analytics.{name} ORDER BY ALL").fetchall()
            assert sorted(after, key=str) == before[name], name


@pytest.mark.slow
def test_the_lake_holds_the_same_rows_per_project(projects_file, tmp_path, monkeypatch):
    db = tmp_path / "calls.duckdb"
    _run(db)
    monkeypatch.setenv("CALLS_LAKE_URI", str(tmp_path / "lake"))
    _run(db)
    with (
        duckdb.connect(str(db), read_only=True) as file,
        LakeWarehouse(str(tmp_path / "lake")).reader() as lake,
    ):
        query = "SELECT project_id, call_id, create_time, price FROM raw.calls ORDER BY ALL"
        assert lake.execute(query).fetchall() == file.execute(query).fetchall()
        for name in ANALYTICS:
            query = f"SELECT * FROM analytics.{name} ORDER BY ALL"
            assert lake.execute(query).fetchall() == file.execute(query).fetchall(), name


def test_partitions_and_schedules_are_per_project(projects_file):
    defs = build_definitions(sinch=SandboxCallsResource(seed=DEMO_SEED))
    raw = defs.resolve_assets_def(dg.AssetKey(["raw", "calls"]))
    partitions = raw.partitions_def
    assert isinstance(partitions, dg.MultiPartitionsDefinition)
    projects = partitions.get_partitions_def_for_dimension(PROJECT_DIMENSION)
    assert projects.get_partition_keys() == list(PROJECTS)
    schedule = defs.resolve_schedule_def("hourly_ingest")
    context = dg.build_schedule_context(scheduled_execution_time=END + timedelta(minutes=10))
    requests = schedule.evaluate_tick(context).run_requests or []
    assert [r.tags[PROJECT_TAG] for r in requests] == list(PROJECTS)
    for request, project_id in zip(requests, PROJECTS, strict=True):
        assert request.tags["dagster/asset_partition_range_start"].endswith(f"|{project_id}")
        assert request.tags["dagster/asset_partition_range_end"].endswith(f"|{project_id}")


REAL_PROJECTS = """
[[project]]
id = "{served}"
key_id_env = "ACME_KEY_ID"
key_secret_env = "ACME_KEY_SECRET"

[[project]]
id = "not-served"
key_id_env = "ACME_KEY_ID"
key_secret_env = "ACME_KEY_SECRET"
"""


@pytest.mark.slow
def test_real_api_projects_read_their_keys_and_a_failing_one_does_not_stop_the_other(
    tmp_path, monkeypatch
):
    """Keys come from the variables the file names; a project the API does not know fails
    (the run reports failure) while the other project still lands every call."""
    with sandbox_server(seed=DEMO_SEED, project_id="acme-eu") as sb:
        path = tmp_path / "projects.toml"
        path.write_text(REAL_PROJECTS.format(served=sb.project_id), encoding="utf-8")
        monkeypatch.setenv("CALLS_PROJECTS_FILE", str(path))
        monkeypatch.setenv("ACME_KEY_ID", sb.key_id)
        monkeypatch.setenv("ACME_KEY_SECRET", sb.key_secret)
        monkeypatch.delenv("CALLS_LAKE_URI", raising=False)
        console = quiet_console()
        db = tmp_path / "calls.duckdb"
        resource = SinchCallsResource(api_url=sb.base_url, auth_url=sb.auth_url)
        ok = run_ingest_job(
            START, END, db_path=db, report_tz=DEMO_TZ, console=console, sinch=resource
        )
        truth = set(sb.app_state.call_ids_between(START, END))
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert not ok
    assert "not-served" in output
    assert sb.key_secret not in output
    with duckdb.connect(str(db), read_only=True) as con:
        assert _ids(con, "acme-eu") == truth
        assert _ids(con, "not-served") == set()
