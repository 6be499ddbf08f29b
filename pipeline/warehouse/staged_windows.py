"""The pages of open windows, held as Arrow until their window commits (issue 15, item 4).

Before, every page was copied into a TEMP staging table as it arrived and copied again into
``raw.calls`` at commit: the staging INSERT was 53 % of the writer's time and the de-dup copy
16 % (bench/README.md, "Ingest floor"). Now a window's pages stay the Arrow tables the parser
built; at commit they are concatenated, de-duplicated by ``call_id`` (the latest staged page
wins) and exposed to SQL as the view ``window_calls``, which the commit inserts from once.

Memory stays bounded: a window whose held rows pass ``spill_rows`` moves them into the TEMP
table ``staged_calls`` (DuckDB spills it to disk) and stages its later pages there, as before;
``window_calls`` is then a TEMP table de-duplicated by SQL. Both forms have the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import polars as pl
import pyarrow as pa

from pipeline.sinch.columnar import UTC_TS
from pipeline.sinch.pages import CALLS_ARROW_SCHEMA

#: Held rows above which a window's pages go to the TEMP table (~0.8 KB a call with ``raw``).
SPILL_ROWS = 100_000
#: The SQL name the window being committed has (a registered Arrow view or a TEMP table).
WINDOW_CALLS = "window_calls"
_CALL_COLUMNS = ", ".join(CALLS_ARROW_SCHEMA.names)
_STAGED_CALLS_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS staged_calls AS "
    f"SELECT {_CALL_COLUMNS}, window_start, window_end, fetched_at, "
    "0::BIGINT AS seq FROM raw.calls WITH NO DATA"
)


@dataclass
class _Held:
    """One window's pages: in memory (``pages``), or spilled to ``staged_calls``."""

    pages: list[pa.Table] = field(default_factory=list)
    rows: int = 0
    spilled: bool = False


class StagedWindows:
    """Pages staged per open window, exposed at commit as the view :data:`WINDOW_CALLS`.

    Not thread-safe (the writer thread owns it).

    Args:
        con: the writer's connection (the TEMP table and the view live on it).
        spill_rows: rows of a window held in memory before they go to ``staged_calls``.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, spill_rows: int = SPILL_ROWS) -> None:
        self._con = con
        self._spill_rows = spill_rows
        self._held: dict[datetime, _Held] = {}
        self._seq = 0
        self._prepared: str | None = None  # "view" or "table" while a window is prepared
        con.execute(_STAGED_CALLS_DDL)

    def add(self, window_start: datetime, page: pa.Table, fetched_at: datetime) -> None:
        """Hold one page (:data:`~pipeline.sinch.pages.CALLS_ARROW_SCHEMA` rows) of a window.

        Args:
            window_start: the window's start (UTC), its key.
            page: the page's calls, already checked to be in the window.
            fetched_at: when the page arrived (UTC): the rows' ``fetched_at``.
        """
        self._seq += 1
        held = self._held.setdefault(window_start, _Held())
        stamped = page.append_column(
            pa.field("fetched_at", UTC_TS), pa.repeat(pa.scalar(fetched_at, UTC_TS), len(page))
        ).append_column("seq", pa.repeat(pa.scalar(self._seq, pa.int64()), len(page)))
        held.pages.append(stamped)
        held.rows += page.num_rows
        if held.spilled or held.rows > self._spill_rows:
            self._spill(window_start, held)

    def staged_ids_sql(self) -> str:
        """SQL selecting the ``call_id`` of every staged call of the prepared window."""
        return f"SELECT call_id FROM {WINDOW_CALLS}"

    def prepare(self, window_start: datetime, window_end: datetime) -> int:
        """Expose the window's calls as :data:`WINDOW_CALLS`, one row per ``call_id``.

        The row of the latest staged page wins. Columns: ``raw.calls``' (``window_start``,
        ``window_end``, ``fetched_at`` included). Call :meth:`release` after the commit.

        Returns:
            The number of rows (distinct calls).
        """
        self.release()
        held = self._held.get(window_start, _Held())
        if held.spilled:
            self._spill(window_start, held)
            self._con.execute(
                f"CREATE OR REPLACE TEMP TABLE {WINDOW_CALLS} AS SELECT {_CALL_COLUMNS}, "
                "window_start, ?::TIMESTAMPTZ AS window_end, fetched_at FROM staged_calls "
                "WHERE window_start = ? "
                "QUALIFY row_number() OVER (PARTITION BY call_id ORDER BY seq DESC) = 1",
                [window_end, window_start],
            )
            self._prepared = "table"
            (count,) = self._con.execute(f"SELECT count(*) FROM {WINDOW_CALLS}").fetchall()[0]
            return int(count)
        table = _latest_per_call(held.pages)
        rows = table.num_rows
        table = table.append_column(
            pa.field("window_start", UTC_TS), pa.repeat(pa.scalar(window_start, UTC_TS), rows)
        ).append_column(
            pa.field("window_end", UTC_TS), pa.repeat(pa.scalar(window_end, UTC_TS), rows)
        )
        self._con.register(WINDOW_CALLS, table)
        self._prepared = "view"
        return int(rows)

    def release(self) -> None:
        """Drop :data:`WINDOW_CALLS` (no-op when no window is prepared)."""
        if self._prepared == "view":
            self._con.unregister(WINDOW_CALLS)
        elif self._prepared == "table":
            self._con.execute(f"DROP TABLE IF EXISTS {WINDOW_CALLS}")
        self._prepared = None

    def discard(self, window_start: datetime) -> None:
        """Forget the window's pages (held or spilled)."""
        held = self._held.pop(window_start, None)
        if held is not None and held.spilled:
            self._con.execute("DELETE FROM staged_calls WHERE window_start = ?", [window_start])

    def _spill(self, window_start: datetime, held: _Held) -> None:
        """Move the window's held pages into ``staged_calls``."""
        held.spilled = True
        if not held.pages:
            return
        self._con.register("spilled_pages", pa.concat_tables(held.pages))
        held.pages, held.rows = [], 0
        try:
            self._con.execute(
                "INSERT INTO staged_calls BY NAME SELECT *, ?::TIMESTAMPTZ AS window_start, "
                "NULL::TIMESTAMPTZ AS window_end FROM spilled_pages",
                [window_start],
            )
        finally:
            self._con.unregister("spilled_pages")


def _latest_per_call(pages: list[pa.Table]) -> pa.Table:
    """The pages concatenated, one row per ``call_id``: the row of the latest page (``seq``)."""
    if not pages:
        empty = CALLS_ARROW_SCHEMA.empty_table()
        return empty.append_column(pa.field("fetched_at", UTC_TS), pa.array([], UTC_TS))
    table = pa.concat_tables(pages)
    ids = pl.Series(table.column("call_id"))
    if ids.n_unique() < len(ids):
        table = table.filter(ids.is_last_distinct().to_arrow())
    return table.drop_columns(["seq"])
