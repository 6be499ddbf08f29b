"""ingest_details: windows fetched concurrently, staged page by page; 403/404 and failures.

The export is an httpx ``MockTransport``; the warehouse a real DuckDB file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import httpx
import pytest

from pipeline.ingest.details import DetailsError, ingest_details, record_export_off
from pipeline.ingest.report import hour_label
from pipeline.sinch.client import CallsClient
from pipeline.sinch.csv_rows import EXPORT_COLUMNS
from pipeline.sinch.errors import AuthError
from pipeline.sinch.export import export_page_limit
from pipeline.sinch.models import Window
from pipeline.warehouse.backend import DuckDBWarehouse
from pipeline.warehouse.connection import connect
from pipeline.warehouse.raw_call_details import DetailsWriter

HOURS = [
    Window(datetime(2026, 11, 2, h, tzinfo=UTC), datetime(2026, 11, 2, h + 1, tzinfo=UTC))
    for h in range(8, 12)
]
HEADER = ",".join(f'"{c}"' for c in EXPORT_COLUMNS)


def csv_rows(lower: str) -> bytes:
    """Two calls in the hour after ``lower`` (the request's ``createTime>``, one second early)."""
    start = datetime.fromisoformat(lower) + timedelta(seconds=1)
    lines = [HEADER]
    for minute in (5, 30):
        fields = dict.fromkeys(EXPORT_COLUMNS, "")
        when = start + timedelta(minutes=minute)
        fields |= {"Timestamp": when.isoformat(), "Call Id": f"c{when:%H%M}", "MOS": "4.1"}
        lines.append(",".join(f'"{v}"' for v in fields.values()))
    return ("\r\n".join(lines) + "\r\n").encode()


def client(statuses: dict[str, int]) -> CallsClient:
    """A client whose export answers ``statuses[hour]`` (``"08"``…) or two calls."""

    def handler(request: httpx.Request) -> httpx.Response:
        lower = dict(parse_qsl(request.url.query.decode()))["createTime>"]
        hour = (datetime.fromisoformat(lower) + timedelta(seconds=1)).strftime("%H")
        if hour in statuses:
            return httpx.Response(statuses[hour], json={"message": "no"})
        return httpx.Response(200, content=csv_rows(lower))

    return CallsClient(
        "https://est.test", "P", None, transport=httpx.MockTransport(handler),
        max_attempts=2, sleep=lambda _s: None,
    )  # fmt: skip


def ledger(db) -> list[tuple]:
    with connect(db, read_only=True) as con:
        return con.execute(
            "SELECT strftime(window_start, '%H'), status, records, note FROM raw.details_ledger "
            "ORDER BY 1"
        ).fetchall()


def test_every_window_lands(tmp_path):
    db = tmp_path / "w.duckdb"
    seen = []
    report = ingest_details(
        client({}), DuckDBWarehouse(db), HOURS, concurrency=3,
        progress=lambda entry, done, total: seen.append((entry.window, done, total)),
    )  # fmt: skip
    assert (report.status, report.records, report.pages) == ("landed", 8, 4)
    # Committed as their fetches end: every window once, the count rising to the total.
    assert [(done, total) for _w, done, total in seen] == [(i + 1, 4) for i in range(4)]
    assert sorted(w.start for w, _d, _t in seen) == [w.start for w in HOURS]
    assert sorted(e.window.start for e in report.committed) == [w.start for w in HOURS]
    assert [row[:3] for row in ledger(db)] == [(f"{h:02d}", "landed", 2) for h in range(8, 12)]


@pytest.mark.parametrize("status", [403, 404])
def test_a_refused_export_makes_the_rest_unavailable(tmp_path, status):
    db = tmp_path / "w.duckdb"
    report = ingest_details(client({"08": status}), DuckDBWarehouse(db), HOURS, concurrency=1)
    assert report.status == "unavailable" and report.records == 0
    rows = ledger(db)
    assert [(h, s) for h, s, _n, _note in rows] == [
        (f"{h:02d}", "unavailable") for h in range(8, 12)
    ]
    assert all(note.startswith(f"the export answered HTTP {status}") for *_, note in rows)


def test_windows_fetched_before_a_refusal_land_and_only_the_rest_are_unavailable(tmp_path):
    """One thread: 08 is fetched in full (its pages and end queued) before 09 answers 403; 08
    is committed whether or not the writer had read it by then (it was recorded unavailable
    when the writer had not)."""
    db = tmp_path / "w.duckdb"
    report = ingest_details(client({"09": 403}), DuckDBWarehouse(db), HOURS, concurrency=1)
    assert (report.status, report.records) == ("partial", 2)
    assert [(h, s, n) for h, s, n, _note in ledger(db)] == [
        ("08", "landed", 2), ("09", "unavailable", 0), ("10", "unavailable", 0),
        ("11", "unavailable", 0),
    ]  # fmt: skip


def test_a_window_failing_after_retries_is_named_and_the_others_land(tmp_path):
    db = tmp_path / "w.duckdb"
    with pytest.raises(DetailsError) as caught:
        ingest_details(client({"09": 503}), DuckDBWarehouse(db), HOURS, concurrency=2)
    assert "2026-11-02T09:00Z" in str(caught.value) and "503" in str(caught.value)
    assert [row[:2] for row in ledger(db)] == [("08", "landed"), ("10", "landed"), ("11", "landed")]


def test_401_stops_the_run(tmp_path):
    with pytest.raises(AuthError):
        ingest_details(client({"08": 401}), DuckDBWarehouse(tmp_path / "w.duckdb"), HOURS)


def test_export_off_records_every_window_without_a_request(tmp_path):
    db = tmp_path / "w.duckdb"
    report = record_export_off(DuckDBWarehouse(db), HOURS, "P", "run-1")
    assert report.status == "unavailable"
    assert {(s, note) for _h, s, _n, note in ledger(db)} == {
        ("unavailable", "CALLS_EXPORT=off: the export is not fetched")
    }


def long_export(
    long: str, size: int, asked: dict[str, int], pages: int = 0, refuse: Callable | None = None
) -> CallsClient:
    """A client whose export of hour ``long`` sends full pages of ``size`` new calls each.

    Its page ``pages`` is empty (the end); ``pages=0``: it never ends. The other hours answer
    two calls, or ``refuse(hour)`` when it returns a status. ``asked[hour]`` is the highest
    page the server has been asked for.
    """

    def handler(request: httpx.Request) -> httpx.Response:
        query = dict(parse_qsl(request.url.query.decode()))
        start = datetime.fromisoformat(query["createTime>"]) + timedelta(seconds=1)
        hour, page = start.strftime("%H"), int(query["page"])
        asked[hour] = max(asked.get(hour, 0), page)
        status = refuse(hour) if refuse is not None else None
        if status is not None:
            return httpx.Response(status, json={"message": "export not enabled"})
        if hour != long:
            return httpx.Response(200, content=csv_rows(query["createTime>"]))
        lines = [HEADER]
        for i in range(size if page != pages else 0):
            fields = dict.fromkeys(EXPORT_COLUMNS, "")
            when = start + timedelta(seconds=(page * size + i) % 3600)
            fields |= {"Timestamp": when.isoformat(), "Call Id": f"e{page}-{i}"}
            lines.append(",".join(f'"{v}"' for v in fields.values()))
        return httpx.Response(200, content=("\r\n".join(lines) + "\r\n").encode())

    return CallsClient(
        "https://est.test", "P", None, transport=httpx.MockTransport(handler),
        page_size=size, max_attempts=1, sleep=lambda _s: None,
    )  # fmt: skip


class Staging:
    """Spies on the details writer: pages staged per hour and how far the server was ahead.

    ``lags[hour]``: for each page of ``hour`` as it is staged, how many pages beyond it the
    server had already been asked for.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, asked: dict[str, int]) -> None:
        self.staged: dict[str, int] = {}
        self.lags: dict[str, list[int]] = {}
        self.discarded: list[str] = []
        self.any_staged = threading.Event()
        stage, discard = DetailsWriter.stage_page, DetailsWriter.discard_window

        def spy_stage(writer, window, details, rejected, fetched_at):
            hour = f"{window.start:%H}"
            self.staged[hour] = self.staged.get(hour, 0) + 1
            self.lags.setdefault(hour, []).append(asked[hour] - self.staged[hour])
            stage(writer, window, details, rejected, fetched_at)
            self.any_staged.set()

        def spy_discard(writer, window):
            self.discarded.append(f"{window.start:%H}")
            discard(writer, window)

        monkeypatch.setattr(DetailsWriter, "stage_page", spy_stage)
        monkeypatch.setattr(DetailsWriter, "discard_window", spy_discard)


# Each fetch thread blocks once the queue (2 × concurrency messages) is full, so when the writer
# stages page k of a window the server cannot have been asked beyond page k + 2 × concurrency
# + 1 (the queue, plus the page a blocked thread holds): memory is bounded by pages.
CONCURRENCY = 2
MOST_AHEAD = 2 * CONCURRENCY + 1


def test_a_long_window_is_staged_page_by_page_as_it_arrives(tmp_path, monkeypatch):
    db, asked = tmp_path / "w.duckdb", {}
    staging = Staging(monkeypatch, asked)
    report = ingest_details(
        long_export("09", 5, asked, pages=31), DuckDBWarehouse(db), HOURS, concurrency=CONCURRENCY
    )
    lags = staging.lags.get("09", [])
    assert lags and max(lags) <= MOST_AHEAD, f"page 1 staged once page {1 + lags[0]} was asked"
    assert (staging.staged["09"], report.records, report.status) == (31, 150 + 6, "landed")


def test_an_endless_export_is_staged_page_by_page_and_fails_alone(tmp_path, monkeypatch):
    """The server sends full pages of new calls forever: pages never pile up behind it."""
    db, asked, max_pages = tmp_path / "w.duckdb", {}, 40
    staging = Staging(monkeypatch, asked)
    with pytest.raises(DetailsError) as caught:
        ingest_details(
            long_export("09", 5, asked), DuckDBWarehouse(db), HOURS,
            concurrency=CONCURRENCY, max_pages=max_pages,
        )  # fmt: skip
    lags = staging.lags.get("09")
    assert lags, f"no page of the endless window staged before page {asked['09']} was asked"
    assert lags[0] <= MOST_AHEAD < max_pages and max(lags) <= MOST_AHEAD, lags
    assert (staging.staged["09"], asked["09"]) == (max_pages, max_pages)
    # The guard still ends the window: named, its staging discarded, the others landed.
    report = caught.value.report
    assert [hour_label(f.window) for f in report.failed] == ["2026-11-02T09:00Z"]
    assert "PaginationError" in str(caught.value) and f"max_pages={max_pages}" in str(caught.value)
    assert "09" in staging.discarded
    assert [row[:2] for row in ledger(db)] == [("08", "landed"), ("10", "landed"), ("11", "landed")]
    with connect(db, read_only=True) as con:
        hours = con.execute("SELECT DISTINCT strftime(create_time, '%H') FROM raw.call_details")
        assert sorted(h for (h,) in hours.fetchall()) == ["08", "10", "11"]


def test_an_endless_export_stops_at_a_few_times_the_pages_of_its_known_calls(tmp_path):
    """09's list counted 20 calls (4 pages of 5): its endless export is cut after 17 pages
    (4 rows a known call, plus a page), not at max_pages; the request count says so."""
    db, asked = tmp_path / "w.duckdb", {}
    limit = export_page_limit(20, 5)
    assert limit == 17 < 40
    with pytest.raises(DetailsError) as caught:
        ingest_details(
            long_export("09", 5, asked), DuckDBWarehouse(db), HOURS, concurrency=CONCURRENCY,
            max_pages=40, known_calls={HOURS[0]: 2, HOURS[1]: 20},
        )  # fmt: skip
    assert asked["09"] == limit
    error = str(caught.value)
    assert "2026-11-02T09:00Z" in error and f"max_pages={limit} " in error, error
    assert "20 known calls" in error
    assert [row[:2] for row in ledger(db)] == [("08", "landed"), ("10", "landed"), ("11", "landed")]


def test_an_export_with_more_rows_than_the_list_still_lands(tmp_path):
    """09's list counted 100 calls, its export has 150 rows (call legs, late records): the
    limit (81 pages of 5) leaves it whole."""
    db, asked = tmp_path / "w.duckdb", {}
    report = ingest_details(
        long_export("09", 5, asked, pages=31), DuckDBWarehouse(db), HOURS, concurrency=1,
        known_calls={HOURS[1]: 100},
    )  # fmt: skip
    assert (report.status, report.records, asked["09"]) == ("landed", 150 + 6, 31)


def test_a_refusal_mid_run_discards_the_staged_windows_and_stops_requests(tmp_path, monkeypatch):
    """08 is endless and staged page by page; 09 answers 403 once 08 has a page staged."""
    db, asked = tmp_path / "w.duckdb", {}
    staging = Staging(monkeypatch, asked)

    def refuse(hour: str) -> int | None:
        if hour != "09":
            return None
        assert staging.any_staged.wait(timeout=30)  # 08 is half-way through the writer
        return 403

    report = ingest_details(
        long_export("08", 5, asked, refuse=refuse), DuckDBWarehouse(db), HOURS,
        concurrency=CONCURRENCY,
    )  # fmt: skip
    assert (report.status, report.committed, report.failed) == ("unavailable", [], [])
    assert [(h, s) for h, s, _n, _note in ledger(db)] == [
        (f"{h:02d}", "unavailable") for h in range(8, 12)
    ]
    assert report.note is not None and report.note.startswith("the export answered HTTP 403")
    assert staging.discarded == ["08"] and staging.staged["08"] >= 1
    assert sorted(asked) == ["08", "09"]  # 10 and 11 never asked for
    assert asked["08"] <= staging.staged["08"] + MOST_AHEAD + 1  # at most a page more once stopped
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.call_details").fetchone() == (0,)


def test_the_error_lists_at_most_twelve_windows_then_counts_the_rest():
    """A demo whose export failed everywhere printed all 168 windows (each also logged)."""
    from pipeline.ingest.details import DetailsReport
    from pipeline.ingest.report import WindowFailure

    start = HOURS[0].start
    failed = [
        WindowFailure(Window(start + timedelta(hours=h), start + timedelta(hours=h + 1)), "503")
        for h in range(14)
    ]
    lines = str(DetailsError(DetailsReport(failed=failed))).splitlines()
    assert lines[0] == "call details of 14 window(s) not landed:"
    assert len(lines) == 1 + 12 + 1 and lines[1].endswith(": 503")
    assert lines[-1] == "  ... and 2 more (each was logged as it failed)"
    assert len(str(DetailsError(DetailsReport(failed=failed[:12]))).splitlines()) == 13
