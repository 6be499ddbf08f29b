"""A request rate limit shared by every process and machine that talks to one Sinch project.

:class:`~pipeline.sinch.limits.RateLimiter` spaces the requests of one client. When many
workers ingest the same project at once (Celery workers, several Dagster runs), each has its
own client, so the project's limit must live in a store they all reach. This is the
``limits`` library's moving window on a storage that supports it (``redis://``,
``rediss://``, ``redis+sentinel://``; ``memory://`` for one process; not ``memcached://``,
which has no moving window, nor MongoDB, whose driver is not installed), keyed by project:
at most ``N`` request starts in any window of ``S`` seconds, where ``N / S`` is the rate,
rounded *down* to whole requests per second (a fractional rate below 1 becomes one request
every ``ceil(1 / rate)`` seconds), so a burst can never exceed the limit within one second.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from pipeline.sinch.errors import TransportError

_NAMESPACE = "sinch-calls"


def window_for(rate_per_s: float) -> tuple[int, int]:
    """The moving window ``(requests, seconds)`` that never exceeds ``rate_per_s``.

    Raises:
        ValueError: ``rate_per_s`` is not a positive finite number.
    """
    if not (math.isfinite(rate_per_s) and rate_per_s > 0):
        msg = "rate_per_s must be a positive number"
        raise ValueError(msg)
    if rate_per_s >= 1:
        return math.floor(rate_per_s), 1
    return 1, math.ceil(1 / rate_per_s)


class SharedRateLimiter:
    """At most ``rate_per_s`` request starts per second for ``key``, across processes.

    Same ``acquire()`` as :class:`~pipeline.sinch.limits.RateLimiter`, so the transport uses
    either. Thread-safe (the store's operations are atomic).

    Args:
        storage_uri: a ``limits`` storage URI, e.g. ``redis://10.0.0.5:6379/1``; never logged
            (it may hold a password).
        key: what shares the limit, e.g. the Sinch project id.
        rate_per_s: requests per second (see :func:`window_for`).
        sleep: injectable for tests.

    Raises:
        ValueError: a bad rate, or a URI ``limits`` does not know.
    """

    def __init__(
        self,
        storage_uri: str,
        key: str,
        rate_per_s: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from limits import RateLimitItemPerSecond, storage, strategies

        amount, seconds = window_for(rate_per_s)
        self.item = RateLimitItemPerSecond(amount, seconds)
        self.key = key
        try:
            self._storage = storage.storage_from_string(storage_uri)
        except Exception as exc:  # ConfigurationError, a missing driver...
            # Not the library's message: it repeats the URI, password included.
            scheme = storage_uri.split(":", 1)[0]
            msg = (
                f"cannot use the shared rate limit store ({scheme}://…): {type(exc).__name__} "
                "(schemes: redis://, rediss://, redis+sentinel://, memory://)"
            )
            raise ValueError(msg) from None
        self._limiter: Any = strategies.MovingWindowRateLimiter(self._storage)
        self._sleep = sleep

    def acquire(self) -> float:
        """Block until a request may start within the shared limit; return the seconds waited.

        Raises:
            TransportError: the store cannot be reached (the request is not sent).
        """
        waited = 0.0
        try:
            while not self._limiter.hit(self.item, _NAMESPACE, self.key):
                stats = self._limiter.get_window_stats(self.item, _NAMESPACE, self.key)
                pause = min(max(stats.reset_time - time.time(), 0.005), self.item.get_expiry())
                self._sleep(pause)
                waited += pause
        except Exception as exc:  # the store's own errors (connection refused, timeout...)
            msg = f"the shared rate limit store did not answer: {type(exc).__name__}"
            raise TransportError(msg) from None
        return waited
