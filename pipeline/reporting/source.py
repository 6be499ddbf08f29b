"""Where readers read: the DuckDB file, or the Delta lake when ``CALLS_LAKE_URI`` is set.

:func:`read_connection` is what ``pipeline sql``, ``pipeline report``, the demo summary and the
notebook open: a short-lived DuckDB connection on which ``raw.calls``, ``analytics.*`` ... are
the warehouse's tables, whichever backend holds them (:mod:`pipeline.warehouse.backend`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from pipeline import settings
from pipeline.warehouse.backend import open_warehouse
from pipeline.warehouse.connection import DEFAULT_LOCK_WAIT_S


@contextmanager
def read_connection(
    db_path: str | Path, *, lock_wait_s: float = DEFAULT_LOCK_WAIT_S
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection reading the warehouse: the lake (``CALLS_LAKE_URI``) or ``db_path``.

    Args:
        db_path: the DuckDB file, opened read-only (waiting while a writer holds it).
        lock_wait_s: how long to wait for the file's lock.

    Yields:
        The connection; closed on exit.

    Raises:
        FileNotFoundError: the file, or the lake's tables, do not exist yet.
    """
    warehouse = open_warehouse(db_path, settings.lake_uri(), lock_wait_s=lock_wait_s)
    with warehouse.reader() as con:
        yield con


def warehouse_exists(db_path: str | Path) -> bool:
    """Whether the warehouse readers would open has been written (file or lake)."""
    lake = settings.lake_uri()
    if lake:
        from pipeline.warehouse.lake_tables import Lake

        return Lake(lake).exists()
    return Path(db_path).exists()


def warehouse_name(db_path: str | Path) -> str:
    """The lake URI or the file path, for messages."""
    return settings.lake_uri() or str(db_path)
