"""Backfill against a distant API: a week of hourly windows, 150 ms added to every request.

Run by hand (not a test); results go to ``bench/README.md``:

    uv run python bench/backfill_latency.py                        # concurrency 1, 4, 8, 16
    uv run python bench/backfill_latency.py --rate-limit 50 --concurrency 1,8,16

The sandbox runs in a subprocess (``python -m pipeline.sandbox serve --latency 0.15``, default
traffic: ~60 calls per trunk in a peak hour, so one page per window). Each measurement is
:func:`pipeline.ingest.runner.ingest_windows` into a fresh DuckDB file with a client limited to
``--rate-limit`` requests/s (the product's OAuth default is 20), fetching ``concurrency``
windows at a time. Reported: median wall time and requests/s (HTTP requests sent, the trunks
request and retries included) over ``--runs`` runs, modes interleaved.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sandbox_process import sandbox_subprocess

from pipeline.ingest.runner import ingest_windows
from pipeline.ingest.windows import hourly_windows
from pipeline.sinch.auth import OAuth2ClientCredentials
from pipeline.sinch.client import CallsClient

PROJECT_ID = "7d1e4c52-5a0f-4b8e-9a53-0c6f2b9e4a11"
START = datetime(2026, 11, 16, tzinfo=UTC)
END = START + timedelta(days=7)


def one_run(base: str, concurrency: int, rate_limit: float) -> tuple[float, int, int]:
    auth = OAuth2ClientCredentials("sandbox-key-id", "sandbox-key-secret", auth_url=base)
    windows = hourly_windows(START, END)
    with (
        tempfile.TemporaryDirectory() as tmp,
        CallsClient(base, PROJECT_ID, auth, rate_limit_per_s=rate_limit) as client,
    ):
        t0 = time.perf_counter()
        report = ingest_windows(client, Path(tmp) / "w.duckdb", windows, concurrency=concurrency)
        seconds = time.perf_counter() - t0
    return seconds, report.attempts + 1, report.records  # + the /trunks request


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--latency", type=float, default=0.15)
    ap.add_argument("--rate-limit", type=float, default=20.0)
    ap.add_argument("--concurrency", default="1,4,8,16")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    results: dict[int, list[tuple[float, int, int]]] = {c: [] for c in levels}
    with sandbox_subprocess("--latency", str(args.latency)) as base:
        one_run(base, 16, 1000.0)  # warm the sandbox's caches
        for run in range(args.runs):
            for c in levels:
                r = one_run(base, c, args.rate_limit)
                results[c].append(r)
                print(
                    f"run {run + 1} concurrency {c:2d}: {r[0]:6.2f} s, {r[1]} requests "
                    f"({r[1] / r[0]:5.1f}/s), {r[2]:,} calls",
                    flush=True,
                )

    serial = statistics.median(s for s, _, _ in results[levels[0]])
    print(
        f"\nlatency {args.latency * 1000:.0f} ms, rate limit {args.rate_limit:g} req/s, "
        f"{len(hourly_windows(START, END))} hourly windows"
    )
    print("| concurrency | median wall (s) | median requests/s | speed-up vs first |")
    print("|---:|---:|---:|---:|")
    for c in levels:
        wall = statistics.median(s for s, _, _ in results[c])
        rps = statistics.median(n / s for s, n, _ in results[c])
        print(f"| {c} | {wall:.2f} | {rps:.1f} | {serial / wall:.2f}× |")


if __name__ == "__main__":
    main()
