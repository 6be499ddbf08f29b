"""GET /calls/export: 26 quoted columns, CRLF, Content-Disposition, same filters as /calls."""

from __future__ import annotations

import csv
import io
import re

from conftest import client_for

from pipeline.sandbox.records import EXPORT_COLUMNS


def test_export_format(make_sandbox, clock):
    with make_sandbox(now=clock) as sb, client_for(sb) as c:
        q = "createTime=2026-10-28&direction=OUTBOUND"
        r = c.get(
            f"/v1/projects/{sb.project_id}/calls/export?{q}", headers={"Accept": "text/plain"}
        )
        total = c.get(f"/v1/projects/{sb.project_id}/calls?{q}&size=1").json()["totalItems"]
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert r.headers["content-disposition"] == 'attachment; filename="EST_call_records.csv"'
        text = r.content.decode()
        assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
        lines = text.split("\r\n")[:-1]
        assert lines[0] == ",".join(f'"{h}"' for h in EXPORT_COLUMNS)
        rows = list(csv.reader(io.StringIO(text)))
        assert len(rows) - 1 == total > 0
        assert all(len(row) == 26 for row in rows)
        assert all(line.startswith('"') and line.endswith('"') for line in lines)
        body = [dict(zip(EXPORT_COLUMNS, row, strict=True)) for row in rows[1:]]
        assert {b["Direction"] for b in body} == {"OUTBOUND"}
        assert all(re.fullmatch(r"\d+\.\d{4} USD", b["Price Per Minute"]) for b in body)
        answered = [b for b in body if b["SIP Response Code"] == "200"]
        assert answered and all(b["Answer Time"].endswith("Z") for b in answered)
        assert {b["Result"] for b in answered} == {"COMPLETED"}
        # unanswered, or the public oddity: COMPLETED with SIP 404 and no answer time
        assert all(b["Answer Time"] == "" for b in body if b["SIP Response Code"] != "200")


def test_export_quotes_commas_and_honours_file_name_and_paging(make_sandbox, clock):
    with make_sandbox(now=clock) as sb, client_for(sb) as c:
        ber = "01JSBX0TRUNK0BER0000000004"
        q = f"createTime=2026-10-28&trunkId={ber}&fileName=x.csv"
        r = c.get(f"/v1/projects/{sb.project_id}/calls/export?{q}")
        assert 'filename="x.csv"' in r.headers["content-disposition"]
        assert '"Berlin, Field Service"' in r.text
        rows = list(csv.reader(io.StringIO(r.text)))[1:]
        assert rows and {row[7] for row in rows} == {"Berlin, Field Service"}
        p = c.get(f"/v1/projects/{sb.project_id}/calls/export?createTime=2026-10-28&size=5&page=2")
        assert len(p.text.split("\r\n")) == 1 + 5 + 1
