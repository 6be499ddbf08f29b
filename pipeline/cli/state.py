"""``pipeline status``: the Dagster instance's view of each asset and check.

It reads the persistent instance the ``pipeline`` command records its runs in
(:mod:`pipeline.state.instance`: ``DAGSTER_HOME``, default ``./.dagster``), the one
``dagster dev`` shows; from the warehouse only the number of alerts raised for the range's
hours (a check's status is its latest evaluation, which may cover other hours).
:mod:`pipeline.cli` registers it on the app.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console

from pipeline import settings
from pipeline.cli.common import console, user_errors
from pipeline.ingest.windows import floor_hour

#: Spans of missing hours listed per asset and project; the rest are counted.
MAX_SPANS = 4


def _range(start: str | None, end: str | None, days: int) -> tuple[datetime, datetime]:
    from pipeline.cli.ingest import check_ingest_range, parse_hour
    from pipeline.defs.partitions import PARTITION_FORMAT, partitions_start

    now = datetime.now(UTC)
    last = parse_hour(end, "--end") if end else floor_hour(now)
    first_partition = datetime.strptime(partitions_start(), PARTITION_FORMAT).replace(tzinfo=UTC)
    asked = parse_hour(start, "--start") if start else last - timedelta(days=days)
    first = max(asked, first_partition)
    if first >= last:
        before = (
            f": it ends before the first partition {first_partition:%Y-%m-%dT%H} "
            "(CALLS_PARTITIONS_START)"
            if last <= first_partition
            else ""
        )
        msg = f"the range {asked:%Y-%m-%dT%H} → {last:%Y-%m-%dT%H} holds no hour{before}"
        raise settings.SettingsError(msg)
    check_ingest_range(first, last, now)  # future hours cannot be ingested, nor missing
    return first, last


def _open_alerts(first: datetime, last: datetime) -> int:
    """Alerts stored for buckets in ``[first, last)`` (0 when the warehouse does not exist)."""
    from pipeline.alerts.store import read_alerts
    from pipeline.defs.environment import warehouse_resource

    try:
        alerts = read_alerts(warehouse_resource().backend(), first)
    except FileNotFoundError:
        return 0
    return alerts.filter(alerts["bucket"] < last).height


def _spans_text(spans: list) -> str:  # list of pipeline.sinch.models.Window
    shown = [
        f"{w.start:%Y-%m-%dT%H}" if w.end - w.start == timedelta(hours=1)
        else f"{w.start:%Y-%m-%dT%H}–{w.end - timedelta(hours=1):%Y-%m-%dT%H}"
        for w in spans[:MAX_SPANS]
    ]  # fmt: skip
    more = len(spans) - len(shown)
    return ", ".join(shown) + (f" (+{more} more spans)" if more else "")


def status(
    start: Annotated[
        str | None,
        typer.Option(help="first hour, UTC [default: --days before --end, ≥ partitions start]"),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(help="end hour (exclusive), UTC [default: the current hour, still open]"),
    ] = None,
    days: Annotated[int, typer.Option(min=1, help="days before --end, without --start")] = 7,
) -> None:
    """Per asset: last materialized hour and missing hours in the range; failing checks.

    Reads the Dagster instance the CLI records its runs in (DAGSTER_HOME, default ./.dagster),
    the one `dagster dev` shows. The range defaults to the last 7 days of closed hours, as
    `pipeline demo` ingests them.
    """
    from pipeline.cli.ingest import quiet_dagster_warnings

    with user_errors():
        first, last = _range(start, end, days)
        quiet_dagster_warnings()
        from pipeline.definitions import build_definitions
        from pipeline.state.instance import dagster_home, open_instance
        from pipeline.state.status import read_status

        defs = build_definitions()
        with open_instance() as instance:
            assets, checks = read_status(instance, defs, first, last)
    out = Console(highlight=False, soft_wrap=True)
    out.print(
        f"Dagster instance {dagster_home()}, hours {first:%Y-%m-%dT%H} → {last:%Y-%m-%dT%H} UTC",
        markup=False,
    )
    width = max((len(a.key) for a in assets), default=0)
    for asset in assets:
        last_hour = f"{asset.last_hour:%Y-%m-%dT%H}" if asset.last_hour else "never"
        spans = "; ".join(
            f"{project + ': ' if project else ''}{_spans_text(gaps)}"
            for project, gaps in asset.missing.items()
        )
        missing = f"missing {asset.missing_hours:,} h: {spans}" if spans else "missing none"
        out.print(f"  {asset.key:<{width}}  last {last_hour}  {missing}", markup=False)
    failing = [c for c in checks if c.passed is False]
    never = [c for c in checks if c.passed is None]
    passing = len(checks) - len(failing) - len(never)
    out.print(f"Checks: {passing} passing, {len(failing)} failing, {len(never)} never evaluated")
    for check in failing:
        when = f"{check.at:%Y-%m-%d %H:%M}Z" if check.at else ""
        out.print(
            f"  FAILING {check.name} on {check.asset} ({check.severity}, {when})"
            + (f": {check.detail}" if check.detail else ""),
            style="red" if check.severity == "ERROR" else "yellow",
            markup=False,
        )
    if never:
        out.print(f"  never evaluated: {', '.join(c.name for c in never)}", markup=False)
    alerts = _open_alerts(first, last)
    if alerts:
        out.print(
            f"Alerts: {alerts:,} raised for hours in the range (a check shows its latest run "
            f"only): `pipeline alerts --since {first:%Y-%m-%dT%H}`",
            style="yellow",
            markup=False,
        )
    if not any(a.last_hour for a in assets):
        console.print(
            f"[yellow]nothing materialized in {dagster_home()} yet: run `pipeline demo`, or set "
            "DAGSTER_HOME to the instance your runs went to[/]"
        )
