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
    """Create every schema and table that does not exist yet (idempotent).

    A file from before ``project_id`` has ``raw.stale_hours`` keyed by hour alone; it is
    rebuilt once with the new key, each of its hours marked for every project in
    ``raw.calls`` (refreshing a project's hour that did not need it is harmless).
    """
    legacy = _columns(con, "raw", "stale_hours")
    if legacy and "project_id" not in legacy:
        con.execute("ALTER TABLE raw.stale_hours RENAME TO stale_hours_before_projects")
    for _name, sql in schema_statements():
        con.execute(sql)
    if legacy and "project_id" not in legacy:
        con.execute(
            "INSERT INTO raw.stale_hours SELECT p.project_id, s.hour_start, s.occupied_until, "
            "s.marked_at FROM raw.stale_hours_before_projects s, "
            "(SELECT DISTINCT project_id FROM raw.calls WHERE project_id IS NOT NULL) p"
        )
        con.execute("DROP TABLE raw.stale_hours_before_projects")


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchall()
    return {name for (name,) in rows}


def scoped_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Qualified names of the ``raw.*`` and ``analytics.*`` tables with a ``project_id``."""
    rows = con.execute(
        "SELECT DISTINCT table_schema || '.' || table_name FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema IN ('raw', 'analytics') "
        "AND column_name = 'project_id' ORDER BY 1"
    ).fetchall()
    return [name for (name,) in rows]


def adopt_unscoped_rows(con: duckdb.DuckDBPyConnection, project_id: str) -> int:
    """Give rows written before ``project_id`` existed (NULL there) to ``project_id``.

    Files from before many projects held one project; the first project that writes such a
    file adopts its rows, so its windows, ledger, trunks and analytics are replaced as its
    own. A no-op on files without such rows (one cheap scan of each table's ``project_id``).

    Returns:
        The rows adopted, all tables together.
    """
    adopted = 0
    for table in scoped_tables(con):
        sql = f"UPDATE {table} SET project_id = ? WHERE project_id IS NULL"
        (count,) = con.execute(sql, [project_id]).fetchall()[0]
        adopted += int(count)
    return adopted
