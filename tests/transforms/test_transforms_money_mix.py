"""Golden tests: cost per currency with exact decimals; direction mix and shares."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
from transforms_testkit import make_calls, ts

from pipeline.transforms import CallData, LocalDays, UtcHours, cost, direction_mix

TZ = "Europe/Copenhagen"
D1, D2 = date(2026, 1, 1), date(2026, 1, 2)
DAY = LocalDays(D1, D2, TZ)


def _calls():
    """Trunk t1, 2026-01-01 (UTC+1 local, all on local 2026-01-01):
    OUTBOUND USD: 0.1 + 0.2 + 0.000001 (billed 60 + 120 + 6 s);
    OUTBOUND EUR: 1.5 (billed 60 s);
    INBOUND  USD: 0.7 (billed 30 s); INBOUND BUSY call with no price (billed 0 s).
    """

    def c(t, direction, price, cur, billed, result="COMPLETED"):
        return {
            "create_time": t,
            "answer_time": t,
            "end_time": t.replace("10:", "11:", 1),
            "direction": direction,
            "price": price,
            "price_currency": cur,
            "billing_duration_seconds": billed,
            "call_result": result,
        }

    return make_calls(
        [
            c("2026-01-01 10:00", "OUTBOUND", "0.1", "USD", 60),
            c("2026-01-01 10:10", "OUTBOUND", "0.2", "USD", 120),
            c("2026-01-01 10:20", "OUTBOUND", "0.000001", "USD", 6),
            c("2026-01-01 10:30", "OUTBOUND", "1.5", "EUR", 60),
            c("2026-01-01 10:40", "INBOUND", "0.7", "USD", 30),
            {
                "create_time": "2026-01-01 10:50",
                "direction": "INBOUND",
                "call_result": "BUSY",
                "end_time": "2026-01-01 10:50:02",
            },
        ]
    )


def test_cost_per_currency_exact_decimal():
    """OUTBOUND/USD: 0.1 + 0.2 + 0.000001 = 0.300001 exactly (in binary floats already
    0.1 + 0.2 = 0.30000000000000004); 3 priced calls, 186 s billed = 3.1 min →
    0.300001 / 3.1 per min.
    OUTBOUND/EUR: 1.5, 1 call, 60 s → 1.5 per min. INBOUND/USD: 0.7, 1 call (the BUSY call
    has no price: not in the cost table). USD and EUR stay separate rows: never 1.800001.
    """
    got = cost(CallData(_calls()), DAY).collect()
    assert got.schema["cost"] == pl.Decimal(38, 6)
    rows = got.select("direction", "currency", "priced_calls", "billed_seconds", "cost").rows()
    assert rows == [
        ("INBOUND", "USD", 1, 30, Decimal("0.700000")),
        ("OUTBOUND", "EUR", 1, 60, Decimal("1.500000")),
        ("OUTBOUND", "USD", 3, 186, Decimal("0.300001")),
    ]
    assert 0.1 + 0.2 != 0.3  # the trap Decimal avoids
    rate = got.filter(pl.col("currency") == "USD", pl.col("direction") == "OUTBOUND")
    assert rate["cost_per_billed_minute"].item() == 0.300001 / 3.1
    hourly = cost(CallData(_calls()), UtcHours(ts("2026-01-01 10:00"), ts("2026-01-01 11:00")))
    assert hourly.collect()["cost"].to_list() == [r[4] for r in rows]


def test_direction_mix_daily_shares():
    """t1 on 2026-01-01: INBOUND 2 calls (1 answered: 0.7 USD call; conversation
    10:40→11:40 = 3600 s = 60 min), OUTBOUND 4 calls (4 answered, 4 × 3600 s = 240 min,
    billed 60 + 120 + 6 + 60 = 246 s = 4.1 min). trunk_calls = 6 → inbound share 2/6,
    outbound share 4/6; shares of one trunk-day sum to 1.
    """
    got = direction_mix(CallData(_calls()), DAY).collect()
    assert got.select(
        "direction", "calls", "answered", "conversation_minutes", "billed_seconds", "trunk_calls"
    ).rows() == [
        ("INBOUND", 2, 1, 60.0, 30, 6),
        ("OUTBOUND", 4, 4, 240.0, 246, 6),
    ]
    assert got["direction_share"].to_list() == [2 / 6, 4 / 6]
    assert got["billed_minutes"].to_list() == [0.5, 4.1]
