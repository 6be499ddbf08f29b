"""Trunk capacity in generated data: CPS limit (603 FAILED), channels (503 BUSY), export codes.

One week × every trunk, with bursts (dialler campaigns) in 20 % of business hours so the limits
are hit, read back from the export CSV over HTTP.  The invariants hold for every row:
no (trunk, UTC second) has more non-FAILED calls than the trunk's callsPerSecond, no instant
has more calls up than its channels, and every row's codes agree with its call.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime

import numpy as np
import phonenumbers
import pytest
from conftest import NOW, client_for

from pipeline.sandbox.capacity import channel_admitted, cps_admitted
from pipeline.sandbox.records import EXPORT_COLUMNS, parse_instant_ms
from pipeline.sandbox.testing import FakeClock, sandbox_server
from pipeline.sandbox.traffic import TRUNKS
from pipeline.sandbox.traffic_model import erlang_b_channels
from pipeline.transforms.erlang import channels_for_grade_of_service

WEEK = "createTime>=2026-10-19&createTime<2026-10-25T23:59:59Z"
START, END = datetime(2026, 10, 19, tzinfo=UTC), datetime(2026, 10, 26, tzinfo=UTC)
SIP_BY_RESULT = {
    "COMPLETED": {("200", "16"), ("404", "1")},
    "NO_ANSWER": {("480", "19"), ("408", "18")},
    "CANCEL": {("487", "16"), ("487", "31")},
    "BUSY": {("486", "17"), ("503", "34")},
    "FAILED": {("404", "1"), ("484", "28"), ("500", "41"), ("603", "21")},
}


def rows_of(sb, query: str) -> list[dict[str, str]]:
    with client_for(sb) as c:
        r = c.get(f"/v1/projects/{sb.project_id}/calls/export?{query}")
    assert r.status_code == 200
    return [dict(zip(EXPORT_COLUMNS, row, strict=True)) for row in csv.reader(io.StringIO(r.text))][
        1:
    ]


def peak_concurrency(rows: list[dict[str, str]]) -> int:
    """Most calls up at once; a call holds [Timestamp, End Time), ends before starts."""
    events = sorted(
        (ms, step)
        for r in rows
        for ms, step in (
            (parse_instant_ms(r["Timestamp"]), 1),
            (parse_instant_ms(r["End Time"]), -1),
        )
    )
    up = peak = 0
    for _, step in events:
        up += step
        peak = max(peak, up)
    return peak


@pytest.fixture(scope="module")
def bursty():
    with sandbox_server(now=FakeClock(NOW), seed=11, burst_probability=0.2) as sb:
        yield sb, rows_of(sb, WEEK)


def test_no_second_has_more_admitted_calls_than_the_trunk_cps(bursty):
    sb, rows = bursty
    cps = {t["id"]: t["callsPerSecond"] for t in sb.app_state.trunks}
    attempts = Counter((r["Trunk Id"], r["Timestamp"][:19]) for r in rows)
    admitted = Counter(
        (r["Trunk Id"], r["Timestamp"][:19]) for r in rows if r["Result"] != "FAILED"
    )
    assert max(n - cps[tid] for (tid, _), n in attempts.items()) > 0  # bursts do exceed it
    assert all(n <= cps[tid] for (tid, _), n in admitted.items())


def test_calls_over_the_cps_limit_are_603_failed_with_nothing_billed(bursty):
    sb, rows = bursty
    refused = [r for r in rows if r["SIP Response Code"] == "603"]
    assert len(refused) > 100
    for r in refused:
        assert (r["Result"], r["Cause Code"], r["Duration (s)"], r["Cost"]) == (
            "FAILED",
            "21",
            "0",
            "0.0000 USD",
        )
        assert r["Answer Time"] == "" and r["End Time"] == r["Timestamp"] and r["MOS"] == "0.0"
    truth = sb.app_state.cps_refused_between(START, END)
    assert truth == dict(Counter(r["Trunk Id"] for r in refused)) | {
        t.id: 0 for t in TRUNKS if t.id not in {r["Trunk Id"] for r in refused}
    }


def test_concurrency_never_exceeds_the_channels(bursty):
    sb, rows = bursty
    channels = sb.app_state.generator.channels
    by_trunk = defaultdict(list)
    for r in rows:
        by_trunk[r["Trunk Id"]].append(r)
    for tid, trunk_rows in by_trunk.items():
        assert peak_concurrency(trunk_rows) <= channels[tid], tid
    full = [r for r in rows if r["SIP Response Code"] == "503"]
    assert full and all(r["Result"] == "BUSY" and r["Cause Code"] == "34" for r in full)
    refusals = sb.app_state.capacity_refusals_between(START, END)
    assert sum(v["channels"] for v in refusals.values()) == len(full)


def test_peak_concurrency_matches_the_erlang_b_recommendation():
    """Without bursts, a week's peak concurrency per trunk is within the Erlang B channels the
    analytics code recommends for the busiest observed hour (1 %), ± 2."""
    with sandbox_server(now=FakeClock(NOW), burst_probability=0.0) as sb:
        rows = rows_of(sb, WEEK)
        gen = sb.app_state.generator
    for trunk in TRUNKS:
        mine = [r for r in rows if r["Trunk Id"] == trunk.id]
        held = Counter()  # call-seconds per UTC hour
        for r in mine:
            lo, hi = (
                parse_instant_ms(r["Timestamp"]) // 1000,
                parse_instant_ms(r["End Time"]) // 1000,
            )
            while lo < hi:
                edge = min(hi, lo - lo % 3600 + 3600)
                held[lo // 3600] += edge - lo
                lo = edge
        busiest = max(held.values()) / 3600
        recommended = channels_for_grade_of_service(busiest, 0.01)
        peak = peak_concurrency(mine)
        assert recommended - 3 <= peak <= recommended + 2, (trunk.name, peak, recommended)
        assert gen.channels[trunk.id] == channels_for_grade_of_service(gen.offered_erlangs(trunk))


def test_export_codes_mos_region_and_countries_agree_with_the_call(bursty):
    _, rows = bursty
    region = {t.id: t.region for t in TRUNKS}
    mos = []
    for r in rows:
        assert (r["SIP Response Code"], r["Cause Code"]) in SIP_BY_RESULT[r["Result"]], r
        answered = r["Answer Time"] != ""
        assert answered == (r["SIP Response Code"] == "200")
        if answered:
            mos.append(float(r["MOS"]))
        else:
            assert r["MOS"] == "0.0"
        assert r["Region"] == region[r["Trunk Id"]]
    for r in rows[::50]:
        for col, number in (("To Country", r["To"]), ("From Country", r["From"])):
            assert r[col] == phonenumbers.region_code_for_number(phonenumbers.parse(number))
    assert 4.1 <= statistics.median(mos) <= 4.4
    assert all(2.5 <= m <= 4.5 for m in mos)
    assert 0.02 < sum(m < 3.5 for m in mos) / len(mos) < 0.07  # the low-quality tail
    odd = [r for r in rows if r["Result"] == "COMPLETED" and r["Answer Time"] == ""]
    assert odd and all(r["SIP Response Code"] == "404" for r in odd)


def test_trunks_serve_their_cps_and_capacity_truth(bursty):
    sb, _ = bursty
    capacity = sb.app_state.trunk_capacity()
    for t in TRUNKS:
        assert capacity[t.id]["callsPerSecond"] == t.calls_per_second
        assert capacity[t.id]["channels"] >= 6


def test_cps_admits_the_first_calls_of_each_second_per_trunk_key():
    seconds = np.array([5, 5, 5, 6, 7, 7, 7, 7])
    assert cps_admitted(seconds, 2).tolist() == [1, 1, 0, 1, 1, 1, 0, 0]
    per_call_limit = np.array([1, 1, 1, 1, 3, 3, 3, 3])
    assert cps_admitted(seconds, per_call_limit).tolist() == [1, 0, 0, 1, 1, 1, 1, 0]


def test_channels_refuse_while_full_and_free_at_end_time():
    create = [0, 0, 1000, 2000, 3000]
    end = [2000, 5000, 1000, 4000, 3500]  # the third call is 0 s long
    admitted = [True, True, True, True, True]
    # 2 channels: both busy at 1000 (a 0 s call needs none, but is refused while full), the first
    # frees its channel at 2000 exactly, the fourth takes it; at 3000 both are up again.
    assert channel_admitted(create, end, admitted, [], 2) == [True, True, False, True, False]
    # a call carried over from the previous hour holds a channel until its end (1500): the
    # second and third calls find both channels up; by 2000 both have freed again
    assert channel_admitted(create, end, admitted, [1500], 2) == [True, False, False, True, True]
    # a CPS refusal takes no channel: the 0 s call gets one; at 3000 both are up (till 4000, 5000)
    refused_first = [False, True, True, True, True]
    assert channel_admitted(create, end, refused_first, [], 2) == [False, True, True, True, False]


@pytest.mark.parametrize("erlangs", [0.1, 1.5, 2.5, 6.0, 10.0, 37.2])
def test_the_sandbox_sizes_channels_like_the_analytics(erlangs):
    assert erlang_b_channels(erlangs) == channels_for_grade_of_service(erlangs, 0.01)
