"""Parse pages in worker processes, so parsing does not compete with HTTP and DuckDB for the GIL.

Parsing is Python work per record (``parse_call``: ~4 µs a call, plus the Arrow conversion),
and in one process it holds the GIL that the fetcher threads and the DuckDB writer also need;
measured on 2 cores, the threads then mostly waited on each other (bench/README.md). For a
backfill, :func:`page_parsers` starts worker processes that each receive a page *body* (bytes),
decode and parse it with the same :func:`~pipeline.sinch.pages.parse_page`, and send back the
Arrow table with the envelope and the call ids the stop rules need
(:func:`~pipeline.sinch.pages.decode_calls_page`), so the fetching process never decodes a
page: the result is identical, only where the work runs changes.

Small runs (the hourly schedule: a few windows) parse in the fetching threads: starting a
process costs about a second. The workers are started with ``spawn`` (safe next to threads)
and all at once, with the caller's ``__main__`` hidden, so they never re-run the caller's
script (an unguarded script, a notebook or Dagster's process all work); if they cannot start,
parsing falls back to threads with a warning. A worker imports the page parser only (pyarrow,
NumPy, orjson), not Polars or DuckDB.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import types
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from datetime import datetime

try:
    import fcntl
except ImportError:  # Windows: the pipes keep their size
    fcntl = None  # type: ignore[assignment]

from pipeline.sinch.client import PageParser
from pipeline.sinch.pages import decode_calls_page
from pipeline.sinch.paging import DecodedPage

log = logging.getLogger("pipeline.ingest")

#: Runs with at least this many windows parse in worker processes by default.
AUTO_MIN_WINDOWS = 24

#: A worker process died: every later page would fail the same way, so the run stops.
ParserCrashed = BrokenProcessPool


def auto_parse_processes(windows: int, cpus: int | None = None) -> int:
    """Worker processes for a run of ``windows`` windows.

    0 (parse in threads) for small runs or one CPU, else one per CPU, at most 4: parsing is
    the run's CPU-bound stage, and the fetching process, which never decodes a page, mostly
    waits on sockets and on DuckDB (which releases the GIL). On 2 cores two parser processes
    landed 1.2x the calls per second of one (bench/README.md, "End to end vs dlt"). Always 0 in
    a daemonic process (a run in a Celery worker's child): it may not start children.

    Args:
        windows: windows in the run.
        cpus: the CPUs to count on (default :func:`usable_cpus`).
    """
    if windows < AUTO_MIN_WINDOWS or multiprocessing.current_process().daemon:
        return 0  # the hourly tick never asks DuckDB for the CPU limit
    cpus = cpus if cpus is not None else usable_cpus()
    return 0 if cpus < 2 else min(4, cpus)


def usable_cpus() -> int:
    """The CPUs this process may keep busy: its affinity mask and a container's CPU limit.

    ``os.cpu_count()`` counts the host's CPUs: in a container limited to 2 CPUs on a 16-core
    host it says 16, and 4 parser processes would then share 2 CPUs' time (on 2 cores, three
    parser processes already landed fewer calls/s than two; bench/README.md "End to end vs dlt,
    2026-12-07, second session"). The limit is read by DuckDB, a dependency already, which sizes
    its default thread pool from the cgroup quota (and ``SLURM_CPUS_ON_NODE``); the affinity mask
    (``taskset``, ``--cpuset-cpus``) from ``os.sched_getaffinity`` where the OS has it.

    Returns:
        At least 1.
    """
    import duckdb  # here, not at the top: the worker processes import this module too

    getaffinity = getattr(os, "sched_getaffinity", None)
    cpus = len(getaffinity(0)) if getaffinity is not None else (os.cpu_count() or 1)
    with duckdb.connect() as con:  # in memory, ~20 ms: once per run
        ((threads,),) = con.execute("SELECT current_setting('threads')").fetchall()
    return max(1, min(cpus, int(threads)))


#: How often a worker checks that the ingestion that started it is still alive (seconds).
PARENT_CHECK_S = 1.0


def _start_worker(parent_pid: int) -> None:
    # The worker allocates millions of short-lived objects; scanning the imported modules'
    # objects on every full collection is wasted time (as in the ingestion's main process).
    gc.freeze()
    # Ctrl-C goes to the whole process group: the ingestion handles it and stops the workers;
    # a worker that took it itself would print a traceback from the middle of its queue read.
    # The worker started with SIGINT blocked (_spawning_workers): a Ctrl-C while it imported
    # waits, pending, and is dropped here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()


def _exit_with_parent(parent_pid: int) -> None:
    """End this worker once its parent is gone (``kill -9`` of a backfill).

    The pool's queues do not tell a worker that its parent died (the worker holds both ends
    of a pipe), so without this it would wait forever, holding its memory.
    """
    while os.getppid() == parent_pid:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def _ready() -> bool:
    return True


@contextmanager
def _spawning_workers() -> Iterator[None]:
    """The state the workers are spawned in, restored afterwards.

    ``sys.modules["__main__"]`` is an empty module (spawn would otherwise import the caller's
    script again in each worker, running an unguarded script twice; the workers only need this
    package), and SIGINT is blocked in the spawning thread: a new process inherits the mask,
    so a Ctrl-C while a worker imports (before its initializer ignores SIGINT) no longer
    prints a ``KeyboardInterrupt`` traceback from that worker. This
    process still gets the Ctrl-C: a blocked signal stays pending until the mask is restored
    (or another thread takes it).
    """
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


@contextmanager
def page_parsers(processes: int) -> Iterator[PageParser | None]:
    """Yield a :data:`~pipeline.sinch.client.PageParser` backed by ``processes`` workers.

    Yields None (parse in the fetching threads) when ``processes`` is 0 or the workers could
    not start. The workers stop when the block exits.

    Raises:
        ValueError: ``processes < 0``.
    """
    if processes < 0:
        msg = "parse processes must be >= 0"
        raise ValueError(msg)
    if processes == 0:
        yield None
        return
    pool = ProcessPoolExecutor(
        processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(os.getpid(),),
    )
    try:
        try:
            # Start every worker now, in the state they must start in (_spawning_workers).
            with _spawning_workers():
                started = [pool.submit(_ready) for _ in range(processes)]
            for future in started:
                future.result(timeout=120)
            _widen_pipes(pool)
        except Exception as exc:
            log.warning(
                "could not start parser processes (%s: %s); parsing in threads",
                type(exc).__name__,
                exc,
            )
            yield None
            return

        def parse(
            body: bytes, start: datetime, end: datetime, unused_above: int | None
        ) -> DecodedPage | None:
            return pool.submit(decode_calls_page, body, start, end, unused_above).result()

        yield parse
    except BaseException:
        # Ctrl-C, or a failed run: workers may still be importing (they survive a Ctrl-C, see
        # _spawning_workers), and a shutdown waiting for them could be interrupted by a second
        # Ctrl-C, leaving the pool's threads and the interpreter's exit waiting forever.
        _terminate_workers(pool)
        raise
    finally:
        try:
            pool.shutdown(wait=True, cancel_futures=True)
        except BaseException:  # a Ctrl-C while waiting for the workers to stop
            _terminate_workers(pool)
            raise


#: Bytes each pipe between the ingestion and its workers holds (Linux ``F_SETPIPE_SZ``; the
#: default ``/proc/sys/fs/pipe-max-size``). A page body is ~0.5 MB and a parsed page ~0.8 MB:
#: through the default 64 KB pipe a worker sat blocked in its ``send`` 16 % of its time, until
#: the ingestion's one result thread had read every chunk (py-spy, bench/README.md "End to
#: end vs dlt, 2026-12-07, second session"); with 1 MB, 7 %.
PIPE_BYTES = 1 << 20


def _widen_pipes(pool: ProcessPoolExecutor, size: int = PIPE_BYTES) -> int:
    """Grow the pool's call and result pipes to ``size`` bytes where the OS allows it.

    Uses the pool's private queues (CPython's ``concurrent.futures.process``); where they,
    or ``F_SETPIPE_SZ`` (Linux only), are missing, or the OS refuses the size, the pipes keep
    their size: only speed changes.

    Returns:
        The smallest size of the pipes after the call (0 when none could be read).
    """
    setpipe = getattr(fcntl, "F_SETPIPE_SZ", None)  # getattr(None, ...): None too
    getpipe = getattr(fcntl, "F_GETPIPE_SZ", None)
    if fcntl is None or setpipe is None or getpipe is None:
        return 0
    sizes: list[int] = []
    for name in ("_call_queue", "_result_queue"):
        reader = getattr(getattr(pool, name, None), "_reader", None)
        if reader is None:
            continue
        with suppress(OSError, ValueError):
            fcntl.fcntl(reader.fileno(), setpipe, size)
        with suppress(OSError, ValueError):
            sizes.append(fcntl.fcntl(reader.fileno(), getpipe))
    return min(sizes, default=0)


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's worker processes (SIGTERM; they ignore only SIGINT)."""
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        with suppress(OSError, ValueError):  # already gone, or already closed
            process.terminate()
