"""A long range through ``pipeline ingest``: Dagster's SQLite event log vs the batching one.

Run by hand (not a test); results go to ``bench/README.md``:

    uv run --frozen python bench/cli_range.py                    # 14 days, 3 runs per mode
    uv run --frozen python bench/cli_range.py --days 4 --runs 5

Each run is the real command in a fresh subprocess — ``pipeline ingest --start S --end E``
against the embedded sandbox (default settings), analytics and checks included — with a new
instance folder (``DAGSTER_HOME``) and a new DuckDB file. Modes alternate run by run:

* ``batching``: the folder gets the repository's ``dagster.yaml`` (no storage named), so the
  command uses :class:`pipeline.state.event_log.BatchingSqliteStorage`;
* ``dagster``: the folder's ``dagster.yaml`` names Dagster's own SQLite storage
  (``storage: sqlite:``), which the command then keeps: every event in its own transaction.

Both write the same files. The table shows wall seconds per run, medians, and the ratio of the
medians; the range ends 2026-11-15 00:00 UTC.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
END = datetime(2026, 11, 15, tzinfo=UTC)
MODES = ("batching", "dagster")


def run_once(mode: str, days: int, folder: Path) -> tuple[float, str]:
    """One ``pipeline ingest`` of ``days`` days; (wall seconds, its summary line)."""
    home = folder / f"home-{mode}"
    home.mkdir()
    if mode == "dagster":
        named = f"storage:\n  sqlite:\n    base_dir: {home}\n"
        (home / "dagster.yaml").write_text(named + (REPO / "dagster.yaml").read_text())
    start = END - timedelta(days=days)
    command = [
        sys.executable, "-m", "pipeline.cli", "ingest",
        "--start", start.strftime("%Y-%m-%dT%H"), "--end", END.strftime("%Y-%m-%dT%H"),
        "--db", str(folder / f"{mode}.duckdb"),
    ]  # fmt: skip
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    env.pop("DAGSTER_EVENT_BATCH_SIZE", None)
    began = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=folder, capture_output=True, text=True)
    took = time.perf_counter() - began
    lines = (done.stdout + done.stderr).splitlines()  # the summary goes to stderr
    summary = next((line for line in lines if line.startswith("Landed ")), "")
    if done.returncode not in (0, 1) or not summary:  # 1: a failed check (CPS) is expected
        raise SystemExit(f"{mode}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")
    return took, summary


def main() -> None:
    """Parse the options, alternate the modes, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    for run in range(args.runs):
        for mode in MODES if run % 2 == 0 else MODES[::-1]:
            with tempfile.TemporaryDirectory(prefix="cli-range-") as tmp:
                took, summary = run_once(mode, args.days, Path(tmp))
            times[mode].append(took)
            print(f"run {run + 1} {mode}: {took:.1f} s | {summary}", flush=True)
    print(f"\n{args.days} days ending {END:%Y-%m-%d}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print("| mode | " + " | ".join(f"run {i + 1}" for i in range(args.runs)) + " | median s |")
    print("|---|" + "---:|" * (args.runs + 1))
    for mode in MODES:
        cells = " | ".join(f"{t:.1f}" for t in times[mode])
        print(f"| {mode} | {cells} | **{statistics.median(times[mode]):.1f}** |")
    ratio = statistics.median(times["batching"]) / statistics.median(times["dagster"])
    print(f"\nbatching ÷ dagster (medians): {ratio:.2f}")


if __name__ == "__main__":
    main()
