"""``raw.call_details`` on the Delta lake: the export ingestion's writer over ``CALLS_LAKE_URI``.

Pages are staged in an in-memory DuckDB database of the run's own with the very
:class:`~pipeline.warehouse.raw_call_details.DetailsWriter` staging tables (the same
de-duplication SQL as the file), and a window is committed as a short series of Delta commits,
each by predicate, the ledger row last:

1. ``raw/call_details``: the project's rows with ``create_time`` in the window replaced;
2. the staged ids' rows in other windows deleted (the call moved: latest wins);
3. ``raw/rejected_call_details``: rows of the staged ids elsewhere deleted, the window replaced;
4. ``raw/details_ledger``: one row appended.

Re-running a window (after a crash between steps too) ends in the same tables; a reader may
see a window between steps, as for ``raw/calls`` (:mod:`pipeline.warehouse.lake`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

import duckdb
import pyarrow as pa

from pipeline.sinch.models import Window
from pipeline.warehouse.lake import merge_stale
from pipeline.warehouse.lake_tables import Lake, between, in_lists, of_project
from pipeline.warehouse.raw_call_details import (
    INSERT_LEDGER,
    STAGED_DETAILS,
    STAGED_REJECTED,
    DetailsEntry,
    DetailsFetch,
    DetailsWriter,
    ledger_row,
)
from pipeline.warehouse.schema import apply_schema
from pipeline.warehouse.stale_hours import window_hours


class LakeDetailsSession(DetailsWriter):
    """A :class:`DetailsWriter` whose commits go to the lake (one writer thread).

    Args:
        lake: the lake (tables created already).
        run_id: recorded in the ledger.
        project_id: the project fetched; every predicate is limited to its rows.
    """

    def __init__(self, lake: Lake, run_id: str, project_id: str) -> None:
        local = duckdb.connect()
        local.execute("SET TimeZone='UTC'")
        apply_schema(local)
        super().__init__(local, run_id, project_id)
        self._lake = lake
        self._mine = of_project(project_id)

    def close(self) -> None:
        """Drop the staging database."""
        self.con.close()

    def commit_window(
        self, window: Window, fetch: DetailsFetch, fetched_at: datetime
    ) -> DetailsEntry:
        """Replace the window in the lake's tables, then append its ledger row.

        Raises:
            deltalake.exceptions.DeltaError: a write failed; the window stays staged and a
                re-run of it completes the tables.
        """
        rows = self._arrow(STAGED_DETAILS, window.start)
        rejected = self._arrow(STAGED_REJECTED, window.start)
        mine, lake = self._mine, self._lake
        in_window = between("create_time", window.start, window.end)
        by_start = between("window_start", window.start, window.end)
        ids = sorted(str(i) for i in rows.column("call_id").to_pylist())
        lake.write("raw.call_details", rows, predicate=f"{mine} AND {in_window}")
        for chunk in in_lists("call_id", ids):
            lake.delete("raw.call_details", f"{mine} AND {chunk} AND NOT ({in_window})")
        known = ids + [str(i) for i in rejected.column("call_id").to_pylist() if i is not None]
        for chunk in in_lists("call_id", sorted(set(known))):
            lake.delete("raw.rejected_call_details", f"{mine} AND {chunk} AND NOT ({by_start})")
        lake.write("raw.rejected_call_details", rejected, predicate=f"{mine} AND {by_start}")
        self._mark_details_hours(window, fetched_at)
        entry = DetailsEntry(window, "landed", rows.num_rows, rejected.num_rows, fetch)
        self._append_ledger([entry], fetched_at)
        self.discard_window(window)
        return entry

    def _mark_details_hours(self, window: Window, marked_at: datetime) -> None:
        """Mark the window's hours (:func:`~pipeline.warehouse.stale_hours.window_hours`).

        Written after the rows, and a reader takes its snapshot of ``raw/stale_hours`` before
        the other tables' (:meth:`~pipeline.warehouse.lake_tables.Lake.connect`): a reader that
        sees the mark sees the rows too.
        """
        merge_stale(self._lake, self.project_id, window_hours(window), marked_at)

    def record_unavailable(
        self, windows: Sequence[Window], note: str, fetched_at: datetime
    ) -> list[DetailsEntry]:
        """Append an ``unavailable`` ledger row with ``note`` per window (one commit)."""
        entries = [DetailsEntry(w, "unavailable", 0, 0, DetailsFetch(), note) for w in windows]
        if entries:
            self._append_ledger(entries, fetched_at)
        return entries

    def _append_ledger(self, entries: list[DetailsEntry], fetched_at: datetime) -> None:
        rows = [ledger_row(self.project_id, self.run_id, e, fetched_at) for e in entries]
        self.con.executemany(INSERT_LEDGER, rows)
        ledger = self.con.sql("SELECT * FROM raw.details_ledger").to_arrow_table()
        self.con.execute("DELETE FROM raw.details_ledger")
        self._lake.write("raw.details_ledger", ledger)

    def _arrow(self, sql: str, start: datetime) -> pa.Table:
        table: pa.Table = self.con.sql(sql, params=[start]).to_arrow_table()
        return table


@contextmanager
def lake_details_session(lake: Lake, run_id: str, project_id: str) -> Iterator[DetailsWriter]:
    """Create the tables that do not exist yet, then yield the run's details writer."""
    lake.ensure_tables()
    session = LakeDetailsSession(lake, run_id, project_id)
    try:
        yield session
    finally:
        session.close()
