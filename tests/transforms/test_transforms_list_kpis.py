"""Golden tests from the call list alone: time to answer, billing audit, the ACD rule."""

from __future__ import annotations

from datetime import date

import pytest
from transforms_testkit import make_calls, ts

from pipeline.transforms import CallData, LocalDays, UtcHours, trunk_usage
from pipeline.transforms.billing_audit import billing_audit
from pipeline.transforms.destination import country_of
from pipeline.transforms.time_to_answer import time_to_answer

HOUR = UtcHours(ts("2026-01-01 10:00"), ts("2026-01-01 11:00"))
DAY = LocalDays(date(2026, 1, 1), date(2026, 1, 2), "UTC")


def test_acd_leaves_out_answered_calls_without_answer_time():
    """Two COMPLETED calls: one 60 s conversation (10:00:10 → 10:01:10), one without
    answer_time (unknown). ACD = 60 / 1 = 60 s, not 60 / 2 = 30 s; answered stays 2."""
    calls = make_calls(
        [
            {
                "create_time": "2026-01-01 10:00",
                "answer_time": "2026-01-01 10:00:10",
                "end_time": "2026-01-01 10:01:10",
            },
            {"create_time": "2026-01-01 10:05", "end_time": "2026-01-01 10:09"},
        ]
    )
    r = trunk_usage(CallData(calls), HOUR).collect().row(0, named=True)
    assert (r["answered"], r["acd_calls"], r["conversation_seconds"]) == (2, 1, 60.0)
    assert r["acd_seconds"] == 60.0


def test_time_to_answer_inbound_answered_only():
    """INBOUND answered on t1 after 2, 4, 7, 12, 25, 40, 70 s (7 calls; the p90 is the
    ⌈0.9·7⌉ = 7th smallest = 70 s); sum 2+4+7+12+25+40+70 = 160 s; within 3 s: 1, 6 s: 2,
    10 s: 3, 20 s: 4, 30 s: 5, 60 s: 6. Left out: an OUTBOUND answered call, an INBOUND
    NO_ANSWER call, an INBOUND COMPLETED call without answer_time."""
    waits = [2, 4, 7, 12, 25, 40, 70]
    rows = [
        {
            "direction": "INBOUND",
            "create_time": f"2026-01-01 10:{i:02d}:00",
            "answer_time": f"2026-01-01 10:{i + 1 if w >= 60 else i:02d}:{w % 60:02d}",
        }
        for i, w in enumerate(waits)
    ]
    rows += [
        {"create_time": "2026-01-01 10:20", "answer_time": "2026-01-01 10:20:05"},
        {"direction": "INBOUND", "create_time": "2026-01-01 10:21", "call_result": "NO_ANSWER"},
        {"direction": "INBOUND", "create_time": "2026-01-01 10:22"},
    ]
    r = time_to_answer(CallData(make_calls(rows)), HOUR).collect().row(0, named=True)
    assert (r["tta_calls"], r["tta_seconds"], r["tta_max_seconds"]) == (7, 160.0, 70.0)
    assert r["tta_p90_seconds"] == 70.0
    le = [r[f"tta_le_{b}s"] for b in (3, 6, 10, 20, 30, 60)]
    assert le == [1, 2, 3, 4, 5, 6]


def test_time_to_answer_p90_nearest_rank_of_ten():
    """10 calls answered after 1..10 s: ⌈0.9·10⌉ = 9th smallest = 9 s."""
    rows = [
        {
            "direction": "INBOUND",
            "create_time": f"2026-01-01 10:{i:02d}:00",
            "answer_time": f"2026-01-01 10:{i:02d}:{i + 1:02d}",
        }
        for i in range(10)
    ]
    r = time_to_answer(CallData(make_calls(rows)), HOUR).collect().row(0, named=True)
    assert r["tta_p90_seconds"] == 9.0


def test_country_of_longest_prefix():
    frame = make_calls(
        [
            {"to_number": "+4522222222"},  # 45 → DK
            {"to_number": "+12045550100"},  # 1204 → CA (NANP area code)
            {"to_number": "+12125550100"},  # 1212 → US
            {"to_number": "unknown"},
        ]
    ).collect()
    assert frame.select(country_of("to_number"))["to_number"].to_list() == [
        "DK",
        "CA",
        "US",
        "UNKNOWN",
    ]


def test_billing_audit_price_check_and_increment():
    """Trunk t1 to DK (+45), USD, price_per_minute 0.012000:

    c0 billed 60 s, price 0.012000 = 0.012 × 60/60 exactly → ok;
    c1 billed 120 s, price 0.024001: expected 0.024000, off by 0.000001 = the tolerance → ok
       (only *more than* 0.000001 counts);
    c2 billed 180 s, price 0.036002: off by 0.000002 → mismatch;
    c3 billed 0 s (not answered), price 0 → ok, not a billed call.
    Σ price of the 4 = 0.012 + 0.024001 + 0.036002 + 0 = 0.072003;
    expected = 0.012 × (60 + 120 + 180 + 0) / 60 = 0.072000.
    Billed durations 60, 120, 180: all multiples of 60 → step 60 → "60/60"; min 60; none < 60.
    c0 answered 10:00:05 → 10:01:00 (55 s conversation, billed 60): audited 1 call, 55 s vs
    60 s; the others have no answer_time (c1, c2 answered without it: not audited).
    """
    base = {
        "to_number": "+4522222222",
        "price_currency": "USD",
        "price_per_minute": "0.012",
        "price_per_minute_currency": "USD",
    }
    rows = [
        base
        | {
            "create_time": "2026-01-01 10:00",
            "answer_time": "2026-01-01 10:00:05",
            "end_time": "2026-01-01 10:01:00",
            "billing_duration_seconds": 60,
            "price": "0.012",
        },
        base | {"create_time": "2026-01-01 11:00", "billing_duration_seconds": 120,
                "price": "0.024001"},
        base | {"create_time": "2026-01-01 12:00", "billing_duration_seconds": 180,
                "price": "0.036002"},
        base | {"create_time": "2026-01-01 13:00", "call_result": "FAILED", "price": "0"},
    ]  # fmt: skip
    got = billing_audit(CallData(make_calls(rows)), DAY).collect()
    assert got.height == 1
    r = got.row(0, named=True)
    assert (r["destination_country"], r["currency"]) == ("DK", "USD")
    assert (r["calls"], r["billed_calls"], r["billed_seconds"]) == (4, 3, 360)
    assert (r["audited_calls"], r["audited_conversation_seconds"]) == (1, 55.0)
    assert r["audited_billed_seconds"] == 60
    assert r["priced_calls"] == 4
    assert str(r["cost"]) == "0.072003"
    assert str(r["expected_cost"]) == "0.072000"
    assert (r["price_mismatch"], r["currency_mismatch"]) == (1, 0)
    assert (r["min_billed_seconds"], r["billed_below_60"]) == (60, 0)
    assert r["increment_observed"] == "60/60"


@pytest.mark.parametrize(
    ("billed", "label"),
    [
        ([60, 66, 120], "60/6"),  # all ≥ 60, all multiples of 6, 66 is not of 10/30/60
        ([6, 12, 66], "6/6"),  # some under a minute
        ([7, 61], "1/1"),  # no common step
        ([30, 90], "30/30"),  # 30 divides both, 60 does not divide 90
        ([0], None),  # nothing billed: no inference
    ],
)
def test_billing_increment_inference(billed, label):
    rows = [
        {"create_time": f"2026-01-01 10:{i:02d}", "billing_duration_seconds": b}
        for i, b in enumerate(billed)
    ]
    got = billing_audit(CallData(make_calls(rows)), DAY).collect()
    assert got["increment_observed"].to_list() == [label]
