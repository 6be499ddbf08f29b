"""Which API and which warehouse the code location uses, decided from the environment once.

With ``SINCH_PROJECT_ID``, ``SINCH_KEY_ID`` and ``SINCH_KEY_SECRET`` set, the assets talk to
Sinch (secrets bound with ``dg.EnvVar``: resolved at launch, never shown in the UI). Without
them, they talk to the embedded sandbox, so a fresh checkout works offline. A projects file
(``CALLS_PROJECTS_FILE``, :mod:`pipeline.projects`) replaces the three: each project's key is
read from the variables the file names when its run opens a client.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from pipeline import settings
from pipeline.defs.raw_assets import BACKFILL_POLICY
from pipeline.defs.resources import (
    CallsApiResource,
    SandboxCallsResource,
    SinchCallsResource,
    WarehouseResource,
)
from pipeline.projects import Project


def calls_api_resource(projects: list[Project] | None = None) -> CallsApiResource:
    """The real API when credentials are set, else the embedded sandbox.

    Args:
        projects: the projects of the projects file, or None. With a file, its projects
            decide: they all name key variables (the real API; each run reads its project's
            key) or none does (the sandbox); ``SINCH_PROJECT_ID``/``KEY_*`` are not used.

    Raises:
        SettingsError: incomplete credentials, an unknown ``SINCH_AUTH``, or a bad number.
    """
    concurrency = settings.fetch_concurrency()
    real = projects[0].uses_real_api if projects else settings.uses_real_api()
    if not real:
        return SandboxCallsResource(
            seed=settings.sandbox_seed(),
            concurrency=concurrency,
            page_size=settings.page_size(),
            export=settings.calls_export(),
        )
    mode = settings.auth_mode()
    credentials: dict[str, Any] = (
        {}
        if projects
        else {
            "project_id": dg.EnvVar("SINCH_PROJECT_ID"),
            "key_id": dg.EnvVar("SINCH_KEY_ID"),
            "key_secret": dg.EnvVar("SINCH_KEY_SECRET"),
        }
    )
    store = settings.env(settings.RATE_LIMIT_STORE_VAR, "")
    if store:
        credentials["rate_limit_store"] = dg.EnvVar(settings.RATE_LIMIT_STORE_VAR)
    return SinchCallsResource(
        **credentials,
        auth=mode,
        api_url=settings.http_url("SINCH_API_URL", settings.DEFAULT_API_URL),
        auth_url=settings.http_url("SINCH_AUTH_URL", settings.DEFAULT_AUTH_URL),
        rate_limit_per_s=settings.rate_limit(mode),
        concurrency=concurrency,
        max_result_window=settings.max_result_window(),
        page_size=settings.page_size(),
        export=settings.calls_export(),
    )


def warehouse_resource() -> WarehouseResource:
    """The DuckDB file (``CALLS_DB_PATH``) or lake (``CALLS_LAKE_URI``), report zone, memory."""
    return WarehouseResource(
        path=settings.db_path(),
        report_tz=settings.report_tz(),
        memory_limit=settings.db_memory_limit(),
        lake_uri=settings.lake_uri(),
    )


def lookback_hours() -> int:
    """Closed hours the hourly schedule re-ingests (``CALLS_LOOKBACK_HOURS``, default 3)."""
    raw = settings.env("CALLS_LOOKBACK_HOURS", str(settings.DEFAULT_LOOKBACK_HOURS))
    if not raw.isdigit():
        msg = f"CALLS_LOOKBACK_HOURS must be a whole number of hours >= 0, not {raw!r}"
        raise settings.SettingsError(msg)
    return int(raw)


#: ``CALLS_RUN_EXECUTOR`` values and the executors they choose for every job of the location.
RUN_EXECUTORS = {"in_process": dg.in_process_executor, "multiprocess": dg.multiprocess_executor}


def run_executor() -> dg.ExecutorDefinition:
    """The code location's executor from ``CALLS_RUN_EXECUTOR`` (default ``in_process``).

    Every job of the location, so the runs and asset backfills launched from ``dagster dev``
    too, runs its steps in the run's own process, like the ``pipeline`` command: one process
    writes the DuckDB file, and the writing steps still take turns in the ``duckdb_writer``
    pool across runs. The distributed deploy (docs/deploy.md#running-distributed) needs it as
    well: a Celery worker runs each run in a daemonic process, which cannot start the
    multiprocess executor's children. ``multiprocess`` (a process per step) remains available.

    Raises:
        SettingsError: any other value.
    """
    raw = settings.env("CALLS_RUN_EXECUTOR", "") or "in_process"
    if raw not in RUN_EXECUTORS:
        msg = f"CALLS_RUN_EXECUTOR must be one of {', '.join(RUN_EXECUTORS)}, not {raw!r}"
        raise settings.SettingsError(msg)
    return RUN_EXECUTORS[raw]


def backfill_policy() -> dg.BackfillPolicy:
    """Hours per backfill run from ``CALLS_BACKFILL_HOURS_PER_RUN`` (default 168, a week).

    The distributed deploy sets 1: a backfill becomes one run per hour, spread over the Celery
    workers (docs/deploy.md#running-distributed).

    Raises:
        SettingsError: not a whole number >= 1.
    """
    raw = settings.env("CALLS_BACKFILL_HOURS_PER_RUN", "")
    if not raw:
        return BACKFILL_POLICY
    if not raw.isdigit() or int(raw) < 1:
        msg = f"CALLS_BACKFILL_HOURS_PER_RUN must be a whole number of hours >= 1, not {raw!r}"
        raise settings.SettingsError(msg)
    return dg.BackfillPolicy.multi_run(max_partitions_per_run=int(raw))
