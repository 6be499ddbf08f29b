"""What the ``pipeline`` command shows while the ingestion job runs, and its closing summary.

:class:`RunProgress` is a Dagster logger's handler: it receives the run's log records (the
assets' messages and Dagster's events) and

- advances a :mod:`rich` progress bar (windows done of all, calls landed, calls/s, ETA) from the
  structured ``extra`` each committed window's record carries
  (:data:`pipeline.ingest.report.WINDOW_EXTRA`), never from the text;
- prints warnings, errors, failed steps, failed checks and a step waiting for its pool (another
  run writes the warehouse) as they come, and the assets' other messages (one line per window
  and per analytics table) only when ``verbose``;
- tallies calls, rejected records, re-swept and unreconciled windows, and check results for
  :meth:`RunProgress.summary`.

On a console that is not a terminal (a pipe, a CI log, cron) the bar is off, so no control
codes are written: instead, unless ``verbose`` (a line per window anyway), one line of the
bar's figures every :data:`PLAIN_PROGRESS_EVERY_S` seconds, so a long backfill is not silent
until its summary. A background thread prints it too when nothing else happens (a slow first
window, the call details, the analytics), naming the phase: ``analytics tables: 336 of 336
windows · 68,757 calls · 2,141 calls/s · 60 s``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from pipeline.ingest.report import DETAILS_EXTRA, WINDOW_EXTRA

#: Seconds between the progress lines printed on a console that is not a terminal.
PLAIN_PROGRESS_EVERY_S = 30.0
#: How often the background thread looks whether a progress line is due (seconds).
HEARTBEAT_CHECK_S = 1.0

#: The error Dagster raises in a step when the process receives SIGINT (Ctrl-C) or SIGTERM.
INTERRUPTED_ERROR = "DagsterExecutionInterruptedError"


def _interrupted(error: Any) -> bool:  # a dagster SerializableErrorInfo, or None
    """Whether a step failed because SIGINT/SIGTERM interrupted it.

    Also when DuckDB rewrapped Dagster's error: ``RuntimeError: Query interrupted``, or an
    ``InvalidInputException`` naming it (raised in a Python scan callback).
    """
    while error is not None:
        if error.cls_name in (INTERRUPTED_ERROR, "KeyboardInterrupt"):
            return True
        if INTERRUPTED_ERROR in error.message or (
            error.cls_name == "RuntimeError" and "Query interrupted" in error.message
        ):
            return True
        error = error.cause or error.context
    return False


@dataclass(slots=True)
class RunTally:
    """Counts over every execution of one command.

    Attributes:
        windows: hourly windows committed.
        calls: calls landed.
        rejected: records the parser rejected (kept in ``raw.rejected_calls``).
        reswept: committed windows whose pages were read more than once.
        unreconciled: committed windows short of the API's count.
        check_failed: each check evaluated (``asset/check``) → True if any of its
            evaluations in the command failed (any severity). A check evaluated by several
            runs (a project's run, then the refresh of its stale hours) counts once.
        failed_steps: steps that failed.
        details_calls / details / details_rejected: calls of the ``raw/call_details`` runs'
            hours, those with a details row, export rows rejected (None: the asset never
            reported, e.g. not selected).
        details_note: why the export was unavailable, or None.
        details_missing: known export columns its header lacked (NULL in every row).
        interrupted: a step was interrupted (Ctrl-C, SIGTERM): the command must stop.
        skipped_steps: steps Dagster did not run because a step before them failed (its
            "Dependencies for step … Not executing." lines are counted, not printed).
    """

    windows: int = 0
    calls: int = 0
    rejected: int = 0
    reswept: int = 0
    unreconciled: int = 0
    check_failed: dict[str, bool] = field(default_factory=dict)
    failed_steps: int = 0
    details_calls: int | None = None
    details: int = 0
    details_rejected: int = 0
    details_note: str | None = None
    details_missing: tuple[str, ...] = ()
    interrupted: bool = False
    skipped_steps: int = 0

    @property
    def checks_passed(self) -> int:
        """Checks whose every evaluation passed."""
        return sum(not failed for failed in self.check_failed.values())

    @property
    def checks_failed(self) -> int:
        """Checks with a failed evaluation."""
        return sum(self.check_failed.values())


class RunProgress(logging.Handler):
    """Progress bar, messages and tally of an ingestion (see the module docstring).

    Use as a context manager around the executions: the bar shows while inside.

    Args:
        console: where everything goes (the bar only when it is a terminal).
        total_windows: windows the command will commit (hours × projects), for the ETA.
        verbose: also print the assets' informational lines (one per window and table).
        clock: seconds, monotonic (for the plain progress lines' spacing and the summary).
        heartbeat_every: seconds between the background thread's looks for a due plain line
            (:data:`HEARTBEAT_CHECK_S`); None: no thread (lines only after committed windows).
    """

    def __init__(
        self,
        console: Console,
        total_windows: int,
        *,
        verbose: bool = False,
        clock: Callable[[], float] = time.monotonic,
        heartbeat_every: float | None = HEARTBEAT_CHECK_S,
    ) -> None:
        super().__init__(logging.DEBUG)  # Dagster logs check evaluations at DEBUG
        self.console = console
        self.verbose = verbose
        self._clock = clock
        self._total = total_windows
        self.tally = RunTally()
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("windows · {task.fields[calls]:,} calls · {task.fields[rate]:,.0f} calls/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=not console.is_terminal,
        )
        self._task = self._progress.add_task(
            "fetching", total=total_windows or None, calls=0, rate=0.0
        )
        self._started = clock()
        self._last_line = self._started
        self._ended: float | None = None
        self._phase = "fetching"
        self._line_lock = threading.Lock()
        self._stop_heartbeat = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self._heartbeat_every = heartbeat_every
        self._blocked: set[str] = set()
        #: Start (UTC) of each window committed since the last :meth:`forget_landed`.
        self.landed: set[datetime] = set()

    def __enter__(self) -> RunProgress:
        self._started = self._last_line = self._clock()
        self._progress.start()
        if self._plain and self._heartbeat_every is not None:
            self._stop_heartbeat.clear()
            self._heartbeat = threading.Thread(
                target=self._beat, name="progress-heartbeat", daemon=True
            )
            self._heartbeat.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop_heartbeat.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
            self._heartbeat = None
        self._progress.stop()
        self._ended = self._clock()

    @property
    def _plain(self) -> bool:
        """Whether progress goes out as plain lines (no terminal, not ``verbose``)."""
        return not self.console.is_terminal and not self.verbose

    def _beat(self) -> None:
        while not self._stop_heartbeat.wait(self._heartbeat_every):
            self.heartbeat()

    def heartbeat(self) -> None:
        """Print the plain progress line if one is due (none for :data:`PLAIN_PROGRESS_EVERY_S`).

        Called after each committed window and, while inside the context, every
        ``heartbeat_every`` seconds by a background thread; a no-op on a terminal or with
        ``verbose``.
        """
        if not self._plain or self.tally.interrupted:
            return
        with self._line_lock:
            now = self._clock()
            if now - self._last_line < PLAIN_PROGRESS_EVERY_S:
                return
            self._last_line = now
            tally = self.tally
            seconds = now - self._started
            rate = tally.calls / seconds if seconds > 0 else 0.0
            of = f" of {self._total:,}" if self._total else ""
            self._print(
                f"{self._phase}: {tally.windows:,}{of} windows · {tally.calls:,} calls · "
                f"{rate:,.0f} calls/s · {seconds:.0f} s",
                None,
            )

    def _describe(self, phase: str) -> None:
        """Name what the run does now (the bar's description, the plain lines' label)."""
        self._phase = phase
        self._progress.update(self._task, description=phase)

    def emit(self, record: logging.LogRecord) -> None:
        """Handle one record of the run's log (see the module docstring)."""
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        step = meta.get("step_key") or ""
        if event is not None:
            self._event(event, step)
            return
        window = getattr(record, WINDOW_EXTRA, None)
        details = getattr(record, DETAILS_EXTRA, None)
        if window is not None:
            self._window(window)
        elif details is not None:
            self._details(details)
        elif step.startswith("analytics"):
            self._describe("analytics tables")
        elif step.startswith("raw__call_details"):
            self._describe("call details")
        message = meta.get("orig_message") or record.getMessage()
        if self.tally.interrupted:
            return  # the steps skipped after Ctrl-C: the command's error line says it all
        if _SKIPPED.match(message):  # one of the steps after a failed one: counted, not shown
            self.tally.skipped_steps += 1
            return
        if record.levelno >= logging.WARNING:
            style = "red" if record.levelno >= logging.ERROR else "yellow"
            self._print(f"{step}: {message}" if step else message, style)
        elif record.levelno >= logging.INFO and self.verbose:
            self._print(f"{step}: {message}" if step else message, None)

    def forget_landed(self) -> None:
        """Start a new :attr:`landed` set (before the next project's execution)."""
        self.landed = set()

    def _print(self, text: str, style: str | None) -> None:
        self.console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)

    def _window(self, window: dict[str, Any]) -> None:
        tally = self.tally
        tally.windows += 1
        # A rejected row this window took over from a window counted earlier in the run
        # was counted there (pipeline.ingest.report.run_rejected): once only.
        taken = [datetime.fromisoformat(str(s)) for s in window.get("rejected_taken", ())]
        tally.rejected += int(window["rejected"]) - sum(start in self.landed for start in taken)
        if "start" in window:
            self.landed.add(datetime.fromisoformat(str(window["start"])))
        tally.calls += int(window["calls"])
        tally.reswept += int(window["sweeps"]) > 1
        tally.unreconciled += not window["reconciled"]
        elapsed = self._progress.tasks[0].elapsed or 0.0
        self._progress.update(
            self._task,
            advance=1,
            calls=tally.calls,
            rate=tally.calls / elapsed if elapsed > 0 else 0.0,
        )
        self._describe("fetching")
        self.heartbeat()

    def _details(self, details: dict[str, Any]) -> None:
        tally = self.tally
        tally.details_calls = (tally.details_calls or 0) + int(details["calls"])
        tally.details += int(details["details"])
        tally.details_rejected += int(details["rejected"])
        tally.details_note = details.get("note") or tally.details_note
        tally.details_missing = tuple(
            dict.fromkeys((*tally.details_missing, *details.get("missing_columns", ())))
        )

    def _event(self, event: Any, step: str) -> None:  # a dagster DagsterEvent
        if event.is_step_failure:
            self.tally.failed_steps += 1
            error = event.step_failure_data.error
            if _interrupted(error):
                self.tally.interrupted = True  # Dagster turned SIGINT/SIGTERM into this error
                self._print(f"{event.step_key} interrupted", "red")
                return
            cause = error.cause if error and error.cause else error
            detail = cause.message.strip() if cause else ""
            self._print(f"{event.step_key} failed: {detail}", "red")
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            self._check(event.asset_check_evaluation_data)
        elif event.event_type_value == "STEP_START":
            self._describe(_phase_of(step))
        elif event.event_type_value == "ENGINE_EVENT":
            metadata = getattr(event.event_specific_data, "metadata", None) or {}
            pool = metadata.get("pool")
            if pool is not None and step not in self._blocked:
                # Another run (a UI backfill, another command) holds the writer's slot.
                self._blocked.add(step)
                self._describe(f"waiting for pool {pool.value}")
                self._print(
                    f"{step} waits for a slot of the pool {pool.value}: another run is writing "
                    "the warehouse (see `dagster dev` or `pipeline status`)",
                    "yellow",
                )

    def _check(self, evaluation: Any) -> None:  # a dagster AssetCheckEvaluation
        key = f"{evaluation.asset_key.to_user_string()}/{evaluation.check_name}"
        failed = self.tally.check_failed.get(key, False)
        self.tally.check_failed[key] = failed or not evaluation.passed
        if evaluation.passed:
            return
        detail = evaluation.metadata.get("detail")
        failures = evaluation.metadata.get("failures")
        text = (
            f"check {evaluation.check_name} on {evaluation.asset_key.to_user_string()} failed"
            f"{f': {failures.value}' if failures else ''}"
            f"{f' ({detail.value})' if detail and detail.value else ''}"
        )
        severity = str(getattr(evaluation.severity, "value", evaluation.severity)).upper()
        self._print(text, "yellow" if severity == "WARN" else "red")

    def summary(self) -> str:
        """One line: calls, rejected, windows (re-swept, unreconciled), checks, wall time.

        E.g. ``Landed 474 calls in 24 windows (0 rejected; 0 re-swept, 0 unreconciled);
        checks: 5 passed, 0 failed; 3.2 s``, then the call details' line
        (:meth:`details_summary`) when ``raw/call_details`` ran.
        """
        t = self.tally
        elapsed = (self._ended or self._clock()) - self._started
        line = (
            f"Landed {_count(t.calls, 'call')} in {_count(t.windows, 'window')} "
            f"({t.rejected:,} rejected; "
            f"{t.reswept:,} re-swept, {t.unreconciled:,} unreconciled); checks: "
            f"{t.checks_passed} passed, {t.checks_failed} failed; {elapsed:.1f} s"
        )
        if t.skipped_steps:
            line += f"; {_count(t.skipped_steps, 'later step')} not run after a failure"
        details = self.details_summary()
        return f"{line}\n{details}" if details else line

    def details_summary(self) -> str | None:
        """``call details: 12,345 of 12,400 calls (99.6 %) from /calls/export, 3 rejected``.

        With the export unavailable: ``call details: unavailable (<reason>)``; None when
        ``raw/call_details`` did not report.
        """
        t = self.tally
        if t.details_calls is None:
            return None
        if t.details_note and not t.details:
            return f"call details: unavailable ({t.details_note})"
        share = 100.0 * t.details / t.details_calls if t.details_calls else 100.0
        note = f"; unavailable for some hours: {t.details_note}" if t.details_note else ""
        if t.details_missing:
            note += f"; the export lacks the columns {', '.join(t.details_missing)} (NULL)"
        return (
            f"call details: {t.details:,} of {t.details_calls:,} calls ({share:.1f} %) from "
            f"/calls/export, {t.details_rejected:,} rejected{note}"
        )


def _phase_of(step: str) -> str:
    """What a step of ``ingest_calls``/``refresh_analytics`` does, for the progress label."""
    if step == "raw__calls":
        return "fetching"
    if step == "raw__call_details":
        return "call details"
    if step.startswith("analytics"):
        return "analytics tables"
    if step.startswith("alert"):
        return "alert rules"
    return "checks"  # the asset checks' own steps (raw__calls_unique_call_ids, ...)


#: Dagster's line for a step it does not run because a step before it failed.
_SKIPPED = re.compile(r"Dependencies for step \S+ .*Not executing\.$", re.DOTALL)


def _count(n: int, noun: str) -> str:
    """``1 call``, ``2,275 calls``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
