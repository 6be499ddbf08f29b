"""Land parsed call records in ``raw.calls`` one window at a time, idempotently.

How a window is written (one writer connection; see :mod:`pipeline.warehouse.connection`):

1. Pages stream into a TEMP staging table as they arrive (memory is bounded by a page in
   Python; DuckDB spills the staging table if a window is huge). A window that was swept twice
   (the API's ``totalItems`` drifted) simply stages some calls twice.
2. :meth:`RawCallsWriter.commit_window` then, in ONE transaction: deletes the window's rows from
   ``raw.calls`` and ``raw.rejected_calls`` (by ``create_time`` in ``[start, end)``); *moves*
   staged calls that still have a row in another window (deletes that row and any
   ``raw.rejected_calls`` row of the id, and marks the hour it left in ``raw.stale_hours``);
   inserts the staged calls de-duplicated by ``call_id`` keeping the latest staged version
   (DuckDB keeps the *first* duplicate in ``INSERT OR REPLACE``, stack-hazards §0.7, so we
   de-duplicate ourselves), inserts the rejected records and appends a ledger row.

So re-running a window ends in exactly the same table, a call that changed (late ``endTime``,
late price) replaces its older version, and a run killed half-way leaves the previous committed
state (the staging table is per connection and vanishes with it).

``raw.calls`` holds one row per ``call_id`` across the whole table, and the latest fetch wins
everywhere: a call the API lists in another window than before (its ``createTime`` was
corrected, or the API lists it in two hours) moves to the window fetched last. Re-ingesting the
first window while the API still lists the call there moves it back. Either way
:func:`pipeline.warehouse.analytics.refresh_all` refreshes the hours it left (``stale_hours``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.sinch.models import CallRecord, RejectedRecord, Trunk, Window
from pipeline.sinch.pages import CALLS_ARROW_SCHEMA, records_to_arrow
from pipeline.transforms.calendar import MAX_CALL_DURATION

_RECORD_FIELDS = tuple(CALLS_ARROW_SCHEMA.names)
_CALL_COLUMNS = ", ".join(_RECORD_FIELDS)


@dataclass(frozen=True, slots=True)
class WindowFetch:
    """What the client reported about fetching one window (stored in ``raw.ingest_ledger``).

    Attributes:
        sweeps: full passes over the window's pages (more than one when ``totalItems`` drifted).
        pages: pages received, all sweeps.
        api_total_items: the API's ``totalItems`` on the final sweep (None if never reported).
        attempts: HTTP requests sent, retries included.
        seconds: wall time of the fetch.
        outside_window: calls of the last sweep that the API returned for the window's
            inclusive upper bound but that belong to the next window.
        new_fields: call fields the client does not know, sorted.
        reconciled: landed + rejected + outside-window >= ``totalItems`` on every slice swept
            (the whole window, or each sub-window); False = the API counted calls not seen.
        sub_windows: the leaf ``(start, end)`` slices (aware datetimes, ``start < end``, in
            order) swept when the window was split because its result set could not be paged
            fully; empty = swept whole.
        shortfall: calls the API counted but the fetch did not see, summed over the slices
            (>= 0; 0 when ``reconciled``).
        rounded_amounts: money amounts sent as JSON numbers with more than 6 decimals, rounded
            when parsed (``raw`` keeps them as sent); reported, not stored in the ledger.

    Raises:
        ValueError: ``shortfall`` is negative or positive on a reconciled fetch, or a slice is
            naive, empty or out of order.
    """

    sweeps: int
    pages: int
    api_total_items: int | None
    attempts: int
    seconds: float
    outside_window: int = 0
    new_fields: tuple[str, ...] = field(default_factory=tuple)
    reconciled: bool = True
    sub_windows: tuple[tuple[datetime, datetime], ...] = ()
    shortfall: int = 0
    rounded_amounts: int = 0

    def __post_init__(self) -> None:
        if self.shortfall < 0 or (self.reconciled and self.shortfall):
            msg = f"shortfall {self.shortfall} with reconciled={self.reconciled}"
            raise ValueError(msg)
        previous_end: datetime | None = None
        for start, end in self.sub_windows:
            if start.tzinfo is None or end.tzinfo is None or not start < end:
                msg = f"sub-window [{start!r}, {end!r}) is naive or empty"
                raise ValueError(msg)
            if previous_end is not None and start < previous_end:
                msg = f"sub-window starting {start.isoformat()} overlaps the previous one"
                raise ValueError(msg)
            previous_end = end

    def slices_json(self) -> str | None:
        """The ledger's ``slices``: the sub-windows as JSON, or None when swept whole.

        The JSON is a list of ``{"start", "end"}`` objects holding ISO-8601 UTC strings.
        """
        if not self.sub_windows:
            return None
        return json.dumps(
            [
                {"start": s.astimezone(UTC).isoformat(), "end": e.astimezone(UTC).isoformat()}
                for s, e in self.sub_windows
            ]
        )


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """The ledger row written for one committed window.

    Attributes:
        window: the window committed.
        records: distinct calls now in ``raw.calls`` for the window.
        rejected: records of the window kept in ``raw.rejected_calls``.
        api_total_items: the API's ``totalItems`` (None if never reported).
        settled: the previous fetch of the window reported the same ``totalItems`` and this
            fetch reconciled.
        fetch: what the client reported.
        moved_in: calls whose previous row in ``raw.calls`` was in another window (moved here).
        reconciled: ``fetch.reconciled``.
        shortfall: ``fetch.shortfall`` (calls the API counted but the fetch did not see).
    """

    window: Window
    records: int
    rejected: int
    api_total_items: int | None
    settled: bool
    fetch: WindowFetch
    moved_in: int = 0
    reconciled: bool = True
    shortfall: int = 0


LEDGER_COLUMNS = (
    "window_start",
    "window_end",
    "fetched_at",
    "run_id",
    "sweeps",
    "pages",
    "records",
    "rejected",
    "outside_window",
    "api_total_items",
    "attempts",
    "seconds",
    "settled",
    "new_fields",
    "reconciled",
    "sub_windows",
    "slices",
    "shortfall",
    "moved_in",
)
INSERT_LEDGER = (
    f"INSERT INTO raw.ingest_ledger ({', '.join(LEDGER_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(LEDGER_COLUMNS))})"
)
_MARK_STALE = (
    "INSERT INTO raw.stale_hours (hour_start, occupied_until, marked_at) VALUES (?, ?, ?) "
    "ON CONFLICT (hour_start) DO UPDATE SET "
    "occupied_until = greatest(occupied_until, excluded.occupied_until), "
    "marked_at = excluded.marked_at"
)


class RawCallsWriter:
    """Stages pages and commits whole windows into ``raw.*`` on one write connection.

    Not thread-safe: give it to one writer thread (the ingestion does).

    Args:
        con: a write connection from :func:`pipeline.warehouse.connection.open_connection`.
        run_id: recorded in the ledger (Dagster run id, or a CLI run id).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, run_id: str) -> None:
        self._con = con
        self._run_id = run_id
        self._seq = 0
        con.execute(
            "CREATE TEMP TABLE IF NOT EXISTS staged_calls AS "
            f"SELECT {_CALL_COLUMNS}, window_start, window_end, fetched_at, "
            "0::BIGINT AS seq FROM raw.calls WITH NO DATA"
        )
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
        self._seq += 1
        if page.num_rows:
            self._con.execute(
                f"INSERT INTO staged_calls SELECT {_CALL_COLUMNS}, ?::TIMESTAMPTZ, "
                "?::TIMESTAMPTZ, ?::TIMESTAMPTZ, ? FROM page",
                [window.start, window.end, fetched_at, self._seq],
            )
        if rejected:
            self._con.executemany(
                "INSERT INTO staged_rejected VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (window.start, window.end, r.call_id, r.reason, r.raw, fetched_at)
                    for r in rejected
                ],
            )

    def discard_window(self, window: Window) -> None:
        """Forget what was staged for a window whose fetch failed."""
        for table in ("staged_calls", "staged_rejected"):
            self._con.execute(f"DELETE FROM {table} WHERE window_start = ?", [window.start])

    def commit_window(
        self, window: Window, fetch: WindowFetch, fetched_at: datetime
    ) -> LedgerEntry:
        """Replace the window in ``raw.calls`` / ``raw.rejected_calls`` and append a ledger row.

        One transaction. Staged calls whose ``call_id`` has a row in another window move here
        (see :meth:`_move_from_other_windows`); ``fetched_at`` (UTC) is the ledger's
        ``fetched_at`` and the ``marked_at`` of the hours they left.

        Returns:
            The ledger entry: distinct calls landed, rejected count, calls moved in,
            ``reconciled``/``shortfall`` as fetched, and ``settled`` (the API's count equals
            the previous fetch's count of the same window, and this fetch reconciled).

        Raises:
            duckdb.Error: the write failed; the transaction is rolled back and the window
                stays staged.
        """
        con = self._con
        bounds = [window.start, window.end]
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DELETE FROM raw.calls WHERE create_time >= ? AND create_time < ?", bounds)
            con.execute(
                "DELETE FROM raw.rejected_calls WHERE window_start >= ? AND window_start < ?",
                bounds,
            )
            moved_in = self._move_from_other_windows(window, fetched_at)
            con.execute(
                f"INSERT INTO raw.calls SELECT {_CALL_COLUMNS}, window_start, window_end, "
                "fetched_at FROM staged_calls WHERE window_start = ? "
                "QUALIFY row_number() OVER (PARTITION BY call_id ORDER BY seq DESC) = 1",
                [window.start],
            )
            (records,) = con.execute(
                "SELECT count(*) FROM raw.calls WHERE create_time >= ? AND create_time < ?",
                bounds,
            ).fetchall()[0]
            # One row per callId: a record repeated across pages, or one without a readable
            # createTime that both windows sharing a boundary second list, is kept once (here,
            # the latest fetch); rejected records without a callId cannot be matched.
            con.execute(
                "DELETE FROM raw.rejected_calls WHERE call_id IN (SELECT call_id FROM "
                "staged_rejected WHERE window_start = ? AND call_id IS NOT NULL)",
                [window.start],
            )
            con.execute(
                "INSERT INTO raw.rejected_calls SELECT * FROM staged_rejected r "
                "WHERE window_start = ? AND NOT EXISTS (SELECT 1 FROM staged_calls c WHERE "
                "c.window_start = r.window_start AND c.call_id = r.call_id) "
                "QUALIFY row_number() OVER "
                "(PARTITION BY coalesce(call_id, raw) ORDER BY fetched_at DESC) = 1",
                [
                    window.start,
                ],
            )
            (rejected,) = con.execute(
                "SELECT count(*) FROM raw.rejected_calls WHERE window_start = ?", [window.start]
            ).fetchall()[0]
            previous = con.execute(
                "SELECT api_total_items FROM raw.ingest_ledger WHERE window_start = ? "
                "AND window_end = ? ORDER BY fetched_at DESC LIMIT 1",
                bounds,
            ).fetchall()
            settled = (
                bool(previous) and previous[0][0] == fetch.api_total_items and fetch.reconciled
            )
            row = (records, rejected, settled, moved_in)
            con.execute(INSERT_LEDGER, ledger_values(window, fetched_at, self._run_id, fetch, row))
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
        )

    def _move_from_other_windows(self, window: Window, marked_at: datetime) -> int:
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
            The number of distinct calls moved in.
        """
        con = self._con
        staged_ids = "SELECT call_id FROM staged_calls WHERE window_start = $start"
        moved = con.execute(
            "SELECT call_id, date_trunc('hour', create_time), "
            # not least(): it skips NULL, and a call without end_time occupies nothing here
            "CASE WHEN end_time > create_time + $cap THEN create_time + $cap ELSE end_time END "
            f"FROM raw.calls WHERE call_id IN ({staged_ids})",
            {"cap": MAX_CALL_DURATION, "start": window.start},
        ).fetchall()
        con.execute(
            f"DELETE FROM raw.rejected_calls WHERE call_id IN ({staged_ids})",
            {"start": window.start},
        )
        if not moved:
            return 0
        hours: dict[datetime, datetime | None] = {}
        for _call_id, hour, occupied_until in moved:
            known = hours.get(hour)
            hours[hour] = occupied_until if known is None else max(known, occupied_until or known)
        con.executemany(_MARK_STALE, [(h, until, marked_at) for h, until in hours.items()])
        ids = sorted({call_id for call_id, _hour, _until in moved})
        con.execute("DELETE FROM raw.calls WHERE call_id IN (SELECT unnest(?::VARCHAR[]))", [ids])
        return len(ids)


def ledger_values(
    window: Window,
    fetched_at: datetime,
    run_id: str,
    fetch: WindowFetch,
    landed: tuple[int, int, bool, int],
) -> list[object]:
    """Values of a ``raw.ingest_ledger`` row, in ``LEDGER_COLUMNS`` order.

    ``landed`` is ``(records, rejected, settled, moved_in)`` of the committed window.
    """
    records, rejected, settled, moved_in = landed
    return [
        *(window.start, window.end, fetched_at, run_id, fetch.sweeps, fetch.pages),
        *(records, rejected, fetch.outside_window, fetch.api_total_items, fetch.attempts),
        *(fetch.seconds, settled, list(fetch.new_fields) or None, fetch.reconciled),
        *(len(fetch.sub_windows) or 1, fetch.slices_json(), fetch.shortfall, moved_in),
    ]


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


def replace_trunks(
    con: duckdb.DuckDBPyConnection, trunks: Iterable[Trunk], fetched_at: datetime
) -> int:
    """Replace ``raw.trunks`` with the current list (one transaction). Returns the row count."""
    rows = [(t.trunk_id, t.name, t.calls_per_second, t.raw, fetched_at) for t in trunks]
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM raw.trunks")
        if rows:
            con.executemany("INSERT INTO raw.trunks VALUES (?, ?, ?, ?, ?)", rows)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return len(rows)
