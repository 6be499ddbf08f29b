"""Generated traffic: completeness over HTTP, determinism, and the fitted model's statistics.

One generated week (Mon 19 – Sun 25 October 2026, seed 20260101, ~34,500 calls) is fetched
over HTTP; the statistics are checked against the parameters of ``traffic_model`` with the
tolerances stated in each test (the sample is seeded, so the values are fixed; the tolerances
say how far a fitted model may be from its parameters).  Capacity limits: test_sandbox_capacity.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from conftest import NOW, client_for, fetch_all

from pipeline.sandbox import traffic_model as tm
from pipeline.sandbox.testing import FakeClock, sandbox_server
from pipeline.sandbox.traffic import HOUR_MS, SIX_SECOND_COUNTRIES, TRUNKS, TrafficGenerator

WEEK = "createTime>=2026-10-19&createTime<2026-10-25T23:59:59Z"  # Mon 19 .. Sun 25 October
START, END = datetime(2026, 10, 19, tzinfo=UTC), datetime(2026, 10, 26, tzinfo=UTC)
CPH = TRUNKS[0]


def t(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s) if s else None


@pytest.fixture(scope="module")
def week():
    with sandbox_server(now=FakeClock(NOW), variant_rate=0.0) as sb:
        with client_for(sb) as c:
            calls, total = fetch_all(c, sb, WEEK)
        yield sb, calls, total


def test_week_is_complete(week):
    sb, calls, total = week
    truth = sb.app_state.call_ids_between(START, END)
    assert [c["callId"] for c in calls] == truth and total == len(truth) > 30_000


def test_copenhagen_connects_like_the_copenhagen_export(week):
    """73.7 % COMPLETED in the real export; the model is tuned to it (± 1.5 points)."""
    _, calls, _ = week
    cph = Counter(c["callResult"] for c in calls if c["trunkId"] == CPH.id)
    n = sum(cph.values())
    assert abs(cph["COMPLETED"] / n - 0.737) < 0.015
    unanswered = (cph["CANCEL"] + cph["NO_ANSWER"]) / n
    assert 0.19 < unanswered < 0.27  # ~25 % abandonment, minus the busy/failed calls


def test_outcome_mix_per_direction_before_capacity(week):
    """Calls the capacity did not refuse follow OUTCOME_MIX within ± 0.02."""
    sb, calls, _ = week
    refused = {
        c.call_id
        for c in sb.app_state.truth_created(
            int(START.timestamp() * 1000), int(END.timestamp() * 1000)
        )
        if c.codes is not None and c.codes[1] in ("603", "503")
    }
    for direction, mix in tm.OUTCOME_MIX.items():
        sub = [c for c in calls if c["direction"] == direction and c["callId"] not in refused]
        counts = Counter(c["callResult"] for c in sub)
        for result, p in zip(tm.RESULTS, mix, strict=True):
            assert abs(counts[result] / len(sub) - p) < 0.02, (direction, result)


def truncated_log_moments(mu: float, sigma: float, low_s: float) -> tuple[float, float]:
    """Mean and sd of log(X) for X lognormal(mu, sigma) given X ≥ low_s (a truncated normal)."""
    a = (math.log(low_s) - mu) / sigma
    pdf = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    tail = 0.5 * math.erfc(a / math.sqrt(2))
    lam = pdf / tail
    return mu + sigma * lam, sigma * math.sqrt(1 + a * lam - lam * lam)


def test_holding_time_lognormal_parameters_are_recovered():
    """μ 4.81, σ 0.92 (Brown et al. 2005, answered calls ≥ 10 s), recovered within ± 0.01 from
    ~50k answered calls ≥ 10 s (compared with the lognormal truncated at 10 s: 4.819, 0.908)."""
    gen = TrafficGenerator(seed=3, calls_per_hour=None, burst_probability=0.0, variant_rate=0.0)
    start = int(START.timestamp() * 1000)
    conv = [
        (o.end_ms - o.answer_ms) / 1000
        for h in range(24 * 14)
        for block in gen.hour(start + h * HOUR_MS).values()
        for o in block
        if o.answer_ms is not None
    ]
    logs = [math.log(x) for x in conv if x >= 10]
    assert len(logs) > 40_000
    mu, sigma = truncated_log_moments(tm.CONVERSATION_MU, tm.CONVERSATION_SIGMA, 10)
    assert abs(statistics.fmean(logs) - mu) < 0.01
    assert abs(statistics.pstdev(logs) - sigma) < 0.01
    assert 175 < statistics.fmean(conv) < 200  # mean 184 s in the data, 187 s in the fit
    assert max(conv) <= tm.CONVERSATION_MAX_S


def test_hour_of_day_profile_in_local_time(week):
    """Weekday share by local hour: 0 at 03–05, peak 8.8 % at 10:00 (± 1.5 points)."""
    _, calls, _ = week
    for trunk in TRUNKS:
        tz = ZoneInfo(trunk.tz)
        local = [t(c["createTime"]).astimezone(tz) for c in calls if c["trunkId"] == trunk.id]
        weekday = [x.hour for x in local if x.weekday() < 5]
        share = Counter(weekday)
        assert sum(share[h] for h in (3, 4, 5)) == 0, trunk.name
        assert abs(share[10] / len(weekday) - 0.088) < 0.015, trunk.name
        assert max(share, key=share.__getitem__) in (9, 10, 11), trunk.name


def test_weekend_volume_is_a_tenth_of_a_weekday(week):
    """Weekend factor 183 / 1700 ≈ 0.108 per day (local Sat, Sun); accept 0.07–0.15."""
    _, calls, _ = week
    for trunk in TRUNKS:
        tz = ZoneInfo(trunk.tz)
        days = Counter(
            t(c["createTime"]).astimezone(tz).weekday() >= 5
            for c in calls
            if c["trunkId"] == trunk.id
        )
        ratio = (days[True] / 2) / (days[False] / 5)
        assert 0.07 < ratio < 0.15, (trunk.name, ratio)


def test_volume_follows_the_model(week):
    sb, calls, _ = week
    gen = sb.app_state.generator
    for trunk in TRUNKS:
        hours = [int(START.timestamp() * 1000) + h * HOUR_MS for h in range(24 * 7)]
        expected = sum(gen.expected_rate(trunk, h) for h in hours)
        observed = sum(1 for c in calls if c["trunkId"] == trunk.id)
        assert abs(observed / expected - 1) < 0.03 + 3 / math.sqrt(expected), trunk.name


def test_unanswered_calls_have_no_answer_time_and_bill_nothing(week):
    _, calls, _ = week
    odd = 0
    for c in calls:
        if c["answerTime"] is None:
            assert c["billingDurationSeconds"] == 0 and c["price"]["amount"] == 0
            odd += c["callResult"] == "COMPLETED"  # the public oddity: COMPLETED, SIP 404
        else:
            assert c["callResult"] == "COMPLETED"
    assert 0 < odd < 0.006 * len(calls)


def test_billing_increments_price_and_duration_rules(week):
    _, calls, _ = week
    trunk_country = {tr.id: tr.country for tr in TRUNKS}
    six = sixty = 0
    for c in calls:
        create, answer, end = t(c["createTime"]), t(c["answerTime"]), t(c["endTime"])
        if c["direction"] == "INBOUND":
            assert c["durationSeconds"] == (end - create).total_seconds()
            country = trunk_country[c["trunkId"]]
        else:
            assert c["durationSeconds"] == ((end - answer).total_seconds() if answer else 0)
            country = phonenumbers.region_code_for_number(phonenumbers.parse(c["to"]))
        if answer is None:
            continue
        conv = int((end - answer).total_seconds())
        inc = 6 if country in SIX_SECOND_COUNTRIES else 60
        six += inc == 6
        sixty += inc == 60
        assert c["billingDurationSeconds"] == math.ceil(conv / inc) * inc
        ppm = Decimal(str(c["pricePerMinute"]["amount"]))
        want = (ppm * c["billingDurationSeconds"] / 60).quantize(Decimal("0.0001"), ROUND_HALF_UP)
        assert Decimal(str(c["price"]["amount"])) == want
        assert c["price"]["currencyCode"] == "USD"
    assert six > 100 and sixty > 100


def test_numbers_are_valid_for_their_countries(week):
    _, calls, _ = week
    for c in calls[::20]:
        for field in ("from", "to"):
            n = phonenumbers.parse(c[field])
            assert phonenumbers.is_valid_number(n), c[field]


def test_same_seed_same_bytes_and_window_independence(make_sandbox, clock):
    q = "/calls?createTime=2026-10-21T14&size=1000"
    with make_sandbox(now=clock, seed=5) as a, client_for(a) as ca:
        body_a = ca.get(f"/v1/projects/{a.project_id}{q}").content
        export_a = ca.get(f"/v1/projects/{a.project_id}/calls/export?createTime=2026-10-21T14")
    with make_sandbox(now=clock, seed=5) as b, client_for(b) as cb:
        # generate a different, later window first: the result must not depend on history
        cb.get(f"/v1/projects/{b.project_id}/calls?createTime=2026-10-28")
        body_b = cb.get(f"/v1/projects/{b.project_id}{q}").content
        export_b = cb.get(f"/v1/projects/{b.project_id}/calls/export?createTime=2026-10-21T14")
    with make_sandbox(now=clock, seed=6) as d, client_for(d) as cd:
        body_d = cd.get(f"/v1/projects/{d.project_id}{q}").content
    assert body_a == body_b and body_a != body_d and len(body_a) > 1000
    assert export_a.content == export_b.content


def test_a_window_alone_equals_the_same_window_inside_a_longer_range(make_sandbox, clock):
    hour = datetime(2026, 10, 21, 9, tzinfo=UTC)
    with make_sandbox(now=clock, seed=9, burst_probability=0.3) as alone:
        one = alone.app_state.calls_between(hour, hour.replace(hour=10))
    with make_sandbox(now=clock, seed=9, burst_probability=0.3) as longer:
        many = longer.app_state.calls_between(hour.replace(hour=3), hour.replace(hour=15))
    inside = [c for c in many if "2026-10-21T09:" in c["createTime"]]
    assert one == inside and len(one) > 100


def test_format_variants_preserve_values(make_sandbox, clock):
    with make_sandbox(now=clock, variant_rate=0.5) as sb, client_for(sb) as c:
        served, _ = fetch_all(c, sb, "createTime=2026-10-21")
        truth = {
            x["callId"]: x
            for x in sb.app_state.calls_between(
                datetime(2026, 10, 21, tzinfo=UTC), datetime(2026, 10, 22, tzinfo=UTC)
            )
        }
    kinds = Counter()
    for s in served:
        g = truth[s["callId"]]
        if s["direction"] != g["direction"]:
            kinds["lower"] += 1
            assert s["direction"] == g["direction"].lower()
        if s["createTime"].endswith("+0000"):
            kinds["+0000"] += 1
        if "." in s["createTime"]:
            kinds["fraction"] += 1
        if s["from"].startswith("sip:"):
            kinds["sip"] += 1
        if "@" in s["to"]:
            kinds["user@host"] += 1
        if isinstance(s["price"]["amount"], str):
            kinds["string amount"] += 1
            assert Decimal(s["price"]["amount"]) == Decimal(str(g["price"]["amount"]))
        if not s["to"].startswith("+"):
            kinds["bare"] += 1
        assert t(s["createTime"]) == t(g["createTime"])
    assert len(kinds) == 7 and 0.35 < sum(kinds.values()) / len(served) < 0.65
