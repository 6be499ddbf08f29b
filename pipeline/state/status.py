"""``pipeline status``: what the Dagster instance knows of each asset and check.

Read from the instance only (never the warehouse): per asset the newest hour materialized and
when, the hours of a range with no materialization (as spans of consecutive hours, per project
with a projects file), and per asset check its latest evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg

from pipeline.defs.partitions import PARTITION_FORMAT, time_partitions
from pipeline.ingest.windows import HOUR
from pipeline.sinch.models import Window


@dataclass(frozen=True, slots=True)
class AssetStatus:
    """One asset in the instance, over the hours asked about.

    Attributes:
        key: the asset key, e.g. ``raw/calls``.
        last_hour: start (UTC) of the newest hour ever materialized, or None.
        last_at: when the newest materialization was recorded (UTC), or None.
        missing: per project id ("" without a projects file), the hours of the range with
            no materialization as half-open spans of consecutive hours, in order.
    """

    key: str
    last_hour: datetime | None
    last_at: datetime | None
    missing: dict[str, list[Window]]

    @property
    def missing_hours(self) -> int:
        """Hours missing in the range, all projects."""
        return sum(int((w.end - w.start) / HOUR) for spans in self.missing.values() for w in spans)


@dataclass(frozen=True, slots=True)
class CheckStatus:
    """The latest evaluation of one asset check.

    Attributes:
        asset: the checked asset's key.
        name: the check's name.
        passed: True/False from the latest evaluation; None when never evaluated.
        severity: ``ERROR`` or ``WARN`` (of the latest evaluation; "" when none).
        at: when it was evaluated (UTC), or None.
        detail: the evaluation's ``failures`` and ``detail`` metadata, "" when none.
    """

    asset: str
    name: str
    passed: bool | None
    severity: str
    at: datetime | None
    detail: str


def _hour(partition: str) -> tuple[datetime, str]:
    """Hour and project of a partition key: ``2026-11-23-05:00`` or ``2026-11-23-05:00|p``.

    A project × hour key lists its dimensions by name (``hour`` before ``project``).
    """
    hour, _, project = partition.partition("|")
    return datetime.strptime(hour, PARTITION_FORMAT).replace(tzinfo=UTC), project


def _spans(hours: list[datetime]) -> list[Window]:
    spans: list[Window] = []
    for hour in sorted(hours):
        if spans and spans[-1].end == hour:
            spans[-1] = Window(spans[-1].start, hour + HOUR)
        else:
            spans.append(Window(hour, hour + HOUR))
    return spans


def asset_status(
    instance: dg.DagsterInstance,
    key: dg.AssetKey,
    partitions_def: dg.PartitionsDefinition,
    start: datetime,
    end: datetime,
) -> AssetStatus:
    """The status of one hourly (or project × hour) asset over the hours ``[start, end)``.

    Args:
        instance: the Dagster instance to read.
        key: the asset.
        partitions_def: its partitions (hourly, or project × hour).
        start: first hour of the range (UTC, whole hour).
        end: end of the range, exclusive.
    """
    done = [_hour(p) for p in instance.get_materialized_partitions(key)]
    latest = instance.get_latest_materialization_event(key)
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        projects = [
            str(p)
            for p in partitions_def.get_partitions_def_for_dimension("project").get_partition_keys()
        ]
    else:
        projects = [""]
    hours = time_partitions(partitions_def)
    first = max(start, hours.start.astimezone(UTC))
    wanted = [first + i * HOUR for i in range(max(0, int((end - first) / HOUR)))]
    missing = {}
    for project in projects:
        have = {hour for hour, p in done if p == project}
        gaps = _spans([h for h in wanted if h not in have])
        if gaps:
            missing[project] = gaps
    return AssetStatus(
        key=key.to_user_string(),
        last_hour=max((hour for hour, _ in done), default=None),
        last_at=datetime.fromtimestamp(latest.timestamp, UTC) if latest else None,
        missing=missing,
    )


def check_status(instance: dg.DagsterInstance, key: dg.AssetCheckKey) -> CheckStatus:
    """The latest completed evaluation of the check ``key`` recorded in ``instance``.

    A run that failed or was interrupted before the check ran leaves a *planned* evaluation
    as the newest record: it is skipped, so the check shows its last real result.
    """
    from dagster._core.storage.asset_check_execution_record import (
        COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES,
    )

    records = instance.event_log_storage.get_asset_check_execution_history(
        key, limit=1, status=set(COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES)
    )
    record = records[0] if records else None
    evaluation = record.evaluation if record else None
    if record is None or evaluation is None or not hasattr(evaluation, "passed"):
        return CheckStatus(key.asset_key.to_user_string(), key.name, None, "", None, "")
    meta = evaluation.metadata
    parts = [f"{name}: {meta[name].value}" for name in ("failures", "detail") if name in meta]
    return CheckStatus(
        asset=key.asset_key.to_user_string(),
        name=key.name,
        passed=evaluation.passed,
        severity=str(getattr(evaluation.severity, "value", evaluation.severity)),
        at=datetime.fromtimestamp(record.create_timestamp, UTC),
        detail="; ".join(p for p in parts if not p.endswith(": ")),
    )


def read_status(
    instance: dg.DagsterInstance, defs: dg.Definitions, start: datetime, end: datetime
) -> tuple[list[AssetStatus], list[CheckStatus]]:
    """Every partitioned asset's and every check's status, sorted by key.

    Args:
        instance: the Dagster instance to read.
        defs: the code location (its assets, partitions and checks).
        start: first hour of the range (UTC, whole hour).
        end: end of the range, exclusive.
    """
    graph = defs.resolve_asset_graph()
    assets = []
    for key in sorted(graph.materializable_asset_keys, key=lambda k: k.to_user_string()):
        partitions_def = graph.get(key).partitions_def
        if partitions_def is not None:
            assets.append(asset_status(instance, key, partitions_def, start, end))
    checks = [
        check_status(instance, key)
        for key in sorted(graph.asset_check_keys, key=lambda k: (k.asset_key, k.name))
    ]
    return assets, checks
