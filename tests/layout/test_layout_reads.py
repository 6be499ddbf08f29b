"""Reads leave no result open on a DuckDB connection.

``fetchone()`` on a one-row result reads the row but not the end of the stream: the result
stays open, and the next ``register()`` on that connection raises ``ResourceInUseException``
("connection has an unfinished result"). That failed two hostile-answer runs once (the writer
read ``current_setting('threads')`` so); the product reads with ``fetchall()``.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from pipeline.alerts.evaluate import hours_with_data
from pipeline.warehouse.migrate import _count

PIPELINE = Path(__file__).resolve().parents[2] / "pipeline"


def test_no_module_reads_with_fetchone():
    found = [
        f"{path.relative_to(PIPELINE.parent)}:{node.lineno}"
        for path in sorted(PIPELINE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr == "fetchone"
    ]
    assert found == []


def _register_works(con: duckdb.DuckDBPyConnection) -> bool:
    con.register("after", pa.table({"a": [1]}))
    return con.execute("SELECT count(*) FROM after").fetchall() == [(1,)]


def test_a_migration_count_leaves_the_connection_usable():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw; CREATE TABLE raw.t AS SELECT range AS a FROM range(3)")
    assert _count(con, "raw.t") == 3
    assert _register_works(con)


def test_the_alerts_hours_read_leaves_the_connection_usable():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw")
    con.execute(
        "CREATE TABLE raw.calls AS SELECT TIMESTAMPTZ '2026-11-02 10:15:00+00' AS create_time"
    )
    assert hours_with_data(con, 3) == (
        datetime(2026, 11, 2, 8, tzinfo=UTC), datetime(2026, 11, 2, 11, tzinfo=UTC),
    )  # fmt: skip
    assert _register_works(con)
    con.execute("DELETE FROM raw.calls")
    assert hours_with_data(con, 3) is None
    assert _register_works(con)
