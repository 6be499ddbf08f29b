"""Ready SQL queries (``sql/queries/*.sql``) run against the warehouse, read into Polars.

Each file starts with a header comment (question, window, columns with units, parameters),
then ``.read sql/views/all.sql`` (the TEMP reporting views) and one ``SELECT``. Any ``.sql``
file run by :func:`run_query` gets the views first, so a file of one's own needs no ``.read``
line (one that has it still works: the views are created again, identically). The ready
queries keep the line so that the same file runs with the DuckDB command line from the
repository root::

    duckdb -readonly data/calls.duckdb < sql/queries/answer_rate_7d.sql

and with ``pipeline sql answer_rate_7d``. Readers never hold the file: :func:`run_query`
opens a read-only connection (waiting while an ingestion run writes), reads the whole result
into a Polars frame and closes. With ``CALLS_LAKE_URI`` set, the same SQL reads the Delta
lake's tables instead (:mod:`pipeline.reporting.source`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from pipeline.reporting.source import read_connection
from pipeline.reporting.views import read_script
from pipeline.resources import sql_dir
from pipeline.settings import SettingsError
from pipeline.warehouse.connection import DEFAULT_LOCK_WAIT_S

#: ``sql/queries`` of the checkout or of the installed wheel (:mod:`pipeline.resources`).
QUERIES_DIR = sql_dir("queries")


@dataclass(frozen=True)
class QueryFile:
    """A ready query: its name (file stem), path and the question its header answers."""

    name: str
    path: Path
    question: str


def _question(path: Path) -> str:
    """The header's first sentence: the text after ``NAME:`` on the first comment lines."""
    parts: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("--"):
            break
        text = line.removeprefix("--").strip()
        if not parts:
            text = text.split(":", 1)[1].strip() if ":" in text else text
        parts.append(text)
        if text.endswith("?") or text.endswith("."):
            break
    return " ".join(parts)


def list_queries() -> list[QueryFile]:
    """Every ready query, by name."""
    return [
        QueryFile(path.stem, path, _question(path)) for path in sorted(QUERIES_DIR.glob("*.sql"))
    ]


def resolve_query(name_or_file: str) -> Path:
    """The SQL file for a ready query name (``answer_rate_7d``) or a path to a ``.sql`` file.

    Raises:
        SettingsError: neither a known name nor an existing file (the message lists the names).
    """
    candidate = Path(name_or_file)
    if candidate.suffix == ".sql" and candidate.is_file():
        return candidate
    known = {query.name: query.path for query in list_queries()}
    if name_or_file in known:
        return known[name_or_file]
    msg = f"unknown query {name_or_file!r}: use one of {', '.join(sorted(known))} or a .sql file"
    raise SettingsError(msg)


def run_sql(
    db_path: str | Path, sql: str, *, lock_wait_s: float = DEFAULT_LOCK_WAIT_S
) -> pl.DataFrame:
    """Run ad-hoc ``sql`` and return the last statement's result as a Polars frame.

    The SQL (no dot commands) runs with the reporting views on a short read-only connection.
    """
    from pipeline.reporting.views import apply_views

    with read_connection(db_path, lock_wait_s=lock_wait_s) as con:
        apply_views(con)
        return con.sql(sql).pl()


def run_query(
    db_path: str | Path, name_or_file: str, *, lock_wait_s: float = DEFAULT_LOCK_WAIT_S
) -> pl.DataFrame:
    """Run a ready query (name or ``.sql`` path) and return its result as a Polars frame.

    The reporting views (``sql/views``) are created first, whether or not the file reads them.

    Raises:
        SettingsError: unknown name, a file whose last statement returns no rows (empty,
            or only DDL/SET), or one that creates a non-TEMP object (the file is read-only).
    """
    from pipeline.reporting.views import apply_views

    path = resolve_query(name_or_file)
    script = read_script(path)
    with read_connection(db_path, lock_wait_s=lock_wait_s) as con:
        apply_views(con)
        try:
            relation = con.sql(script)
        except duckdb.Error as exc:
            if "read-only mode" not in str(exc):
                raise
            msg = (
                f"{path}: the warehouse is opened read-only, so a query file can create only "
                "TEMP objects (CREATE TEMP VIEW / CREATE TEMP TABLE)"
            )
            raise SettingsError(msg) from None
        if relation is None:
            msg = f"{path} has no query that returns rows (its last statement must be a SELECT)"
            raise SettingsError(msg)
        return relation.pl()
