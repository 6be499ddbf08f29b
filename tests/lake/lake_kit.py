"""Helpers for the lake tests: every warehouse table read back, comparable across backends."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from pipeline.jobs import run_ingest_job
from pipeline.sandbox.server import SandboxHandle
from pipeline.warehouse.lake_tables import table_schemas
from tests.conftest import DEMO_TZ, api_resource, quiet_console

#: Columns that record when or by which run a row was written: they differ between two runs.
VOLATILE = {
    "raw.calls": ("fetched_at",),
    "raw.rejected_calls": ("fetched_at",),
    "raw.ingest_ledger": ("fetched_at", "run_id", "seconds"),
    "raw.trunks": ("fetched_at",),
    "raw.call_details": ("fetched_at",),
    "raw.rejected_call_details": ("fetched_at",),
    "raw.details_ledger": ("fetched_at", "run_id", "seconds"),
    "raw.stale_hours": ("marked_at",),
    "analytics.alerts": ("raised_at",),
    "analytics.alert_deliveries": ("delivered_at",),
}


def tables() -> list[str]:
    """Every warehouse table, ``raw.calls``..."""
    return sorted(table_schemas())


def built_tables() -> list[str]:
    """The analytics tables a sandbox job must fill: not the alerts (may well be empty), not
    the tables from the export (empty until ``raw.call_details`` is ingested; the export KPIs
    are compared across backends in ``test_lake_export_kpis.py``)."""
    from pipeline.transforms import ANALYTICS_TABLES

    return [
        spec.qualified_name
        for spec in ANALYTICS_TABLES.values()
        if not spec.needs_details or spec.name.startswith("answer_rate")
    ]


def rows(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    """The table's rows without its volatile columns, in a fixed order."""
    drop = VOLATILE.get(table, ())
    exclude = f" EXCLUDE ({', '.join(drop)})" if drop else ""
    return con.execute(f"SELECT *{exclude} FROM {table} ORDER BY ALL").fetchall()


def column_types(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    """``(column, type)`` of a table; JSON reads as VARCHAR (Delta has no JSON type)."""
    described = con.execute(f"DESCRIBE {table}").fetchall()
    return [(name, "VARCHAR" if kind == "JSON" else kind) for name, kind, *_ in described]


def snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """Every table's comparable rows."""
    return {table: rows(con, table) for table in tables()}


def ingest(
    sb: SandboxHandle, db_path: Path, lake_uri: str | None, start: datetime, end: datetime
) -> None:
    """The job over ``[start, end)`` from the sandbox ``sb``: into the lake, or the file."""
    console = quiet_console()
    with pytest.MonkeyPatch.context() as mp:
        if lake_uri:
            mp.setenv("CALLS_LAKE_URI", lake_uri)
        else:
            mp.delenv("CALLS_LAKE_URI", raising=False)
        ok = run_ingest_job(
            start, end, db_path=db_path, report_tz=DEMO_TZ, console=console, sinch=api_resource(sb)
        )
    assert ok, console.file.getvalue()  # type: ignore[attr-defined]
