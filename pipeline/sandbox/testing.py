"""Reusable pytest helpers: a fake clock and a sandbox-server context manager.

from pipeline.sandbox.testing import FakeClock, sandbox_server

clock = FakeClock(datetime(2026, 11, 2, 12, tzinfo=UTC))
with sandbox_server(now=clock, seed=3) as sb:
    ...
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from pipeline.sandbox.server import SandboxHandle, run_sandbox
from pipeline.sandbox.settings import SandboxSettings


class FakeClock:
    """A settable, thread-safe clock: call it for the time; ``advance``/``set`` to move it."""

    def __init__(self, start: datetime | None = None) -> None:
        self._t = start or datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        """The current fake time."""
        with self._lock:
            return self._t

    def advance(self, **delta: float) -> datetime:
        """Move forward by ``timedelta(**delta)``; returns the new time."""
        with self._lock:
            self._t += timedelta(**delta)
            return self._t

    def set(self, t: datetime) -> None:
        """Jump to ``t``."""
        with self._lock:
            self._t = t


@contextmanager
def sandbox_server(
    settings: SandboxSettings | None = None, **overrides: object
) -> Iterator[SandboxHandle]:
    """Start a sandbox on a free loopback port with ``settings`` plus keyword overrides."""
    with run_sandbox(settings, **overrides) as handle:
        yield handle
