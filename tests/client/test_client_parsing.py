"""Parsing call objects: every variant of docs/api-reference.md §3 and pitfalls 11-17."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest

from pipeline.sinch import pages
from pipeline.sinch.models import CallRecord, RejectedRecord
from pipeline.sinch.pages import records_to_arrow
from pipeline.sinch.parsing import (
    parse_call,
    parse_timestamp,
    rounded_amounts,
    to_e164,
    unknown_fields,
)


def base(**over: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "callId": "01AQ3D80ZKSSK35TZFKM3JG9CT",
        "to": "+15551239898",
        "from": "+14408341325",
        "direction": "INBOUND",
        "answerTime": "2021-11-01T23:26:50Z",
        "endTime": "2021-11-01T23:27:35Z",
        "durationSeconds": 45,
        "callResult": "COMPLETED",
        "pricePerMinute": {"currencyCode": "USD", "amount": 0.004},
        "billingDurationSeconds": 60,
        "price": {"currencyCode": "USD", "amount": 0.004},
        "createTime": "2021-11-01T23:20:50Z",
        "projectId": "1bf62742-7b84-4666-9cbe-8e5734fd57d0",
        "trunkId": "dFeDe67-09d5-49d5-b469-e1fc2cb163c7",
    }
    obj.update(over)
    return obj


def ok(obj: dict[str, Any]) -> CallRecord:
    rec = parse_call(obj)
    assert isinstance(rec, CallRecord), rec
    return rec


def test_unit_mock_record_parses_fully() -> None:
    rec = ok(base())
    assert rec.call_id == "01AQ3D80ZKSSK35TZFKM3JG9CT"
    assert rec.create_time == datetime(2021, 11, 1, 23, 20, 50, tzinfo=UTC)
    assert rec.answer_time == datetime(2021, 11, 1, 23, 26, 50, tzinfo=UTC)
    assert rec.duration_seconds == 45
    assert rec.billing_duration_seconds == 60
    assert rec.price_per_minute == Decimal("0.004")
    assert rec.price_currency == "USD"
    assert rec.trunk_id == "dFeDe67-09d5-49d5-b469-e1fc2cb163c7"  # malformed UUID kept opaque


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-11-01T23:26:50Z", datetime(2021, 11, 1, 23, 26, 50, tzinfo=UTC)),
        ("2024-06-06T16:57:45+0000", datetime(2024, 6, 6, 16, 57, 45, tzinfo=UTC)),
        ("2024-06-06T17:57:45+01", datetime(2024, 6, 6, 16, 57, 45, tzinfo=UTC)),
        ("2024-06-06T17:57:45+01:00", datetime(2024, 6, 6, 16, 57, 45, tzinfo=UTC)),
        ("2024-06-06T16:57:45", datetime(2024, 6, 6, 16, 57, 45, tzinfo=UTC)),  # missing = UTC
        ("2026-03-13T21:08:41.067Z", datetime(2026, 3, 13, 21, 8, 41, 67000, tzinfo=UTC)),
        ("2024-06-06T14:42:42.820177628Z", datetime(2024, 6, 6, 14, 42, 42, 820177, tzinfo=UTC)),
        ("2024-06-06T14:48:14.87833248Z", datetime(2024, 6, 6, 14, 48, 14, 878332, tzinfo=UTC)),
        ("2024-06-06T14:48:14.8Z", datetime(2024, 6, 6, 14, 48, 14, 800000, tzinfo=UTC)),
        ("", None),
        ("null", None),
        (None, None),
    ],
)
def test_timestamp_variants(text: str | None, expected: datetime | None) -> None:
    got = parse_timestamp(text)
    assert got == expected
    if got is not None:
        assert got.utcoffset() is not None and got.utcoffset().total_seconds() == 0
    rec = ok(base(answerTime=text))
    assert rec.answer_time == expected


@pytest.mark.parametrize("direction", ["INBOUND", "inbound", "Inbound"])
def test_direction_any_case_normalised(direction: str) -> None:
    assert ok(base(direction=direction, callResult="no_answer")).direction == "INBOUND"
    assert ok(base(callResult="no_answer")).call_result == "NO_ANSWER"


@pytest.mark.parametrize(
    ("amount", "expected", "currency"),
    [
        (0.004, Decimal("0.004"), "USD"),
        ("0.0040", Decimal("0.0040"), "USD"),
        (0, Decimal("0"), "USD"),
        ("0.0000 USD", Decimal("0.0000"), "USD"),
        (0.1, Decimal("0.1"), "USD"),
        ("0.1234560", Decimal("0.1234560"), "USD"),  # 7 places, but fits 6: kept
        ("-999999999999.999999", Decimal("-999999999999.999999"), "USD"),  # DECIMAL(18, 6) edge
    ],
)
def test_money_amount_number_or_string_is_exact(
    amount: Any, expected: Decimal, currency: str
) -> None:
    rec = ok(base(price={"currencyCode": "USD", "amount": amount}))
    assert rec.price == expected
    assert str(rec.price) == str(expected)  # exact text, no float noise
    assert rec.price_currency == currency


def test_money_from_json_bytes_is_exact() -> None:
    obj = orjson.loads(
        b'{"callId":"a","createTime":"2024-01-01T00:00:00Z",'
        b'"price":{"currencyCode":"EUR","amount":0.0040}}'
    )
    rec = ok(obj)
    assert rec.price == Decimal("0.004") and rec.price_currency == "EUR"


def test_null_money_and_missing_optional_fields() -> None:
    rec = ok({"callId": "N00DL3C4T5", "createTime": "2024-06-06T16:57:45+0000", "price": None})
    assert rec.price is None and rec.price_currency is None
    assert rec.direction is None and rec.from_number is None and rec.to_e164 is None


@pytest.mark.parametrize(("value", "expected"), [("45", 45), (45, 45), (45.0, 45), ("", None)])
def test_ints_as_strings(value: Any, expected: int | None) -> None:
    assert ok(base(durationSeconds=value)).duration_seconds == expected


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+15551239898", "+15551239898"),
        ("12017777777", "+12017777777"),
        ("sip:12015555555@76.184.202.212", "+12015555555"),
        ("+14402801402@3cxtest.pstn.sinch.com:5060", "+14402801402"),
        ("sip:+14402801402@host;user=phone", "+14402801402"),
        ("sip:alice@example.com", None),
        ("anonymous", None),
        ("", None),
    ],
)
def test_number_variants_keep_raw_and_derive_e164(raw: str, e164: str | None) -> None:
    assert to_e164(raw) == e164
    rec = ok(base(**{"from": raw, "to": raw}))
    assert rec.from_number == (raw or None)
    assert rec.from_e164 == e164 and rec.to_e164 == e164


@pytest.mark.parametrize(
    "call_id", ["01AQ3D80ZKSSK35TZFKM3JG9CT", "N00DL3C4T5", "304356791_91867084@206.127.82.18"]
)
def test_call_ids_are_opaque(call_id: str) -> None:
    assert ok(base(callId=call_id)).call_id == call_id


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"callId": None}, "callId: missing"),
        ({"callId": ""}, "callId: missing"),
        ({"createTime": None}, "createTime: missing"),
        ({"createTime": ""}, "createTime: missing"),
        ({"createTime": "yesterday"}, "createTime: unparseable timestamp 'yesterday'"),
        ({"endTime": "31/12/2024"}, "endTime: unparseable timestamp"),
        ({"durationSeconds": "4.5s"}, "durationSeconds: not an integer"),
        ({"durationSeconds": True}, "durationSeconds: not an integer"),
        ({"price": {"currencyCode": "USD", "amount": "free"}}, "price.amount: not a number"),
        ({"price": {"currencyCode": "USD", "amount": "NaN"}}, "price.amount: not a finite"),
        ({"direction": {"x": 1}}, "direction: not a string"),
        # raw.calls holds money as DECIMAL(18, 6): these used to fail the whole page's insert.
        (
            {"price": {"currencyCode": "USD", "amount": "1e-7"}},
            "price.amount: '1e-7' has more than 6 decimal places",
        ),
        (
            {"pricePerMinute": {"amount": "0.0000125"}},
            "pricePerMinute.amount: '0.0000125' has more",
        ),
        (
            {"price": {"currencyCode": "USD", "amount": 1e12}},
            "price.amount: 1000000000000.0 has more than 12 integer",
        ),
        ({"price": {"amount": "1e+1000000"}}, "price.amount: '1e+1000000' has more than 12"),
        # Whole seconds land in BIGINT: these failed the page with OverflowError.
        ({"durationSeconds": 2**63}, "durationSeconds: 9223372036854775808 is out of range"),
        ({"billingDurationSeconds": "1e30"}, "billingDurationSeconds: '1e30' is out of range"),
        ({"durationSeconds": "1e999999999"}, "durationSeconds: '1e999999999' is out of range"),
    ],
)
def test_unparseable_record_is_rejected_with_reason(over: dict[str, Any], reason: str) -> None:
    obj = base(**over)
    rec = parse_call(obj)
    assert isinstance(rec, RejectedRecord)
    assert rec.reason.startswith(reason)
    assert orjson.loads(rec.raw) == obj  # kept whole
    if over.get("callId", "x"):
        assert rec.call_id == "01AQ3D80ZKSSK35TZFKM3JG9CT"


def test_amount_rejected_once_is_rejected_again() -> None:
    # Valid float amounts are cached for speed; an amount that failed must not be cached.
    for _ in range(2):
        rec = parse_call(base(price={"currencyCode": "USD", "amount": "0.00000042"}))
        assert isinstance(rec, RejectedRecord) and "decimal places" in rec.reason


def test_json_number_money_with_float_noise_is_rounded_and_counted() -> None:
    # 0.0123 computed as a float product arrives as 0.012299999999999998: this rejected the
    # whole record (the call was lost from the analytics); a number is rounded to 6 places.
    rounded_amounts(reset=True)
    for _ in range(2):  # the second time through the float cache: still counted
        rec = parse_call(base(price={"currencyCode": "USD", "amount": 0.012299999999999998}))
        assert isinstance(rec, CallRecord) and rec.price == Decimal("0.012300")
        assert "0.012299999999999998" in rec.raw  # raw keeps the number as sent
    assert rounded_amounts() == 2
    page = pages.parse_page(
        [base(price={"currencyCode": "USD", "amount": 0.00000042})],
        datetime(2000, 1, 1, tzinfo=UTC),
        datetime(2100, 1, 1, tzinfo=UTC),
    )
    assert page.rounded_amounts == 1 and page.calls.column("price").to_pylist() == [Decimal(0)]


@pytest.mark.parametrize("value", ["9999-12-31T23:30:00-01:00", "0001-01-01T00:30:00+01:00"])
def test_timestamp_beyond_utc_range_rejects_the_record(value: str) -> None:
    # Valid ISO text, but year 10000 (or 0) in UTC: the OverflowError escaped parse_call and
    # failed the window on every re-run.
    rec = parse_call(base(createTime=value))
    assert isinstance(rec, RejectedRecord)
    assert rec.reason.startswith("createTime: out of range in UTC")
    ended = parse_call(base(endTime=value))
    assert isinstance(ended, RejectedRecord) and ended.reason.startswith("endTime: out of range")


def test_every_accepted_amount_lands_in_arrow() -> None:
    # Before the DECIMAL(18, 6) check, one such record made records_to_arrow raise for the page.
    amounts = [0.004, "0.0040", "1e-7", "0.1234560", 1e12, "12.5 USD", -0.0, "0E+13", "1E+5"]
    parsed = [parse_call(base(price={"currencyCode": "USD", "amount": a})) for a in amounts]
    records = [r for r in parsed if isinstance(r, CallRecord)]
    assert len(records) == 7
    table = records_to_arrow(records)
    assert [str(v) for v in table.column("price").to_pylist()] == [
        "0.004000",
        "0.004000",
        "0.123456",
        "12.500000",
        "0.000000",
        "0.000000",  # 0E+13 failed the page: Arrow saw precision 13
        "100000.000000",
    ]


def test_a_value_arrow_cannot_hold_rejects_the_record_not_the_page(monkeypatch) -> None:
    # Safety net under parse_call's own checks: a value it did not foresee must not fail
    # the page (and its window, on every re-run).
    def parse_with_a_gap(obj):
        rec = parse_call(obj)
        return rec._replace(duration_seconds=2**70) if rec.call_id == "bad" else rec

    monkeypatch.setattr(pages, "parse_call", parse_with_a_gap)
    start, end = datetime(2021, 11, 1, 23, tzinfo=UTC), datetime(2021, 11, 2, tzinfo=UTC)
    # Seconds as text: every record takes parse_page's per-record fallback.
    items = [base(callId=i, durationSeconds="45") for i in ("ok", "bad", "ok2")]
    parsed = pages.parse_page(items, start, end)
    assert parsed.calls.column("call_id").to_pylist() == ["ok", "ok2"]
    (bad,) = parsed.rejected
    assert bad.call_id == "bad" and bad.reason.startswith("record: a value does not fit raw.calls")
    assert orjson.loads(bad.raw)["callId"] == "bad"


def test_non_object_is_rejected() -> None:
    rec = parse_call(["not", "a", "call"])
    assert isinstance(rec, RejectedRecord) and rec.reason == "record: not a JSON object"
    assert rec.raw == '["not","a","call"]'


def test_raw_keeps_all_keys_in_order_including_unknown_ones() -> None:
    obj = base(mos=4.2, region="us-west")
    rec = ok(obj)
    assert list(orjson.loads(rec.raw)) == list(obj)
    assert orjson.loads(rec.raw) == obj
    assert unknown_fields(obj) == {"mos", "region"}
    assert unknown_fields(base()) == frozenset()
