"""A long refresh built chunk by chunk writes exactly the rows of one chunk (both backends).

The refresh cuts its buckets into chunks of whole buckets (``pipeline.warehouse.chunks``) so
its memory follows the chunk, not the range. Ten days over Copenhagen's DST change (2026-10-25,
a 25-hour day), with calls crossing chunk edges and midnights, and calls up for 20 hours
(occupancy reaching into the next chunk through its lookback): one-day chunks and one chunk
give identical tables, and no read of the chunked run spans more than one chunk and its
lookback. The time-zone rebuild over all history goes through the same chunks.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from pipeline.sinch.models import CallRecord, Window
from pipeline.transforms import ANALYTICS_TABLES
from pipeline.transforms.buckets import LocalDays, UtcHours
from pipeline.warehouse import analytics, chunks
from pipeline.warehouse.chunks import bucket_chunks
from tests.warehouse.warehouse_kit import BACKENDS, at, commit_via, make_call, rows_of

TZ = "Europe/Copenhagen"
START = at("2026-10-20 00:00")
END = START + timedelta(days=10)
#: The tables these calls fill (no details, emergency numbers or ring times here).
BUILT = ["answer_rate_hourly", "answer_rate_daily", "direction_mix_daily", "cost_hourly"]
BUILT += ["cost_daily", "trunk_usage_hourly", "trunk_usage_daily", "busy_hour_daily"]


def history() -> list[CallRecord]:
    """Calls every 97 minutes over the ten days; every 7th is up 20 h, every 5th unanswered."""
    calls = []
    for i in range(10 * 24 * 60 // 97):
        created = START + timedelta(minutes=97 * i, seconds=i % 60)
        if i % 5 == 0:
            end = None
        elif i % 7 == 0:
            end = created + timedelta(hours=20)
        else:
            end = created + timedelta(minutes=30 + i % 50)  # some cross midnight/chunk edges
        calls.append(make_call(f"C{i:04d}", created, end=end, trunk=f"T{i % 2 + 1}"))
    return calls


def tables(warehouse) -> dict[str, list[tuple]]:
    """Every analytics table's rows (ORDER BY ALL)."""
    return {
        name: rows_of(warehouse, f"SELECT * FROM analytics.{name} ORDER BY ALL")
        for name in ANALYTICS_TABLES
    }


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_chunked_refresh_equals_one_chunk(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[timedelta] = []
    read_calls = analytics._read_calls

    def spy(con, project_id, start, end):  # type: ignore[no-untyped-def]
        reads.append(end - start)
        return read_calls(con, project_id, start, end)

    monkeypatch.setattr(analytics, "_read_calls", spy)
    built = {}
    for days in (1, 1000):
        monkeypatch.setattr(chunks, "CHUNK_DAYS", days)
        warehouse = BACKENDS[backend](tmp_path / f"chunk{days}")
        commit_via(warehouse, "P", Window(START, END), history())
        if days == 1:  # first in UTC: the switch to Copenhagen rebuilds all history, chunked
            warehouse.refresh_analytics(START, END, "UTC", "P")
            reads.clear()
        warehouse.refresh_analytics(START, END, TZ, "P")
        built[days] = tables(warehouse)
        if days == 1:
            assert len(reads) > 10 * len(ANALYTICS_TABLES)  # chunked: many small reads
            assert max(reads) <= timedelta(hours=25 + 24)  # a day (DST: 25 h) + lookback
    assert all(built[1000][name] for name in BUILT)
    assert built[1] == built[1000]


def test_chunks_cover_whole_buckets() -> None:
    hours = bucket_chunks(UtcHours(START, START + timedelta(hours=50)), 1)
    assert [(c.bounds) for c in hours] == [
        (START, START + timedelta(hours=24)),
        (START + timedelta(hours=24), START + timedelta(hours=48)),
        (START + timedelta(hours=48), START + timedelta(hours=50)),
    ]
    days = LocalDays(START.date(), END.date(), TZ)
    parts = bucket_chunks(days, 3)
    assert parts[0].key_range == (START.date(), START.date() + timedelta(days=3))
    assert parts[0].bounds[0] == days.bounds[0] and parts[-1].bounds[1] == days.bounds[1]
    assert all(a.bounds[1] == b.bounds[0] for a, b in pairwise(parts))
    with pytest.raises(ValueError, match="at least one day"):
        bucket_chunks(days, 0)
