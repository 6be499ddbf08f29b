"""How often and how fast to ask: the retry policy, ``Retry-After``, a shared rate limit.

Pure policy objects with injectable clocks; :class:`~pipeline.sinch.transport.Transport` applies
them to every request.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry one request.

    Attributes:
        max_attempts: HTTP attempts per request, the first included (>= 1).
        backoff_base_s: first backoff ceiling, seconds; doubles per attempt (full jitter:
            sleep ``uniform(0, min(backoff_max_s, backoff_base_s * 2**(attempt-1)))``).
        backoff_max_s: largest backoff ceiling, seconds.
        max_retry_after_s: largest ``Retry-After`` honoured, seconds; a 429 asking for more
            raises :class:`RetryAfterTooLong` at once.

    Raises:
        ValueError: ``max_attempts < 1`` or a negative time.
    """

    max_attempts: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            msg = "max_attempts must be >= 1"
            raise ValueError(msg)
        if min(self.backoff_base_s, self.backoff_max_s, self.max_retry_after_s) < 0:
            msg = "backoff and Retry-After limits must be >= 0"
            raise ValueError(msg)

    def wait_s(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to sleep after failed attempt number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(float(retry_after), self.max_retry_after_s)
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)  # jitter, not crypto


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a ``Retry-After`` header: delay seconds or an HTTP-date (RFC 9110 §10.2.3).

    Args:
        value: the header value, or None.
        now: the current UTC time for HTTP-dates (default: ``datetime.now(UTC)``).

    Returns:
        Seconds to wait (>= 0), or None when absent or unreadable.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN guard
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


class Limiter(Protocol):
    """What the transport asks before each request: :class:`RateLimiter` or a shared one."""

    def acquire(self) -> float:
        """Block until a request may start; return the seconds waited."""
        ...


class RateLimiter:
    """Thread-safe request spacing: at most ``rate_per_s`` request starts per second.

    A GCRA / token bucket of capacity 1: each caller reserves the next free slot under a lock
    and sleeps outside it, so threads sharing one client share the budget. Basic auth is
    "heavily rate limited" (Sinch docs); the 429 policy of the API is not published.

    Raises:
        ValueError: ``rate_per_s <= 0``.
    """

    def __init__(
        self,
        rate_per_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_s <= 0:
            msg = "rate_per_s must be > 0"
            raise ValueError(msg)
        self.interval = 1.0 / rate_per_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_free = float("-inf")

    def acquire(self) -> float:
        """Block until the caller may start a request; return the seconds waited."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next_free)
            self._next_free = start + self.interval
        wait = start - now
        if wait > 0:
            self._sleep(wait)
        return wait
