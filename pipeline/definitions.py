"""The Dagster code location: assembles ``Definitions`` from ``pipeline/defs`` only.

``dagster dev`` (from the repository root) loads this module (see ``[tool.dg]`` in
``pyproject.toml`` and ``workspace`` defaults).
"""

from __future__ import annotations

import dagster as dg

from pipeline.defs.analytics_assets import ANALYTICS_ASSETS
from pipeline.defs.checks import RAW_CALLS_CHECKS
from pipeline.defs.environment import calls_api_resource, lookback_hours, warehouse_resource
from pipeline.defs.raw_assets import raw_calls
from pipeline.defs.schedules import build_schedules, ingest_calls_job


def build_definitions(
    sinch: dg.ConfigurableResource | None = None,
    warehouse: dg.ConfigurableResource | None = None,
    loggers: dict[str, dg.LoggerDefinition] | None = None,
) -> dg.Definitions:
    """All assets, checks, the ingestion job and its schedules, with their resources.

    Args:
        sinch: the calls API resource (default: from the environment, sandbox without
            credentials).
        warehouse: the warehouse resource (default: ``CALLS_DB_PATH``, ``REPORT_TZ``).
        loggers: Dagster loggers replacing the default console logger (the CLI's progress).
    """
    return dg.Definitions(
        assets=[raw_calls, *ANALYTICS_ASSETS],
        asset_checks=RAW_CALLS_CHECKS,
        jobs=[ingest_calls_job],
        schedules=build_schedules(lookback_hours()),
        resources={
            "sinch": sinch or calls_api_resource(),
            "warehouse": warehouse or warehouse_resource(),
        },
        loggers=loggers,
    )


defs = build_definitions()
