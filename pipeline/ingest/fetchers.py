"""The fetch stage of an ingestion: sweep windows concurrently onto one bounded queue.

``concurrency`` threads each sweep one window at a time with the shared client (which applies
the rate limit and retries) and put what they get on a queue of ``2 × concurrency`` messages,
so memory is bounded by pages, never by a window or a backfill. The writer (the caller's
thread) reads :meth:`FetchStage.messages`:

- :class:`PageArrived`: one parsed page of a window;
- :class:`WindowFetched`: the window's sweep ended; its ledger view (:class:`WindowFetch`);
- :class:`WindowFailed`: the window's fetch raised; nothing of it should be committed.

An error that would be the same for every window (:data:`FATAL_ERRORS`) stops the stage and is
raised from :meth:`FetchStage.messages` at once.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pipeline.ingest.parsers import ParserCrashed
from pipeline.sinch.client import CallsClient, Page, PageParser, SweepStats
from pipeline.sinch.errors import AuthError, ClientError
from pipeline.sinch.models import Window
from pipeline.sinch.windows import CallFilters
from pipeline.warehouse.ledger import WindowFetch

#: Errors that would be the same for every window (bad credentials, a 4xx such as an unknown
#: project or a rejected parameter, a parser process that died): the run stops at the first
#: one instead of trying them all.
FATAL_ERRORS = (AuthError, ClientError, ParserCrashed)


@dataclass(frozen=True, slots=True)
class PageArrived:
    """One page of ``window``."""

    window: Window
    page: Page


@dataclass(frozen=True, slots=True)
class WindowFetched:
    """The sweep of ``window`` ended; ``fetch`` is what the ledger records of it."""

    window: Window
    fetch: WindowFetch


@dataclass(frozen=True, slots=True)
class WindowFailed:
    """The fetch of ``window`` raised ``error``."""

    window: Window
    error: BaseException


Message = PageArrived | WindowFetched | WindowFailed


class _Stopped(Exception):
    """The stage stopped; fetchers abandon their window."""


def window_fetch(stats: SweepStats) -> WindowFetch:
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


class FetchStage:
    """Threads sweeping windows onto a bounded queue; use as a context manager.

    Args:
        client: the shared, thread-safe client.
        filters: API filters for every window.
        concurrency: windows swept at the same time (>= 1).
        parser: parses page bodies (e.g. in worker processes), or None for the fetch threads.
    """

    def __init__(
        self,
        client: CallsClient,
        filters: CallFilters,
        concurrency: int,
        parser: PageParser | None,
    ) -> None:
        self._client = client
        self._filters = filters
        self._parser = parser
        self._queue: queue.Queue[Message] = queue.Queue(maxsize=2 * concurrency)
        self._stop = threading.Event()
        self._fatal: list[BaseException] = []
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="fetch")

    def __enter__(self) -> FetchStage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def messages(self, windows: Sequence[Window]) -> Iterator[Message]:
        """Start sweeping ``windows``; yield messages until each window ended or failed.

        Raises:
            AuthError | ClientError | ParserCrashed: at once, from any window.
        """
        for window in windows:
            self._pool.submit(self._fetch, window)
        remaining = len(windows)
        while remaining:
            if self._fatal:
                raise self._fatal[0]
            try:
                message = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if not isinstance(message, PageArrived):
                remaining -= 1
            yield message

    def _put(self, message: Message) -> None:
        # Never block forever on a full queue: the writer may have stopped (error, Ctrl-C).
        while not self._stop.is_set():
            try:
                self._queue.put(message, timeout=0.1)
            except queue.Full:
                continue
            return
        raise _Stopped

    def _fetch(self, window: Window) -> None:
        try:
            if self._stop.is_set():
                return
            sweep = self._client.sweep_window(window, self._filters, page_parser=self._parser)
            for page in sweep:
                self._put(PageArrived(window, page))
            self._put(WindowFetched(window, window_fetch(sweep.stats)))
        except _Stopped:
            return
        except FATAL_ERRORS as exc:  # the same for every window: stop the run
            self._fatal.append(exc)
            self._stop.set()
        except Exception as exc:  # reported per window, the run goes on
            with contextlib.suppress(_Stopped):
                self._put(WindowFailed(window, exc))
