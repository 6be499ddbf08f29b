"""Fault injection and hostile behaviours (all off by default).

Every decision is a deterministic function of ``fault_seed``, the request URL and how many
times that URL (or, for ``unstable_order``, the ``/calls`` route) was requested, so a run
replays.  Two families:

Faults a correct client survives without losing or doubling a call:

* 429 (``rate_429``, with ``Retry-After: retry_after_s`` or none) and 5xx (``rate_5xx``;
  500/502/503) replace a whole response; at most ``fault_max_consecutive`` faults in a row per
  URL, so a retrying client always gets through.
* ``latency_s``: added before every API response.
* Slow drip (``drip_rate``): the body is sent in ``drip_chunk_bytes`` chunks with
  ``drip_delay_s`` between them; the bytes are identical.
* Malformed records (``malformed_rate``, :func:`malformed`): applied when a generated call is
  assembled (``state.py``), per callId, so the same call is always malformed and keeps its callId.
* Duplicate (``duplicate_rate``): a page after the first also starts with the previous page's
  last record (same callId, same bytes); ``totalItems`` is unchanged.
* 429 on the token endpoint (``token_rate_429``), without ``Retry-After`` like Sinch's token
  bucket [N-OAUTH comments].
* Token expiry mid-run: ``token_max_requests`` or ``SandboxState.expire_all_tokens()``.

Hostile or undocumented behaviours a client must *detect* (they can make a naive client lose
or double calls): the result window (``max_result_window``), ``unstable_order``,
``total_items_cap``, envelope faults, the gzip bomb, ``float_money``, ``extreme_times``,
cross-window duplicates and ``echo_authorization``.  ``strict_lower_bound`` and
``page_size_key`` live in ``store.py`` (query semantics); ``busy_hour_calls`` in
``traffic.py``; the header drip in ``slow_headers.py``; the export's (``export_fault``) in
``export_faults.py``.  See ``docs/sandbox.md``.

A degraded hour (``degraded_hour``, :func:`degrade`) is neither: it changes what the calls of
one trunk and hour *are* (mostly ``FAILED``), the signal the alert rules exist for.
"""

from __future__ import annotations

import hashlib
import math
import random
import struct
import threading
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from pipeline.sandbox.records import dumps
from pipeline.sandbox.settings import SandboxSettings
from pipeline.sandbox.traffic import HOUR_MS, CallOutcome

if TYPE_CHECKING:
    from pipeline.sandbox.state import SandboxState

EXTREME_CREATE_TIME = "9999-12-31T23:30:00-01:00"  # 10000-01-01T00:30Z: beyond datetime in UTC
EXTREME_END_TIME = "9999-12-31T23:59:59Z"
GZIP_BOMB_INFLATED = 1 << 30  # bytes once inflated: exactly 1 GiB
GZIP_BOMB_PREFIX = b'{"calls":['


def _fault_bits(*parts: object) -> int:
    """A deterministic 64-bit number from the parts."""
    h = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big")


def fault_roll(*parts: object) -> float:
    """A deterministic number in [0, 1) from the parts (used for every fault decision)."""
    return _fault_bits(*parts) / 2**64


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What to do with one request.

    A status to return instead (or None), drip or not, and which attempt of this URL it is
    (0 = first; seeds the per-answer faults).
    """

    status: int | None
    retry_after: float | None
    drip: bool
    attempt: int = 0


def decide(state: SandboxState, url_key: str) -> FaultDecision:
    """Decide the faults for one API request (and record it)."""
    s = state.settings
    with state._lock:
        n = state.url_attempts.get(url_key, 0)
        state.url_attempts[url_key] = n + 1
        state.stats["requests"] += 1
        streak = state.url_fault_streak.get(url_key, 0)
    status: int | None = None
    retry_after: float | None = None
    if streak < s.fault_max_consecutive:
        if s.rate_429 > 0 and fault_roll(s.fault_seed, "429", url_key, n) < s.rate_429:
            status, retry_after = 429, s.retry_after_s
        elif s.rate_5xx > 0 and fault_roll(s.fault_seed, "5xx", url_key, n) < s.rate_5xx:
            status = (500, 502, 503)[int(fault_roll(s.fault_seed, "code", url_key, n) * 3)]
    with state._lock:
        state.url_fault_streak[url_key] = streak + 1 if status is not None else 0
        if status == 429:
            state.stats["faults_429"] += 1
        elif status is not None:
            state.stats["faults_5xx"] += 1
    drip = s.drip_rate > 0 and fault_roll(s.fault_seed, "drip", url_key, n) < s.drip_rate
    if drip:
        state.count("drips")
    return FaultDecision(status, retry_after, drip, n)


def token_rate_limited(state: SandboxState) -> bool:
    """Whether this token request gets 429 (``token_rate_429``).

    Never more than ``fault_max_consecutive`` in a row.
    """
    s = state.settings
    if s.token_rate_429 <= 0:
        return False
    with state._lock:
        n = state.url_attempts.get("POST /oauth2/token", 0)
        state.url_attempts["POST /oauth2/token"] = n + 1
        streak = state.url_fault_streak.get("POST /oauth2/token", 0)
        hit = (
            streak < s.fault_max_consecutive
            and fault_roll(s.fault_seed, "token429", n) < s.token_rate_429
        )
        state.url_fault_streak["POST /oauth2/token"] = streak + 1 if hit else 0
        if hit:
            state.stats["faults_429"] += 1
    return hit


def duplicate_previous(state: SandboxState, query_key: str, page: int) -> bool:
    """Whether page ``page`` (> 1) of this query repeats the previous page's last record."""
    s = state.settings
    if page <= 1 or s.duplicate_rate <= 0:
        return False
    hit = fault_roll(s.fault_seed, "dup", query_key, page) < s.duplicate_rate
    if hit:
        state.count("duplicates")
    return hit


# ---------------------------------------------------------------------- paging and envelope
def result_window(s: SandboxSettings, start: int, size: int) -> tuple[int, str | None]:
    """``max_result_window``: the offset where serving stops, and the 400 message if any.

    The message is set when ``result_window_mode="error"`` and ``start + size``
    (Elasticsearch's from + size) is over the limit.
    """
    n = s.max_result_window
    if n is None:
        return start + size, None
    if s.result_window_mode == "error" and start + size > n:
        return 0, (
            f"Result window is too large, page * size must be <= {n} but was {start + size} "
            f"(page {start // size + 1}, size {size}); narrow the createTime window instead"
        )
    return min(start + size, n), None


def unstable_page(
    items: Sequence[bytes], seconds: Sequence[int], start: int, end: int, seed: object
) -> list[bytes]:
    """``items[start:end]`` after shuffling every run of equal ``seconds``.

    A run is the calls created in the same second; it is shuffled with an RNG seeded by
    ``seed`` and that second.  ``seconds`` is sorted.
    """
    end = min(end, len(items))
    if start >= end:
        return []
    lo = bisect_left(seconds, seconds[start])
    hi = bisect_right(seconds, seconds[end - 1])
    out: list[bytes] = []
    i = lo
    while i < hi:
        j = bisect_right(seconds, seconds[i], i, hi)
        group = list(items[i:j])
        if j - i > 1:
            random.Random(f"{seed}:{seconds[i]}").shuffle(group)
        out.extend(group)
        i = j
    return out[start - lo : end - lo]


def envelope_fault(state: SandboxState, url_key: str, attempt: int) -> str | None:
    """The broken-envelope kind for this ``/calls`` answer, or None."""
    s = state.settings
    if s.envelope_fault is None:
        return None
    if fault_roll(s.fault_seed, "envelope", url_key, attempt) >= s.envelope_fault_rate:
        return None
    state.count("envelope_faults")
    kind = s.envelope_fault
    if kind == "calls-not-list":  # an object, or the list double-encoded as a string
        return "calls-object" if fault_roll(s.fault_seed, "nl", url_key, attempt) < 0.5 else kind
    return kind


def broken_envelope(kind: str, total: int, page: str, size: int) -> bytes:
    """The body of a broken ``/calls`` envelope (see :func:`envelope_fault`)."""
    tail = f'"totalItems":{total},"pageNumber":{page},"pageSize":{size}}}'
    if kind == "status-ok":
        return b'{"status":"ok"}'
    if kind == "no-calls":
        return ("{" + tail).encode()
    calls = {"calls-null": "null", "calls-object": "{}", "calls-not-list": '"[]"'}[kind]
    return f'{{"calls":{calls},{tail}'.encode()


def reported_total(s: SandboxSettings, total: int) -> int:
    """``totalItems`` as served (``total_items_cap``)."""
    return total if s.total_items_cap is None else min(total, s.total_items_cap)


# ---------------------------------------------------------------------- served records
def malformed(
    s: SandboxSettings, call_id: str, served: dict[str, object]
) -> dict[str, object] | None:
    """``malformed_rate``: a malformed copy of a generated call's served dict, or None.

    Decided per callId, so the same call is always malformed, the same way, and keeps its
    callId: createTime missing, createTime ``"not-a-timestamp"`` or endTime out of range.
    """
    if s.malformed_rate <= 0:
        return None
    r = _fault_bits(s.fault_seed, "malformed", call_id)
    if (r % 1_000_000) / 1_000_000 >= s.malformed_rate:
        return None
    bad = dict(served)
    kind = r % 3
    if kind == 0:
        del bad["createTime"]
    elif kind == 1:
        bad["createTime"] = "not-a-timestamp"
    else:
        bad["endTime"] = "2026-13-45T99:99:99Z"
    return bad


def noisy_amount(amount: object) -> object:
    """``float_money``: the amount one float step toward 0 (round(x, 6) gives it back)."""
    if isinstance(amount, bool) or not isinstance(amount, (int, float, str)):
        return amount
    try:
        x = float(amount)
    except ValueError:
        return amount
    return math.nextafter(x, 0.0) if math.isfinite(x) else amount


def distort(body: bytes, *, float_money: bool, extreme: str | None) -> bytes:
    """The served bytes of one call with ``float_money`` and/or an extreme time applied.

    ``extreme`` is ``"createTime"`` or ``"endTime"`` (the field served extreme), or None.
    """
    d: dict[str, Any] = orjson.loads(body)
    if float_money:
        for key in ("pricePerMinute", "price"):
            money = d.get(key)
            if isinstance(money, dict) and "amount" in money:
                money["amount"] = noisy_amount(money["amount"])
    if extreme == "createTime":
        d["createTime"] = EXTREME_CREATE_TIME
    elif extreme == "endTime":
        d["endTime"] = EXTREME_END_TIME
    return dumps(d)


def degrade(s: SandboxSettings, o: CallOutcome) -> CallOutcome:
    """``degraded_hour``: the call as the degraded trunk serves it (FAILED), or unchanged.

    A call of ``degraded_trunk_id`` (any trunk if None) created in the UTC hour
    ``degraded_hour`` fails with probability ``degraded_failed_share``, decided per callId:
    unanswered, ending 0-3 s after createTime (never later than it ended), billed 0 s, price 0
    at the same rate, SIP 500 / Q.850 41 (temporary failure) in the export. Its callId,
    numbers and createTime stay, so only the outcome of that hour changes. A call that already
    failed stays as it is (a 603 refused over the CPS limit keeps its code), and no call gets
    longer, so the trunk's capacity limits (``capacity.py``) still hold.
    """
    hour = s.degraded_hour
    if hour is None or o.create_ms // HOUR_MS != int(hour.timestamp()) * 1000 // HOUR_MS:
        return o
    if o.result == "FAILED" or (
        s.degraded_trunk_id is not None and o.trunk_id != s.degraded_trunk_id
    ):
        return o
    roll = fault_roll(s.fault_seed, "degrade", o.call_id)
    if roll >= s.degraded_failed_share:
        return o
    end_s = int(fault_roll(s.fault_seed, "degrade-end", o.call_id) * 4)
    end_ms = min(o.end_ms, o.create_ms + end_s * 1000)
    return o._replace(
        result="FAILED",
        answer_ms=None,
        end_ms=end_ms,
        billed_s=0,
        price="0.0000",
        duration_s=(end_ms - o.create_ms) // 1000 if o.direction == "INBOUND" else 0,
        sip_code=500,
        cause_code=41,
        mos=0.0,
    )


def crosses_windows(s: SandboxSettings, call_id: str) -> bool:
    """``duplicate_across_windows_rate``: whether this call is also listed an hour later."""
    rate = s.duplicate_across_windows_rate
    return rate > 0 and fault_roll(s.fault_seed, "xwin", call_id) < rate


# ---------------------------------------------------------------------- errors and bodies
def echoed_request(authorization: str | None, form: dict[str, str] | None = None) -> dict:
    """``echo_authorization``: what a careless server puts in its error body."""
    echo: dict[str, Any] = {"headers": {"Authorization": authorization}}
    if form is not None:
        echo["form"] = {k: form[k] for k in ("client_id", "client_secret") if k in form}
    return echo


def gzip_bomb_hit(state: SandboxState, url_key: str, attempt: int) -> bool:
    """Whether this ``/calls`` answer is the gzip bomb."""
    s = state.settings
    hit = s.gzip_bomb and fault_roll(s.fault_seed, "bomb", url_key, attempt) < s.gzip_bomb_rate
    if hit:
        state.count("gzip_bombs")
    return hit


_bomb: bytes | None = None
_bomb_lock = threading.Lock()


def gzip_bomb_body() -> bytes:
    """A ~1 MB gzip member inflating to exactly ``GZIP_BOMB_INFLATED`` bytes.

    The inflated data is ``{"calls":[`` then spaces.  Built once (~0.3 s), never holding the
    inflated data: after a full flush deflate restarts, so every 1 MiB chunk of spaces
    compresses to the same bytes, which are repeated; the CRC is computed chunk by chunk.
    """
    global _bomb
    with _bomb_lock:
        if _bomb is None:
            chunk = b" " * (1 << 20)
            z = zlib.compressobj(9, zlib.DEFLATED, -15)
            head = z.compress(GZIP_BOMB_PREFIX) + z.flush(zlib.Z_FULL_FLUSH)
            first = z.compress(chunk) + z.flush(zlib.Z_FULL_FLUSH)
            second = z.compress(chunk) + z.flush(zlib.Z_FULL_FLUSH)
            if first != second:  # pragma: no cover - zlib always restarts after a full flush
                raise RuntimeError("deflate did not restart after Z_FULL_FLUSH")
            k, rest = divmod(GZIP_BOMB_INFLATED - len(GZIP_BOMB_PREFIX), len(chunk))
            tail = z.compress(chunk[:rest]) + z.flush()
            crc = zlib.crc32(GZIP_BOMB_PREFIX)
            for _ in range(k):
                crc = zlib.crc32(chunk, crc)
            crc = zlib.crc32(chunk[:rest], crc)
            header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # gzip, deflate, no name
            trailer = struct.pack("<II", crc, GZIP_BOMB_INFLATED & 0xFFFFFFFF)
            _bomb = b"".join((header, head, first, second * (k - 1), tail, trailer))
        return _bomb
