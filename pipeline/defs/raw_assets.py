"""The raw calls asset: hourly ``createTime`` windows from the API into ``raw.*``.

``raw.*`` is the DuckDB file, or the Delta tables under ``CALLS_LAKE_URI``
(:mod:`pipeline.warehouse.backend`).

:func:`build_raw_calls` makes the asset for a partitions definition (whose first hour comes
from ``CALLS_PARTITIONS_START``), so importing this module reads no setting.
"""

from typing import Any

import dagster as dg

from pipeline.defs.resources import CallsApiResource, SandboxCallsResource, WarehouseResource
from pipeline.ingest.report import window_notes
from pipeline.ingest.runner import ingest_windows
from pipeline.ingest.windows import hourly_windows
from pipeline.sinch.models import Window

#: One run per week of hours during a backfill: a month is ~5 runs, not 720, and each run
#: streams its windows page by page (memory is bounded by pages, not by the range).
#: ``CALLS_BACKFILL_HOURS_PER_RUN`` changes it (the distributed deploy: 1, a run per hour).
BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=168)

#: Only one step at a time may write the DuckDB file, across runs (``dagster.yaml`` sets the
#: pool's limit to 1). HTTP fetching happens inside the step, concurrently per window.
WRITER_POOL = "duckdb_writer"

#: Over the Delta lake, runs of different hours land ``raw/calls`` at the same time (each
#: replaces its own windows), but the analytics refreshes take turns in this pool (limit 1 in
#: ``deploy/dagster.yaml``): two refreshes of one day read ``raw/calls`` at different times, and
#: the one that read earlier could commit last and drop the other hour's calls.
LAKE_ANALYTICS_POOL = "lake_analytics"


def writer_pools(lake_uri: str | None) -> tuple[str | None, str]:
    """The pools of ``raw/calls`` and of the analytics assets for a warehouse.

    Args:
        lake_uri: the warehouse's Delta lake root, or None for the DuckDB file.

    Returns:
        ``(raw_pool, analytics_pool)``: both :data:`WRITER_POOL` for the DuckDB file (one
        writer); for the lake, no pool for ``raw/calls`` and :data:`LAKE_ANALYTICS_POOL`.
    """
    if lake_uri is None:
        return WRITER_POOL, WRITER_POOL
    return None, LAKE_ANALYTICS_POOL


def window_of(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> Window:
    """The run's partition range as one half-open UTC window."""
    time_window = context.partition_time_window
    return Window(time_window.start, time_window.end)


RAW_CALLS_DESCRIPTION = (
    "One row per call (latest version) from GET /v1/projects/{projectId}/calls, fetched in "
    "hourly createTime windows; also raw.rejected_calls, raw.ingest_ledger and raw.trunks."
)


def build_raw_calls(
    partitions_def: dg.PartitionsDefinition,
    pool: str | None = WRITER_POOL,
    backfill_policy: dg.BackfillPolicy = BACKFILL_POLICY,
) -> dg.AssetsDefinition:
    """The ``raw/calls`` asset over ``partitions_def``.

    Args:
        partitions_def: hourly UTC partitions
            (:func:`pipeline.defs.partitions.hourly_partitions`).
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
        return land_calls(context, sinch, warehouse)

    return raw_calls


def land_calls(
    context: dg.AssetExecutionContext, sinch: CallsApiResource, warehouse: WarehouseResource
) -> dg.MaterializeResult[Any]:
    """Land every call of the run's hours in ``raw.calls`` (grain: one row per ``call_id``).

    Each hour is swept page by page (1000 a page), parsed, and replaced as a whole in one
    transaction, so re-running a partition ends in the same table. Unparseable records go to
    ``raw.rejected_calls`` with their reason; each window fetch appends to ``raw.ingest_ledger``.
    """
    span = window_of(context)
    windows = hourly_windows(span.start, span.end)

    def progress(entry, done: int, total: int) -> None:  # type: ignore[no-untyped-def]
        notes = window_notes(entry)
        context.log.info(
            f"[{done}/{total}] {entry.window.start:%Y-%m-%d %H:%M}Z: {entry.records} calls, "
            f"{entry.rejected} rejected, {entry.fetch.pages} pages, "
            f"totalItems={entry.api_total_items}" + (f" ({notes})" if notes else "")
        )

    if isinstance(sinch, SandboxCallsResource):
        context.log.info("No Sinch credentials set: fetching from the embedded sandbox.")
    with sinch.open_client() as client:
        report = ingest_windows(
            client,
            warehouse.backend(),
            windows,
            concurrency=sinch.concurrency,
            run_id=context.run.run_id,
            progress=progress,
        )
    new_fields = sorted({f for e in report.committed for f in e.fetch.new_fields})
    if new_fields:
        context.log.warning(f"the API sent call fields this client does not know: {new_fields}")
    return dg.MaterializeResult(
        metadata={
            "window_start": span.start.isoformat(),
            "window_end": span.end.isoformat(),
            "windows": len(report.committed),
            "calls": report.records,
            "rejected": report.rejected,
            "pages": report.pages,
            "requests": report.attempts,
            "unsettled_windows": sum(not e.settled for e in report.committed),
            "new_fields": ", ".join(new_fields) or "none",
            "trunks": report.trunks or 0,
        }
    )
