"""Analytics at scale: the Polars builders on 10 million synthetic calls vs DuckDB SQL.

Run by hand (not a test); results go to ``bench/README.md``:

    uv run python bench/analytics_scale.py                       # 10 M calls, every table
    uv run python bench/analytics_scale.py --calls 1000000 --runs 1 --tables trunk_usage_hourly
    uv run python bench/analytics_scale.py --source parquet --calls 30000000 --runs 1  # issue 15

* Synthetic calls (numpy, seeded) are written once to a parquet file with the columns of
  ``raw.calls`` the transforms read: 7 days from 2026-11-16, 10 trunks, both directions, the
  sandbox's outcome mix, lognormal conversation times (median 120 s), prices in Decimal(18, 6).
  No HTTP: this measures the transforms alone.
* Each measurement runs in a fresh subprocess (``--worker``), which loads the parquet into
  memory first (Polars frame, or a DuckDB in-memory table for SQL), then times only the build
  (``collect()`` of the lazy plan / the SQL query fetched to Arrow). Peak memory is the
  worker's own ``VmHWM`` (peak RSS, input included; ``os.wait4``'s ``ru_maxrss`` agrees but
  starts at the parent's RSS at fork, so the parent stays small); the worker also reports its
  RSS after loading, so the build's own share is the difference.
* ``--source parquet`` (issue 15): the input is never loaded. The calls are generated one
  parquet file per day (so even 100 M calls are never in memory at once), the Polars builder
  reads them with ``pl.scan_parquet`` and collects with the streaming engine, and the SQL
  reference reads them with ``read_parquet`` in a view; "after load" is then the worker's RSS
  before the build (imports only). ``--days`` spreads the calls (default 7).
* SQL references exist for ``answer_rate_hourly`` and ``trunk_usage_hourly`` (same columns;
  the worker checks they equal the Polars output before timing is reported). Other tables are
  measured in Polars only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

START = datetime(2026, 11, 16, tzinfo=UTC)
DAYS = 7
END = START + timedelta(days=DAYS)
TRUNKS = 10
REPORT_TZ = "Europe/Copenhagen"


def rss_mb(field: str = "VmRSS") -> float:
    """This process's current RSS (``VmRSS``) or peak RSS (``VmHWM``), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ------------------------------------------------------------------------------- synthetic data


def generate(
    path: Path, n: int, seed: int = 7, start: datetime | None = None, days: int | None = None
) -> None:
    """``n`` calls over ``days`` days from ``start`` (default: the module's START/DAYS)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    span_us = (DAYS if days is None else days) * 86_400 * 1_000_000
    start_us = int((START if start is None else start).timestamp() * 1_000_000)
    create = start_us + np.sort(rng.integers(0, span_us, n))
    trunk = rng.integers(0, TRUNKS, n)
    inbound = rng.random(n) < 0.5
    u = rng.random(n)
    # outcome mix (sandbox): INBOUND C .80 NA .08 CA .08 B .02 F .02; OUTBOUND .60/.18/.07/.09/.06
    res_in = np.select([u < 0.80, u < 0.88, u < 0.96, u < 0.98], [0, 1, 2, 3], 4)
    res_out = np.select([u < 0.60, u < 0.78, u < 0.85, u < 0.94], [0, 1, 2, 3], 4)
    result = np.where(inbound, res_in, res_out)
    names = np.array(["COMPLETED", "NO_ANSWER", "CANCEL", "BUSY", "FAILED"])
    answered = result == 0
    ring_us = (rng.lognormal(np.log(7.0), 0.5, n) * 1e6).astype(np.int64)
    conv_us = (np.minimum(rng.lognormal(np.log(120.0), 1.0, n), 14_400) * 1e6).astype(np.int64)
    answer = np.where(answered, create + ring_us, 0)
    end = np.where(answered, answer + conv_us, create + ring_us)
    billing = np.where(answered, np.ceil(conv_us / 6e6) * 6, 0).astype(np.int64)
    ppm = np.where(trunk % 2 == 0, 0.004, 0.012)
    price = np.round(ppm * billing / 60.0, 4)
    us = pl.Datetime("us", "UTC")
    df = pl.DataFrame(
        {
            "call_id": pl.int_range(0, n, eager=True).cast(pl.String) + f"-{seed}",
            "create_time": pl.Series(create).cast(us),
            "answer_time": pl.Series(answer).cast(us),
            "end_time": pl.Series(end).cast(us),
            "direction": np.where(inbound, "INBOUND", "OUTBOUND"),
            "call_result": names[result],
            "trunk_id": pl.Series(trunk).cast(pl.String).str.zfill(2).str.replace("^", "T"),
            "billing_duration_seconds": billing,
            "price": pl.Series(price).cast(pl.Decimal(18, 6)),
            "price_currency": pl.repeat("USD", n, eager=True),
        }
    ).with_columns(
        pl.when(pl.col("call_result") == "COMPLETED").then(pl.col("answer_time")),
    )
    df.write_parquet(path, row_group_size=1_000_000)


def trunks_frame():  # type: ignore[no-untyped-def]
    import polars as pl

    return pl.DataFrame(
        {
            "trunk_id": [f"T{i:02d}" for i in range(TRUNKS)],
            "calls_per_second": [5 + i for i in range(TRUNKS)],
        }
    )


# ----------------------------------------------------------------------------------- SQL refs

DIRECTION = (
    "CASE WHEN upper(direction) IN ('INBOUND', 'OUTBOUND') THEN upper(direction) ELSE 'UNKNOWN' END"
)

ANSWER_RATE_HOURLY_SQL = f"""
SELECT date_trunc('hour', create_time) AS hour_start,
       coalesce(trunk_id, 'UNKNOWN') AS trunk_id,
       {DIRECTION} AS direction,
       count(*) AS attempts,
       count(*) FILTER (upper(call_result) = 'COMPLETED') AS answered,
       count(*) FILTER (upper(call_result) = 'BUSY') AS busy,
       count(*) FILTER (upper(call_result) = 'NO_ANSWER') AS no_answer,
       count(*) FILTER (upper(call_result) = 'CANCEL') AS cancel,
       count(*) FILTER (upper(call_result) = 'FAILED') AS failed,
       count(*) FILTER (call_result IS NULL OR upper(call_result) NOT IN
                        ('COMPLETED', 'BUSY', 'NO_ANSWER', 'CANCEL', 'FAILED')) AS other,
       count(*) FILTER (coalesce(upper(call_result) = 'COMPLETED', false)
                        <> (answer_time IS NOT NULL)) AS answer_time_mismatch,
       attempts - failed AS ner_numerator,
       answered / attempts AS asr,
       ner_numerator / attempts AS ner_proxy
FROM calls
WHERE create_time >= $lo AND create_time < $hi
GROUP BY ALL
ORDER BY hour_start, trunk_id, direction
"""

# Same definitions as pipeline/transforms/trunk_usage.py: counts by create_time bucket;
# occupancy [create_time, end_time) clipped to each hour; exact sweep line (deltas netted per
# instant, a 0 event per hour start carries calls already up); CPS = max calls per second.
TRUNK_USAGE_HOURLY_SQL = f"""
WITH c AS (
    SELECT coalesce(trunk_id, 'UNKNOWN') AS trunk_id, {DIRECTION} AS direction,
           create_time, end_time,
           coalesce(upper(call_result) = 'COMPLETED', false) AS answered,
           CASE WHEN upper(call_result) = 'COMPLETED' THEN coalesce(greatest(
               (epoch_us(end_time) - epoch_us(answer_time)) / 1e6, 0), 0) ELSE 0 END AS conv_s,
           billing_duration_seconds,
           CASE WHEN end_time IS NOT NULL THEN greatest(end_time, create_time) END AS occ_end
    FROM calls
    WHERE create_time >= $lo - INTERVAL 24 HOUR AND create_time < $hi
),
hours AS (SELECT unnest(range($lo, $hi, INTERVAL 1 HOUR)) AS hour_start),
groups AS (SELECT DISTINCT trunk_id, direction FROM c),
counts AS (
    SELECT date_trunc('hour', create_time) AS hour_start, trunk_id, direction,
           count(*) AS attempts, count(*) FILTER (answered) AS answered,
           count(*) FILTER (end_time IS NULL) AS in_progress,
           sum(conv_s) AS conversation_seconds,
           coalesce(sum(billing_duration_seconds), 0) AS billed_seconds,
           max(n) AS peak_cps
    FROM (SELECT *, count(*) OVER (PARTITION BY trunk_id, direction,
                                   date_trunc('second', create_time)) AS n
          FROM c WHERE create_time >= $lo)
    GROUP BY 1, 2, 3
),
trunk_cps AS (
    SELECT hour_start, trunk_id, max(n) AS trunk_peak_cps FROM (
        SELECT date_trunc('hour', s) AS hour_start, trunk_id, count(*) AS n
        FROM (SELECT trunk_id, date_trunc('second', create_time) AS s FROM c
              WHERE create_time >= $lo)
        GROUP BY s, trunk_id)
    GROUP BY hour_start, trunk_id
),
occ AS (
    SELECT trunk_id, direction, h AS hour_start,
           (epoch_us(least(occ_end, h + INTERVAL 1 HOUR))
            - epoch_us(greatest(create_time, h))) / 1e6 AS s
    FROM (SELECT *, unnest(range(date_trunc('hour', create_time), occ_end, INTERVAL 1 HOUR))
                    AS h
          FROM c WHERE occ_end > create_time)
    WHERE h >= $lo AND h < $hi
),
hold AS (
    SELECT hour_start, trunk_id, direction, sum(s) AS holding_seconds,
           sum(sum(s)) OVER (PARTITION BY hour_start, trunk_id) AS trunk_holding_seconds
    FROM occ GROUP BY hour_start, trunk_id, direction
),
ev AS (
    SELECT trunk_id, direction, create_time AS t, 1 AS d FROM c WHERE occ_end > create_time
    UNION ALL
    SELECT trunk_id, direction, occ_end, -1 FROM c WHERE occ_end > create_time
    UNION ALL
    SELECT g.trunk_id, g.direction, h.hour_start, 0 FROM groups g, hours h
),
lvl_dir AS (
    SELECT trunk_id, direction, t,
           sum(sum(d)) OVER (PARTITION BY trunk_id, direction ORDER BY t) AS lvl
    FROM ev GROUP BY trunk_id, direction, t
),
lvl_trunk AS (
    SELECT trunk_id, t, sum(sum(d)) OVER (PARTITION BY trunk_id ORDER BY t) AS lvl
    FROM ev GROUP BY trunk_id, t
),
peak_dir AS (
    SELECT date_trunc('hour', t) AS hour_start, trunk_id, direction,
           max(lvl) AS peak_concurrent_calls
    FROM lvl_dir WHERE t >= $lo AND t < $hi GROUP BY 1, 2, 3
),
peak_trunk AS (
    SELECT date_trunc('hour', t) AS hour_start, trunk_id,
           max(lvl) AS trunk_peak_concurrent_calls
    FROM lvl_trunk WHERE t >= $lo AND t < $hi GROUP BY 1, 2
),
keys AS (
    SELECT hour_start, trunk_id, direction FROM counts
    UNION SELECT hour_start, trunk_id, direction FROM hold
)
SELECT k.hour_start, k.trunk_id, k.direction,
       3600::BIGINT AS bucket_seconds,
       coalesce(n.attempts, 0) AS attempts, coalesce(n.answered, 0) AS answered,
       coalesce(n.in_progress, 0) AS in_progress,
       coalesce(n.conversation_seconds, 0) AS conversation_seconds,
       coalesce(n.conversation_seconds, 0) / 60 AS mou,
       coalesce(n.billed_seconds, 0)::BIGINT AS billed_seconds,
       coalesce(n.billed_seconds, 0) / 60 AS billed_minutes,
       CASE WHEN n.answered > 0 THEN n.conversation_seconds / n.answered END AS acd_seconds,
       coalesce(h.holding_seconds, 0) AS holding_seconds,
       coalesce(h.holding_seconds, 0) / 3600 AS erlangs,
       coalesce(pd.peak_concurrent_calls, 0)::BIGINT AS peak_concurrent_calls,
       coalesce(n.peak_cps, 0) AS peak_cps,
       coalesce(ht.trunk_holding_seconds, 0) AS trunk_holding_seconds,
       coalesce(ht.trunk_holding_seconds, 0) / 3600 AS trunk_erlangs,
       coalesce(pt.trunk_peak_concurrent_calls, 0)::BIGINT AS trunk_peak_concurrent_calls,
       coalesce(tc.trunk_peak_cps, 0) AS trunk_peak_cps,
       l.cps_limit::BIGINT AS cps_limit,
       coalesce(tc.trunk_peak_cps, 0) / l.cps_limit AS cps_utilisation
FROM keys k
LEFT JOIN counts n USING (hour_start, trunk_id, direction)
LEFT JOIN hold h USING (hour_start, trunk_id, direction)
LEFT JOIN (SELECT DISTINCT hour_start, trunk_id, trunk_holding_seconds FROM hold) ht
       USING (hour_start, trunk_id)
LEFT JOIN peak_dir pd USING (hour_start, trunk_id, direction)
LEFT JOIN peak_trunk pt USING (hour_start, trunk_id)
LEFT JOIN trunk_cps tc USING (hour_start, trunk_id)
LEFT JOIN (SELECT trunk_id, max(calls_per_second) AS cps_limit FROM trunks GROUP BY 1) l
       USING (trunk_id)
ORDER BY k.hour_start, k.trunk_id, k.direction
"""

SQL = {"answer_rate_hourly": ANSWER_RATE_HOURLY_SQL, "trunk_usage_hourly": TRUNK_USAGE_HOURLY_SQL}


# ------------------------------------------------------------------------------------- worker


def build_polars(table: str, calls, trunks, days: int = DAYS, streaming: bool = False):  # type: ignore[no-untyped-def]
    from pipeline.transforms import ANALYTICS_TABLES, CallData, LocalDays, UtcHours

    spec = ANALYTICS_TABLES[table]
    first = date(2026, 11, 16)
    buckets = (
        UtcHours(START, START + timedelta(days=days))
        if spec.grain == "hour"
        else LocalDays(first, first + timedelta(days=days - 1), REPORT_TZ)
    )
    lazy = spec.builder(CallData(calls.lazy(), trunks.lazy()), buckets)
    return lazy.collect(engine="streaming") if streaming else lazy.collect()


def worker(
    table: str, engine: str, parquet: Path, check: bool, source: str = "memory", days: int = DAYS
) -> dict:
    """Build ``table`` once with ``engine``; seconds, rows, RSS after load and peak.

    ``source`` ``memory``: ``parquet`` is one file, loaded first; ``parquet``: a directory of
    files scanned lazily (``*.parquet``), never loaded.
    """
    import polars as pl

    trunks = trunks_frame()
    scan = source == "parquet"
    files = str(parquet / "*.parquet") if scan else str(parquet)
    if engine == "polars":
        calls = pl.scan_parquet(files) if scan else pl.read_parquet(files)
        loaded = rss_mb()
        t0 = time.perf_counter()
        out = build_polars(table, calls, trunks, days, streaming=scan)
        seconds = time.perf_counter() - t0
        rows = out.height
    else:
        import duckdb

        con = duckdb.connect()
        con.execute("SET TimeZone='UTC'")
        kind = "VIEW" if scan else "TABLE"
        con.execute(f"CREATE {kind} calls AS SELECT * FROM read_parquet('{files}')")
        con.register("trunks_df", trunks.to_arrow())
        con.execute("CREATE TABLE trunks AS SELECT * FROM trunks_df")
        loaded = rss_mb()
        t0 = time.perf_counter()
        hi = START + timedelta(days=days)
        result = con.sql(SQL[table], params={"lo": START, "hi": hi}).to_arrow_table()
        seconds = time.perf_counter() - t0
        rows = result.num_rows
        if check:
            expected = build_polars(table, pl.read_parquet(files), trunks, days)
            got = pl.from_arrow(result)
            assert isinstance(got, pl.DataFrame)
            # The SQL references predate the export's columns (true NER, issue 14), which are
            # 0/NULL without details: compare the columns both have, all of SQL's.
            assert set(got.columns) <= set(expected.columns), (got.columns, expected.columns)
            expected = expected.select(got.columns)
            cast = got.cast(dict(expected.schema))  # type: ignore[arg-type]
            from polars.testing import assert_frame_equal

            assert_frame_equal(cast, expected, check_exact=False, rel_tol=1e-9, abs_tol=1e-6)
    return {
        "table": table,
        "engine": engine,
        "seconds": seconds,
        "rows": rows,
        "loaded": loaded,
        "hwm": rss_mb("VmHWM"),
    }


def measure(
    table: str, engine: str, parquet: Path, check: bool, source: str = "memory", days: int = DAYS
) -> dict:
    cmd = [sys.executable, __file__, "--worker", table, "--engine", engine]
    cmd += ["--parquet", str(parquet)] + (["--check"] if check else [])
    cmd += ["--source", source, "--days", str(days)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{table}/{engine} worker failed")
    result = json.loads(out.strip().splitlines()[-1])
    # ru_maxrss of an exec'd child starts at the parent's RSS when it forked (Linux keeps the
    # pre-exec high-water mark), so the parent stays small (data generated in a subprocess)
    # and the worker's own VmHWM is the number reported; ru_maxrss is kept as a cross-check.
    result["ru_maxrss_mb"] = usage.ru_maxrss / 1024
    result["peak_mb"] = result["hwm"]
    return result


def main() -> None:
    from pipeline.transforms import ANALYTICS_TABLES

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tables", default=",".join(ANALYTICS_TABLES))
    ap.add_argument("--worker")
    ap.add_argument("--engine", default="polars")
    ap.add_argument("--parquet", type=Path)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--generate", type=Path)
    ap.add_argument("--source", choices=("memory", "parquet"), default="memory")
    ap.add_argument("--days", type=int, default=DAYS)
    ap.add_argument("--check-parquet", action="store_true", help="check SQL = Polars there too")
    args = ap.parse_args()
    if args.generate:
        if args.source == "parquet":  # one file per day, never all calls in memory
            per_day = -(-args.calls // args.days)
            args.generate.mkdir(parents=True, exist_ok=True)
            for day in range(args.days):
                n = min(per_day, args.calls - day * per_day)
                start = START + timedelta(days=day)
                generate(args.generate / f"day{day:04d}.parquet", n, 7 + day, start, 1)
        else:
            generate(args.generate, args.calls)
        return
    if args.worker:
        r = worker(args.worker, args.engine, args.parquet, args.check, args.source, args.days)
        print(json.dumps(r))
        return

    tables = args.tables.split(",")
    source, days = args.source, args.days
    with tempfile.TemporaryDirectory(prefix="bench-analytics-") as tmp:
        parquet = Path(tmp) / ("calls" if source == "parquet" else "calls.parquet")
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, __file__, "--generate", str(parquet), "--calls", str(args.calls),
             "--source", source, "--days", str(days)],
            check=True,
        )  # fmt: skip
        print(f"generated {args.calls:,} calls in {time.perf_counter() - t0:.1f} s", flush=True)
        for table in SQL:  # equality of the SQL references, once, untimed
            if table in tables and (source == "memory" or args.check_parquet):
                measure(table, "sql", parquet, True, source, days)
                print(f"{table}: DuckDB SQL reference equals the Polars output", flush=True)
        results: dict[tuple[str, str], list[dict]] = {}
        for run in range(args.runs):
            for table in tables:
                for engine in ("polars", "sql") if table in SQL else ("polars",):
                    r = measure(table, engine, parquet, False, source, days)
                    results.setdefault((table, engine), []).append(r)
                    print(
                        f"run {run + 1} {table:20s} {engine:6s} {r['seconds']:7.2f} s "
                        f"{r['rows']:>7,} rows  peak {r['peak_mb']:8,.0f} MB "
                        f"(after load {r['loaded']:,.0f} MB)",
                        flush=True,
                    )
    print("\n| table | engine | median s | median peak RSS MB | after load MB | Polars / SQL |")
    print("|---|---|---:|---:|---:|---:|")
    for (table, engine), rs in results.items():
        sec = statistics.median(r["seconds"] for r in rs)
        ratio = ""
        if engine == "polars" and (table, "sql") in results:
            ratio = f"{sec / statistics.median(r['seconds'] for r in results[(table, 'sql')]):.2f}"
        print(
            f"| {table} | {engine} | {sec:.2f} | "
            f"{statistics.median(r['peak_mb'] for r in rs):,.0f} | "
            f"{statistics.median(r['loaded'] for r in rs):,.0f} | {ratio} |"
        )


if __name__ == "__main__":
    main()
