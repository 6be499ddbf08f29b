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
from pipeline.sinch.client import CallsClient, Page, PageParser, SweepStats
from pipeline.sinch.errors import AuthError, ClientError, SinchApiError
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
        trunks: trunks refreshed in ``raw.trunks`` (None when not requested or failed).
        trunks_error: why ``/trunks`` could not be read (``raw.trunks`` kept as it was).
    """

    committed: list[LedgerEntry] = field(default_factory=list)
    failed: list[WindowFailure] = field(default_factory=list)
    trunks: int | None = None
    trunks_error: str | None = None

    @property
    def unreconciled(self) -> list[LedgerEntry]:
        """Windows landed with fewer calls than the API counted (see the ledger)."""
        return [e for e in self.committed if not e.reconciled]

    @property
    def complete(self) -> bool:
        """Every window landed and reconciled, and the trunks were read."""
        return not (self.failed or self.unreconciled or self.trunks_error)

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
    """Some windows did not land completely; everything that could land was committed.

    The message is one short block naming each such window (at most ``MAX_LISTED``) and why.
    """

    MAX_LISTED = 12

    def __init__(self, report: IngestReport) -> None:
        self.report = report
        lines: list[str] = []
        for failure in report.failed:
            lines.append(f"{_hour(failure.window)}  not landed: {_short(failure.error)}")
        for entry in report.unreconciled:
            counted = entry.api_total_items or 0
            lines.append(
                f"{_hour(entry.window)}  short: {entry.shortfall:,} of {counted:,} calls the API "
                f"counted were not received ({entry.fetch.sweeps} sweeps, "
                f"{len(entry.fetch.sub_windows) or 1} slices)"
            )
        bad = len(report.failed) + len(report.unreconciled)
        total = len(report.failed) + len(report.committed)
        head = f"{bad} of {total} windows did not land completely:" if bad else ""
        shown = lines[: self.MAX_LISTED]
        if len(lines) > len(shown):
            shown.append(f"... and {len(lines) - len(shown)} more (see raw.ingest_ledger)")
        if report.trunks_error:
            shown.append(f"trunks not refreshed (raw.trunks kept): {_short(report.trunks_error)}")
        advice = (
            "Landed windows are committed; re-run these hours (writes are idempotent). A window "
            "that stays short means the API counts calls it does not serve."
        )
        body = "\n".join(f"  {line}" for line in shown)
        super().__init__("\n".join(part for part in (head, body, advice) if part))


def _hour(window: Window) -> str:
    return f"{window.start:%Y-%m-%dT%H:%M}Z"


def _short(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
            for page in sweep:
                put(_Page(window, page))
            put(_Done(window, _window_fetch(sweep.stats)))
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
            try:
                report.trunks = replace_trunks(con, client.list_trunks(), clock())
            except FATAL_ERRORS:
                raise  # the same credentials and project serve the calls: stop now
            except SinchApiError as exc:  # e.g. a body without a `trunks` list
                report.trunks_error = str(exc)
                log.warning("trunks not refreshed, raw.trunks kept: %s", exc)
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
                    _log_window(entry)
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
    if not report.complete:
        raise IngestError(report)
    return report


def _window_fetch(stats: SweepStats) -> WindowFetch:
    """The ledger's view of a finished sweep."""
    return WindowFetch(
        sweeps=stats.sweeps,
        pages=stats.pages,
        api_total_items=stats.total_items,
        attempts=stats.attempts,
        seconds=stats.seconds,
        outside_window=stats.outside_window,
        new_fields=tuple(sorted(stats.unknown_fields)),
        reconciled=stats.reconciled,
        sub_windows=tuple((s.start, s.end) for s in stats.slices) if stats.splits else (),
        shortfall=stats.shortfall,
        rounded_amounts=stats.rounded_amounts,
    )


def _log_window(entry: LedgerEntry) -> None:
    fetch = entry.fetch
    notes = []
    if fetch.sub_windows:
        notes.append(f"split into {len(fetch.sub_windows)} slices")
    if not entry.reconciled:
        notes.append(f"SHORT by {entry.shortfall}")
    elif not entry.settled:
        notes.append("not settled yet")
    if fetch.rounded_amounts:
        notes.append(f"{fetch.rounded_amounts} float amounts rounded to 6 decimals")
    log.info(
        "window %s: %d calls, %d rejected, %d pages%s",
        entry.window.start.strftime("%Y-%m-%dT%H:%MZ"),
        entry.records,
        entry.rejected,
        fetch.pages,
        f" ({'; '.join(notes)})" if notes else "",
    )
