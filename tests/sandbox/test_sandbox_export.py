"""GET /calls/export: 26 quoted columns, CRLF, Content-Disposition, same filters as /calls.

And ``export_fault``: each hostile export as served over HTTP, then through the production
export client (:class:`~pipeline.sinch.export.ExportRun`), whose guards must catch it.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import httpx
import pytest
from conftest import client_for

from pipeline.sandbox.records import EXPORT_COLUMNS
from pipeline.sinch.client import CallsClient
from pipeline.sinch.errors import PaginationError, ResponseFormatError, SinchApiError
from pipeline.sinch.export import ExportRun, unavailable_reason
from pipeline.sinch.models import Window


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


# ---------------------------------------------------------------------- export_fault
HOUR = Window(datetime(2026, 10, 28, 10, tzinfo=UTC), datetime(2026, 10, 28, 11, tzinfo=UTC))
Q = "createTime=2026-10-28T10"


def export_client(sb, page_size: int) -> CallsClient:
    """The production export client (one attempt) against ``sb``, with Basic auth."""
    auth = httpx.BasicAuth(sb.key_id, sb.key_secret)
    return CallsClient(sb.base_url, sb.project_id, auth, page_size=page_size, max_attempts=1)


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize(
    ("kind", "status", "code"), [("forbidden", 403, "FORBIDDEN"), ("not-found", 404, "NOT_FOUND")]
)
def test_a_refused_export_answers_the_error_shape_and_is_unavailable(
    make_sandbox, clock, kind, status, code
):
    with make_sandbox(now=clock, export_fault=kind) as sb, client_for(sb) as c:
        url = f"/v1/projects/{sb.project_id}/calls/export"
        for query in (Q, f"{Q}&size=10&page=1", f"{Q}&size=10&page=2"):
            r = c.get(f"{url}?{query}")
            assert r.status_code == status and r.headers["content-type"] == "application/json"
            body = r.json()
            assert (body["status"], body["error"], body["path"]) == (status, code, url)
            assert "export" in body["message"] and "sandboxNote" in body
        assert c.get(f"{sb.calls_url}?{Q}&size=1").status_code == 200  # /calls unaffected
        assert sb.app_state.stats["export_faults"] == 3
        with export_client(sb, 100) as client, pytest.raises(SinchApiError) as caught:
            list(ExportRun(client, HOUR))
    assert caught.value.status == status
    reason = unavailable_reason(caught.value)
    assert reason is not None and reason.startswith(f"the export answered HTTP {status}: ")
    assert code in reason


def test_a_partly_refused_export_refuses_a_seeded_share(make_sandbox, clock):
    settings = dict(export_fault="forbidden", export_fault_rate=0.5)
    with make_sandbox(now=clock, **settings) as sb, client_for(sb) as c:
        url = f"/v1/projects/{sb.project_id}/calls/export?{Q}&size=10&page="
        statuses = [c.get(f"{url}{page}").status_code for page in range(1, 41)]
        assert set(statuses) == {200, 403} and 10 <= statuses.count(403) <= 30
    with make_sandbox(now=clock, **settings) as sb, client_for(sb) as c:  # it replays
        url = f"/v1/projects/{sb.project_id}/calls/export?{Q}&size=10&page="
        assert [c.get(f"{url}{page}").status_code for page in range(1, 41)] == statuses


def test_an_endless_export_serves_full_pages_that_never_repeat(make_sandbox, clock):
    with make_sandbox(now=clock, export_fault="endless") as sb, client_for(sb) as c:
        url = f"/v1/projects/{sb.project_id}/calls/export?{Q}"
        whole = csv_rows(c.get(url).text)[1:]  # unpaged: the real export, once
        n, size = len(whole), 100
        assert [row[1] for row in whole] == sb.app_state.call_ids_between(HOUR.start, HOUR.end)
        pages = [csv_rows(c.get(f"{url}&size={size}&page={p}").text) for p in range(1, 9)]
        assert {len(rows) for rows in pages} == {1 + size}  # the header and a full page
        served = [row for rows in pages for row in rows[1:]]
        assert 8 * size > 2 * n  # the pages go round the window's calls twice at least
        assert served[:n] == whole  # first the real export …
        ids = [row[1] for row in served]
        assert len(set(ids)) == len(ids)  # … then the same calls, new ids: nothing repeats
        assert ids[n : 2 * n] == [f"{row[1]}-lap1" for row in whole]
        assert ids[2 * n] == f"{whole[0][1]}-lap2"
        assert all(len(row) == 26 for row in served)
        far = csv_rows(c.get(f"{url}&size=7&page=100000").text)
        assert len(far) == 1 + 7 and all(row[1].split("-lap")[1] for row in far[1:])


def test_the_client_stops_an_endless_export_at_max_pages(make_sandbox, clock):
    size = 100
    with make_sandbox(now=clock) as sb, export_client(sb, size) as client:
        normal = ExportRun(client, HOUR, max_pages=50)
        assert sum(page.details.num_rows for page in normal) > 0
    max_pages = normal.stats.pages + 2  # enough for the real export, and then some
    with make_sandbox(now=clock, export_fault="endless") as sb, export_client(sb, size) as client:
        run = ExportRun(client, HOUR, max_pages=max_pages)
        with pytest.raises(PaginationError, match=f"more than max_pages={max_pages} full"):
            for _ in run:
                pass
    assert run.stats.pages == max_pages and run.stats.rows == max_pages * size
    assert run.stats.rows > normal.stats.rows


def test_an_export_ignoring_page_serves_page_one_and_the_client_stops(make_sandbox, clock):
    with make_sandbox(now=clock, export_fault="ignores-page") as sb, client_for(sb) as c:
        url = f"/v1/projects/{sb.project_id}/calls/export?{Q}&size=25"
        first = c.get(f"{url}&page=1").text
        assert len(csv_rows(first)) == 1 + 25
        assert c.get(f"{url}&page=2").text == c.get(f"{url}&page=9").text == first
        whole = c.get(f"/v1/projects/{sb.project_id}/calls/export?{Q}").text
        assert len(csv_rows(whole)) > 2 * 25  # unpaged: every row, as usual
        with export_client(sb, 25) as client:
            run = ExportRun(client, HOUR)
            with pytest.raises(PaginationError, match="export page 2 repeats page 1"):
                for _ in run:
                    pass
    assert run.stats.pages == 2


def test_short_rows_lose_their_last_fields_and_are_rejected_with_a_reason(make_sandbox, clock):
    settings = dict(export_fault="short-rows", export_fault_rate=0.3)
    with make_sandbox(now=clock, **settings) as sb, client_for(sb) as c:
        url = f"/v1/projects/{sb.project_id}/calls/export?{Q}"
        rows = csv_rows(c.get(url).text)
        assert rows[0] == list(EXPORT_COLUMNS)
        short = {row[1]: len(row) for row in rows[1:] if len(row) != 26}
        assert 0.15 < len(short) / (len(rows) - 1) < 0.45
        assert all(2 <= n <= 25 for n in short.values()) and len(set(short.values())) > 3
        paged = [
            row
            for p in (1, 2, 3, 4)
            for row in csv_rows(c.get(f"{url}&size=100&page={p}").text)[1:]
        ]
        assert paged == rows[1:]  # per callId: the same rows, cut the same way, on any page
        with export_client(sb, 1000) as client:
            pages = list(ExportRun(client, HOUR))
    rejected = [r for page in pages for r in page.rejected]
    assert sorted(r.reason for r in rejected) == sorted(
        f"field count {n}, header has 26" for n in short.values()
    )
    assert {next(csv.reader([r.raw]))[1] for r in rejected} == set(short)
    landed = {cid for page in pages for cid in page.details.column("call_id").to_pylist()}
    assert not landed & set(short) and landed | set(short) == set(
        sb.app_state.call_ids_between(HOUR.start, HOUR.end)
    )


def test_a_renamed_header_is_a_format_error(make_sandbox, clock):
    with make_sandbox(now=clock, export_fault="renamed-header") as sb, client_for(sb) as c:
        text = c.get(f"/v1/projects/{sb.project_id}/calls/export?{Q}").text
        header, first = csv_rows(text)[:2]
        assert header[:2] == ["Timestamp (UTC)", "Call ID"]
        assert header[2:] == list(EXPORT_COLUMNS[2:])
        assert len(first) == 26
        with export_client(sb, 1000) as client, pytest.raises(ResponseFormatError) as caught:
            list(ExportRun(client, HOUR))
    assert "lacks 'Timestamp', 'Call Id'" in str(caught.value)
