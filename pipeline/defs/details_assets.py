"""The call-details asset: ``/calls/export`` (CSV) in hourly windows into ``raw.call_details``.

Partitioned, pooled and backfilled exactly like ``raw/calls``
(:func:`pipeline.defs.raw_assets.build_raw_calls`), after it in a run (so its closing line can
say how many of the hours' calls got details). The calls never depend on it: when the export
answers 403/404 or ``CALLS_EXPORT=off``, the asset records its windows ``unavailable`` in
``raw.details_ledger`` with the reason, says so in its metadata and a warning, and succeeds.
Any other error (5xx after retries, a hostile body, a page that never ends) fails the step
after the other windows landed, naming each failed window.
"""

from typing import Any

import dagster as dg

from pipeline.defs.partitions import RunScope, run_scopes
from pipeline.defs.raw_assets import BACKFILL_POLICY, WRITER_POOL, each_project
from pipeline.defs.resources import CallsApiResource, WarehouseResource
from pipeline.ingest.details import DetailsReport, ingest_details, record_export_off
from pipeline.ingest.report import DETAILS_EXTRA
from pipeline.projects import Project
from pipeline.warehouse.backend import Warehouse
from pipeline.warehouse.raw_call_details import (
    DetailsEntry,
    details_coverage,
    known_window_calls,
)

RAW_CALL_DETAILS_DESCRIPTION = (
    "SIP response and Q.850 cause codes, MOS, region, countries and call grouping per call "
    "from GET /v1/projects/{projectId}/calls/export (CSV), in the hourly createTime windows of "
    "raw/calls; also raw.rejected_call_details and raw.details_ledger. 403/404 or "
    "CALLS_EXPORT=off: recorded 'unavailable', never failing the calls."
)


#: Step priority (Dagster's ``dagster/priority`` tag): among the steps ready after
#: ``raw/calls`` the details go first, so a run's analytics (in-process) read its hours'
#: details. The analytics do not depend on this asset (an export outage must not hold back the
#: calls' KPIs); the details commit marks its hours stale, and a refresh that did not read them
#: leaves the mark for a follow-up (:mod:`pipeline.warehouse.stale_hours`).
DETAILS_PRIORITY = "10"


def build_raw_call_details(
    partitions_def: dg.PartitionsDefinition,
    projects: list[Project] | None = None,
    pool: str | None = WRITER_POOL,
    backfill_policy: dg.BackfillPolicy = BACKFILL_POLICY,
) -> dg.AssetsDefinition:
    """The ``raw/call_details`` asset over ``partitions_def`` (the arguments of ``raw/calls``).

    Returns:
        The asset; it needs the resources ``sinch`` and ``warehouse`` and runs
        :func:`land_details`.
    """

    @dg.asset(
        key=["raw", "call_details"],
        deps=[dg.AssetKey(["raw", "calls"])],
        partitions_def=partitions_def,
        backfill_policy=backfill_policy,
        pool=pool,
        group_name="raw",
        kinds={"api", "duckdb"},
        description=RAW_CALL_DETAILS_DESCRIPTION,
        op_tags={"dagster/priority": DETAILS_PRIORITY},
    )
    def raw_call_details(
        context: dg.AssetExecutionContext, sinch: CallsApiResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult[Any]:
        """Land the export's rows of the run's hours in ``raw.call_details``."""
        return land_details(context, sinch, warehouse, projects)

    return raw_call_details


def land_details(
    context: dg.AssetExecutionContext,
    sinch: CallsApiResource,
    warehouse: WarehouseResource,
    projects: list[Project] | None = None,
) -> dg.MaterializeResult[Any]:
    """Fetch and land the export for every project and hour of the run.

    Each window is replaced as a whole (latest wins per call id); each fetch appends to
    ``raw.details_ledger``. A project that fails does not stop the others; the step then
    fails with the first error.

    Returns:
        Metadata: ``status`` (landed, unavailable or partial), ``reason``, ``windows``,
        ``details``, ``calls`` (of the hours in ``raw.calls``), ``coverage_pct``,
        ``rejected``, ``pages``, ``requests``, ``new_columns``, ``missing_columns``.
    """
    scopes = run_scopes(context, projects)
    backend = warehouse.backend()

    def land(scope: RunScope) -> tuple[str, RunScope, DetailsReport]:
        project_id = scope.project.id if scope.project else sinch.default_project_id()
        return project_id, scope, _land_project(context, sinch, backend, scope, project_id)

    reports = each_project(context, scopes, land)
    calls = detailed = 0
    with backend.reader() as con:
        for project_id, scope, _report in reports:
            for span in scope.spans:
                span_calls, span_detailed = details_coverage(con, project_id, span.start, span.end)
                calls += span_calls
                detailed += span_detailed
    notes = sorted({r.note for _p, _s, r in reports if r.note})
    statuses = {r.status for _p, _s, r in reports}
    status = statuses.pop() if len(statuses) == 1 else "partial"
    rejected = sum(r.rejected for _p, _s, r in reports)
    new_columns = sorted({c for _p, _s, r in reports for c in r.new_columns})
    if notes:
        context.log.warning(f"call details unavailable: {'; '.join(notes)}")
    missing = sorted({c for _p, _s, r in reports for c in r.missing_columns})
    if new_columns:
        context.log.warning(f"the export sent columns this client does not know: {new_columns}")
    if missing:
        context.log.warning(
            f"the export lacks the columns {missing}: NULL in raw.call_details, so the KPIs "
            "read from them (true NER, SIP causes, MOS…) are unknown for these calls"
        )
    coverage = 100.0 * detailed / calls if calls else 100.0
    context.log.info(
        f"call details: {detailed:,} of {calls:,} calls ({coverage:.1f} %), {rejected:,} rejected",
        extra={
            DETAILS_EXTRA: {
                "calls": calls,
                "details": detailed,
                "rejected": rejected,
                "note": "; ".join(notes) or None,
                "missing_columns": missing,
            }
        },
    )
    return dg.MaterializeResult(
        metadata={
            "status": status,
            "reason": "; ".join(notes) or "none",
            "windows": sum(len(r.committed) for _p, _s, r in reports),
            "unavailable_windows": sum(len(r.unavailable) for _p, _s, r in reports),
            "details": sum(r.records for _p, _s, r in reports),
            "calls": calls,
            "coverage_pct": round(coverage, 2),
            "rejected": rejected,
            "pages": sum(r.pages for _p, _s, r in reports),
            "requests": sum(r.attempts for _p, _s, r in reports),
            "new_columns": ", ".join(new_columns) or "none",
            "missing_columns": ", ".join(missing) or "none",
        }
    )


def _land_project(
    context: dg.AssetExecutionContext,
    sinch: CallsApiResource,
    backend: Warehouse,
    scope: RunScope,
    project_id: str,
) -> DetailsReport:
    """One project's hours: the export, or ``unavailable`` rows when it is switched off."""
    run_id = context.run.run_id
    if not sinch.export:
        return record_export_off(backend, scope.windows, project_id, run_id)

    def progress(entry: DetailsEntry, done: int, total: int) -> None:
        context.log.debug(
            f"[{done}/{total}] details {entry.window.start:%Y-%m-%d %H:%M}Z: {entry.records} "
            f"calls, {entry.rejected} rejected, {entry.fetch.pages} pages"
        )

    with backend.reader() as con:  # raw/calls landed these hours first: their counts
        known_calls = known_window_calls(con, project_id, scope.windows)
    with sinch.open_client(scope.project) as client:
        return ingest_details(
            client,
            backend,
            scope.windows,
            concurrency=sinch.concurrency,
            run_id=run_id,
            progress=progress,
            known_calls=known_calls,
        )
