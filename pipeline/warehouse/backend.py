"""One warehouse interface, two backends: the DuckDB file, or Delta Lake tables.

The ingestion (:mod:`pipeline.ingest.runner`), the analytics refresh, the asset checks and
every reader go through :class:`Warehouse`:

- :meth:`Warehouse.ingest_session` opens what one ingestion run writes through, an
  :class:`IngestSession`: stage pages, commit or discard a window, replace the trunks;
- :meth:`Warehouse.refresh_analytics` rebuilds the analytics buckets of re-ingested hours;
- :meth:`Warehouse.reader` yields a DuckDB connection on which ``raw.calls``,
  ``analytics.cost_hourly``... read the current tables (so the SQL in ``sql/`` runs unchanged).

:class:`DuckDBWarehouse` is the embedded file (:mod:`pipeline.warehouse.raw_calls`,
:mod:`pipeline.warehouse.analytics`); :class:`pipeline.warehouse.lake.LakeWarehouse` writes
Delta tables under a directory or an ``s3://`` prefix. :func:`open_warehouse` picks one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from pipeline.sinch.models import CallRecord, RejectedRecord, Trunk, Window
from pipeline.warehouse.analytics import TableRefresh, refresh_all
from pipeline.warehouse.connection import DEFAULT_LOCK_WAIT_S, connect, tune_for_bulk_writes
from pipeline.warehouse.ledger import LedgerEntry, WindowFetch
from pipeline.warehouse.raw_call_details import (
    DetailsEntry,
    DetailsFetch,
    duckdb_details_session,
)
from pipeline.warehouse.raw_calls import RawCallsWriter, replace_trunks
from pipeline.warehouse.schema import adopt_unscoped_rows


class IngestSession(Protocol):
    """What one ingestion run writes through (one writer thread)."""

    def replace_trunks(self, trunks: Iterable[Trunk], fetched_at: datetime) -> int:
        """Replace the project's ``raw.trunks`` rows with the current list; returns the count."""

    def stage_page(
        self,
        window: Window,
        calls: pa.Table | Sequence[CallRecord],
        rejected: Sequence[RejectedRecord],
        fetched_at: datetime,
    ) -> None:
        """Stage one page of a window (see :meth:`RawCallsWriter.stage_page`)."""

    def discard_window(self, window: Window) -> None:
        """Forget what was staged for a window whose fetch failed."""

    def commit_window(
        self, window: Window, fetch: WindowFetch, fetched_at: datetime
    ) -> LedgerEntry:
        """Replace the window in ``raw.*`` and append its ledger row (idempotent)."""

    def leave_cores(self, reserved: int) -> AbstractContextManager[int]:
        """Leave ``reserved`` cores to the run's parser processes inside the block."""


class DetailsSession(Protocol):
    """What one run of the export ingestion writes through (one writer thread)."""

    def stage_page(
        self,
        window: Window,
        details: pa.Table,
        rejected: Sequence[RejectedRecord],
        fetched_at: datetime,
    ) -> None:
        """Stage one export page of a window."""

    def discard_window(self, window: Window) -> None:
        """Forget what was staged for a window whose fetch failed."""

    def commit_window(
        self, window: Window, fetch: DetailsFetch, fetched_at: datetime
    ) -> DetailsEntry:
        """Replace the window in ``raw.call_details`` and append its ledger row."""

    def record_unavailable(
        self, windows: Sequence[Window], note: str, fetched_at: datetime
    ) -> list[DetailsEntry]:
        """Append ``unavailable`` ledger rows with ``note`` (the windows' rows stay)."""


class Warehouse(Protocol):
    """A warehouse backend: where ``raw.*`` and ``analytics.*`` live."""

    @property
    def location(self) -> str:
        """The file or the lake URI, for messages."""

    def ingest_session(self, run_id: str, project_id: str) -> AbstractContextManager[IngestSession]:
        """Open the run's writer for one project; ``run_id`` goes to the ledger."""

    def details_session(
        self, run_id: str, project_id: str
    ) -> AbstractContextManager[DetailsSession]:
        """Open the export ingestion's writer for one project (``raw.call_details``)."""

    def refresh_analytics(
        self,
        start: datetime,
        end: datetime,
        report_tz: str,
        project_id: str,
        *,
        raw_changed: bool = True,
    ) -> list[TableRefresh]:
        """Refresh the analytics buckets a project's hours ``[start, end)`` own."""

    def reader(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A short-lived DuckDB connection reading the tables under their ``raw.*`` names."""


class StagingSession:
    """Pages staged through a :class:`RawCallsWriter`; the base of both backends' sessions.

    Args:
        writer: the window writer whose staging tables hold the run's pages.
    """

    def __init__(self, writer: RawCallsWriter) -> None:
        self._writer = writer

    def stage_page(
        self,
        window: Window,
        calls: pa.Table | Sequence[CallRecord],
        rejected: Sequence[RejectedRecord],
        fetched_at: datetime,
    ) -> None:
        """Stage a page in the writer's staging tables (:meth:`RawCallsWriter.stage_page`)."""
        self._writer.stage_page(window, calls, rejected, fetched_at)

    def discard_window(self, window: Window) -> None:
        """Drop the window's staged rows."""
        self._writer.discard_window(window)

    def leave_cores(self, reserved: int) -> AbstractContextManager[int]:
        """Run the staging DuckDB beside ``reserved`` busy processes (fewer threads)."""
        return self._writer.leave_cores(reserved)


class DuckDBSession(StagingSession):
    """:class:`IngestSession` on one DuckDB write connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection, run_id: str, project_id: str) -> None:
        super().__init__(RawCallsWriter(con, run_id, project_id))
        self._con = con
        self._project_id = project_id

    def replace_trunks(self, trunks: Iterable[Trunk], fetched_at: datetime) -> int:
        """Replace the project's ``raw.trunks`` rows (one transaction)."""
        return replace_trunks(self._con, trunks, fetched_at, self._project_id)

    def commit_window(
        self, window: Window, fetch: WindowFetch, fetched_at: datetime
    ) -> LedgerEntry:
        """Replace the window in one transaction (:meth:`RawCallsWriter.commit_window`)."""
        return self._writer.commit_window(window, fetch, fetched_at)


class DuckDBWarehouse:
    """The embedded DuckDB file, exactly as without a lake.

    Args:
        path: the DuckDB file.
        memory_limit: DuckDB memory limit of the ingestion's writer (None: DuckDB's default).
        lock_wait_s: how long openers wait for another process's lock.
    """

    def __init__(
        self,
        path: str | Path,
        memory_limit: str | None = None,
        lock_wait_s: float = DEFAULT_LOCK_WAIT_S,
    ) -> None:
        self.path = path
        self.memory_limit = memory_limit
        self.lock_wait_s = lock_wait_s

    @property
    def location(self) -> str:
        """The file's path."""
        return str(self.path)

    @contextmanager
    def ingest_session(self, run_id: str, project_id: str) -> Iterator[DuckDBSession]:
        """Open the file for writing (tuned for bulk writes) for one run of one project."""
        with connect(self.path, lock_wait_s=self.lock_wait_s) as con:
            tune_for_bulk_writes(con, self.memory_limit)
            yield DuckDBSession(con, run_id, project_id)

    def details_session(self, run_id: str, project_id: str) -> AbstractContextManager[Any]:
        """Open the file for writing; yields a :class:`DetailsSession`.

        It is a :class:`~pipeline.warehouse.raw_call_details.DetailsWriter`: one transaction
        per window.
        """
        return duckdb_details_session(
            self.path,
            run_id,
            project_id,
            memory_limit=self.memory_limit,
            lock_wait_s=self.lock_wait_s,
        )

    def refresh_analytics(
        self,
        start: datetime,
        end: datetime,
        report_tz: str,
        project_id: str,
        *,
        raw_changed: bool = True,
    ) -> list[TableRefresh]:
        """:func:`~pipeline.warehouse.analytics.refresh_all` on a write connection.

        Rows of a file from before ``project_id`` are adopted by ``project_id`` first
        (:func:`~pipeline.warehouse.schema.adopt_unscoped_rows`).
        """
        with connect(self.path, lock_wait_s=self.lock_wait_s) as con:
            adopt_unscoped_rows(con, project_id)
            return refresh_all(con, start, end, report_tz, project_id, raw_changed=raw_changed)

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection (waits while a writer holds the file)."""
        with connect(self.path, read_only=True, lock_wait_s=self.lock_wait_s) as con:
            yield con


def open_warehouse(
    path: str | Path,
    lake_uri: str | None = None,
    *,
    memory_limit: str | None = None,
    lock_wait_s: float = DEFAULT_LOCK_WAIT_S,
) -> Warehouse:
    """The lake at ``lake_uri`` when given, else the DuckDB file at ``path``.

    Args:
        path: the DuckDB file (used when ``lake_uri`` is None or empty).
        lake_uri: a local directory or ``s3://bucket/prefix`` (credentials and endpoint from
            the ``AWS_*`` environment variables).
        memory_limit: DuckDB memory limit of the file's writer.
        lock_wait_s: how long DuckDB openers wait for another process's lock.

    Returns:
        A :class:`Warehouse`.
    """
    if lake_uri:
        from pipeline.warehouse.lake import LakeWarehouse

        return LakeWarehouse(lake_uri)
    return DuckDBWarehouse(path, memory_limit, lock_wait_s)
