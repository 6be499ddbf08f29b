"""``pipeline export``: every table and reporting view as Parquet or CSV files, for BI tools.

Tools that cannot open the warehouse (a DuckDB CLI of another major version, a BI tool that
would hold the file while an ingestion wants to write it) read the files instead. One file per
object: ``raw.calls.parquet``, ``analytics.cost_daily.parquet`` ..., and one per reporting
view or lookup of ``sql/views`` (``calls_enriched.parquet``, ``country_codes.parquet`` ...).

Everything is read on one connection from :func:`pipeline.reporting.source.read_connection`
(the DuckDB file read-only, waiting while an ingestion writes; or the Delta lake's current
snapshots), inside one transaction, so the files agree with each other. Parquet keeps the
types: instants are ``TIMESTAMP WITH TIME ZONE`` in UTC, money exact ``DECIMAL``; the ``raw``
JSON columns are written as text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import duckdb

from pipeline.reporting.source import read_connection
from pipeline.reporting.views import apply_views
from pipeline.settings import SettingsError, check_writable
from pipeline.warehouse.connection import DEFAULT_LOCK_WAIT_S


class ExportFormat(StrEnum):
    """The file format of ``pipeline export``."""

    parquet = "parquet"
    csv = "csv"


@dataclass(frozen=True)
class ExportedFile:
    """One written file: the table or view it holds, where, and its row count."""

    name: str
    path: Path
    rows: int


def check_target(out_dir: Path, *, overwrite: bool) -> None:
    """Refuse a file, a non-empty directory (unless ``overwrite``), or an unwritable target.

    An unwritable target is one this process cannot write in or create
    (:func:`~pipeline.settings.check_writable`).

    Raises:
        SettingsError: the target cannot be used; the message says why and what to do.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise SettingsError(f"{out_dir} is a file, not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        msg = f"{out_dir} exists and is not empty: choose a new directory, or pass --overwrite"
        raise SettingsError(msg)
    check_writable(out_dir, "DIR")


def exported_objects(con: duckdb.DuckDBPyConnection) -> list[str]:
    """What an export writes, on a reader connection with the views applied.

    Returns:
        The ``raw.*`` and ``analytics.*`` tables (views over Delta tables on the lake) by
        qualified name, sorted, then the TEMP views and tables of ``sql/views`` by name.
    """
    stored = con.execute(
        "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
        "WHERE NOT temporary AND schema_name IN ('raw', 'analytics') "
        "UNION SELECT schema_name || '.' || view_name FROM duckdb_views() "
        "WHERE NOT temporary AND NOT internal AND schema_name IN ('raw', 'analytics') ORDER BY 1"
    ).fetchall()
    # not the lake reader's registered Arrow datasets: raw.calls & co. are their views
    # (imported here: deltalake is a heavy import every `pipeline` command would pay)
    from pipeline.warehouse.lake_tables import ALIAS_PREFIX

    reporting = con.execute(
        "SELECT name FROM (SELECT table_name AS name FROM duckdb_tables() WHERE temporary "
        "UNION SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal) "
        "WHERE NOT starts_with(name, ?) ORDER BY 1",
        [ALIAS_PREFIX],
    ).fetchall()
    return [name for (name,) in stored] + [name for (name,) in reporting]


def _select(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """``SELECT`` of every column of ``name``, JSON columns cast to text (VARCHAR)."""
    columns = con.execute(f"DESCRIBE SELECT * FROM {name}").fetchall()
    items = [
        f'CAST("{col}" AS VARCHAR) AS "{col}"' if kind == "JSON" else f'"{col}"'
        for col, kind, *_ in columns
    ]
    return f"SELECT {', '.join(items)} FROM {name}"


def export_warehouse(
    db_path: str | Path,
    out_dir: Path,
    fmt: ExportFormat = ExportFormat.parquet,
    *,
    overwrite: bool = False,
    on_objects: Callable[[list[str]], None] | None = None,
    on_file: Callable[[ExportedFile], None] | None = None,
    lock_wait_s: float = DEFAULT_LOCK_WAIT_S,
) -> list[ExportedFile]:
    """Write every table and reporting view of the warehouse to ``out_dir``, one file each.

    Args:
        db_path: the DuckDB file (unused when ``CALLS_LAKE_URI`` sets a lake).
        out_dir: the directory to write (created; must be empty unless ``overwrite``).
        fmt: Parquet (types kept) or CSV (a header line, instants as ``…+00``).
        overwrite: write into a non-empty directory, replacing files of the same name.
        on_objects: called once with the names about to be written (for progress).
        on_file: called after each file is complete.
        lock_wait_s: how long to wait while an ingestion holds the DuckDB file.

    Returns:
        The files written, in order.

    Raises:
        SettingsError: ``out_dir`` is a file, or a non-empty directory without ``overwrite``.
        FileNotFoundError: the warehouse does not exist yet.
    """
    check_target(out_dir, overwrite=overwrite)
    written: list[ExportedFile] = []
    with read_connection(db_path, lock_wait_s=lock_wait_s) as con:
        apply_views(con)
        con.execute("BEGIN TRANSACTION")  # one snapshot for every file
        names = exported_objects(con)
        if on_objects:
            on_objects(names)
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # what os.access did not foresee (e.g. under /sys): one line
            raise SettingsError(f"DIR: cannot create {out_dir} ({exc.strerror or exc})") from None
        options = "FORMAT parquet" if fmt is ExportFormat.parquet else "FORMAT csv, HEADER true"
        for name in names:
            path = out_dir / f"{name}.{fmt.value}"
            partial = path.with_name(f".{path.name}.partial")
            quoted = str(partial).replace("'", "''")
            rows = con.execute(f"COPY ({_select(con, name)}) TO '{quoted}' ({options})").fetchall()
            partial.replace(path)
            exported = ExportedFile(name, path, int(rows[0][0]) if rows else 0)
            written.append(exported)
            if on_file:
                on_file(exported)
        con.execute("COMMIT")
    return written
