"""Pages decoded elsewhere (a parser process) obey the same stop rules and guards.

With a page parser, the fetching thread never decodes a page: it gets back the envelope, the
call ids and the parsed calls (:func:`pipeline.sinch.pages.decode_calls_page`). Every rule that
read the decoded items must give the same verdict on what comes back. The parser runs in this
process here (the worker pool is tested in tests/ingest/test_ingest_parsers.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
from client_fakes import call, make_client, page_json
from hostile_fakes import HostileCallsApi, calls_in_hour

from pipeline.sinch.errors import PaginationError, ResponseFormatError
from pipeline.sinch.models import Window
from pipeline.sinch.pages import decode_calls_page

H10 = datetime(2025, 4, 1, 10, tzinfo=UTC)
WIN = Window(H10, H10 + timedelta(hours=1))
PARSERS = pytest.mark.parametrize("parser", [None, decode_calls_page], ids=["thread", "decoder"])


def sweep(client, parser):
    run = client.sweep_window(WIN, page_parser=parser)
    return [r.call_id for page in run for r in page.records], run.stats


@PARSERS
@pytest.mark.parametrize("record", [call("a", "2025-04-01T10:00:00Z"), {"note": "no callId"}])
def test_a_server_ignoring_page_is_caught(parser, record) -> None:
    def handler(request: httpx.Request) -> httpx.Response:  # every page is page 1
        return page_json([record], 10, 1, 1)

    with make_client(handler, page_size=1) as client, pytest.raises(PaginationError) as exc:
        sweep(client, parser)
    assert "page 2 repeats page 1" in str(exc.value)


@PARSERS
def test_the_same_call_ids_with_a_changed_record_are_a_repeat_on_both_paths(parser) -> None:
    # A server ignoring `page` while a call is in progress: page 2 lists page 1's call again,
    # now ended. The thread path compared whole records and would have paged on (up to
    # max_pages); both paths now compare the call ids (found by the review of the decoder).
    ended = {"endTime": "2025-04-01T10:00:05Z", "durationSeconds": 5}

    def handler(request: httpx.Request) -> httpx.Response:
        n = int(request.url.params["page"])
        record = call("a", "2025-04-01T10:00:00Z", **(ended if n > 1 else {}))
        return page_json([record], 10, n, 1)

    with make_client(handler, page_size=1) as client, pytest.raises(PaginationError) as exc:
        sweep(client, parser)
    assert "page 2 repeats page 1" in str(exc.value)


@PARSERS
def test_a_page_without_calls_is_the_same_error_with_its_url(parser) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=orjson.dumps({"totalItems": 3}))

    with make_client(handler) as client, pytest.raises(ResponseFormatError) as exc:
        sweep(client, parser)
    assert "`calls` is missing; refusing to read it as an empty page" in str(exc.value)
    assert "/calls?" in exc.value.url and "page=1" in exc.value.url


@PARSERS
def test_splits_shortfalls_and_requests_are_the_same(parser) -> None:
    # Too deep (split), ties in one second (an unstable order) and a nameless record.
    calls = calls_in_hour(120, H10, per_second=3, spacing_s=20)
    calls.append({"createTime": "2025-04-01T10:30:00Z"})  # rejected: no callId
    api = HostileCallsApi(calls, max_result_window=50, window_mode="error", unstable=True)
    with make_client(api.handler, page_size=10, max_result_window=50) as client:
        ids, stats = sweep(client, parser)
    assert sorted(set(ids)) == sorted(c["callId"] for c in calls if "callId" in c)
    assert stats.reconciled and stats.splits >= 2 and stats.rejected >= 1
    assert stats.attempts == api.api_requests()


def test_the_decoder_does_not_parse_a_page_that_will_not_be_used() -> None:
    body = orjson.dumps({"calls": [call("a", "2025-04-01T10:00:00Z")], "totalItems": 20_000})
    unused = decode_calls_page(body, WIN.start, WIN.end, 10_000)
    used = decode_calls_page(body, WIN.start, WIN.end, None)
    assert unused is not None and used is not None
    assert unused.parsed is None and unused.keys == ["a"] and unused.total_items == 20_000
    assert used.parsed.calls.column("call_id").to_pylist() == ["a"]
    assert used.items is None  # only what the fetching side needs travels back
    assert decode_calls_page(b'{"calls": null}', WIN.start, WIN.end, None) is None
