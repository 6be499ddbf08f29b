"""Run the ``ingest_calls`` Dagster job in this process, for the CLI and the tests.

The CLI does not re-implement the job: it executes the very job the schedules launch, over a
partition range, with a logger that prints the assets' progress lines (one per window and per
analytics table) instead of Dagster's event stream.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import dagster as dg
from rich.console import Console

from pipeline import settings
from pipeline.defs.partitions import partition_ranges
from pipeline.defs.resources import CallsApiResource, WarehouseResource
from pipeline.defs.schedules import PROJECT_TAG, RANGE_END_TAG, RANGE_START_TAG


class _ProgressHandler(logging.Handler):
    """Prints user messages from the assets (no Dagster events) and every warning or error."""

    def __init__(self, console: Console) -> None:
        super().__init__(logging.DEBUG)  # Dagster logs check evaluations at DEBUG
        self._console = console

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        message = meta.get("orig_message") or record.getMessage()
        if event is not None and event.is_step_failure:
            error = event.step_failure_data.error
            cause = error.cause if error and error.cause else error
            detail = cause.message.strip() if cause else message
            self._console.print(f"{event.step_key} failed: {detail}", markup=False, soft_wrap=True)
            return
        if event is not None and event.event_type_value == "ASSET_CHECK_EVALUATION":
            self._check(event.asset_check_evaluation_data)
            return
        if (event is not None and record.levelno < logging.WARNING) or (
            record.levelno < logging.INFO
        ):
            return
        step = meta.get("step_key") or ""
        style = (
            "red"
            if record.levelno >= logging.ERROR
            else "yellow"
            if record.levelno >= logging.WARNING
            else ""
        )
        text = f"{step}: {message}" if step else message
        self._console.print(
            f"[{style}]{text}[/]" if style else text, markup=bool(style), soft_wrap=True
        )

    def _check(self, evaluation) -> None:  # a dagster AssetCheckEvaluation
        if evaluation.passed:
            return
        detail = evaluation.metadata.get("detail")
        failures = evaluation.metadata.get("failures")
        text = (
            f"check {evaluation.check_name} on {evaluation.asset_key.to_user_string()} failed"
            f"{f': {failures.value}' if failures else ''}"
            f"{f' ({detail.value})' if detail and detail.value else ''}"
        )
        severity = str(getattr(evaluation.severity, "value", evaluation.severity)).upper()
        style = "yellow" if severity == "WARN" else "red"
        self._console.print(text, style=style, markup=False, soft_wrap=True)


def progress_logger(console: Console) -> dg.LoggerDefinition:
    """A Dagster logger that prints progress to ``console``."""

    @dg.logger(None, description="Compact progress for the CLI")
    def _progress(_init_context: dg.InitLoggerContext) -> logging.Logger:
        log = logging.Logger("pipeline.progress", level=logging.DEBUG)
        log.addHandler(_ProgressHandler(console))
        return log

    return _progress


def run_ingest_job(
    start: datetime,
    end: datetime,
    *,
    db_path: str | Path,
    report_tz: str,
    console: Console,
    analytics: bool = True,
    sinch: CallsApiResource | None = None,
) -> bool:
    """Execute ``ingest_calls`` in-process over the hourly partitions of ``[start, end)``.

    With a projects file (``CALLS_PROJECTS_FILE``), one execution per project, in file order;
    every project runs even when an earlier one failed.

    Args:
        start: first hour (UTC, whole hour).
        end: end hour, exclusive.
        db_path: the warehouse file (ignored when ``CALLS_LAKE_URI`` sets a lake).
        report_tz: IANA zone of the daily tables.
        console: where progress goes.
        analytics: also build the analytics tables (else only ``raw.*``).
        sinch: the API resource (default: from the environment).

    Returns:
        True when every step of every execution succeeded.
    """
    from pipeline.definitions import build_definitions
    from pipeline.defs.environment import calls_api_resource
    from pipeline.projects import configured_projects

    warehouse = WarehouseResource(
        path=str(db_path),
        report_tz=report_tz,
        memory_limit=settings.db_memory_limit(),
        lake_uri=settings.lake_uri(),
    )
    sinch = sinch or calls_api_resource(configured_projects())
    defs = build_definitions(
        sinch=sinch, warehouse=warehouse, loggers={"progress": progress_logger(console)}
    )
    job = defs.resolve_job_def("ingest_calls")
    partitions_def = defs.resolve_assets_def(dg.AssetKey(["raw", "calls"])).partitions_def
    assert partitions_def is not None
    success = True
    # Dispose of the instance here, in this thread: left to the garbage collector, its
    # in-memory SQLite storage may be finalized from a fetcher thread and complain.
    with dg.DagsterInstance.ephemeral() as instance:
        for part in partition_ranges(partitions_def, start, end):
            if part.project_id is not None:
                console.print(f"project {part.project_id}:", style="bold")
            result = job.execute_in_process(
                tags={RANGE_START_TAG: part.first, RANGE_END_TAG: part.last}
                | ({PROJECT_TAG: part.project_id} if part.project_id else {}),
                instance=instance,
                raise_on_error=False,
                run_config={"loggers": {"progress": {}}},
                asset_selection=None if analytics else [dg.AssetKey(["raw", "calls"])],
            )
            success = success and result.success
            if analytics and result.success:
                project_id = part.project_id or sinch.default_project_id()
                multi = part.project_id is not None
                success = (
                    refresh_stale(
                        defs, instance, warehouse, project_id, console, multi_project=multi
                    )
                    and success
                )
    return success


def refresh_stale(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    warehouse: WarehouseResource,
    project_id: str,
    console: Console,
    *,
    multi_project: bool,
) -> bool:
    """Run ``refresh_analytics`` over the project's hours marked stale, as the sensor would.

    A run refreshes only the buckets its hours own; later hours its calls occupy (and the
    local days they fall in) are marked in ``raw.stale_hours`` when already ingested. This
    refreshes them now, in hour order, so the CLI leaves no mark behind.

    Returns:
        True when every refresh succeeded (or nothing was marked).
    """
    from pipeline.defs.sensors import read_marks, stale_run_requests

    job = defs.resolve_job_def("refresh_analytics")
    success = True
    marks = read_marks(warehouse, [project_id])
    if marks:
        hours = len(marks[project_id][0])
        console.print(f"refreshing the analytics of {hours} later hours marked stale")
    for request in stale_run_requests(marks, multi_project):
        result = job.execute_in_process(
            tags=request.tags,
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"progress": {}}},
        )
        success = success and result.success
    return success
