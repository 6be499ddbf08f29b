"""Per-page parse cost: vectorised ``parse_page`` vs the per-record parser vs the floor build.

Run by hand (not a test); results go to ``bench/README.md`` ("Ingest floor (issue 15)"):

    uv run python bench/parse_page.py            # 4 busy sandbox hours, 5 rounds

Same in-process sandbox pages (``sandbox_pages.page_bodies``, 5 % format variants), already
decoded; CPU time (``process_time``) per 1000-call page, median of the rounds, one process:

* ``per-record``: :func:`pipeline.sinch.pages.parse_page_per_record` (``parse_call`` each);
* ``vectorised``: :func:`pipeline.sinch.pages.parse_page` (what the ingestion runs);
* ``typing only``: :func:`pipeline.sinch.columnar.type_page` (no ``raw``, no window cut);
* ``floor``/``floor-noraw``: ``ingest_floor``'s straightforward Polars build.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime

import orjson
from ingest_floor import _floor_frame
from sandbox_pages import page_bodies

from pipeline.sandbox.settings import SandboxSettings
from pipeline.sinch import pages
from pipeline.sinch.columnar import type_page


def main() -> None:
    settings = SandboxSettings(calls_per_hour=13000, now=lambda: datetime(2026, 12, 1, tzinfo=UTC))
    found = page_bodies(settings, datetime(2026, 11, 16, 8, tzinfo=UTC), 4)
    decoded = [(lo, hi, orjson.loads(body)["calls"]) for lo, hi, body in found]
    ways = {
        "per-record": lambda lo, hi, items: pages.parse_page_per_record(items, lo, hi),
        "vectorised": lambda lo, hi, items: pages.parse_page(items, lo, hi),
        "typing only": lambda lo, hi, items: type_page(items),
        "floor": lambda lo, hi, items: _floor_frame(items, True),
        "floor-noraw": lambda lo, hi, items: _floor_frame(items, False),
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _round in range(5):
        for name, way in ways.items():  # interleaved, round by round
            t0 = time.process_time()
            for lo, hi, items in decoded:
                way(lo, hi, items)
            times[name].append((time.process_time() - t0) / len(decoded) * 1000)
    calls = sum(len(items) for _lo, _hi, items in decoded)
    print(f"{len(decoded)} pages, {calls:,} calls; CPU ms per page, median of 5 rounds")
    base = statistics.median(times["per-record"])
    for name, got in times.items():
        ms = statistics.median(got)
        print(f"  {name:12s} {ms:6.2f} ms  ÷ per-record {ms / base:.2f}")


if __name__ == "__main__":
    main()
