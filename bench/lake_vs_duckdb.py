"""Write throughput of the two warehouse backends for the same pages: DuckDB file vs Delta lake.

Run by hand (not a test); results go to ``bench/README.md`` ("Lake vs DuckDB"):

    uv run python bench/lake_vs_duckdb.py                    # 24 hours, 3 runs per backend
    uv run python bench/lake_vs_duckdb.py --hours 48 --calls-per-hour 4000 --runs 5

* The pages are fetched ONCE from an in-process sandbox with the real client (parsed Arrow
  pages, as the ingestion stages them) and kept in memory, so HTTP and parsing are out of the
  measurement: what is timed is :meth:`IngestSession.stage_page` + ``commit_window`` for every
  hour (one project), then ``refresh_analytics`` over the hours.
* Each run writes into a fresh directory; backends are interleaved run by run, so a noisy
  neighbour hits both alike. The summary is the median of the runs and the ratio of medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.ingest.windows import hourly_windows
from pipeline.sandbox.server import run_sandbox
from pipeline.sandbox.settings import SandboxSettings
from pipeline.sinch.auth import OAuth2ClientCredentials
from pipeline.sinch.client import CallsClient
from pipeline.sinch.models import Window
from pipeline.sinch.results import Page
from pipeline.warehouse.backend import DuckDBWarehouse, Warehouse
from pipeline.warehouse.lake import LakeWarehouse
from pipeline.warehouse.ledger import WindowFetch

DAY0 = datetime(2026, 11, 16, 6, tzinfo=UTC)  # a Monday morning: busy hours


def fetch_pages(hours: int, calls_per_hour: float) -> tuple[str, list[tuple[Window, list[Page]]]]:
    """Every page of ``hours`` hourly windows, parsed, from an in-process sandbox."""
    windows = hourly_windows(DAY0, DAY0 + timedelta(hours=hours))
    settings = SandboxSettings(seed=7, calls_per_hour=calls_per_hour)
    pages: list[tuple[Window, list[Page]]] = []
    with run_sandbox(settings) as sb:
        auth = OAuth2ClientCredentials(sb.key_id, sb.key_secret, auth_url=sb.auth_url)
        with CallsClient(sb.base_url, sb.project_id, auth) as client:
            for window in windows:
                pages.append((window, list(client.sweep_window(window))))
        return sb.project_id, pages


def write_all(warehouse: Warehouse, project_id: str, pages: list[tuple[Window, list[Page]]]):
    """Stage and commit every window, then refresh the analytics; seconds of each phase."""
    started = time.perf_counter()
    with warehouse.ingest_session("bench", project_id) as session:
        for window, window_pages in pages:
            for page in window_pages:
                session.stage_page(window, page.calls, page.rejected, window.end)
            fetch = WindowFetch(
                sweeps=1, pages=len(window_pages), api_total_items=None, attempts=1, seconds=0.0
            )
            session.commit_window(window, fetch, window.end)
    landed = time.perf_counter()
    start, end = pages[0][0].start, pages[-1][0].end
    warehouse.refresh_analytics(start, end, "Europe/Copenhagen", project_id)
    return landed - started, time.perf_counter() - landed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--calls-per-hour", type=float, default=2000.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    project_id, pages = fetch_pages(args.hours, args.calls_per_hour)
    calls = sum(page.calls.num_rows for _w, window_pages in pages for page in window_pages)
    print(f"{calls:,} calls in {args.hours} hourly windows, {args.runs} runs per backend")
    results: dict[str, list[tuple[float, float]]] = {"duckdb": [], "lake": []}
    for run in range(args.runs):
        for name in results:
            with tempfile.TemporaryDirectory() as tmp:
                warehouse: Warehouse = (
                    DuckDBWarehouse(Path(tmp) / "w.duckdb")
                    if name == "duckdb"
                    else LakeWarehouse(str(Path(tmp) / "lake"))
                )
                write, refresh = write_all(warehouse, project_id, pages)
            results[name].append((write, refresh))
            print(f"run {run + 1} {name:6}: write {write:6.2f} s, analytics {refresh:6.2f} s")
            sys.stdout.flush()
    medians = {
        name: (statistics.median(w for w, _ in runs), statistics.median(r for _, r in runs))
        for name, runs in results.items()
    }
    print("\nbackend | write s (median) | calls/s | analytics s (median)")
    for name, (write, refresh) in medians.items():
        print(f"{name} | {write:.2f} | {calls / write:,.0f} | {refresh:.2f}")
    ratio_w = medians["lake"][0] / medians["duckdb"][0]
    ratio_r = medians["lake"][1] / medians["duckdb"][1]
    print(f"lake / duckdb: write {ratio_w:.2f}x, analytics {ratio_r:.2f}x")


if __name__ == "__main__":
    main()
