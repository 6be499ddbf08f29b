"""Ingest floor (issue 15): decode + typed build + raw + DuckDB insert, no HTTP, one thread.

Run by hand (not a test); results go to ``bench/README.md`` ("Ingest floor (issue 15)"):

    uv run python bench/ingest_floor.py                       # 12 busy hours, 3 runs
    uv run python bench/ingest_floor.py --hours 4 --runs 5 --base 27d4693

* Page bodies (1000 calls, the API's envelope) are generated once, untimed, from the sandbox's
  generator in-process (``sandbox_pages.page_bodies``: default settings, 5 % format variants)
  and written to a temporary file every measurement reads.
* Each measurement is a fresh subprocess (``--worker MODE``) that times, single-threaded, every
  page from its bytes to committed rows in a DuckDB file (``memory_limit`` 512 MB and the
  writer's checkpoint threshold, as the ingestion sets them); its peak RSS is its ``VmHWM``.
* Modes:
  - ``floor``: ``orjson`` decode, ``pl.from_dicts`` with a schema (non-strict: an odd value
    becomes null, which the project may not do), timestamps/enums/E.164/money as Polars
    expressions, ``raw`` = ``orjson.dumps`` per record, one ``INSERT`` per window (no
    de-duplication, no transaction beyond the insert, no ledger).
  - ``floor-noraw``: the same with ``raw`` left as ``'{}'``.
  - ``project``: :func:`pipeline.sinch.pages.parse_page_body` +
    :class:`pipeline.warehouse.raw_calls.RawCallsWriter` (``stage_page`` per page,
    ``commit_window`` per window: replace, moves, de-dup, ledger, one transaction).
  - ``project-before``: the same code of the ``--base`` commit (``git archive`` of its
    ``pipeline/`` and ``sql/`` put first on ``PYTHONPATH``).
* Modes are interleaved run by run; the summary is the median per mode and ratios of medians.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DAY0 = datetime(2026, 11, 16, 8, tzinfo=UTC)  # a Monday morning: busy hours
MODES = ("floor", "floor-noraw", "project-before", "project")
ROOT = Path(__file__).resolve().parent.parent


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _floor_frame(items: list[dict[str, Any]], with_raw: bool) -> Any:
    """The straightforward typed build of one page (Polars, non-strict)."""
    import orjson
    import polars as pl

    money = pl.Struct({"amount": pl.Float64, "currencyCode": pl.String})
    text = ("callId", "to", "from", "direction", "answerTime", "endTime", "callResult")
    schema: dict[str, Any] = {k: pl.String for k in text}
    schema |= {"durationSeconds": pl.Int64, "billingDurationSeconds": pl.Int64}
    schema |= {"pricePerMinute": money, "price": money, "createTime": pl.String}
    schema |= {"projectId": pl.String, "trunkId": pl.String}
    df = pl.from_dicts(items, schema=schema, strict=False)
    ts = pl.Datetime("us", "UTC")
    fmt = "%Y-%m-%dT%H:%M:%S%.f%#z"
    e164 = r"^(?i:(?:sips?|tel):)?\+?([0-9]+)(?:[@;].*)?$"
    raw = (
        pl.Series([orjson.dumps(d).decode() for d in items], dtype=pl.String)
        if with_raw
        else pl.lit("{}")
    )
    return df.select(
        pl.col("callId").alias("call_id"),
        *[
            pl.col(k).str.strptime(ts, fmt, strict=False).alias(n)
            for k, n in (
                ("createTime", "create_time"),
                ("answerTime", "answer_time"),
                ("endTime", "end_time"),
            )
        ],
        pl.col("direction").str.to_uppercase(),
        pl.col("callResult").str.to_uppercase().alias("call_result"),
        pl.col("from").alias("from_number"),
        pl.col("to").alias("to_number"),
        (pl.lit("+") + pl.col("from").str.extract(e164, 1)).alias("from_e164"),
        (pl.lit("+") + pl.col("to").str.extract(e164, 1)).alias("to_e164"),
        pl.col("trunkId").alias("trunk_id"),
        pl.col("projectId").alias("project_id"),
        pl.col("durationSeconds").alias("duration_seconds"),
        pl.col("billingDurationSeconds").alias("billing_duration_seconds"),
        *[
            e
            for k, n in (("pricePerMinute", "price_per_minute"), ("price", "price"))
            for e in (
                pl.col(k).struct.field("amount").cast(pl.Decimal(18, 6)).alias(n),
                pl.col(k).struct.field("currencyCode").alias(f"{n}_currency"),
            )
        ],
        raw.alias("raw"),
    ).to_arrow()


def worker(mode: str, pages_path: Path, db: Path) -> None:
    """Time one mode over every page; print ``{"calls", "seconds", "peak_mb", "code"}``."""
    import orjson
    import pyarrow as pa

    import pipeline
    from pipeline.sinch.models import Window
    from pipeline.sinch.pages import parse_page_body
    from pipeline.warehouse.connection import open_connection, tune_for_bulk_writes
    from pipeline.warehouse.ledger import WindowFetch
    from pipeline.warehouse.raw_calls import RawCallsWriter

    project_id, windows = pickle.loads(pages_path.read_bytes())
    con = open_connection(db)
    tune_for_bulk_writes(con, "512MB")
    writer = RawCallsWriter(con, "bench", project_id) if mode.startswith("project") else None
    gc.freeze()  # as ingest_windows does
    calls = 0
    started = time.perf_counter()
    rejected = 0
    for lo, hi, bodies in windows:
        window = Window(lo, hi)
        if writer is not None:
            for body in bodies:
                page = parse_page_body(body, "calls", lo, hi)
                calls += page.calls.num_rows
                rejected += len(page.rejected)
                writer.stage_page(window, page.calls, page.rejected, hi)
            fetch = WindowFetch(
                sweeps=1, pages=len(bodies), api_total_items=None, attempts=1, seconds=0.0
            )
            writer.commit_window(window, fetch, hi)
            continue
        frames = [_floor_frame(orjson.loads(b)["calls"], mode == "floor") for b in bodies]
        table = pa.concat_tables(frames)
        calls += table.num_rows
        con.register("window_pages", table)
        con.execute(
            "INSERT INTO raw.calls BY NAME SELECT *, ?::TIMESTAMPTZ AS window_start, "
            "?::TIMESTAMPTZ AS window_end, ?::TIMESTAMPTZ AS fetched_at FROM window_pages",
            [lo, hi, hi],
        )
        con.unregister("window_pages")
    con.execute("CHECKPOINT")
    seconds = time.perf_counter() - started
    con.close()
    code = str(Path(pipeline.__file__).resolve().parent.parent)
    peak = _peak_mb()
    print(
        json.dumps(
            {
                "calls": calls,
                "rejected": rejected,
                "seconds": seconds,
                "peak_mb": peak,
                "code": code,
            }
        )
    )


def _base_tree(commit: str, into: Path) -> Path:
    """``pipeline/``, ``sql/`` and ``pyproject.toml`` of ``commit``, under ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "pipeline", "sql", "pyproject.toml"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hours", type=int, default=12)
    parser.add_argument("--calls-per-hour", type=float, default=13000.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--base", default="27d4693", help="commit measured as project-before")
    parser.add_argument("--worker", choices=MODES)
    parser.add_argument("--pages", type=Path)
    parser.add_argument("--db", type=Path)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.pages, args.db)
        return
    from sandbox_pages import page_bodies

    from pipeline.sandbox.settings import SandboxSettings
    from pipeline.sandbox.state import SandboxState

    settings = SandboxSettings(
        calls_per_hour=args.calls_per_hour, now=lambda: datetime(2026, 12, 1, tzinfo=UTC)
    )
    found = page_bodies(settings, DAY0, args.hours)
    windows: dict[tuple[datetime, datetime], list[bytes]] = {}
    for lo, hi, body in found:
        windows.setdefault((lo, hi), []).append(body)
    with tempfile.TemporaryDirectory(prefix="ingest-floor-") as tmp_dir:
        tmp = Path(tmp_dir)
        pages_path = tmp / "pages.pickle"
        listed = [(lo, hi, b) for (lo, hi), b in windows.items()]
        pages_path.write_bytes(pickle.dumps((SandboxState(settings).project_id, listed)))
        (tmp / "base").mkdir()
        base = _base_tree(args.base, tmp / "base")
        print(
            f"{len(found)} pages, {sum(len(b) for b in windows.values())} bodies, "
            f"{args.hours} hourly windows; base {args.base}; {args.runs} runs per mode",
            flush=True,
        )
        results: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
        for run in range(args.runs):
            for mode in MODES:
                env = dict(os.environ)
                if mode == "project-before":
                    env["PYTHONPATH"] = str(base)
                db = tmp / f"{mode}-{run}.duckdb"
                cmd = [sys.executable, __file__, "--worker", mode, "--pages", str(pages_path)]
                done = subprocess.run(
                    [*cmd, "--db", str(db)], env=env, capture_output=True, text=True
                )
                if done.returncode:
                    sys.exit(f"{mode} failed:\n{done.stderr}")
                out = done.stdout
                result = json.loads(out.strip().splitlines()[-1])
                results[mode].append(result)
                db.unlink()
                rate = result["calls"] / result["seconds"]
                print(
                    f"run {run + 1} {mode:15s} {result['calls']:>9,} calls "
                    f"{rate:>10,.0f} calls/s  peak {result['peak_mb']:.0f} MB  "
                    f"({result['code']})",
                    flush=True,
                )
    rates = {
        m: statistics.median(r["calls"] / r["seconds"] for r in rs) for m, rs in results.items()
    }
    peaks = {m: statistics.median(r["peak_mb"] for r in rs) for m, rs in results.items()}
    print(f"\nmedians of {args.runs} runs (one invocation):")
    for mode in MODES:
        print(
            f"  {mode:15s} {rates[mode]:>10,.0f} calls/s  peak RSS {peaks[mode]:.0f} MB  "
            f"÷ floor {rates[mode] / rates['floor']:.2f}"
        )
    print(
        f"  project ÷ project-before {rates['project'] / rates['project-before']:.2f}; "
        f"project ÷ floor {rates['project'] / rates['floor']:.2f}; "
        f"floor-noraw ÷ floor {rates['floor-noraw'] / rates['floor']:.2f}"
    )


if __name__ == "__main__":
    main()
