"""Asset checks on ``raw.calls`` and ``raw.call_details``: the promises of the ingestion.

A check in a partitioned run reads the run's hours only: per project, each span of the run's
hourly windows (:func:`check_scopes`, from the run's partition key or key range, as the
``alert_rules`` check reads it), so the hourly tick does not grow with the table's history.
``unique_call_ids`` still looks the run's ids up in the whole table. Damage outside a run's
hours (rows written by hand, a restored file) is found by a check run without partitions: from
the UI, the ``audit_raw_calls`` job of the weekly ``full_audit`` schedule, or ``pipeline
audit``, which read every window.

The checks are plain asset checks, not partitioned ones (Dagster 1.13's ``partitions_def`` on
``@asset_check``): a partitioned check would record a result per hour and change what ``pipeline
status`` and the UI show; the SQL and its scoping live in :mod:`pipeline.warehouse.checks`.
"""

from collections import defaultdict
from datetime import UTC, datetime

import dagster as dg

from pipeline.defs.partitions import HOUR_DIMENSION, PARTITION_FORMAT, PROJECT_DIMENSION, _spans
from pipeline.defs.resources import WarehouseResource
from pipeline.warehouse.checks import (
    CHECKS,
    CHECKS_DIR,
    EVERYTHING,
    CheckScope,
    CheckSpec,
    run_checks,
)

__all__ = ["CHECKS_DIR", "RAW_CALLS", "RAW_CALLS_CHECKS", "audit_job", "check_scopes"]

RAW_CALLS = dg.AssetKey(["raw", "calls"])
RAW_CALL_DETAILS = dg.AssetKey(["raw", "call_details"])


def check_scopes(
    context: dg.AssetCheckExecutionContext, partitions_def: dg.PartitionsDefinition | None
) -> list[CheckScope]:
    """The windows the run wrote, per project and span of hours; everything without partitions.

    Args:
        context: the check's context (its run may target a partition or a range of them).
        partitions_def: the assets' partitions, to read project × hour keys; None (or hourly):
            one span of hours, every project (the file holds one).
    """
    # a range run (the schedules, backfills) or a one-partition run (the UI, a backfill of one
    # hour per run): Dagster tags them differently
    if not (context.has_partition_key_range or context.has_partition_key):
        return [EVERYTHING]
    if not isinstance(partitions_def, dg.MultiPartitionsDefinition):
        window = context.partition_time_window
        return [CheckScope(window.start, window.end)]
    hours: dict[str, list[datetime]] = defaultdict(list)
    for key in context.partition_keys:
        dims = partitions_def.get_partition_key_from_str(key).keys_by_dimension
        hour = datetime.strptime(dims[HOUR_DIMENSION], PARTITION_FORMAT).replace(tzinfo=UTC)
        hours[dims[PROJECT_DIMENSION]].append(hour)
    return [
        CheckScope(span.start, span.end, project_id)
        for project_id in sorted(hours)
        for span in _spans(hours[project_id])
    ]


def _severity(spec: CheckSpec) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.WARN if spec.severity == "WARN" else dg.AssetCheckSeverity.ERROR


def _check(
    spec: CheckSpec, partitions_def: dg.PartitionsDefinition | None
) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(list(spec.asset)),
        name=spec.name,
        description=spec.description,
        blocking=spec.blocking,
    )
    def _asset_check(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> dg.AssetCheckResult:
        scopes = check_scopes(context, partitions_def)
        (outcome,) = run_checks(
            warehouse.backend(), scopes, memory_limit=warehouse.memory_limit, names=[spec.name]
        )
        return dg.AssetCheckResult(
            passed=outcome.passed,
            severity=_severity(spec),
            metadata={
                "failures": outcome.failures,
                "detail": outcome.detail,
                "scope": "; ".join(scope.label() for scope in scopes),
            },
        )

    return _asset_check


def build_raw_calls_checks(
    partitions_def: dg.PartitionsDefinition | None = None,
) -> list[dg.AssetChecksDefinition]:
    """The checks of :data:`pipeline.warehouse.checks.CHECKS` on ``raw/calls``.

    Args:
        partitions_def: the assets' partitions (project × hour with a projects file).
    """
    return [_check(spec, partitions_def) for spec in CHECKS]


#: The checks over hourly partitions (one project); tests and tools that need no projects file.
RAW_CALLS_CHECKS = build_raw_calls_checks()

#: Runs the ``raw/calls`` checks alone, unpartitioned: over every window (the weekly audit).
audit_job = dg.define_asset_job(
    "audit_raw_calls",
    selection=dg.AssetSelection.checks_for_assets(RAW_CALLS, RAW_CALL_DETAILS),
    executor_def=dg.in_process_executor,
    description="Every raw check over the whole warehouse (as `pipeline audit`).",
)
