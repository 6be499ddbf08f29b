"""Sweep one time window of calls until every call the API counts was seen, or say why not.

A window is read as one or more **slices** (sub-windows). Each slice is paged
(:class:`~pipeline.sinch.paging.PageRun`) and **reconciled**: the distinct callIds received
for it (in the slice, outside it at the boundary seconds, or rejected) must reach the API's
``totalItems``, and the records one sweep received (a record repeated within a sweep means
another was skipped, since the pages cover each offset once). What happens otherwise:

* ``totalItems`` above the pageable depth (``max_result_window``, the API's result window), a
  deep page refused (400/416/422) or cut (the run reached the depth), or the list running dry
  on a deep page before ``totalItems`` records: the slice is **split** (whole seconds) and
  each piece is swept; page 1 of a slice that is too deep is not yielded. When the window's
  own page 1 counts more than the depth, the window is cut at once into as many equal pieces
  as its count needs at :data:`SPLIT_FILL` of the depth (at most a quarter of ``max_slices``):
  one request wasted where halving a window 2.4× too deep wasted three. Every other split is
  in halves, including a piece still too deep (its traffic is uneven: equal pieces would be
  empty slices spent from ``max_slices``).
* fewer distinct callIds than ``totalItems`` (records skipped by an unstable order between
  pages, or the end of the list cut short), or ``totalItems`` moving while it is read (live
  data): the slice is **swept again**, up to ``max_sweeps``; the callIds of all its sweeps
  count together. Still short after that: split (if the slice needed more than one page, at
  most :data:`MAX_SHORT_SPLITS` times over).
* a list that looks complete but cannot prove it (more records than ``totalItems``, or an
  empty page right after two or more full ones: what a hidden result window with a capped
  count looks like) is split too, until its slices fit in one page or reconcile;
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
import math
from collections import deque
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from pipeline.sinch.errors import PaginationError, ResponseFormatError
from pipeline.sinch.models import Window
from pipeline.sinch.pages import call_id_key, parse_page
from pipeline.sinch.paging import (
    DecodedPage,
    PageDecoder,
    PageRun,
    RawPage,
    add_keys,
    read_envelope,
)
from pipeline.sinch.results import DriftEvent, Page, PageParser, Shortfall, SweepStats
from pipeline.sinch.windows import CallFilters, pieces, request_bounds, window_params

if TYPE_CHECKING:
    from pipeline.sinch.client import CallsClient

logger = logging.getLogger("pipeline.sinch")

SECOND = timedelta(seconds=1)
#: A slice that stays short is split at most this many times over (into 2**6 = 64 pieces):
#: smaller slices need fewer pages, so fewer page boundaries for an unstable order to shuffle
#: records across; beyond that, splitting a server whose count never matches only costs
#: requests.
MAX_SHORT_SPLITS = 6
#: A slice too deep to page is cut into pieces that would each hold this share of the pageable
#: depth if calls were spread evenly over it: room for uneven traffic, so a piece is rarely
#: too deep again (it is then split once more).
SPLIT_FILL = 0.8


@dataclass(frozen=True, slots=True)
class _Done:
    total: int | None
    short: Shortfall | None
    settled: bool
    outside: int


@dataclass(slots=True)
class _SliceReading:
    """What the sweeps of one slice saw so far."""

    piece: Window
    splittable: bool
    params: list[tuple[str, str]]
    union: set[str] = field(default_factory=set)  # distinct callIds of all its sweeps
    received_max: int = 0  # the most records one sweep received
    previous: int | None = None  # totalItems at the end of the sweep before
    seen: int = 0
    expected: int = 0
    short: bool = False


@dataclass(slots=True)
class _SweepEnd:
    """How one sweep of a slice ended."""

    run: PageRun
    total: int | None = None
    drifted: bool = False
    nameless: int = 0
    outside: int = 0
    last: int = 0
    overlaps: int = 0  # pages that repeated the previous page's last record as an extra one

    @property
    def received(self) -> int:
        """Records received by the sweep, not counting overlapping repeats."""
        return self.run.received - self.overlaps


@dataclass(frozen=True, slots=True)
class _Split:
    reason: str
    short: bool = False  # split because the slice stayed short (not because it was too deep)
    pieces: int = 2


def window_label(window: Window) -> str:
    """``[start, end)`` in ISO form, for messages."""
    return f"[{window.start.isoformat()}, {window.end.isoformat()})"


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
                    parts = pieces(piece, outcome.pieces)
                    logger.info(
                        "splitting %s in %d: %s", window_label(piece), len(parts), outcome.reason
                    )
                    stats.splits += len(parts) - 1
                    depth = short_splits + outcome.short
                    todo.extendleft((part, depth) for part in reversed(parts))
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

    def _pieces_for(self, total: int, piece: Window) -> int:
        """How many pieces a slice counting ``total`` calls is cut into (>= 2).

        As many as hold ``total`` at :data:`SPLIT_FILL` of the pageable depth, within a
        quarter of ``max_slices`` (the rest is left for halving pieces where the calls are
        denser) and the seconds of the slice.
        """
        client = self._client
        per_piece = max(1, int(max(client.max_result_window, client.page_size) * SPLIT_FILL))
        wanted = -(-total // per_piece)  # ceil
        share = (client.max_slices - self.stats.splits) // 4
        seconds = math.ceil((piece.end - piece.start).total_seconds())
        return max(2, min(wanted, share, seconds))

    def _can_split(self, piece: Window) -> bool:
        """Longer than a second, and the window stays within ``max_slices`` slices."""
        return piece.end - piece.start > SECOND and self.stats.splits + 1 < self._client.max_slices

    def _sweep_slice(
        self, piece: Window, may_split_short: bool
    ) -> Generator[Page, None, _Done | _Split]:
        """Sweep one slice until it reconciles, or decide to split it (see the module doc)."""
        client = self._client
        reading = _SliceReading(piece, self._can_split(piece), window_params(piece, self.filters))
        for n in range(1, client.max_sweeps + 1):
            end = yield from self._one_sweep(reading)
            deep = self._deep_outcome(reading, end)
            if deep is not None:
                return deep
            self._count(reading, end)
            if reading.short and end.run.ran_dry and reading.splittable:
                # The list ran dry on a deep page before the count: a result window smaller
                # than max_result_window, or records shuffled across page boundaries. Smaller
                # slices need fewer pages, and a slice that fits in one page has no boundary.
                return _Split(
                    f"the list ran dry at page {end.last} after {reading.seen} of "
                    f"{reading.expected} records"
                )
            doubt = self._doubt(reading, end)
            if doubt is not None:
                return _Split(doubt)
            stable = n == 1 or reading.previous == end.total
            if n > 1 and not stable:
                self.stats.drift.append(
                    DriftEvent(self.stats.sweeps, end.last, reading.previous, end.total, "sweep")
                )
            if not reading.short and not end.drifted and stable:
                return _Done(end.total, None, True, end.outside)
            reading.previous = end.total
            if n < client.max_sweeps:
                logger.info("re-sweeping %s (sweep %d)", window_label(piece), n + 1)
        return self._after_sweeps(reading, end, may_split_short)

    def _doubt(self, reading: _SliceReading, end: _SweepEnd) -> str | None:
        """Why a sweep that looks complete cannot be trusted, if it cannot (then split).

        A result window smaller than the client believes, paired with a count capped at the
        same number (or any count the server under-reports), makes a cut list look complete:
        ``seen`` reaches ``totalItems``. Two signs give it away, and a split settles it (the
        halves' lists are shorter than the cut, or show more calls):

        * the count is proven wrong: more records arrived than ``totalItems`` says exist, over
          more than one page (a slice that fits one page has no depth to be cut at);
        * the list ended on an empty page right after two or more full ones, at least
          ``min_hidden_window`` records deep: exactly what a hidden cut looks like (a genuine
          count that is such a multiple of the page size costs one split).
        """
        if reading.short or not reading.splittable:
            return None
        run, size = end.run, self._client.page_size
        if end.total is not None and end.received > max(end.total, size):
            return (
                f"totalItems {end.total} is below the {end.received} records received: the count "
                "cannot prove the list complete"
            )
        if run.ran_dry and run.received >= max(2 * size, self._client.min_hidden_window):
            return f"the list ended exactly after {run.received // size} full pages"
        return None

    def _one_sweep(self, reading: _SliceReading) -> Generator[Page, None, _SweepEnd]:
        """Page the slice once, yielding parsed pages; return how the sweep ended."""
        stats = self.stats
        stats.sweeps += 1
        sweep = stats.sweeps
        run = self._client.page_run(
            reading.params, splittable=reading.splittable, decode=self._decoder(reading.piece)
        )
        end = _SweepEnd(run)
        previous_last: str | None = None
        for raw in run:
            end.last = raw.number
            if raw.total_items is not None:
                if end.total is not None and raw.total_items != end.total:
                    end.drifted = True
                    event = DriftEvent(sweep, raw.number, end.total, raw.total_items, "page")
                    stats.drift.append(event)
                    logger.info(
                        "totalItems changed from %s to %s at page %d of sweep %d (%s)",
                        end.total, raw.total_items, raw.number, sweep, window_label(reading.piece),
                    )  # fmt: skip
                end.total = raw.total_items
            keys = raw.keys if raw.keys is not None else [call_id_key(i) for i in raw.items]
            if self._overlaps(raw.number, keys, previous_last, end.total):
                end.overlaps += 1
            previous_last = keys[-1] if keys else None
            end.nameless += add_keys(keys, reading.union)[0]
            page = self._parse_page(sweep, raw, reading.piece)
            end.outside += page.outside_window
            yield page
        stats.pages += run.pages
        stats.attempts += run.attempts
        return end

    def _overlaps(
        self, number: int, keys: list[str | None], previous_last: str | None, total: int | None
    ) -> bool:
        """Whether page ``number`` repeats the previous page's last record as an EXTRA record.

        Some servers start a page with the last record of the one before (an inclusive cursor):
        the page then holds one record more than its offsets leave room for,
        ``min(size, totalItems - offset)``. That repeat skips nothing and must not count as a
        received record. A repeat within that length is the other case, an unstable order of
        ties, where the repeat took the place of a record the sweep then missed.
        """
        if previous_last is None or not keys or keys[0] != previous_last or total is None:
            return False
        size = self._client.page_size
        return len(keys) > min(size, max(total - (number - 1) * size, 0))

    def _deep_outcome(self, reading: _SliceReading, end: _SweepEnd) -> _Split | None:
        """A split for a slice too deep to page, None otherwise.

        Raises:
            PaginationError: the slice is too deep and cannot be split.
        """
        run = end.run
        if run.end == "too_deep":
            return _Split(
                f"totalItems {run.total} exceeds the pageable depth",
                pieces=self._pieces_for(run.total or 0, reading.piece)
                if reading.piece == self.window
                else 2,
            )
        if run.end != "truncated":
            return None
        why = f"refused: {run.refusal}" if run.refusal else "the pageable depth was reached"
        if reading.splittable:
            return _Split(f"a deep page was {why}" if run.refusal else why)
        lower, upper = request_bounds(reading.piece)
        raise PaginationError(
            f"slice {window_label(reading.piece)} of window {window_label(self.window)} cannot "
            f"be read whole: the API counts {run.total} calls created from "
            f"{lower.isoformat()} to {upper.isoformat()} inclusive (the slice with its "
            f"boundary seconds) but {why} (max_result_window "
            f"{self._client.max_result_window}); {self._why_not_split(reading.piece)}"
        )

    def _count(self, reading: _SliceReading, end: _SweepEnd) -> None:
        """Update what the slice holds and what was seen of it after one sweep."""
        reading.seen = len(reading.union) + end.nameless
        # What the slice holds: the API's count, or what one sweep received if that is more.
        # A record received twice in one sweep (an unstable order of ties) means another was
        # skipped, since the pages cover each offset once: counting received records catches
        # that even when totalItems is capped or missing.
        reading.received_max = max(reading.received_max, end.received)
        reading.expected = max(end.total or 0, reading.received_max)
        reading.short = reading.seen < reading.expected
        self.stats.sweep_totals.append(end.total)
        if reading.short:
            self.stats.drift.append(
                DriftEvent(self.stats.sweeps, end.last, reading.seen, reading.expected, "short")
            )
            logger.info(
                "sweep %d of %s ended with %d distinct of %d records (totalItems %s)",
                self.stats.sweeps, window_label(reading.piece), reading.seen, reading.expected,
                end.total,
            )  # fmt: skip

    def _after_sweeps(
        self, reading: _SliceReading, end: _SweepEnd, may_split_short: bool
    ) -> _Done | _Split:
        """The verdict on a slice that used all its sweeps without settling."""
        client = self._client
        splits = reading.splittable and may_split_short and reading.expected > client.page_size
        if reading.short and splits:
            return _Split(f"still short after {client.max_sweeps} sweeps", short=True)
        if not reading.short:
            logger.warning(
                "%s did not settle after %d sweeps; totals: %s",
                window_label(reading.piece), client.max_sweeps,
                self.stats.sweep_totals[-client.max_sweeps :],
            )  # fmt: skip
            return _Done(end.total, None, False, end.outside)
        short = Shortfall(reading.piece, reading.expected, reading.seen)
        return _Done(end.total, short, False, end.outside)

    def _decoder(self, piece: Window) -> PageDecoder | None:
        """How the slice's pages are decoded: None (in the fetching thread) without a parser."""
        parser = self._page_parser
        if parser is None:
            return None

        def decode(body: bytes, url: str, unused_above: int | None) -> DecodedPage:
            page = parser(body, piece.start, piece.end, unused_above)
            if page is None:  # not a list answer: decode it here for the error and its URL
                read_envelope(body, "calls", url)
                raise ResponseFormatError("the page could not be decoded", status=200, url=url)
            return page

        return decode

    def _parse_page(self, sweep: int, raw: RawPage, piece: Window) -> Page:
        start, end = piece.start, piece.end
        parsed = raw.parsed if raw.parsed is not None else parse_page(raw.items, start, end)
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
            received=raw.received,
            calls=parsed.calls,
            rejected=parsed.rejected,
            outside_window=parsed.outside_window,
            unknown_fields=parsed.unknown_fields,
            attempts=raw.attempts,
            slice=piece,
            rounded_amounts=parsed.rounded_amounts,
        )
