"""The analytics tables: one Dagster asset per ``analytics.*`` table, refreshed together.

They are hourly-partitioned like ``raw/calls`` (same keys, identity dependency): materializing
hours ``[ws, we)`` rebuilds exactly the buckets those raw hours touch (see
:mod:`pipeline.warehouse.analytics`), so a re-ingested hour refreshes its analytics rows.
:func:`build_analytics_assets` makes them for the partitions definition of ``raw/calls``.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from pipeline.defs.raw_assets import BACKFILL_POLICY, WRITER_POOL, window_of
from pipeline.defs.resources import WarehouseResource
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
    pool: str | None = WRITER_POOL,
    backfill_policy: dg.BackfillPolicy = BACKFILL_POLICY,
) -> list[dg.AssetsDefinition]:
    """The ``analytics/*`` assets (one multi-asset, a key per table) over ``partitions_def``.

    Args:
        partitions_def: the partitions of ``raw/calls`` (hourly, UTC; identity dependency).
        pool: the Dagster pool of its step (:func:`~pipeline.defs.raw_assets.writer_pools`).
        backfill_policy: how many hours a backfill puts in one run (as ``raw/calls``).

    Returns:
        One multi-asset; it needs the resource ``warehouse`` and runs :func:`refresh_tables`.
    """

    @dg.multi_asset(
        specs=[_spec(name) for name in ANALYTICS_TABLES],
        partitions_def=partitions_def,
        backfill_policy=backfill_policy,
        pool=pool,
        name="analytics_tables",
    )
    def analytics_tables(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.MaterializeResult[Any]]:
        """Rebuild the analytics buckets touched by the run's raw hours, all tables in one pass."""
        yield from refresh_tables(context, warehouse)

    return [analytics_tables]


def refresh_tables(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> Iterator[dg.MaterializeResult[Any]]:
    """Rebuild the analytics buckets touched by the run's raw hours, all tables in one pass.

    Yields:
        One result per ``analytics.*`` table, with ``rows_written`` and ``report_tz``.
    """
    span = window_of(context)
    refreshed = warehouse.backend().refresh_analytics(span.start, span.end, warehouse.report_tz)
    for result in refreshed:
        context.log.info(
            f"analytics.{result.table}: {result.rows} rows for buckets "
            f"[{result.first_bucket}, {result.end_bucket})"
        )
    rows: dict[str, int] = {}
    for result in refreshed:
        rows[result.table] = rows.get(result.table, 0) + result.rows
    for name in ANALYTICS_TABLES:
        yield dg.MaterializeResult(
            asset_key=["analytics", name],
            metadata={"rows_written": rows.get(name, 0), "report_tz": warehouse.report_tz},
        )
