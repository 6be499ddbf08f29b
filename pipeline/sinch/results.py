"""What a window sweep yields and reports: pages, drift events, shortfalls, stats.

Shapes only; :mod:`pipeline.sinch.sweep` produces them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa

from pipeline.sinch.models import CallRecord, RejectedRecord, Window
from pipeline.sinch.pages import table_to_records
from pipeline.sinch.paging import DecodedPage

#: ``(body, start, end, unused_above) -> DecodedPage | None``:
#: :func:`~pipeline.sinch.pages.decode_calls_page` run elsewhere (a worker process).
PageParser = Callable[[bytes, datetime, datetime, int | None], DecodedPage | None]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a window sweep, already parsed and cut to its slice.

    Attributes:
        sweep: 1-based sweep number, counted over every slice of the window.
        number: the ``page`` requested (1-based).
        total_items: the page's ``totalItems``, or None.
        received: how many call objects the page carried.
        calls: parsed calls with ``slice.start <= create_time < slice.end``, as an Arrow table
            with the columns of ``raw.calls``
            (:data:`~pipeline.sinch.pages.CALLS_ARROW_SCHEMA`).
        rejected: records that could not be parsed (kept whatever their time, unless their
            readable ``createTime`` puts them in another slice or window).
        outside_window: parsed calls dropped because ``create_time`` is outside the slice (the
            server's inclusive bounds, or fractions of a second; api-reference pitfall 3).
        unknown_fields: call keys not in ``CALL_FIELDS`` seen on this page.
        attempts: HTTP requests it took (1 + retries).
        slice: the sub-window this page was fetched for (the window itself when not split).
        rounded_amounts: money amounts sent as JSON numbers with float noise, rounded to 6
            decimals.
    """

    sweep: int
    number: int
    total_items: int | None
    received: int
    calls: pa.Table
    rejected: list[RejectedRecord]
    outside_window: int
    unknown_fields: frozenset[str]
    attempts: int
    slice: Window | None = None
    rounded_amounts: int = 0

    @property
    def records(self) -> list[CallRecord]:
        """``calls`` as :class:`CallRecord` tuples (converted on each access)."""
        return table_to_records(self.calls)


@dataclass(frozen=True, slots=True)
class DriftEvent:
    """A sign that a slice's result set moved or came back short while it was being read.

    Attributes:
        sweep: the sweep it happened in.
        page: the page at which it was seen.
        previous: the ``totalItems`` before (or the distinct records seen, for ``"short"``).
        current: the ``totalItems`` now.
        kind: ``"page"`` (totalItems changed between pages of one sweep), ``"sweep"`` (two
            sweeps ended with different totals) or ``"short"`` (the sweep ended before
            ``totalItems`` distinct records were seen).
    """

    sweep: int
    page: int
    previous: int | None
    current: int | None
    kind: str


@dataclass(frozen=True, slots=True)
class Shortfall:
    """A slice that ended with fewer distinct callIds than it holds.

    Attributes:
        slice: the sub-window.
        total_items: what it holds: ``totalItems``, or the records one sweep received if more.
        seen: distinct callIds received over all its sweeps.
    """

    slice: Window
    total_items: int
    seen: int


@dataclass(slots=True)
class SweepStats:
    """What one :class:`WindowSweep` did; complete once iteration has finished.

    Attributes:
        sweeps: passes over a slice's pages, all slices.
        pages: pages received over all sweeps.
        attempts: HTTP requests sent, retries included.
        total_items: the sum of each final slice's last ``totalItems`` (None if never sent);
            for a split window the slices' counts share their boundary seconds.
        sweep_totals: ``totalItems`` at the end of each sweep.
        drift: every :class:`DriftEvent` seen.
        reconciled: every final slice saw at least ``totalItems`` distinct callIds.
        settled: reconciled, and no slice's count moved in its last two sweeps.
        slices: the final slices swept (one, the window, when it was not split).
        splits: how many times a slice was split.
        unreconciled: the final slices that stayed short.
        shortfall: calls counted by the API but not seen, summed over ``unreconciled``.
        records: in-window calls yielded over all sweeps (duplicates across sweeps included).
        distinct_records: distinct ``call_id`` values among them.
        rejected: rejected records yielded (all sweeps).
        outside_window: calls of each final slice's last sweep cut by the half-open rule.
        rounded_amounts: JSON-number money amounts rounded to 6 decimals.
        seconds: elapsed ``clock`` seconds from first request to the end.
        unknown_fields: call keys not in ``CALL_FIELDS`` seen anywhere.
    """

    sweeps: int = 0
    pages: int = 0
    attempts: int = 0
    total_items: int | None = None
    sweep_totals: list[int | None] = field(default_factory=list)
    drift: list[DriftEvent] = field(default_factory=list)
    reconciled: bool = False
    settled: bool = False
    slices: list[Window] = field(default_factory=list)
    splits: int = 0
    unreconciled: list[Shortfall] = field(default_factory=list)
    shortfall: int = 0
    records: int = 0
    distinct_records: int = 0
    rejected: int = 0
    outside_window: int = 0
    rounded_amounts: int = 0
    seconds: float = 0.0
    unknown_fields: set[str] = field(default_factory=set)
