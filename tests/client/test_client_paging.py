"""Paging a window: 1-based pages, stop rules, guards, drift re-sweeps, the half-open cut.

Pins docs/api-reference.md §2 and pitfalls 3, 9, 10, 22: stop on an empty page or once
``totalItems`` records were received (never on a short page alone); coerce string
``totalItems``/``pageNumber``; re-sweep when ``totalItems`` moves; a repeated page or too many
pages is an error.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from client_fakes import BASE, PROJECT, FakeCallsApi, call, make_client, page_json, qdict

from pipeline.sinch.client import DriftEvent
from pipeline.sinch.errors import ClientError, PaginationError
from pipeline.sinch.models import CallRecord, Window
from pipeline.sinch.windows import CallFilters

WIN = Window(datetime(2025, 4, 1, 10, tzinfo=UTC), datetime(2025, 4, 1, 11, tzinfo=UTC))


def ids(pages: list) -> list[str]:
    return [r.call_id for p in pages for r in p.records]


def test_several_pages_request_shape_and_records() -> None:
    api = FakeCallsApi([call(f"c{i}", f"2025-04-01T10:{i:02d}:00Z") for i in range(5)])
    with make_client(api.handler, page_size=2) as client:
        sweep = client.sweep_window(WIN, CallFilters(directions=("inbound",)))
        pages = list(sweep)
    assert ids(pages) == ["c0", "c1", "c2", "c3", "c4"]
    assert [p.number for p in pages] == [1, 2, 3]
    reqs = api.api_requests()
    assert [r.url.path for r in reqs] == [f"/v1/projects/{PROJECT}/calls"] * 3
    assert [qdict(r)["page"] for r in reqs] == ["1", "2", "3"]
    for r in reqs:
        assert r.method == "GET"
        assert r.url.host == "est.test"
        q = qdict(r)
        # one second early: a server applying the lower bound as strict `>` loses nothing
        assert q["createTime>"] == "2025-04-01T09:59:59Z"
        assert q["createTime<"] == "2025-04-01T11:00:00Z"
        assert q["size"] == "2" and q["pageSize"] == "2"  # today's key and the pre-1.5 one
        assert q["direction"] == "INBOUND"
        assert r.headers["accept"] == "application/json"
        assert b"createTime%3E=2025-04-01T09%3A59%3A59Z" in r.url.raw_path
    s = sweep.stats
    assert (s.sweeps, s.pages, s.attempts, s.records, s.distinct_records) == (1, 3, 3, 5, 5)
    assert s.total_items == 5 and s.settled and s.drift == []


def test_empty_window_is_one_request() -> None:
    api = FakeCallsApi([])
    with make_client(api.handler) as client:
        sweep = client.sweep_window(WIN)
        pages = list(sweep)
    assert len(pages) == 1 and pages[0].records == [] and pages[0].received == 0
    assert len(api.requests) == 1
    assert sweep.stats.total_items == 0 and sweep.stats.settled


def test_call_at_exactly_window_end_belongs_to_next_window() -> None:
    api = FakeCallsApi(
        [call("first", "2025-04-01T10:00:00Z"), call("edge", "2025-04-01T11:00:00Z")]
    )
    with make_client(api.handler, page_size=10) as client:
        sweep = client.sweep_window(WIN)
        assert ids(list(sweep)) == ["first"]
        nxt = Window(WIN.end, datetime(2025, 4, 1, 12, tzinfo=UTC))
        assert ids(list(client.sweep_window(nxt))) == ["edge"]
    assert sweep.stats.outside_window == 1
    assert sweep.stats.settled  # the server's inclusive total is still consistent


def test_sub_second_call_before_end_is_kept_and_fractional_end_rounds_up() -> None:
    api = FakeCallsApi(
        [
            call("late", "2025-04-01T10:59:59.500Z"),
            call("nano", "2025-04-01T10:59:59.999999999Z"),
            call("edge", "2025-04-01T11:00:00.000Z"),
        ]
    )
    with make_client(api.handler, page_size=10) as client:
        assert ids(list(client.sweep_window(WIN))) == ["late", "nano"]
        # a window ending at 10:59:59.700 must ask up to 11:00:00 (rounded up), keep 'late'
        odd = Window(WIN.start, datetime(2025, 4, 1, 10, 59, 59, 700000, tzinfo=UTC))
        assert ids(list(client.sweep_window(odd))) == ["late"]
    assert qdict(api.requests[-1])["createTime<"] == "2025-04-01T11:00:00Z"


def test_short_page_that_is_not_last_does_not_stop_the_sweep() -> None:
    pages_served = {
        1: [call("a", "2025-04-01T10:00:01Z"), call("b", "2025-04-01T10:00:02Z")],
        2: [call("c", "2025-04-01T10:00:03Z")],  # short, but totalItems says 4
        3: [call("d", "2025-04-01T10:00:04Z")],
    }
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        n = int(qdict(request)["page"])
        return page_json(pages_served.get(n, []), 4, n, 3)

    with make_client(handler, page_size=3) as client:
        sweep = client.sweep_window(WIN)
        assert ids(list(sweep)) == ["a", "b", "c", "d"]
    assert [qdict(r)["page"] for r in requests] == ["1", "2", "3"]
    assert sweep.stats.settled


def test_string_total_items_and_page_number_are_coerced() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        n = int(qdict(request)["page"])
        data = [call(f"p{n}", f"2025-04-01T10:0{n}:00Z")] if n <= 2 else []
        return page_json(data, "2", str(n), 1)

    with make_client(handler, page_size=1) as client:
        sweep = client.sweep_window(WIN)
        pages = list(sweep)
    assert ids(pages) == ["p1", "p2"] and pages[0].total_items == 2
    # Full pages never end a sweep, whatever totalItems says (an under-reported count must
    # not cut the tail): one empty page more.
    assert sweep.stats.pages == 3


def test_no_total_items_stops_on_empty_page() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        n = int(qdict(request)["page"])
        data = [call(f"p{n}", "2025-04-01T10:00:00Z")] if n <= 2 else []
        return httpx.Response(200, json={"calls": data})

    with make_client(handler, page_size=1) as client:
        sweep = client.sweep_window(WIN)
        assert ids(list(sweep)) == ["p1", "p2"]
    assert sweep.stats.pages == 3 and sweep.stats.total_items is None


def test_total_items_drift_triggers_second_sweep_and_is_reported() -> None:
    api = FakeCallsApi([call(f"c{i}", f"2025-04-01T10:0{i}:00Z") for i in range(3)])

    def hook(request: httpx.Request, n: int) -> None:
        # a new call lands after the first page of the first sweep was served
        if n == 2:
            api.calls.append(call("c3", "2025-04-01T10:03:00Z"))

    api.hook = hook
    with make_client(api.handler, page_size=2) as client:
        sweep = client.sweep_window(WIN)
        pages = list(sweep)
    s = sweep.stats
    assert s.sweeps == 2 and s.settled
    assert s.sweep_totals == [4, 4]
    assert s.drift[0] == DriftEvent(sweep=1, page=2, previous=3, current=4, kind="page")
    assert {p.sweep for p in pages} == {1, 2}
    # the re-sweep re-delivers calls: the consumer de-duplicates by call_id
    assert s.records == 8 and s.distinct_records == 4
    assert sorted(set(ids(pages))) == ["c0", "c1", "c2", "c3"]


def test_drift_that_never_settles_stops_after_max_sweeps() -> None:
    api = FakeCallsApi([call("c0", "2025-04-01T10:00:00Z"), call("c1", "2025-04-01T10:00:01Z")])
    counter = {"n": 2}

    def hook(request: httpx.Request, n: int) -> None:
        if qdict(request)["page"] == "2":  # live data: a call lands mid-sweep, every sweep
            counter["n"] += 1
            api.calls.append(call(f"c{counter['n']}", "2025-04-01T10:00:30Z"))

    api.hook = hook
    with make_client(api.handler, page_size=1, max_sweeps=3, max_pages=50) as client:
        sweep = client.sweep_window(WIN)
        list(sweep)
    assert sweep.stats.sweeps == 3 and not sweep.stats.settled
    assert sweep.stats.sweep_totals == [3, 4, 5]
    assert any(d.kind == "page" for d in sweep.stats.drift)


def test_empty_page_before_total_items_is_drift() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        n = int(qdict(request)["page"])
        data = [call("a", "2025-04-01T10:00:00Z")] if n == 1 else []
        return page_json(data, 5, n, 1)

    with make_client(handler, page_size=1, max_sweeps=2, max_slices=1) as client:
        sweep = client.sweep_window(WIN)
        list(sweep)
    assert [d.kind for d in sweep.stats.drift] == ["short", "short"]
    assert sweep.stats.sweeps == 2 and not sweep.stats.settled
    assert not sweep.stats.reconciled and sweep.stats.shortfall == 4


def test_repeated_page_raises_pagination_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:  # ignores `page`
        return page_json([call("a", "2025-04-01T10:00:00Z")], 10, 1, 1)

    with make_client(handler, page_size=1) as client, pytest.raises(PaginationError) as exc:
        list(client.sweep_window(WIN))
    assert "page 2 repeats page 1" in str(exc.value)


def test_max_pages_guard() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        n = int(qdict(request)["page"])
        return page_json([call(f"c{n}", "2025-04-01T10:00:00Z")], 1_000_000, n, 1)

    with (
        make_client(handler, page_size=1, max_pages=3) as client,
        pytest.raises(PaginationError, match="max_pages=3"),
    ):
        list(client.sweep_window(WIN))


def test_rejected_records_and_unknown_fields_are_reported_not_dropped() -> None:
    api = FakeCallsApi(
        [
            call("ok", "2025-04-01T10:00:00Z", mos=4.1),
            call("bad", "2025-04-01T10:00:01Z", durationSeconds="x"),
        ]
    )
    with make_client(api.handler, page_size=10) as client:
        sweep = client.sweep_window(WIN)
        (page,) = list(sweep)
    assert [r.call_id for r in page.records] == ["ok"]
    assert [(r.call_id, r.reason) for r in page.rejected] == [
        ("bad", "durationSeconds: not an integer: 'x'")
    ]
    assert sweep.stats.rejected == 1 and sweep.stats.unknown_fields == {"mos"}
    assert isinstance(page.records[0], CallRecord)


def test_iter_calls_deduplicates_across_sweeps() -> None:
    api = FakeCallsApi([call(f"c{i}", f"2025-04-01T10:0{i}:00Z") for i in range(3)])
    api.hook = lambda r, n: api.calls.append(call("c3", "2025-04-01T10:03:00Z")) if n == 2 else None
    with make_client(api.handler, page_size=2) as client:
        got = [r.call_id for r in client.iter_calls(WIN)]
    assert sorted(got) == ["c0", "c1", "c2", "c3"] and len(got) == 4


def test_sweep_is_lazy_and_single_use() -> None:
    api = FakeCallsApi([])
    with make_client(api.handler) as client:
        sweep = client.sweep_window(WIN)
        assert api.requests == []
        list(sweep)
        with pytest.raises(RuntimeError):
            iter(sweep)


def test_list_trunks_pages_over_trunks_key() -> None:
    trunks = [
        {"id": "01W4FFL35P4NC4K35SIPTRUNK2", "name": "Main", "callsPerSecond": 1},
        {"id": "t2", "name": "Backup", "callsPerSecond": "5", "hostName": "x"},
        {"id": "t3", "name": None},
    ]
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        n = int(qdict(request)["page"])
        return page_json(trunks[(n - 1) * 2 : n * 2], 3, n, 2, key="trunks")

    with make_client(handler, page_size=2) as client:
        got = client.list_trunks()
    assert [(t.trunk_id, t.name, t.calls_per_second) for t in got] == [
        ("01W4FFL35P4NC4K35SIPTRUNK2", "Main", 1),
        ("t2", "Backup", 5),
        ("t3", None, None),
    ]
    assert '"hostName":"x"' in got[1].raw
    assert [str(r.url) for r in requests] == [
        f"{BASE}/v1/projects/{PROJECT}/trunks?page=1&size=2&pageSize=2",
        f"{BASE}/v1/projects/{PROJECT}/trunks?page=2&size=2&pageSize=2",
    ]


def test_prefetch_off_sends_the_same_requests() -> None:
    calls = [call(f"c{i}", f"2025-04-01T10:0{i}:00Z") for i in range(5)]
    urls = []
    for prefetch in (True, False):
        api = FakeCallsApi(list(calls))
        with make_client(api.handler, page_size=2, prefetch=prefetch) as client:
            assert len(ids(list(client.sweep_window(WIN)))) == 5
        urls.append([str(r.url) for r in api.requests])
    assert urls[0] == urls[1] and len(urls[0]) == 3


def test_consumer_stopping_early_does_not_hang_and_fetches_at_most_one_extra_page() -> None:
    api = FakeCallsApi([call(f"c{i}", f"2025-04-01T10:0{i}:00Z") for i in range(9)])
    with make_client(api.handler, page_size=1) as client:
        sweep = iter(client.sweep_window(WIN))
        first = next(sweep)
        sweep.close()  # type: ignore[attr-defined]
    assert [r.call_id for r in first.records] == ["c0"]
    assert len(api.requests) <= 2


def test_error_on_prefetched_page_surfaces_in_the_consumer() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        n = int(qdict(request)["page"])
        if n == 2:
            return httpx.Response(404, text="gone")
        return page_json([call("a", "2025-04-01T10:00:00Z")], 5, n, 1)

    with make_client(handler, page_size=1) as client:
        got = []
        # a 404 is not a deep-page refusal (400/416/422): it propagates, the window fails
        with pytest.raises(ClientError, match="gone"):
            for page in client.sweep_window(WIN):
                got.append(page.number)
    assert got == [1]


def test_zero_based_page_number_is_reported_but_paging_uses_own_counter(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        n = int(qdict(request)["page"])
        data = [call(f"p{n}", "2025-04-01T10:00:00Z")] if n <= 2 else []
        return page_json(data, 2, n - 1, 1)  # server echoes 0-based numbers

    with make_client(handler, page_size=1) as client:
        assert ids(list(client.sweep_window(WIN))) == ["p1", "p2"]
    warnings = [r.getMessage() for r in caplog.records if "reported pageNumber" in r.getMessage()]
    assert warnings == [warnings[0]] and "requested page 1" in warnings[0]


def test_a_page_repeating_the_previous_pages_last_record_as_an_extra_one_skips_nothing() -> None:
    """Pages that start with the previous page's last record (an inclusive cursor) hold one
    record more than their offsets leave room for. Counted as received, the repeat made
    "received" exceed the distinct calls, so a dense slice stayed short forever and the window
    was reported unreconciled (45 calls in one second cannot be split smaller)."""
    calls = [call(f"c{i:02d}", f"2025-04-01T10:30:00.{i:03d}Z") for i in range(45)]
    api = FakeCallsApi(calls)

    def overlapping(request: httpx.Request, _n: int) -> httpx.Response | None:
        q = qdict(request)
        page, size = int(q.get("page", "1")), int(q.get("size", "100"))
        lo, hi = q["createTime>"], q["createTime<"]
        if not (lo <= "2025-04-01T10:30:00Z" <= hi) or page == 1:
            return None
        start = (page - 1) * size
        return page_json(calls[start - 1 : start + size], len(calls), page, size)

    api.hook = overlapping
    with make_client(api.handler, page_size=20) as client:
        sweep = client.sweep_window(WIN)
        pages = list(sweep)
    assert sorted(set(ids(pages))) == [c["callId"] for c in calls]
    assert sweep.stats.reconciled and sweep.stats.unreconciled == []
    assert sweep.stats.sweeps == 1  # nothing re-swept or split: no record was missed


def test_a_repeat_that_took_a_records_place_still_means_one_was_skipped() -> None:
    """The other case, an unstable order of ties: page 2 starts with page 1's last record but
    holds no extra record, so one record was skipped; it must be re-swept and found."""
    calls = [call(f"c{i:02d}", f"2025-04-01T10:30:00.{i:03d}Z") for i in range(25)]
    api = FakeCallsApi(calls)
    served = {"shuffled": 0}

    def swapped_once(request: httpx.Request, _n: int) -> httpx.Response | None:
        q = qdict(request)
        if q.get("page") != "2" or served["shuffled"]:
            return None
        served["shuffled"] += 1
        return page_json([calls[19], *calls[21:25]], len(calls), 2, 20)  # c20 skipped

    api.hook = swapped_once
    with make_client(api.handler, page_size=20) as client:
        sweep = client.sweep_window(WIN)
        pages = list(sweep)
    assert sorted(set(ids(pages))) == [c["callId"] for c in calls]
    assert sweep.stats.sweeps >= 2
