"""Fetch many call windows concurrently and land them through one DuckDB writer.

The API is far away (each request may take hundreds of milliseconds) while DuckDB accepts one
writer per file, so the work splits in two:

- ``concurrency`` fetcher threads each sweep one window at a time with the shared client (which
  applies the rate limit and retries) and put its pages on a bounded queue;
- the calling thread is the only writer: it stages every page as it arrives and commits a
  window when its sweep ends (see :mod:`pipeline.warehouse.raw_calls`).

Memory is bounded by the queue (``2 × concurrency`` pages), never by a window or a backfill.
A window whose fetch fails is discarded (its previous committed state stays) and reported in
:class:`IngestReport`; the others still land, and re-running the range ends exactly as a clean
run would.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pipeline.ingest.parsers import ParserCrashed, auto_parse_processes, page_parsers
from pipeline.settings import DEFAULT_DB_MEMORY_LIMIT
from pipeline.sinch.client import CallsClient, Page, PageParser
from pipeline.sinch.errors import AuthError, ClientError
from pipeline.sinch.models import Window
from pipeline.sinch.windows import CallFilters
from pipeline.warehouse.connection import connect, tune_for_bulk_writes
from pipeline.warehouse.raw_calls import LedgerEntry, RawCallsWriter, WindowFetch, replace_trunks

log = logging.getLogger("pipeline.ingest")

#: Errors that would be the same for every window (bad credentials, a 4xx such as an unknown
#: project or a rejected parameter, a parser process that died): the run stops at the first
#: one instead of trying them all.
FATAL_ERRORS = (AuthError, ClientError, ParserCrashed)

#: Called after each committed window with ``(entry, windows_done, windows_total)``.
ProgressCallback = Callable[[LedgerEntry, int, int], None]


@dataclass(frozen=True, slots=True)
class WindowFailure:
    """A window whose fetch failed; nothing of it was committed in this run."""

    window: Window
    error: str


@dataclass(slots=True)
class IngestReport:
    """Outcome of :func:`ingest_windows`.

    Attributes:
        committed: one ledger entry per window landed, in commit order.
        failed: windows whose fetch raised; re-run them.
        trunks: trunks refreshed in ``raw.trunks`` (None when not requested).
    """

    committed: list[LedgerEntry] = field(default_factory=list)
    failed: list[WindowFailure] = field(default_factory=list)
    trunks: int | None = None

    @property
    def records(self) -> int:
        """Distinct calls landed, all windows."""
        return sum(e.records for e in self.committed)

    @property
    def rejected(self) -> int:
        """Records rejected by the parser (kept in ``raw.rejected_calls``), all windows."""
        return sum(e.rejected for e in self.committed)

    @property
    def pages(self) -> int:
        """Pages received, all windows and sweeps."""
        return sum(e.fetch.pages for e in self.committed)

    @property
    def attempts(self) -> int:
        """HTTP requests sent for calls, retries included."""
        return sum(e.fetch.attempts for e in self.committed)


class IngestError(RuntimeError):
    """Some windows could not be fetched; the others were committed."""

    def __init__(self, report: IngestReport) -> None:
        self.report = report
        first = report.failed[0]
        msg = (
            f"{len(report.failed)} of {len(report.failed) + len(report.committed)} windows "
            f"failed; first: [{first.window.start.isoformat()}, {first.window.end.isoformat()}) "
            f"{first.error}. Committed windows are kept; re-run the range to finish."
        )
        super().__init__(msg)


# Queue messages from fetchers to the writer.
@dataclass(frozen=True, slots=True)
class _Page:
    window: Window
    page: Page


@dataclass(frozen=True, slots=True)
class _Done:
    window: Window
    fetch: WindowFetch


@dataclass(frozen=True, slots=True)
class _Failed:
    window: Window
    error: BaseException


class _Stopped(Exception):
    """The writer stopped; fetchers abandon their window."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def ingest_windows(
    client: CallsClient,
    db_path: str | Path,
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
    """Fetch ``windows`` with ``client`` and land them in the DuckDB file at ``db_path``.

    Args:
        client: a :class:`~pipeline.sinch.client.CallsClient` (thread-safe, shared by fetchers).
        db_path: the warehouse file; opened once for writing (waits while another process
            holds it).
        windows: half-open UTC windows; each call lands in the one containing its createTime.
        filters: API filters (trunk, direction, ...); None fetches every call.
        concurrency: windows fetched at the same time (the client's rate limit still applies).
        run_id: recorded in ``raw.ingest_ledger``.
        refresh_trunks: also replace ``raw.trunks`` from ``/trunks``.
        progress: called after each committed window.
        clock: returns "now" (UTC) for ``fetched_at``.
        memory_limit: DuckDB memory limit of the writer (``"512MB"``); None = DuckDB's default,
            80 % of RAM (see :func:`~pipeline.warehouse.connection.tune_for_bulk_writes`).
        parse_processes: worker processes that parse pages (:mod:`pipeline.ingest.parsers`);
            0 parses in the fetching threads; None picks by run size
            (:func:`~pipeline.ingest.parsers.auto_parse_processes`).

    Returns:
        An :class:`IngestReport`.

    Raises:
        IngestError: at least one window failed (after all the others were committed).
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
    # Objects alive before the run (modules, Dagster, Polars...) go to the GC's permanent
    # generation: the run allocates millions of short-lived containers (decoded JSON), and
    # every full collection would otherwise walk the whole old heap again (~10-20 % of the
    # run's CPU when measured). Only scanning changes: memory is freed as before.
    gc.freeze()
    try:
        return _ingest(
            client,
            db_path,
            windows,
            filters,
            concurrency,
            run_id,
            refresh_trunks,
            progress,
            clock,
            memory_limit,
            parse_processes,
        )
    finally:
        gc.unfreeze()


def _ingest(
    client: CallsClient,
    db_path: str | Path,
    windows: Sequence[Window],
    filters: CallFilters,
    concurrency: int,
    run_id: str,
    refresh_trunks: bool,
    progress: ProgressCallback | None,
    clock: Callable[[], datetime],
    memory_limit: str | None,
    parse_processes: int,
) -> IngestReport:
    report = IngestReport()
    pages: queue.Queue[_Page | _Done | _Failed] = queue.Queue(maxsize=2 * concurrency)
    stop = threading.Event()
    fatal: list[BaseException] = []

    def put(message: _Page | _Done | _Failed) -> None:
        # Never block forever on a full queue: the writer may have stopped (error, Ctrl-C).
        while not stop.is_set():
            try:
                pages.put(message, timeout=0.1)
            except queue.Full:
                continue
            return
        raise _Stopped

    def fetch(window: Window, parser: PageParser | None) -> None:
        try:
            if stop.is_set():
                return
            sweep = client.sweep_window(window, filters, page_parser=parser)
            outside: dict[int, int] = {}
            for page in sweep:
                outside[page.sweep] = outside.get(page.sweep, 0) + page.outside_window
                put(_Page(window, page))
            stats = sweep.stats
            put(
                _Done(
                    window,
                    WindowFetch(
                        sweeps=stats.sweeps,
                        pages=stats.pages,
                        api_total_items=stats.total_items,
                        attempts=stats.attempts,
                        seconds=stats.seconds,
                        outside_window=outside.get(stats.sweeps, 0),
                        new_fields=tuple(sorted(stats.unknown_fields)),
                    ),
                )
            )
        except _Stopped:
            return
        except FATAL_ERRORS as exc:  # the same for every window: stop the run
            fatal.append(exc)
            stop.set()
        except Exception as exc:  # reported per window, the run goes on
            with contextlib.suppress(_Stopped):
                put(_Failed(window, exc))

    with connect(db_path) as con, page_parsers(parse_processes) as parser:
        tune_for_bulk_writes(con, memory_limit)
        writer = RawCallsWriter(con, run_id)
        if refresh_trunks:
            report.trunks = replace_trunks(con, client.list_trunks(), clock())
        pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="fetch")
        try:
            for window in windows:
                pool.submit(fetch, window, parser)
            remaining = len(windows)
            while remaining:
                if fatal:
                    raise fatal[0]
                try:
                    message = pages.get(timeout=0.2)
                except queue.Empty:
                    continue
                if isinstance(message, _Page):
                    page = message.page
                    writer.stage_page(
                        message.window, page.calls, page.rejected, clock(), sweep=page.sweep
                    )
                    continue
                remaining -= 1
                if isinstance(message, _Done):
                    entry = writer.commit_window(message.window, message.fetch, clock())
                    report.committed.append(entry)
                    log.info(
                        "window %s: %d calls, %d rejected, %d pages%s",
                        message.window.start.strftime("%Y-%m-%dT%H:%MZ"),
                        entry.records,
                        entry.rejected,
                        entry.fetch.pages,
                        "" if entry.settled else " (not settled yet)",
                    )
                    if progress is not None:
                        progress(entry, len(report.committed), len(windows))
                else:
                    writer.discard_window(message.window)
                    report.failed.append(WindowFailure(message.window, str(message.error)))
                    log.warning(
                        "window %s failed: %s",
                        message.window.start.strftime("%Y-%m-%dT%H:%MZ"),
                        message.error,
                    )
        finally:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
    if report.failed:
        raise IngestError(report)
    return report
