"""The checks on ``raw.calls`` (``sql/checks/*.sql``), run over a scope of windows.

Each SQL file returns one row ``(failures BIGINT, detail VARCHAR)`` and takes three named
parameters: ``$start`` and ``$end`` (``start <= window_start < end``) and ``$project``; NULL
leaves that bound open. A scheduled run checks the hours it wrote (:class:`CheckScope` per
project and span of hours), so DuckDB reads only their row groups (zonemaps on
``window_start``) and the tick costs the same with 7 or 360 days of history; ``pipeline audit``
checks :data:`EVERYTHING`. Dagster-free: the asset checks (:mod:`pipeline.defs.checks`) and
the command both run :func:`run_checks`.

The reading connection gets the writer's DuckDB ``memory_limit`` (``CALLS_DB_MEMORY_LIMIT``),
so a check spills instead of growing the process past it. Over the Delta lake the same SQL
runs in DuckDB on the tables' Arrow datasets (:mod:`pipeline.warehouse.lake_tables`), where
the ``window_start`` filters are pushed into the dataset scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import duckdb

from pipeline.resources import sql_dir
from pipeline.warehouse.backend import Warehouse

#: ``sql/checks`` of the checkout or of the installed wheel (:mod:`pipeline.resources`).
CHECKS_DIR = sql_dir("checks")

Severity = Literal["ERROR", "WARN"]


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """One check: its SQL file's name, what it verifies, and how bad a failure is.

    Attributes:
        name: the file ``sql/checks/<name>.sql`` and the Dagster check's name.
        description: what it verifies (the Dagster UI and ``pipeline audit`` show it).
        severity: ``ERROR`` or ``WARN``.
        blocking: in Dagster, an ERROR failure stops the analytics of the run.
        asset: the asset it is attached to in Dagster (its table is what the SQL reads).
    """

    name: str
    description: str
    severity: Severity = "ERROR"
    blocking: bool = False
    asset: tuple[str, str] = ("raw", "calls")


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(
        "unique_call_ids",
        "Every call_id appears once in raw.calls (edges of windows land once; a call the API "
        "lists in another window moves there). A run checks its windows' ids against the "
        "whole table. A failure names the windows holding each id: re-ingest one of them "
        "(re-running the failed run does not help).",
        blocking=True,
    ),
    CheckSpec(
        "create_time_in_window",
        "Every call's create_time lies in its [window_start, window_end).",
        blocking=True,
    ),
    CheckSpec(
        "ledger_reconciles",
        "For each window's latest fetch: it reconciled (no calls counted by the API but "
        "unseen, on any slice); for a window swept whole, calls landed + rejected + outside "
        "the window = the API's totalItems; and the ledger's count equals the rows in "
        "raw.calls (fewer: calls moved to another window since).",
        "WARN",
    ),
    CheckSpec(
        "no_negative_durations",
        "No negative durationSeconds / billingDurationSeconds, and no end before create/answer.",
    ),
    CheckSpec(
        "no_calls_over_24_hours",
        "No call ends more than 24 h after its create_time. The analytics count at most 24 h "
        "of a call (MAX_CALL_DURATION), so such a call's MOU, ACD, Erlangs and concurrency "
        "are capped: usually an endTime the API got wrong (e.g. 9999-12-31). The call is kept.",
        "WARN",
    ),
    CheckSpec(
        "no_rejected_records",
        "Records the parser rejected (kept in raw.rejected_calls with their reason).",
        "WARN",
    ),
    CheckSpec(
        "no_rejected_call_details",
        "Export rows the CSV parser rejected (kept in raw.rejected_call_details with their "
        "reason): their calls have no SIP code or MOS, so the true NER leaves them out.",
        "WARN",
        asset=("raw", "call_details"),
    ),
)


@dataclass(frozen=True, slots=True)
class CheckScope:
    """The windows a check reads: ``start <= window_start < end`` of one project.

    Attributes:
        start: first window start (UTC), or None: from the first.
        end: end of the window starts (exclusive), or None: to the last.
        project_id: the project, or None: every project of the warehouse.
    """

    start: datetime | None = None
    end: datetime | None = None
    project_id: str | None = None

    def parameters(self) -> dict[str, object]:
        """The SQL files' named parameters."""
        return {"start": self.start, "end": self.end, "project": self.project_id}

    def label(self) -> str:
        """``[2026-11-23 05:00, 2026-11-23 09:00)Z`` (with ``project: `` first if one)."""
        if self.start is None and self.end is None:
            hours = "every window"
        else:
            first = f"{self.start:%Y-%m-%d %H:%M}" if self.start else "…"
            end = f"{self.end:%Y-%m-%d %H:%M}" if self.end else "…"
            hours = f"[{first}, {end})Z"
        return f"{self.project_id}: {hours}" if self.project_id else hours


#: The whole warehouse: every window of every project (``pipeline audit``).
EVERYTHING = CheckScope()


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """What one check found over its scopes.

    Attributes:
        spec: the check.
        failures: failing rows (surplus rows for ``unique_call_ids``), summed over the scopes.
        detail: what failed (ids, windows), scopes joined with ``; ``; empty when it passed.
    """

    spec: CheckSpec
    failures: int
    detail: str

    @property
    def passed(self) -> bool:
        """No failure."""
        return self.failures == 0


def check_sql(name: str) -> str:
    """The text of ``sql/checks/<name>.sql``."""
    return (CHECKS_DIR / f"{name}.sql").read_text(encoding="utf-8")


def check_on(
    con: duckdb.DuckDBPyConnection, name: str, scope: CheckScope | None = None
) -> tuple[int, str | None]:
    """``sql/checks/<name>.sql`` on a connection: ``(failures, detail)`` over ``scope``.

    Args:
        con: a connection reading the warehouse (``raw.calls`` & co).
        name: the check.
        scope: the windows to read (default :data:`EVERYTHING`).
    """
    sql = check_sql(name)
    failures, detail = con.execute(sql, (scope or EVERYTHING).parameters()).fetchall()[0]
    return int(failures or 0), detail


def run_checks(
    backend: Warehouse,
    scopes: Sequence[CheckScope] = (EVERYTHING,),
    *,
    memory_limit: str | None = None,
    names: Sequence[str] | None = None,
) -> list[CheckOutcome]:
    """Run checks over ``scopes`` on one reading connection.

    Args:
        backend: the warehouse (DuckDB file or Delta lake).
        scopes: the windows to read; a check's failures are summed over them.
        memory_limit: DuckDB ``memory_limit`` of the connection (the writer's,
            ``CALLS_DB_MEMORY_LIMIT``); None keeps DuckDB's default.
        names: the checks to run (default: every one of :data:`CHECKS`), in that order.

    Returns:
        One :class:`CheckOutcome` per check, in the order of :data:`CHECKS`.

    Raises:
        KeyError: a name is not a check.
        FileNotFoundError: no warehouse yet.
    """
    by_name = {spec.name: spec for spec in CHECKS}
    specs = [by_name[name] for name in names] if names is not None else list(CHECKS)
    outcomes: list[CheckOutcome] = []
    with backend.reader() as con:
        if memory_limit is not None:
            con.execute("SET memory_limit = ?", [memory_limit])
        for spec in specs:
            failures, details = 0, []
            for scope in scopes:
                count, detail = check_on(con, spec.name, scope)
                failures += count
                if count and detail:
                    details.append(detail if len(scopes) == 1 else f"{scope.label()}: {detail}")
            outcomes.append(CheckOutcome(spec, failures, "; ".join(details)))
    return outcomes
