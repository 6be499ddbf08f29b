"""The Delta Lake backend: the warehouse as Delta tables (delta-rs) under ``CALLS_LAKE_URI``.

Same tables, columns and promises as the DuckDB file (layout in
:mod:`pipeline.warehouse.lake_tables`). A run stages pages in an in-memory DuckDB database of
its own (the very :class:`~pipeline.warehouse.raw_calls.RawCallsWriter` staging tables, so
de-duplication is the same SQL) and commits a window as a short series of Delta commits:

1. the hours that staged calls move out of are merged into ``raw/stale_hours`` (only when a
   call moved);
2. ``raw/calls``: the window replaced in one commit (``mode="overwrite"`` with the predicate
   ``create_time`` in the window), rows de-duplicated by ``call_id``, the latest staged wins;
3. the moved calls' rows in other windows deleted and their hours marked again with a later
   ``marked_at`` (only when a call moved: the first mark survives a crash, the second a
   refresh that read the marks between steps 1 and 3);
4. ``raw/rejected_calls``: rows of the staged ids deleted, then the window replaced;
5. ``raw/ingest_ledger``: one row appended, the same fields as the DuckDB ledger.

Each step replaces by predicate and the ledger row comes last, so re-running a window (after
a crash between steps, too) ends in the same tables; the ledger gains a row per run, as in
DuckDB. Unlike DuckDB's single transaction, a reader may see a window between steps.

The analytics refresh is :func:`~pipeline.warehouse.analytics.refresh_all` reading the lake
through DuckDB and writing each table's bucket range with one predicate overwrite.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from pipeline.sinch.models import Trunk, Window
from pipeline.sinch.pages import CALLS_ARROW_SCHEMA
from pipeline.transforms import TableSpec
from pipeline.transforms.calendar import MAX_CALL_DURATION
from pipeline.warehouse.analytics import TableRefresh, refresh_all
from pipeline.warehouse.backend import StagingSession
from pipeline.warehouse.lake_tables import Lake, between, in_lists, literal, of_project
from pipeline.warehouse.ledger import INSERT_LEDGER, LedgerEntry, WindowFetch, ledger_values
from pipeline.warehouse.raw_calls import RawCallsWriter, replace_trunks
from pipeline.warehouse.schema import apply_schema

_CALL_COLUMNS = ", ".join([*CALLS_ARROW_SCHEMA.names, "window_start", "window_end", "fetched_at"])
_MICROSECOND = timedelta(microseconds=1)
# ``{calls}``: the window's staged calls, one row per call_id (RawCallsWriter.window_calls).
_STAGED_CALLS = f"SELECT {_CALL_COLUMNS} FROM {{calls}} WHERE window_start = ?"
_STAGED_REJECTED = (
    "SELECT * FROM staged_rejected r WHERE window_start = ? AND NOT EXISTS (SELECT 1 FROM "
    "{calls} c WHERE c.call_id = r.call_id) "
    "QUALIFY row_number() OVER (PARTITION BY coalesce(call_id, raw) ORDER BY fetched_at DESC) = 1"
)


def _local_database() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB database (UTC) with the warehouse schema: the run's staging."""
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    apply_schema(con)
    return con


class LakeSession(StagingSession):
    """:class:`~pipeline.warehouse.backend.IngestSession` over the lake (one writer thread).

    Every predicate it writes or deletes by is limited to its project's rows.

    Args:
        lake: the lake (tables created already).
        run_id: recorded in the ledger.
        project_id: the project the run fetches.
    """

    def __init__(self, lake: Lake, run_id: str, project_id: str) -> None:
        self._local = _local_database()
        super().__init__(RawCallsWriter(self._local, run_id, project_id))
        self._lake = lake
        self._run_id = run_id
        self._project_id = project_id
        self._mine = of_project(project_id)

    def close(self) -> None:
        """Drop the staging database."""
        self._local.close()

    def replace_trunks(self, trunks: Iterable[Trunk], fetched_at: datetime) -> int:
        """Overwrite the project's ``raw/trunks`` rows with the current list (one commit)."""
        count = replace_trunks(self._local, trunks, fetched_at, self._project_id)
        rows = self._local.sql("SELECT * FROM raw.trunks").to_arrow_table()
        self._local.execute("DELETE FROM raw.trunks")
        self._lake.write("raw.trunks", rows, predicate=self._mine)
        return count

    def commit_window(
        self, window: Window, fetch: WindowFetch, fetched_at: datetime
    ) -> LedgerEntry:
        """Replace the window in the lake's ``raw`` tables and append its ledger row.

        Returns:
            The ledger entry, as :meth:`RawCallsWriter.commit_window` returns it.

        Raises:
            deltalake.exceptions.DeltaError: a write failed; the window stays staged and a
                re-run of it completes the tables.
        """
        local = self._local
        with self._writer.window_calls(window) as staged:
            calls = _arrow(local, _STAGED_CALLS.format(calls=staged), window.start)
            rejected = _arrow(local, _STAGED_REJECTED.format(calls=staged), window.start)
        moved, stale_rejected, previous = self._inspect(window, calls, rejected)
        mine = self._mine
        in_window = between("create_time", window.start, window.end)
        if moved:
            self._mark_stale(moved, fetched_at)
        by_start = between("window_start", window.start, window.end)
        if fetch.reconciled:
            self._lake.write("raw.calls", calls, predicate=f"{mine} AND {in_window}")
        else:
            self._upsert(calls, rejected, f"{mine} AND {in_window}", f"{mine} AND {by_start}")
        moved_ids = sorted({call_id for call_id, _hour, _until in moved})
        for ids in in_lists("call_id", moved_ids):
            self._lake.delete("raw.calls", f"{mine} AND {ids} AND NOT ({in_window})")
        if moved:
            # Marked again, later, now that the rows left: a refresh that read the first mark
            # before this commit's rows keeps this one (Lake.snapshot_order).
            self._mark_stale(moved, max(datetime.now(UTC), fetched_at + _MICROSECOND))
        for ids in in_lists("call_id", sorted({call_id for call_id, _ in stale_rejected})):
            self._lake.delete("raw.rejected_calls", f"{mine} AND {ids}")
        if fetch.reconciled:
            self._lake.write("raw.rejected_calls", rejected, predicate=f"{mine} AND {by_start}")
            counts = (calls.num_rows, rejected.num_rows)
        else:
            counts = (
                self._count("raw.calls", in_window),
                self._count("raw.rejected_calls", by_start),
            )
        settled = previous == fetch.api_total_items and fetch.reconciled
        landed = (*counts, settled, len(moved_ids))
        values = ledger_values(window, fetched_at, self._run_id, fetch, landed, self._project_id)
        local.execute(INSERT_LEDGER, values)
        ledger = local.sql("SELECT * FROM raw.ingest_ledger").to_arrow_table()
        local.execute("DELETE FROM raw.ingest_ledger")
        self._lake.write("raw.ingest_ledger", ledger)
        self.discard_window(window)
        return LedgerEntry(
            window,
            *counts,
            fetch.api_total_items,
            settled,
            fetch,
            moved_in=len(moved_ids),
            reconciled=fetch.reconciled,
            shortfall=fetch.shortfall,
            rejected_taken=tuple(start for _call_id, start in stale_rejected),
        )

    def _upsert(
        self, calls: pa.Table, rejected: pa.Table, calls_scope: str, rejected_scope: str
    ) -> None:
        """A short fetch: replace the calls and rejected records it saw, keep the others.

        The rows of the staged ids (and rejected records without one, by text) are deleted
        from the window, then the staged rows appended, as the DuckDB commit does.
        """
        call_ids = [str(i) for i in calls.column("call_id").to_pylist()]
        for ids in in_lists("call_id", call_ids):
            self._lake.delete("raw.calls", f"{calls_scope} AND {ids}")
        if calls.num_rows:
            self._lake.write("raw.calls", calls)
        seen = call_ids + [str(i) for i in rejected.column("call_id").to_pylist() if i is not None]
        texts = [str(r["raw"]) for r in rejected.to_pylist() if r["call_id"] is None]
        for ids in [*in_lists("call_id", seen), *in_lists("raw", texts)]:
            self._lake.delete("raw.rejected_calls", f"{rejected_scope} AND {ids}")
        if rejected.num_rows:
            self._lake.write("raw.rejected_calls", rejected)

    def _count(self, name: str, scope: str) -> int:
        """Rows of the session's project in ``name`` matching ``scope``."""
        sql = f"SELECT count(*) AS n FROM t WHERE {self._mine} AND {scope}"
        return int(self._lake.query(name, sql).column("n")[0].as_py())

    def _inspect(
        self, window: Window, calls: pa.Table, rejected: pa.Table
    ) -> tuple[list[tuple[str, datetime, datetime | None]], list[tuple[str, datetime]], object]:
        """What the window's commit changes outside the window, read from the lake.

        Returns:
            The moved calls ``(call_id, hour, occupied_until)`` (rows of the staged ids in
            other windows), the ``(call_id, window_start)`` of the ``raw/rejected_calls`` rows
            outside the window that go, and the API's count at the window's previous fetch
            (``_NEVER``: never fetched).
        """
        ids = sorted(str(i) for i in calls.column("call_id").to_pylist())
        moved: list[tuple[str, datetime, datetime | None]] = []
        elsewhere = f"{self._mine} AND NOT ({between('create_time', window.start, window.end)})"
        for chunk in in_lists("call_id", ids):
            sql = f"SELECT call_id, create_time, end_time FROM t WHERE {chunk} AND {elsewhere}"
            moved += [_occupancy(row) for row in self._lake.query("raw.calls", sql).to_pylist()]
        ids += [str(i) for i in rejected.column("call_id").to_pylist() if i is not None]
        stale_rejected: list[tuple[str, datetime]] = []
        elsewhere = f"{self._mine} AND NOT ({between('window_start', window.start, window.end)})"
        for chunk in in_lists("call_id", sorted(set(ids))):
            sql = f"SELECT call_id, window_start FROM t WHERE {chunk} AND {elsewhere}"
            rows = self._lake.query("raw.rejected_calls", sql).to_pylist()
            stale_rejected += [(row["call_id"], row["window_start"]) for row in rows]
        previous = self._lake.query(
            "raw.ingest_ledger",
            f"SELECT api_total_items FROM t WHERE {self._mine} "
            f"AND window_start = {literal(window.start)} "
            f"AND window_end = {literal(window.end)} ORDER BY fetched_at DESC LIMIT 1",
        ).column("api_total_items")
        return moved, stale_rejected, previous[0].as_py() if len(previous) else _NEVER

    def _mark_stale(
        self, moved: list[tuple[str, datetime, datetime | None]], marked_at: datetime
    ) -> None:
        """Merge the hours the moved calls leave into ``raw/stale_hours`` (one commit)."""
        hours: dict[datetime, datetime | None] = {}
        for _call_id, hour, until in moved:
            hours[hour] = _latest(hours.get(hour), until)
        merge_stale(self._lake, self._project_id, hours, marked_at)


def merge_stale(
    lake: Lake, project_id: str, hours: dict[datetime, datetime | None], marked_at: datetime
) -> None:
    """Mark ``hours`` (hour → end of occupancy or None) of a project in ``raw/stale_hours``.

    An hour already marked keeps the later ``occupied_until``; every row gets ``marked_at``.
    One commit.
    """
    which = f"{of_project(project_id)} AND ({' OR '.join(_hour_terms(hours))})"
    known = lake.query("raw.stale_hours", f"SELECT hour_start, occupied_until FROM t WHERE {which}")
    for row in known.to_pylist():
        hour = row["hour_start"].astimezone(UTC)
        hours[hour] = _latest(hours[hour], row["occupied_until"])
    rows = pa.table(
        {
            "project_id": [project_id] * len(hours),
            "hour_start": list(hours),
            "occupied_until": pa.array(list(hours.values()), pa.timestamp("us", "UTC")),
            "marked_at": [marked_at] * len(hours),
        }
    )
    lake.write("raw.stale_hours", rows, predicate=which)


def _hour_terms(hours: dict[datetime, datetime | None]) -> list[str]:
    return [f"hour_start = {literal(hour)}" for hour in sorted(hours)]


def _occupancy(row: dict[str, Any]) -> tuple[str, datetime, datetime | None]:
    """``(call_id, UTC hour of create_time, end of occupancy)`` of a moved call's old row.

    The occupancy ends at ``end_time`` capped at ``create_time + MAX_CALL_DURATION``, None
    without ``end_time`` (as in :mod:`pipeline.warehouse.raw_calls`).
    """
    created: datetime = row["create_time"].astimezone(UTC)
    ended: datetime | None = row["end_time"]
    until = None if ended is None else min(ended.astimezone(UTC), created + MAX_CALL_DURATION)
    return str(row["call_id"]), created.replace(minute=0, second=0, microsecond=0), until


def _arrow(con: duckdb.DuckDBPyConnection, sql: str, start: datetime) -> pa.Table:
    """The rows of ``sql`` (one ``?``: ``start``) as an Arrow table."""
    table: pa.Table = con.sql(sql, params=[start]).to_arrow_table()
    return table


#: ``previous`` of a window never fetched before (differs from any count, even None).
_NEVER = object()


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


class LakeSink:
    """:class:`~pipeline.warehouse.analytics.AnalyticsSink` writing one project's lake rows.

    Args:
        lake: the lake.
        project_id: the project whose rows it replaces.
    """

    def __init__(self, lake: Lake, project_id: str) -> None:
        self._lake = lake
        self._project_id = project_id
        self._mine = of_project(project_id)

    def replace(self, spec: TableSpec, frame: pl.DataFrame, first: date, end: date) -> None:
        """Overwrite the project's bucket range ``[first, end)`` with ``frame`` (one commit)."""
        predicate = f"{self._mine} AND {between(spec.bucket_column, first, end)}"
        self._lake.write(spec.qualified_name, frame.to_arrow(), predicate=predicate)

    def clear(self, spec: TableSpec) -> None:
        """Delete every row of the project in the table."""
        self._lake.delete(spec.qualified_name, self._mine)

    def set_report_tz(self, report_tz: str) -> None:
        """Overwrite the project's row of ``analytics/report_settings``."""
        row = pa.table({"report_tz": [report_tz], "project_id": [self._project_id]})
        self._lake.write("analytics.report_settings", row, predicate=self._mine)

    def mark_stale(self, hours: list[datetime], marked_at: datetime) -> None:
        """Mark owner hours in ``raw/stale_hours`` (one commit, at most 200 hours each)."""
        for i in range(0, len(hours), 200):
            merge_stale(self._lake, self._project_id, dict.fromkeys(hours[i : i + 200]), marked_at)

    def drop_stale(self, rows: list[tuple[datetime, datetime]]) -> None:
        """Delete the refreshed ``raw/stale_hours`` rows (a newer mark of an hour stays).

        At most 200 rows a delete: DataFusion nests an ``OR`` chain as deep as it is long.
        """
        terms = [
            f"(hour_start = {literal(hour)} AND marked_at = {literal(marked_at)})"
            for hour, marked_at in rows
        ]
        for i in range(0, len(terms), 200):
            self._lake.delete(
                "raw.stale_hours", f"{self._mine} AND ({' OR '.join(terms[i : i + 200])})"
            )


class LakeWarehouse:
    """:class:`~pipeline.warehouse.backend.Warehouse` as Delta tables under ``uri``.

    Args:
        uri: a local directory or ``s3://bucket/prefix`` (see :class:`Lake`).
    """

    def __init__(self, uri: str) -> None:
        self.lake = Lake(uri)

    @property
    def location(self) -> str:
        """The lake's URI."""
        return self.lake.uri

    @contextmanager
    def ingest_session(self, run_id: str, project_id: str) -> Iterator[LakeSession]:
        """Create the tables that do not exist yet, then yield the run's writer."""
        self.lake.ensure_tables()
        session = LakeSession(self.lake, run_id, project_id)
        try:
            yield session
        finally:
            session.close()

    def details_session(self, run_id: str, project_id: str) -> AbstractContextManager[Any]:
        """The export ingestion's writer over the lake (``raw/call_details``).

        A :class:`~pipeline.warehouse.lake_details.LakeDetailsSession`.
        """
        from pipeline.warehouse.lake_details import lake_details_session

        return lake_details_session(self.lake, run_id, project_id)

    def refresh_analytics(
        self,
        start: datetime,
        end: datetime,
        report_tz: str,
        project_id: str,
        *,
        raw_changed: bool = True,
    ) -> list[TableRefresh]:
        """:func:`~pipeline.warehouse.analytics.refresh_all` reading and writing the lake."""
        self.lake.ensure_tables()
        con = self.lake.connect()
        try:
            sink = LakeSink(self.lake, project_id)
            return refresh_all(
                con, start, end, report_tz, project_id, sink=sink, raw_changed=raw_changed
            )
        finally:
            con.close()

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A DuckDB connection over the tables' current snapshots (see :meth:`Lake.connect`)."""
        con = self.lake.connect()
        try:
            yield con
        finally:
            con.close()
