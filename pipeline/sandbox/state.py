"""The sandbox's state: its call source, caches, tokens, fault counters and ground truth.

The call source is the generator or a replay.  A generated call is assembled here: the
model's outcome (``traffic.py``), rendered (``render.py``), maybe malformed (``faults.py``).
The ground-truth API, mixed in from ``truth.py``, is what tests use to check "none lost, none
doubled"; the bearer tokens are mixed in from ``tokens.py``.

Listing vs truth.  ``calls_created`` is what ``/calls`` and the export list: the source's calls
with :meth:`SandboxState.move_call` applied, plus the cross-window copies of
``duplicate_across_windows_rate`` (so such a call is listed twice, an hour apart).  The
ground-truth helpers (``calls_between`` …) use ``truth_created``: every call once, at its
corrected place (a moved call at its new createTime, a cross-window call as its later copy).
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from pipeline.sandbox.faults import crosses_windows, degrade, distort, malformed
from pipeline.sandbox.faults import fault_roll as fault_roll  # re-exported (was defined here)
from pipeline.sandbox.records import StoredCall, shifted
from pipeline.sandbox.render import canonical_dict, stored_call, with_variant
from pipeline.sandbox.replay import ReplayData, load_replay
from pipeline.sandbox.settings import DEFAULT_PROJECT_ID, SandboxSettings
from pipeline.sandbox.store import LRU, CallQuery, _ms
from pipeline.sandbox.tokens import TokenIssuer
from pipeline.sandbox.traffic import (
    _CROCKFORD,
    BATCH_HOURS,
    HOUR_MS,
    MAX_CALL_MS,
    CallOutcome,
    TrafficGenerator,
    TrunkSpec,
)
from pipeline.sandbox.truth import GroundTruth

#: Calls the cached query results may reference in all (~16 bytes each: ~64 MB).
RESULT_CACHE_CALLS = 4_000_000


def _ulid_ms(call_id: str) -> int | None:
    """The millisecond time in a generated callId (a ULID), or None."""
    n = 0
    for ch in call_id.upper():
        i = _CROCKFORD.find(ch)
        if i < 0 or len(call_id) != 26:
            return None
        n = n * 32 + i
    return n >> 80


def _sort_key(c: StoredCall) -> tuple[int, str]:
    return c.sort_key


class SandboxState(GroundTruth, TokenIssuer):
    """Everything a running sandbox holds.  Safe to call from test threads."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self._lock = threading.RLock()
        self.replay: ReplayData | None = None
        self.generator: TrafficGenerator | None = None
        if settings.replay_path is not None:
            self.replay = load_replay(settings.replay_path)
            self.project_id = settings.project_id or self.replay.project_id or DEFAULT_PROJECT_ID
            self._replay_keys = [c.create_ms for c in self.replay.calls]
            self.max_call_ms = max(
                (
                    (c.end_ms - c.create_ms)
                    for c in self.replay.calls
                    if c.end_ms is not None and c.end_ms > c.create_ms
                ),
                default=0,
            )
            self.trunks = [self._trunk_json(t.id, t.name, 1, "2025-01-01T00:00:00Z", None)
                           for t in self.replay.trunks]  # fmt: skip
        else:
            self.project_id = settings.project_id or DEFAULT_PROJECT_ID
            self.generator = TrafficGenerator(
                seed=settings.seed,
                calls_per_hour=settings.calls_per_hour,
                burst_probability=settings.burst_probability,
                variant_rate=settings.variant_rate,
                hour_calls=settings.busy_hour_calls,
                odd_completed_rate=settings.odd_completed_rate,
            )
            self.max_call_ms = MAX_CALL_MS
            self.trunks = [
                self._trunk_json(t.id, t.name, t.calls_per_second, t.create_time, t.host_name)
                for t in self.generator.trunks
            ]
        self.history_start_ms = 0 if self.replay is not None else _ms(settings.history_start)
        self._hours: LRU[int, list[StoredCall]] = LRU(max(16, settings.block_cache_size // 5))
        if self.replay is not None:
            keys = self._replay_keys
            self._span = (keys[0], keys[-1] + 1) if keys else (0, 0)
        else:
            self._span = (self.history_start_ms, 2**62)
        self.moved: dict[str, StoredCall] = {}  # callId → its moved version (move_call)
        self._clear_derived()
        self._init_tokens()
        self.url_attempts: dict[str, int] = {}
        self.url_fault_streak: dict[str, int] = {}
        self.stats: dict[str, int] = {
            "requests": 0,
            "faults_429": 0,
            "faults_5xx": 0,
            "drips": 0,
            "duplicates": 0,
            "tokens_issued": 0,
            "token_requests": 0,
            "calls_requests": 0,
            "export_requests": 0,
            "trunks_requests": 0,
            "envelope_faults": 0,
            "gzip_bombs": 0,
            "result_window_errors": 0,
        }

    def count(self, key: str, n: int = 1) -> int:
        """Add ``n`` to ``stats[key]``; returns the new value."""
        with self._lock:
            value = self.stats[key] = self.stats.get(key, 0) + n
        return value

    def _clear_derived(self) -> None:
        """Drop every cache that depends on where calls are listed (after a move)."""
        with self._lock:
            # Query results (references to the calls' bytes, ~16 B a call): every slice a
            # backfill asks for stays cached, not only the last 64 (a 2-day run of the client
            # asks ~200 slices; re-rendering them cost each run 2-3 s of the sandbox's CPU).
            self._results: LRU[tuple[Any, ...], tuple[list[bytes], array]] = LRU(
                4096, weigh=lambda result: len(result[0]), budget=RESULT_CACHE_CALLS
            )
            self._copy_cache: LRU[int, list[StoredCall]] = LRU(64)
            self._extremes: LRU[int, dict[tuple[str, int], str]] = LRU(4096)

    # ------------------------------------------------------------------ identity / auth
    def _trunk_json(
        self, tid: str, name: str, cps: int, created: str, host: str | None
    ) -> dict[str, Any]:
        host = host or (name.lower().replace(" ", "-").replace(",", "") or tid.lower())
        return {
            "id": tid,
            "name": name,
            "hostName": host,
            "topLevelDomain": "pstn.sinch.com",
            "domain": f"{host}.pstn.sinch.com",
            "callsPerSecond": cps,
            "enableCallerName": False,
            "callForwardNumber": None,
            "enableCallForward": False,
            "createTime": created,
            "updateTime": None,
            "projectId": self.project_id,
        }

    def now_ms(self) -> int:
        """The injectable clock, in epoch ms."""
        return _ms(self.settings.now())

    # ------------------------------------------------------------------ calls
    def _hour(self, hour_ms: int) -> list[StoredCall]:
        with self._lock:
            hit = self._hours.get(hour_ms)
        if hit is not None:
            return hit
        return self._generate([hour_ms])[0]

    def _generate(self, hours: list[int]) -> list[list[StoredCall]]:
        """Generate, render and cache ``hours`` (drawn together: faster than one by one)."""
        assert self.generator is not None
        out = []
        for h, blocks in zip(hours, self.generator.hours(hours), strict=True):
            calls: list[StoredCall] = []
            for t in self.generator.trunks:
                calls.extend(self._stored(degrade(self.settings, o), t) for o in blocks[t.id])
            calls.sort(key=lambda c: c.sort_key)
            with self._lock:
                self._hours.put(h, calls)
            out.append(calls)
        return out

    def _prefetch(self, lo_ms: int, hi_ms: int) -> None:
        """Generate the uncached hours of ``[lo_ms, hi_ms)`` in batches of BATCH_HOURS."""
        h = lo_ms - lo_ms % HOUR_MS
        missing = []
        with self._lock:
            while h < hi_ms:
                if self._hours.get(h) is None:
                    missing.append(h)
                h += HOUR_MS
        if len(missing) > 1 and len(missing) <= self._hours.size:
            for i in range(0, len(missing), BATCH_HOURS):
                self._generate(missing[i : i + BATCH_HOURS])

    def _stored(self, o: CallOutcome, trunk: TrunkSpec) -> StoredCall:
        """A generated call as served: rendered, in its format variant, maybe malformed."""
        canonical = canonical_dict(o, self.project_id)
        served = with_variant(canonical, o.variant, trunk)
        bad = malformed(self.settings, o.call_id, served)
        return stored_call(
            o,
            canonical,
            served if bad is None else bad,
            in_progress=self.settings.list_in_progress,
            malformed=bad is not None,
        )

    def _base_created(self, lo_ms: int, hi_ms: int) -> list[StoredCall]:
        """The source's calls (generated or replayed) created in ``[lo_ms, hi_ms)``, sorted."""
        if hi_ms <= lo_ms:
            return []
        if self.replay is not None:
            import bisect

            i = bisect.bisect_left(self._replay_keys, lo_ms)
            j = bisect.bisect_left(self._replay_keys, hi_ms)
            return self.replay.calls[i:j]
        lo_ms = max(lo_ms, _ms(self.settings.history_start))
        if hi_ms <= lo_ms:
            return []
        self._prefetch(lo_ms, hi_ms)
        out: list[StoredCall] = []
        h = lo_ms - lo_ms % HOUR_MS
        while h < hi_ms:
            block = self._hour(h)
            if h >= lo_ms and h + HOUR_MS <= hi_ms:
                out.extend(block)
            else:
                out.extend(c for c in block if lo_ms <= c.create_ms < hi_ms)
            h += HOUR_MS
        return out

    def _hour_starts(self, lo_ms: int, hi_ms: int) -> Iterator[int]:
        """Starts of the UTC hours overlapping ``[lo_ms, hi_ms)`` that can hold calls."""
        lo_ms, hi_ms = max(lo_ms, self._span[0]), min(hi_ms, self._span[1])
        h = lo_ms - lo_ms % HOUR_MS
        while h < hi_ms:
            yield h
            h += HOUR_MS

    def _placed(self, lo_ms: int, hi_ms: int) -> list[StoredCall]:
        """:meth:`_base_created` with the moves of :meth:`move_call` applied."""
        base = self._base_created(lo_ms, hi_ms)
        moved = self.moved
        if not moved:
            return base
        out = [c for c in base if c.call_id not in moved]
        out.extend(m for m in moved.values() if lo_ms <= m.create_ms < hi_ms)
        out.sort(key=_sort_key)
        return out

    def _copies(self, lo_ms: int, hi_ms: int) -> list[StoredCall]:
        """Cross-window copies (``duplicate_across_windows_rate``) created in the range."""
        s = self.settings
        if s.duplicate_across_windows_rate <= 0:
            return []
        out: list[StoredCall] = []
        for h in self._hour_starts(lo_ms - HOUR_MS, hi_ms - HOUR_MS):
            with self._lock:
                copies = self._copy_cache.get(h)
            if copies is None:
                copies = [shifted(c, HOUR_MS) for c in self._placed(h, h + HOUR_MS)
                          if crosses_windows(s, c.call_id)]  # fmt: skip
                with self._lock:
                    self._copy_cache.put(h, copies)
            out.extend(c for c in copies if lo_ms <= c.create_ms < hi_ms)
        return out

    def calls_created(self, lo_ms: int, hi_ms: int) -> list[StoredCall]:
        """Every call *listed* with createTime in ``[lo_ms, hi_ms)``, sorted.

        Regardless of visibility: moves applied, cross-window calls in both places (module doc).
        """
        if hi_ms <= lo_ms:
            return []
        placed = self._placed(lo_ms, hi_ms)
        copies = self._copies(lo_ms, hi_ms)
        if not copies:
            return placed
        return sorted(placed + copies, key=_sort_key)

    def truth_created(self, lo_ms: int, hi_ms: int) -> list[StoredCall]:
        """Every call created in ``[lo_ms, hi_ms)`` once, at its corrected place (module doc)."""
        if hi_ms <= lo_ms:
            return []
        placed = self._placed(lo_ms, hi_ms)
        if self.settings.duplicate_across_windows_rate <= 0:
            return placed
        s = self.settings
        kept = [c for c in placed if not crosses_windows(s, c.call_id)]
        return sorted(kept + self._copies(lo_ms, hi_ms), key=_sort_key)

    def _extreme_kinds(self, lo_ms: int, hi_ms: int) -> dict[tuple[str, int], str]:
        """``extreme_times``: (callId, createTime ms) → the field served extreme.

        Covers the first and second listed call of every hour overlapping the range.
        """
        out: dict[tuple[str, int], str] = {}
        for h in self._hour_starts(lo_ms, hi_ms):
            with self._lock:
                kinds = self._extremes.get(h)
            if kinds is None:
                first_two = self.calls_created(h, h + HOUR_MS)[:2]
                fields = ("createTime", "endTime")[: len(first_two)]
                kinds = {
                    (c.call_id, c.create_ms): f for c, f in zip(first_two, fields, strict=True)
                }
                with self._lock:
                    self._extremes.put(h, kinds)
            out.update(kinds)
        return out

    def move_call(self, call_id: str, new_create_time: datetime) -> None:
        """Move a call to ``new_create_time`` (a server-side createTime correction).

        It keeps its callId and other fields, answerTime/endTime move by the same delta, and
        from now on it is listed only under ``new_create_time`` (by the API and by the
        ground-truth helpers).

        Raises:
            KeyError: ``call_id`` is unknown.
            ValueError: ``new_create_time`` is naive (not timezone-aware).
        """
        if new_create_time.tzinfo is None:
            msg = "new_create_time must be timezone-aware"
            raise ValueError(msg)
        c = self._find(call_id)
        moved = shifted(c, _ms(new_create_time) - c.create_ms)
        with self._lock:
            self.moved = {**self.moved, call_id: moved}
            span = self._span
            self._span = (min(span[0], moved.create_ms), max(span[1], moved.create_ms + 1))
            self._clear_derived()

    def _find(self, call_id: str) -> StoredCall:
        hit = self.moved.get(call_id)
        if hit is not None:
            return hit
        if self.replay is not None:
            candidates: Iterable[StoredCall] = self.replay.calls
        else:
            ms = _ulid_ms(call_id)
            h = (ms - ms % HOUR_MS) if ms is not None else -1
            candidates = self._base_created(h, h + HOUR_MS) if ms is not None else ()
        for c in candidates:
            if c.call_id == call_id:
                return c
        raise KeyError(call_id)

    def _live(self) -> bool:
        return self.replay is None or self.settings.replay_respect_clock

    def rendered(self, c: StoredCall, now_ms: int) -> bytes | None:
        """The bytes served for ``c`` at ``now_ms``, or None if not visible yet."""
        if not self._live():
            return c.final_json
        delay = int(self.settings.visibility_delay_s * 1000)
        end = c.end_ms if c.end_ms is not None else c.create_ms
        if now_ms >= end + delay:
            return c.final_json
        if self.settings.list_in_progress and now_ms >= c.create_ms + delay:
            return c.progress_json if c.progress_json is not None else c.final_json
        return None

    def select(self, q: CallQuery, now_ms: int) -> list[bytes]:
        """Served bytes of every visible call matching ``q``, in API order."""
        return self.select_keyed(q, now_ms)[0]

    def select_keyed(self, q: CallQuery, now_ms: int) -> tuple[list[bytes], array]:
        """:meth:`select` and, in parallel, each call's createTime in whole epoch seconds.

        The seconds are sorted: they give the tie groups of ``unstable_order``.

        The part of the window that can no longer change (created before ``now`` − longest
        call − visibility delay, cut at an hour boundary) is cached; only the live tail is
        recomputed per request.
        """
        hi = q.hi_ms if q.hi_ms is not None else now_ms + 1
        lo = q.lo_ms if q.lo_ms is not None else 0
        if not self._live():
            return self._select_range(q, lo, hi, now_ms, cache=True)
        hi = min(hi, now_ms + 1)
        delay = int(self.settings.visibility_delay_s * 1000)
        cut = now_ms - self.max_call_ms - delay
        cut -= cut % HOUR_MS
        if hi <= cut:
            return self._select_range(q, lo, hi, now_ms, cache=True)
        if lo >= cut:
            return self._select_range(q, lo, hi, now_ms, cache=False)
        head, head_s = self._select_range(q, lo, cut, now_ms, cache=True)
        tail, tail_s = self._select_range(q, cut, hi, now_ms, cache=False)
        return head + tail, head_s + tail_s

    def _select_range(
        self, q: CallQuery, lo: int, hi: int, now_ms: int, *, cache: bool
    ) -> tuple[list[bytes], array]:
        key = (q, lo, hi)
        if cache:
            with self._lock:
                hit = self._results.get(key)
            if hit is not None:
                return hit
        out: list[bytes] = []
        seconds = array("q")
        plain = (
            q.trunk_ids is None
            and q.results is None
            and q.directions is None
            and q.from_prefix is None
            and q.to_prefix is None
        )
        rendered = self.rendered
        float_money = self.settings.float_money
        extremes = self._extreme_kinds(lo, hi) if self.settings.extreme_times else {}
        for c in self.calls_created(lo, hi):
            if not plain and not q.matches(c):
                continue
            b = rendered(c, now_ms)
            if b is None:
                continue
            if float_money or extremes:
                kind = extremes.get((c.call_id, c.create_ms))
                if float_money or kind is not None:
                    b = distort(b, float_money=float_money, extreme=kind)
            out.append(b)
            seconds.append(c.create_ms // 1000)
        if cache:
            with self._lock:
                self._results.put(key, (out, seconds))
        return out, seconds

    def select_calls(self, q: CallQuery, now_ms: int) -> list[StoredCall]:
        """Like :meth:`select` but the StoredCall objects (used by the export)."""
        hi = q.hi_ms if q.hi_ms is not None else now_ms + 1
        lo = q.lo_ms if q.lo_ms is not None else 0
        if self._live():
            hi = min(hi, now_ms + 1)
        return [
            c
            for c in self.calls_created(lo, hi)
            if q.matches(c) and self.rendered(c, now_ms) is not None
        ]
