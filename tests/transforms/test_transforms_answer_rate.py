"""Golden tests: answer rate (ASR, E.411), NER proxy (E.425), answer-time mismatch, ACD."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from transforms_testkit import make_calls, ts

from pipeline.transforms import CallData, LocalDays, UtcHours, answer_rate, trunk_usage

H10 = "2026-01-01 10:00"


def _calls():
    """Hour 10:00 UTC, trunk t1, OUTBOUND:
    c0 COMPLETED with answer_time; c1 COMPLETED *without* answer_time (mismatch);
    c2 BUSY; c3 NO_ANSWER *with* an answer_time (mismatch); c4 CANCEL; c5 FAILED; c6 'failed'
    in lower case (normalised to FAILED); c7 a result we do not know ('REJECTED' → other);
    c0 appears twice (same call_id, overlapping fetch windows) → counted once with
    ``dedupe=True`` (raw.calls itself is unique on call_id, so dedupe is opt-in).
    Plus one INBOUND COMPLETED call at 11:05 (other hour, other direction).
    """
    rows = [
        {
            "call_id": "c0",
            "create_time": "2026-01-01 10:00:00",
            "answer_time": "2026-01-01 10:00:10",
            "end_time": "2026-01-01 10:01:10",
        },
        {
            "call_id": "c0",
            "create_time": "2026-01-01 10:00:00",
            "answer_time": "2026-01-01 10:00:10",
            "end_time": "2026-01-01 10:01:10",
        },
        {"call_id": "c1", "create_time": "2026-01-01 10:05", "end_time": "2026-01-01 10:06"},
        {
            "call_id": "c2",
            "create_time": "2026-01-01 10:10",
            "call_result": "BUSY",
            "end_time": "2026-01-01 10:10:02",
        },
        {
            "call_id": "c3",
            "create_time": "2026-01-01 10:20",
            "call_result": "NO_ANSWER",
            "answer_time": "2026-01-01 10:20:30",
            "end_time": "2026-01-01 10:20:40",
        },
        {
            "call_id": "c4",
            "create_time": "2026-01-01 10:30",
            "call_result": "CANCEL",
            "end_time": "2026-01-01 10:30:05",
        },
        {
            "call_id": "c5",
            "create_time": "2026-01-01 10:40",
            "call_result": "FAILED",
            "end_time": "2026-01-01 10:40:01",
        },
        {
            "call_id": "c6",
            "create_time": "2026-01-01 10:50",
            "call_result": "failed",
            "end_time": "2026-01-01 10:50:01",
        },
        {
            "call_id": "c7",
            "create_time": "2026-01-01 10:59:59",
            "call_result": "REJECTED",
            "end_time": "2026-01-01 11:00:00",
        },
        {
            "call_id": "c8",
            "create_time": "2026-01-01 11:05",
            "direction": "inbound",
            "answer_time": "2026-01-01 11:05:03",
            "end_time": "2026-01-01 11:06",
        },
    ]
    return make_calls(rows)


def test_answer_rate_hourly_golden():
    """Hour 10 OUTBOUND: attempts = 8 distinct ids (c0..c7; c0's duplicate dropped);
    answered = 2 (c0, c1: COMPLETED, whatever answer_time says); busy 1 (c2); no_answer 1 (c3);
    cancel 1 (c4); failed 2 (c5, c6 after upper-casing); other 1 (c7);
    2 + 1 + 1 + 1 + 2 + 1 = 8 = attempts.
    answer_time_mismatch = 2: c1 (COMPLETED, no answer_time) and c3 (answer_time, NO_ANSWER).
    ASR = 2/8 = 0.25; NER proxy numerator = 8 − 2 = 6 → 6/8 = 0.75.
    Hour 11 INBOUND ('inbound' normalised): 1 attempt, 1 answered → ASR 1.0, NER 1.0.
    No call has export details: details_calls = 0, every true-NER count 0 and ``ner`` NULL
    (unknown, not 0 % and not 100 %).
    """
    got = answer_rate(
        CallData(_calls(), dedupe=True), UtcHours(ts(H10), ts("2026-01-01 12:00"))
    ).collect()
    expected = pl.DataFrame(
        {
            "hour_start": [ts(H10), ts("2026-01-01 11:00")],
            "trunk_id": ["t1", "t1"],
            "direction": ["OUTBOUND", "INBOUND"],
            "attempts": [8, 1],
            "answered": [2, 1],
            "busy": [1, 0],
            "no_answer": [1, 0],
            "cancel": [1, 0],
            "failed": [2, 0],
            "other": [1, 0],
            "answer_time_mismatch": [2, 0],
            "ner_numerator": [6, 1],
            "asr": [0.25, 1.0],
            "ner_proxy": [0.75, 1.0],
            "details_calls": [0, 0],
            "ner_true_numerator": [0, 0],
            "network_failures": [0, 0],
            "invalid_number": [0, 0],
            "cps_refused": [0, 0],
            "unclassified": [0, 0],
            "ner": [None, None],
        },
        schema_overrides={"hour_start": pl.Datetime("us", "UTC"), "ner": pl.Float64},
    )
    assert_frame_equal(got, expected)
    # without dedupe the duplicate row of c0 is a 9th attempt and a 3rd answered call
    raw = answer_rate(CallData(_calls()), UtcHours(ts(H10), ts("2026-01-01 11:00"))).collect()
    assert raw.select("attempts", "answered").row(0) == (9, 3)


def test_answer_rate_daily_uses_report_tz_date():
    """Same calls, report TZ Europe/Copenhagen (UTC+1 in January): all are on local
    2026-01-01 (11:00–12:05 local). OUTBOUND 8/2, INBOUND 1/1 as in the hourly test.
    A call at 23:30 UTC on 2026-01-01 is 00:30 local on 2026-01-02: outside the range."""
    late = make_calls([{"call_id": "z", "create_time": "2026-01-01 23:30"}])
    calls = pl.concat([_calls(), late])
    got = answer_rate(
        CallData(calls, dedupe=True),
        LocalDays(date(2026, 1, 1), date(2026, 1, 2), "Europe/Copenhagen"),
    ).collect()
    assert got.select("report_date", "direction", "attempts", "answered", "asr").rows() == [
        (date(2026, 1, 1), "INBOUND", 1, 1, 1.0),
        (date(2026, 1, 1), "OUTBOUND", 8, 2, 0.25),
    ]
    nxt = answer_rate(
        CallData(calls), LocalDays(date(2026, 1, 2), date(2026, 1, 3), "Europe/Copenhagen")
    ).collect()
    assert nxt.select("report_date", "attempts").rows() == [(date(2026, 1, 2), 1)]


def test_acd_uses_answered_denominator_and_timestamps():
    """OUTBOUND, hour 10:
    a: answered 10:00:10, ended 10:01:10 → conv 60 s (duration_seconds says 70 incl. ringing);
    b: answered 10:02:00, ended 10:04:00 → conv 120 s;
    c: NO_ANSWER, 30 s of ringing → conv 0, not in the denominator.
    ACD = (60 + 120) / 2 answered = 90 s (CDR-Stats' all-calls denominator would give 60 s;
    raw durationSeconds would give (70 + 130) / 2 = 100 s). MOU = 180 / 60 = 3.0 min;
    billed = (60 + 120 + 0) / 60 = 3.0 min.
    """
    calls = make_calls(
        [
            {
                "create_time": "2026-01-01 10:00:00",
                "answer_time": "2026-01-01 10:00:10",
                "end_time": "2026-01-01 10:01:10",
                "duration_seconds": 70,
                "billing_duration_seconds": 60,
            },
            {
                "create_time": "2026-01-01 10:01:50",
                "answer_time": "2026-01-01 10:02:00",
                "end_time": "2026-01-01 10:04:00",
                "duration_seconds": 130,
                "billing_duration_seconds": 120,
            },
            {
                "create_time": "2026-01-01 10:05",
                "call_result": "NO_ANSWER",
                "end_time": "2026-01-01 10:05:30",
                "duration_seconds": 30,
            },
        ]
    )
    r = (
        trunk_usage(CallData(calls), UtcHours(ts(H10), ts("2026-01-01 11:00")))
        .collect()
        .row(0, named=True)
    )
    assert (r["attempts"], r["answered"], r["conversation_seconds"]) == (3, 2, 180.0)
    assert r["acd_seconds"] == 90.0
    assert (r["mou"], r["billed_seconds"], r["billed_minutes"]) == (3.0, 180, 3.0)


def test_acd_null_without_answered_calls_and_mismatch_conversation():
    """Only a COMPLETED call without answer_time (mismatch): answered = 1, but its conversation
    is unknown, so it is in neither ACD's numerator nor its denominator: acd_calls = 0 and
    ACD NULL (not 0 s; kpi-definitions "Choices"); it stays in answer_time_mismatch. A bucket
    with only a BUSY call has answered = 0 → ACD NULL (no division by zero)."""
    calls = make_calls(
        [
            {"create_time": "2026-01-01 10:00", "end_time": "2026-01-01 10:03"},
            {
                "create_time": "2026-01-01 11:00",
                "call_result": "BUSY",
                "end_time": "2026-01-01 11:00:01",
            },
        ]
    )
    df = trunk_usage(CallData(calls), UtcHours(ts(H10), ts("2026-01-01 12:00"))).collect()
    assert df.select("answered", "acd_calls", "conversation_seconds", "acd_seconds").rows() == [
        (1, 0, 0.0, None),
        (0, 0, 0.0, None),
    ]
    ar = answer_rate(CallData(calls), UtcHours(ts(H10), ts("2026-01-01 11:00"))).collect()
    assert ar["answer_time_mismatch"].to_list() == [1]


def test_window_must_be_whole_aware_hours():
    with pytest.raises(ValueError, match="whole UTC hour"):
        answer_rate(CallData(_calls()), UtcHours(ts("2026-01-01 10:30"), ts("2026-01-01 12:00")))
    with pytest.raises(ValueError, match="naive"):
        answer_rate(
            CallData(_calls()), UtcHours(ts(H10).replace(tzinfo=None), ts("2026-01-01 12:00"))
        )


def test_unknown_direction_and_trunk_are_kept_visible():
    """direction NULL and 'sideways' (not INBOUND/OUTBOUND) → 'UNKNOWN'; trunk NULL →
    'UNKNOWN'. Both calls stay counted: 2 attempts in one (UNKNOWN, UNKNOWN) group."""
    calls = make_calls(
        [
            {"create_time": "2026-01-01 10:00", "direction": None, "trunk_id": None},
            {"create_time": "2026-01-01 10:01", "direction": "sideways", "trunk_id": None},
        ]
    )
    got = answer_rate(CallData(calls), UtcHours(ts(H10), ts("2026-01-01 11:00"))).collect()
    assert got.select("trunk_id", "direction", "attempts").rows() == [("UNKNOWN", "UNKNOWN", 2)]
