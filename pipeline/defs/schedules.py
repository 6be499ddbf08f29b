"""Jobs and schedules: hourly ingestion with a lookback, and a daily re-ingest of yesterday.

Calls arrive late (a call is listed when it ends, prices settle later), so:

- ``hourly_ingest`` runs at HH:10 UTC and ingests the last closed hour plus ``lookback_hours``
  before it (default 3, ``CALLS_LOOKBACK_HOURS``) as one partition-range run;
- ``daily_reingest`` runs at 01:30 UTC and re-ingests the previous UTC day (24 partitions).

Both target ``ingest_calls``: raw calls then the analytics tables of the same hours (their
checks read those hours only); ``full_audit`` (Sundays 03:00 UTC) runs every ``raw/calls``
check over the whole warehouse (``audit_raw_calls``). Writes
are idempotent, so the overlap costs only API requests. With many projects a tick asks for
one run per project, tagged ``sinch/project`` (deploy/dagster.yaml limits runs per value of
that tag, so one project's API rate limit holds across workers).
"""

from datetime import UTC, datetime, timedelta

import dagster as dg

from pipeline.defs.partitions import partition_key, partition_ranges, time_partitions
from pipeline.ingest.windows import closed_hours_with_lookback

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PROJECT_TAG = "sinch/project"

ingest_calls_job = dg.define_asset_job(
    "ingest_calls",
    selection=dg.AssetSelection.groups("raw", "analytics"),
    executor_def=dg.in_process_executor,  # one process: steps never fight over the DuckDB file
    description="Ingest hourly call windows into raw.calls and rebuild the analytics they touch.",
)


def range_run_requests(
    partitions_def: dg.PartitionsDefinition, start: datetime, end: datetime, run_key: str
) -> list[dg.RunRequest]:
    """Runs over the partitions covering ``[start, end)`` (whole UTC hours): one per project.

    Each run of a project is tagged ``sinch/project=<id>``; ``run_key`` gets ``:<id>``.
    """
    return [
        dg.RunRequest(
            run_key=run_key if r.project_id is None else f"{run_key}:{r.project_id}",
            tags={RANGE_START_TAG: r.first, RANGE_END_TAG: r.last}
            | ({PROJECT_TAG: r.project_id} if r.project_id else {}),
        )
        for r in partition_ranges(partitions_def, start, end)
    ]


def hourly_range(
    now: datetime, lookback_hours: int, first_partition: datetime
) -> tuple[datetime, datetime]:
    """The hours an hourly tick ingests, clipped to the first partition."""
    start, end = closed_hours_with_lookback(now, lookback_hours)
    return max(start, first_partition), end


def build_schedules(
    lookback_hours: int, partitions_def: dg.PartitionsDefinition
) -> list[dg.ScheduleDefinition]:
    """The hourly and daily schedules (stopped by default; start them in the UI).

    Args:
        lookback_hours: closed hours before the last one that ``hourly_ingest`` re-ingests.
        partitions_def: the assets' partitions (hourly, or project × hour); no tick asks for
            hours before their start.

    Returns:
        ``[hourly_ingest, daily_reingest]``, both targeting ``ingest_calls``.
    """
    first = time_partitions(partitions_def).start.astimezone(UTC)

    @dg.schedule(
        cron_schedule="10 * * * *",
        job=ingest_calls_job,
        execution_timezone="UTC",
        name="hourly_ingest",
        description=f"HH:10 UTC: the last closed hour plus {lookback_hours} h of lookback.",
    )
    def hourly_ingest(
        context: dg.ScheduleEvaluationContext,
    ) -> list[dg.RunRequest] | dg.SkipReason:
        now = context.scheduled_execution_time or datetime.now(UTC)
        start, end = hourly_range(now, lookback_hours, first)
        if start >= end:
            return dg.SkipReason("no closed hour after the first partition yet")
        return range_run_requests(partitions_def, start, end, f"hourly-{partition_key(end)}")

    @dg.schedule(
        cron_schedule="30 1 * * *",
        job=ingest_calls_job,
        execution_timezone="UTC",
        name="daily_reingest",
        description="01:30 UTC: re-ingest the previous UTC day, all 24 hours.",
    )
    def daily_reingest(
        context: dg.ScheduleEvaluationContext,
    ) -> list[dg.RunRequest] | dg.SkipReason:
        now = context.scheduled_execution_time or datetime.now(UTC)
        end = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = max(end - timedelta(days=1), first)
        if start >= end:
            return dg.SkipReason("the previous day is before the first partition")
        return range_run_requests(partitions_def, start, end, f"daily-{end:%Y-%m-%d}")

    return [hourly_ingest, daily_reingest]


def build_audit_schedule() -> dg.ScheduleDefinition:
    """``full_audit``: Sundays 03:00 UTC, every ``raw/calls`` check over the whole warehouse.

    A run's checks read only the hours it wrote (:mod:`pipeline.defs.checks`); this catches
    damage elsewhere (rows written by hand, a restored file), as ``pipeline audit`` does.
    Stopped by default, like the others.
    """
    from pipeline.defs.checks import audit_job

    return dg.ScheduleDefinition(
        name="full_audit",
        cron_schedule="0 3 * * 0",
        job=audit_job,
        execution_timezone="UTC",
        description="Sundays 03:00 UTC: every raw/calls check over every window (a full scan).",
    )
