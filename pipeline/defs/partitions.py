"""Partitions: hourly UTC windows of call ``createTime``, times projects when there are many.

Without a projects file the assets are partitioned by hour alone (docs/stack-hazards.md §1.3:
keep them UTC). With one (:mod:`pipeline.projects`) they are partitioned by project × hour,
a :class:`dagster.MultiPartitionsDefinition` with the dimensions ``hour`` and ``project``;
keys read ``2026-11-23-05:00|<project id>``. :func:`run_scopes` turns a run's partitions into
what each asset does: per project, the hours to ingest or refresh.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg

from pipeline.ingest.windows import HOUR, hourly_windows
from pipeline.projects import Project
from pipeline.settings import DEFAULT_PARTITIONS_START, SettingsError, env
from pipeline.sinch.models import Window

HOUR_DIMENSION = "hour"
PROJECT_DIMENSION = "project"

PARTITION_FORMAT = "%Y-%m-%d-%H:%M"


def partitions_start() -> str:
    """First partition from ``CALLS_PARTITIONS_START`` (``YYYY-MM-DD-HH:MM``, UTC).

    Raises:
        SettingsError: not in that format, or not on a whole hour.
    """
    raw = env("CALLS_PARTITIONS_START", DEFAULT_PARTITIONS_START)
    try:
        start = datetime.strptime(raw, PARTITION_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        msg = f"CALLS_PARTITIONS_START must look like 2026-01-01-00:00 (UTC), not {raw!r}"
        raise SettingsError(msg) from None
    if start.minute:
        msg = f"CALLS_PARTITIONS_START must be on a whole hour, not {raw!r}"
        raise SettingsError(msg)
    return raw


def hourly_partitions(start: str | None = None) -> dg.HourlyPartitionsDefinition:
    """Hourly partitions in UTC from ``start`` (default :func:`partitions_start`)."""
    return dg.HourlyPartitionsDefinition(start_date=start or partitions_start(), timezone="UTC")


def partition_key(instant: datetime) -> str:
    """The hourly partition key of a UTC hour start, e.g. ``2026-11-23-05:00``."""
    return instant.astimezone(UTC).strftime(PARTITION_FORMAT)


def ingestion_partitions(
    projects: list[Project] | None, start: str | None = None
) -> dg.PartitionsDefinition:
    """Hourly partitions, or project × hour partitions when a projects file lists projects.

    Args:
        projects: the projects of the file, or None (one project: hourly partitions).
        start: first hour (default :func:`partitions_start`).
    """
    hourly = hourly_partitions(start)
    if not projects:
        return hourly
    return dg.MultiPartitionsDefinition(
        {
            HOUR_DIMENSION: hourly,
            PROJECT_DIMENSION: dg.StaticPartitionsDefinition([p.id for p in projects]),
        }
    )


def time_partitions(partitions_def: dg.PartitionsDefinition) -> dg.TimeWindowPartitionsDefinition:
    """The hourly dimension of ``partitions_def`` (itself when it is hourly)."""
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        dimension = partitions_def.get_partitions_def_for_dimension(HOUR_DIMENSION)
        assert isinstance(dimension, dg.TimeWindowPartitionsDefinition)
        return dimension
    assert isinstance(partitions_def, dg.TimeWindowPartitionsDefinition)
    return partitions_def


@dataclass(frozen=True, slots=True)
class RunScope:
    """What one project's part of a run covers.

    Attributes:
        project: the project of the projects file, or None for the resource's own project.
        spans: the run's hours of that project as maximal runs of consecutive hours, each a
            half-open UTC :class:`Window` on whole hours, in order.
    """

    project: Project | None
    spans: tuple[Window, ...]

    @property
    def windows(self) -> list[Window]:
        """Every hour of the spans as a one-hour window, in order."""
        return [hour for span in self.spans for hour in hourly_windows(span.start, span.end)]


def run_scopes(
    context: dg.AssetExecutionContext,
    projects: list[Project] | None,
) -> list[RunScope]:
    """The run's partitions grouped by project (file order), hours merged into spans.

    Args:
        context: the asset's context (its run targets a partition or a range of them).
        projects: the projects of the file, or None (hourly partitions, one project).

    Raises:
        SettingsError: a partition names a project the file no longer lists.
    """
    if not projects:
        window = context.partition_time_window
        return [RunScope(None, (Window(window.start, window.end),))]
    partitions_def = context.assets_def.partitions_def
    assert isinstance(partitions_def, dg.MultiPartitionsDefinition)
    hours: dict[str, list[datetime]] = defaultdict(list)
    for key in context.partition_keys:
        dims = partitions_def.get_partition_key_from_str(key).keys_by_dimension
        hour = datetime.strptime(dims[HOUR_DIMENSION], PARTITION_FORMAT).replace(tzinfo=UTC)
        hours[dims[PROJECT_DIMENSION]].append(hour)
    by_id = {p.id: p for p in projects}
    unknown = sorted(set(hours) - set(by_id))
    if unknown:
        msg = f"partitions name projects the projects file does not list: {', '.join(unknown)}"
        raise SettingsError(msg)
    return [
        RunScope(by_id[project_id], _spans(hours[project_id]))
        for project_id in by_id
        if project_id in hours
    ]


def _spans(hours: list[datetime]) -> tuple[Window, ...]:
    spans: list[Window] = []
    for hour in sorted(set(hours)):
        if spans and spans[-1].end == hour:
            spans[-1] = Window(spans[-1].start, hour + HOUR)
        else:
            spans.append(Window(hour, hour + HOUR))
    return tuple(spans)


@dataclass(frozen=True, slots=True)
class PartitionRange:
    """The partition keys of one run over ``[start, end)``: one project's hours, or all hours.

    Attributes:
        project_id: the project of a project × hour range, or None for hourly partitions.
        first: the first partition key (``2026-11-23-05:00`` or ``2026-11-23-05:00|<id>``).
        last: the last partition key (inclusive).
    """

    project_id: str | None
    first: str
    last: str


def partition_ranges(
    partitions_def: dg.PartitionsDefinition, start: datetime, end: datetime
) -> list[PartitionRange]:
    """The ranges that cover the hours ``[start, end)``: one, or one per project.

    Args:
        partitions_def: hourly or project × hour partitions (:func:`ingestion_partitions`).
        start: first hour (UTC, whole hour).
        end: end hour, exclusive (> ``start``).
    """
    first, last = partition_key(start), partition_key(end - HOUR)
    if not isinstance(partitions_def, dg.MultiPartitionsDefinition):
        return [PartitionRange(None, first, last)]
    projects = partitions_def.get_partitions_def_for_dimension(PROJECT_DIMENSION)
    return [
        PartitionRange(
            project_id,
            dg.MultiPartitionKey({HOUR_DIMENSION: first, PROJECT_DIMENSION: project_id}),
            dg.MultiPartitionKey({HOUR_DIMENSION: last, PROJECT_DIMENSION: project_id}),
        )
        for project_id in projects.get_partition_keys()
    ]
