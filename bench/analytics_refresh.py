"""Analytics refresh at scale: the real refresh path on a DuckDB file, chunked vs one read.

Run by hand (not a test); results go to ``bench/README.md`` ("Analytics with bounded memory"):

    uv run python bench/analytics_refresh.py --calls 10000000 --runs 3
    uv run python bench/analytics_refresh.py --calls 30000000 --runs 1 --modes after

* Synthetic calls (the generator of ``bench/analytics_scale.py``: 10 trunks, both directions,
  the sandbox's outcome mix, lognormal conversations) at ``--per-day`` calls a day (default
  1 M, the issue's ingest rate) from 2026-10-20 (over Copenhagen's DST change), written one
  parquet file per day, then loaded into a DuckDB warehouse file with ``INSERT INTO raw.calls
  ... FROM read_parquet(...)`` (never held in Python memory).
* Each measurement is a fresh subprocess (``--worker``) calling
  ``DuckDBWarehouse.refresh_analytics`` over the whole range (every analytics table, report
  zone Europe/Copenhagen, ``raw_changed=False``): mode ``after`` with the default chunks
  (``pipeline.warehouse.chunks.CHUNK_DAYS``), mode ``before`` with one chunk for the whole
  range (``CHUNK_DAYS`` = 10**6: the base commit's single ``.pl()`` read per table). Peak =
  the worker's ``VmHWM`` (peak RSS: Python, Polars and DuckDB's buffers), seconds = wall time
  of the refresh.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import analytics_scale  # the synthetic calls of the transforms bench

START = datetime(2026, 10, 20, tzinfo=UTC)
REPORT_TZ = "Europe/Copenhagen"
LOAD_SQL = """
INSERT INTO raw.calls BY NAME
SELECT regexp_extract(filename, 'day(\\d+)', 1) || '-' || call_id AS call_id, create_time,
       answer_time, end_time, direction, call_result, trunk_id, 'P' AS project_id,
       billing_duration_seconds, price, price_currency, '{}' AS raw,
       date_trunc('hour', create_time) AS window_start,
       date_trunc('hour', create_time) + INTERVAL 1 HOUR AS window_end,
       date_trunc('hour', create_time) + INTERVAL 1 HOUR AS fetched_at
FROM read_parquet(?, filename = true)
"""


def build(db: Path, calls: int, per_day: int) -> int:
    """Generate ``calls`` calls (``per_day`` a day) and load them into ``db``; the days."""
    from pipeline.warehouse.connection import connect

    days = -(-calls // per_day)
    pq = db.parent / "parquet"
    pq.mkdir(parents=True, exist_ok=True)
    for day in range(days):
        n = min(per_day, calls - day * per_day)
        analytics_scale.START = START + timedelta(days=day)
        analytics_scale.DAYS = 1
        analytics_scale.generate(pq / f"day{day:04d}.parquet", n, seed=7 + day)
    with connect(db) as con:
        con.execute(LOAD_SQL, [str(pq / "day*.parquet")])
        trunks = [(f"T{i:02d}", f"T{i:02d}", 5 + i, "{}", START, "P") for i in range(10)]
        con.executemany(
            "INSERT INTO raw.trunks (trunk_id, name, calls_per_second, raw, fetched_at, "
            "project_id) VALUES (?, ?, ?, ?, ?, ?)",
            trunks,
        )
    return days


def worker(db: Path, days: int, mode: str) -> dict:
    from pipeline.warehouse import chunks
    from pipeline.warehouse.backend import DuckDBWarehouse

    if mode == "before":
        chunks.CHUNK_DAYS = 10**6
    end = START + timedelta(days=days)
    t0 = time.perf_counter()
    done = DuckDBWarehouse(db).refresh_analytics(START, end, REPORT_TZ, "P", raw_changed=False)
    seconds = time.perf_counter() - t0
    rows = sum(r.rows for r in done)
    return {"mode": mode, "seconds": seconds, "rows": rows, "hwm": analytics_scale.rss_mb("VmHWM")}


def measure(db: Path, days: int, mode: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", mode, "--db", str(db), "--days", str(days)]
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=10_000_000)
    ap.add_argument("--per-day", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--modes", default="before,after")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bench-analytics-refresh"))
    ap.add_argument("--worker")
    ap.add_argument("--db", type=Path)
    ap.add_argument("--days", type=int)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.db, args.days, args.worker)))
        return
    db = args.dir / f"calls{args.calls}.duckdb"
    days = -(-args.calls // args.per_day)
    if not db.exists():
        t0 = time.perf_counter()
        build(db, args.calls, args.per_day)
        print(f"built {args.calls:,} calls in {time.perf_counter() - t0:.0f} s", flush=True)
    results: dict[str, list[dict]] = {}
    for run in range(args.runs):
        for mode in args.modes.split(","):
            r = measure(db, days, mode)
            results.setdefault(mode, []).append(r)
            print(
                f"run {run + 1} {mode:6s} {r['seconds']:7.1f} s {r['rows']:>8,} rows "
                f"peak {r['hwm']:8,.0f} MB",
                flush=True,
            )
    print(f"\n{args.calls:,} calls over {days} days")
    print("| mode | median s | median peak RSS MB | runs |")
    print("|---|---:|---:|---:|")
    for mode, rs in results.items():
        sec = statistics.median(r["seconds"] for r in rs)
        peak = statistics.median(r["hwm"] for r in rs)
        print(f"| {mode} | {sec:.1f} | {peak:,.0f} | {len(rs)} |")


if __name__ == "__main__":
    main()
