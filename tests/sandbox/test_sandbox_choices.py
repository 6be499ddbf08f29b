"""The NOT FOUND choices are settings: the alternatives behave as documented."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import client_for

from pipeline.sandbox.settings import SandboxSettings


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


@pytest.mark.parametrize(
    "bad",
    [
        {"max_result_window": 0},
        {"result_window_mode": "clamp"},
        {"page_size_key": "limit"},
        {"envelope_fault": "calls-missing"},
        {"envelope_fault_rate": 1.5},
        {"export_fault": "teapot"},
        {"export_fault_rate": -0.5},
        {"gzip_bomb_rate": -0.1},
        {"duplicate_across_windows_rate": 2.0},
        {"total_items_cap": -1},
        {"busy_hour_calls": -5},
        {"header_drip_s": -1.0},
        {"token_lifetime_s": 0},
    ],
)
def test_hostile_settings_are_validated(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        SandboxSettings(**bad)


def test_hostile_settings_are_off_by_default():
    s = SandboxSettings()
    assert (s.max_result_window, s.envelope_fault, s.total_items_cap, s.busy_hour_calls) == (
        None, None, None, None,
    )  # fmt: skip
    assert s.page_size_key == "both" and s.result_window_mode == "empty"
    assert not (s.unstable_order or s.strict_lower_bound or s.float_money or s.extreme_times)
    assert not (s.trunks_envelope_fault or s.echo_authorization or s.gzip_bomb)
    assert s.duplicate_across_windows_rate == 0.0 and s.header_drip_s == 0.0
    assert (s.export_fault, s.export_fault_rate) == (None, 1.0)
