"""What an ingestion run did: the report, the error that names incomplete windows, log lines.

:class:`IngestReport` collects one :class:`~pipeline.warehouse.ledger.LedgerEntry` per
committed window and one :class:`WindowFailure` per window that could not land;
:class:`IngestError` turns the incomplete ones into one short block for people (the CLI prints
it, the Dagster step fails with it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.sinch.errors import SinchApiError
from pipeline.sinch.models import Window
from pipeline.warehouse.ledger import LedgerEntry

log = logging.getLogger("pipeline.ingest")


@dataclass(frozen=True, slots=True)
class WindowFailure:
    """A window whose fetch failed; nothing of it was committed in this run."""

    window: Window
    error: str


class CommittedTotals:
    """Totals over the ``committed`` entries of a report (calls or call details).

    Each entry has ``records``, ``rejected`` and a ``fetch`` with ``pages`` and ``attempts``.
    """

    __slots__ = ()
    committed: list[Any]

    @property
    def records(self) -> int:
        """Distinct calls landed, all windows."""
        return sum(e.records for e in self.committed)

    @property
    def rejected(self) -> int:
        """Records rejected by the parser (kept in ``raw.rejected_*``), all windows.

        A record two windows of the run rejected (their shared boundary second) counts once
        (:func:`run_rejected`).
        """
        return run_rejected(self.committed)

    @property
    def pages(self) -> int:
        """Pages received, all windows (and sweeps)."""
        return sum(e.fetch.pages for e in self.committed)

    @property
    def attempts(self) -> int:
        """HTTP requests sent, retries included."""
        return sum(e.fetch.attempts for e in self.committed)


def run_rejected(committed: list[Any]) -> int:
    """Rejected records of a run's committed windows, each counted once.

    A window's ``rejected`` counts its rows of ``raw.rejected_*`` when it commits; a later
    commit that takes one of those rows over (the same ``call_id``, rejected again or landed,
    :attr:`~pipeline.warehouse.ledger.LedgerEntry.rejected_taken`) removes it from the
    earlier window, so it is subtracted when that window committed earlier in the run.

    Args:
        committed: ledger entries in commit order (entries without ``rejected_taken``, such
            as call-details entries, take nothing over).
    """
    total = 0
    earlier: set[datetime] = set()
    for entry in committed:
        taken = getattr(entry, "rejected_taken", ())
        total += entry.rejected - sum(start in earlier for start in taken)
        earlier.add(entry.window.start)
    return total


@dataclass(slots=True)
class IngestReport(CommittedTotals):
    """Outcome of :func:`~pipeline.ingest.runner.ingest_windows`.

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


def first_lines(lines: list[str], most: int, where: str) -> list[str]:
    """``lines``, or their first ``most`` and ``... and N more (<where>)``."""
    if len(lines) <= most:
        return list(lines)
    return [*lines[:most], f"... and {len(lines) - most} more ({where})"]


class IngestError(RuntimeError):
    """Some windows did not land completely; everything that could land was committed.

    The message is one short block naming each such window (at most ``MAX_LISTED``) and why.
    """

    MAX_LISTED = 12

    def __init__(self, report: IngestReport) -> None:
        self.report = report
        lines: list[str] = []
        for failure in report.failed:
            lines.append(f"{hour_label(failure.window)}  not landed: {_short(failure.error)}")
        for entry in report.unreconciled:
            counted = entry.api_total_items or 0
            lines.append(
                f"{hour_label(entry.window)}  short: {entry.shortfall:,} of {counted:,} calls "
                f"the API counted were not received ({entry.fetch.sweeps} sweeps, "
                f"{len(entry.fetch.sub_windows) or 1} slices)"
            )
        bad = len(report.failed) + len(report.unreconciled)
        total = len(report.failed) + len(report.committed)
        head = f"{bad} of {total} windows did not land completely:" if bad else ""
        shown = first_lines(lines, self.MAX_LISTED, "see raw.ingest_ledger")
        if report.trunks_error:
            shown.append(f"trunks not refreshed (raw.trunks kept): {_short(report.trunks_error)}")
        advice = (
            "Landed windows are committed; re-run these hours (writes are idempotent). A window "
            "that stays short means the API counts calls it does not serve."
        )
        body = "\n".join(f"  {line}" for line in shown)
        super().__init__("\n".join(part for part in (head, body, advice) if part))


def hour_label(window: Window) -> str:
    """``2026-11-18T10:00Z``: a window by its start hour, for messages."""
    return f"{window.start:%Y-%m-%dT%H:%M}Z"


def _short(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_error(exc: BaseException) -> str:
    """An error in one short line for a warning: no request URL, no response body.

    An API error reads ``RateLimitedError (HTTP 429): <its message>``; the full text (URL,
    redacted body) belongs at DEBUG level and in the failed step's error.
    """
    if isinstance(exc, SinchApiError):
        head = str(exc).split(" | ", 1)[0]
        status = f" (HTTP {exc.status})" if exc.status is not None else ""
        return _short(f"{type(exc).__name__}{status}: {head}", 160)
    return _short(str(exc), 160)


def window_notes(entry: LedgerEntry) -> str:
    """What was unusual about a committed window, for its progress line ("" when nothing).

    Slices it was read in (their counts share boundary seconds, so ``totalItems`` is summed
    over them), a shortfall, an unsettled count, rounded float amounts.
    """
    fetch = entry.fetch
    notes = []
    if fetch.sub_windows:
        notes.append(f"read in {len(fetch.sub_windows)} slices, totalItems summed over them")
    if not entry.reconciled:
        notes.append(f"SHORT by {entry.shortfall}")
    elif not entry.settled:
        notes.append("not settled yet")
    if fetch.rounded_amounts:
        notes.append(f"{fetch.rounded_amounts} float amounts rounded to 6 decimals")
    return "; ".join(notes)


#: The attribute of a window's progress log record that holds :func:`window_progress`.
WINDOW_EXTRA = "pipeline_window"
#: The attribute of ``raw/call_details``'s closing log record: ``{"calls", "details",
#: "rejected", "note"}`` (calls of the run's hours, those with details, rows rejected, why the
#: export was unavailable or None).
DETAILS_EXTRA = "pipeline_call_details"


def window_progress(entry: LedgerEntry) -> dict[str, int | bool | str | list[str]]:
    """What a progress display needs of one committed window, for a log record's ``extra``.

    Returns:
        ``{"start": str, "calls": int, "rejected": int, "rejected_taken": list[str],
        "pages": int, "sweeps": int, "reconciled": bool}``: the window's start (ISO 8601,
        UTC), calls landed, records rejected, the windows (starts, one per row) whose rejected
        rows this commit took over (:func:`run_rejected`), pages received, passes over the
        pages (more than one: the window was re-swept), and whether every call the API
        counted arrived.
    """
    return {
        "start": entry.window.start.isoformat(),
        "calls": entry.records,
        "rejected": entry.rejected,
        "rejected_taken": [start.isoformat() for start in entry.rejected_taken],
        "pages": entry.fetch.pages,
        "sweeps": entry.fetch.sweeps,
        "reconciled": entry.reconciled,
    }


def log_window(entry: LedgerEntry) -> None:
    """Log one committed window in one line, with what was unusual about it."""
    fetch = entry.fetch
    notes = window_notes(entry)
    log.info(
        "window %s: %d calls, %d rejected, %d pages%s",
        hour_label(entry.window),
        entry.records,
        entry.rejected,
        fetch.pages,
        f" ({notes})" if notes else "",
        extra={WINDOW_EXTRA: window_progress(entry)},
    )
