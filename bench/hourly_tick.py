"""One hourly tick against warehouses of 7, 30, 90 and 360 days of history (issue 15).

Run by hand (not a test); results go to ``bench/README.md``:

    uv run --frozen python bench/hourly_tick.py                        # 7,30,90,360 days, 3 runs
    uv run --frozen python bench/hourly_tick.py --days 7,90 --runs 3 --ids random

* History is synthetic and written straight into DuckDB with SQL (``range()``, no HTTP):
  ``--calls-per-day`` calls (default 45,000) spread over the days before the tick's hours,
  for the sandbox's project and trunks, with ULID-like time-ordered ids (``--ids ulid``, as the
  sandbox serves) or random 32-hex ids (``--ids random``, opaque tokens), a compact raw JSON,
  and one reconciled ``raw.ingest_ledger`` row per hourly window. ``analytics.report_settings``
  is set to the run's zone, as an earlier run would have left it (else the first run rebuilds
  the daily tables over all history). Of the history's analytics only
  ``analytics.answer_rate_hourly`` is built (its counts, by SQL): the alert rules read it
  (trunks' first calls, the week before), so its size grows with history as in production.
* The tick is what ``hourly_ingest`` launches at 2026-11-30 00:10 UTC: ``ingest_calls`` over the
  last closed hour plus 3 h of lookback (2026-11-29 20:00 … 2026-11-30 00:00), run in-process
  as the CLI does (:func:`pipeline.jobs.run_ingest_job`: the raw/calls step, the analytics, the
  checks, the alert rules, then the refresh of hours marked stale), against the sandbox in
  its own subprocess (``--calls-per-hour``, default 1,200 per trunk at peak ≈ 45k calls/day).
  A first tick per warehouse lands the hours (not timed); each timed tick re-ingests them.
* Each tick runs in a fresh subprocess (``--worker``): it times the job alone (``job_s``) and
  reports its own peak RSS (``VmHWM``, imports included) plus the largest peak of its child
  processes (the page parsers). ``--runs`` ticks per size, interleaved over the sizes; the
  table shows medians and the ratio of each size to the smallest.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sandbox_process import sandbox_subprocess

#: The tick's hours: the last closed hour before Wednesday 2026-11-25 14:10 UTC and 3 h of
#: lookback (busy weekday hours of the sandbox).
TICK_START = datetime(2026, 11, 25, 10, tzinfo=UTC)
TICK_END = datetime(2026, 11, 25, 14, tzinfo=UTC)
#: Step keys of the raw/calls checks (``raw__calls_<check>``).
CHECK_STEPS = (
    "unique_call_ids",
    "create_time_in_window",
    "ledger_reconciles",
    "no_negative_durations",
    "no_calls_over_24_hours",
    "no_rejected_records",
)
REPORT_TZ = "UTC"

#: Crockford base32, as ULIDs use it.
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid_sql(ms: str, rand: str) -> str:
    """SQL of a 26-character ULID-like id: 10 base32 chars of ``ms``, 16 of the ``rand`` hex."""
    chars = [
        f"substr('{CROCKFORD}', ((({ms}) >> {45 - 5 * k}) & 31)::INT + 1, 1)" for k in range(10)
    ]
    return " || ".join(chars) + f" || upper(substr({rand}, 1, 16))"


HISTORY_SQL = """
INSERT INTO raw.calls
SELECT
    call_id, create_time, answer_time, end_time, direction, call_result,
    from_number, to_number, from_number, to_number, trunk_id, $project,
    duration_seconds, billing_duration_seconds,
    0.010000, 'EUR', round(0.01 * billing_duration_seconds / 60.0, 4), 'EUR',
    '{{"callId":"' || call_id || '","createTime":"' || strftime(create_time, '%Y-%m-%dT%H:%M:%SZ')
        || '","direction":"' || direction || '","callResult":"' || call_result
        || '","from":"' || from_number || '","to":"' || to_number || '","trunkId":"' || trunk_id
        || '","durationSeconds":' || duration_seconds || '}}',
    date_trunc('hour', create_time), date_trunc('hour', create_time) + INTERVAL 1 HOUR,
    date_trunc('hour', create_time) + INTERVAL 1 HOUR
FROM (
    SELECT *,
        {call_id} AS call_id,
        CASE WHEN answered THEN create_time + to_seconds(ring) END AS answer_time,
        create_time + to_seconds(ring + CASE WHEN answered THEN talk ELSE 0 END) AS end_time,
        CASE WHEN answered THEN talk ELSE 0 END + ring AS duration_seconds,
        CASE WHEN answered THEN ceil(talk / 6.0)::BIGINT * 6 ELSE 0 END AS billing_duration_seconds
    FROM (
        SELECT
            i,
            $first + to_microseconds((i * ($span_us / $n))::BIGINT) AS create_time,
            hash(i, 1) % 100 < 70 AS answered,
            CASE WHEN hash(i, 1) % 100 < 70 THEN 'COMPLETED'
                 WHEN hash(i, 1) % 100 < 85 THEN 'NO_ANSWER'
                 WHEN hash(i, 1) % 100 < 95 THEN 'CANCEL' ELSE 'BUSY' END AS call_result,
            CASE WHEN hash(i, 2) % 2 = 0 THEN 'INBOUND' ELSE 'OUTBOUND' END AS direction,
            (3 + hash(i, 3) % 20)::BIGINT AS ring,
            (5 + hash(i, 4) % 600)::BIGINT AS talk,
            '+45' || (20000000 + hash(i, 5) % 9999999)::VARCHAR AS from_number,
            '+44' || (7000000000 + hash(i, 6) % 999999999)::VARCHAR AS to_number,
            list_extract($trunks, (hash(i, 7) % len($trunks))::INT + 1) AS trunk_id,
            md5(i::VARCHAR || $seed) AS rand
        FROM range($n) AS r(i)
    )
)
"""

LEDGER_SQL = """
INSERT INTO raw.ingest_ledger BY NAME
SELECT
    window_start, window_end, window_end AS fetched_at, 'bench-history' AS run_id,
    1 AS sweeps, (count(*) + 999) // 1000 AS pages, count(*) AS records, 0 AS rejected,
    0 AS outside_window, count(*) AS api_total_items, (count(*) + 999) // 1000 AS attempts,
    0.5 AS seconds, TRUE AS settled, TRUE AS reconciled, 1 AS sub_windows, 0 AS shortfall,
    0 AS moved_in, $project AS project_id
FROM raw.calls
GROUP BY window_start, window_end
"""

#: The history's ``analytics.answer_rate_hourly`` rows (the columns the alert rules read).
ANSWER_RATE_SQL = """
INSERT INTO analytics.answer_rate_hourly BY NAME
SELECT
    project_id, date_trunc('hour', create_time) AS hour_start, trunk_id, direction,
    count(*) AS attempts,
    count(*) FILTER (call_result = 'COMPLETED') AS answered,
    count(*) FILTER (call_result = 'BUSY') AS busy,
    count(*) FILTER (call_result = 'NO_ANSWER') AS no_answer,
    count(*) FILTER (call_result = 'CANCEL') AS cancel,
    0 AS failed, 0 AS other, 0 AS answer_time_mismatch, count(*) AS ner_numerator,
    answered / attempts AS asr, 1.0 AS ner_proxy
FROM raw.calls
GROUP BY ALL
"""


def build(db: Path, days: int, calls_per_day: int, ids: str) -> dict:
    """Write ``days`` of synthetic history before the tick's hours into a new file ``db``."""
    import duckdb

    from pipeline.sandbox.settings import DEFAULT_PROJECT_ID
    from pipeline.sandbox.traffic import TRUNKS
    from pipeline.warehouse.connection import connect

    first = TICK_START - timedelta(days=days)
    n = calls_per_day * days
    ms = "epoch_ms(create_time)"
    call_id = ulid_sql(ms, "rand") if ids == "ulid" else "upper(rand)"
    params = {
        "project": DEFAULT_PROJECT_ID,
        "first": first,
        "span_us": days * 86_400 * 1_000_000,
        "n": n,
        "trunks": [t.id for t in TRUNKS],
        "seed": ids,
    }
    t0 = time.perf_counter()
    with connect(db) as con:
        con.execute("SET memory_limit = '4GB'")
        con.execute(HISTORY_SQL.format(call_id=call_id), params)
        con.execute(LEDGER_SQL, {"project": DEFAULT_PROJECT_ID})
        con.execute(ANSWER_RATE_SQL)
        con.execute(
            "INSERT INTO analytics.report_settings (report_tz, project_id) VALUES (?, ?)",
            [REPORT_TZ, DEFAULT_PROJECT_ID],
        )
        con.execute("CHECKPOINT")
        rows = con.execute("SELECT count(*) FROM raw.calls").fetchone()
    assert isinstance(rows, tuple)
    del duckdb
    return {"rows": rows[0], "build_s": time.perf_counter() - t0, "mb": db.stat().st_size / 2**20}


def tick(db: Path, base: str) -> dict:
    """Run the hourly tick's job in this process; time it, report this process's peak RSS.

    Also the seconds of the raw/calls checks' steps and of the other steps, from the run's
    step stats.
    """
    import dagster as dg
    from rich.console import Console

    from pipeline.defs.resources import SinchCallsResource
    from pipeline.jobs import run_ingest_job
    from pipeline.sandbox.settings import DEFAULT_KEY_ID, DEFAULT_KEY_SECRET, DEFAULT_PROJECT_ID

    sinch = SinchCallsResource(
        project_id=DEFAULT_PROJECT_ID,
        key_id=DEFAULT_KEY_ID,
        key_secret=DEFAULT_KEY_SECRET,
        api_url=base,
        auth_url=base,
    )
    steps: dict[str, float] = {}
    with Path(os.devnull).open("w") as sink, dg.DagsterInstance.ephemeral() as instance:
        console = Console(file=sink)
        t0 = time.perf_counter()
        ok = run_ingest_job(
            TICK_START,
            TICK_END,
            db_path=db,
            report_tz=REPORT_TZ,
            console=console,
            sinch=sinch,
            instance=instance,
            verbose=False,
        )
        seconds = time.perf_counter() - t0
        for run in instance.get_runs():
            for stat in instance.get_run_step_stats(run.run_id):
                if stat.start_time and stat.end_time:
                    key = stat.step_key
                    steps[key] = steps.get(key, 0.0) + stat.end_time - stat.start_time
    checks = sum(v for k, v in steps.items() if k.removeprefix("raw__calls_") in CHECK_STEPS)
    hwm = next(
        int(line.split()[1]) / 1024
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("VmHWM:")
    )
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "ok": ok,
        "job_s": seconds,
        "checks_s": checks,
        "raw_s": steps.get("raw__calls", 0.0),
        "steps": steps,
        "hwm_mb": hwm,
        "child_mb": children,
    }


def audit(db: Path) -> dict:
    """Every raw/calls check over the whole file (``pipeline audit``): what a run's checks
    cost before they were scoped to its hours. Writer's memory limit (512MB)."""
    from pipeline.warehouse.backend import DuckDBWarehouse
    from pipeline.warehouse.checks import run_checks

    t0 = time.perf_counter()
    outcomes = run_checks(DuckDBWarehouse(db), memory_limit="512MB")
    seconds = time.perf_counter() - t0
    hwm = next(
        int(line.split()[1]) / 1024
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("VmHWM:")
    )
    return {
        "audit_s": seconds,
        "hwm_mb": hwm,
        "failed": [o.spec.name for o in outcomes if not o.passed],
    }


def worker(args: list[str]) -> dict:
    """Run ``--worker build|tick`` in a fresh subprocess; its JSON result, wall time added."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", *args],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
        env={**os.environ, "CALLS_PARTITIONS_START": "2025-01-01-00:00"},
    )
    if proc.returncode != 0:
        raise SystemExit(f"worker {args} failed ({proc.returncode})")
    result: dict = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - t0
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", default="7,30,90,360")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--calls-per-day", type=int, default=45_000)
    ap.add_argument("--calls-per-hour", type=float, default=1_200.0, help="sandbox, per trunk")
    ap.add_argument("--ids", choices=("ulid", "random"), default="ulid")
    ap.add_argument("--dir", type=Path, help="keep the warehouses here (default: a temp dir)")
    ap.add_argument("--audit", action="store_true", help="also time pipeline audit per size")
    ap.add_argument("--worker", nargs="+")
    args = ap.parse_args()
    if args.worker:
        kind, db, *rest = args.worker
        if kind == "build":
            result = build(Path(db), int(rest[0]), int(rest[1]), rest[2])
        elif kind == "audit":
            result = audit(Path(db))
        else:
            result = tick(Path(db), rest[0])
        print(json.dumps(result))
        return

    sizes = [int(d) for d in args.days.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-tick-") as tmp:
        root = args.dir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        dbs = {d: root / f"history-{d}d-{args.ids}.duckdb" for d in sizes}
        for days, db in dbs.items():
            if not db.exists():
                r = worker(["build", str(db), str(days), str(args.calls_per_day), args.ids])
                print(
                    f"built {days:>3} days: {r['rows']:,} calls, {r['mb']:,.0f} MB in "
                    f"{r['build_s']:.0f} s",
                    flush=True,
                )
        results: dict[int, list[dict]] = {d: [] for d in sizes}
        with sandbox_subprocess("--calls-per-hour", str(args.calls_per_hour)) as base:
            for days, db in dbs.items():
                r = worker(["tick", str(db), base])
                print(f"first tick {days:>3} days: {r['job_s']:.2f} s (not counted)", flush=True)
            for run in range(args.runs):
                for days, db in dbs.items():
                    r = worker(["tick", str(db), base])
                    r["peak_mb"] = r["hwm_mb"] + r["child_mb"]
                    if args.audit:
                        a = worker(["audit", str(db)])
                        r["audit_s"], r["audit_mb"] = a["audit_s"], a["hwm_mb"]
                        print(
                            f"  audit {days:>3} days: {a['audit_s']:.2f} s, VmHWM "
                            f"{a['hwm_mb']:.0f} MB, failed: {a['failed']}",
                            flush=True,
                        )
                    results[days].append(r)
                    print(
                        f"run {run + 1} {days:>3} days: job {r['job_s']:6.2f} s (raw/calls "
                        f"{r['raw_s']:.2f} s, its checks {r['checks_s']:.2f} s), process "
                        f"{r['wall_s']:6.2f} s, peak RSS {r['peak_mb']:7.1f} MB "
                        f"(VmHWM {r['hwm_mb']:.1f} + children {r['child_mb']:.1f}), "
                        f"ok={r['ok']}",
                        flush=True,
                    )
    base_days = sizes[0]
    med = {
        d: {
            k: statistics.median(r[k] for r in rs)
            for k in ("job_s", "raw_s", "checks_s", "wall_s", "peak_mb")
        }
        for d, rs in results.items()
    }
    print(
        f"\n| history | job s (median) | × {base_days} d | raw/calls step s | its 5 checks s "
        f"| process s | peak RSS MB | × {base_days} d |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for d, m in med.items():
        print(
            f"| {d} days | {m['job_s']:.2f} | {m['job_s'] / med[base_days]['job_s']:.2f} | "
            f"{m['raw_s']:.2f} | {m['checks_s']:.2f} | {m['wall_s']:.2f} | {m['peak_mb']:.0f} | "
            f"{m['peak_mb'] / med[base_days]['peak_mb']:.2f} |"
        )
    # the steps whose median moved most between the smallest and the largest history
    last = sizes[-1]
    names = {k for r in results[base_days] + results[last] for k in r["steps"]}
    step_med = {
        d: {k: statistics.median(r["steps"].get(k, 0.0) for r in results[d]) for k in names}
        for d in (base_days, last)
    }
    moved = sorted(names, key=lambda k: step_med[base_days][k] - step_med[last][k])[:6]
    print(f"\nsteps (median s): {base_days} d → {last} d")
    for k in moved:
        print(f"  {k:45s} {step_med[base_days][k]:6.2f} → {step_med[last][k]:6.2f}")
    if args.audit:
        for d, rs in results.items():
            audits = [r["audit_s"] for r in rs]
            peaks = [r["audit_mb"] for r in rs]
            print(
                f"pipeline audit, {d} days: median {statistics.median(audits):.2f} s, "
                f"VmHWM {statistics.median(peaks):.0f} MB"
            )


if __name__ == "__main__":
    main()
