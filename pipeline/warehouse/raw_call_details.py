"""Land parsed export rows in ``raw.call_details`` one window at a time, idempotently.

The tables are ``sql/schema/raw_details.sql``: ``raw.call_details`` (one row per project and
``call_id``, latest fetch wins), ``raw.rejected_call_details`` and the append-only
``raw.details_ledger``. As for ``raw.calls`` (:mod:`pipeline.warehouse.raw_calls`):

1. pages are staged in TEMP tables of the writer's connection as they arrive;
2. :meth:`DetailsWriter.commit_window` replaces the window in ONE transaction: deletes the
   window's rows (``create_time`` in ``[start, end)``) and any row of the staged ids in other
   windows (the call moved: latest wins), inserts the staged rows de-duplicated by ``call_id``
   (latest page wins), replaces the window's rejected rows, appends the ledger row.

Re-running a window ends in the same tables; a run killed half-way leaves the previous
committed state (the staging tables die with the connection). A window whose export is
unavailable (403/404, ``CALLS_EXPORT=off``) gets a ledger row with status ``unavailable`` and
its note; its rows already landed stay.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.sinch.csv_rows import DETAILS_ARROW_SCHEMA
from pipeline.sinch.models import RejectedRecord, Window
from pipeline.warehouse.connection import connect, tune_for_bulk_writes
from pipeline.warehouse.schema import adopt_unscoped_rows
from pipeline.warehouse.stale_hours import mark_stale_hours, window_hours

_COLUMNS = ", ".join(DETAILS_ARROW_SCHEMA.names)
#: The window's staged rows, one per ``call_id`` (the latest page wins).
STAGED_DETAILS = (
    f"SELECT {_COLUMNS}, window_start, window_end, fetched_at FROM staged_details "
    "WHERE window_start = ? QUALIFY row_number() OVER (PARTITION BY call_id ORDER BY seq DESC) = 1"
)
#: The window's staged rejected rows, minus ids that arrived readable, one per id (or text).
STAGED_REJECTED = (
    "SELECT project_id, window_start, window_end, call_id, reason, raw_line, fetched_at "
    "FROM staged_details_rejected r WHERE window_start = ? AND NOT EXISTS (SELECT 1 FROM "
    "staged_details d WHERE d.window_start = r.window_start AND d.call_id = r.call_id) "
    "QUALIFY row_number() OVER (PARTITION BY coalesce(call_id, raw_line) "
    "ORDER BY fetched_at DESC) = 1"
)
#: The ``raw.details_ledger`` columns, in :func:`ledger_row` order.
LEDGER_COLUMNS = (
    "project_id", "window_start", "window_end", "fetched_at", "run_id", "status", "pages",
    "records", "rejected", "outside_window", "attempts", "seconds", "file_name", "note",
)  # fmt: skip
INSERT_LEDGER = (
    f"INSERT INTO raw.details_ledger ({', '.join(LEDGER_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(LEDGER_COLUMNS))})"
)


@dataclass(frozen=True, slots=True)
class DetailsFetch:
    """What reading a window of the export took (goes to ``raw.details_ledger``).

    Attributes:
        pages / attempts: CSV pages received, HTTP requests sent (retries included).
        seconds: wall time (s). outside_window: readable rows created outside the window.
        file_name: the ``Content-Disposition`` file name of the last page, or None.
    """

    pages: int = 0
    attempts: int = 0
    seconds: float = 0.0
    outside_window: int = 0
    file_name: str | None = None


@dataclass(frozen=True, slots=True)
class DetailsEntry:
    """A window's ledger row as committed.

    Attributes:
        window: the window. status: ``landed`` or ``unavailable``. records: distinct calls
            now in the window. rejected: rows in ``raw.rejected_call_details`` for it.
        fetch: what the fetch took. note: why unavailable, or None.
    """

    window: Window
    status: str
    records: int
    rejected: int
    fetch: DetailsFetch
    note: str | None = None


def ledger_row(
    project_id: str, run_id: str, entry: DetailsEntry, fetched_at: datetime
) -> tuple[object, ...]:
    """The ``raw.details_ledger`` row of ``entry``, in :data:`LEDGER_COLUMNS` order."""
    f = entry.fetch
    return (
        project_id, entry.window.start, entry.window.end, fetched_at, run_id, entry.status,
        f.pages, entry.records, entry.rejected, f.outside_window, f.attempts, f.seconds,
        f.file_name, entry.note,
    )  # fmt: skip


# Details change the analytics of their hours (true NER, SIP causes, MOS): the commit marks the
# window's hours in ``raw.stale_hours`` (:func:`~pipeline.warehouse.stale_hours.window_hours`:
# occupied until each hour's end, no export table reads occupancy), in the same transaction as
# the rows. A refresh drops only the marks it read before reading the details, so every order
# is safe: the run's own analytics step (after ``raw/call_details`` by step priority, or at the
# same time on a multi-process executor) either reads the details and drops the mark, or leaves
# the mark for the ``stale_analytics`` sensor / the CLI's follow-up refresh (which also
# rebuilds the local day's owner, :func:`pipeline.warehouse.ownership.dependent_owners`).


class DetailsWriter:
    """Stages export pages of one project and commits whole windows (one writer thread).

    Args:
        con: a write connection with the warehouse schema (the file, or a lake run's local
            staging database).
        run_id: recorded in the ledger.
        project_id: the project fetched; rows without ``Project Id`` are stored with it, rows
            naming another project are rejected with that reason.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, run_id: str, project_id: str) -> None:
        self.con = con
        self.run_id = run_id
        self.project_id = project_id
        self._seq = 0
        con.execute(
            "CREATE TEMP TABLE IF NOT EXISTS staged_details AS SELECT *, 0::BIGINT AS seq "
            "FROM raw.call_details WITH NO DATA"
        )
        con.execute(
            "CREATE TEMP TABLE IF NOT EXISTS staged_details_rejected AS "
            "SELECT * FROM raw.rejected_call_details WITH NO DATA"
        )

    def stage_page(
        self,
        window: Window,
        details: pa.Table,
        rejected: Sequence[RejectedRecord],
        fetched_at: datetime,
    ) -> None:
        """Stage one page and its rejected records.

        ``details`` are :data:`~pipeline.sinch.csv_rows.DETAILS_ARROW_SCHEMA` rows, all inside
        ``window``.
        """
        page, foreign = _own_project(details, self.project_id)
        rejected = [*rejected, *foreign]
        self._seq += 1
        if page.num_rows:
            self.con.execute(
                f"INSERT INTO staged_details SELECT {_COLUMNS}, ?::TIMESTAMPTZ, "
                "?::TIMESTAMPTZ, ?::TIMESTAMPTZ, ? FROM page",
                [window.start, window.end, fetched_at, self._seq],
            )
        if rejected:
            self.con.executemany(
                "INSERT INTO staged_details_rejected (project_id, window_start, window_end, "
                "call_id, reason, raw_line, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (self.project_id, window.start, window.end, r.call_id, r.reason, r.raw,
                     fetched_at)
                    for r in rejected
                ],
            )  # fmt: skip

    def discard_window(self, window: Window) -> None:
        """Forget what was staged for ``window``."""
        for table in ("staged_details", "staged_details_rejected"):
            self.con.execute(f"DELETE FROM {table} WHERE window_start = ?", [window.start])

    def commit_window(
        self, window: Window, fetch: DetailsFetch, fetched_at: datetime
    ) -> DetailsEntry:
        """Replace ``window``'s rows and append its ledger row (status ``landed``).

        ``raw.call_details`` and ``raw.rejected_call_details`` in one transaction, which also
        marks the window's hours in ``raw.stale_hours``.

        Raises:
            duckdb.Error: the write failed; rolled back, the window stays staged.
        """
        con, start = self.con, window.start
        mine = [self.project_id, window.start, window.end]
        ids = "SELECT call_id FROM staged_details WHERE window_start = ?"
        rejected_ids = "SELECT call_id FROM staged_details_rejected WHERE window_start = ?"
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                "DELETE FROM raw.call_details WHERE project_id = ? AND ((create_time >= ? "
                f"AND create_time < ?) OR call_id IN ({ids}))",
                [*mine, start],
            )
            con.execute(f"INSERT INTO raw.call_details {STAGED_DETAILS}", [start])
            con.execute(
                "DELETE FROM raw.rejected_call_details WHERE project_id = ? AND ((window_start "
                f">= ? AND window_start < ?) OR call_id IN ({ids}) OR call_id IN ({rejected_ids}))",
                [*mine, start, start],
            )
            con.execute(f"INSERT INTO raw.rejected_call_details {STAGED_REJECTED}", [start])
            mark_stale_hours(con, self.project_id, window_hours(window), fetched_at)
            entry = DetailsEntry(window, "landed", *self._counts(window), fetch)
            con.execute(INSERT_LEDGER, ledger_row(self.project_id, self.run_id, entry, fetched_at))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self.discard_window(window)
        return entry

    def _counts(self, window: Window) -> tuple[int, int]:
        mine = [self.project_id, window.start, window.end]
        (records,) = self.con.execute(
            "SELECT count(*) FROM raw.call_details WHERE project_id = ? AND create_time >= ? "
            "AND create_time < ?",
            mine,
        ).fetchall()[0]
        (rejected,) = self.con.execute(
            "SELECT count(*) FROM raw.rejected_call_details WHERE project_id = ? "
            "AND window_start >= ? AND window_start < ?",
            mine,
        ).fetchall()[0]
        return int(records), int(rejected)

    def record_unavailable(
        self, windows: Sequence[Window], note: str, fetched_at: datetime
    ) -> list[DetailsEntry]:
        """Append an ``unavailable`` ledger row with ``note`` for each window (rows stay)."""
        entries = [DetailsEntry(w, "unavailable", 0, 0, DetailsFetch(), note) for w in windows]
        rows = [ledger_row(self.project_id, self.run_id, e, fetched_at) for e in entries]
        if rows:
            self.con.executemany(INSERT_LEDGER, rows)
        return entries


def _own_project(page: pa.Table, project_id: str) -> tuple[pa.Table, list[RejectedRecord]]:
    """The rows of ``project_id`` (NULL ``Project Id`` filled with it) and the others rejected."""
    column = page.column("project_id")
    foreign = pc.fill_null(pc.not_equal(column, project_id), False)
    rejected = [
        RejectedRecord(
            f"Project Id {row['project_id']!r} is not the project fetched ({project_id})",
            row["raw_line"],
            row["call_id"],
        )
        for row in page.filter(foreign).select(["call_id", "project_id", "raw_line"]).to_pylist()
    ]
    page = page.filter(pc.invert(foreign))
    index = page.schema.get_field_index("project_id")
    ids = pa.array([project_id] * page.num_rows, pa.string())
    return page.set_column(index, page.schema.field(index), ids), rejected


@contextmanager
def duckdb_details_session(
    path: str | Path,
    run_id: str,
    project_id: str,
    *,
    memory_limit: str | None,
    lock_wait_s: float,
) -> Iterator[DetailsWriter]:
    """Open the file for writing (waiting for its lock) and yield a :class:`DetailsWriter`.

    Rows of a file from before ``project_id`` are adopted by the project first.
    """
    with connect(path, lock_wait_s=lock_wait_s) as con:
        tune_for_bulk_writes(con, memory_limit)
        adopt_unscoped_rows(con, project_id)
        yield DetailsWriter(con, run_id, project_id)


def details_coverage(
    con: duckdb.DuckDBPyConnection, project_id: str, start: datetime, end: datetime
) -> tuple[int, int]:
    """``(calls, calls with a details row)`` of a project's ``raw.calls`` in ``[start, end)``.

    Joined on ``(project_id, call_id)``; works on the file and on a lake reader alike.
    """
    (calls, detailed) = con.execute(
        "SELECT count(*), count(d.call_id) FROM raw.calls c LEFT JOIN raw.call_details d "
        "ON d.project_id = c.project_id AND d.call_id = c.call_id "
        "WHERE c.project_id = ? AND c.create_time >= ? AND c.create_time < ?",
        [project_id, start, end],
    ).fetchall()[0]
    return int(calls), int(detailed)


def known_window_calls(
    con: duckdb.DuckDBPyConnection, project_id: str, windows: Sequence[Window]
) -> dict[Window, int]:
    """Calls each window of ``windows`` is known to hold, for the export's page limit.

    From the window's latest ``raw.ingest_ledger`` row (``/calls`` fetched for exactly that
    window): the larger of ``records + rejected`` and ``totalItems``. A window left out is
    unknown: never listed, or listed before its end (the hour was still filling, so its count
    bounds nothing). Works on the file and on a lake reader alike.

    Returns:
        ``{window: calls}`` (calls >= 0) for the windows listed after their end.
    """
    if not windows:
        return {}
    by_start = {w.start: w for w in windows}
    try:
        rows = con.execute(
            "SELECT window_start, window_end, max(fetched_at), arg_max(greatest(records + "
            "rejected, coalesce(api_total_items, 0)), fetched_at) FROM raw.ingest_ledger WHERE "
            "project_id = ? AND window_start >= ? AND window_start <= ? "
            "GROUP BY window_start, window_end",
            [project_id, min(by_start), max(by_start)],
        ).fetchall()
    except duckdb.CatalogException:  # no raw.ingest_ledger yet: nothing is known
        return {}
    known: dict[Window, int] = {}
    for start, end, fetched_at, calls in rows:
        window = by_start.get(start)
        if window is not None and window.end == end and fetched_at >= end:
            known[window] = int(calls)
    return known
