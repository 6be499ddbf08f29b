"""DuckDB connections: one embedded file, pinned to UTC, one writer at a time.

DuckDB lets a single process open a file read-write; while it does, no other process can open
it at all, not even read-only (``docs/stack-hazards.md`` §0.2). Everything in this
project therefore opens *short-lived* connections through :func:`connect`, which waits (with
jittered backoff, via tenacity) while another process holds the file, instead of failing:

- the ingestion holds its write connection for one run and closes it;
- notebooks, ``pipeline sql`` and reports open, read into Polars, and close straight away.

Every connection runs ``SET TimeZone='UTC'`` (stack-hazards §0.4: the session zone otherwise
follows the process ``TZ`` and silently relabels TIMESTAMPTZ values).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb
import tenacity

from pipeline.warehouse.schema import apply_schema

log = logging.getLogger("pipeline.warehouse")

#: How long :func:`connect` waits for another process to release the file (seconds).
DEFAULT_LOCK_WAIT_S = 300.0


#: WAL size at which the ingestion's writer checkpoints. DuckDB's 16 MB default checkpointed
#: every second or third hourly window of a busy project, and each checkpoint rewrote the
#: table's last, partly filled row group again; 128 MB made a backfill ~20 % faster
#: (bench/README.md). The WAL is still replayed after a crash, so nothing committed is lost.
BULK_WRITE_CHECKPOINT_THRESHOLD = "128MB"


def tune_for_bulk_writes(con: duckdb.DuckDBPyConnection, memory_limit: str | None) -> None:
    """Settings for a connection that appends many windows (the ingestion's writer).

    Args:
        con: a write connection.
        memory_limit: DuckDB ``memory_limit`` such as ``"512MB"`` (it bounds the process's RSS,
            which otherwise grows with the data DuckDB keeps cached); None keeps DuckDB's
            default (80 % of RAM). It applies to the whole database instance of this process.

    Raises:
        duckdb.Error: ``memory_limit`` is not a size DuckDB understands.
    """
    if memory_limit is not None:
        con.execute("SET memory_limit = ?", [memory_limit])
    con.execute("SET checkpoint_threshold = ?", [BULK_WRITE_CHECKPOINT_THRESHOLD])


@contextmanager
def leave_cores(
    con: duckdb.DuckDBPyConnection, reserved: int, cpus: int | None = None
) -> Iterator[int]:
    """Run the writer's DuckDB on the cores that ``reserved`` busy processes leave it.

    A backfill parses pages in one worker process per CPU (:mod:`pipeline.ingest.parsers`);
    a DuckDB pool of one thread per CPU beside them mostly waits and wakes: on 2 cores the
    writer alone spent 4.0 instead of 5.0 CPU-s on the same 1.15 M calls with one thread, in
    the same wall time (bench/README.md, "End to end vs dlt, 2026-12-07, second session").

    Never raises the thread count: DuckDB's own ``threads`` already follows a container's CPU
    limit (cgroup quota), which ``os.cpu_count()`` ignores. The previous value is set again
    when the block exits: ``threads`` applies to the whole database instance of this process,
    so another connection to the same file would otherwise keep it.

    Args:
        con: the writer's connection.
        reserved: processes that keep cores busy beside the writer (0: change nothing).
        cpus: the cores to share (default: DuckDB's ``threads`` when the block starts).

    Yields:
        DuckDB's ``threads`` inside the block: ``max(1, min(threads, cpus - reserved))``.
    """
    # fetchall: a result left unfinished would refuse the next register() on this connection
    ((setting,),) = con.execute("SELECT current_setting('threads')").fetchall()
    before = int(setting)
    threads = max(1, min(before, (cpus or before) - reserved)) if reserved > 0 else before
    if threads != before:
        con.execute(f"SET threads = {threads:d}")
    try:
        yield threads
    finally:
        if threads != before:
            with suppress(duckdb.Error):  # a closed or broken connection: nothing to restore
                con.execute(f"SET threads = {before:d}")


class WarehouseBusyError(RuntimeError):
    """The DuckDB file stayed locked by another process for longer than the wait allowed."""


#: DuckDB's words for a file another process holds ("Could not set lock on file ...:
#: Conflicting lock is held", "Resource temporarily unavailable"); whole words, since a
#: damaged file's errors speak of a "block".
_LOCK_WORDS = re.compile(r"\b(?:lock|resource)\b", re.IGNORECASE)


def _is_lock_conflict(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and _LOCK_WORDS.search(str(exc)) is not None


def _open(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        con.execute("SET TimeZone='UTC'")
    except BaseException:
        con.close()
        raise
    return con


def open_connection(
    path: str | Path,
    *,
    read_only: bool = False,
    lock_wait_s: float = DEFAULT_LOCK_WAIT_S,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file, waiting while another process holds its lock.

    Args:
        path: the DuckDB file; its parent folder is created for writers. ``":memory:"`` works.
        read_only: open read-only (the file must exist).
        lock_wait_s: give up after this many seconds of lock conflicts.

    Returns:
        A connection with ``TimeZone='UTC'``; writers also get the schema applied
        (``sql/schema/*.sql``, idempotent).

    Raises:
        WarehouseBusyError: the file stayed locked for ``lock_wait_s`` seconds.
        FileNotFoundError: ``read_only`` and the file does not exist.
    """
    target = Path(path)
    if str(path) != ":memory:":
        if read_only and not target.exists():
            msg = f"warehouse file {target} does not exist yet: run the ingestion first"
            raise FileNotFoundError(msg)
        if not read_only:
            target.parent.mkdir(parents=True, exist_ok=True)

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(_is_lock_conflict),
        wait=tenacity.wait_random_exponential(multiplier=0.05, max=2.0),
        stop=tenacity.stop_after_delay(lock_wait_s),
        # Say it once, loud enough for the CLI (WARNING); the rest of the wait is quiet.
        before_sleep=lambda state: log.log(
            logging.WARNING if state.attempt_number == 1 else logging.DEBUG,
            "DuckDB file %s is locked by another process; waiting up to %.0f s",
            target,
            lock_wait_s,
        ),
        reraise=False,
    )
    try:
        con = retrying(_open, target, read_only)
    except tenacity.RetryError as exc:
        msg = (
            f"DuckDB file {target} stayed locked by another process for {lock_wait_s:.0f} s "
            "(an ingestion run or an open notebook connection)"
        )
        raise WarehouseBusyError(msg) from exc.last_attempt.exception()
    if not read_only:
        apply_schema(con)
    return con


@contextmanager
def connect(
    path: str | Path,
    *,
    read_only: bool = False,
    lock_wait_s: float = DEFAULT_LOCK_WAIT_S,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Context-managed :func:`open_connection` that always closes the connection."""
    con = open_connection(path, read_only=read_only, lock_wait_s=lock_wait_s)
    try:
        yield con
    finally:
        con.close()
