"""The analytics tables: one Dagster asset per ``analytics.*`` table, refreshed together.

They are hourly-partitioned like ``raw/calls`` (same keys, identity dependency): materializing
hours ``[ws, we)`` rebuilds exactly the buckets those raw hours touch (see
:mod:`pipeline.warehouse.analytics`), so a re-ingested hour refreshes its analytics rows.
"""

import dagster as dg

from pipeline.defs.raw_assets import BACKFILL_POLICY, HOURLY, WRITER_POOL, window_of
from pipeline.defs.resources import WarehouseResource
from pipeline.transforms import ANALYTICS_TABLES
from pipeline.warehouse.analytics import refresh_all
from pipeline.warehouse.connection import connect

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


@dg.multi_asset(
    specs=[_spec(name) for name in ANALYTICS_TABLES],
    partitions_def=HOURLY,
    backfill_policy=BACKFILL_POLICY,
    pool=WRITER_POOL,
    name="analytics_tables",
)
def analytics_tables(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Rebuild the analytics buckets touched by the run's raw hours, all tables in one pass."""
    span = window_of(context)
    with connect(warehouse.path) as con:
        refreshed = refresh_all(con, span.start, span.end, warehouse.report_tz)
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


ANALYTICS_ASSETS = [analytics_tables]
