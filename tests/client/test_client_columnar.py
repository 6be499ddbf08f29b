"""The vectorised page parser gives exactly what the per-record parser gives.

``pages.parse_page`` types most records with column expressions and sends the rest to
``parse_call``; ``pages.parse_page_per_record`` is the per-record reference. Both must return
the same table (values, types, order, ``raw``), the same rejections (reasons, order), the
same counts and the same unknown fields: on the sandbox's hostile data, on every odd value of
``test_client_parsing`` and on random mixtures of them (a seeded property test).
"""

from __future__ import annotations

import json
import pickle
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
import pytest

from pipeline.sandbox.settings import SandboxSettings
from pipeline.sandbox.state import SandboxState
from pipeline.sandbox.store import build_query
from pipeline.sinch import pages
from pipeline.sinch.columnar import plain_text_body, type_page
from pipeline.sinch.parsing import parse_call
from tests.client.test_client_parsing import base

START, END = datetime(2021, 11, 1, 23, tzinfo=UTC), datetime(2021, 11, 2, tzinfo=UTC)

#: Amounts sent as text (the API before 1.2.0): the fast path types plain decimals itself.
AMOUNT_TEXTS = ["-0.50", "-0", "007", "1.", ".5", "+1", "1e3", " 1.5", "1.5 ", "null", "",
                "999999999999.999999", "1000000000000", "0.1234567", "0.123450",
                "\u0661\u0662", "1_000", "0x10", "NaN", "-", "1.5.5"]  # fmt: skip

#: Per field, values the API (or a hostile server) may send; both parsers must agree on each.
ODD: dict[str, list[Any]] = {
    "callId": [
        None,
        "",
        " ",
        "null",
        "None",
        "NULL",
        "a b",
        42,
        4.5,
        True,
        {"x": 1},
        "304356791_91867084@206.127.82.18",
        "caf\u00e9",
        "\u3000",
        "\x1c",
    ],
    "createTime": [
        None,
        "",
        "null",
        "yesterday",
        "2021-11-01T23:20:50",
        "2021-11-01T23:20:50+0000",
        "2021-11-02T00:20:50+01",
        "2021-11-02T00:20:50+01:00",
        "2021-11-01T23:59:59.9999999Z",
        "2021-11-01T23:20:50.1Z",
        "2021-11-01 23:20:50Z",
        "2021-11-01T23:20:60Z",
        "2021-02-30T23:20:50Z",
        "9999-12-31T23:30:00-01:00",
        " 2021-11-01T23:20:50Z",
        "2021-11-01t23:20:50z",
        "2021-11-02T00:00:00Z",
        "2021-11-01T22:59:59Z",
        "2021-11-01T23:20:50.Z",
        "2021-11-01T23:20:50.1234567891Z",
        "\u0662021-11-01T23:20:50Z",
        20211101,
        "2021-11-01T23:20:50-00:00",
    ],
    "answerTime": [
        None,
        "",
        "null",
        "None",
        "NULL",
        "2021-11-01T23:26:50.067Z",
        "31/12/2024",
        "0001-01-01T00:30:00+01:00",
        "2021-11-01T23:26:50+24:00",
        "  ",
        "1950-01-01T00:00:00.0000009Z",  # before 1970: the fraction is still cut, not rounded
        "1969-12-31T23:59:59.999999999-01:00",
        "2199-12-31T23:59:59.123456789+23:59",
        "2024-02-29T12:00:00.5Z",
        "2023-02-29T12:00:00Z",
    ],
    "direction": [
        None,
        "",
        "inbound",
        "Inbound",
        "NULL",
        "null",
        "None",
        " INBOUND ",
        "in-bound",
        "stra\u00dfe",
        1,
        "no_answer",
    ],
    "callResult": ["no_answer", "COMPLETED", "Busy", "", None, "NULL"],
    "from": [
        None,
        "",
        "   ",
        "null",
        "+15551239898",
        "12017777777",
        "sip:12015555555@76.184.202.212",
        "+14402801402@3cxtest.pstn.sinch.com:5060",
        "sip:+14402801402@host;user=phone",
        "sip:alice@example.com",
        "anonymous",
        "SIP:123",
        "tel:+1555",
        "foo:123",
        "123:456",
        "++123",
        " +1555 ",
        "+1 555",
        "\t+1555",
        "\u0661\u0662",
        15551239898,
        "123;a@b",
    ],
    "to": ["15551239898", "+15551239898@h:5060", None, " "],
    "trunkId": [None, "", " ", "null", 7, "t\u00e9"],
    "projectId": [None, "1bf62742-7b84-4666-9cbe-8e5734fd57d0", "other-project", ""],
    "durationSeconds": [
        None,
        45,
        "45",
        45.0,
        45.5,
        True,
        "",
        "4.5s",
        2**63,
        -(2**62),
        2**62,
        "1e30",
        "1e999999999",
        " 7 ",
    ],
    "billingDurationSeconds": [60, None, "60", 0, -1],
    "price": [
        None,
        {"currencyCode": "USD", "amount": 0.004},
        {"currencyCode": "usd", "amount": 1},
        {"currencyCode": "USD", "amount": "0.0040"},
        *({"currencyCode": "USD", "amount": text} for text in AMOUNT_TEXTS),
        {"amount": 0.1},
        {"currencyCode": "USD"},
        {"currencyCode": "USD", "amount": 0.012299999999999998},
        {"currencyCode": "USD", "amount": 0.00000042},
        {"currencyCode": "USD", "amount": 1e12},
        {"currencyCode": "USD", "amount": 999999999.999999},
        {"currencyCode": "USD", "amount": -0.0},
        {"currencyCode": "USD", "amount": True},
        {"currencyCode": "USD", "amount": "free"},
        {"currencyCode": "USD", "amount": "0.0000 USD"},
        {"currencyCode": 5, "amount": 1.5},
        {"currencyCode": "", "amount": 2.25},
        {"currencyCode": " eur ", "amount": 2.5},
        {"currencyCode": "USD", "amount": 2**70},
        "12.5 USD",
        0.5,
        [1],
    ],
    "pricePerMinute": [
        {"currencyCode": "USD", "amount": 0.0125},
        None,
        {"amount": "0.0000125"},
        {"currencyCode": "USD", "amount": 123456789.123456},
    ],
}


def assert_same(items: list[Any], start: datetime = START, end: datetime = END) -> None:
    """Both parsers agree on ``items`` in every respect, and so does a worker given the body.

    The body path (:func:`pages.decode_calls_page`) skips the printable-text checks when the
    body is plain ASCII (:func:`plain_text_body`), so both of its branches are compared too.
    """
    slow = pages.parse_page_per_record(items, start, end)
    assert_same_parse(pages.parse_page(items, start, end), slow)
    try:
        body = orjson.dumps({"calls": items})
    except TypeError:  # an int beyond 64 bits: orjson reads it back as a float
        body = json.dumps({"calls": items}, ensure_ascii=False).encode()
    read = orjson.loads(body)["calls"]
    decoded = pages.decode_calls_page(body, start, end, None)
    assert decoded is not None and decoded.parsed is not None
    assert decoded.keys == [pages.call_id_key(item) for item in read]
    assert_same_parse(decoded.parsed, pages.parse_page_per_record(read, start, end))


def assert_same_parse(fast: pages.ParsedPage, slow: pages.ParsedPage) -> None:
    """Two parses of the same items are the same in every respect."""
    assert fast.calls.schema == slow.calls.schema
    for name in slow.calls.column_names:
        assert fast.calls.column(name).to_pylist() == slow.calls.column(name).to_pylist(), name
    assert fast.calls.equals(slow.calls)
    assert fast.rejected == slow.rejected
    assert fast.outside_window == slow.outside_window
    assert fast.unknown_fields == slow.unknown_fields
    assert fast.rounded_amounts == slow.rounded_amounts


@pytest.mark.parametrize(("field", "value"), [(f, v) for f, vs in ODD.items() for v in vs])
def test_each_odd_value_parses_as_per_record(field: str, value: Any) -> None:
    assert_same([base(callId="first"), base(**{field: value}), base(callId="last")])


def test_missing_keys_non_objects_and_new_fields_parse_as_per_record() -> None:
    bare = {"callId": "bare", "createTime": "2021-11-01T23:20:50Z"}
    items = [base(), bare, [1, 2], "text", None, 7, base(mos=4.2, region="us"), {}, base()]
    assert_same(items)
    assert pages.parse_page(items, START, END).unknown_fields == {"mos", "region"}
    assert_same([])
    assert_same(["only", "non-objects"])


def test_random_mixtures_parse_as_per_record() -> None:
    rng = random.Random(20261206)
    fields = list(ODD)
    for _page in range(40):
        items: list[Any] = []
        for n in range(rng.randint(1, 60)):
            record = base(callId=f"c{n % 23}")  # repeated ids, as re-sweeps send them
            for field in rng.sample(fields, rng.randint(0, 4)):
                record[field] = rng.choice(ODD[field])
            if rng.random() < 0.1:
                del record[rng.choice(fields)]
            items.append(record)
        assert_same(items)


def test_a_padded_currency_reads_the_same_whether_its_amount_was_seen_before() -> None:
    # parse_money's cached-amount shortcut returned "USD " unstripped once the float had been
    # parsed before: the fast path types the first record (nothing cached), so the page landed
    # "USD" through parse_page and "USD " through parse_page_per_record.
    padded = base(callId="padded", price={"currencyCode": "USD ", "amount": 0.3217})
    assert parse_call(padded).price_currency == parse_call(padded).price_currency == "USD"
    assert_same([base(price={"currencyCode": "USD", "amount": 0.4217}),
                 base(callId="b", price={"currencyCode": " USD", "amount": 0.4217})])  # fmt: skip


def test_clean_records_take_the_fast_path() -> None:
    # Not a timing: the common forms must not all fall back, or the fast path is dead code.
    items = [base(), base(direction="inbound", answerTime="2021-11-01T23:26:50.067+0000"),
             base(**{"from": "sip:12015555555@76.184.202.212", "to": "15551239898"}),
             base(price={"currencyCode": "USD", "amount": "0.0040"})]  # fmt: skip
    assert type_page(items).fallback == []
    assert type_page([*items, base(durationSeconds="45")]).fallback == [len(items)]


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ('{"from": "+46 70 123", "to": "sip:1@h;x=y"}', True),
        ('{"from": "caf\\u00e9"}', False),  # an escape: a character that is not ASCII
        ('{"from": "a\\tb"}', False),  # \t: a control character once decoded
        ('{"from": "\u00e9"}', False),  # UTF-8 bytes
        ('{"from": "a\x7fb"}', False),  # DEL is ASCII, not printable
    ],
)
def test_only_a_body_of_printable_ascii_skips_the_text_checks(text: str, plain: bool) -> None:
    assert plain_text_body(text.encode()) is plain


def test_control_characters_in_an_ascii_body_still_reach_the_per_record_parser() -> None:
    # Escaped, a tab or a unit separator is all ASCII in the body; decoded, it is neither
    # printable nor blank to both parsers' rules, so the body path must check the text.
    for value in ("a\\tb", "\\u001c", " \\t"):
        body = ('{"calls": [' + orjson.dumps(base()).decode()[:-1] + ', "trunkId": "'
                + value + '"}]}').encode()  # fmt: skip
        items = orjson.loads(body)["calls"]
        assert not plain_text_body(body)
        assert_same(items)
        decoded = pages.decode_calls_page(body, START, END, None)
        assert decoded is not None and decoded.parsed is not None
        assert decoded.parsed.calls.equals(pages.parse_page_per_record(items, START, END).calls)


def test_page_keys_are_the_string_call_ids() -> None:
    items: list[Any] = [base(callId="a"), base(callId=7), {}, "text", None, base(callId="a")]
    expected = ["a", None, None, None, None, "a"]
    assert pages.call_id_keys(items) == expected
    assert pages.call_id_keys(items[:1] + items[-1:]) == ["a", "a"]
    assert pages.call_id_keys([base(callId=None), base(callId="b")]) == [None, "b"]
    assert pages.call_id_keys([]) == []


def _sandbox_pages(settings: SandboxSettings, start: datetime, hours: int) -> list[Any]:
    """``(start, end, calls)`` of every 1000-call page of ``hours`` hourly windows, no HTTP."""
    state = SandboxState(settings)
    now_ms = state.now_ms()
    out = []
    for h in range(hours):
        lo, hi = start + timedelta(hours=h), start + timedelta(hours=h + 1)
        query = build_query(
            [("createTime>", lo.strftime("%Y-%m-%dT%H:%M:%SZ")),
             ("createTime<", hi.strftime("%Y-%m-%dT%H:%M:%SZ"))],
            now_ms=now_ms,
            default_window_ms=int(settings.default_window_s * 1000),
            exact_instant_mode=settings.exact_instant_mode,
            history_start_ms=int(settings.history_start.timestamp() * 1000),
        )  # fmt: skip
        calls = state.select(query, now_ms)
        for i in range(0, len(calls), 1000):
            out.append((lo, hi, orjson.loads(b"[" + b",".join(calls[i : i + 1000]) + b"]")))
    return out


@pytest.mark.parametrize(
    "hostile",
    [
        {"variant_rate": 0.5},
        {"variant_rate": 0.2, "malformed_rate": 0.1, "extreme_times": True},
        {"float_money": True, "duplicate_across_windows_rate": 0.2},
    ],
)
def test_sandbox_hostile_pages_parse_as_per_record(hostile: dict[str, Any]) -> None:
    settings = SandboxSettings(
        calls_per_hour=400, now=lambda: datetime(2026, 12, 1, tzinfo=UTC), **hostile
    )
    found = _sandbox_pages(settings, datetime(2026, 11, 16, 9, tzinfo=UTC), 3)
    assert sum(len(items) for _lo, _hi, items in found) > 300
    for lo, hi, items in found:
        assert_same(items, lo, hi)
        assert_same(items, lo + timedelta(minutes=20), hi)  # some calls outside the window


def test_a_parsed_page_pickles_through_an_arrow_stream_unchanged() -> None:
    # A parser process sends each ParsedPage back pickled (ParsedPage.__reduce__).
    text_amount = {"currencyCode": "USD", "amount": "0.0040"}
    late = base(callId="late", createTime="2021-11-02T00:00:00Z")
    items = [base(), base(callId="b", price=text_amount), base(callId=None), "text", late]
    parsed = pages.parse_page(items, START, END)
    two_chunks = parsed._replace(calls=pa.concat_tables([parsed.calls, parsed.calls]))
    empty = pages.parse_page([], START, END)
    for page in (parsed, two_chunks, empty):
        back = pickle.loads(pickle.dumps(page))
        assert type(back) is pages.ParsedPage
        assert back.calls.schema == pages.CALLS_ARROW_SCHEMA
        assert back.calls.to_pylist() == page.calls.to_pylist()
        assert back[1:] == page[1:]
    assert len(parsed.rejected) == 2 and parsed.outside_window == 1
