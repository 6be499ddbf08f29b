"""Fault injection (all off by default).  Every decision is a deterministic function of
``fault_seed``, the request URL and how many times that URL was requested, so a run replays,
and a fault never makes a correct client lose or double a call:

* 429 (``rate_429``, with ``Retry-After: retry_after_s`` or none) and 5xx (``rate_5xx``;
  500/502/503) replace a whole response; at most ``fault_max_consecutive`` faults in a row per
  URL, so a retrying client always gets through.
* ``latency_s``: added before every API response.
* Slow drip (``drip_rate``): the body is sent in ``drip_chunk_bytes`` chunks with
  ``drip_delay_s`` between them; the bytes are identical.
* Malformed records (``malformed_rate``): applied at generation (see ``traffic.py``), per callId,
  so the same call is always malformed and keeps its callId.
* Duplicate (``duplicate_rate``): a page after the first also starts with the previous page's
  last record (same callId, same bytes); ``totalItems`` is unchanged.
* 429 on the token endpoint (``token_rate_429``), without ``Retry-After`` like Sinch's token
  bucket [N-OAUTH comments].
* Token expiry mid-run: ``token_max_requests`` or ``SandboxState.expire_all_tokens()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.sandbox.state import SandboxState, fault_roll


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What to do with one request: a status to return instead (or None), and drip or not."""

    status: int | None
    retry_after: float | None
    drip: bool


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
        with state._lock:
            state.stats["drips"] += 1
    return FaultDecision(status, retry_after, drip)


def token_rate_limited(state: SandboxState) -> bool:
    """Whether this token request gets 429 (``token_rate_429``; never more than
    ``fault_max_consecutive`` in a row)."""
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
        with state._lock:
            state.stats["duplicates"] += 1
    return hit
