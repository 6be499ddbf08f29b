"""The fetch stage of an ingestion: read windows concurrently onto one bounded queue.

``concurrency`` threads each read one window at a time from a *page source* (an iterable of
pages with ``stats``, :class:`PageSource`: the calls' :class:`~pipeline.sinch.client.WindowSweep`
or the export's :class:`~pipeline.sinch.export.ExportRun`, both fetching lazily through the
shared client, which applies the rate limit and retries) and put what they get on a queue of
``max(2 × concurrency, min_queue)`` messages, so memory is bounded by pages, never by a window
or a backfill:
a thread holds at most one page while the queue is full and asks for no other until it is
taken. The writer (the caller's thread) reads :meth:`FetchStage.messages`:

- :class:`PageArrived`: one page of a window, as the source yielded it;
- :class:`WindowFetched`: the window's source ended; its summary for the ledger (what the
  stage's ``summarise`` made of the source's stats: :func:`window_fetch` for the calls);
- :class:`WindowFailed`: the window's fetch raised; nothing of it should be committed.

An error that would be the same for every window (``fatal``; for the calls
:data:`FATAL_ERRORS`) stops the stage and is raised from :meth:`FetchStage.messages`: at once,
or, with ``deliver_queued``, once the threads have handed over the pages they had already
fetched, and the end of each window that needs no other request (the export: a window fetched
in full before a 403 is committed, not recorded unavailable).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, Protocol, TypeAlias, TypeVar

from pipeline.ingest.parsers import ParserCrashed
from pipeline.sinch.client import SweepStats
from pipeline.sinch.errors import AuthError, ClientError
from pipeline.sinch.models import Window
from pipeline.warehouse.ledger import WindowFetch

#: Errors that would be the same for every window (bad credentials, a 4xx such as an unknown
#: project or a rejected parameter, a parser process that died): the calls run stops at the
#: first one instead of trying them all.
FATAL_ERRORS = (AuthError, ClientError, ParserCrashed)

P = TypeVar("P")  # a page
S = TypeVar("S")  # a source's stats
F = TypeVar("F")  # a finished window's summary for the ledger
P_co = TypeVar("P_co", covariant=True)
S_co = TypeVar("S_co", covariant=True)


class PageSource(Protocol[P_co, S_co]):
    """One window's pages, fetched as they are iterated (once); ``stats`` final at the end."""

    @property
    def stats(self) -> S_co:
        """What fetching the window took (complete once iteration has ended)."""
        ...

    def __iter__(self) -> Iterator[P_co]: ...


@dataclass(frozen=True, slots=True)
class PageArrived(Generic[P]):
    """One page of ``window``."""

    window: Window
    page: P


@dataclass(frozen=True, slots=True)
class WindowFetched(Generic[F]):
    """The fetch of ``window`` ended; ``fetch`` is what the ledger records of it."""

    window: Window
    fetch: F


@dataclass(frozen=True, slots=True)
class WindowFailed:
    """The fetch of ``window`` raised ``error``."""

    window: Window
    error: BaseException


#: What the writer receives: ``Message[page type, summary type]``.
Message: TypeAlias = PageArrived[P] | WindowFetched[F] | WindowFailed


class _Stopped(Exception):
    """The stage stopped; fetchers abandon their window."""


def is_fatal(exc: BaseException) -> bool:
    """Whether ``exc`` stops a calls run (:data:`FATAL_ERRORS`)."""
    return isinstance(exc, FATAL_ERRORS)


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


class FetchStage(Generic[P, S, F]):
    """Threads reading windows onto a bounded queue; use as a context manager.

    Args:
        open_window: opens a window's :class:`PageSource` (lazy: nothing is sent until it is
            iterated, in a fetch thread), e.g. ``lambda w: client.sweep_window(w, filters)``.
        summarise: turns a finished source's ``stats`` into the window's summary (the
            ``fetch`` of :class:`WindowFetched`), e.g. :func:`window_fetch`.
        concurrency: windows read at the same time (>= 1).
        fatal: whether an error stops the whole stage (raised from :meth:`messages`) rather
            than failing its window (:class:`WindowFailed`); default :func:`is_fatal`.
        min_queue: the queue holds ``max(2 × concurrency, min_queue)`` messages; a deeper
            queue lets the threads go on fetching while the writer commits.
        deliver_queued: on a fatal error, first yield what the threads had fetched: the
            messages queued, the page each thread holds, and a window's end when its source
            says ``ended`` (its last page came: no request is needed to know it). No thread
            sends another request. Default: drop them and raise at once.

    Raises:
        ValueError: ``concurrency < 1``.
    """

    def __init__(
        self,
        open_window: Callable[[Window], PageSource[P, S]],
        summarise: Callable[[S], F],
        concurrency: int,
        *,
        fatal: Callable[[BaseException], bool] = is_fatal,
        min_queue: int = 0,
        deliver_queued: bool = False,
    ) -> None:
        if concurrency < 1:
            msg = "concurrency must be >= 1"
            raise ValueError(msg)
        self._open = open_window
        self._summarise = summarise
        self._is_fatal = fatal
        self._deliver_queued = deliver_queued
        self._queue: queue.Queue[Message[P, F]] = queue.Queue(
            maxsize=max(2 * concurrency, min_queue)
        )
        self._stop = threading.Event()  # no new request, no new window
        self._abandon = threading.Event()  # the writer reads no more: drop what is held
        self._active = 0  # fetch calls running (guarded by _lock)
        self._lock = threading.Lock()
        self._fatal: list[BaseException] = []
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="fetch")

    def __enter__(self) -> FetchStage[P, S, F]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._abandon.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def messages(self, windows: Sequence[Window]) -> Iterator[Message[P, F]]:
        """Start reading ``windows``; yield messages until each window ended or failed.

        Pages of different windows interleave; a window's pages come in its source's order,
        then its :class:`WindowFetched` (or :class:`WindowFailed`, possibly after pages).

        Raises:
            BaseException: the first error ``fatal`` accepted (for the calls: AuthError |
                ClientError | ParserCrashed), from any window: at once (messages still queued
                are dropped) or, with ``deliver_queued``, once every thread has handed over
                what it had fetched (see the class). No thread sends another request once
                it notices.
        """
        for window in windows:
            self._pool.submit(self._fetch, window)
        remaining = len(windows)
        while remaining:
            if self._fatal:
                if self._deliver_queued:
                    yield from self._handed_over()
                self._abandon.set()
                raise self._fatal[0]
            try:
                message = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if not isinstance(message, PageArrived):
                remaining -= 1
            yield message

    def _handed_over(self) -> Iterator[Message[P, F]]:
        """After a fatal error: the queue's messages until it is empty and no thread runs."""
        while True:
            try:
                yield self._queue.get(timeout=0.05)
            except queue.Empty:
                with self._lock:
                    if self._active == 0 and self._queue.empty():
                        return

    def _put(self, message: Message[P, F]) -> None:
        # Never block forever on a full queue: the writer may have stopped (error, Ctrl-C).
        while not self._abandon.is_set():
            try:
                self._queue.put(message, timeout=0.1)
            except queue.Full:
                continue
            return
        raise _Stopped

    def _fetch(self, window: Window) -> None:
        with self._lock:
            self._active += 1
        try:
            if self._stop.is_set():
                return
            source = self._open(window)
            for page in source:
                self._put(PageArrived(window, page))
                if self._stop.is_set() and not getattr(source, "ended", False):
                    return  # its end would take another request: the window is abandoned
            self._put(WindowFetched(window, self._summarise(source.stats)))
        except _Stopped:
            return
        except Exception as exc:
            if self._is_fatal(exc):  # the same for every window: stop the run
                self._fatal.append(exc)
                self._stop.set()
                if not self._deliver_queued:
                    self._abandon.set()
                return
            with contextlib.suppress(_Stopped):  # reported per window, the run goes on
                self._put(WindowFailed(window, exc))
        finally:
            with self._lock:
                self._active -= 1
