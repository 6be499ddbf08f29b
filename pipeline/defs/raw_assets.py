"""The raw calls asset: hourly ``createTime`` windows from the API into ``raw.*``.

``raw.*`` is the DuckDB file, or the Delta tables under ``CALLS_LAKE_URI``
(:mod:`pipeline.warehouse.backend`).

:func:`build_raw_calls` makes the asset for a partitions definition (whose first hour comes
from ``CALLS_PARTITIONS_START``), so importing this module reads no setting.
"""

from collections.abc import Callable
from typing import Any, TypeVar

import dagster as dg

from pipeline.defs.partitions import RunScope, run_scopes
from pipeline.defs.resources import CallsApiResource, SandboxCallsResource, WarehouseResource
from pipeline.ingest.report import WINDOW_EXTRA, IngestReport, window_notes, window_progress
from pipeline.ingest.runner import ingest_windows
from pipeline.projects import Project

#: One run per week of hours during a backfill: a month is ~5 runs, not 720, and each run
#: streams its windows page by page (memory is bounded by pages, not by the range).
#: ``CALLS_BACKFILL_HOURS_PER_RUN`` changes it (the distributed deploy: 1, a run per hour).
BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=168)

#: Only one step at a time may write the DuckDB file, across runs (``dagster.yaml`` sets the
#: pool's limit to 1). HTTP fetching happens inside the step, concurrently per window.
WRITER_POOL = "duckdb_writer"


def writer_pools(lake_uri: str | None) -> tuple[str | None, str | None]:
    """The pools of ``raw/calls`` and of the analytics assets for a warehouse.

    Args:
        lake_uri: the warehouse's Delta lake root, or None for the DuckDB file.

    Returns:
        ``(raw_pool, analytics_pool)``: both :data:`WRITER_POOL` for the DuckDB file (one
        writer); no pool over the Delta lake, where runs of different hours write at once:
        each replaces its own windows, and each analytics refresh its own buckets
        (:mod:`pipeline.warehouse.ownership`).
    """
    if lake_uri is None:
        return WRITER_POOL, WRITER_POOL
    return None, None


RAW_CALLS_DESCRIPTION = (
    "One row per call (latest version) from GET /v1/projects/{projectId}/calls, fetched in "
    "hourly createTime windows; also raw.rejected_calls, raw.ingest_ledger and raw.trunks."
)


def build_raw_calls(
    partitions_def: dg.PartitionsDefinition,
    projects: list[Project] | None = None,
    pool: str | None = WRITER_POOL,
    backfill_policy: dg.BackfillPolicy = BACKFILL_POLICY,
) -> dg.AssetsDefinition:
    """The ``raw/calls`` asset over ``partitions_def``.

    Args:
        partitions_def: hourly UTC partitions, or project × hour partitions for ``projects``
            (:func:`pipeline.defs.partitions.ingestion_partitions`).
        projects: the projects of the projects file, or None for one project.
        pool: the Dagster pool its step runs in (:func:`writer_pools`); None: no pool.
        backfill_policy: how many hours a backfill puts in one run.

    Returns:
        The asset; it needs the resources ``sinch`` (:class:`CallsApiResource`) and
        ``warehouse`` (:class:`WarehouseResource`), and runs :func:`land_calls`.
    """

    @dg.asset(
        key=["raw", "calls"],
        partitions_def=partitions_def,
        backfill_policy=backfill_policy,
        pool=pool,
        group_name="raw",
        kinds={"api", "duckdb"},
        description=RAW_CALLS_DESCRIPTION,
    )
    def raw_calls(
        context: dg.AssetExecutionContext, sinch: CallsApiResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult[Any]:
        """Land every call of the run's hours in ``raw.calls`` (see :func:`land_calls`)."""
        return land_calls(context, sinch, warehouse, projects)

    return raw_calls


def land_calls(
    context: dg.AssetExecutionContext,
    sinch: CallsApiResource,
    warehouse: WarehouseResource,
    projects: list[Project] | None = None,
) -> dg.MaterializeResult[Any]:
    """Land every call of the run's hours in ``raw.calls`` (grain: one row per project and id).

    Each hour is swept page by page (1000 a page), parsed, and replaced as a whole in one
    transaction, so re-running a partition ends in the same table. Unparseable records go to
    ``raw.rejected_calls`` with their reason; each window fetch appends to ``raw.ingest_ledger``.
    With many projects each project's hours are fetched with its own client (key, rate
    limit); a project that fails does not stop the others, and the step fails at the end
    with the first error (every error is logged).
    """
    scopes = run_scopes(context, projects)
    if isinstance(sinch, SandboxCallsResource):
        context.log.info("No Sinch credentials set: fetching from the embedded sandbox.")
    reports = each_project(
        context,
        scopes,
        lambda scope: _land_project(context, sinch, warehouse, scope, len(scopes) > 1),
    )
    committed = [e for report in reports for e in report.committed]
    new_fields = sorted({f for e in committed for f in e.fetch.new_fields})
    if new_fields:
        context.log.warning(f"the API sent call fields this client does not know: {new_fields}")
    spans = [span for scope in scopes for span in scope.spans]
    return dg.MaterializeResult(
        metadata={
            "window_start": min(s.start for s in spans).isoformat(),
            "window_end": max(s.end for s in spans).isoformat(),
            "projects": ", ".join(_name(scope) for scope in scopes),
            "windows": len(committed),
            "calls": sum(r.records for r in reports),
            "rejected": sum(r.rejected for r in reports),
            "pages": sum(r.pages for r in reports),
            "requests": sum(r.attempts for r in reports),
            "unsettled_windows": sum(not e.settled for e in committed),
            "new_fields": ", ".join(new_fields) or "none",
            "trunks": sum(r.trunks or 0 for r in reports),
        }
    )


T = TypeVar("T")


def each_project(
    context: dg.AssetExecutionContext, scopes: list[RunScope], land: Callable[[RunScope], T]
) -> list[T]:
    """``land(scope)`` for every project of the run, in order; every project gets its turn.

    Returns:
        The results, in scope order.

    Raises:
        Exception: the first error of a project, after every project ran (each error is
            logged with its project); with one project, its error at once.
    """
    results: list[T] = []
    errors: list[Exception] = []
    for scope in scopes:
        try:
            results.append(land(scope))
        except Exception as exc:
            if len(scopes) == 1:
                raise
            context.log.error(f"project {_name(scope)}: {exc}")
            errors.append(exc)
    if errors:
        raise errors[0]
    return results


def _name(scope: RunScope) -> str:
    return scope.project.display_name if scope.project else "(the configured project)"


def _land_project(
    context: dg.AssetExecutionContext,
    sinch: CallsApiResource,
    warehouse: WarehouseResource,
    scope: RunScope,
    named: bool,
) -> IngestReport:
    """Ingest one project's hours of the run; progress lines name the project if ``named``."""
    prefix = f"{_name(scope)} " if named else ""

    def progress(entry, done: int, total: int) -> None:  # type: ignore[no-untyped-def]
        notes = window_notes(entry)
        context.log.info(
            f"[{done}/{total}] {prefix}{entry.window.start:%Y-%m-%d %H:%M}Z: "
            f"{entry.records} calls, {entry.rejected} rejected, {entry.fetch.pages} pages, "
            f"totalItems={entry.api_total_items}" + (f" ({notes})" if notes else ""),
            extra={WINDOW_EXTRA: window_progress(entry)},
        )

    with sinch.open_client(scope.project) as client:
        return ingest_windows(
            client,
            warehouse.backend(),
            scope.windows,
            concurrency=sinch.concurrency,
            run_id=context.run.run_id,
            progress=progress,
        )
