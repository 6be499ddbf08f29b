"""Sandbox throughput: calls served per second in pages of 1000 over loopback HTTP.

Run by hand (not a test):

    uv run python bench/sandbox_throughput.py            # server in a subprocess (default)
    uv run python bench/sandbox_throughput.py --inproc   # server thread in this process

``--live`` sweeps the last 14 days up to now instead (never cached: filtered per request).

``--generate`` measures the generator instead, in this process, no HTTP: each run builds a
fresh generator (empty caches, its own seed) and draws the same two weeks in batches of 48
hours, as the sandbox does (``TrafficGenerator.hours``: the model's calls with the trunks'
CPS and channel limits enforced), then the same two weeks through a fresh ``SandboxState``
(``_base_created``: model plus rendering to the served JSON bytes, what a first request of a
never-seen window pays).

    uv run python bench/sandbox_throughput.py --generate --runs 5

It starts the sandbox, warms a two-week historical window (first pass generates and caches
it), then times ``--runs`` full sweeps of that window with ``size=1000`` (one keep-alive
httpx client, each page's JSON parsed with orjson to count calls) and prints the median.
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import httpx
import orjson
from sandbox_process import sandbox_subprocess

WINDOW = "createTime>=2026-10-05T00:00:00Z&createTime<=2026-10-18T23:59:59Z"


def sweep(client: httpx.Client, calls_url: str, window: str = WINDOW) -> int:
    n, page = 0, 1
    while True:
        r = client.get(f"{calls_url}?{window}&size=1000&page={page}")
        r.raise_for_status()
        body = orjson.loads(r.content)
        n += len(body["calls"])
        if not body["calls"] or page * 1000 >= body["totalItems"]:
            return n
        page += 1


def _rates(label: str, calls: int, walls: list[float], cpus: list[float]) -> str:
    wall = [calls / w for w in walls]
    cpu = [calls / c for c in cpus]
    print(f"{label} runs (wall): {', '.join(f'{r:,.0f}' for r in wall)} calls/s ({calls} calls)")
    print(f"{label} runs (CPU):  {', '.join(f'{r:,.0f}' for r in cpu)} calls per CPU-second")
    return (
        f"{label} {statistics.median(wall):,.0f} calls/s wall, "
        f"{statistics.median(cpu):,.0f} per CPU-second"
    )


def generate(runs: int) -> None:
    """Generator speed, wall clock and CPU time (``time.process_time``: this process only, so
    other jobs on shared cores slow the wall figure but not the CPU one)."""
    from pipeline.sandbox.settings import SandboxSettings
    from pipeline.sandbox.state import SandboxState
    from pipeline.sandbox.traffic import BATCH_HOURS, HOUR_MS, TrafficGenerator

    start = int(datetime(2026, 10, 5, tzinfo=UTC).timestamp() * 1000)
    hours = [start + h * HOUR_MS for h in range(14 * 24)]
    walls: dict[str, list[float]] = {"model": [], "full": []}
    cpus: dict[str, list[float]] = {"model": [], "full": []}
    n = m = 0
    for run in range(runs):
        gen = TrafficGenerator(
            seed=run, calls_per_hour=None, burst_probability=0.01, variant_rate=0.05
        )
        t, c = time.perf_counter(), time.process_time()
        n = sum(
            len(block)
            for i in range(0, len(hours), BATCH_HOURS)
            for blocks in gen.hours(hours[i : i + BATCH_HOURS])
            for block in blocks.values()
        )
        walls["model"].append(time.perf_counter() - t)
        cpus["model"].append(time.process_time() - c)
        state = SandboxState(SandboxSettings(seed=run))
        t, c = time.perf_counter(), time.process_time()
        m = len(state._base_created(hours[0], hours[-1] + HOUR_MS))
        walls["full"].append(time.perf_counter() - t)
        cpus["full"].append(time.process_time() - c)
    model = _rates("model", n, walls["model"], cpus["model"])
    full = _rates("model + rendering", m, walls["full"], cpus["full"])
    print(f"median of {runs}: {model}; {full}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--inproc", action="store_true")
    ap.add_argument(
        "--live",
        action="store_true",
        help="sweep the last 14 days up to now (a live window: filtered on every request)",
    )
    ap.add_argument("--generate", action="store_true", help="time the generator, no HTTP")
    args = ap.parse_args()
    if args.generate:
        generate(args.runs)
        return
    window = WINDOW
    if args.live:
        start = datetime.now(UTC) - timedelta(days=14)
        window = f"createTime>={start:%Y-%m-%dT%H:%M:%S}Z"
    with ExitStack() as stack:
        if args.inproc:
            from pipeline.sandbox.server import run_sandbox

            sb = stack.enter_context(run_sandbox())
            base, project, auth = sb.base_url, sb.project_id, (sb.key_id, sb.key_secret)
        else:
            from pipeline.sandbox.settings import (
                DEFAULT_KEY_ID,
                DEFAULT_KEY_SECRET,
                DEFAULT_PROJECT_ID,
            )

            base = stack.enter_context(sandbox_subprocess())
            project = DEFAULT_PROJECT_ID
            auth = (DEFAULT_KEY_ID, DEFAULT_KEY_SECRET)
        client = stack.enter_context(httpx.Client(auth=auth, timeout=60))
        calls_url = f"{base}/v1/projects/{project}/calls"
        t = time.perf_counter()
        n = sweep(client, calls_url, window)
        print(f"warm-up (generation): {n} calls in {time.perf_counter() - t:.2f} s")
        rates = []
        for _ in range(args.runs):
            t = time.perf_counter()
            n = sweep(client, calls_url, window)
            rates.append(n / (time.perf_counter() - t))
        print(f"runs: {', '.join(f'{r:,.0f}' for r in rates)} calls/s")
        where = "in-process server" if args.inproc else "subprocess server"
        where += ", live window" if args.live else ", historical window"
        print(
            f"median: {statistics.median(rates):,.0f} calls/s over {n} calls, pages of 1000, "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {where}"
        )


if __name__ == "__main__":
    main()
