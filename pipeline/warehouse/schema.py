"""The warehouse schema: DDL lives in ``sql/schema/*.sql`` (documented column by column).

The same files are what the code applies and what people read, so the documentation cannot
drift from the tables: :func:`apply_schema` runs them in name order (``analytics.sql`` then
``raw.sql``; each file is self-contained and idempotent).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import duckdb

#: ``sql/`` at the repository root (the project is installed in editable mode by ``uv sync``).
SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
SCHEMA_DIR = SQL_DIR / "schema"


@cache
def schema_statements() -> tuple[tuple[str, str], ...]:
    """Return ``(file name, SQL text)`` for every schema file, in name order.

    Raises:
        FileNotFoundError: ``sql/schema`` is missing (the package was installed without the
            repository checkout).
    """
    files = sorted(SCHEMA_DIR.glob("*.sql"))
    if not files:
        msg = f"no schema files in {SCHEMA_DIR}; run from a checkout of the repository"
        raise FileNotFoundError(msg)
    return tuple((f.name, f.read_text(encoding="utf-8")) for f in files)


def apply_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every schema and table that does not exist yet (idempotent)."""
    for _name, sql in schema_statements():
        con.execute(sql)
