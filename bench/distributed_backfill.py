"""Bench: a backfill of PROJECTS × HOURS runs on 1 vs 2 Celery workers (the distributed deploy).

Starts the whole stack of tests/distributed (PostgreSQL, Redis, moto S3, code server, daemon,
workers on 127.0.0.1) once per worker count, with a projects file of PROJECTS sandbox projects
(project × hour partitions), submits one backfill of ``ingest_calls`` over HOURS sandbox hours
of every project to the daemon, and prints the wall time (submit to last run finished), the
speed-up, and each run's time in its worker (median): the per-run overhead is that median minus
the time the same hour takes in-process (``pipeline.jobs.run_ingest_job`` into DuckDB).

    uv run python bench/distributed_backfill.py [HOURS=24] [SLOTS_PER_WORKER=2] [PROJECTS=2]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.definitions import build_definitions
from pipeline.defs.resources import SandboxCallsResource, WarehouseResource
from pipeline.jobs import run_ingest_job
from tests.conftest import quiet_console
from tests.distributed.backfills import run_errors, submit_backfill, wait_for_backfill
from tests.distributed.stack import Stack, distributed_stack, environment, partition_keys

START = datetime(2026, 11, 16, 0, tzinfo=UTC)


def projects_file(directory: Path, count: int) -> dict[str, str]:
    """A projects file of ``count`` sandbox projects; the variable that points at it."""
    path = directory / "projects.toml"
    path.write_text(
        "".join(f'[[project]]\nid = "bench-{n}"\n\n' for n in range(1, count + 1)),
        encoding="utf-8",
    )
    return {"CALLS_PROJECTS_FILE": str(path)}


def backfill(workers: int, hours: int, slots: int, projects: int) -> tuple[float, list[float]]:
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as work:
        extra = projects_file(Path(tmp), projects) if projects > 1 else {}
        with distributed_stack(
            Path(work), workers=workers, concurrency=slots, max_runs=8, extra_env=extra
        ) as stack:
            return _timed_backfill(stack, tmp, hours)


def _timed_backfill(stack: Stack, tmp: str, hours: int) -> tuple[float, list[float]]:
    """Submit the backfill of every partition of ``hours`` hours; wall time and run times."""
    instance = stack.instance()
    with environment(stack.env):
        defs = build_definitions(
            sinch=SandboxCallsResource(),
            warehouse=WarehouseResource(path=f"{tmp}/x.duckdb", lake_uri=stack.lake_uri),
        )
    keys = partition_keys(
        defs.resolve_job_def("ingest_calls").partitions_def,
        START,
        START + timedelta(hours=hours),
    )
    began = time.perf_counter()
    result = wait_for_backfill(
        instance, submit_backfill(stack, instance, "ingest_calls", keys), 3600
    )
    wall = time.perf_counter() - began
    assert not result.failed, f"runs failed: {run_errors(instance, result.failed)}"
    instance.dispose()
    return wall, result.run_seconds


def in_process_hour() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        ok = run_ingest_job(
            START,
            START + timedelta(hours=1),
            db_path=f"{tmp}/one.duckdb",
            report_tz="UTC",
            console=quiet_console(),
        )
        assert ok
        return time.perf_counter() - began


def main() -> None:
    hours = int(sys.argv[1]) if len(sys.argv) > 1 else 24
    slots = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    projects = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    one = in_process_hour()
    walls = {}
    for workers in (1, 2):
        wall, runs = backfill(workers, hours, slots, projects)
        walls[workers] = wall
        print(
            f"{workers} worker(s) x {slots} slots, {projects} x {hours} runs: wall {wall:.1f} s, "
            f"run median {statistics.median(runs):.1f} s (in-process hour {one:.1f} s: "
            f"overhead ~{statistics.median(runs) - one:.1f} s/run)",
            flush=True,
        )
    print(f"speed-up 2 vs 1 worker: {walls[1] / walls[2]:.2f}x")


if __name__ == "__main__":
    main()
