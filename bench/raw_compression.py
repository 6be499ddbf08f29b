"""Writer CPU and file size of ``raw.calls.raw`` with DuckDB's default compression vs ZSTD.

Run by hand (not a test); results go to ``bench/README.md`` ("Writer: `raw` stored with ZSTD"):

    uv run python bench/raw_compression.py                 # 12 busy hours, 3 rounds

The same parsed pages (``sandbox_pages.page_bodies`` → ``parse_page_body``, built once,
untimed) are inserted into a fresh DuckDB file per measurement, one transaction per ~hour of
calls (24,000 rows, as the ingestion commits a window) with the writer's checkpoint threshold,
then checkpointed. The table has ``raw.calls``' column types; only ``raw``'s compression
differs. Reported: wall and CPU (``process_time``: DuckDB's threads included) of the inserts
and the checkpoint, the file size, and a query reading every ``raw`` text back. Modes alternate
within each round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
from sandbox_pages import page_bodies

from pipeline.sandbox.settings import SandboxSettings
from pipeline.sinch.pages import parse_page_body
from pipeline.warehouse.connection import BULK_WRITE_CHECKPOINT_THRESHOLD

DAY0 = datetime(2026, 11, 16, 8, tzinfo=UTC)
MODES = {"default": "raw JSON", "zstd": "raw JSON USING COMPRESSION zstd"}
WINDOW_ROWS = 24_000


def _duckdb_type(field: pa.Field) -> str:
    if pa.types.is_timestamp(field.type):
        return "TIMESTAMPTZ"
    if pa.types.is_decimal(field.type):
        return "DECIMAL(18, 6)"
    if pa.types.is_integer(field.type):
        return "BIGINT"
    return "VARCHAR"


def measure(table: pa.Table, raw_column: str, folder: Path) -> dict[str, float]:
    columns = ", ".join(f"{f.name} {_duckdb_type(f)}" for f in table.schema if f.name != "raw")
    path = folder / f"{time.monotonic_ns()}.duckdb"
    con = duckdb.connect(str(path))
    con.execute(f"CREATE TABLE calls ({columns}, {raw_column})")
    con.execute("SET checkpoint_threshold = ?", [BULK_WRITE_CHECKPOINT_THRESHOLD])
    wall, cpu = time.perf_counter(), time.process_time()
    for offset in range(0, table.num_rows, WINDOW_ROWS):
        con.register("window_calls", table.slice(offset, WINDOW_ROWS))
        con.execute("BEGIN TRANSACTION")
        con.execute("INSERT INTO calls SELECT * FROM window_calls")
        con.execute("COMMIT")
    con.execute("CHECKPOINT")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    read = time.perf_counter()
    con.execute("SELECT count(*), sum(length(raw)) FROM calls WHERE raw->>'callId' IS NOT NULL")
    read = time.perf_counter() - read
    con.close()
    size = path.stat().st_size / 1e6
    path.unlink()
    return {"wall_s": wall, "cpu_s": cpu, "file_mb": size, "read_s": read}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    settings = SandboxSettings(calls_per_hour=13_000.0)
    pages = page_bodies(settings, DAY0, args.hours)
    table = pa.concat_tables([parse_page_body(b, "calls", lo, hi).calls for lo, hi, b in pages])
    raw_mb = table.column("raw").nbytes / 1e6
    print(f"{table.num_rows:,} calls, raw texts {raw_mb:.0f} MB; DuckDB {duckdb.__version__}")
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(1, args.rounds + 1):
            for mode, raw_column in MODES.items():
                r = measure(table, raw_column, Path(folder))
                results[mode].append(r)
                print(
                    f"round {round_} {mode:8s} " + "  ".join(f"{k} {v:.2f}" for k, v in r.items())
                )
    print(
        "\n| raw compression | wall s | CPU s | file MB | read raw s |\n|---|---:|---:|---:|---:|"
    )
    for mode, runs in results.items():
        cells = [
            statistics.median(r[k] for r in runs) for k in ("wall_s", "cpu_s", "file_mb", "read_s")
        ]
        print(f"| {mode} | {cells[0]:.2f} | {cells[1]:.2f} | {cells[2]:.0f} | {cells[3]:.2f} |")
    print(f"(medians of {args.rounds}; {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
