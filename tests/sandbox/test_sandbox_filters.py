"""Filters and boundary rules of GET /calls, over loopback HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from conftest import NOW, client_for, fetch_all

from pipeline.sandbox.server import SandboxHandle


def ct(c: dict) -> datetime:
    return datetime.fromisoformat(c["createTime"])


def get(client: httpx.Client, sb: SandboxHandle, query: str) -> httpx.Response:
    return client.get(f"/v1/projects/{sb.project_id}/calls?{query}")


def test_envelope_and_defaults(client, sandbox):
    r = get(client, sandbox, "createTime=2026-11-01")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"calls", "totalItems", "pageNumber", "pageSize"}
    assert body["pageNumber"] == 1 and body["pageSize"] == 100
    assert len(body["calls"]) == 100 and body["totalItems"] > 100
    assert all(isinstance(body[k], int) for k in ("totalItems", "pageNumber", "pageSize"))


@pytest.mark.parametrize(
    ("value", "start", "end"),
    [
        ("2026-10", datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)),
        (
            "2026-11-01T14",
            datetime(2026, 11, 1, 14, tzinfo=UTC),
            datetime(2026, 11, 1, 15, tzinfo=UTC),
        ),
        (
            "2026-11-01T14:30",
            datetime(2026, 11, 1, 14, 30, tzinfo=UTC),
            datetime(2026, 11, 1, 14, 31, tzinfo=UTC),
        ),
    ],
)
def test_partial_dates_expand_to_their_period(client, sandbox, value, start, end):
    calls, total = fetch_all(client, sandbox, f"createTime={value}")
    truth = sandbox.app_state.call_ids_between(start, end)
    assert [c["callId"] for c in calls] == truth
    assert total == len(truth)
    assert truth or value.endswith(":30")  # a single minute may be empty


def test_year_partial(make_sandbox, clock):
    # a short history keeps the year cheap; createTime=2026 == everything since history_start
    start = datetime(2026, 10, 29, tzinfo=UTC)
    with make_sandbox(now=clock, history_start=start) as sb, client_for(sb) as c:
        y = get(c, sb, "createTime=2026&size=1").json()["totalItems"]
        visible = sb.app_state.visible_calls_between(start, NOW + timedelta(seconds=1))
        assert y == len(visible) > 0
        assert get(c, sb, "createTime=2025&size=1").json()["totalItems"] == 0


def test_range_is_inclusive_at_second_granularity(client, sandbox):
    truth = sandbox.app_state.calls_between(
        datetime(2026, 11, 1, 9, tzinfo=UTC), datetime(2026, 11, 1, 11, tzinfo=UTC)
    )
    a, b = truth[10], truth[-10]
    q = f"createTime>={a['createTime']}&createTime<={b['createTime']}"
    calls, _ = fetch_all(client, sandbox, q)
    assert a["callId"] in {c["callId"] for c in calls}
    assert b["callId"] in {c["callId"] for c in calls}
    assert min(ct(c) for c in calls) == ct(a) and max(ct(c) for c in calls) == ct(b)


def test_range_keys_raw_encoded_and_fully_encoded_agree(client, sandbox):
    raw = get(client, sandbox, "createTime>=2026-11-01T10:00:00Z&createTime<=2026-11-01T10:59:59Z")
    enc = get(
        client, sandbox, "createTime%3E=2026-11-01T10:00:00Z&createTime%3C=2026-11-01T10:59:59Z"
    )
    full = get(
        client, sandbox, "createTime%3E%3D2026-11-01T10:00:00Z&createTime%3C%3D2026-11-01T10:59:59Z"
    )
    hour = get(client, sandbox, "createTime=2026-11-01T10")
    assert raw.status_code == enc.status_code == full.status_code == 200
    assert raw.content == enc.content == full.content == hour.content


def test_date_only_upper_bound_covers_the_whole_day(client, sandbox):
    r = get(client, sandbox, "createTime>=2026-10-30&createTime<=2026-10-31&size=1").json()
    truth = sandbox.app_state.call_ids_between(
        datetime(2026, 10, 30, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    )
    assert r["totalItems"] == len(truth)


def test_bound_without_offset_is_utc_and_offsets_are_honoured(client, sandbox):
    a = get(client, sandbox, "createTime>=2026-11-01T10:00:00&createTime<=2026-11-01T10:59:59")
    b = get(client, sandbox, "createTime>=2026-11-01T10:00:00Z&createTime<=2026-11-01T10:59:59Z")
    # +01:00 sent unencoded: the + arrives as a space and still means +01:00
    c = get(
        client,
        sandbox,
        "createTime>=2026-11-01T11:00:00+01:00&createTime<=2026-11-01T11:59:59+0100",
    )
    assert a.content == b.content == c.content


def test_exact_instant_means_after(client, sandbox):
    r = get(client, sandbox, "createTime=2026-11-02T11:00:00Z&size=1000").json()
    truth = sandbox.app_state.visible_calls_between(
        datetime(2026, 11, 2, 11, tzinfo=UTC), NOW + timedelta(seconds=1)
    )
    assert r["totalItems"] == len(truth)


def test_default_window_is_last_24_hours_with_fixed_clock(client, sandbox):
    r = get(client, sandbox, "size=1").json()
    truth = sandbox.app_state.visible_calls_between(
        NOW - timedelta(hours=24), NOW + timedelta(seconds=1)
    )
    assert r["totalItems"] == len(truth) > 0
    first = get(client, sandbox, "size=1").json()["calls"][0]
    assert ct(first) >= NOW - timedelta(hours=24)


def test_now_date_math_is_accepted(client, sandbox):
    a = get(client, sandbox, "createTime>=now-24h&size=1").json()["totalItems"]
    b = get(client, sandbox, "size=1").json()["totalItems"]
    assert a == b


def test_from_to_prefix_and_plus_as_space(client, sandbox):
    base = "createTime=2026-11-01"
    all_calls, _ = fetch_all(client, sandbox, base)
    dk = [c["callId"] for c in all_calls if c["from"].startswith("+45")]
    for q in ("from=%2B45", "from=+45", "from=45"):
        calls, _ = fetch_all(client, sandbox, f"{base}&{q}")
        assert [c["callId"] for c in calls] == dk, q
    to_us = [c["callId"] for c in all_calls if c["to"].startswith("+1")]
    calls, _ = fetch_all(client, sandbox, f"{base}&to=+1")
    assert [c["callId"] for c in calls] == to_us and to_us


def test_trunk_filter(client, sandbox):
    trunks = client.get(f"/v1/projects/{sandbox.project_id}/trunks").json()["trunks"]
    tid = trunks[0]["id"]
    calls, total = fetch_all(client, sandbox, f"createTime=2026-11-01&trunkId={tid}")
    assert total > 0 and {c["trunkId"] for c in calls} == {tid}


def test_case_insensitive_comma_lists(client, sandbox):
    base = "createTime=2026-11-01"
    all_calls, _ = fetch_all(client, sandbox, base)
    want = [c["callId"] for c in all_calls if c["callResult"] in ("BUSY", "FAILED")]
    for q in (
        "callResult=BUSY,FAILED",
        "callResult=busy,Failed",
        "callResult=busy&callResult=FAILED",
    ):
        calls, _ = fetch_all(client, sandbox, f"{base}&{q}")
        assert [c["callId"] for c in calls] == want, q
    inbound = [c["callId"] for c in all_calls if c["direction"] == "INBOUND"]
    calls, _ = fetch_all(client, sandbox, f"{base}&direction=inbound")
    assert [c["callId"] for c in calls] == inbound
    both, total = fetch_all(client, sandbox, f"{base}&direction=INBOUND,outbound")
    assert [c["callId"] for c in both] == [c["callId"] for c in all_calls]
    assert total == len(all_calls)


def test_pages_are_disjoint_stable_and_ordered(client, sandbox):
    calls, total = fetch_all(client, sandbox, "createTime=2026-11-01", size=97)
    ids = [c["callId"] for c in calls]
    assert len(ids) == len(set(ids)) == total
    keys = [(ct(c), c["callId"]) for c in calls]
    assert keys == sorted(keys)
    again, _ = fetch_all(client, sandbox, "createTime=2026-11-01", size=97)
    assert again == calls


def test_size_and_pagesize_keys(client, sandbox):
    a = get(client, sandbox, "createTime=2026-11-01&size=7&page=3").json()
    b = get(client, sandbox, "createTime=2026-11-01&pageSize=7&page=3").json()
    assert a == b and len(a["calls"]) == 7 and a["pageNumber"] == 3 and a["pageSize"] == 7
    last = get(client, sandbox, "createTime=2026-11-01&size=1000&page=999").json()
    assert last["calls"] == [] and last["totalItems"] == a["totalItems"]
    ok = get(client, sandbox, "createTime=2026-11-01&size=1000")
    assert ok.status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "size=1001",
        "pageSize=5000",
        "size=0",
        "page=0",
        "page=abc",
        "createTime=yesterday",
        "createTime=2026-13",
        "createTime%3E=",
        "createTime>=2026-02-30",
    ],
)
def test_bad_requests_get_400_json(client, sandbox, query):
    r = get(client, sandbox, query)
    assert r.status_code == 400
    body = r.json()
    assert body["status"] == 400 and body["message"] and "guess" in body["sandboxNote"]


def test_unknown_project_route_and_method_are_json_errors(client, sandbox):
    r = client.get("/v1/projects/nope/calls")
    assert r.status_code == 404 and r.json()["error"] == "NOT_FOUND"
    assert client.get("/v2/whatever").json()["status"] == 404
    r = client.post(f"/v1/projects/{sandbox.project_id}/calls")
    assert r.status_code == 405 and r.json()["error"] == "METHOD_NOT_ALLOWED"


def test_trunks_endpoint(client, sandbox):
    body = client.get(f"/v1/projects/{sandbox.project_id}/trunks").json()
    assert set(body) == {"trunks", "totalItems", "pageNumber", "pageSize"}
    assert body["totalItems"] == len(body["trunks"]) >= 3
    t = body["trunks"][0]
    assert {"id", "name", "callsPerSecond", "hostName", "domain", "createTime"} <= set(t)
    one = client.get(f"/v1/projects/{sandbox.project_id}/trunks/{t['id']}").json()
    assert one == t
    assert client.get(f"/v1/projects/{sandbox.project_id}/trunks/nope").status_code == 404
    p2 = client.get(f"/v1/projects/{sandbox.project_id}/trunks?size=2&page=2").json()
    assert p2["trunks"] == body["trunks"][2:4]
