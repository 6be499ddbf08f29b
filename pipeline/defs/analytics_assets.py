"""The analytics tables: one Dagster asset per ``analytics.*`` table, refreshed together.

They are hourly-partitioned like ``raw/calls`` (same keys, identity dependency): materializing
hours ``[ws, we)`` rebuilds exactly the buckets those raw hours touch (see
:mod:`pipeline.warehouse.analytics`), so a re-ingested hour refreshes its analytics rows.
:func:`build_analytics_assets` makes them for the partitions definition of ``raw/calls``.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from pipeline.defs.partitions import run_scopes
from pipeline.defs.raw_assets import BACKFILL_POLICY, WRITER_POOL
from pipeline.defs.resources import CallsApiResource, WarehouseResource
from pipeline.projects import Project
from pipeline.transforms import ANALYTICS_TABLES

RAW_CALLS = dg.AssetKey(["raw", "calls"])

_GRAIN = {"hour": "one row per UTC hour", "day": "one row per local day (report time zone)"}


def _spec(name: str) -> dg.AssetSpec:
    table = ANALYTICS_TABLES[name]
    return dg.AssetSpec(
        key=["analytics", name],
        deps=[RAW_CALLS],
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
            identity dependency).
        projects: the projects of the projects file, or None for one project.
        pool: the Dagster pool of its step (:func:`~pipeline.defs.raw_assets.writer_pools`).
        backfill_policy: how many hours a backfill puts in one run (as ``raw/calls``).

    Returns:
        One multi-asset; it needs the resources ``warehouse`` and ``sinch`` (which names the
        project without a projects file) and runs :func:`refresh_tables`.
    """

    @dg.multi_asset(
        specs=[_spec(name) for name in ANALYTICS_TABLES],
        partitions_def=partitions_def,
        backfill_policy=backfill_policy,
        pool=pool,
        name="analytics_tables",
    )
    def analytics_tables(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, sinch: CallsApiResource
    ) -> Iterator[dg.MaterializeResult[Any]]:
        """Rebuild the analytics buckets touched by the run's raw hours, all tables in one pass."""
        yield from refresh_tables(context, warehouse, sinch, projects)

    return [analytics_tables]


def refresh_tables(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    sinch: CallsApiResource,
    projects: list[Project] | None = None,
) -> Iterator[dg.MaterializeResult[Any]]:
    """Rebuild the analytics buckets touched by the run's raw hours, all tables in one pass.

    Each project of the run is refreshed on its own rows (its spans of hours in turn).

    Yields:
        One result per ``analytics.*`` table, with ``rows_written`` and ``report_tz``.
    """
    backend = warehouse.backend()
    rows: dict[str, int] = {}
    for scope in run_scopes(context, projects):
        project_id = scope.project.id if scope.project else sinch.default_project_id()
        prefix = (
            f"{scope.project.display_name}: " if scope.project and len(projects or []) > 1 else ""
        )
        for span in scope.spans:
            refreshed = backend.refresh_analytics(
                span.start, span.end, warehouse.report_tz, project_id
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
