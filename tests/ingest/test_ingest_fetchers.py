"""The fetch stage's queue: how far the fetch threads run ahead of a writer that is busy."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.ingest.fetchers import FetchStage, PageArrived
from pipeline.ingest.runner import QUEUED_PAGES_PER_THREAD
from pipeline.sinch.models import Window

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


def wait_for(condition, what: str, guard_s: float = 60.0) -> None:
    """Wait until ``condition()`` holds; ``guard_s`` only stops a hang."""
    deadline = time.monotonic() + guard_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.mark.parametrize("queued_per_thread", [2, QUEUED_PAGES_PER_THREAD])
def test_threads_fetch_ahead_of_a_busy_writer_up_to_the_queue_depth(queued_per_thread):
    """While the writer commits (takes nothing), each thread fetches on until the queue of
    ``queued_per_thread × concurrency`` pages is full, plus the one page it then holds; a
    writer that takes one message lets exactly one more page be fetched."""
    concurrency, produced, lock = len(WINDOWS), [0], threading.Lock()
    ahead = queued_per_thread * concurrency + concurrency
    stage = FetchStage(
        lambda _w: EndlessWindow(produced, lock),
        lambda stats: stats,
        concurrency,
        queued_per_thread=queued_per_thread,
    )
    with stage:
        messages = stage.messages(WINDOWS)
        first = next(messages)  # the writer takes one page, then is busy
        assert isinstance(first, PageArrived)
        wait_for(lambda: produced[0] >= ahead + 1, f"{ahead + 1} pages fetched ahead")
        assert produced[0] == ahead + 1  # blocked: no thread fetches past a full queue
        next(messages)
        wait_for(lambda: produced[0] == ahead + 2, "one more page after one was taken")


def test_the_queue_depth_must_be_positive():
    with pytest.raises(ValueError, match="queued_per_thread"):
        FetchStage(lambda _w: EndlessWindow([0], threading.Lock()), str, 2, queued_per_thread=0)
