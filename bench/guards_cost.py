"""What the "no call lost" guards cost: requests and seconds to read one busy hour.

Run by hand (not a test); results go to ``bench/README.md`` ("Guards"):

    uv run python bench/guards_cost.py                    # 25,000 and 100,000 calls, 3 runs
    uv run python bench/guards_cost.py --calls 25000 --runs 5

For each hour size N the sandbox runs in a subprocess with ``--busy-hour-calls N`` and one of:

- ``uncapped``: no result window; the client told so (``max_result_window`` = 10**9): the
  floor, ``ceil(N/1000)`` requests (+1 empty page when N is a multiple of 1000);
- ``cap-empty`` / ``cap-error``: offsets beyond 10,000 come back empty / as 400, the client
  knows the cap (the default ``SINCH_MAX_RESULT_WINDOW``): the window is split into slices;
- ``cap-unknown``: the server caps at 10,000 (empty pages) but the client believes 10**9,
  so it learns from the list running dry;
- ``unstable``: ties in a second shuffled per request, with the 10,000 cap.

Each measurement sweeps the hour with :class:`~pipeline.sinch.client.CallsClient` (no
database) and counts the API requests (``stats.attempts``), slices, and distinct calls, which
must equal N. Reported: medians over ``--runs`` runs, modes interleaved, and the ratio of
requests to the floor.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from datetime import UTC, datetime

from sandbox_process import sandbox_subprocess

from pipeline.sinch.auth import OAuth2ClientCredentials
from pipeline.sinch.client import CallsClient
from pipeline.sinch.models import Window

PROJECT_ID = "7d1e4c52-5a0f-4b8e-9a53-0c6f2b9e4a11"
HOUR = Window(datetime(2026, 11, 18, 10, tzinfo=UTC), datetime(2026, 11, 18, 11, tzinfo=UTC))
CAP = 10_000

#: mode -> (sandbox options, the client's max_result_window)
MODES: dict[str, tuple[list[str], int]] = {
    "uncapped": ([], 10**9),
    "cap-empty": (["--max-result-window", str(CAP), "--result-window-mode", "empty"], CAP),
    "cap-error": (["--max-result-window", str(CAP), "--result-window-mode", "error"], CAP),
    "cap-unknown": (["--max-result-window", str(CAP), "--result-window-mode", "empty"], 10**9),
    "unstable": (["--max-result-window", str(CAP), "--unstable-order"], CAP),
}


def sweep_once(base: str, max_result_window: int) -> tuple[float, int, int, int]:
    """Seconds, requests, slices and distinct calls of one sweep of ``HOUR``."""
    auth = OAuth2ClientCredentials("sandbox-key-id", "sandbox-key-secret", auth_url=base)
    with CallsClient(base, PROJECT_ID, auth, max_result_window=max_result_window) as client:
        t0 = time.perf_counter()
        sweep = client.sweep_window(HOUR)
        ids: set[str] = set()
        for page in sweep:
            ids.update(page.calls.column("call_id").to_pylist())
        seconds = time.perf_counter() - t0
    if not sweep.stats.reconciled:
        raise SystemExit(f"not reconciled: {sweep.stats.unreconciled}")
    return seconds, sweep.stats.attempts, len(sweep.stats.slices), len(ids)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", default="25000,100000")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    modes = args.modes.split(",")
    print("| calls | mode | requests | floor | ratio | slices | seconds (median) | landed |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for n in (int(c) for c in args.calls.split(",")):
        floor = math.ceil(n / 1000) + (n % 1000 == 0)
        results: dict[str, list[tuple[float, int, int, int]]] = {m: [] for m in modes}
        servers = {}
        for mode in modes:  # one server per mode, all alive, so runs can interleave
            options, _ = MODES[mode]
            servers[mode] = sandbox_subprocess("--busy-hour-calls", str(n), *options)
        bases = {mode: cm.__enter__() for mode, cm in servers.items()}
        try:
            for mode in modes:  # warm the sandbox's generator cache, untimed
                sweep_once(bases[mode], MODES[mode][1])
            for _ in range(args.runs):
                for mode in modes:
                    results[mode].append(sweep_once(bases[mode], MODES[mode][1]))
        finally:
            for cm in servers.values():
                cm.__exit__(None, None, None)
        for mode in modes:
            runs = results[mode]
            requests = int(statistics.median(r[1] for r in runs))
            print(
                f"| {n:,} | {mode} | {requests} | {floor} | {requests / floor:.2f} | "
                f"{int(statistics.median(r[2] for r in runs))} | "
                f"{statistics.median(r[0] for r in runs):.2f} | "
                f"{min(r[3] for r in runs):,} |"
            )


if __name__ == "__main__":
    main()
