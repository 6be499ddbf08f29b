"""The sandbox's state: its call source (generator or replay), caches, tokens, fault counters,
and the ground-truth API that tests use to check "none lost, none doubled".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

import orjson

from pipeline.sandbox.records import StoredCall
from pipeline.sandbox.replay import ReplayData, load_replay
from pipeline.sandbox.settings import DEFAULT_PROJECT_ID, SandboxSettings
from pipeline.sandbox.store import LRU, CallQuery, _ms
from pipeline.sandbox.traffic import HOUR_MS, MAX_CALL_MS, TRUNKS, TrafficGenerator


class _HasBounds(Protocol):
    start: datetime
    end: datetime


def _b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def fault_roll(*parts: object) -> float:
    """A deterministic number in [0, 1) from the parts (used for every fault decision)."""
    h = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


class SandboxState:
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
                project_id=self.project_id,
                calls_per_hour=settings.calls_per_hour,
                burst_probability=settings.burst_probability,
                variant_rate=settings.variant_rate,
                malformed_rate=settings.malformed_rate,
                fault_seed=settings.fault_seed,
                in_progress=settings.list_in_progress,
            )
            self.max_call_ms = MAX_CALL_MS
            self.trunks = [
                self._trunk_json(t.id, t.name, t.calls_per_second, t.create_time, t.host_name)
                for t in TRUNKS
            ]
        self.history_start_ms = 0 if self.replay is not None else _ms(settings.history_start)
        self._hours: LRU[int, list[StoredCall]] = LRU(max(16, settings.block_cache_size // 5))
        self._results: LRU[tuple[Any, ...], list[bytes]] = LRU(64)
        self.tokens: dict[str, list[float]] = {}
        self._token_counter = itertools.count(1)
        self._secret = hashlib.sha256(f"{settings.key_secret}:{settings.seed}".encode()).digest()
        self.url_attempts: dict[str, int] = {}
        self.url_fault_streak: dict[str, int] = {}
        self.stats: dict[str, int] = {
            "requests": 0,
            "faults_429": 0,
            "faults_5xx": 0,
            "drips": 0,
            "duplicates": 0,
            "tokens_issued": 0,
        }

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

    def issue_token(self) -> tuple[str, int]:
        """A JWT-shaped bearer token (HS256 over our secret) and its lifetime in seconds."""
        now = self.now_ms()
        life = self.settings.token_lifetime_s
        exp_ms = now + int(life * 1000)
        header = _b64url(b'{"alg":"HS256","typ":"JWT"}')
        payload = _b64url(
            orjson.dumps(
                {
                    "sub": self.settings.key_id,
                    "iat": now // 1000,
                    "exp": exp_ms // 1000,
                    "jti": next(self._token_counter),
                }
            )
        )
        sig = _b64url(hmac.new(self._secret, f"{header}.{payload}".encode(), "sha256").digest())
        token = f"{header}.{payload}.{sig}"
        with self._lock:
            self.tokens[token] = [float(exp_ms), 0.0]
            self.stats["tokens_issued"] += 1
        return token, int(life)

    def check_token(self, token: str) -> str | None:
        """None if valid, ``"expired"`` or ``"invalid"`` otherwise; counts a use."""
        with self._lock:
            entry = self.tokens.get(token)
            if entry is None:
                return "invalid"
            if self.now_ms() >= entry[0]:
                return "expired"
            entry[1] += 1
            limit = self.settings.token_max_requests
            if limit is not None and entry[1] > limit:
                entry[0] = 0.0
                return "expired"
        return None

    def expire_all_tokens(self) -> None:
        """Ground-truth helper: make every issued token expired (token expiry mid-run)."""
        with self._lock:
            for entry in self.tokens.values():
                entry[0] = 0.0

    # ------------------------------------------------------------------ calls
    def _hour(self, hour_ms: int) -> list[StoredCall]:
        with self._lock:
            hit = self._hours.get(hour_ms)
        if hit is not None:
            return hit
        assert self.generator is not None
        calls: list[StoredCall] = []
        for t in self.generator.trunks:
            calls.extend(self.generator.block(t, hour_ms))
        calls.sort(key=lambda c: c.sort_key)
        with self._lock:
            self._hours.put(hour_ms, calls)
        return calls

    def calls_created(self, lo_ms: int, hi_ms: int) -> list[StoredCall]:
        """Every call with createTime in ``[lo_ms, hi_ms)``, sorted, regardless of visibility."""
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
        """Served bytes of every visible call matching ``q``, in API order.

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
        head = self._select_range(q, lo, cut, now_ms, cache=True)
        return head + self._select_range(q, cut, hi, now_ms, cache=False)

    def _select_range(
        self, q: CallQuery, lo: int, hi: int, now_ms: int, *, cache: bool
    ) -> list[bytes]:
        key = (q, lo, hi)
        if cache:
            with self._lock:
                hit = self._results.get(key)
            if hit is not None:
                return hit
        out: list[bytes] = []
        plain = (
            q.trunk_ids is None
            and q.results is None
            and q.directions is None
            and q.from_prefix is None
            and q.to_prefix is None
        )
        rendered = self.rendered
        for c in self.calls_created(lo, hi):
            if not plain and not q.matches(c):
                continue
            b = rendered(c, now_ms)
            if b is not None:
                out.append(b)
        if cache:
            with self._lock:
                self._results.put(key, out)
        return out

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

    # ------------------------------------------------------------------ ground truth
    def calls_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Canonical dicts of every call created in ``[start, end)`` (final form, in API order,
        visible or not).  The canonical form has upper-case enums, ``Z`` timestamps and numeric
        money even when the served bytes use a format variant or are malformed."""
        return [c.canonical_dict() for c in self.calls_created(_ms(start), _ms(end))]

    def calls_in(self, window: _HasBounds) -> list[dict[str, Any]]:
        """:meth:`calls_between` for anything with ``start``/``end`` (e.g. ``models.Window``)."""
        return self.calls_between(window.start, window.end)

    def call_ids_between(self, start: datetime, end: datetime) -> list[str]:
        """callIds of :meth:`calls_between`."""
        return [c.call_id for c in self.calls_created(_ms(start), _ms(end))]

    def visible_calls_between(
        self, start: datetime, end: datetime, at: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Canonical dicts of calls in ``[start, end)`` that the API lists at ``at`` (now)."""
        now = _ms(at) if at is not None else self.now_ms()
        return [
            c.canonical_dict()
            for c in self.calls_created(_ms(start), _ms(end))
            if self.rendered(c, now) is not None
        ]

    def malformed_call_ids_between(self, start: datetime, end: datetime) -> list[str]:
        """callIds served malformed (fault) in ``[start, end)``."""
        return [c.call_id for c in self.calls_created(_ms(start), _ms(end)) if c.malformed]

    def served_json_between(self, start: datetime, end: datetime) -> Iterable[bytes]:
        """The final served bytes of the calls in ``[start, end)``."""
        return [c.final_json for c in self.calls_created(_ms(start), _ms(end))]
