"""The sandbox's caches stay within their bounds, and a backfill's slices stay cached."""

from __future__ import annotations

from pipeline.sandbox.settings import SandboxSettings
from pipeline.sandbox.state import SandboxState
from pipeline.sandbox.store import LRU


def test_lru_evicts_the_oldest_beyond_its_size() -> None:
    cache: LRU[str, int] = LRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_lru_evicts_by_weight_and_keeps_the_newest_entry() -> None:
    cache: LRU[str, list[int]] = LRU(100, weigh=len, budget=5)
    cache.put("a", [1, 2])
    cache.put("b", [1, 2])
    cache.put("a", [1])  # replacing an entry replaces its weight: 1 + 2
    cache.put("c", [1, 2])  # 5: within the budget
    assert [cache.get(k) is not None for k in "abc"] == [True, True, True]
    cache.put("d", [1, 2, 3])  # 8: the two least recently used go ("a", then "b")
    assert [cache.get(k) is not None for k in "abcd"] == [False, False, True, True]
    cache.put("huge", list(range(50)))  # above the budget alone: kept, everything else goes
    assert cache.get("huge") is not None and cache.get("c") is None and cache.get("d") is None


def test_every_slice_of_a_two_day_backfill_stays_cached() -> None:
    # The client cuts busy hours into pieces: ~200 distinct queries for 2 days. With 64 cached
    # results each run re-rendered them all; the cache is now bounded by calls, not queries.
    state = SandboxState(SandboxSettings(calls_per_hour=13_000.0))
    cache = state._results
    for i in range(300):
        cache.put(("slice", i), ([b"{}"] * 5_000, None))  # type: ignore[arg-type]
    assert all(cache.get(("slice", i)) is not None for i in range(300))
