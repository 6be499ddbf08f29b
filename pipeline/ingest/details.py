"""Land the export's call details (``raw.call_details``) for many windows, through one writer.

``concurrency`` threads each read one window of ``/calls/export`` at a time
(:class:`~pipeline.sinch.export.ExportRun`) with the shared client (rate limit, retries,
guards) onto the bounded queue of :class:`~pipeline.ingest.fetchers.FetchStage`; the calling
thread, the only writer, stages every page as it arrives (staging is keyed by window, several
windows are staged at once) and commits a window when its fetch ends, so windows are committed
in the order their fetches end, not in window order. Memory is bounded by pages (the queue's
``2 × concurrency`` plus one per thread), never by a window: an export that never ends is
staged page by page until its page limit stops it (a few times the pages of the calls the
window is known to hold, ``known_calls``; else ``max_pages``).

Outcomes per window: ``landed`` (a ledger row, the window replaced), ``unavailable`` (the
export answered 403/404: the same for every window, so no more requests are sent, the windows
whose fetch had already ended are still committed, and every other window not yet committed or
failed is recorded unavailable with that reason, its staging discarded), or failed (any other
error after the client's retries, :class:`PaginationError` included: its staging is discarded,
nothing of it is committed, the other windows still land, and :class:`DetailsError` names
every failed window at the end). A 401 stops the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pipeline.ingest.fetchers import FetchStage, Message, PageArrived, WindowFetched
from pipeline.ingest.report import (
    CommittedTotals,
    WindowFailure,
    first_lines,
    hour_label,
    short_error,
)
from pipeline.sinch.client import CallsClient
from pipeline.sinch.errors import AuthError, SinchApiError
from pipeline.sinch.export import (
    DEFAULT_MAX_PAGES,
    ExportPage,
    ExportRun,
    ExportStats,
    unavailable_reason,
)
from pipeline.sinch.models import Window
from pipeline.sinch.windows import CallFilters
from pipeline.warehouse.backend import DetailsSession, Warehouse
from pipeline.warehouse.raw_call_details import DetailsEntry, DetailsFetch

log = logging.getLogger("pipeline.ingest")

#: Why the details of a run were not fetched when ``CALLS_EXPORT=off``.
EXPORT_OFF_NOTE = "CALLS_EXPORT=off: the export is not fetched"

#: Called after each committed window with ``(entry, windows_done, windows_total)``.
DetailsProgress = Callable[[DetailsEntry, int, int], None]


@dataclass(frozen=True, slots=True)
class ExportFetch:
    """What a finished :class:`ExportRun` tells the writer.

    Attributes:
        fetch: the ledger's view (``raw.details_ledger``).
        new_columns / missing_columns: header names unknown to the parser / known names the
            header lacked.
    """

    fetch: DetailsFetch
    new_columns: tuple[str, ...] = ()
    missing_columns: tuple[str, ...] = ()


def export_fetch(s: ExportStats) -> ExportFetch:
    """The writer's view of a finished :class:`ExportRun` (its ``stats``)."""
    fetch = DetailsFetch(s.pages, s.attempts, s.seconds, s.outside_window, s.file_name)
    return ExportFetch(fetch, s.new_columns, s.missing_columns)


def stops_the_export(exc: BaseException) -> bool:
    """Whether ``exc`` is the same for every window: a 401/403 or a 404 (not other errors)."""
    return isinstance(exc, AuthError) or unavailable_reason(exc) is not None


@dataclass(slots=True)
class DetailsReport(CommittedTotals):
    """Outcome of :func:`ingest_details`.

    Totals of the committed windows: ``records``, ``rejected``, ``pages``, ``attempts``.

    Attributes:
        committed: ledger entries of the windows landed, in the order their fetches ended
            (not window order: sort by ``entry.window.start`` when it matters).
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

    ``str()`` names each window and why, one line each (at most ``MAX_LISTED``, then a count).
    """

    MAX_LISTED = 12

    def __init__(self, report: DetailsReport) -> None:
        self.report = report
        lines = [f"{hour_label(f.window)}: {f.error}" for f in report.failed]
        shown = first_lines(lines, self.MAX_LISTED, "each was logged as it failed")
        head = f"call details of {len(report.failed)} window(s) not landed:"
        super().__init__("\n".join([head, *(f"  {line}" for line in shown)]))


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
    known_calls: Mapping[Window, int] | None = None,
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
        max_pages: most pages one window may take (the ceiling).
        known_calls: calls each window is known to hold (``raw.ingest_ledger``:
            :func:`~pipeline.warehouse.raw_call_details.known_window_calls`); a window's
            page limit follows them (:func:`~pipeline.sinch.export.export_page_limit`).
            A window absent (or None): ``max_pages``.

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

    def open_run(window: Window) -> ExportRun:
        known = known_calls.get(window) if known_calls is not None else None
        return ExportRun(client, window, filters, max_pages=max_pages, known_calls=known)

    with warehouse.details_session(run_id, client.project_id) as session:
        writer = _Writer(session, report, clock, progress, len(windows))
        stage = FetchStage(
            open_run, export_fetch, concurrency, fatal=stops_the_export, deliver_queued=True
        )
        try:
            with stage as fetchers:  # on leaving, the fetch threads have stopped
                for message in fetchers.messages(windows):
                    writer.handle(message)
        except SinchApiError as exc:  # fatal for the stage: a 401/403/404
            reason = unavailable_reason(exc)
            if reason is None:
                raise
            writer.unavailable(windows, reason)
    if report.failed:
        raise DetailsError(report)
    return report


class _Writer:
    """The write stage: stages pages, commits or discards windows, fills the report."""

    def __init__(
        self,
        session: DetailsSession,
        report: DetailsReport,
        clock: Callable[[], datetime],
        progress: DetailsProgress | None,
        total: int,
    ) -> None:
        self._session = session
        self._report = report
        self._clock = clock
        self._progress = progress
        self._total = total
        self._open: set[Window] = set()  # windows with pages staged, not yet ended

    def handle(self, message: Message[ExportPage, ExportFetch]) -> None:
        """Apply one message of the fetch stage.

        Raises:
            duckdb.Error | DeltaError: a write failed (a failed commit rolls back).
        """
        window, report = message.window, self._report
        if isinstance(message, PageArrived):
            page = message.page
            self._open.add(window)
            self._session.stage_page(window, page.details, page.rejected, self._clock())
        elif isinstance(message, WindowFetched):
            done = message.fetch
            entry = self._session.commit_window(window, done.fetch, self._clock())
            self._open.discard(window)
            report.committed.append(entry)
            report.new_columns = tuple(dict.fromkeys((*report.new_columns, *done.new_columns)))
            report.missing_columns = tuple(
                dict.fromkeys((*report.missing_columns, *done.missing_columns))
            )
            if self._progress is not None:
                self._progress(entry, len(report.committed), self._total)
        else:
            self._discard(window)
            report.failed.append(WindowFailure(window, short_error(message.error)))
            log.warning(
                "call details of %s failed: %s", hour_label(window), short_error(message.error)
            )

    def unavailable(self, windows: Sequence[Window], reason: str) -> None:
        """Record every window not committed nor failed ``unavailable`` with ``reason``."""
        report = self._report
        ended = {e.window for e in report.committed} | {f.window for f in report.failed}
        for window in list(self._open):
            self._discard(window)
        rest = [w for w in windows if w not in ended]
        report.note = reason
        report.unavailable = self._session.record_unavailable(rest, reason, self._clock())
        # INFO: the asset warns once, with every project's reason (details_assets.py)
        log.info("call details unavailable: %s", reason)

    def _discard(self, window: Window) -> None:
        self._open.discard(window)
        self._session.discard_window(window)
