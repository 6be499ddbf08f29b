"""Fault injection: each fault, determinism, and that a correct client loses/doubles nothing."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
from conftest import client_for

from pipeline.sandbox.server import SandboxHandle

DAY = "createTime=2026-10-29"  # a Thursday


def robust_sweep(c: httpx.Client, sb: SandboxHandle, query: str, size: int = 500) -> list[dict]:
    """A correct client: retry 429/5xx, dedupe by callId, stop on an empty page or at the end."""
    seen: dict[str, dict] = {}
    page = 1
    while True:
        for _ in range(20):
            r = c.get(f"/v1/projects/{sb.project_id}/calls?{query}&size={size}&page={page}")
            if r.status_code == 200:
                break
            assert r.status_code in (429, 500, 502, 503)
        body = r.json()
        for call in body["calls"]:
            seen.setdefault(call["callId"], call)
        if not body["calls"] or page * size >= body["totalItems"]:
            return list(seen.values())
        page += 1


def statuses(c: httpx.Client, sb: SandboxHandle, n: int) -> list[int]:
    # distinct URLs so every request is a first attempt
    return [c.get(f"/v1/projects/{sb.project_id}/calls?{DAY}&size=1&page={i + 1}").status_code
            for i in range(n)]  # fmt: skip


def test_429_with_retry_after(make_sandbox, clock):
    with make_sandbox(now=clock, rate_429=0.3, retry_after_s=2) as sb, client_for(sb) as c:
        codes = statuses(c, sb, 200)
        share = codes.count(429) / len(codes)
        assert 0.2 < share < 0.4
        url = f"/v1/projects/{sb.project_id}/calls?{DAY}&size=1&page="
        r = next(r for i in range(200) if (r := c.get(f"{url}{i + 1}")).status_code == 429)
        assert r.headers["retry-after"] == "2" and r.json()["status"] == 429


def test_429_without_retry_after(make_sandbox, clock):
    with make_sandbox(now=clock, rate_429=1.0, retry_after_s=None) as sb, client_for(sb) as c:
        r = c.get(f"/v1/projects/{sb.project_id}/calls?{DAY}")
        assert r.status_code == 429 and "retry-after" not in r.headers


def test_5xx_rate_and_bounded_streak(make_sandbox, clock):
    with make_sandbox(now=clock, rate_5xx=1.0, fault_max_consecutive=3) as sb, client_for(sb) as c:
        url = f"/v1/projects/{sb.project_id}/calls?{DAY}&size=1"
        codes = [c.get(url).status_code for _ in range(4)]
        assert all(x in (500, 502, 503) for x in codes[:3]) and codes[3] == 200


def test_faults_are_deterministic(make_sandbox, clock):
    runs = []
    for _ in range(2):
        with (
            make_sandbox(now=clock, rate_429=0.2, rate_5xx=0.2, fault_seed=11) as sb,
            client_for(sb) as c,
        ):
            runs.append(statuses(c, sb, 60))
    assert runs[0] == runs[1] and set(runs[0]) - {200}


def test_latency(make_sandbox, clock):
    with make_sandbox(now=clock, latency_s=0.2) as sb, client_for(sb) as c:
        t = time.perf_counter()
        assert c.get(f"/v1/projects/{sb.project_id}/calls?{DAY}&size=1").status_code == 200
        assert time.perf_counter() - t >= 0.2


def test_slow_drip_sends_the_same_bytes(make_sandbox, clock):
    url = f"{DAY}&size=200"
    with make_sandbox(now=clock) as sb, client_for(sb) as c:
        plain = c.get(f"/v1/projects/{sb.project_id}/calls?{url}").content
    with (
        make_sandbox(now=clock, drip_rate=1.0, drip_chunk_bytes=8192, drip_delay_s=0.02) as sb,
        client_for(sb) as c,
    ):
        t = time.perf_counter()
        with c.stream("GET", f"/v1/projects/{sb.project_id}/calls?{url}") as r:
            chunks = list(r.iter_raw())
        elapsed = time.perf_counter() - t
        assert b"".join(chunks) == plain
        assert elapsed >= 0.02 * (len(plain) // 8192)
        assert sb.app_state.stats["drips"] == 1


def test_malformed_records_keep_their_call_id(make_sandbox, clock):
    with make_sandbox(now=clock, malformed_rate=0.05) as sb, client_for(sb) as c:
        served = robust_sweep(c, sb, DAY)
        start, end = datetime(2026, 10, 29, tzinfo=UTC), datetime(2026, 10, 30, tzinfo=UTC)
        bad = set(sb.app_state.malformed_call_ids_between(start, end))
        assert 0.03 < len(bad) / len(served) < 0.07
        broken = {c["callId"] for c in served
                  if "createTime" not in c or not c["createTime"][:4].isdigit()
                  or not c["endTime"][5:7] <= "12"}  # fmt: skip
        assert broken == bad
        assert {c["callId"] for c in served} == set(sb.app_state.call_ids_between(start, end))


def test_duplicate_record_across_pages(make_sandbox, clock):
    with make_sandbox(now=clock, duplicate_rate=1.0) as sb, client_for(sb) as c:
        p1 = c.get(f"/v1/projects/{sb.project_id}/calls?{DAY}&size=50&page=1").json()
        p2 = c.get(f"/v1/projects/{sb.project_id}/calls?{DAY}&size=50&page=2").json()
        assert p2["calls"][0] == p1["calls"][-1] and len(p2["calls"]) == 51
        assert p1["totalItems"] == p2["totalItems"]


def test_correct_client_loses_and_doubles_nothing_under_all_faults(make_sandbox, clock):
    faults = dict(
        rate_429=0.2, rate_5xx=0.1, duplicate_rate=0.5, malformed_rate=0.02, retry_after_s=None
    )
    with make_sandbox(now=clock, **faults) as sb, client_for(sb) as c:
        got = robust_sweep(c, sb, DAY, size=100)
        truth = sb.app_state.call_ids_between(
            datetime(2026, 10, 29, tzinfo=UTC), datetime(2026, 10, 30, tzinfo=UTC)
        )
        assert sorted(x["callId"] for x in got) == sorted(truth)
        stats = sb.app_state.stats
        assert stats["faults_429"] > 0 and stats["faults_5xx"] > 0 and stats["duplicates"] > 0
