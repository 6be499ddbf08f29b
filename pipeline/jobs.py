"""Run the ``ingest_calls`` Dagster job in this process, for the CLI and the tests.

The CLI does not re-implement the job: it executes the very job the schedules launch, over a
partition range, with a logger that feeds :class:`pipeline.progress.RunProgress` (a progress
bar, warnings, failed checks, a summary) instead of Dagster's event stream. The runs are
recorded in the instance given: the CLI passes the persistent one (:mod:`pipeline.state`), so
``dagster dev`` shows them; without one, an ephemeral instance is used and forgotten.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path

import dagster as dg
from rich.console import Console

from pipeline import settings
from pipeline.defs.partitions import PartitionRange, ingestion_partitions, partition_ranges
from pipeline.defs.resources import CallsApiResource, WarehouseResource
from pipeline.defs.schedules import PROJECT_TAG, RANGE_END_TAG, RANGE_START_TAG
from pipeline.ingest.windows import HOUR
from pipeline.progress import RunProgress
from pipeline.projects import configured_projects
from pipeline.state.instance import cancel_own_unfinished_runs, run_tags
from pipeline.warehouse.ownership import hour_runs

#: What a run without analytics materialises: the calls and their export details.
RAW_ASSETS = [dg.AssetKey(["raw", "calls"]), dg.AssetKey(["raw", "call_details"])]


def progress_logger(target: RunProgress | Console) -> dg.LoggerDefinition:
    """A Dagster logger handing every record of the run to a :class:`RunProgress`.

    Args:
        target: the display; a bare console gets a verbose one (every line, no bar).
    """
    handler = target if isinstance(target, RunProgress) else RunProgress(target, 0, verbose=True)

    @dg.logger(None, description="Compact progress for the CLI")
    def _progress(_init_context: dg.InitLoggerContext) -> logging.Logger:
        log = logging.Logger("pipeline.progress", level=logging.DEBUG)
        log.addHandler(handler)
        return log

    return _progress


class IngestInterrupted(Exception):
    """The command was interrupted (Ctrl-C or SIGTERM) before it landed everything.

    Landed windows are kept (each is committed whole); the others are named, so the user knows
    what a re-run of the same command will fetch. ``str()`` says all of it in one paragraph.

    Attributes:
        landed: windows this command committed (all projects).
        not_landed: ``(project or None, first hour, end hour)`` runs of consecutive hours
            (UTC) not landed by this command, in project order then time order.

    The command it names carries ``--db`` when the run wrote to another file than the one a
    command without ``--db`` writes to (``db``), or it would finish the default warehouse.
    """

    #: Runs of hours listed in the message; the rest are counted.
    MAX_LISTED = 4

    def __init__(
        self,
        landed: int,
        not_landed: list[tuple[str | None, datetime, datetime]],
        command_range: tuple[datetime, datetime],
        db: str | Path | None = None,
    ) -> None:
        self.landed = landed
        self.not_landed = not_landed
        missing = sum(int((end - first) / HOUR) for _p, first, end in not_landed)
        spans = [
            f"{first:%Y-%m-%d %H:%M}Z → {end:%Y-%m-%d %H:%M}Z"
            + (f" (project {project})" if project else "")
            for project, first, end in not_landed[: self.MAX_LISTED]
        ]
        if len(not_landed) > self.MAX_LISTED:
            spans.append(f"+{len(not_landed) - self.MAX_LISTED} more runs of hours")
        where = f": {'; '.join(spans)}" if spans else ""
        analytics = "" if missing else " (the calls landed; details or analytics may lag)"
        # The whole range again, not from the first hour not landed: the details and the
        # analytics steps run over the range once every window of the calls has landed, so
        # the hours that did land have neither yet. A demo's range moves with the clock, so
        # name the hours rather than "the same command".
        start, end = command_range
        again = f"pipeline ingest --start {start:%Y-%m-%dT%H} --end {end:%Y-%m-%dT%H}"
        if db is not None:
            again += f" --db {shlex.quote(str(db))}"
        super().__init__(
            f"interrupted: {_windows(landed)} landed, {missing:,} not{where}{analytics}. "
            f"Landed windows are kept; to finish, run `{again}` (writes are idempotent: it "
            "fetches the landed hours again and builds their details and analytics)."
        )


def _rerun_db(warehouse: WarehouseResource) -> Path | None:
    """The run's file when a command without ``--db`` would write elsewhere, else None.

    None with a lake (``CALLS_LAKE_URI``): the file is not used there.
    """
    if warehouse.lake_uri is not None:
        return None
    default = Path(settings.db_path())
    return None if Path(warehouse.path).resolve() == default.resolve() else Path(warehouse.path)


def _windows(n: int) -> str:
    return f"{n:,} window{'' if n == 1 else 's'}"


def _not_landed(
    ranges: list[PartitionRange], landed: list[set[datetime]], start: datetime, end: datetime
) -> list[tuple[str | None, datetime, datetime]]:
    """Each range's hours of ``[start, end)`` not in its set of ``landed`` (none: not run)."""
    hours = [start + HOUR * i for i in range(int((end - start) / HOUR))]
    missing: list[tuple[str | None, datetime, datetime]] = []
    for at, part in enumerate(ranges):
        done = landed[at] if at < len(landed) else set()
        missing += [
            (part.project_id, a, b) for a, b in hour_runs(h for h in hours if h not in done)
        ]
    return missing


@contextmanager
def watch_interrupts() -> Iterator[Callable[[], bool]]:
    """Yield ``received()``: whether SIGINT or SIGTERM reached this process since entering.

    Dagster swaps its own SIGINT handlers in and out during a run, and its error does not
    always reach the step failure: DuckDB turns it into ``RuntimeError: Query interrupted``
    or an ``InvalidInputException``, and raised from a garbage-collector callback it is
    dropped ("Exception ignored in ..."). CPython writes every caught signal's number to the
    wakeup fd whatever the Python-level handler, so this sees them all. SIGTERM is handled
    like SIGINT from the start (Dagster maps it so only after its first step), so an early
    SIGTERM does not kill the process without a word. Outside the main thread: a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    seen = {"signal": False}

    def received() -> bool:
        try:
            while data := os.read(read_fd, 512):
                seen["signal"] |= bool({signal.SIGINT, signal.SIGTERM} & set(data))
        except BlockingIOError:
            pass
        return seen["signal"]

    term = signal.signal(signal.SIGTERM, signal.getsignal(signal.SIGINT))
    previous = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    try:
        yield received
    finally:
        signal.set_wakeup_fd(previous)
        signal.signal(signal.SIGTERM, term)
        os.close(read_fd)
        os.close(write_fd)


def run_ingest_job(
    start: datetime,
    end: datetime,
    *,
    db_path: str | Path,
    report_tz: str,
    console: Console,
    analytics: bool = True,
    sinch: CallsApiResource | None = None,
    instance: dg.DagsterInstance | None = None,
    verbose: bool = True,
) -> bool:
    """Execute ``ingest_calls`` in-process over the hourly partitions of ``[start, end)``.

    With a projects file (``CALLS_PROJECTS_FILE``), one execution per project, in file order;
    every project runs even when an earlier one failed.

    Args:
        start: first hour (UTC, whole hour).
        end: end hour, exclusive.
        db_path: the warehouse file (ignored when ``CALLS_LAKE_URI`` sets a lake).
        report_tz: IANA zone of the daily tables.
        console: where progress, warnings and the closing summary line go.
        analytics: also build the analytics tables (else only ``raw.*``).
        sinch: the API resource (default: from the environment).
        instance: where the runs are recorded (default: an ephemeral instance). Runs carry
            this process's id and host (:func:`pipeline.state.instance.run_tags`).
        verbose: print one line per window and per analytics table (else a progress bar).

    Returns:
        True when every step of every execution succeeded.

    Raises:
        IngestInterrupted: Ctrl-C or SIGTERM interrupted a step (Dagster turns the signal
            into a step failure); no later execution was started. The summary is printed.
    """
    from pipeline.definitions import build_definitions
    from pipeline.defs.environment import calls_api_resource

    ranges = partition_ranges(ingestion_partitions(configured_projects()), start, end)
    progress = RunProgress(console, len(ranges) * int((end - start) / HOUR), verbose=verbose)
    warehouse = WarehouseResource(
        path=str(db_path),
        report_tz=report_tz,
        memory_limit=settings.db_memory_limit(),
        lake_uri=settings.lake_uri(),
    )
    sinch = sinch or calls_api_resource(configured_projects())
    defs = build_definitions(
        sinch=sinch, warehouse=warehouse, loggers={"progress": progress_logger(progress)}
    )
    job = defs.resolve_job_def("ingest_calls")
    success = True
    interrupted: IngestInterrupted | None = None
    landed: list[set[datetime]] = []  # per range: the window starts committed
    with ExitStack() as stack:
        if instance is None:
            # Dispose of the instance here, in this thread: left to the garbage collector, its
            # in-memory SQLite storage may be finalized from a fetcher thread and complain.
            instance = stack.enter_context(dg.DagsterInstance.ephemeral())
        stack.enter_context(progress)
        received = stack.enter_context(watch_interrupts())

        def stop() -> bool:
            return progress.tally.interrupted or received()

        for part in ranges:
            progress.forget_landed()
            landed.append(progress.landed)  # this range's set, filled as its windows commit
            if part.project_id is not None and verbose:
                console.print(f"project {part.project_id}:", style="bold")
            try:
                result = job.execute_in_process(
                    tags={RANGE_START_TAG: part.first, RANGE_END_TAG: part.last}
                    | ({PROJECT_TAG: part.project_id} if part.project_id else {})
                    | run_tags(),
                    instance=instance,
                    raise_on_error=False,
                    run_config={"loggers": {"progress": {}}},
                    asset_selection=None if analytics else RAW_ASSETS,
                )
                success = success and result.success
                if not stop() and analytics and result.success:
                    project_id = part.project_id or sinch.default_project_id()
                    multi = part.project_id is not None
                    success = (
                        refresh_stale(
                            defs,
                            instance,
                            warehouse,
                            project_id,
                            console,
                            multi_project=multi,
                            stop=stop,
                        )
                        and success
                    )
            except KeyboardInterrupt:  # outside a step: planning a run, between runs
                progress.tally.interrupted = True
                try:
                    cancel_own_unfinished_runs(instance, "interrupted (Ctrl-C or SIGTERM)")
                except Exception as exc:  # the storage may be what the interrupt left half-done
                    logging.getLogger("pipeline").warning(
                        "could not mark the interrupted run canceled: %s", exc
                    )
            if stop():
                interrupted = IngestInterrupted(
                    progress.tally.windows,
                    _not_landed(ranges, landed, start, end),
                    (start, end),
                    db=_rerun_db(warehouse),
                )
                break
    console.print(progress.summary(), highlight=False, soft_wrap=True)
    if interrupted is not None:
        raise interrupted
    return success


def refresh_stale(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    warehouse: WarehouseResource,
    project_id: str,
    console: Console,
    *,
    multi_project: bool,
    stop: Callable[[], bool] = lambda: False,
) -> bool:
    """Run ``refresh_analytics`` over the project's hours marked stale, as the sensor would.

    A run refreshes only the buckets its hours own; later hours its calls occupy (and the
    local days they fall in) are marked in ``raw.stale_hours`` when already ingested. This
    refreshes them now, in hour order, so the CLI leaves no mark behind.

    Returns:
        True when every refresh succeeded (or nothing was marked).
    """
    from pipeline.defs.sensors import read_marks, stale_run_requests

    job = defs.resolve_job_def("refresh_analytics")
    success = True
    marks = read_marks(warehouse, [project_id])
    if marks:
        hours = len(marks[project_id][0])
        later = "1 later hour" if hours == 1 else f"{hours} later hours"
        console.print(f"refreshing the analytics of {later} marked stale")
    for request in stale_run_requests(marks, multi_project):
        if stop():  # Ctrl-C: the command stops; a re-run marks and refreshes them again
            return False
        result = job.execute_in_process(
            tags={**request.tags, **run_tags()},
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"progress": {}}},
        )
        success = success and result.success
    return success
