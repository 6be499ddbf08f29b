"""The degraded hour: one trunk's calls of one UTC hour mostly FAILED, served over HTTP."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
from conftest import client_for, fetch_all

from pipeline.sandbox.settings import SandboxSettings
from pipeline.sandbox.testing import FakeClock
from pipeline.sandbox.traffic import TRUNKS

HOUR = datetime(2026, 11, 16, 9, tzinfo=UTC)  # a Monday, 10:00 in Copenhagen
QUERY = "createTime>=2026-11-16T09:00:00Z&createTime<=2026-11-16T09:59:59Z"
CPH = TRUNKS[0].id


def results(sb) -> Counter:
    with client_for(sb) as c:
        calls, _total = fetch_all(c, sb, QUERY)
    return Counter((call["trunkId"], call["callResult"]) for call in calls), {
        call["callId"] for call in calls
    }


def test_a_degraded_hour_fails_most_calls_of_its_trunk_only(make_sandbox) -> None:
    clock = FakeClock(datetime(2026, 11, 20, tzinfo=UTC))
    with make_sandbox(now=clock, seed=7) as sb:
        normal, normal_ids = results(sb)
    with make_sandbox(
        now=clock, seed=7, degraded_hour=HOUR, degraded_trunk_id=CPH, degraded_failed_share=0.9
    ) as sb:
        degraded, degraded_ids = results(sb)
    assert normal_ids == degraded_ids  # the same calls, only their outcome changed
    cph_total = sum(n for (trunk, _), n in normal.items() if trunk == CPH)
    assert cph_total >= 40
    assert normal[(CPH, "FAILED")] <= 0.1 * cph_total
    assert degraded[(CPH, "FAILED")] >= 0.8 * cph_total
    others = {k: n for k, n in normal.items() if k[0] != CPH}
    assert others == {k: n for k, n in degraded.items() if k[0] != CPH}


def test_the_degraded_hour_must_be_a_whole_aware_hour() -> None:
    with pytest.raises(ValueError, match="whole hour"):
        SandboxSettings(degraded_hour=HOUR.replace(minute=30))
    with pytest.raises(ValueError, match="whole hour"):
        SandboxSettings(degraded_hour=HOUR.replace(tzinfo=None))
