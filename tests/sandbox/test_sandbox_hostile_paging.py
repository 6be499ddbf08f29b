"""Hostile paging and query behaviours, over loopback HTTP: the result window, unstable order of
same-second calls, an under-reported totalItems, which size key counts, a strict lower bound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from conftest import client_for

from pipeline.sandbox.server import SandboxHandle

DAY = "createTime=2026-10-28"  # a Wednesday: ~2,000 calls at the default rate
H = datetime(2026, 10, 28, 10, tzinfo=UTC)
HOUR = "createTime%3E=2026-10-28T10:00:00Z&createTime%3C=2026-10-28T10:59:59Z"


def page(c: httpx.Client, sb: SandboxHandle, query: str) -> httpx.Response:
    return c.get(f"{sb.calls_url}?{query}")


def walk(c: httpx.Client, sb: SandboxHandle, query: str, size: int) -> tuple[list[dict], set]:
    """Every page of ``query`` until one is short; returns (calls, distinct totalItems)."""
    out: list[dict] = []
    totals = set()
    n = 1
    while True:
        body = page(c, sb, f"{query}&size={size}&page={n}").json()
        out.extend(body["calls"])
        totals.add(body["totalItems"])
        if len(body["calls"]) < size:
            return out, totals
        n += 1


def test_result_window_empty_cuts_pages_but_counts_everything(make_sandbox, clock):
    with make_sandbox(now=clock, max_result_window=250) as sb, client_for(sb) as c:
        truth = sb.app_state.call_ids_between(H.replace(hour=0), H.replace(hour=0) + timedelta(1))
        assert len(truth) > 500
        bodies = [page(c, sb, f"{DAY}&size=100&page={n}").json() for n in (1, 2, 3, 4)]
        assert [len(b["calls"]) for b in bodies] == [100, 100, 50, 0]
        assert {b["totalItems"] for b in bodies} == {len(truth)}
        served = [x["callId"] for b in bodies for x in b["calls"]]
        assert served == truth[:250]
        one = page(c, sb, f"{DAY}&size=1000&page=1").json()
        assert [x["callId"] for x in one["calls"]] == truth[:250]


def test_result_window_error_is_elasticsearch_from_plus_size(make_sandbox, clock):
    mode = dict(max_result_window=250, result_window_mode="error")
    with make_sandbox(now=clock, **mode) as sb, client_for(sb) as c:
        ok = [(100, 1), (100, 2), (250, 1), (50, 5), (125, 2)]
        assert all(page(c, sb, f"{DAY}&size={s}&page={p}").status_code == 200 for s, p in ok)
        for size, p in [(100, 3), (251, 1), (50, 6), (126, 2)]:
            r = page(c, sb, f"{DAY}&size={size}&page={p}")
            assert r.status_code == 400
            body = r.json()
            assert body["status"] == 400 and body["error"] == "VALIDATION_FAILED"
            assert body["message"].startswith(
                f"Result window is too large, page * size must be <= 250 but was {p * size}"
            )
            assert body["path"] == f"/v1/projects/{sb.project_id}/calls"
        assert sb.app_state.stats["result_window_errors"] == 4


def test_unstable_order_of_same_second_calls(make_sandbox, clock):
    with make_sandbox(now=clock, busy_hour_calls=5000, unstable_order=True, variant_rate=0) as sb:
        truth = sb.app_state.calls_between(H, H + timedelta(hours=1))
        assert len(truth) == 5000
        with client_for(sb) as c:
            served, totals = walk(c, sb, HOUR, 500)
            again = page(c, sb, f"{HOUR}&size=500&page=1").json()["calls"]
            first = page(c, sb, f"{HOUR}&size=500&page=1").json()["calls"]
        assert totals == {5000} and len(served) == 5000
        # the order by second is kept: only calls of the same second trade places
        assert [x["createTime"] for x in served] == [x["createTime"] for x in truth]
        ids = [x["callId"] for x in served]
        assert ids != [x["callId"] for x in truth]
        assert len(set(ids)) < 5000  # paging across ties repeated some calls, skipped others
        assert set(ids) < {x["callId"] for x in truth}
        assert [x["createTime"] for x in again] == [x["createTime"] for x in first]
        assert [x["callId"] for x in again] != [x["callId"] for x in first]
    with (  # the same requests replay the same orders
        make_sandbox(now=clock, busy_hour_calls=5000, unstable_order=True, variant_rate=0) as sb2,
        client_for(sb2) as c2,
    ):
        assert [x["callId"] for x in walk(c2, sb2, HOUR, 500)[0]] == ids


def test_total_items_cap_under_reports_while_pages_stay_full(make_sandbox, clock):
    with make_sandbox(now=clock, busy_hour_calls=5000, total_items_cap=1000) as sb:
        truth = sb.app_state.call_ids_between(H, H + timedelta(hours=1))
        with client_for(sb) as c:
            bodies = [page(c, sb, f"{HOUR}&size=1000&page={n}").json() for n in range(1, 7)]
        assert [len(b["calls"]) for b in bodies] == [1000] * 5 + [0]
        assert {b["totalItems"] for b in bodies} == {1000}
        assert [x["callId"] for b in bodies for x in b["calls"]] == truth


@pytest.mark.parametrize(
    ("key", "query", "expected"),
    [
        ("both", "size=10", 10),
        ("both", "pageSize=20", 20),
        ("both", "size=10&pageSize=20", 10),
        ("size", "size=10", 10),
        ("size", "pageSize=20", 100),
        ("size", "size=10&pageSize=20", 10),
        ("size", "pageSize=abc", 100),
        ("pageSize", "size=10", 100),
        ("pageSize", "pageSize=20", 20),
        ("pageSize", "size=10&pageSize=20", 20),
        ("pageSize", "size=abc&page=2", 100),
    ],
)
def test_page_size_key(make_sandbox, clock, key, query, expected):
    with make_sandbox(now=clock, page_size_key=key) as sb, client_for(sb) as c:
        body = page(c, sb, f"{DAY}&{query}").json()
        assert len(body["calls"]) == expected and body["pageSize"] == expected
        # the export pages only when a key it honours is sent; otherwise it sends every row
        honoured = {"both": {"size", "pageSize"}, "size": {"size"}, "pageSize": {"pageSize"}}
        sent = {part.split("=")[0] for part in query.split("&")}
        rows = c.get(f"{sb.calls_url}/export?{DAY}&{query}").text.count("\r\n") - 1
        assert rows == (expected if sent & (honoured[key] | {"page"}) else body["totalItems"])


def test_strict_lower_bound_drops_the_bound_second(make_sandbox, clock):
    with make_sandbox(now=clock, busy_hour_calls=20000, strict_lower_bound=True) as sb:
        truth = sb.app_state.call_ids_between
        first_second = truth(H, H + timedelta(seconds=1))
        assert first_second  # ~5.5 calls per second at 20,000 an hour
        with client_for(sb) as c:
            served, totals = walk(c, sb, HOUR, 1000)
            assert [x["callId"] for x in served] == truth(
                H + timedelta(seconds=1), H.replace(hour=11)
            )
            assert totals == {20000 - len(first_second)}
            # a fraction: strict at the millisecond (whole-second calls at .000 are dropped)
            q = "createTime%3E=2026-10-28T10:00:00.000Z&createTime%3C=2026-10-28T10:00:04Z"
            got = [x["callId"] for x in page(c, sb, f"{q}&size=1000").json()["calls"]]
            assert got == truth(H + timedelta(seconds=1), H + timedelta(seconds=5))
            # a date: strict means after that day
            q = "createTime%3E=2026-10-28&createTime%3C=2026-10-29T00:00:02Z"
            got = [x["callId"] for x in page(c, sb, f"{q}&size=1000").json()["calls"]]
            midnight = datetime(2026, 10, 29, tzinfo=UTC)
            assert got == truth(midnight, midnight + timedelta(seconds=3))
    with make_sandbox(now=clock, busy_hour_calls=20000) as sb, client_for(sb) as c:
        assert page(c, sb, f"{HOUR}&size=1").json()["totalItems"] == 20000


def test_strict_lower_bound_leaves_create_time_equals_alone(make_sandbox, clock):
    with make_sandbox(now=clock, strict_lower_bound=True) as sb, client_for(sb) as c:
        call = sb.app_state.calls_between(H, H + timedelta(hours=1))[0]
        at = call["createTime"]
        after = page(c, sb, f"createTime={at}&size=1").json()["calls"]  # "after" (OAS example)
        assert after[0]["callId"] == call["callId"]
        strict = page(c, sb, f"createTime%3E={at}&size=1000").json()["calls"]
        assert strict[0]["createTime"] > at
        assert call["callId"] not in {x["callId"] for x in strict}
