"""``pipeline alerts``: list the stored alerts and the channels that delivered each.

The alerts are evaluated by the ``alert_rules`` asset checks of every ingestion run and stored
in ``analytics.alerts`` (docs/alerts.md); this command only reads them, on a short read-only
connection (the DuckDB file) or the lake's tables (``CALLS_LAKE_URI``).
"""

from __future__ import annotations

import sys
import textwrap
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from pipeline import settings
from pipeline.cli.common import DbOption, console, db_path, user_errors
from pipeline.cli.ingest import parse_hour


class AlertsFormat(StrEnum):
    """How ``pipeline alerts`` prints."""

    table = "table"
    csv = "csv"
    json = "json"


_SHOWN = ("bucket", "rule", "trunk_id", "direction", "observed", "baseline", "threshold")


def alerts(
    since: Annotated[
        str | None,
        typer.Option(help="only alerts about UTC hours from this one on, e.g. 2026-11-01T00"),
    ] = None,
    output: Annotated[
        AlertsFormat,
        typer.Option("--format", help="table (terminal), csv or json (stdout, every column)"),
    ] = AlertsFormat.table,
    db: DbOption = None,
) -> None:
    """List the alerts of the KPI rules (ASR/NER drops, failure spikes, CPS, channels ...).

    Each row: rule, project, trunk, direction, the UTC hour, the observed value, its baseline
    and threshold, the message, when it was first raised and which channels delivered it.
    """
    from pipeline.alerts.store import read_alerts
    from pipeline.warehouse.backend import open_warehouse

    with user_errors():
        start = parse_hour(since, "--since") if since else None
        frame = read_alerts(open_warehouse(db_path(db), settings.lake_uri()), start)
    if output is AlertsFormat.csv:
        sys.stdout.write(frame.write_csv())
        return
    if output is AlertsFormat.json:
        sys.stdout.write(frame.write_json() + "\n")
        return
    if frame.is_empty():
        console.print("no alerts" + (f" since {start:%Y-%m-%d %H:%M}Z" if start else ""))
        return
    out = Console(highlight=False)
    if out.width < TABLE_MIN_WIDTH:  # a table this narrow cuts every column: one block each
        for row in frame.iter_rows(named=True):
            message = textwrap.fill(
                row["message"], out.width, initial_indent="  ", subsequent_indent="  "
            )
            out.print(f"{_block(row)}\n{message}\n", soft_wrap=True, markup=False)
        return
    table = Table(*_SHOWN, "delivered", "message", show_lines=False)
    for row in frame.iter_rows(named=True):
        table.add_row(
            f"{row['bucket']:%Y-%m-%d %H:%M}Z",
            row["rule"],
            row["trunk_id"],
            row["direction"],
            *_numbers(row),
            row["delivered"] or "-",
            row["message"],
        )
    Console(highlight=False, width=max(200, out.width)).print(table)


#: Terminal columns below which ``pipeline alerts`` prints a block per alert, not a table.
TABLE_MIN_WIDTH = 160


def _numbers(row: dict[str, Any]) -> list[str]:
    """Observed value, baseline and threshold, 4 significant digits ("" when absent)."""
    return [f"{row[c]:.4g}" if row[c] is not None else "" for c in _SHOWN[4:]]


def _block(row: dict[str, Any]) -> str:
    """An alert on a narrow terminal, bar its message: what and where, then the numbers."""
    observed, baseline, threshold = _numbers(row)
    return (
        f"{row['bucket']:%Y-%m-%d %H:%M}Z  {row['rule']}  trunk {row['trunk_id']}  "
        f"{row['direction']}\n"
        f"  observed {observed or '-'}  baseline {baseline or '-'}  threshold {threshold or '-'}"
        f"  delivered {row['delivered'] or '-'}"
    )
