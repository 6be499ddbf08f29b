"""Helpers for the lake tests: every warehouse table read back, comparable across backends."""

from __future__ import annotations

import duckdb

from pipeline.warehouse.lake_tables import table_schemas

#: Columns that record when or by which run a row was written: they differ between two runs.
VOLATILE = {
    "raw.calls": ("fetched_at",),
    "raw.rejected_calls": ("fetched_at",),
    "raw.ingest_ledger": ("fetched_at", "run_id", "seconds"),
    "raw.trunks": ("fetched_at",),
    "raw.stale_hours": ("marked_at",),
}


def tables() -> list[str]:
    """Every warehouse table, ``raw.calls``..."""
    return sorted(table_schemas())


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
