"""Sweep one time window of calls until every call the API counts was seen, or say why not.

A window is read as one or more **slices** (sub-windows). Each slice is paged
(:class:`~pipeline.sinch.paging.PageRun`) and **reconciled**: the distinct callIds received
for it (in the slice, outside it at the boundary seconds, or rejected) must reach the API's
``totalItems``, and the records one sweep received (a record repeated within a sweep means
another was skipped, since the pages cover each offset once). What happens otherwise:

* ``totalItems`` above the pageable depth (``max_result_window``, the API's result window), a
  deep page refused (400/416/422) or cut (the run reached the depth), or the list running dry
  on a deep page before ``totalItems`` records: the slice is **split** in halves (whole
  seconds) and each half is swept; page 1 of a slice that is too deep is not yielded.
* fewer distinct callIds than ``totalItems`` (records skipped by an unstable order between
  pages, or the end of the list cut short), or ``totalItems`` moving while it is read (live
  data): the slice is **swept again**, up to ``max_sweeps``; the callIds of all its sweeps
  count together. Still short after that: split (if the slice needed more than one page, at
  most :data:`MAX_SHORT_SPLITS` times over).
* a one-second slice that is still too deep is a :class:`PaginationError` naming it; a slice
  that stays short is reported in :attr:`SweepStats.unreconciled` (and ``reconciled`` is
  False): the caller lands what was read and must not call the window complete.

Pages are yielded as they arrive, so a consumer sees calls of one slice and sweep at a time;
**the same call can arrive more than once** (re-sweeps, the parent of a split): de-duplicate by
``call_id`` (the raw layer keeps the latest). Every call is cut to its slice, and slices do not
overlap, so a call is yielded by one slice only in each sweep.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from pipeline.sinch.errors import PaginationError
from pipeline.sinch.models import CallRecord, RejectedRecord, Window
from pipeline.sinch.pages import ParsedPage, parse_page, table_to_records
from pipeline.sinch.paging import RawPage
from pipeline.sinch.windows import CallFilters, request_bounds, window_params

if TYPE_CHECKING:
    from pipeline.sinch.client import CallsClient

logger = logging.getLogger("pipeline.sinch")

SECOND = timedelta(seconds=1)
#: A slice that stays short is split at most this many times over (into 2**6 = 64 pieces):
#: smaller slices need fewer pages, so fewer page boundaries for an unstable order to shuffle
#: records across; beyond that, splitting a server whose count never matches only costs
#: requests.
MAX_SHORT_SPLITS = 6

#: ``(body, data_key, start, end) -> ParsedPage``: for example
#: :func:`~pipeline.sinch.pages.parse_page_body` run in a worker process.
PageParser = Callable[[bytes, str, datetime, datetime], ParsedPage]


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
            server's inclusive bounds, or fractions of a second; pitfall 3).
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


@dataclass(frozen=True, slots=True)
class _Done:
    total: int | None
    short: Shortfall | None
    settled: bool
    outside: int


@dataclass(frozen=True, slots=True)
class _Split:
    reason: str
    short: bool = False  # split because the slice stayed short (not because it was too deep)


def call_id_key(item: Any) -> str | None:
    """A call object's ``callId`` when it is a string (for distinct counts)."""
    if type(item) is dict:
        value = item.get("callId")
        if type(value) is str:
            return value
    return None


def window_label(window: Window) -> str:
    """``[start, end)`` in ISO form, for messages."""
    return f"[{window.start.isoformat()}, {window.end.isoformat()})"


def halves(window: Window) -> tuple[Window, Window]:
    """Split a window at its middle, rounded down to a whole second after ``start``."""
    half = (window.end - window.start) / 2
    middle = window.start + timedelta(seconds=max(1, int(half.total_seconds())))
    return Window(window.start, middle), Window(middle, window.end)


class WindowSweep:
    """Iterable of :class:`Page` objects covering one window; ``.stats`` after iteration.

    Iterate once; a second iteration raises ``RuntimeError``. Errors of the API
    (:class:`~pipeline.sinch.errors.SinchApiError` subclasses) are raised from the iteration.
    """

    def __init__(
        self,
        client: CallsClient,
        window: Window,
        filters: CallFilters | None,
        page_parser: PageParser | None = None,
    ) -> None:
        self.window = window
        self.filters = filters or CallFilters()
        self.stats = SweepStats()
        self._client = client
        self._page_parser = page_parser
        self._started = False
        self._seen_ids: set[str] = set()

    def __iter__(self) -> Iterator[Page]:
        if self._started:
            msg = "a WindowSweep can be iterated only once; call sweep_window() again"
            raise RuntimeError(msg)
        self._started = True
        return self._run()

    def _run(self) -> Iterator[Page]:
        stats, clock = self.stats, self._client.clock
        started = clock()
        todo = deque([(self.window, 0)])
        totals: list[int] = []
        settled = True
        try:
            while todo:
                piece, short_splits = todo.popleft()
                outcome = yield from self._sweep_slice(piece, short_splits < MAX_SHORT_SPLITS)
                if isinstance(outcome, _Split):
                    first, second = halves(piece)
                    logger.info("splitting %s: %s", window_label(piece), outcome.reason)
                    stats.splits += 1
                    depth = short_splits + outcome.short
                    todo.extendleft(((second, depth), (first, depth)))
                    continue
                stats.slices.append(piece)
                stats.outside_window += outcome.outside
                settled = settled and outcome.settled
                if outcome.total is not None:
                    totals.append(outcome.total)
                if outcome.short is not None:
                    stats.unreconciled.append(outcome.short)
                    stats.shortfall += outcome.short.total_items - outcome.short.seen
            stats.total_items = sum(totals) if totals else None
            stats.reconciled = not stats.unreconciled
            stats.settled = stats.reconciled and settled
            if not stats.reconciled:
                logger.warning(
                    "window %s: %d calls counted by the API were not received (slices: %s)",
                    window_label(self.window),
                    stats.shortfall,
                    ", ".join(window_label(s.slice) for s in stats.unreconciled),
                )
        finally:
            stats.seconds = clock() - started

    def _why_not_split(self, piece: Window) -> str:
        if piece.end - piece.start <= SECOND:
            return "one second is too dense to split further"
        return f"the window is already split into max_slices={self._client.max_slices} slices"

    def _can_split(self, piece: Window) -> bool:
        """Longer than a second, and the window stays within ``max_slices`` slices."""
        return piece.end - piece.start > SECOND and self.stats.splits + 1 < self._client.max_slices

    def _sweep_slice(
        self, piece: Window, may_split_short: bool
    ) -> Generator[Page, None, _Done | _Split]:
        client, stats = self._client, self.stats
        splittable = self._can_split(piece)
        params = window_params(piece, self.filters)
        union: set[str] = set()
        previous: int | None = None
        total: int | None = None
        short = drifted = False
        seen = outside = received_max = expected = 0
        for n in range(1, client.max_sweeps + 1):
            stats.sweeps += 1
            sweep = stats.sweeps
            run = client.page_run(params, splittable=splittable)
            total, drifted, nameless, outside, last = None, False, 0, 0, 0
            for raw in run:
                last = raw.number
                if raw.total_items is not None:
                    if total is not None and raw.total_items != total:
                        drifted = True
                        stats.drift.append(
                            DriftEvent(sweep, raw.number, total, raw.total_items, "page")
                        )
                        logger.info(
                            "totalItems changed from %s to %s at page %d of sweep %d (%s)",
                            total, raw.total_items, raw.number, sweep, window_label(piece),
                        )  # fmt: skip
                    total = raw.total_items
                for item in raw.items:
                    key = call_id_key(item)
                    if key is None:
                        nameless += 1
                    else:
                        union.add(key)
                page = self._parse_page(sweep, raw, piece)
                outside += page.outside_window
                yield page
            stats.pages += run.pages
            stats.attempts += run.attempts
            if run.end == "too_deep":
                return _Split(f"totalItems {run.total} exceeds the pageable depth")
            if run.end == "truncated":
                why = f"refused: {run.refusal}" if run.refusal else "the pageable depth was reached"
                if splittable:
                    return _Split(f"a deep page was {why}" if run.refusal else why)
                lower, upper = request_bounds(piece)
                raise PaginationError(
                    f"slice {window_label(piece)} of window {window_label(self.window)} cannot "
                    f"be read whole: the API counts {run.total} calls created from "
                    f"{lower.isoformat()} to {upper.isoformat()} inclusive (the slice with its "
                    f"boundary seconds) but {why} (max_result_window "
                    f"{client.max_result_window}); {self._why_not_split(piece)}"
                )
            seen = len(union) + nameless
            # What the slice holds: the API's count, or what one sweep received if that is
            # more. A record received twice in one sweep (an unstable order of ties) means
            # another was skipped, since the pages cover each offset once: counting received
            # records catches that even when totalItems is capped or missing.
            received_max = max(received_max, run.received)
            expected = max(total or 0, received_max)
            short = seen < expected
            if short:
                stats.drift.append(DriftEvent(sweep, last, seen, expected, "short"))
                logger.info(
                    "sweep %d of %s ended with %d distinct of %d records (totalItems %s)",
                    sweep, window_label(piece), seen, expected, total,
                )  # fmt: skip
            stats.sweep_totals.append(total)
            if short and run.ran_dry and splittable:
                # The list ran dry on a deep page before the count: a result window smaller
                # than max_result_window, or records shuffled across page boundaries. Smaller
                # slices need fewer pages, and a slice that fits in one page has no boundary.
                return _Split(f"the list ran dry at page {last} after {seen} of {total} records")
            if n > 1 and previous != total:
                stats.drift.append(DriftEvent(sweep, last, previous, total, "sweep"))
            if not short and not drifted and (n == 1 or previous == total):
                return _Done(total, None, True, outside)
            previous = total
            if n < client.max_sweeps:
                logger.info("re-sweeping %s (sweep %d)", window_label(piece), sweep + 1)
        if short and splittable and may_split_short and expected > client.page_size:
            return _Split(f"still short after {client.max_sweeps} sweeps", short=True)
        if not short:
            logger.warning(
                "%s did not settle after %d sweeps; totals: %s",
                window_label(piece), client.max_sweeps, stats.sweep_totals[-client.max_sweeps :],
            )  # fmt: skip
            return _Done(total, None, False, outside)
        return _Done(total, Shortfall(piece, expected, seen), False, outside)

    def _parse_page(self, sweep: int, raw: RawPage, piece: Window) -> Page:
        start, end = piece.start, piece.end
        if self._page_parser is None:
            parsed = parse_page(raw.items, start, end)
        else:
            parsed = self._page_parser(raw.body, "calls", start, end)
        stats = self.stats
        stats.records += parsed.calls.num_rows
        stats.rejected += len(parsed.rejected)
        stats.rounded_amounts += parsed.rounded_amounts
        stats.unknown_fields |= parsed.unknown_fields
        self._seen_ids.update(parsed.calls.column("call_id").to_pylist())
        stats.distinct_records = len(self._seen_ids)
        return Page(
            sweep=sweep,
            number=raw.number,
            total_items=raw.total_items,
            received=len(raw.items),
            calls=parsed.calls,
            rejected=parsed.rejected,
            outside_window=parsed.outside_window,
            unknown_fields=parsed.unknown_fields,
            attempts=raw.attempts,
            slice=piece,
            rounded_amounts=parsed.rounded_amounts,
        )
