"""Land parsed call records in ``raw.calls`` one window at a time, idempotently.

How a window is written (one writer connection; see :mod:`pipeline.warehouse.connection`):

1. Pages are held as the parser's Arrow tables until their window commits
   (:class:`~pipeline.warehouse.staged_windows.StagedWindows`: one INSERT per window instead
   of a staging copy per page; a window past ``SPILL_ROWS`` rows goes to a TEMP table that
   DuckDB spills, so memory stays bounded). A window that was swept twice (the API's
   ``totalItems`` drifted) simply stages some calls twice; rejected records go to the TEMP
   table ``staged_rejected``.
2. :meth:`RawCallsWriter.commit_window` then, in ONE transaction: deletes the window's rows from
   ``raw.calls`` and ``raw.rejected_calls`` (by ``create_time`` in ``[start, end)``); *moves*
   staged calls that still have a row in another window (deletes that row and any
   ``raw.rejected_calls`` row of the id, and marks the hour it left in ``raw.stale_hours``);
   inserts the staged calls de-duplicated by ``call_id`` keeping the latest staged version
   (DuckDB keeps the *first* duplicate in ``INSERT OR REPLACE``, stack-hazards §0.7, so we
   de-duplicate ourselves), inserts the rejected records and appends a ledger row.

So re-running a window ends in exactly the same table, a call that changed (late ``endTime``,
late price) replaces its older version, and a run killed half-way leaves the previous committed
state (what was staged lives in the process and its connection, and vanishes with them).

``raw.calls`` holds one row per ``call_id`` across the whole table, and the latest fetch wins
everywhere: a call the API lists in another window than before (its ``createTime`` was
corrected, or the API lists it in two hours) moves to the window fetched last. Re-ingesting the
first window while the API still lists the call there moves it back. Either way
:func:`pipeline.warehouse.analytics.refresh_all` refreshes the hours it left (``stale_hours``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.sinch.models import CallRecord, RejectedRecord, Trunk, Window
from pipeline.sinch.pages import CALLS_ARROW_SCHEMA, records_to_arrow
from pipeline.transforms.calendar import MAX_CALL_DURATION
from pipeline.warehouse.connection import leave_cores
from pipeline.warehouse.ledger import INSERT_LEDGER, LedgerEntry, WindowFetch, ledger_values
from pipeline.warehouse.schema import adopt_unscoped_rows
from pipeline.warehouse.staged_windows import SPILL_ROWS, WINDOW_CALLS, StagedWindows
from pipeline.warehouse.stale_hours import mark_stale_hours

_RECORD_FIELDS = tuple(CALLS_ARROW_SCHEMA.names)
_CALL_COLUMNS = ", ".join(_RECORD_FIELDS)


class RawCallsWriter:
    """Stages pages and commits whole windows of one project into ``raw.*``.

    Every row it writes carries ``project_id``, and every delete (window replace, moves,
    rejected records, trunks) is limited to that project's rows. Not thread-safe: give it to
    one writer thread (the ingestion does).

    Args:
        con: a write connection from :func:`pipeline.warehouse.connection.open_connection`.
        run_id: recorded in the ledger (Dagster run id, or a CLI run id).
        project_id: the Sinch project the pages were fetched from. Rows of a file from before
            ``project_id`` (NULL there) are adopted by it first
            (:func:`~pipeline.warehouse.schema.adopt_unscoped_rows`).
        spill_rows: rows of one window held in memory before its pages go to a TEMP table
            (:class:`~pipeline.warehouse.staged_windows.StagedWindows`).
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        run_id: str,
        project_id: str,
        spill_rows: int = SPILL_ROWS,
    ) -> None:
        adopt_unscoped_rows(con, project_id)
        self._con = con
        self._run_id = run_id
        self._project_id = project_id
        self._staged = StagedWindows(con, spill_rows)
        con.execute(
            "CREATE TEMP TABLE IF NOT EXISTS staged_rejected AS "
            "SELECT * FROM raw.rejected_calls WITH NO DATA"
        )

    def stage_page(
        self,
        window: Window,
        calls: pa.Table | Sequence[CallRecord],
        rejected: Sequence[RejectedRecord],
        fetched_at: datetime,
        sweep: int = 1,
    ) -> None:
        """Stage one page of a window. Calls outside the window are a caller bug.

        Args:
            window: the window the page was fetched for.
            calls: parsed calls, as a :data:`~pipeline.sinch.pages.CALLS_ARROW_SCHEMA` table
                (what the client's pages carry) or as :class:`CallRecord` tuples.
            rejected: records the parser rejected.
            fetched_at: when the page arrived (UTC).
            sweep: the client's sweep number (kept for callers; staging does not depend on it).

        Calls are stored with the writer's ``project_id``; a call whose ``projectId`` names
        another project is rejected with that reason (the API answered for the wrong project).

        Pages of a window may repeat records (the client re-sweeps a slice, or splits it into
        halves that are swept again): staged calls are de-duplicated by ``call_id`` at commit
        (latest staged wins), staged rejected records by ``call_id`` or, without one, by their
        text; a rejected record whose ``call_id`` also arrived parsed is dropped.

        Raises:
            ValueError: a call's ``create_time`` is outside ``window``.
        """
        page = calls if isinstance(calls, pa.Table) else records_to_arrow(calls)
        if page.num_rows:
            _check_in_window(page, window)
            page, foreign = own_project(page, self._project_id)
            rejected = [*rejected, *foreign]
        if page.num_rows:
            self._staged.add(window.start, page, fetched_at)
        if rejected:
            self._con.executemany(
                "INSERT INTO staged_rejected (window_start, window_end, call_id, reason, raw, "
                "fetched_at, project_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (window.start, window.end, r.call_id, r.reason, r.raw, fetched_at, project)
                    for r in rejected
                    for project in (self._project_id,)
                ],
            )

    def leave_cores(self, reserved: int) -> AbstractContextManager[int]:
        """Leave ``reserved`` cores to other busy processes (:func:`connection.leave_cores`)."""
        return leave_cores(self._con, reserved)

    def discard_window(self, window: Window) -> None:
        """Forget what was staged for a window whose fetch failed."""
        self._staged.discard(window.start)
        self._con.execute("DELETE FROM staged_rejected WHERE window_start = ?", [window.start])

    @contextmanager
    def window_calls(self, window: Window) -> Iterator[str]:
        """Expose the window's staged calls, one row per ``call_id``, under a SQL name.

        The latest staged version of a call wins (:class:`StagedWindows`). The name (a view
        or a TEMP table with ``raw.calls``' columns) is valid inside the block.

        Yields:
            The SQL name, ``window_calls``.
        """
        self._staged.prepare(window.start, window.end)
        try:
            yield WINDOW_CALLS
        finally:
            self._staged.release()

    def commit_window(
        self, window: Window, fetch: WindowFetch, fetched_at: datetime
    ) -> LedgerEntry:
        """Replace the window in ``raw.calls`` / ``raw.rejected_calls`` and append a ledger row.

        One transaction. Staged calls whose ``call_id`` has a row in another window move here
        (see :meth:`_move_from_other_windows`); ``fetched_at`` (UTC) is the ledger's
        ``fetched_at`` and the ``marked_at`` of the hours they left. A fetch that did not
        reconcile (the API counted calls it did not list) is an upsert instead: it replaces
        the calls and rejected records it saw and keeps the window's others, so a short
        re-fetch never deletes calls landed before.

        Returns:
            The ledger entry: calls now in the window, rejected count, calls moved in,
            ``reconciled``/``shortfall`` as fetched, and ``settled`` (the API's count equals
            the previous fetch's count of the same window, and this fetch reconciled).

        Raises:
            duckdb.Error: the write failed; the transaction is rolled back and the window
                stays staged.
        """
        with self.window_calls(window):
            return self._commit(window, fetch, fetched_at)

    def _commit(self, window: Window, fetch: WindowFetch, fetched_at: datetime) -> LedgerEntry:
        """:meth:`commit_window`'s transaction, the window's calls in ``window_calls``."""
        con = self._con
        bounds = [self._project_id, window.start, window.end]
        in_window = "project_id = ? AND {0} >= ? AND {0} < ?"
        calls_scope, calls_args = in_window.format("create_time"), bounds
        rejected_scope, rejected_args = in_window.format("window_start"), bounds
        if not fetch.reconciled:
            # A short fetch replaces what it saw and keeps what it did not: the API counted
            # calls it did not list this time, and the ones landed before may be those.
            staged = f"SELECT call_id FROM {WINDOW_CALLS}"
            calls_scope += f" AND call_id IN ({staged})"
            rejected_scope += (
                f" AND (call_id IN ({staged}) OR coalesce(call_id, raw) IN (SELECT "
                "coalesce(call_id, raw) FROM staged_rejected WHERE window_start = ?))"
            )
            rejected_args = [*bounds, window.start]
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"DELETE FROM raw.calls WHERE {calls_scope}", calls_args)
            con.execute(f"DELETE FROM raw.rejected_calls WHERE {rejected_scope}", rejected_args)
            moved_in, taken = self._move_from_other_windows(window, fetched_at)
            con.execute(
                f"INSERT INTO raw.calls SELECT {_CALL_COLUMNS}, window_start, window_end, "
                f"fetched_at FROM {WINDOW_CALLS}"
            )
            (records,) = con.execute(
                f"SELECT count(*) FROM raw.calls WHERE {in_window.format('create_time')}", bounds
            ).fetchall()[0]
            # One row per callId: a record repeated across pages, or one without a readable
            # createTime that both windows sharing a boundary second list, is kept once (here,
            # the latest fetch); rejected records without a callId cannot be matched.
            taken += _returned(
                con.execute(
                    "DELETE FROM raw.rejected_calls WHERE project_id = ? AND call_id IN (SELECT "
                    "call_id FROM staged_rejected WHERE window_start = ? AND call_id IS NOT NULL) "
                    "RETURNING window_start",
                    [self._project_id, window.start],
                )
            )
            con.execute(
                "INSERT INTO raw.rejected_calls BY NAME SELECT * FROM staged_rejected r "
                f"WHERE window_start = ? AND NOT EXISTS (SELECT 1 FROM {WINDOW_CALLS} c WHERE "
                "c.call_id = r.call_id) "
                "QUALIFY row_number() OVER "
                "(PARTITION BY coalesce(call_id, raw) ORDER BY fetched_at DESC) = 1",
                [
                    window.start,
                ],
            )
            (rejected,) = con.execute(
                "SELECT count(*) FROM raw.rejected_calls WHERE project_id = ? AND window_start = ?",
                [self._project_id, window.start],
            ).fetchall()[0]
            previous = con.execute(
                "SELECT api_total_items FROM raw.ingest_ledger WHERE project_id = ? "
                "AND window_start = ? AND window_end = ? ORDER BY fetched_at DESC LIMIT 1",
                bounds,
            ).fetchall()
            settled = (
                bool(previous) and previous[0][0] == fetch.api_total_items and fetch.reconciled
            )
            row = (records, rejected, settled, moved_in)
            con.execute(
                INSERT_LEDGER,
                ledger_values(window, fetched_at, self._run_id, fetch, row, self._project_id),
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self.discard_window(window)
        return LedgerEntry(
            window,
            records,
            rejected,
            fetch.api_total_items,
            settled,
            fetch,
            moved_in=moved_in,
            reconciled=fetch.reconciled,
            shortfall=fetch.shortfall,
            rejected_taken=tuple(taken),
        )

    def _move_from_other_windows(
        self, window: Window, marked_at: datetime
    ) -> tuple[int, list[datetime]]:
        """Delete other windows' rows of the staged calls; mark the hours they leave stale.

        Runs inside :meth:`commit_window`'s transaction, after the window's own rows were
        deleted, so every ``raw.calls`` row whose ``call_id`` is staged for ``window`` belongs
        to another window. Those rows, and ``raw.rejected_calls`` rows of the same ids, are
        deleted; the UTC hour of each row's ``create_time`` goes to ``raw.stale_hours`` with
        the end of its occupancy (``end_time`` capped at ``create_time + MAX_CALL_DURATION``).

        Cost: one hash semi-join of the window's staged ids against ``raw.calls.call_id`` (no
        index: the probe reads that one column, except row groups DuckDB skips with the
        min/max of the staged ids), plus a semi-join against the small
        ``raw.rejected_calls``; the delete rescans only when something moved. Measured per
        window (DuckDB 2.0.1, 2 shared cores, 512 MB limit, 5 M rows of history, 2 000
        staged calls; the rest of the commit takes ~20 ms):

        * time-ordered ids (ULIDs, as the sandbox serves): ~2 ms, the row groups of other
          hours are skipped;
        * random ids (opaque tokens): 120-235 ms, ~30 ns per row of history, growing with
          the table (reading the strings alone is ~90 ms). A BIGINT hash of ``call_id`` in a
          side table would bring it to ~15 ms, if that ever matters.

        Returns:
            The number of distinct calls moved in, and the ``window_start`` of each
            ``raw.rejected_calls`` row deleted.
        """
        con = self._con
        staged_ids = f"SELECT call_id FROM {WINDOW_CALLS}"
        project = {"project": self._project_id}
        moved = con.execute(
            "SELECT call_id, date_trunc('hour', create_time), "
            # not least(): it skips NULL, and a call without end_time occupies nothing here
            "CASE WHEN end_time > create_time + $cap THEN create_time + $cap ELSE end_time END "
            f"FROM raw.calls WHERE project_id = $project AND call_id IN ({staged_ids})",
            {"cap": MAX_CALL_DURATION, **project},
        ).fetchall()
        taken = _returned(
            con.execute(
                "DELETE FROM raw.rejected_calls WHERE project_id = $project "
                f"AND call_id IN ({staged_ids}) RETURNING window_start",
                project,
            )
        )
        if not moved:
            return 0, taken
        hours: dict[datetime, datetime | None] = {}
        for _call_id, hour, occupied_until in moved:
            known = hours.get(hour)
            hours[hour] = occupied_until if known is None else max(known, occupied_until or known)
        mark_stale_hours(con, self._project_id, hours, marked_at)
        ids = sorted({call_id for call_id, _hour, _until in moved})
        con.execute(
            "DELETE FROM raw.calls WHERE project_id = ? "
            "AND call_id IN (SELECT unnest(?::VARCHAR[]))",
            [self._project_id, ids],
        )
        return len(ids), taken


def _returned(result: duckdb.DuckDBPyConnection) -> list[datetime]:
    """The one column a ``DELETE … RETURNING`` gave, as a list."""
    return [value for (value,) in result.fetchall()]


def _check_in_window(page: pa.Table, window: Window) -> None:
    """Raise ValueError naming the first call of ``page`` created outside ``window``."""
    created = page.column("create_time")
    inside = pc.and_(pc.greater_equal(created, window.start), pc.less(created, window.end))
    if pc.all(inside).as_py():
        return
    first = page.filter(pc.invert(inside)).slice(0, 1).to_pylist()[0]
    msg = (
        f"call {first['call_id']} created {first['create_time'].isoformat()} is outside "
        f"window [{window.start.isoformat()}, {window.end.isoformat()})"
    )
    raise ValueError(msg)


def own_project(page: pa.Table, project_id: str) -> tuple[pa.Table, list[RejectedRecord]]:
    """Split a page into calls of ``project_id`` (stored with it) and calls of another project.

    Args:
        page: parsed calls (:data:`~pipeline.sinch.pages.CALLS_ARROW_SCHEMA`).
        project_id: the project the page was fetched from.

    Returns:
        The page with ``project_id`` set on every row (a record without ``projectId`` is the
        fetched project's), and a :class:`RejectedRecord` for each call whose ``projectId``
        names another project.
    """
    column = page.column("project_id")
    foreign = pc.fill_null(pc.not_equal(column, project_id), False)
    rejected: list[RejectedRecord] = []
    if pc.any(foreign).as_py():
        for row in page.filter(foreign).select(["call_id", "project_id", "raw"]).to_pylist():
            reason = f"projectId {row['project_id']!r} is not the project fetched ({project_id})"
            rejected.append(RejectedRecord(reason, row["raw"], row["call_id"]))
        page = page.filter(pc.invert(foreign))
    index = page.schema.get_field_index("project_id")
    ids = pa.array([project_id] * page.num_rows, pa.string())
    return page.set_column(index, page.schema.field(index), ids), rejected


def replace_trunks(
    con: duckdb.DuckDBPyConnection, trunks: Iterable[Trunk], fetched_at: datetime, project_id: str
) -> int:
    """Replace the project's rows of ``raw.trunks`` with its current list (one transaction).

    Returns:
        The row count written.
    """
    rows = [(t.trunk_id, t.name, t.calls_per_second, t.raw, fetched_at, project_id) for t in trunks]
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM raw.trunks WHERE project_id = ?", [project_id])
        if rows:
            con.executemany(
                "INSERT INTO raw.trunks (trunk_id, name, calls_per_second, raw, fetched_at, "
                "project_id) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return len(rows)
