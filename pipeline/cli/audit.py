"""``pipeline audit``: every ``raw.calls`` check over the whole warehouse, a table of results.

A run's asset checks read only the hours it wrote (:mod:`pipeline.defs.checks`); this reads
every window of every project (a full scan, as the weekly ``full_audit`` schedule does), on a
short read-only connection with the writer's memory limit (``CALLS_DB_MEMORY_LIMIT``) or over
the lake's tables (``CALLS_LAKE_URI``). Exit code 1 when any check fails (WARN ones included),
2 for a setting or a missing warehouse.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from pipeline import settings
from pipeline.cli.common import DbOption, console, db_path, user_errors

#: Longest detail printed per check (ids and windows); the count is always exact.
DETAIL_CHARS = 300
_STYLES = {"ERROR": "red", "WARN": "yellow"}


def audit(db: DbOption = None) -> None:
    """Run every raw.calls check over the whole warehouse; exit 1 if any fails.

    The checks of an ingestion run read only the hours it wrote; this one reads every window
    of every project (duplicate call ids, calls outside their window, ledger counts, negative
    durations, rejected records).
    """
    from pipeline.warehouse.backend import open_warehouse
    from pipeline.warehouse.checks import run_checks

    with user_errors():
        backend = open_warehouse(db_path(db), settings.lake_uri())
        outcomes = run_checks(backend, memory_limit=settings.db_memory_limit())
    table = Table("check", "severity", "result", "failures", "detail", title=backend.location)
    for outcome in outcomes:
        detail = outcome.detail
        if len(detail) > DETAIL_CHARS:
            detail = detail[: DETAIL_CHARS - 1] + "…"
        table.add_row(
            outcome.spec.name,
            outcome.spec.severity,
            "passed" if outcome.passed else "FAILED",
            f"{outcome.failures:,}",
            detail,
            style=None
            if outcome.passed
            else "red"
            if outcome.spec.severity == "ERROR"
            else "yellow",
        )
    Console(highlight=False, width=max(160, console.width)).print(table)
    failed = [o.spec.name for o in outcomes if not o.passed]
    if failed:
        console.print(f"[bold red]audit failed:[/] {', '.join(failed)}", soft_wrap=True)
        raise typer.Exit(code=1)
    console.print(f"audit passed: {len(outcomes)} checks over every window")
