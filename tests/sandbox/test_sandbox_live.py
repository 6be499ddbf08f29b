"""Live data: visibility of in-progress calls, visibility delay, totalItems changing mid-sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conftest import client_for

T0 = datetime(2026, 10, 28, 10, 0, tzinfo=UTC)  # a Wednesday morning, busy


def _long_call(sb, start, end):
    calls = sb.app_state.calls_between(start, end)
    return max(
        calls,
        key=lambda c: (
            datetime.fromisoformat(c["endTime"]) - datetime.fromisoformat(c["createTime"])
        ),
    )


def test_listed_only_once_ended(make_sandbox, clock):
    clock.set(T0)
    with make_sandbox(now=clock, list_in_progress=False) as sb, client_for(sb) as c:
        call = _long_call(sb, T0 - timedelta(minutes=10), T0 - timedelta(minutes=5))
        end = datetime.fromisoformat(call["endTime"])
        assert end > T0
        url = f"/v1/projects/{sb.project_id}/calls?createTime=2026-10-28T09&size=1000"
        ids = lambda: {x["callId"] for x in c.get(url).json()["calls"]}  # noqa: E731
        assert call["callId"] not in ids()
        clock.set(end)
        assert call["callId"] in ids()


def test_listed_in_progress_then_updated(make_sandbox, clock):
    clock.set(T0)
    with make_sandbox(now=clock, list_in_progress=True) as sb, client_for(sb) as c:
        call = _long_call(sb, T0 - timedelta(minutes=10), T0 - timedelta(minutes=5))
        url = f"/v1/projects/{sb.project_id}/calls?createTime=2026-10-28T09&size=1000"
        find = lambda: next(x for x in c.get(url).json()["calls"] if x["callId"] == call["callId"])  # noqa: E731
        live = find()
        assert (
            live["endTime"] is None
            and live["callResult"] is None
            and live["createTime"] == call["createTime"]
        )
        clock.set(datetime.fromisoformat(call["endTime"]))
        assert find() == call


def test_visibility_delay(make_sandbox, clock):
    clock.set(T0)
    with make_sandbox(now=clock, visibility_delay_s=300) as sb, client_for(sb) as c:
        url = f"/v1/projects/{sb.project_id}/calls?createTime=2026-10-28T09&size=1000"
        truth = sb.app_state.calls_between(T0 - timedelta(hours=1), T0)
        ended = [
            x for x in truth if datetime.fromisoformat(x["endTime"]) <= T0 - timedelta(minutes=1)
        ]
        recent = [
            x for x in ended if datetime.fromisoformat(x["endTime"]) > T0 - timedelta(minutes=5)
        ]
        assert recent
        ids = {x["callId"] for x in c.get(url).json()["calls"]}
        assert not ids & {x["callId"] for x in recent}
        clock.advance(minutes=5)
        ids = {x["callId"] for x in c.get(url).json()["calls"]}
        assert {x["callId"] for x in recent} <= ids


def test_total_items_grows_during_a_sweep(make_sandbox, clock):
    clock.set(T0)
    with make_sandbox(now=clock) as sb, client_for(sb) as c:
        url = f"/v1/projects/{sb.project_id}/calls?size=100"  # default window: last 24 h
        p1 = c.get(url + "&page=1").json()
        clock.advance(minutes=10)
        p2 = c.get(url + "&page=2").json()
        assert p2["totalItems"] > p1["totalItems"]
        # nothing created in the future is ever listed
        clock.set(T0)
        all_now = c.get(
            f"/v1/projects/{sb.project_id}/calls?createTime=2026-10-28&size=1000"
        ).json()
        assert all(datetime.fromisoformat(x["createTime"]) <= T0 for x in all_now["calls"])
