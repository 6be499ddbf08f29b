"""Golden tests: release classes (E.425 true NER), SIP cause table, MOS quality, emergencies.

Every expected value is derived in the docstrings/comments from the calls below, not from
the code's output.
"""

from __future__ import annotations

import polars as pl
import pytest
from transforms_testkit import make_calls, make_details, ts

from pipeline.transforms import CallData, UtcHours, answer_rate
from pipeline.transforms.emergency import emergency_calls
from pipeline.transforms.quality import quality
from pipeline.transforms.sip_causes import sip_causes

HOUR = UtcHours(ts("2026-01-01 10:00"), ts("2026-01-01 11:00"))

# (call_result, sip, cause) → expected release class, one call each, all OUTBOUND on t1
CASES = [
    ("COMPLETED", 200, 16, "answered"),
    ("COMPLETED", None, None, "answered"),  # COMPLETED wins even without codes
    ("BUSY", 486, 17, "user"),  # user busy
    ("BUSY", 600, None, "user"),  # busy everywhere
    ("NO_ANSWER", 480, 19, "user"),  # no answer
    ("NO_ANSWER", 408, 18, "user"),  # 408 on ringing = ring-no-answer
    ("FAILED", 408, 102, "network"),  # 408 otherwise: timer expiry in the network
    ("CANCEL", 487, 127, "user"),  # caller cancelled (SIP first, Q.850 ignored)
    ("NO_ANSWER", 603, 21, "user"),  # callee declined
    ("FAILED", 603, 21, "cps_refused"),  # Sinch's answer over callsPerSecond
    ("FAILED", 404, 1, "invalid"),  # not found / unallocated
    ("FAILED", 484, 28, "invalid"),  # address incomplete
    ("FAILED", 503, 34, "network"),  # 5xx (503 included)
    ("FAILED", 403, 21, "network"),  # policy refusal by the network
    ("FAILED", None, 17, "user"),  # no SIP code: Q.850 17 user busy
    ("FAILED", None, 1, "invalid"),  # Q.850 1 unallocated
    ("FAILED", None, 41, "network"),  # Q.850 class 2 (41 temporary failure)
    ("BUSY", None, None, "user"),  # no code: the result says busy
    ("FAILED", None, None, "unclassified"),  # no code, FAILED: cannot tell
]


def _data(extra_without_details: int = 0) -> CallData:
    rows = [
        {"create_time": f"2026-01-01 10:{i:02d}", "call_result": r}
        for i, (r, _s, _c, _cls) in enumerate(CASES)
    ]
    # calls without a details row (export off, or not fetched yet): unknown
    rows += [
        {"create_time": "2026-01-01 10:59", "call_result": "FAILED"}
        for _ in range(extra_without_details)
    ]
    details = [
        {"call_id": f"c{i}", "sip_response_code": s, "cause_code": c}
        for i, (_r, s, c, _cls) in enumerate(CASES)
    ]
    return CallData(make_calls(rows), details=make_details(details))


def test_release_classes_follow_the_documented_table():
    got = sip_causes(_data(), HOUR).collect()
    by_call = {
        (r["sip_response_code"], r["cause_code"], r["release_class"]) for r in got.to_dicts()
    }
    assert by_call == {(s, c, cls) for _r, s, c, cls in CASES}


def test_408_without_a_result_is_a_network_timeout():
    """408 is ring-no-answer only when the result says NO_ANSWER; a NULL result is not that."""
    calls = make_calls([{"create_time": "2026-01-01 10:00", "call_result": None}])
    details = make_details([{"call_id": "c0", "sip_response_code": 408}])
    got = sip_causes(CallData(calls, details=details), HOUR).collect()
    assert got["release_class"].to_list() == ["network"]


def test_true_ner_counts_only_calls_with_details():
    """19 calls with details + 3 FAILED calls without (unknown, in no true-NER count).

    From CASES (row indexes): answered rows 0, 1 = 2; user rows 2 (486), 3 (600), 4 (480),
    5 (408 on NO_ANSWER), 7 (487), 8 (603 on NO_ANSWER), 14 (Q.850 17), 17 (BUSY, no code)
    = 8; network rows 6 (408 on FAILED), 12 (503), 13 (403), 16 (Q.850 41) = 4; invalid rows
    10, 11, 15 = 3; cps_refused row 9 = 1; unclassified row 18 = 1.
    2 + 8 + 4 + 3 + 1 + 1 = 19 = details_calls; true NER = (2 + 8) / 19.
    The proxy counts all 22 attempts: FAILED rows 6, 9–16, 18 = 10, plus 3 without details
    = 13 failed → (22 − 13) / 22.
    """
    row = answer_rate(_data(extra_without_details=3), HOUR).collect().row(0, named=True)
    assert row["attempts"] == 22
    assert row["details_calls"] == 19
    assert row["ner_true_numerator"] == 10
    assert row["network_failures"] == 4
    assert row["invalid_number"] == 3
    assert row["cps_refused"] == 1
    assert row["unclassified"] == 1
    assert row["ner"] == pytest.approx(10 / 19)
    assert row["failed"] == 13
    assert row["ner_proxy"] == pytest.approx(9 / 22)


def test_without_details_the_true_ner_is_unknown():
    calls = make_calls([{"create_time": "2026-01-01 10:00", "call_result": "FAILED"}])
    row = answer_rate(CallData(calls), HOUR).collect().row(0, named=True)
    assert (row["details_calls"], row["ner_true_numerator"], row["ner"]) == (0, 0, None)
    assert sip_causes(CallData(calls), HOUR).collect().height == 0


def test_sip_causes_share_denominator_and_classes():
    got = sip_causes(_data(), HOUR).collect()
    assert set(got["details_calls"]) == {19}  # repeated on every row of the group
    assert got["calls"].sum() == 19
    assert got.filter(pl.col("sip_response_code").is_null())["sip_class"].unique().to_list() == [
        "none"
    ]
    assert got.filter(pl.col("sip_response_code") == 486)["sip_class"].to_list() == ["4xx"]


def test_mos_bands_sums_and_poor_share():
    """Answered calls with MOS 4.5, 4.1, 3.5, 3.49, 2.0; one answered without MOS (not
    measured); one BUSY call with a MOS (not answered: not scored); one answered call
    without details (unknown).

    mos_calls = 5; Σ = 4.5 + 4.1 + 3.5 + 3.49 + 2.0 = 17.59; Σ² = 20.25 + 16.81 + 12.25 +
    12.1801 + 4.0 = 65.4901; min 2.0; below 3.5: 3.49 and 2.0 = 2 (3.5 itself is not below);
    bands: ≥4.34: 4.5 → 1; [4.03, 4.34): 4.1 → 1; [3.60, 4.03): none → 0; [3.10, 3.60): 3.5,
    3.49 → 2; [2.58, 3.10): 0; < 2.58: 2.0 → 1. avg 17.59/5 = 3.518; poor share 2/5 = 0.4.
    details_calls = 7 (6 answered + BUSY); answered_details = 6.
    """
    mos = [4.5, 4.1, 3.5, 3.49, 2.0, None]
    rows = [{"create_time": f"2026-01-01 10:{i:02d}"} for i in range(len(mos))]
    rows.append({"create_time": "2026-01-01 10:30", "call_result": "BUSY"})
    rows.append({"create_time": "2026-01-01 10:40"})  # no details row
    details = [{"call_id": f"c{i}", "mos": m} for i, m in enumerate(mos)]
    details.append({"call_id": "c6", "mos": 1.5})
    data = CallData(make_calls(rows), details=make_details(details))
    r = quality(data, HOUR).collect().row(0, named=True)
    assert (r["details_calls"], r["answered_details"], r["mos_calls"]) == (7, 6, 5)
    assert r["mos_sum"] == pytest.approx(17.59)
    assert r["mos_sum_squares"] == pytest.approx(65.4901)
    assert r["mos_min"] == 2.0
    assert r["mos_below_3_5"] == 2
    bands = [
        "mos_very_satisfied",
        "mos_satisfied",
        "mos_some_dissatisfied",
        "mos_many_dissatisfied",
        "mos_nearly_all_dissatisfied",
        "mos_not_recommended",
    ]
    assert [r[b] for b in bands] == [1, 1, 0, 2, 0, 1]
    assert r["mos_avg"] == pytest.approx(3.518)
    assert r["poor_mos_share"] == pytest.approx(0.4)


def test_the_lowest_mos_is_the_value_sent_without_float_noise() -> None:
    # Was units.min() / 10_000: 25300 / 10000 computed as 25300 x 0.0001 = 2.5300000000000002,
    # printed so by `pipeline sql mos_quality --format csv`.
    mos = [2.53, 4.27, 3.07]
    rows = [{"create_time": f"2026-01-01 10:{i:02d}", "trunk_id": f"t{i}"} for i in range(len(mos))]
    details = [{"call_id": f"c{i}", "mos": m} for i, m in enumerate(mos)]
    data = CallData(make_calls(rows), details=make_details(details))
    lowest = quality(data, HOUR).collect().sort("trunk_id")["mos_min"].to_list()
    assert [repr(value) for value in lowest] == ["2.53", "4.27", "3.07"]


def test_emergency_calls_per_trunk_and_hour():
    """t1: 3 calls with details, 2 flagged emergency (one answered, one FAILED), one
    flag NULL (not flagged); t2: 1 call without details (unknown, no row)."""
    rows = [
        {"create_time": "2026-01-01 10:00"},
        {"create_time": "2026-01-01 10:01", "call_result": "FAILED"},
        {"create_time": "2026-01-01 10:02"},
        {"create_time": "2026-01-01 10:03", "trunk_id": "t2"},
    ]
    details = [
        {"call_id": "c0", "is_emergency": True},
        {"call_id": "c1", "is_emergency": True},
        {"call_id": "c2", "is_emergency": None},
    ]
    got = emergency_calls(CallData(make_calls(rows), details=make_details(details)), HOUR)
    assert got.collect().select(
        "trunk_id", "details_calls", "emergency_calls", "emergency_answered", "emergency_failed"
    ).rows() == [("t1", 3, 2, 1, 1)]


def test_export_tables_do_not_depend_on_row_order():
    """MOS sums are integer sums of 0.0001 units: any row order gives the same bits."""
    n = 2_000
    rows = [{"create_time": f"2026-01-01 10:{i % 60:02d}:{i % 59:02d}"} for i in range(n)]
    details = [
        {"call_id": f"c{i}", "mos": 1 + (i * 7919 % 4000) / 1000, "sip_response_code": 200}
        for i in range(n)
    ]
    calls, det = make_calls(rows).collect(), make_details(details).collect()
    built = [
        (
            quality(CallData(c.lazy(), details=d.lazy()), HOUR).collect(),
            sip_causes(CallData(c.lazy(), details=d.lazy()), HOUR).collect(),
        )
        for c, d in (
            (calls, det),
            (calls.sample(fraction=1.0, shuffle=True, seed=1), det.reverse()),
        )
    ]
    assert built[0][0].equals(built[1][0]) and built[0][1].equals(built[1][1])
