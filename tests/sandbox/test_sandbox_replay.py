"""Replay: the Copenhagen export CSV (3,600 real calls) and JSON lines."""

from __future__ import annotations

import csv

import orjson
import pytest
from conftest import COPENHAGEN, client_for, fetch_all

from pipeline.sandbox.testing import sandbox_server

RANGE = "createTime>=2026-09-01&createTime<=2026-12-31"


@pytest.fixture(scope="module")
def cph():
    with sandbox_server(replay_path=COPENHAGEN) as sb, client_for(sb) as c:
        yield sb, c


def test_all_3600_calls_are_served_once(cph):
    sb, c = cph
    calls, total = fetch_all(c, sb, RANGE)
    with COPENHAGEN.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert total == len(calls) == len(rows) == 3600
    assert sorted(x["callId"] for x in calls) == sorted(r["Call Id"] for r in rows)
    assert sb.project_id == "5b1c2f4e-8a63-4d0e-9c1b-2f6d7e8a9b01"


def test_spot_values(cph):
    sb, c = cph
    r = c.get(f"/v1/projects/{sb.project_id}/calls?createTime=2026-10-04T22&size=10").json()
    first = r["calls"][0]
    assert first == {
        "callId": "68YY95Q566B635Q4E8KSSATYXQ",
        "to": "+4520000301",
        "from": "+4520000300",
        "direction": "OUTBOUND",
        "answerTime": "2026-10-04T22:03:04.000Z",
        "endTime": "2026-10-04T22:05:05.000Z",
        "durationSeconds": 121,
        "callResult": "COMPLETED",
        "pricePerMinute": None,
        "billingDurationSeconds": None,
        "price": None,
        "createTime": "2026-10-04T22:03:04.000Z",
        "projectId": "5b1c2f4e-8a63-4d0e-9c1b-2f6d7e8a9b01",
        "trunkId": "01JCNS0TRUNK0N0RTH00000001",
    }
    missed = c.get(f"/v1/projects/{sb.project_id}/calls?createTime=2026-10-05T00&size=10").json()
    assert missed["calls"][0]["callId"] == "DBJ1GBXVHQGWC463WMJCG05CWF"
    assert (
        missed["calls"][0]["callResult"] == "NO_ANSWER" and missed["calls"][0]["answerTime"] is None
    )
    trunks = c.get(f"/v1/projects/{sb.project_id}/trunks").json()["trunks"]
    assert {t["name"] for t in trunks} == {"Campus North", "Campus South"}


def test_filters_work_on_replay(cph):
    sb, c = cph
    calls, _ = fetch_all(c, sb, f"{RANGE}&callResult=no_answer,cancel")
    with COPENHAGEN.open(newline="") as fh:
        want = [r for r in csv.DictReader(fh) if r["Result"] in ("NO_ANSWER", "CANCEL")]
    assert len(calls) == len(want) > 0


def test_export_reproduces_the_file_rows(cph):
    sb, c = cph
    r = c.get(f"/v1/projects/{sb.project_id}/calls/export?{RANGE}")
    assert r.status_code == 200
    served = r.content.decode().split("\r\n")
    original = COPENHAGEN.read_bytes().decode().split("\r\n")
    assert served[0] == original[0]
    assert sorted(served[1:]) == sorted(original[1:])


def test_jsonl_replay(tmp_path):
    objs = [
        {"callId": "A1", "to": "+4520000001", "from": "sip:+4520000002@10.0.0.1",
         "direction": "inbound", "createTime": "2026-10-01T10:00:00+0000",
         "endTime": "2026-10-01T10:01:00Z", "callResult": "COMPLETED",
         "price": {"currencyCode": "USD", "amount": "0.0040"}, "trunkId": "T1"},
        {"callId": "B2", "to": "+4520000003", "from": "+4520000004", "direction": "OUTBOUND",
         "createTime": "2026-10-01T09:00:00.123456789Z", "callResult": "BUSY", "trunkId": "T1"},
    ]  # fmt: skip
    path = tmp_path / "calls.jsonl"
    lines = [orjson.dumps(o) for o in objs] + [b'{"callId": "C3", "createTime": "garbage"}', b""]
    path.write_bytes(b"\n".join(lines))
    with sandbox_server(replay_path=path, project_id="p1") as sb, client_for(sb) as c:
        assert sb.app_state.replay.skipped == 1
        body = c.get("/v1/projects/p1/calls?createTime=2026-10-01").json()
        assert body["totalItems"] == 2
        assert body["calls"] == [objs[1], objs[0]]  # ordered by createTime
        only = c.get(
            "/v1/projects/p1/calls?createTime=2026-10-01&direction=INBOUND&from=+4520"
        ).json()
        assert [x["callId"] for x in only["calls"]] == ["A1"]
