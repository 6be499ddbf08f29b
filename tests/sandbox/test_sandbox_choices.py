"""The NOT FOUND choices are settings: the alternatives behave as documented."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conftest import client_for


def test_oversize_clamp_count_semantics_and_string_page_number(make_sandbox, clock):
    settings = dict(oversize_page="clamp", page_size_semantics="count", string_page_number=True)
    with make_sandbox(now=clock, **settings) as sb, client_for(sb) as c:
        r = c.get(f"{sb.calls_url}?createTime=2026-10-28&size=5000")
        assert r.status_code == 200
        body = r.json()
        assert len(body["calls"]) == 1000 and body["pageSize"] == 1000
        assert body["pageNumber"] == "1"
        last = c.get(f"{sb.calls_url}?createTime=2026-10-28&size=1000&page=99").json()
        assert last["pageSize"] == 0 and last["calls"] == []


def test_exact_instant_second_mode(make_sandbox, clock):
    with make_sandbox(now=clock, exact_instant_mode="second") as sb, client_for(sb) as c:
        truth = sb.app_state.calls_between(
            datetime(2026, 10, 28, 10, tzinfo=UTC), datetime(2026, 10, 28, 11, tzinfo=UTC)
        )
        target = truth[len(truth) // 2]
        t = datetime.fromisoformat(target["createTime"])
        same_second = sb.app_state.call_ids_between(t, t + timedelta(seconds=1))
        r = c.get(f"{sb.calls_url}?createTime={target['createTime']}").json()
        assert [x["callId"] for x in r["calls"]] == same_second
        assert target["callId"] in same_second


def test_default_window_setting(make_sandbox, clock):
    with make_sandbox(now=clock, default_window_s=3600) as sb, client_for(sb) as c:
        total = c.get(f"{sb.calls_url}?size=1").json()["totalItems"]
        now = clock()
        visible = sb.app_state.visible_calls_between(
            now - timedelta(hours=1), now + timedelta(seconds=1)
        )
        assert total == len(visible) > 0
