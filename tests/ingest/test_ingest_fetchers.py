"""The fetch stage's queue: how far the fetch threads run ahead of a writer that is busy."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import pipeline.ingest.runner as runner
from pipeline.ingest.fetchers import FetchStage, PageArrived, WindowFetched
from pipeline.ingest.runner import COMMIT_BUFFER_PAGES, ingest_windows
from pipeline.sinch.models import Window
from tests.conftest import wait_for

HOUR0 = datetime(2026, 11, 2, tzinfo=UTC)
WINDOWS = [Window(HOUR0 + timedelta(hours=h), HOUR0 + timedelta(hours=h + 1)) for h in range(3)]


class EndlessWindow:
    """A page source yielding numbered pages forever, counting what it produced."""

    def __init__(self, produced: list[int], lock: threading.Lock) -> None:
        self._produced = produced
        self._lock = lock
        self.stats = None

    def __iter__(self) -> Iterator[int]:
        n = 0
        while True:
            with self._lock:
                self._produced[0] += 1
            n += 1
            yield n


@pytest.mark.parametrize(("min_queue", "queued"), [(0, 6), (4, 6), (COMMIT_BUFFER_PAGES, 32)])
def test_threads_fetch_ahead_of_a_busy_writer_up_to_the_queue_depth(min_queue, queued):
    """While the writer commits (takes nothing), the threads fetch on until the queue of
    ``max(2 × concurrency, min_queue)`` pages is full, each then holding one more page; a
    writer that takes one message lets exactly one more page be fetched."""
    concurrency, produced, lock = len(WINDOWS), [0], threading.Lock()
    ahead = queued + concurrency
    stage = FetchStage(
        lambda _w: EndlessWindow(produced, lock),
        lambda stats: stats,
        concurrency,
        min_queue=min_queue,
    )
    with stage:
        messages = stage.messages(WINDOWS)
        first = next(messages)  # the writer takes one page, then is busy
        assert isinstance(first, PageArrived)
        wait_for(lambda: produced[0] >= ahead + 1, f"{ahead + 1} pages fetched ahead")
        assert produced[0] == ahead + 1  # blocked: no thread fetches past a full queue
        next(messages)
        wait_for(lambda: produced[0] == ahead + 2, "one more page after one was taken")


def test_the_calls_run_buffers_a_commit_s_worth_of_pages(monkeypatch, tmp_path):
    """The calls run asks its fetch stage for COMMIT_BUFFER_PAGES (the export keeps 2 a thread)."""
    asked: list[int] = []

    class Recording(FetchStage):  # type: ignore[type-arg]
        def __init__(self, *args, min_queue: int = 0, **kwargs) -> None:  # type: ignore[no-untyped-def]
            asked.append(min_queue)
            super().__init__(*args, min_queue=min_queue, **kwargs)

    class NoCalls:  # a client with no windows to sweep and no trunks to refresh
        project_id = "P"

    monkeypatch.setattr(runner, "FetchStage", Recording)
    ingest_windows(NoCalls(), tmp_path / "w.duckdb", [], refresh_trunks=False)  # type: ignore[arg-type]
    assert asked == [COMMIT_BUFFER_PAGES]


class OnePage:
    """A window of one page (its window's start), or a source raising ``error``."""

    def __init__(self, window: Window, error: Exception | None = None) -> None:
        self._window, self._error = window, error
        self.stats = window

    def __iter__(self) -> Iterator[datetime]:
        if self._error is not None:
            raise self._error
        yield self._window.start


@pytest.mark.parametrize("deliver_queued", [False, True])
def test_a_fatal_error_delivers_what_was_queued_only_when_asked(deliver_queued):
    """One thread fetches window 0 in full (its page and its end queued), then window 1 raises
    a fatal error before the writer has read anything: with ``deliver_queued`` the writer
    still gets window 0's page and end, then the error; without, the error at once."""
    refused = PermissionError("403")
    stage = FetchStage(
        lambda w: OnePage(w, refused if w == WINDOWS[1] else None),
        lambda stats: stats,
        1,
        fatal=lambda exc: exc is refused,
        min_queue=8,
        deliver_queued=deliver_queued,
    )
    got: list[object] = []
    with stage:
        messages = stage.messages(WINDOWS)
        with pytest.raises(PermissionError):
            for message in messages:
                got.append(message)
                # Hold the first message until window 1 has failed (window 0 is queued by then).
                assert stage._stop.wait(timeout=30)
    if deliver_queued:
        assert got == [PageArrived(WINDOWS[0], HOUR0), WindowFetched(WINDOWS[0], WINDOWS[0])]
    else:
        assert got in ([], [PageArrived(WINDOWS[0], HOUR0)])  # read before the error, or not


class PagesThenEnd:
    """``pages`` numbered pages, the last one short: ``ended`` once it is yielded (as an
    ExportRun's); ``last_fetched`` is set as the last page is handed over."""

    def __init__(self, window: Window, pages: int) -> None:
        self._pages = pages
        self.stats = window
        self.ended = False
        self.last_fetched = threading.Event()

    def __iter__(self) -> Iterator[int]:
        for n in range(1, self._pages + 1):
            self.ended = n == self._pages
            if self.ended:
                self.last_fetched.set()
            yield n


class RefusedAfter:
    """A source raising ``error`` once ``event`` is set (another window got that far)."""

    def __init__(self, event: threading.Event, error: Exception) -> None:
        self._event, self._error = event, error
        self.stats = None

    def __iter__(self) -> Iterator[int]:
        assert self._event.wait(timeout=30)
        raise self._error
        yield 0  # pragma: no cover - a generator


def _read_until_refused(sources: dict[Window, Any], refused: Exception) -> list[object]:
    """What a writer reads of two windows at concurrency 2 (the export's queue of 4) when
    ``refused`` is fatal; it is busy with its first message until the refusal has happened."""
    stage = FetchStage(
        sources.__getitem__, lambda stats: stats, 2,
        fatal=lambda exc: exc is refused, deliver_queued=True,
    )  # fmt: skip
    got: list[object] = []
    with stage, pytest.raises(PermissionError):
        for message in stage.messages(WINDOWS[:2]):
            got.append(message)
            assert stage._stop.wait(timeout=30)
    return got


def test_a_window_whose_pages_fill_the_queue_still_ends_before_the_fatal_error():
    """At concurrency 2 the queue holds 4 messages: window 0's last pages wait in a thread
    (queue full, the writer busy) when window 1 is refused. They and window 0's end (its last
    page came: no request needed) still reach the writer; before, the waiting page and the end
    were dropped and window 0 was recorded unavailable."""
    refused = PermissionError("403")
    first = PagesThenEnd(WINDOWS[0], 6)
    sources = {WINDOWS[0]: first, WINDOWS[1]: RefusedAfter(first.last_fetched, refused)}
    got = _read_until_refused(sources, refused)
    assert got == [*(PageArrived(WINDOWS[0], n) for n in range(1, 7)),
                   WindowFetched(WINDOWS[0], WINDOWS[0])]  # fmt: skip


def test_after_a_fatal_error_no_thread_asks_for_another_page():
    """An endless window whose thread holds a page when another is refused: that page is
    handed over, then the thread stops; it never asks the source for more."""
    refused = PermissionError("403")
    produced, lock = [0], threading.Lock()
    endless = EndlessWindow(produced, lock)
    started = threading.Event()

    class Marking(EndlessWindow):
        def __iter__(self) -> Iterator[int]:
            for n in endless:
                started.set()
                yield n

    sources = {WINDOWS[0]: Marking(produced, lock), WINDOWS[1]: RefusedAfter(started, refused)}
    got = _read_until_refused(sources, refused)
    assert len(got) == produced[0]  # every page asked for was handed over, none after
    assert all(isinstance(m, PageArrived) for m in got)
