"""The ``stale_analytics`` sensor: refresh the analytics buckets that later hours own.

A run refreshes only the analytics buckets its hours own (:mod:`pipeline.warehouse.ownership`).
When its raw calls also feed buckets owned by other hours (channel occupancy up to 24 h later,
the local day they fall in, hours that moved calls left), it marks those owner hours in
``raw.stale_hours``. Every minute this sensor reads the marks of each project
(:func:`pipeline.warehouse.analytics.pending_hours`) and asks for one ``refresh_analytics``
run (analytics only, no API request) per run of consecutive marked hours. The run key holds
the latest mark, so a range is requested once per marking; a failed refresh is asked again
only after a newer mark (re-run it from the UI).
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from pipeline.defs.partitions import HOUR_DIMENSION, PROJECT_DIMENSION, partition_key
from pipeline.defs.resources import CallsApiResource, WarehouseResource
from pipeline.defs.schedules import PROJECT_TAG, RANGE_END_TAG, RANGE_START_TAG
from pipeline.projects import Project
from pipeline.transforms.calendar import HOUR
from pipeline.warehouse.analytics import pending_hours
from pipeline.warehouse.ownership import hour_runs

#: The job of analytics-only runs (no API request, no raw change).
REFRESH_JOB = "refresh_analytics"

refresh_analytics_job = dg.define_asset_job(
    REFRESH_JOB,
    selection=dg.AssetSelection.groups("analytics"),
    executor_def=dg.in_process_executor,
    description="Rebuild the analytics buckets of marked hours from raw.calls (no API call).",
)


def stale_run_requests(
    marks: dict[str, tuple[list[datetime], datetime | None]], multi_project: bool
) -> list[dg.RunRequest]:
    """One ``refresh_analytics`` run per project and run of consecutive marked hours.

    Args:
        marks: project id → (marked owner hours, latest ``marked_at`` of the project).
        multi_project: partitions are project × hour (tag the project).

    Returns:
        Run requests with the partition range tags and a run key naming the range and the
        latest mark.
    """
    requests = []
    for project_id, (hours, latest) in marks.items():
        stamp = latest.astimezone(UTC).isoformat() if latest else "-"
        for first, end in hour_runs(hours):
            first_key, last_key = partition_key(first), partition_key(end - HOUR)
            if multi_project:
                first_key = dg.MultiPartitionKey(
                    {HOUR_DIMENSION: first_key, PROJECT_DIMENSION: project_id}
                )
                last_key = dg.MultiPartitionKey(
                    {HOUR_DIMENSION: last_key, PROJECT_DIMENSION: project_id}
                )
            requests.append(
                dg.RunRequest(
                    run_key=f"stale:{project_id}:{first:%Y-%m-%dT%H}:{end:%Y-%m-%dT%H}:{stamp}",
                    tags={RANGE_START_TAG: first_key, RANGE_END_TAG: last_key}
                    | ({PROJECT_TAG: project_id} if multi_project else {}),
                )
            )
    return requests


def read_marks(
    warehouse: WarehouseResource, project_ids: list[str]
) -> dict[str, tuple[list[datetime], datetime | None]]:
    """Each project's pending owner hours and its latest mark (nothing when none is pending).

    Raises:
        FileNotFoundError: the warehouse does not exist yet.
    """
    marks: dict[str, tuple[list[datetime], datetime | None]] = {}
    with warehouse.backend().reader() as con:
        for project_id in project_ids:
            hours = pending_hours(con, project_id, warehouse.report_tz)
            if hours:
                (latest,) = con.execute(
                    "SELECT max(marked_at) FROM raw.stale_hours WHERE project_id = ?",
                    [project_id],
                ).fetchall()[0]
                marks[project_id] = (hours, latest)
    return marks


def build_stale_analytics_sensor(projects: list[Project] | None) -> dg.SensorDefinition:
    """The ``stale_analytics`` sensor (running by default) for the configured projects."""

    @dg.sensor(
        name="stale_analytics",
        job=refresh_analytics_job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Refresh analytics buckets marked stale by runs of other hours.",
    )
    def stale_analytics(
        context: dg.SensorEvaluationContext,
        warehouse: WarehouseResource,
        sinch: CallsApiResource,
    ) -> list[dg.RunRequest] | dg.SkipReason:
        ids = [p.id for p in projects] if projects else [sinch.default_project_id()]
        try:
            marks = read_marks(warehouse, ids)
        except FileNotFoundError:
            return dg.SkipReason("no warehouse yet")
        if not marks:
            return dg.SkipReason("no analytics bucket is waiting for a refresh")
        return stale_run_requests(marks, multi_project=bool(projects))

    return stale_analytics
