"""The warehouse schema: DDL lives in ``sql/schema/*.sql`` (documented column by column).

The same files are what the code applies and what people read, so the documentation cannot
drift from the tables: :func:`apply_schema` runs them in name order (``analytics.sql`` then
``raw.sql``; each file is self-contained and idempotent).
"""

from __future__ import annotations

from functools import cache

import duckdb

from pipeline.resources import sql_dir


@cache
def schema_statements() -> tuple[tuple[str, str], ...]:
    """Return ``(file name, SQL text)`` for every schema file, in name order.

    The files are ``sql/schema/*.sql`` of the checkout or of the installed wheel (see
    :mod:`pipeline.resources`).

    Raises:
        FileNotFoundError: ``sql/schema`` holds no ``.sql`` file (a damaged install), or the
            SQL files are missing altogether (:class:`~pipeline.resources.ResourcesMissingError`).
    """
    schema_dir = sql_dir("schema")
    files = sorted(schema_dir.glob("*.sql"))
    if not files:
        msg = f"no schema files in {schema_dir}; reinstall the package"
        raise FileNotFoundError(msg)
    return tuple((f.name, f.read_text(encoding="utf-8")) for f in files)


def apply_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every schema and table that does not exist yet (idempotent)."""
    for _name, sql in schema_statements():
        con.execute(sql)
