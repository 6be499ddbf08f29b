"""Ingestion throughput, side by side on the same sandbox data: bare sweep vs this project vs dlt.

Run by hand (not a test); results go to ``bench/README.md``:

    uv run --group bench python bench/ingest_throughput.py                 # 2 days, ~1.0 M calls
    uv run --group bench python bench/ingest_throughput.py --runs 5 --only bare,project

* The sandbox runs in its own subprocess (``python -m pipeline.sandbox serve``), so it has a
  core of its own; the first (untimed) bare sweep generates and caches every hour.
* Each measurement runs in a fresh subprocess of this script (``--worker MODE``); its peak
  RSS is the worker's own ``VmHWM`` plus the sum of its child processes' peaks
  (:class:`ChildPeaks`, sampled: the project's parser processes). The worker also prints the
  largest child's ``ru_maxrss`` (``getrusage(RUSAGE_CHILDREN)``), and the parent reaps it with
  ``os.wait4`` and prints its ``ru_maxrss``; Linux starts an exec'd child's ``ru_maxrss`` at
  its parent's RSS at fork time: dlt's only child, ``file -b <python>`` run by Python's
  ``platform`` module, shows 55-75 MB that way and is never sampled alive.
* Modes, all over the same hourly windows of ``--days`` days, pages of 1000:
  - ``bare``: httpx only, ``--concurrency`` threads each sweeping one window at a time; the body
    is downloaded but not parsed (``totalItems`` is read from the envelope's tail).
  - ``project``: :func:`pipeline.ingest.runner.ingest_windows` (HTTP → parsed records →
    DuckDB ``raw.calls``), the same fetch concurrency; ``project-c1``: one window at a time
    (on loopback the work is CPU-bound, and fewer threads contend less for the GIL).
  - ``dlt``: ``rest_api`` source → DuckDB destination: a paginator that reads ``totalItems`` and
    pages by number, incremental on ``createTime`` (``createTime>``/``createTime<`` params),
    one resource per day with ``parallelized: True``, ``append`` disposition (no merge, the
    cheapest dlt can do), parquet loader files.
* Modes are interleaved run by run, so a noisy neighbour hits all of them alike; the summary is
  the median of ``--runs`` runs per mode and the ratios of those medians.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sandbox_process import sandbox_subprocess

PROJECT_ID = "7d1e4c52-5a0f-4b8e-9a53-0c6f2b9e4a11"
KEY_ID, KEY_SECRET = "sandbox-key-id", "sandbox-key-secret"
DAY0 = datetime(2026, 11, 16, tzinfo=UTC)
TOTAL_RE = re.compile(rb'"totalItems":(\d+)')


def hours(days: int) -> list[tuple[datetime, datetime]]:
    return [(DAY0 + timedelta(hours=h), DAY0 + timedelta(hours=h + 1)) for h in range(24 * days)]


def fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def get_token(base: str) -> str:
    r = httpx.post(
        f"{base}/oauth2/token", data={"grant_type": "client_credentials"}, auth=(KEY_ID, KEY_SECRET)
    )
    r.raise_for_status()
    return r.json()["access_token"]


# ------------------------------------------------------------------------------------ workers


def worker_bare(base: str, days: int, concurrency: int, _tmp: Path) -> int:
    token = get_token(base)
    url = f"{base}/v1/projects/{PROJECT_ID}/calls"
    client = httpx.Client(
        headers={"Authorization": f"Bearer {token}"},
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        # The warming sweep generates each hour on the server: on shared, loaded cores that
        # can take longer than httpx's 5 s default.
        timeout=120.0,
    )
    lock = threading.Lock()
    counted = [0]

    def sweep(window: tuple[datetime, datetime]) -> None:
        lower, upper = window[0], window[1] - timedelta(seconds=1)  # hour, inclusive seconds
        page, received = 1, 0
        while True:
            params = [("createTime>", fmt(lower)), ("createTime<", fmt(upper))]
            params += [("page", str(page)), ("size", "1000")]
            r = client.get(url, params=params)
            r.raise_for_status()
            body = r.content
            total = int(TOTAL_RE.search(body, max(0, len(body) - 200)).group(1))
            received = min(total, page * 1000)
            if received >= total:
                break
            page += 1
        with lock:
            counted[0] += total

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(sweep, hours(days)))
    client.close()
    return counted[0]


def worker_project(base: str, days: int, concurrency: int, tmp: Path) -> int:
    from pipeline.ingest.runner import ingest_windows
    from pipeline.sinch.auth import OAuth2ClientCredentials
    from pipeline.sinch.client import CallsClient
    from pipeline.sinch.models import Window

    windows = [Window(a, b) for a, b in hours(days)]
    auth = OAuth2ClientCredentials(KEY_ID, KEY_SECRET, auth_url=base)
    with CallsClient(base, PROJECT_ID, auth, page_size=1000) as client:
        report = ingest_windows(client, tmp / "project.duckdb", windows, concurrency=concurrency)
    return report.records


def worker_dlt(base: str, days: int, concurrency: int, tmp: Path) -> int:
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    os.environ.setdefault("EXTRACT__WORKERS", str(concurrency))
    os.environ.setdefault("NORMALIZE__WORKERS", "1")
    os.environ.setdefault("DATA_WRITER__BUFFER_MAX_ITEMS", "20000")
    import dlt
    from dlt.sources.helpers.rest_client.paginators import BasePaginator
    from dlt.sources.rest_api import rest_api_source

    class TotalItemsPaginator(BasePaginator):
        """``page``/``size`` numbering; stops once ``totalItems`` records arrived (read from
        the envelope's tail, so the body is not JSON-decoded a second time)."""

        def __init__(self, page_size: int = 1000) -> None:
            super().__init__()
            self.page_size = page_size
            self.page = 1
            self.seen = 0

        def init_request(self, request) -> None:  # type: ignore[no-untyped-def]
            self.page, self.seen, self._has_next_page = 1, 0, True
            request.params = {**(request.params or {}), "page": 1, "size": self.page_size}

        def update_state(self, response, data=None) -> None:  # type: ignore[no-untyped-def]
            self.seen += len(data or [])
            body = response.content
            total = int(TOTAL_RE.search(body, max(0, len(body) - 200)).group(1))
            if not data or self.seen >= total:
                self._has_next_page = False
            else:
                self.page += 1

        def update_request(self, request) -> None:  # type: ignore[no-untyped-def]
            request.params["page"] = self.page

    resources = []
    for d in range(days):
        lo = DAY0 + timedelta(days=d)
        resources.append(
            {
                "name": f"calls_day{d}",
                "table_name": "calls",
                "primary_key": "callId",
                "write_disposition": "append",
                "parallelized": True,
                "endpoint": {
                    "path": f"v1/projects/{PROJECT_ID}/calls",
                    "data_selector": "calls",
                    "paginator": TotalItemsPaginator(1000),
                    "incremental": {
                        "start_param": "createTime>",
                        "end_param": "createTime<",
                        "cursor_path": "createTime",
                        "initial_value": fmt(lo),
                        "end_value": fmt(lo + timedelta(days=1) - timedelta(seconds=1)),
                    },
                },
            }
        )
    source = rest_api_source(
        {
            "client": {
                "base_url": base + "/",
                "auth": {"type": "bearer", "token": get_token(base)},
            },
            "resources": resources,
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="bench_calls",
        destination=dlt.destinations.duckdb(str(tmp / "dlt.duckdb")),
        dataset_name="raw",
        pipelines_dir=str(tmp / "dlt_pipelines"),
        progress="log" if os.environ.get("BENCH_DLT_PROGRESS") else None,
    )
    pipeline.run(source, loader_file_format="parquet")
    import duckdb

    with duckdb.connect(str(tmp / "dlt.duckdb"), read_only=True) as con:
        return con.execute("SELECT count(*) FROM raw.calls").fetchone()[0]


def worker_project_serial(base: str, days: int, _concurrency: int, tmp: Path) -> int:
    return worker_project(base, days, 1, tmp)


WORKERS = {
    "bare": worker_bare,
    "project": worker_project,
    "project-c1": worker_project_serial,
    "dlt": worker_dlt,
}


#: Imported before the clock starts: module import time is not ingestion time.
PRELOAD = {
    "bare": [],
    "project": ["pipeline.ingest.runner", "pipeline.sinch.client", "pipeline.sinch.auth"],
    "project-c1": ["pipeline.ingest.runner", "pipeline.sinch.client", "pipeline.sinch.auth"],
    "dlt": ["dlt", "dlt.sources.rest_api", "duckdb"],
}


def _vm_hwm_mb(pid: int | str = "self") -> float | None:
    """A process's peak RSS (``VmHWM``, MB); None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return next(
        (int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")),
        None,
    )


class ChildPeaks:
    """Every child process's peak RSS, sampled every ``interval`` s while the block runs.

    ``getrusage(RUSAGE_CHILDREN)`` only gives the *largest* child's peak; the project runs one
    parser process per CPU side by side (dlt starts none that lives), so the mode's memory
    is the worker's peak plus the *sum* of its children's (an upper bound of their peak at one
    instant). ``VmHWM`` only grows, so a child's last sample is its peak up to ``interval``
    before it exited.
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.peaks: dict[int, float] = {}
        self._interval = interval
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _children(self) -> list[int]:
        me = os.getpid()
        found = []
        for task in Path(f"/proc/{me}/task").iterdir():
            try:
                found += [int(p) for p in (task / "children").read_text().split()]
            except OSError:
                continue
        return found

    def _sample(self) -> None:
        while not self._done.wait(self._interval):
            for pid in self._children():
                peak = _vm_hwm_mb(pid)
                if peak is not None:
                    self.peaks[pid] = max(peak, self.peaks.get(pid, 0.0))

    def __enter__(self) -> ChildPeaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def run_worker(mode: str, base: str, days: int, concurrency: int) -> dict:
    import importlib

    for module in PRELOAD[mode]:
        importlib.import_module(module)
    with tempfile.TemporaryDirectory(prefix=f"bench-{mode}-") as tmp, ChildPeaks() as children:
        t0 = time.perf_counter()
        calls = WORKERS[mode](base, days, concurrency, Path(tmp))
        seconds = time.perf_counter() - t0
    # The project's parser processes (pipeline.ingest.parsers) are this worker's children,
    # reaped when the run ends: the sum of their peaks counts towards the mode's memory.
    # getrusage's largest child peak is kept as a cross-check of the sampling.
    return {
        "mode": mode,
        "calls": calls,
        "seconds": seconds,
        "hwm_mb": _vm_hwm_mb(),
        "child_mb": sum(children.peaks.values()),
        "children": len(children.peaks),
        "largest_child_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


# ------------------------------------------------------------------------------------- parent


def measure(mode: str, base: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--worker", mode, "--base", base]
    cmd += ["--days", str(args.days), "--concurrency", str(args.concurrency)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} worker failed ({proc.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    # ru_maxrss (KiB) of an exec'd child starts at the parent's RSS when it forked (Linux keeps
    # the pre-exec high-water mark), so the parent stays small (warm-up in a subprocess too)
    # and the worker's own VmHWM is the peak reported; ru_maxrss is printed as a cross-check.
    result["peak_rss_mb"] = result["hwm_mb"] + result["child_mb"]
    result["ru_maxrss_mb"] = usage.ru_maxrss / 1024
    result["calls_per_s"] = result["calls"] / result["seconds"]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--calls-per-hour", type=float, default=13_000.0)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="bare,project,project-c1,dlt")
    ap.add_argument("--worker", choices=sorted(WORKERS))
    ap.add_argument("--base")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(run_worker(args.worker, args.base, args.days, args.concurrency)))
        return

    with sandbox_subprocess("--calls-per-hour", str(args.calls_per_hour)) as base:
        t0 = time.perf_counter()
        warm = measure("bare", base, args)
        print(
            f"sandbox warmed: {warm['calls']:,} calls in {args.days} days of hourly windows "
            f"({time.perf_counter() - t0:.1f} s, generation included)",
            flush=True,
        )
        modes = args.only.split(",")
        results: dict[str, list[dict]] = {m: [] for m in modes}
        for run in range(args.runs):
            for mode in modes:
                r = measure(mode, base, args)
                results[mode].append(r)
                print(
                    f"run {run + 1} {mode:8s} {r['calls']:>10,} calls {r['seconds']:7.2f} s "
                    f"{r['calls_per_s']:>10,.0f} calls/s  peak RSS {r['peak_rss_mb']:7.1f} MB "
                    f"(VmHWM {r['hwm_mb']:.1f} + {r['children']} child processes "
                    f"{r['child_mb']:.1f}, largest {r['largest_child_mb']:.1f}; "
                    f"ru_maxrss {r['ru_maxrss_mb']:.1f})",
                    flush=True,
                )

    med = {
        m: (
            statistics.median(r["calls_per_s"] for r in rs),
            statistics.median(r["peak_rss_mb"] for r in rs),
        )
        for m, rs in results.items()
    }
    print("\n| mode | median calls/s | median peak RSS (MB) |\n|---|---:|---:|")
    for m, (cps, rss) in med.items():
        print(f"| {m} | {cps:,.0f} | {rss:,.0f} |")
    for mine in ("project", "project-c1"):
        for other in ("bare", "dlt"):
            if mine in med and other in med:
                print(f"{mine} / {other} = {med[mine][0] / med[other][0]:.2f}")


if __name__ == "__main__":
    main()
