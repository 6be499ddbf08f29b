"""``pipeline sql``, ``report``, ``export`` and ``shell``: the commands that read the warehouse.

Each opens the warehouse through :meth:`pipeline.warehouse.backend.Warehouse.reader` (the
DuckDB file read-only, waiting while an ingestion writes, or the Delta lake), reads and closes
before printing; ``shell`` reads a private copy taken that way. :mod:`pipeline.cli` registers
them on the app.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from pipeline import settings
from pipeline.cli.common import DbOption, console, db_path, fail, user_errors
from pipeline.reporting.export import ExportFormat


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
        console.print(f"[yellow]{_why_no_rows(db_path(db))}[/]")
    if output is OutputFormat.csv:
        sys.stdout.write(frame.write_csv())
        return
    if frame.height:
        _print_table(frame)


def _why_no_rows(path: Path) -> str:
    """An empty result of a warehouse with calls is an answer; of an empty one, a hint."""
    from pipeline.reporting.queries import run_sql

    with user_errors():
        calls = int(run_sql(path, "SELECT count(*) AS n FROM raw.calls").item())
    if calls:
        return f"no rows: nothing in the {calls:,} calls of the warehouse matches this query"
    return "no rows: the warehouse holds no calls yet (run `pipeline demo` or `pipeline ingest`)"


def _print_table(frame: pl.DataFrame) -> None:
    """A result as a terminal table: one header row, numbers right-aligned, NULL blank.

    Printed at its natural width, wider than the terminal if need be (lines then wrap or
    scroll): no value is cut to an ellipsis.
    """
    table = Table(show_edge=False, header_style="bold")
    cells = [[_cell(v) for v in row] for row in frame.iter_rows()]
    widths = [len(name) for name in frame.columns]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    for name, dtype in frame.schema.items():
        table.add_column(name, justify="right" if dtype.is_numeric() else "left", no_wrap=True)
    for row in cells:
        table.add_row(*row)
    out = Console(highlight=False)
    out.width = max(out.width, sum(widths) + 3 * len(widths) + 1)
    out.print(table)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def report(
    db: DbOption = None,
    out: Annotated[Path, typer.Option("--out", help="HTML file to write")] = Path(
        "reports/report.html"
    ),
    report_tz: Annotated[
        str | None,
        typer.Option(
            help="IANA zone of the charts [env REPORT_TZ, default: the zone the file was built in]"
        ),
    ] = None,
) -> None:
    """Execute notebooks/report.ipynb headless on the warehouse and write a self-contained HTML.

    A progress bar (in a terminal) names the report section being computed; the last line is
    the path of the HTML file.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    from pipeline.reporting.notebook import ReportError, render_report

    with (
        user_errors(),
        Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<40}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("cells"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,  # a pipe or CI log gets the path only
        ) as progress,
    ):
        check_report_out(out)  # before the notebook runs, which takes a while
        task = progress.add_task("starting the kernel", total=None)

        def advance(stage: str, done: int, total: int) -> None:
            progress.update(task, description=stage[:40], completed=done, total=total)

        report_tz = report_tz or settings.env("REPORT_TZ", "") or None
        tz = settings.check_time_zone(report_tz) if report_tz else None
        try:
            path = render_report(db_path(db), out, report_tz=tz, progress=advance)
        except ReportError as exc:
            raise fail(str(exc)) from None
    console.print(f"Report: [bold]{path.resolve()}[/]", soft_wrap=True)


def check_report_out(out: Path) -> None:
    """Refuse an ``--out`` the report could not be written to, before the notebook runs.

    Raises:
        SettingsError: ``out`` is a directory, or it (or its folder) cannot be written.
    """
    if out.is_dir():
        msg = f"--out {out} is a directory: name the HTML file to write, e.g. {out / 'report.html'}"
        raise settings.SettingsError(msg)
    settings.check_writable(out, "--out")


def export(
    out_dir: Annotated[Path, typer.Argument(metavar="DIR", help="directory to write the files to")],
    db: DbOption = None,
    fmt: Annotated[
        ExportFormat, typer.Option("--format", help="parquet (types kept) or csv (with header)")
    ] = ExportFormat.parquet,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="write into a DIR that already holds files")
    ] = False,
) -> None:
    """Write every raw and analytics table and every view of sql/views to DIR, one file each.

    The files (DIR/raw.calls.parquet, DIR/calls_enriched.parquet ...) come from one read-only
    snapshot, so they agree; open them with any BI tool or DuckDB/Polars version. Parquet keeps
    the types (instants in UTC, exact decimals); the raw JSON columns are text.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from pipeline.reporting.export import ExportedFile, export_warehouse

    with (
        user_errors(),
        Progress(
            TextColumn("{task.description:<36}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
        ) as progress,
    ):
        task = progress.add_task("reading the warehouse", total=None)

        def on_objects(names: list[str]) -> None:
            progress.update(task, total=len(names), description=names[0] if names else "")

        def on_file(done: ExportedFile) -> None:
            progress.update(task, advance=1, description=f"wrote {done.path.name}")

        files = export_warehouse(
            db_path(db), out_dir, fmt, overwrite=overwrite, on_objects=on_objects, on_file=on_file
        )
    table = Table(title=f"Exported to {out_dir.resolve()}", title_justify="left")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for done in files:
        table.add_row(done.path.name, f"{done.rows:,}")
    Console(highlight=False).print(table)


def shell(
    db: DbOption = None,
    command: Annotated[
        str | None,
        typer.Option("--command", "-c", help="run these statements, print the results, exit"),
    ] = None,
    plain: Annotated[
        bool, typer.Option("--plain", help="the line-based shell instead of Harlequin")
    ] = False,
) -> None:
    """Interactive SQL on a private snapshot of the warehouse, with the views loaded.

    The warehouse is copied (waiting while an ingestion writes) to a temporary file that the
    shell reads, so a shell left open never blocks an ingestion; it shows the data as of the
    moment it started. In a terminal it opens Harlequin; with --command, --plain or input
    piped in (pipeline shell < queries.sql) a line-based shell: statements end with ';'.
    """
    from pipeline.reporting.shell import (
        LineShell,
        ShellError,
        open_snapshot,
        run_harlequin,
        snapshot,
    )

    out = Console(highlight=False, soft_wrap=True)
    interactive = command is None and sys.stdin.isatty()
    with user_errors(), snapshot(db_path(db)) as copy:
        if interactive and not plain:
            code = run_harlequin(copy)
            if code is not None:
                raise typer.Exit(code)
            console.print("[yellow]Harlequin is not installed: the line-based shell[/]")
        con = open_snapshot(copy)
        try:
            session = LineShell(con, out, bail=not interactive)
            if interactive:
                console.print("Snapshot with the views loaded; end statements with ';', "
                              ".quit to leave.")  # fmt: skip
                session.interact()
            else:
                try:
                    session.run_lines([command] if command is not None else sys.stdin)
                except ShellError as exc:
                    raise fail(str(exc)) from None
        finally:
            con.close()
