"""The analytics tables: one Dagster asset per ``analytics.*`` table, refreshed together.

They are partitioned like ``raw/calls`` (same keys). Materializing hours ``[ws, we)`` rebuilds
the buckets those hours own: the hours themselves and the local days ending in them (see
:mod:`pipeline.warehouse.ownership`), so runs of different hours never write the same rows.
An hour's buckets read raw calls from up to 49 hours before it (a day's first hour, and 24 h
of channel occupancy before that): the dependency on ``raw/calls`` is that partition mapping,
so a backfill refreshes an hour once the raw hours it reads have landed. Buckets owned by
later hours that a re-ingest changed are marked stale and refreshed by
:func:`stale_analytics_sensor` (or, from the CLI, by :mod:`pipeline.jobs`).
:func:`build_analytics_assets` makes them for the partitions definition of ``raw/calls``.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from pipeline.defs.partitions import HOUR_DIMENSION, PROJECT_DIMENSION, run_scopes
from pipeline.defs.raw_assets import BACKFILL_POLICY, WRITER_POOL
from pipeline.defs.resources import CallsApiResource, WarehouseResource
from pipeline.defs.sensors import REFRESH_JOB
from pipeline.projects import Project
from pipeline.transforms import ANALYTICS_TABLES
from pipeline.warehouse.ownership import OWNER_LOOKBACK_HOURS

RAW_CALLS = dg.AssetKey(["raw", "calls"])

_GRAIN = {"hour": "one row per UTC hour", "day": "one row per local day (report time zone)"}


def raw_dependency(partitions_def: dg.PartitionsDefinition) -> dg.AssetDep:
    """``raw/calls`` hours ``[h - 49 h, h]`` of the same project for analytics hour ``h``."""
    hours = dg.TimeWindowPartitionMapping(start_offset=-OWNER_LOOKBACK_HOURS, end_offset=0)
    mapping: dg.PartitionMapping = hours
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        mapping = dg.MultiPartitionMapping(
            {
                HOUR_DIMENSION: dg.DimensionPartitionMapping(HOUR_DIMENSION, hours),
                PROJECT_DIMENSION: dg.DimensionPartitionMapping(
                    PROJECT_DIMENSION, dg.IdentityPartitionMapping()
                ),
            }
        )
    return dg.AssetDep(RAW_CALLS, partition_mapping=mapping)


def _spec(name: str, partitions_def: dg.PartitionsDefinition) -> dg.AssetSpec:
    table = ANALYTICS_TABLES[name]
    return dg.AssetSpec(
        key=["analytics", name],
        deps=[raw_dependency(partitions_def)],
        group_name="analytics",
        kinds={"polars", "duckdb"},
        description=(
            f"analytics.{name}: {_GRAIN[table.grain]}, key ({', '.join(table.keys)}). "
            "Columns documented in sql/schema/analytics.sql."
        ),
        skippable=False,
    )


def build_analytics_assets(
    partitions_def: dg.PartitionsDefinition,
    projects: list[Project] | None = None,
    pool: str | None = WRITER_POOL,
    backfill_policy: dg.BackfillPolicy = BACKFILL_POLICY,
) -> list[dg.AssetsDefinition]:
    """The ``analytics/*`` assets (one multi-asset, a key per table) over ``partitions_def``.

    Args:
        partitions_def: the partitions of ``raw/calls`` (hourly UTC, or project × hour;
            :func:`raw_dependency`).
        projects: the projects of the projects file, or None for one project.
        pool: the Dagster pool of its step (:func:`~pipeline.defs.raw_assets.writer_pools`).
        backfill_policy: how many hours a backfill puts in one run (as ``raw/calls``).

    Returns:
        One multi-asset; it needs the resources ``warehouse`` and ``sinch`` (which names the
        project without a projects file) and runs :func:`refresh_tables`.
    """

    @dg.multi_asset(
        specs=[_spec(name, partitions_def) for name in ANALYTICS_TABLES],
        partitions_def=partitions_def,
        backfill_policy=backfill_policy,
        pool=pool,
        name="analytics_tables",
    )
    def analytics_tables(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, sinch: CallsApiResource
    ) -> Iterator[dg.MaterializeResult[Any]]:
        """Rebuild the analytics buckets the run's hours own, all tables in one pass."""
        yield from refresh_tables(context, warehouse, sinch, projects)

    return [analytics_tables]


def refresh_tables(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    sinch: CallsApiResource,
    projects: list[Project] | None = None,
) -> Iterator[dg.MaterializeResult[Any]]:
    """Rebuild the analytics buckets the run's hours own, all tables in one pass.

    Each project of the run is refreshed on its own rows (its spans of hours in turn).

    Yields:
        One result per ``analytics.*`` table, with ``rows_written`` and ``report_tz``.
    """
    backend = warehouse.backend()
    # Raw hours of this run changed only if the run also materialized raw/calls: then the
    # buckets of later hours their calls occupy get marked for a refresh.
    selection = context.run.asset_selection  # empty: every asset of the run's job
    raw_changed = context.run.job_name != REFRESH_JOB and (not selection or RAW_CALLS in selection)
    rows: dict[str, int] = {}
    for scope in run_scopes(context, projects):
        project_id = scope.project.id if scope.project else sinch.default_project_id()
        prefix = (
            f"{scope.project.display_name}: " if scope.project and len(projects or []) > 1 else ""
        )
        for span in scope.spans:
            refreshed = backend.refresh_analytics(
                span.start, span.end, warehouse.report_tz, project_id, raw_changed=raw_changed
            )
            for result in refreshed:
                context.log.info(
                    f"{prefix}analytics.{result.table}: {result.rows} rows for buckets "
                    f"[{result.first_bucket}, {result.end_bucket})"
                )
                rows[result.table] = rows.get(result.table, 0) + result.rows
    for name in ANALYTICS_TABLES:
        yield dg.MaterializeResult(
            asset_key=["analytics", name],
            metadata={"rows_written": rows.get(name, 0), "report_tz": warehouse.report_tz},
        )
