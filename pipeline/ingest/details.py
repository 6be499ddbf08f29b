"""Land the export's call details (``raw.call_details``) for many windows, through one writer.

``concurrency`` threads each read one window of ``/calls/export`` at a time
(:class:`~pipeline.sinch.export.ExportRun`) with the shared client (rate limit, retries,
guards); the calling thread, the only writer, stages and commits each window in window order.
At most ``2 × concurrency`` windows are fetched ahead, so memory is bounded by a few windows.

Outcomes per window: ``landed`` (a ledger row, the window replaced), ``unavailable`` (the
export answered 403/404: the same for every window, so the rest of the run is recorded
unavailable with that reason and no more requests are sent), or failed (any other error after
the client's retries: nothing of it is committed, the other windows still land, and
:class:`DetailsError` names every failed window at the end).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pipeline.ingest.report import CommittedTotals, WindowFailure, hour_label, short_error
from pipeline.sinch.client import CallsClient
from pipeline.sinch.errors import AuthError
from pipeline.sinch.export import DEFAULT_MAX_PAGES, ExportPage, ExportRun, unavailable_reason
from pipeline.sinch.models import Window
from pipeline.sinch.windows import CallFilters
from pipeline.warehouse.backend import DetailsSession, Warehouse
from pipeline.warehouse.raw_call_details import DetailsEntry, DetailsFetch

log = logging.getLogger("pipeline.ingest")

#: Why the details of a run were not fetched when ``CALLS_EXPORT=off``.
EXPORT_OFF_NOTE = "CALLS_EXPORT=off: the export is not fetched"

#: Called after each committed window with ``(entry, windows_done, windows_total)``.
DetailsProgress = Callable[[DetailsEntry, int, int], None]
#: Windows being fetched, in window order, with what their fetch will return.
Pending = deque[tuple[Window, Future[tuple[list[ExportPage], ExportRun]]]]


@dataclass(slots=True)
class DetailsReport(CommittedTotals):
    """Outcome of :func:`ingest_details`.

    Totals of the committed windows: ``records``, ``rejected``, ``pages``, ``attempts``.

    Attributes:
        committed: ledger entries of the windows landed, in window order.
        unavailable: ledger entries of the windows recorded ``unavailable``.
        failed: windows whose fetch failed; re-run them.
        note: why the export was unavailable (None when it was not).
        new_columns: header names the parser did not know (kept in ``raw_line``).
        missing_columns: known columns the export's header lacked (NULL in every row).
    """

    committed: list[DetailsEntry] = field(default_factory=list)
    unavailable: list[DetailsEntry] = field(default_factory=list)
    failed: list[WindowFailure] = field(default_factory=list)
    note: str | None = None
    new_columns: tuple[str, ...] = ()
    missing_columns: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        """``landed``, ``unavailable`` or ``partial``.

        ``unavailable``: nothing landed, the export refused or is off; ``partial``: some
        windows landed, others are unavailable or failed.
        """
        if self.unavailable and not self.committed:
            return "unavailable"
        return "partial" if self.unavailable or self.failed else "landed"


class DetailsError(RuntimeError):
    """Windows whose details could not be fetched (after retries); the others landed.

    ``str()`` names each window and why, one line each.
    """

    def __init__(self, report: DetailsReport) -> None:
        self.report = report
        lines = [f"{hour_label(f.window)}: {f.error}" for f in report.failed]
        head = f"call details of {len(report.failed)} window(s) not landed:"
        super().__init__("\n".join([head, *(f"  {line}" for line in lines)]))


def _utcnow() -> datetime:
    return datetime.now(UTC)


def record_export_off(
    warehouse: Warehouse, windows: Sequence[Window], project_id: str, run_id: str
) -> DetailsReport:
    """Record every window ``unavailable`` with :data:`EXPORT_OFF_NOTE`; no request is sent."""
    with warehouse.details_session(run_id, project_id) as session:
        entries = session.record_unavailable(windows, EXPORT_OFF_NOTE, _utcnow())
    return DetailsReport(unavailable=entries, note=EXPORT_OFF_NOTE)


def ingest_details(
    client: CallsClient,
    warehouse: Warehouse,
    windows: Sequence[Window],
    *,
    filters: CallFilters | None = None,
    concurrency: int = 4,
    run_id: str = "cli",
    progress: DetailsProgress | None = None,
    clock: Callable[[], datetime] = _utcnow,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> DetailsReport:
    """Fetch the export for ``windows`` and land it in ``raw.call_details``.

    Args:
        client: the project's calls client (its transport is shared, thread-safe).
        warehouse: the DuckDB file or the lake (:meth:`Warehouse.details_session`).
        windows: half-open UTC windows (hours).
        filters: the list filters; None: every call.
        concurrency: windows fetched at the same time (>= 1).
        run_id: recorded in ``raw.details_ledger``.
        progress: called after each committed window.
        clock: "now" (UTC) for ``fetched_at``.
        max_pages: most pages one window may take.

    Returns:
        The :class:`DetailsReport` (403/404 from the export: windows ``unavailable``).

    Raises:
        DetailsError: some windows failed (raised after the others were committed).
        AuthError: a 401 (the credentials are refused: the calls would be too).
        ValueError: ``concurrency < 1``.
    """
    if concurrency < 1:
        msg = "concurrency must be >= 1"
        raise ValueError(msg)
    report = DetailsReport()
    with (
        warehouse.details_session(run_id, client.project_id) as session,
        ThreadPoolExecutor(concurrency, thread_name_prefix="export") as pool,
    ):
        todo = deque(windows)
        pending: Pending = deque()

        def submit() -> None:
            while todo and len(pending) < 2 * concurrency:
                window = todo.popleft()
                pending.append((window, pool.submit(_fetch, client, window, filters, max_pages)))

        submit()
        try:
            _drain(session, pending, todo, submit, report, len(windows), clock, progress)
        finally:
            for _window, future in pending:  # an error or Ctrl-C: send nothing more
                future.cancel()
    if report.failed:
        raise DetailsError(report)
    return report


def _drain(
    session: DetailsSession,
    pending: Pending,
    todo: deque[Window],
    submit: Callable[[], None],
    report: DetailsReport,
    total: int,
    clock: Callable[[], datetime],
    progress: DetailsProgress | None,
) -> None:
    """Commit fetched windows in order until none is pending; fill ``report``.

    Raises:
        AuthError: a 401 (not a 403): the credentials are refused.
    """
    while pending:
        window, future = pending.popleft()
        try:
            pages, run = future.result()
        except Exception as exc:
            reason = unavailable_reason(exc)
            if reason is None and isinstance(exc, AuthError):
                raise
            if reason is not None:
                rest = [window, *(w for w, _f in pending), *todo]
                for _w, f in pending:
                    f.cancel()
                pending.clear()
                todo.clear()
                report.note = reason
                report.unavailable = session.record_unavailable(rest, reason, clock())
                log.warning("call details unavailable: %s", reason)
                break
            report.failed.append(WindowFailure(window, short_error(exc)))
            log.warning("call details of %s failed: %s", hour_label(window), short_error(exc))
            submit()
            continue
        submit()
        entry = _commit(session, window, pages, run, clock)
        report.committed.append(entry)
        report.new_columns = tuple(dict.fromkeys((*report.new_columns, *run.stats.new_columns)))
        report.missing_columns = tuple(
            dict.fromkeys((*report.missing_columns, *run.stats.missing_columns))
        )
        if progress is not None:
            progress(entry, len(report.committed), total)


def _fetch(
    client: CallsClient, window: Window, filters: CallFilters | None, max_pages: int
) -> tuple[list[ExportPage], ExportRun]:
    run = ExportRun(client, window, filters, max_pages=max_pages)
    return list(run), run


def _commit(
    session: DetailsSession,
    window: Window,
    pages: list[ExportPage],
    run: ExportRun,
    clock: Callable[[], datetime],
) -> DetailsEntry:
    """Stage a window's pages and commit it (a failed write discards the staging)."""
    s = run.stats
    fetch = DetailsFetch(s.pages, s.attempts, s.seconds, s.outside_window, s.file_name)
    try:
        for page in pages:
            session.stage_page(window, page.details, page.rejected, clock())
        return session.commit_window(window, fetch, clock())
    except BaseException:
        session.discard_window(window)
        raise
