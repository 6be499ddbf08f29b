"""The Dagster code location: assembles ``Definitions`` from ``pipeline/defs`` only.

``dagster dev`` and ``dagster definitions validate`` load this module (``[tool.dagster]`` in
``pyproject.toml``) and call :func:`defs`, decorated with ``dg.definitions``: importing the
module reads no setting and builds no resource; the environment is read when Dagster loads the
code location. The ``pipeline`` command and the tests call :func:`build_definitions` with
their own resources.
"""

from __future__ import annotations

import dagster as dg

from pipeline.alerts.config import configured_alerts
from pipeline.defs.alerts import build_alert_checks, build_alert_sensor
from pipeline.defs.analytics_assets import build_analytics_assets
from pipeline.defs.checks import audit_job, build_raw_calls_checks
from pipeline.defs.details_assets import build_raw_call_details
from pipeline.defs.environment import (
    backfill_policy,
    calls_api_resource,
    lookback_hours,
    run_executor,
    warehouse_resource,
)
from pipeline.defs.partitions import ingestion_partitions
from pipeline.defs.raw_assets import build_raw_calls, writer_pools
from pipeline.defs.resources import CallsApiResource, WarehouseResource
from pipeline.defs.schedules import build_audit_schedule, build_schedules, ingest_calls_job
from pipeline.defs.sensors import build_stale_analytics_sensor, refresh_analytics_job
from pipeline.projects import configured_projects


def build_definitions(
    sinch: CallsApiResource | None = None,
    warehouse: WarehouseResource | None = None,
    loggers: dict[str, dg.LoggerDefinition] | None = None,
) -> dg.Definitions:
    """All assets, checks, the jobs, schedules and sensors, with their resources.

    Reads ``CALLS_PARTITIONS_START``, ``CALLS_LOOKBACK_HOURS``, ``CALLS_PROJECTS_FILE``
    (project × hour partitions when set), ``CALLS_ALERTS_FILE`` and the ``ALERT_*`` channels
    (:mod:`pipeline.defs.alerts`), ``CALLS_RUN_EXECUTOR`` and
    ``CALLS_BACKFILL_HOURS_PER_RUN``, and the resources' settings for each resource not given
    (:mod:`pipeline.defs.environment`). The writing assets' pools follow the warehouse: one
    writer for the DuckDB file, parallel ``raw/calls`` steps over a lake
    (:func:`pipeline.defs.raw_assets.writer_pools`).

    Args:
        sinch: the calls API resource (default: from the environment, sandbox without
            credentials).
        warehouse: the warehouse resource (default: ``CALLS_DB_PATH``, ``REPORT_TZ``).
        loggers: Dagster loggers replacing the default console logger (the CLI's progress).

    Returns:
        The code location's definitions.

    Raises:
        SettingsError: a setting it reads has a value the product cannot use.
    """
    projects = configured_projects()
    partitions = ingestion_partitions(projects)
    warehouse = warehouse or warehouse_resource()
    raw_pool, analytics_pool = writer_pools(warehouse.lake_uri)
    policy = backfill_policy()
    return dg.Definitions(
        assets=[
            build_raw_calls(partitions, projects, raw_pool, policy),
            build_raw_call_details(partitions, projects, raw_pool, policy),
            *build_analytics_assets(partitions, projects, analytics_pool, policy),
        ],
        asset_checks=[
            *build_raw_calls_checks(partitions),
            *build_alert_checks(configured_alerts(), projects, partitions),
        ],
        jobs=[ingest_calls_job, refresh_analytics_job, audit_job],
        schedules=[*build_schedules(lookback_hours(), partitions), build_audit_schedule()],
        sensors=[build_stale_analytics_sensor(projects), build_alert_sensor()],
        resources={
            "sinch": sinch or calls_api_resource(projects),
            "warehouse": warehouse,
        },
        loggers=loggers,
        executor=run_executor(),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Build the code location as ``dagster dev`` loads it.

    This is :func:`build_definitions` without arguments: settings and resources come from the
    environment (and ``./.env``, which Dagster reads itself).

    Raises:
        SettingsError: a setting has a value the product cannot use.
    """
    return build_definitions()
