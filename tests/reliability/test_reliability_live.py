"""Calls arriving during a sweep: the sandbox's clock moves forward with every request, so
calls become visible (or reach their final form) between the pages of one sweep and
``totalItems`` changes under the client's feet.

During such a run nothing visible before it started may be lost, nothing may be doubled, and
nothing may be invented; once the clock has moved past the hours (what the hourly schedule's
lookback re-ingestion does), a second run ends with exactly the sandbox's calls.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from reliability_kit import assert_exactly_the_sandbox_calls, canonical_row, ingest, warehouse_rows

from pipeline.sandbox.testing import sandbox_server

pytestmark = pytest.mark.integration

#: A busy Tuesday noon; the run ingests the 2 hours before it and the hour after it, all three
#: at once, while calls are still being created and ending.
NOW = datetime(2026, 11, 17, 12, tzinfo=UTC)
START, END = NOW - timedelta(hours=2), NOW + timedelta(hours=1)


class RequestClock:
    """The sandbox's ``now``: ``step`` later for every API request served so far (a live API
    whose clock moves between the pages of a sweep, deterministically for a serial client)."""

    def __init__(self, start: datetime, step: timedelta) -> None:
        self.start, self.step = start, step
        self.requests = lambda: 0  # set once the sandbox runs
        self.frozen_at: datetime | None = None

    def __call__(self) -> datetime:
        if self.frozen_at is not None:
            return self.frozen_at
        return self.start + self.requests() * self.step


@pytest.mark.parametrize(
    "live",
    [
        {"list_in_progress": False, "visibility_delay_s": 120.0},
        {"list_in_progress": True},
    ],
    ids=["listed-when-ended+delay", "listed-in-progress"],
)
def test_calls_arriving_during_the_sweep(tmp_path: Path, live):
    db = tmp_path / "w.duckdb"
    clock = RequestClock(NOW, timedelta(seconds=60))
    with sandbox_server(now=clock, **live) as sb:
        state = sb.app_state
        clock.requests = lambda: state.stats["requests"]
        before = {c["callId"]: c for c in state.visible_calls_between(START, END, at=NOW)}
        report = ingest(sb, db, START, END, page_size=20, concurrency=1)
        now = clock()
        after = {c["callId"]: c for c in state.visible_calls_between(START, END, at=now)}
        truth = {c["callId"]: c for c in state.calls_between(START, END)}

        got = {r[0]: r for r in warehouse_rows(db, START, END)}
        assert len(got) == len(warehouse_rows(db, START, END)), "a call landed twice"
        assert len(after) > len(before) + 20, "the clock did not bring new calls"
        assert any(e.fetch.sweeps > 1 for e in report.committed), "no window saw drift"
        assert before.keys() <= got.keys(), "lost a call that was visible before the run"
        assert got.keys() <= after.keys(), "landed a call the API never listed"
        if not live.get("list_in_progress"):
            # ended calls are final: every landed value is the sandbox's
            assert all(got[i] == canonical_row(truth[i]) for i in got)

        # later, the hours are closed: the lookback re-ingestion makes them exact
        clock.frozen_at = END + timedelta(hours=6)
        ingest(sb, db, START, END, page_size=20, concurrency=3)
        assert_exactly_the_sandbox_calls(sb, db, START, END)
