"""``pipeline sql`` and ``pipeline report``: the commands that read the warehouse.

Each opens the warehouse through :meth:`pipeline.warehouse.backend.Warehouse.reader` (the
DuckDB file read-only, waiting while an ingestion writes, or the Delta lake), reads and closes
before printing. :mod:`pipeline.cli` registers them on the app.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.console import Console

from pipeline import settings
from pipeline.cli.common import DbOption, console, db_path, fail, user_errors


class OutputFormat(StrEnum):
    """How ``pipeline sql`` prints a result."""

    table = "table"
    csv = "csv"


def sql(
    query: Annotated[
        str | None,
        typer.Argument(help="ready query name (see --list) or a path to a .sql file"),
    ] = None,
    db: DbOption = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="table (terminal) or csv (stdout)")
    ] = OutputFormat.table,
    list_: Annotated[bool, typer.Option("--list", help="list the ready queries")] = False,
) -> None:
    """Run a ready query from sql/queries (or any .sql file) on a read-only connection.

    "Last 7 days" in the ready queries ends at the newest call in the file. The connection waits
    while an ingestion run writes the file and is closed before anything is printed.
    """
    from pipeline.reporting.queries import list_queries, run_query

    out = Console(highlight=False, soft_wrap=True)
    if list_:
        for item in list_queries():
            out.print(f"[bold]{item.name}[/]  {item.question}")
        return
    with user_errors():
        if query is None:
            raise settings.SettingsError("give a query name or .sql file, or --list")
        frame = run_query(db_path(db), query)
    if frame.height == 0:
        console.print(
            "[yellow]no rows: the warehouse may hold no calls for this question yet "
            "(run `pipeline demo` or `pipeline ingest`)[/]"
        )
    if output is OutputFormat.csv:
        sys.stdout.write(frame.write_csv())
        return
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=400, fmt_str_lengths=60):
        out.print(str(frame), markup=False)


def report(
    db: DbOption = None,
    out: Annotated[Path, typer.Option("--out", help="HTML file to write")] = Path(
        "reports/report.html"
    ),
    report_tz: Annotated[
        str | None,
        typer.Option(help="IANA zone of the charts [default: the zone the file was built in]"),
    ] = None,
) -> None:
    """Execute notebooks/report.ipynb headless on the warehouse and write a self-contained HTML."""
    from pipeline.reporting.notebook import ReportError, render_report

    with user_errors():
        tz = settings.check_time_zone(report_tz) if report_tz else None
        try:
            path = render_report(db_path(db), out, report_tz=tz)
        except ReportError as exc:
            raise fail(str(exc)) from None
    console.print(f"Report: [bold]{path.resolve()}[/]")
