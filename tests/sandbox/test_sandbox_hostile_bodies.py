"""Hostile answer bodies, over loopback HTTP: broken envelopes, float money, the gzip bomb,
secrets echoed in error bodies, timestamps beyond datetime's range."""

from __future__ import annotations

import math
import zlib
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from conftest import client_for, fetch_all

from pipeline.sandbox.faults import EXTREME_CREATE_TIME, EXTREME_END_TIME, GZIP_BOMB_INFLATED

H = datetime(2026, 10, 28, 10, tzinfo=UTC)
HOUR = "createTime=2026-10-28T10"


def urls(sb, n: int) -> list[str]:
    """``n`` distinct /calls URLs (every request a first attempt)."""
    return [f"{sb.calls_url}?{HOUR}&size=5&page={i + 1}" for i in range(n)]


@pytest.mark.parametrize("kind", ["no-calls", "calls-null", "calls-not-list", "status-ok"])
def test_envelope_faults(make_sandbox, clock, kind):
    with make_sandbox(now=clock, envelope_fault=kind) as sb, client_for(sb) as c:
        total = len(sb.app_state.call_ids_between(H, H + timedelta(hours=1)))
        bodies = []
        for url in urls(sb, 20):
            r = c.get(url)
            assert r.status_code == 200 and r.headers["content-type"] == "application/json"
            bodies.append(r.json())
        assert sb.app_state.stats["envelope_faults"] == 20
    rest = {"totalItems": total, "pageNumber": 1, "pageSize": 5}
    if kind == "status-ok":
        assert all(b == {"status": "ok"} for b in bodies)
    elif kind == "no-calls":
        assert bodies[0] == rest and all("calls" not in b for b in bodies)
    elif kind == "calls-null":
        assert bodies[0] == {"calls": None, **rest} and all(b["calls"] is None for b in bodies)
    else:  # an object or the list double-encoded as a string, both seen
        assert all(b["calls"] in ({}, "[]") and b["totalItems"] == total for b in bodies)
        assert {str(b["calls"]) for b in bodies} == {"{}", "[]"}


def test_envelope_fault_rate_is_a_deterministic_share(make_sandbox, clock):
    runs = []
    for _ in range(2):
        settings = dict(envelope_fault="calls-null", envelope_fault_rate=0.5)
        with make_sandbox(now=clock, **settings) as sb, client_for(sb) as c:
            runs.append([c.get(u).json()["calls"] is None for u in urls(sb, 60)])
    assert runs[0] == runs[1] and 0.3 < sum(runs[0]) / 60 < 0.7


def test_trunks_envelope_fault(make_sandbox, clock):
    with make_sandbox(now=clock, trunks_envelope_fault=True) as sb, client_for(sb) as c:
        r = c.get(f"/v1/projects/{sb.project_id}/trunks")
        assert r.status_code == 200 and r.json() == {}
        one = sb.app_state.trunks[0]["id"]
        assert c.get(f"/v1/projects/{sb.project_id}/trunks/{one}").json()["id"] == one


def test_float_money_on_every_call(make_sandbox, clock):
    with make_sandbox(now=clock, float_money=True, variant_rate=0.3) as sb, client_for(sb) as c:
        served, _ = fetch_all(c, sb, HOUR)
        truth = sb.app_state.calls_between(H, H + timedelta(hours=1))
        raw = c.get(f"{sb.calls_url}?{HOUR}&size=1000").text
    assert [x["callId"] for x in served] == [x["callId"] for x in truth] and len(truth) > 100
    nonzero = 0
    for got, want in zip(served, truth, strict=True):
        for key in ("pricePerMinute", "price"):
            amount, exact = got[key]["amount"], want[key]["amount"]
            assert isinstance(amount, float)  # also for the "amount as string" variant
            assert amount == math.nextafter(exact, 0.0) and round(amount, 6) == exact
            nonzero += exact != 0
    assert nonzero > len(truth)  # every pricePerMinute, and the answered calls' prices
    assert '"amount":0.003999999999999999' in raw or '"amount":0.005999999999999999' in raw


def test_gzip_bomb(make_sandbox, clock):
    with make_sandbox(now=clock, gzip_bomb=True) as sb, client_for(sb) as c:
        with c.stream("GET", f"{sb.calls_url}?{HOUR}") as r:
            assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
            body = b"".join(r.iter_raw())
        assert 900_000 < len(body) < 1_200_000
        assert int(r.headers["content-length"]) == len(body)
        assert int.from_bytes(body[-4:], "little") == GZIP_BOMB_INFLATED  # gzip ISIZE
        inflate, inflated, rest = zlib.decompressobj(31), 0, body
        head = inflate.decompress(rest, 64)
        assert head == b'{"calls":[' + b" " * 54
        inflated, rest = len(head), inflate.unconsumed_tail
        while rest:  # inflate it all, 16 MiB at a time: exactly 1 GiB, CRC checked
            inflated += len(inflate.decompress(rest, 1 << 24))
            rest = inflate.unconsumed_tail
        inflated += len(inflate.flush())
        assert inflate.eof and inflated == GZIP_BOMB_INFLATED == 1 << 30
        assert sb.app_state.stats["gzip_bombs"] == 1


def test_gzip_bomb_rate(make_sandbox, clock):
    with make_sandbox(now=clock, gzip_bomb=True, gzip_bomb_rate=0.5) as sb, client_for(sb) as c:
        hits = []
        for url in urls(sb, 40):
            with c.stream("GET", url) as r:
                hits.append(r.headers.get("content-encoding") == "gzip")
        assert 10 < sum(hits) < 30 and sb.app_state.stats["gzip_bombs"] == sum(hits)


def echoed(r: httpx.Response) -> str | None:
    return r.json()["request"]["headers"]["Authorization"]


def test_echo_authorization_in_every_error(make_sandbox, clock):
    with make_sandbox(now=clock, echo_authorization=True) as sb:
        basic = httpx.BasicAuth(sb.key_id, "wrong-secret")
        r = httpx.get(sb.calls_url, auth=basic)
        assert r.status_code == 401
        assert echoed(r) == r.request.headers["authorization"]
        assert echoed(r).startswith("Basic ")
        r = httpx.get(sb.calls_url, headers={"Authorization": "Bearer not-a-token"})
        assert r.status_code == 401 and echoed(r) == "Bearer not-a-token"
        assert echoed(httpx.get(sb.calls_url)) is None
        with client_for(sb) as c:
            good = c.get(sb.calls_url).request.headers["authorization"]
            other = f"{sb.base_url}/v1/projects/nope/calls"
            for url, status in [
                (other, 404),
                (f"{sb.calls_url}?page=0", 400),
                (f"{sb.base_url}/v1/projects/{sb.project_id}/trunks/nope", 404),
                (f"{sb.base_url}/v1/nothing-here", 404),
            ]:
                r = c.get(url)
                assert r.status_code == status and echoed(r) == good
        # the token endpoint echoes the form's secret and the Authorization header
        form = {"grant_type": "client_credentials", "client_id": sb.key_id}
        r = httpx.post(sb.token_url, data={**form, "client_secret": "s3cret"})
        assert r.status_code == 401
        assert r.json()["request"]["form"] == {"client_id": sb.key_id, "client_secret": "s3cret"}
        r = httpx.post(sb.token_url, data={"grant_type": "x"}, auth=(sb.key_id, sb.key_secret))
        assert r.status_code == 400 and echoed(r) == r.request.headers["authorization"]
    for fault, codes in (("rate_429", (429,)), ("rate_5xx", (500, 502, 503))):
        settings = {fault: 1.0, "echo_authorization": True}
        with make_sandbox(now=clock, **settings) as sb, client_for(sb) as c:
            r = c.get(sb.calls_url)
            assert r.status_code in codes and echoed(r) == r.request.headers["authorization"]


def test_no_echo_by_default(make_sandbox, clock):
    with make_sandbox(now=clock) as sb:
        assert "request" not in httpx.get(sb.calls_url, auth=(sb.key_id, "x")).json()
        r = httpx.post(sb.token_url, data={"client_id": sb.key_id, "client_secret": "x"})
        assert r.status_code == 401 and "request" not in r.json()


def test_extreme_times(make_sandbox, clock):
    with make_sandbox(now=clock, extreme_times=True, variant_rate=0) as sb, client_for(sb) as c:
        truth = sb.app_state.calls_between(H, H + timedelta(hours=1))
        served, total = fetch_all(c, sb, HOUR)
        kinds = sb.app_state.extreme_time_call_ids_between(H, H + timedelta(hours=1))
        two_hours = sb.app_state.extreme_time_call_ids_between(H, H + timedelta(hours=2))
        trunk = truth[0]["trunkId"]
        filtered = c.get(f"{sb.calls_url}?{HOUR}&trunkId={trunk}&size=1").json()["calls"]
    assert total == len(truth) and [x["callId"] for x in served] == [x["callId"] for x in truth]
    assert kinds == {truth[0]["callId"]: "createTime", truth[1]["callId"]: "endTime"}
    assert len(two_hours) == 4
    assert served[0] == {**truth[0], "createTime": EXTREME_CREATE_TIME}
    assert served[1] == {**truth[1], "endTime": EXTREME_END_TIME}
    assert served[2:] == truth[2:]
    assert filtered[0]["createTime"] == "9999-12-31T23:30:00-01:00"
    with pytest.raises(OverflowError):  # year 10000 in UTC
        datetime.fromisoformat(EXTREME_CREATE_TIME).astimezone(UTC)
