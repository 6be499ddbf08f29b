"""Fetch many call windows concurrently and land them through one warehouse writer.

The API is far away (each request may take hundreds of milliseconds) while the warehouse
takes one writer (DuckDB accepts one per file; the lake commits a window at a time), so a
run is a short pipeline of named stages:

1. **trunks** (:func:`refresh_trunks`): ``/trunks`` replaces ``raw.trunks``;
2. **fetch** (:class:`~pipeline.ingest.fetchers.FetchStage`): ``concurrency`` threads sweep
   windows with the shared client onto a bounded queue;
3. **write** (:class:`WindowWriter`): the calling thread, the only writer, stages every page as
   it arrives and commits a window when its sweep ends (:mod:`pipeline.warehouse.raw_calls`);
4. **verdict**: the :class:`~pipeline.ingest.report.IngestReport`, or an
   :class:`~pipeline.ingest.report.IngestError` naming every window that did not land whole.

Memory is bounded by the queue (``max(2 × concurrency,`` :data:`COMMIT_BUFFER_PAGES` ``)`` pages,
~1 MB a page of 1,000 calls) and the open windows' staged pages, never by a backfill.
A window whose fetch fails is discarded (its previous committed state stays) and reported; the
others still land, and re-running the range ends exactly as a clean run would.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pipeline.ingest.fetchers import (
    FATAL_ERRORS,
    FetchStage,
    Message,
    PageArrived,
    WindowFetched,
    window_fetch,
)
from pipeline.ingest.parsers import auto_parse_processes, page_parsers
from pipeline.ingest.report import (
    IngestError,
    IngestReport,
    WindowFailure,
    hour_label,
    log_window,
    short_error,
)
from pipeline.settings import DEFAULT_DB_MEMORY_LIMIT
from pipeline.sinch.client import CallsClient, Page, WindowSweep
from pipeline.sinch.errors import SinchApiError
from pipeline.sinch.models import Window
from pipeline.sinch.windows import CallFilters
from pipeline.warehouse.backend import DuckDBWarehouse, IngestSession, Warehouse
from pipeline.warehouse.ledger import LedgerEntry, WindowFetch

log = logging.getLogger("pipeline.ingest")

__all__ = ["IngestError", "IngestReport", "WindowFailure", "ingest_windows"]

#: Pages the fetch queue holds at least, whatever the concurrency. Committing a window (~24,000
#: calls) takes the writer ~150 ms, in which 4 threads fetch ~10 pages: with the fetch stage's
#: 2 a thread (8 pages) they stopped on the full queue. 32 pages landed 1.03x the calls/s
#: (medians of 6 alternating runs, bench/README.md "End to end vs dlt, 2026-12-07") for
#: ~25 MB more at most; a floor, not a per-thread depth, so 32 threads hold no more than before.
COMMIT_BUFFER_PAGES = 32

#: Called after each committed window with ``(entry, windows_done, windows_total)``.
ProgressCallback = Callable[[LedgerEntry, int, int], None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def ingest_windows(
    client: CallsClient,
    db_path: str | Path | Warehouse,
    windows: Sequence[Window],
    *,
    filters: CallFilters | None = None,
    concurrency: int = 4,
    run_id: str = "cli",
    refresh_trunks: bool = True,
    progress: ProgressCallback | None = None,
    clock: Callable[[], datetime] = _utcnow,
    memory_limit: str | None = DEFAULT_DB_MEMORY_LIMIT,
    parse_processes: int | None = None,
) -> IngestReport:
    """Fetch ``windows`` with ``client`` and land them in the warehouse at ``db_path``.

    Args:
        client: a :class:`~pipeline.sinch.client.CallsClient` (thread-safe, shared by fetchers).
        db_path: the DuckDB file, opened once for writing (waits while another process
            holds it); or a :class:`~pipeline.warehouse.backend.Warehouse` (the Delta lake).
        windows: half-open UTC windows; each call lands in the one containing its createTime.
        filters: API filters (trunk, direction, ...); None fetches every call.
        concurrency: windows fetched at the same time (the client's rate limit still applies).
        run_id: recorded in ``raw.ingest_ledger``.
        refresh_trunks: also replace ``raw.trunks`` from ``/trunks``.
        progress: called after each committed window.
        clock: returns "now" (UTC) for ``fetched_at``.
        memory_limit: DuckDB memory limit of the writer (``"512MB"``); None = DuckDB's default,
            80 % of RAM (see :func:`~pipeline.warehouse.connection.tune_for_bulk_writes`).
            Only for a file path: a :class:`Warehouse` carries its own.
        parse_processes: worker processes that parse pages (:mod:`pipeline.ingest.parsers`);
            0 parses in the fetching threads; None picks by run size
            (:func:`~pipeline.ingest.parsers.auto_parse_processes`).

    Returns:
        An :class:`IngestReport`.

    Raises:
        IngestError: at least one window failed or landed short of the API's count, or the
            trunks could not be read (raised after everything else was committed).
        AuthError | ClientError: the API refused the credentials or the request; raised at
            once (windows already committed stay).
        ParserCrashed: a parser process died (killed, out of memory); raised at once.
        ValueError: ``concurrency < 1`` or ``parse_processes < 0``.
    """
    if concurrency < 1:
        msg = "concurrency must be >= 1"
        raise ValueError(msg)
    filters = filters or CallFilters()
    if parse_processes is None:
        parse_processes = auto_parse_processes(len(windows))
    warehouse = (
        DuckDBWarehouse(db_path, memory_limit) if isinstance(db_path, str | Path) else db_path
    )
    report = IngestReport()
    # Objects alive before the run (modules, Dagster, Polars...) go to the GC's permanent
    # generation: the run allocates millions of short-lived containers (decoded JSON), and
    # every full collection would otherwise walk the whole old heap again (~10-20 % of the
    # run's CPU when measured). Only scanning changes: memory is freed as before.
    gc.freeze()
    try:
        opened = warehouse.ingest_session(run_id, client.project_id)
        with opened as session, page_parsers(parse_processes) as parser:
            # The parser processes keep cores busy: the writer's DuckDB yields them.
            busy = parse_processes if parser is not None else 0
            with session.leave_cores(busy):
                if refresh_trunks:
                    refresh_trunks_stage(client, session, clock, report)
                writer = WindowWriter(session, report, clock, progress)

                def open_sweep(window: Window) -> WindowSweep:
                    return client.sweep_window(window, filters, page_parser=parser)

                with FetchStage(
                    open_sweep, window_fetch, concurrency, min_queue=COMMIT_BUFFER_PAGES
                ) as fetchers:
                    for message in fetchers.messages(windows):
                        writer.handle(message, len(windows))
    finally:
        gc.unfreeze()
    if not report.complete:
        raise IngestError(report)
    return report


def refresh_trunks_stage(
    client: CallsClient,
    session: IngestSession,
    clock: Callable[[], datetime],
    report: IngestReport,
) -> None:
    """Replace ``raw.trunks`` from ``/trunks``; an unreadable answer keeps the old rows.

    Raises:
        AuthError | ClientError: the credentials or the project are refused (the calls would
            be too): the run stops here.
    """
    try:
        report.trunks = session.replace_trunks(client.list_trunks(), clock())
    except FATAL_ERRORS:
        raise
    except SinchApiError as exc:  # e.g. a body without a `trunks` list
        report.trunks_error = str(exc)
        log.warning("trunks not refreshed, raw.trunks kept: %s", short_error(exc))
        log.debug("trunks not refreshed in full: %s", exc)


class WindowWriter:
    """The write stage: stages pages, commits or discards windows, fills the report.

    Args:
        writer: the run's only writer (a warehouse's ingest session).
        report: filled as windows end.
        clock: "now" (UTC) for ``fetched_at``.
        progress: called after each committed window.
    """

    def __init__(
        self,
        writer: IngestSession,
        report: IngestReport,
        clock: Callable[[], datetime],
        progress: ProgressCallback | None,
    ) -> None:
        self._writer = writer
        self._report = report
        self._clock = clock
        self._progress = progress

    def handle(self, message: Message[Page, WindowFetch], total: int) -> None:
        """Apply one message of the fetch stage (``total``: windows in the run)."""
        if isinstance(message, PageArrived):
            page = message.page
            self._writer.stage_page(message.window, page.calls, page.rejected, self._clock())
        elif isinstance(message, WindowFetched):
            entry = self._writer.commit_window(message.window, message.fetch, self._clock())
            self._report.committed.append(entry)
            log_window(entry)
            if self._progress is not None:
                self._progress(entry, len(self._report.committed), total)
        else:
            self._writer.discard_window(message.window)
            self._report.failed.append(WindowFailure(message.window, str(message.error)))
            log.warning(
                "window %s failed: %s", hour_label(message.window), short_error(message.error)
            )
            log.debug("window %s failed in full: %s", hour_label(message.window), message.error)
