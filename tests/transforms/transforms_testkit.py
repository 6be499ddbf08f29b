"""Helpers for the transform golden tests: build ``raw.calls``-shaped LazyFrames by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import polars as pl

UTC_DT = pl.Datetime("us", "UTC")
CALL_SCHEMA = {
    "call_id": pl.String,
    "create_time": UTC_DT,
    "answer_time": UTC_DT,
    "end_time": UTC_DT,
    "direction": pl.String,
    "call_result": pl.String,
    "from_number": pl.String,
    "to_number": pl.String,
    "trunk_id": pl.String,
    "duration_seconds": pl.Int64,
    "billing_duration_seconds": pl.Int64,
    "price": pl.Decimal(18, 6),
    "price_currency": pl.String,
    "price_per_minute": pl.Decimal(18, 6),
    "price_per_minute_currency": pl.String,
}
DETAIL_SCHEMA = {
    "call_id": pl.String,
    "sip_response_code": pl.Int32,
    "cause_code": pl.Int32,
    "mos": pl.Float64,
    "is_emergency": pl.Boolean,
}
TRUNK_SCHEMA = {"trunk_id": pl.String, "name": pl.String, "calls_per_second": pl.Int32}


def ts(text: str) -> datetime:
    """``'2026-01-01 10:00:05'`` (UTC) → aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def make_calls(rows: list[dict]) -> pl.LazyFrame:
    """One dict per call; missing fields get harmless defaults (answered outbound on ``t1``).

    ``answer_time``/``end_time`` default to NULL unless given; strings are parsed as UTC.
    """
    out = []
    for i, r in enumerate(rows):
        r = dict(r)
        for k in ("create_time", "answer_time", "end_time"):
            if isinstance(r.get(k), str):
                r[k] = ts(r[k])
        for k in ("price", "price_per_minute"):
            if isinstance(r.get(k), str):
                r[k] = Decimal(r[k])
        out.append(
            {
                "call_id": f"c{i}",
                "direction": "OUTBOUND",
                "call_result": "COMPLETED",
                "from_number": "+4511111111",
                "to_number": "+4522222222",
                "trunk_id": "t1",
                "duration_seconds": 0,
                "billing_duration_seconds": 0,
                "price": None,
                "price_currency": None,
                "price_per_minute": None,
                "price_per_minute_currency": None,
                "answer_time": None,
                "end_time": None,
                **r,
            }
        )
    return pl.DataFrame(out, schema=CALL_SCHEMA).lazy()


def make_trunks(limits: dict[str, int | None]) -> pl.LazyFrame:
    return pl.DataFrame(
        [{"trunk_id": k, "name": k, "calls_per_second": v} for k, v in limits.items()],
        schema=TRUNK_SCHEMA,
    ).lazy()


def make_details(rows: list[dict]) -> pl.LazyFrame:
    """``raw.call_details``-shaped rows: ``call_id`` required, other fields NULL unless given."""
    out = [{k: None for k in DETAIL_SCHEMA} | r for r in rows]
    return pl.DataFrame(out, schema=DETAIL_SCHEMA).lazy()
