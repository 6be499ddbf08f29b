"""Backfills submitted to the daemon of a :class:`~tests.distributed.stack.Stack`, and awaited.

:func:`submit_backfill` does what the UI's "Launch backfill" of a job does: it stores a
requested partition backfill in the instance; the daemon's backfill loop turns it into one
queued run per partition, the run queue launches them (as Celery tasks) within its limits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.storage.dagster_run import RunRecord, RunsFilter
from dagster._core.utils import make_new_backfill_id
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import GrpcServerTarget
from dagster._time import get_current_timestamp

from tests.distributed.stack import LOCATION, Stack


def submit_backfill(
    stack: Stack, instance: dg.DagsterInstance, job_name: str, keys: list[str]
) -> str:
    """Request a backfill of ``job_name`` over ``keys`` from the daemon; its id."""
    target = GrpcServerTarget(
        host="127.0.0.1", port=stack.grpc_port, socket=None, location_name=LOCATION
    )
    with WorkspaceProcessContext(instance, target) as process_context:
        context = process_context.create_request_context()
        location = context.get_code_location(LOCATION)
        (repository,) = location.get_repositories().values()
        partition_set = next(p for p in repository.get_partition_sets() if p.job_name == job_name)
        backfill_id = make_new_backfill_id()
        instance.add_backfill(
            PartitionBackfill(
                backfill_id=backfill_id,
                partition_set_origin=partition_set.get_remote_origin(),
                status=BulkActionStatus.REQUESTED,
                partition_names=[str(key) for key in keys],
                from_failure=False,
                reexecution_steps=None,
                tags={},
                backfill_timestamp=get_current_timestamp(),
            )
        )
    return backfill_id


@dataclass
class BackfillResult:
    """The finished runs of a backfill and what they show."""

    records: list[RunRecord]
    seconds: float

    @property
    def failed(self) -> list[RunRecord]:
        """Runs that did not succeed."""
        return [r for r in self.records if r.dagster_run.status != dg.DagsterRunStatus.SUCCESS]

    @property
    def max_in_flight(self) -> int:
        """The most runs started and not yet ended at one instant."""
        edges = []
        for record in self.records:
            if record.start_time is not None and record.end_time is not None:
                edges += [(record.start_time, 1), (record.end_time, -1)]
        running = peak = 0
        for _, step in sorted(edges, key=lambda e: (e[0], e[1])):  # ends before starts
            running += step
            peak = max(peak, running)
        return peak

    @property
    def run_seconds(self) -> list[float]:
        """Each run's time from start to end (in the worker)."""
        return [
            r.end_time - r.start_time
            for r in self.records
            if r.start_time is not None and r.end_time is not None
        ]


def wait_for_backfill(
    instance: dg.DagsterInstance, backfill_id: str, timeout_s: float = 1200.0
) -> BackfillResult:
    """Poll until the backfill is done and its runs finished (hang guard ``timeout_s``).

    A backfill asks for an hour's analytics only once the raw hours they read have landed
    (the partition mapping), so it launches more runs than partitions: raw and analytics of
    one hour may run apart.
    """
    began = time.monotonic()
    done = {BulkActionStatus.COMPLETED, BulkActionStatus.COMPLETED_SUCCESS}
    while True:
        backfill = instance.get_backfill(backfill_id)
        assert backfill is not None
        if backfill.status in {BulkActionStatus.FAILED, BulkActionStatus.COMPLETED_FAILED}:
            raise AssertionError(f"backfill failed: {backfill.error}")
        records = list(instance.get_run_records(RunsFilter.for_backfill(backfill_id)))
        if backfill.status in done and all(r.dagster_run.is_finished for r in records):
            return BackfillResult(records, time.monotonic() - began)
        if time.monotonic() - began > timeout_s:
            states = [r.dagster_run.status.value for r in records]
            raise TimeoutError(
                f"backfill {backfill_id} {backfill.status.value}: runs {states} after {timeout_s} s"
            )
        time.sleep(0.5)


def wait_for_marks_cleared(
    instance: dg.DagsterInstance, pending: Callable[[], int], timeout_s: float = 600.0
) -> list[RunRecord]:
    """Poll until no analytics hour is marked stale and no ``refresh_analytics`` run is left.

    Args:
        instance: the deploy's instance.
        pending: how many owner hours are still marked (read from the lake).
        timeout_s: hang guard.

    Returns:
        The ``refresh_analytics`` runs the sensor launched.
    """
    began = time.monotonic()
    while True:
        runs = list(instance.get_run_records(RunsFilter(job_name="refresh_analytics")))
        if pending() == 0 and all(r.dagster_run.is_finished for r in runs):
            return runs
        if time.monotonic() - began > timeout_s:
            raise TimeoutError(f"{pending()} hours still marked stale after {timeout_s} s")
        time.sleep(1.0)


def run_errors(instance: dg.DagsterInstance, records: list[RunRecord]) -> str:
    """The error events of ``records``' runs, for a failure message."""
    lines = []
    for record in records:
        for entry in instance.all_logs(record.dagster_run.run_id):
            event = entry.dagster_event
            if entry.level >= 40 or (event is not None and event.is_failure):
                lines.append(f"{record.dagster_run.run_id[:8]}: {entry.user_message[:2000]}")
    return "\n".join(lines)
