"""ingest_details: windows fetched concurrently, committed in order; 403/404 and failures.

The export is an httpx ``MockTransport``; the warehouse a real DuckDB file.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import httpx
import pytest

from pipeline.ingest.details import DetailsError, ingest_details, record_export_off
from pipeline.sinch.client import CallsClient
from pipeline.sinch.csv_rows import EXPORT_COLUMNS
from pipeline.sinch.errors import AuthError
from pipeline.sinch.models import Window
from pipeline.warehouse.backend import DuckDBWarehouse
from pipeline.warehouse.connection import connect

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


def test_every_window_lands_in_order(tmp_path):
    db = tmp_path / "w.duckdb"
    seen = []
    report = ingest_details(
        client({}), DuckDBWarehouse(db), HOURS, concurrency=3,
        progress=lambda entry, done, total: seen.append((entry.window, done, total)),
    )  # fmt: skip
    assert (report.status, report.records, report.pages) == ("landed", 8, 4)
    assert seen == [(w, i + 1, 4) for i, w in enumerate(HOURS)]
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
