"""The same assets, distributed: backfills the daemon launches on two Celery workers.

The stack (:mod:`tests.distributed.stack`): PostgreSQL holds the Dagster instance, Redis the
Celery queue, moto's S3 the Delta lake; a code server, the daemon and two Celery workers of 4
slots run ``deploy/dagster.yaml`` (``QueuedRunCoordinator`` + ``CeleryRunLauncher``). Two
sandbox projects come from a projects file, so partitions are project × hour. Each run fetches
from the embedded sandbox (seeded per project, started inside the run), so every worker sees
the same calls as the reference: the ``ingest_calls`` job in this process into a DuckDB file.

Skipped only when the PostgreSQL or Redis binaries cannot be found (``.ci/run`` installs them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from pipeline.definitions import build_definitions
from pipeline.defs.resources import SandboxCallsResource, WarehouseResource
from pipeline.defs.schedules import RANGE_START_TAG
from pipeline.jobs import run_ingest_job
from pipeline.warehouse.backend import DuckDBWarehouse
from pipeline.warehouse.lake import LakeWarehouse
from tests.conftest import DEMO_START, DEMO_TZ, TWO_SANDBOX_PROJECTS, quiet_console
from tests.distributed.backfills import (
    BackfillResult,
    run_errors,
    submit_backfill,
    wait_for_backfill,
    wait_for_marks_cleared,
)
from tests.distributed.stack import (
    Stack,
    distributed_stack,
    environment,
    missing_servers,
    partition_keys,
)
from tests.lake.lake_kit import snapshot

JOB = "ingest_calls"
#: Busy weekday hours of the sandbox: 2 projects × 6 hours in a first backfill, then 2 × 4
#: more hours: 8 partitions launched at once.
FIRST = (DEMO_START + timedelta(hours=8), DEMO_START + timedelta(hours=14))
SECOND = (FIRST[1], FIRST[1] + timedelta(hours=4))

pytestmark = [
    pytest.mark.distributed,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(1800),
    pytest.mark.skipif(missing_servers() is not None, reason=missing_servers() or ""),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The deploy with two Celery workers, 8 runs in flight at most, two sandbox projects."""
    workdir = tmp_path_factory.mktemp("distributed")
    projects = workdir / "projects.toml"
    projects.write_text(TWO_SANDBOX_PROJECTS, encoding="utf-8")
    with distributed_stack(
        workdir,
        workers=2,
        concurrency=4,
        report_tz=DEMO_TZ,
        extra_env={"CALLS_PROJECTS_FILE": str(projects)},
    ) as running:
        yield running


@pytest.fixture(scope="module")
def instance(stack: Stack) -> Iterator[dg.DagsterInstance]:
    """This process's handle on the deploy's instance (Postgres)."""
    handle = stack.instance()
    yield handle
    handle.dispose()


def _job_partitions(stack: Stack, tmp_path: Path) -> dg.PartitionsDefinition:
    """The partitions of the job the code location serves, as the code builds them."""
    warehouse = WarehouseResource(path=str(tmp_path / "unused.duckdb"), lake_uri=stack.lake_uri)
    with environment(stack.env):
        defs = build_definitions(sinch=SandboxCallsResource(), warehouse=warehouse)
    partitions = defs.resolve_job_def(JOB).partitions_def
    assert partitions is not None
    return partitions


def _backfill(
    stack: Stack, instance: dg.DagsterInstance, tmp_path: Path, hours: tuple
) -> BackfillResult:
    keys = partition_keys(_job_partitions(stack, tmp_path), *hours)
    assert len(keys) == 2 * ((hours[1] - hours[0]) // timedelta(hours=1))  # two projects
    backfill_id = submit_backfill(stack, instance, JOB, keys)
    result = wait_for_backfill(instance, backfill_id)
    assert not result.failed, run_errors(instance, result.failed)
    tags = [r.dagster_run.tags for r in result.records]
    launched = {t.get("dagster/partition", t.get(RANGE_START_TAG)) for t in tags}
    assert launched == {str(k) for k in keys}, tags
    # Later hours a run's calls occupy are marked stale (redundantly, when their own run has
    # not read raw yet): the sensor's refresh runs clear every mark.
    refreshes = wait_for_marks_cleared(instance, lambda: _marked_hours(stack))
    failed = [r for r in refreshes if r.dagster_run.status != dg.DagsterRunStatus.SUCCESS]
    assert not failed, run_errors(instance, failed)
    return result


def _marked_hours(stack: Stack) -> int:
    with environment(stack.env), LakeWarehouse(stack.lake_uri).reader() as con:
        (count,) = con.execute("SELECT count(*) FROM raw.stale_hours").fetchall()[0]
    return int(count)


def _reference(stack: Stack, db: Path, hours: tuple) -> None:
    """The job in this process, embedded sandbox, same projects, into the DuckDB file ``db``."""
    console = quiet_console()
    with pytest.MonkeyPatch.context() as mp:
        for name in ("CALLS_LAKE_URI", "SINCH_PROJECT_ID", "SINCH_KEY_ID", "SINCH_KEY_SECRET"):
            mp.delenv(name, raising=False)
        mp.setenv("SANDBOX_SEED", "7")
        mp.setenv("CALLS_PROJECTS_FILE", stack.env["CALLS_PROJECTS_FILE"])
        ok = run_ingest_job(*hours, db_path=db, report_tz=DEMO_TZ, console=console)
    assert ok, console.file.getvalue()


def _assert_lake_equals(stack: Stack, db: Path) -> None:
    with DuckDBWarehouse(db).reader() as duck:
        expected = snapshot(duck)
    with environment(stack.env), LakeWarehouse(stack.lake_uri).reader() as con:
        actual = snapshot(con)
        projects = con.execute("SELECT DISTINCT project_id FROM raw.calls ORDER BY 1").fetchall()
    assert projects == [("acme-eu",), ("acme-us",)]
    assert expected["raw.calls"], "the reference landed no calls"
    for table, rows in expected.items():
        assert actual[table] == rows, f"{table}: {len(actual[table])} rows vs {len(rows)}"


def _workers_of(stack: Stack, result: BackfillResult) -> set[str]:
    """The workers whose logs show one of the runs' Celery tasks.

    A run can lack its task id tag: the launcher adds it after queueing the task, and a worker
    that starts the run at once writes the run's body back with its new status from a copy read
    before (Dagster's ``SqlRunStorage.handle_run_event``), dropping the tag (seen once in CI;
    every run landed). The other runs' tags still name the workers.
    """
    tags = [r.dagster_run.tags.get("dagster-celery/task_id") for r in result.records]
    task_ids = {tag for tag in tags if tag}
    assert len(task_ids) * 2 >= len(tags), f"task ids of {len(task_ids)} of {len(tags)} runs"
    found = set()
    for service in stack.services:
        if service.name.startswith("worker"):
            received = set(re.findall(r"execute_job\[([0-9a-f-]+)\] received", service.text()))
            if received & task_ids:
                found.add(service.name)
    return found


def test_backfills_on_celery_workers_equal_the_embedded_run(
    stack: Stack, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    db = tmp_path / "reference.duckdb"

    first = _backfill(stack, instance, tmp_path, FIRST)
    _reference(stack, db, FIRST)
    _assert_lake_equals(stack, db)

    second = _backfill(stack, instance, tmp_path, SECOND)
    _reference(stack, db, SECOND)
    _assert_lake_equals(stack, db)

    print(
        f"{len(first.records)} runs: {first.seconds:.1f} s, "
        f"at most {first.max_in_flight} in flight; "
        f"{len(second.records)} runs: {second.seconds:.1f} s, "
        f"at most {second.max_in_flight} in flight"
    )
    # The runs ran on both workers, and in parallel (the lake gives raw/calls no writer pool).
    assert _workers_of(stack, second) == {"worker1", "worker2"}
    assert second.max_in_flight >= 2
