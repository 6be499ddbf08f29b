"""The ingestion ledger: what a window fetch reported, and the ``raw.ingest_ledger`` row.

:class:`WindowFetch` is what the client reports about one window; :class:`LedgerEntry` is what
a commit returns; :func:`ledger_values` is the row appended for it, in ``LEDGER_COLUMNS``
order (``sql/schema/raw.sql`` documents each column). Both backends write the same row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pipeline.sinch.models import Window


@dataclass(frozen=True, slots=True)
class WindowFetch:
    """What the client reported about fetching one window (stored in ``raw.ingest_ledger``).

    Attributes:
        sweeps: full passes over the window's pages (more than one when ``totalItems`` drifted).
        pages: pages received, all sweeps.
        api_total_items: the API's ``totalItems`` on the final sweep (None if never reported).
        attempts: HTTP requests sent, retries included.
        seconds: wall time of the fetch.
        outside_window: calls of the last sweep that the API returned for the window's
            inclusive upper bound but that belong to the next window.
        new_fields: call fields the client does not know, sorted.
        reconciled: landed + rejected + outside-window >= ``totalItems`` on every slice swept
            (the whole window, or each sub-window); False = the API counted calls not seen.
        sub_windows: the leaf ``(start, end)`` slices (aware datetimes, ``start < end``, in
            order) swept when the window was split because its result set could not be paged
            fully; empty = swept whole.
        shortfall: calls the API counted but the fetch did not see, summed over the slices
            (>= 0; 0 when ``reconciled``).
        rounded_amounts: money amounts sent as JSON numbers with more than 6 decimals, rounded
            when parsed (``raw`` keeps them as sent); reported, not stored in the ledger.

    Raises:
        ValueError: ``shortfall`` is negative or positive on a reconciled fetch, or a slice is
            naive, empty or out of order.
    """

    sweeps: int
    pages: int
    api_total_items: int | None
    attempts: int
    seconds: float
    outside_window: int = 0
    new_fields: tuple[str, ...] = field(default_factory=tuple)
    reconciled: bool = True
    sub_windows: tuple[tuple[datetime, datetime], ...] = ()
    shortfall: int = 0
    rounded_amounts: int = 0

    def __post_init__(self) -> None:
        if self.shortfall < 0 or (self.reconciled and self.shortfall):
            msg = f"shortfall {self.shortfall} with reconciled={self.reconciled}"
            raise ValueError(msg)
        previous_end: datetime | None = None
        for start, end in self.sub_windows:
            if start.tzinfo is None or end.tzinfo is None or not start < end:
                msg = f"sub-window [{start!r}, {end!r}) is naive or empty"
                raise ValueError(msg)
            if previous_end is not None and start < previous_end:
                msg = f"sub-window starting {start.isoformat()} overlaps the previous one"
                raise ValueError(msg)
            previous_end = end

    def slices_json(self) -> str | None:
        """The ledger's ``slices``: the sub-windows as JSON, or None when swept whole.

        The JSON is a list of ``{"start", "end"}`` objects holding ISO-8601 UTC strings.
        """
        if not self.sub_windows:
            return None
        return json.dumps(
            [
                {"start": s.astimezone(UTC).isoformat(), "end": e.astimezone(UTC).isoformat()}
                for s, e in self.sub_windows
            ]
        )


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """The ledger row written for one committed window.

    Attributes:
        window: the window committed.
        records: distinct calls now in ``raw.calls`` for the window.
        rejected: records of the window kept in ``raw.rejected_calls``.
        api_total_items: the API's ``totalItems`` (None if never reported).
        settled: the previous fetch of the window reported the same ``totalItems`` and this
            fetch reconciled.
        fetch: what the client reported.
        moved_in: calls whose previous row in ``raw.calls`` was in another window (moved here).
        reconciled: ``fetch.reconciled``.
        shortfall: ``fetch.shortfall`` (calls the API counted but the fetch did not see).
        rejected_taken: the ``window_start`` of each ``raw.rejected_calls`` row of another
            window this commit deleted, its ``call_id`` now being this window's (rejected
            again, or landed): that window's ``rejected`` counted it when it committed, so a
            run's total subtracts it when that window committed earlier in the same run
            (:func:`pipeline.ingest.report.run_rejected`).
    """

    window: Window
    records: int
    rejected: int
    api_total_items: int | None
    settled: bool
    fetch: WindowFetch
    moved_in: int = 0
    reconciled: bool = True
    shortfall: int = 0
    rejected_taken: tuple[datetime, ...] = ()


LEDGER_COLUMNS = (
    "window_start",
    "window_end",
    "fetched_at",
    "run_id",
    "sweeps",
    "pages",
    "records",
    "rejected",
    "outside_window",
    "api_total_items",
    "attempts",
    "seconds",
    "settled",
    "new_fields",
    "reconciled",
    "sub_windows",
    "slices",
    "shortfall",
    "moved_in",
    "project_id",
)
INSERT_LEDGER = (
    f"INSERT INTO raw.ingest_ledger ({', '.join(LEDGER_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(LEDGER_COLUMNS))})"
)


def ledger_values(
    window: Window,
    fetched_at: datetime,
    run_id: str,
    fetch: WindowFetch,
    landed: tuple[int, int, bool, int],
    project_id: str,
) -> list[object]:
    """Values of a ``raw.ingest_ledger`` row, in ``LEDGER_COLUMNS`` order.

    ``landed`` is ``(records, rejected, settled, moved_in)`` of the committed window.
    """
    records, rejected, settled, moved_in = landed
    return [
        *(window.start, window.end, fetched_at, run_id, fetch.sweeps, fetch.pages),
        *(records, rejected, fetch.outside_window, fetch.api_total_items, fetch.attempts),
        *(fetch.seconds, settled, list(fetch.new_fields) or None, fetch.reconciled),
        *(len(fetch.sub_windows) or 1, fetch.slices_json(), fetch.shortfall, moved_in),
        project_id,
    ]
