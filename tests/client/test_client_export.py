"""The export client: CSV quirks, paging and its guards, 403/404, retries (httpx MockTransport).

docs/api-reference.md §4 and pitfall 18: every field quoted, ``""`` empty, ``"null"``, money
as ``"0.0000 USD"``, CRLF or LF, a file name in ``Content-Disposition``; rows the parser
cannot read are rejected with a reason, never dropped.
"""

from __future__ import annotations

import gzip
import logging
from datetime import UTC, datetime

import httpx
import pytest
from client_fakes import FakeClock, make_client, qdict

from pipeline.sinch.csv_rows import EXPORT_COLUMNS, parse_export
from pipeline.sinch.errors import (
    AuthError,
    ClientError,
    PaginationError,
    ResponseFormatError,
    ResponseTooLarge,
    ServerError,
)
from pipeline.sinch.export import (
    ExportRun,
    content_disposition_name,
    export_page_limit,
    unavailable_reason,
)
from pipeline.sinch.models import Window

WIN = Window(datetime(2026, 11, 2, 10, tzinfo=UTC), datetime(2026, 11, 2, 11, tzinfo=UTC))
HEADER = ",".join(f'"{c}"' for c in EXPORT_COLUMNS)


def row(call_id: str, ts: str = "2026-11-02T10:00:13.000Z", **values: str) -> str:
    """One quoted export row; ``values`` by column name (spaces as underscores)."""
    fields = dict.fromkeys(EXPORT_COLUMNS, "")
    fields |= {"Timestamp": ts, "Call Id": call_id, "Project Id": "proj-1"}
    for key, value in values.items():
        fields[key.replace("_", " ")] = value
    return ",".join('"' + v.replace('"', '""') + '"' for v in fields.values())


def csv_body(*rows: str, eol: str = "\r\n", trailing: bool = True) -> bytes:
    return (eol.join([HEADER, *rows]) + (eol if trailing else "")).encode()


def csv_response(body: bytes, disposition: str | None = 'attachment; filename="x.csv"'):
    headers = {"Content-Type": "text/csv"}
    if disposition:
        headers["Content-Disposition"] = disposition
    return httpx.Response(200, content=body, headers=headers)


def paged(rows: list[str], seen: list[httpx.Request], **kw) -> httpx.MockTransport:
    """An export endpoint serving ``rows`` in 1-based pages of ``size`` (header on each)."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        q = qdict(request)
        page, size = int(q["page"]), int(q["size"])
        return csv_response(csv_body(*rows[(page - 1) * size : page * size], **kw))

    return handler


def test_quirks_quoted_empty_null_money_and_mos_zero():
    body = csv_body(
        row("a", SIP_Response_Code="486", Cause_Code="17", MOS="0.0", Cost="0.0000 USD",
            Is_Emergency_Call="false", Has_Children="TRUE", Port="5060", Region="us-west"),
        row("b", SIP_Response_Code="null", Cause_Code="", MOS="4.3", Transport="null",
            Trunk_Name='Main, "HQ"\nfloor 2', Group_Id="g-1"),
    )  # fmt: skip
    parsed = parse_export(body, WIN.start, WIN.end)
    assert parsed.rejected == [] and parsed.rows == 2
    a, b = parsed.details.to_pylist()
    assert (a["sip_response_code"], a["cause_code"], a["mos"], a["port"]) == (486, 17, None, 5060)
    assert (a["is_emergency"], a["has_children"], a["region"]) == (False, True, "us-west")
    assert (b["sip_response_code"], b["cause_code"], b["mos"], b["transport"]) == (
        None, None, 4.3, None,
    )  # fmt: skip
    assert b["trunk_name"] == 'Main, "HQ"\nfloor 2'  # comma, doubled quote, line break
    assert b["raw_line"] == row("b", SIP_Response_Code="null", Cause_Code="", MOS="4.3",
                                Transport="null", Trunk_Name='Main, "HQ"\nfloor 2',
                                Group_Id="g-1")  # fmt: skip
    assert a["create_time"] == datetime(2026, 11, 2, 10, 0, 13, tzinfo=UTC)


@pytest.mark.parametrize("eol", ["\r\n", "\n"])
@pytest.mark.parametrize("trailing", [True, False])
def test_crlf_lf_and_trailing_newline_read_alike(eol, trailing):
    body = csv_body(row("a"), row("b"), eol=eol, trailing=trailing)
    parsed = parse_export(b"\xef\xbb\xbf" + body, WIN.start, WIN.end)  # a BOM too
    assert parsed.details.column("call_id").to_pylist() == ["a", "b"]
    assert parsed.details.column("raw_line").to_pylist() == [row("a"), row("b")]


def test_odd_unquoted_row_is_rejected_with_a_reason_not_dropped():
    odd = (
        "2026-11-02T10:05:00Z,odd-1,inbound,+4520000001,+4520000002,COMPLETED,12,DK,DK,x,y,z,1,2,3"
    )
    parsed = parse_export(csv_body(row("a"), odd), WIN.start, WIN.end)
    assert parsed.details.column("call_id").to_pylist() == ["a"]
    [bad] = parsed.rejected
    assert bad.reason == "field count 15, header has 26"
    assert bad.raw == odd and bad.call_id == "odd-1"  # a short row keeps its first fields


def cut(line: str, fields: int) -> str:
    """``line`` (a quoted :func:`row`) cut after its first ``fields`` fields."""
    return '","'.join(line.split('","')[:fields]) + '"'


def test_a_short_row_keeps_its_call_id_and_is_placed_by_its_timestamp():
    short = cut(row("cut-1", ts="2026-11-02T10:20:00.000Z"), 2)
    before = cut(row("cut-0", ts="2026-11-02T09:59:59.000Z"), 20)
    parsed = parse_export(csv_body(row("a"), short, before), WIN.start, WIN.end)
    assert parsed.details.column("call_id").to_pylist() == ["a"]
    [bad] = parsed.rejected
    assert (bad.reason, bad.call_id, bad.raw) == ("field count 2, header has 26", "cut-1", short)
    assert parsed.outside_window == 1  # cut-0: the window before rejects it


def test_a_short_row_on_the_hour_is_rejected_by_one_window_not_both():
    short = cut(row("edge", ts="2026-11-02T11:00:00.000Z"), 5)
    body = csv_body(short)  # both windows receive it: the request's bounds are inclusive
    nxt = Window(WIN.end, datetime(2026, 11, 2, 12, tzinfo=UTC))
    this_hour, next_hour = (parse_export(body, w.start, w.end) for w in (WIN, nxt))
    assert (this_hour.rejected, this_hour.outside_window) == ([], 1)
    assert [r.call_id for r in next_hour.rejected] == ["edge"] and next_hour.outside_window == 0


def test_the_pieces_of_a_row_split_by_a_newline_keep_no_borrowed_call_id():
    """A newline left unquoted in Trunk Name cuts a row in two short records; the second's
    fields are shifted, so its "Call Id" was the Direction ("INBOUND"): every such piece then
    shared one id, and the warehouse kept one of them (a review: 8 rejected rows sent, 5 kept)."""
    rows = [
        row(f"n{i}", ts=f"2026-11-02T10:1{i}:00.000Z",
            **{"Trunk Name": "HQ|line2", "Direction": "INBOUND", "Duration (s)": str(60 + i)})
        for i in range(3)
    ]  # fmt: skip
    pieces = [r.replace("HQ|line2", 'HQ"\r\n"line2') for r in rows]  # the newline unquoted
    parsed = parse_export(csv_body(*pieces), WIN.start, WIN.end)
    assert [r.call_id for r in parsed.rejected] == ["n0", None, "n1", None, "n2", None]
    assert len({r.raw for r in parsed.rejected}) == 6  # every piece kept, by its text


def test_a_long_row_trusts_no_call_id_and_only_a_first_column_time_near_the_window():
    edge = row("x", ts="2026-11-02T11:00:00.000Z", Trunk_Name="a") + ',"extra"'
    far = row("y", ts="2026-11-02T13:00:00.000Z") + ',"extra"'  # no window asked nearby
    inside = row("z", ts="2026-11-02T10:30:00.000Z") + ',"extra"'
    parsed = parse_export(csv_body(edge, far, inside), WIN.start, WIN.end)
    assert parsed.outside_window == 1  # edge: the next window rejects it
    assert [(r.raw, r.call_id) for r in parsed.rejected] == [(far, None), (inside, None)]
    moved = HEADER.replace('"Timestamp","Call Id"', '"Call Id","Timestamp"')
    first, second, rest = row("x", ts="2026-11-02T11:00:00.000Z").split(",", 2)
    line = f'{second},{first},{rest},"e"'
    swapped = parse_export(f"{moved}\r\n{line}\r\n".encode(), WIN.start, WIN.end)
    assert swapped.outside_window == 0 and len(swapped.rejected) == 1  # Timestamp not first


def test_bad_values_reject_the_row_naming_the_column():
    body = csv_body(
        row("t", ts="yesterday"), row("s", SIP_Response_Code="abc"), row("m", MOS="nan"),
        row("e", Is_Emergency_Call="maybe"), row("", ts="2026-11-02T10:00:00Z"),
    )  # fmt: skip
    reasons = {r.call_id: r.reason for r in parse_export(body, WIN.start, WIN.end).rejected}
    assert reasons["t"].startswith("Timestamp: unparseable 'yesterday'")
    assert reasons["s"] == "SIP Response Code: 'abc' is not an integer"
    assert reasons["m"].startswith("MOS: 'nan'")
    assert reasons["e"] == "Is Emergency Call: 'maybe' is not true or false"
    assert reasons[None] == "Call Id: missing"


def test_rows_outside_the_window_are_counted_not_landed():
    body = csv_body(
        row("before", ts="2026-11-02T09:59:59.000Z"), row("in"),
        row("end", ts="2026-11-02T11:00:00.000Z"),
        row("bad-end", ts="2026-11-02T11:00:00.000Z", MOS="x"),  # the next window rejects it
    )  # fmt: skip
    parsed = parse_export(body, WIN.start, WIN.end)
    assert parsed.details.column("call_id").to_pylist() == ["in"]
    assert parsed.outside_window == 3 and parsed.rejected == []


def test_unknown_and_missing_header_columns_are_noted_not_fatal():
    header = HEADER.replace('"MOS"', '"Mean Opinion Score"') + ',"Carrier"'
    line = row("a", MOS="4.1") + ',"telia"'
    parsed = parse_export(f"{header}\r\n{line}\r\n".encode(), WIN.start, WIN.end)
    assert parsed.new_columns == ("Mean Opinion Score", "Carrier")
    assert parsed.missing_columns == ("MOS",)
    assert parsed.details.column("mos").to_pylist() == [None]
    assert parsed.details.column("raw_line").to_pylist() == [line]


def test_a_header_without_call_id_or_timestamp_is_a_clear_error():
    header = HEADER.replace('"Call Id"', '"Call ID"')
    with pytest.raises(ResponseFormatError, match="header lacks 'Call Id'"):
        parse_export(f"{header}\r\n".encode(), WIN.start, WIN.end)
    with pytest.raises(ResponseFormatError, match="empty body"):
        parse_export(b"", WIN.start, WIN.end)
    huge = csv_body(row("a", Region="x" * 200_000))
    with pytest.raises(ResponseFormatError, match="could not be read after 2 lines"):
        parse_export(huge, WIN.start, WIN.end)


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ('attachment; filename="EST_call_records.csv"', "EST_call_records.csv"),
        ("attachment; filename=EST_call_records.csv", "EST_call_records.csv"),
        ("attachment;filename=a.csv; size=3", "a.csv"),
        (
            "attachment; filename=\"x.csv\"; filename*=UTF-8''calls%20n%C3%B8rd.csv",
            "calls nørd.csv",
        ),
        ("attachment", None),
        (None, None),
    ],
)
def test_content_disposition_file_name(header, name):
    assert content_disposition_name(header) == name


def test_pages_until_a_short_page_with_the_calls_window_and_accept_text():
    seen: list[httpx.Request] = []
    client = make_client(paged([row(f"c{i}") for i in range(5)], seen), page_size=2)
    run = ExportRun(client, WIN)
    ids = [i for page in run for i in page.details.column("call_id").to_pylist()]
    assert ids == ["c0", "c1", "c2", "c3", "c4"]
    assert [qdict(r)["page"] for r in seen] == ["1", "2", "3"]
    first = qdict(seen[0])
    assert first["createTime>"] == "2026-11-02T09:59:59Z"
    assert first["createTime<"] == "2026-11-02T11:00:00Z"
    assert seen[0].url.path == "/v1/projects/proj-1/calls/export"
    assert seen[0].headers["accept"] == "text/plain"
    assert (run.stats.pages, run.stats.rows, run.stats.file_name) == (3, 5, "x.csv")


def test_a_run_says_it_ended_when_its_last_page_came_before_asking_again():
    """The fetch stage reads ``ended`` to hand over a window's end after a 403 elsewhere
    without sending another request (pipeline/ingest/fetchers.py)."""
    seen: list[httpx.Request] = []
    run = ExportRun(make_client(paged([row(f"c{i}") for i in range(3)], seen), page_size=2), WIN)
    said = [(page.number, run.ended, len(seen)) for page in run]
    assert said == [(1, False, 1), (2, True, 2)]  # page 2 is short: the end, no third request
    assert len(seen) == 2


def test_a_multiple_of_the_page_size_ends_on_an_empty_page():
    seen: list[httpx.Request] = []
    client = make_client(paged([row(f"c{i}") for i in range(4)], seen), page_size=2)
    assert sum(p.details.num_rows for p in ExportRun(client, WIN)) == 4
    assert len(seen) == 3  # the third page holds only the header


def test_an_empty_body_after_full_pages_ends_the_run():
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(qdict(request)["page"])
        return csv_response(csv_body(row(f"p{page}a"), row(f"p{page}b")) if page == 1 else b"")

    run = ExportRun(make_client(handler, page_size=2), WIN)
    assert sum(p.details.num_rows for p in run) == 2 and run.stats.pages == 2


def test_a_page_repeating_the_previous_one_raises():
    def handler(request: httpx.Request) -> httpx.Response:
        return csv_response(csv_body(row("a"), row("b")))  # ignores `page`

    with pytest.raises(PaginationError, match="repeats page 1"):
        list(ExportRun(make_client(handler, page_size=2), WIN))


def test_pages_that_never_end_stop_at_max_pages():
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(qdict(request)["page"])
        return csv_response(csv_body(row(f"{page}a"), row(f"{page}b")))

    with pytest.raises(PaginationError, match="max_pages=5"):
        list(ExportRun(make_client(handler, page_size=2), WIN, max_pages=5))


@pytest.mark.parametrize(
    ("known", "size", "limit"),
    [
        (None, 1000, 2000),  # unknown: the ceiling
        (0, 1000, 10),  # the floor: the export may know calls the list does not
        (292, 1000, 10),
        (2_500, 1000, 11),  # 4 rows a call: 10 pages, plus one
        (10_000, 1000, 41),
        (1_000_000, 1000, 2000),  # the ceiling
        (20, 5, 17),
    ],
)
def test_the_page_limit_follows_the_calls_known_in_the_window(known, size, limit):
    assert export_page_limit(known, size) == limit


def test_an_endless_export_of_known_calls_stops_at_their_limit_naming_window_and_calls():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        page = int(qdict(request)["page"])
        return csv_response(csv_body(row(f"{page}a"), row(f"{page}b")))

    run = ExportRun(make_client(handler, page_size=2), WIN, max_pages=50, known_calls=3)
    with pytest.raises(PaginationError) as caught:
        list(run)
    assert len(seen) == export_page_limit(3, 2) == 10
    assert str(caught.value).startswith(
        "the export of 2026-11-02T10:00Z sent more than max_pages=10 full pages (20 records, "
        "the limit for 3 known calls)"
    )


@pytest.mark.parametrize(("status", "error"), [(403, AuthError), (404, ClientError)])
def test_403_and_404_mean_unavailable(status, error):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"message": "export not enabled for this account"})

    with pytest.raises(error) as caught:
        list(ExportRun(make_client(handler), WIN))
    reason = unavailable_reason(caught.value)
    assert reason is not None and reason.startswith(f"the export answered HTTP {status}")
    assert "export not enabled" in reason


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (  # the API's error shape: its message and code, not the JSON (the path cut short)
            b'{"status":403,"error":"FORBIDDEN","message":"export not enabled","path":"/v1/x"}',
            "the export answered HTTP 403: export not enabled (FORBIDDEN)",
        ),
        (b"<html>Forbidden</html>", "the export answered HTTP 403: <html>Forbidden</html>"),
        (b"", "the export answered HTTP 403"),
    ],
)
def test_the_unavailable_reason_says_what_the_error_says(body, said):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, content=body)

    with pytest.raises(AuthError) as caught:
        list(ExportRun(make_client(handler), WIN))
    assert unavailable_reason(caught.value) == said


def test_401_is_not_unavailable():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"message": "bad key"})

    with pytest.raises(AuthError) as caught:
        list(ExportRun(make_client(handler), WIN))
    assert unavailable_reason(caught.value) is None


def test_503_is_retried_then_the_page_lands(caplog: pytest.LogCaptureFixture):
    answers = [httpx.Response(503), httpx.Response(503)]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0) if answers else csv_response(csv_body(row("a")))

    clock = FakeClock()
    run = ExportRun(make_client(handler, clock), WIN)
    with caplog.at_level(logging.WARNING, logger="pipeline.sinch"):
        assert sum(p.details.num_rows for p in run) == 1
    assert run.stats.attempts == 3 and len(clock.sleeps) == 2
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    # The retry line names the export, not just the window the calls sweep also fetches.
    assert [m.split(",")[0] for m in retries] == ["HTTP 503 on export window 2026-11-02T10:00Z"] * 2


def test_503_after_the_last_attempt_fails():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    with pytest.raises(ServerError):
        list(ExportRun(make_client(handler, max_attempts=2), WIN))


def test_a_gzip_bomb_stops_at_the_body_cap():
    bomb = gzip.compress(b"," * 5_000_000)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=bomb, headers={"Content-Encoding": "gzip"})

    with pytest.raises(ResponseTooLarge):
        list(ExportRun(make_client(handler, max_body_bytes=100_000), WIN))
