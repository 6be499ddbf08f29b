"""Copy a DuckDB warehouse file into the Delta lake (``pipeline migrate``).

Every table the lake has (:func:`~pipeline.warehouse.lake_tables.table_schemas`: each table
of ``sql/schema``, so a column added there later is carried) is read from the file, opened
read-only, as a stream of Arrow record batches and written to its Delta table in **one commit
per table** (``write_deltalake`` consumes the stream: memory stays bounded by the batch and
the Parquet file being written, never a whole table). Columns a file of an older release lacks
arrive as NULL, as the file's own ``ALTER TABLE`` would have left them.

Half-migrated lakes never pass for complete: a marker table ``_migration`` under the lake
records the start; it is marked finished only after every table was copied and its row
count verified. The command refuses a lake that already holds rows, or an unfinished
migration, unless ``--replace`` (each table is then overwritten, schema included).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.warehouse.connection import connect
from pipeline.warehouse.lake_tables import Lake, table_schemas

#: Rows per Arrow record batch read from DuckDB (a batch of raw calls is a few tens of MB).
BATCH_ROWS = 50_000
#: Target Parquet file size of the copied tables. ``raw/calls`` is copied in ``create_time``
#: order, so a later re-ingestion of an old hour rewrites the one or two files holding it.
TARGET_FILE_SIZE = 32 * 1024 * 1024
#: Copy order: analytics first, the ledger (what says which windows were fetched) last.
_ORDER_KEY: dict[str, str] = {"raw.calls": "create_time, call_id"}
#: The marker table under the lake root (not a warehouse table; readers never see it).
MARKER = "_migration"
_MARKER_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("started_at", pa.timestamp("us", tz="UTC")),
        ("finished_at", pa.timestamp("us", tz="UTC")),
    ]
)
#: Said whenever a migration stops half-way.
RERUN = "re-run `pipeline migrate --replace` to copy every table again"


class MigrationRefusedError(ValueError):
    """The migration was refused before anything was written (the user's to fix: exit 2)."""


class LakeNotEmptyError(MigrationRefusedError):
    """The target lake holds rows (or an unfinished migration) and ``--replace`` was not given."""


class MigrationError(RuntimeError):
    """A table could not be written; the lake is half-migrated."""


@dataclass(frozen=True)
class TableCopy:
    """One table's migration: rows in the file, rows in the lake after the copy."""

    name: str
    source_rows: int
    lake_rows: int

    @property
    def ok(self) -> bool:
        """Whether the lake holds exactly the file's row count."""
        return self.source_rows == self.lake_rows


def migration_tables() -> list[str]:
    """Every table the lake has, in copy order: ``analytics.*``, ``raw.*``, the ledger last."""
    names = sorted(table_schemas())
    return sorted(names, key=lambda n: (n.startswith("raw."), n == "raw.ingest_ledger", n))


def check_target(uri: str) -> str:
    """A lake URI ``--to`` may name: a directory or ``s3://bucket/prefix``.

    Raises:
        MigrationRefusedError: another scheme (``gs://``, ``http://`` ...).
    """
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if not uri.strip() or scheme not in ("", "s3", "file"):
        msg = f"--to must be a directory or s3://bucket/prefix, not {uri!r}"
        raise MigrationRefusedError(msg)
    return uri.removeprefix("file://")


def lake_rows(lake: Lake, name: str) -> int | None:
    """Rows in a lake table now (None: no such Delta table)."""
    uri = lake.table_uri(name)
    if not DeltaTable.is_deltatable(uri, lake.storage_options):
        return None
    return int(lake.table(name).to_pyarrow_dataset().count_rows())


def unfinished_migration(lake: Lake) -> datetime | None:
    """When a migration into ``lake`` started that never finished (None: there is none)."""
    uri = f"{lake.uri}/{MARKER}"
    if not DeltaTable.is_deltatable(uri, lake.storage_options):
        return None
    rows = DeltaTable(uri, storage_options=lake.storage_options).to_pyarrow_table().to_pylist()
    pending = [row["started_at"] for row in rows if row["finished_at"] is None]
    return max(pending) if pending else None


def check_empty(lake: Lake) -> None:
    """Refuse a lake holding rows or an unfinished migration.

    Raises:
        LakeNotEmptyError: the message names the tables holding rows and says what to do.
    """
    started = unfinished_migration(lake)
    if started is not None:
        msg = (
            f"a migration into {lake.uri} started {started:%Y-%m-%d %H:%M} UTC and did not "
            f"finish: the lake is half-migrated; {RERUN}"
        )
        raise LakeNotEmptyError(msg)
    held = {name: lake_rows(lake, name) for name in migration_tables()}
    by_raw = sorted(held, key=lambda n: (not n.startswith("raw."), n))  # raw.calls first
    full = [f"{name} {held[name]:,}" for name in by_raw if held[name]]
    if full:
        msg = (
            f"the lake at {lake.uri} already holds rows ({', '.join(full[:4])}"
            f"{', …' if len(full) > 4 else ''}): copying would mix two warehouses; "
            "pass --replace to overwrite every table with the file's"
        )
        raise LakeNotEmptyError(msg)


def _mark(lake: Lake, source: str, started: datetime, finished: datetime | None) -> None:
    """Overwrite the marker table with one row (``finished`` None: under way)."""
    row = pa.table(
        {"source": [source], "started_at": [started], "finished_at": [finished]},
        schema=_MARKER_SCHEMA,
    )
    uri = f"{lake.uri}/{MARKER}"
    if "://" not in uri:
        Path(uri).mkdir(parents=True, exist_ok=True)
    write_deltalake(
        uri, row, mode="overwrite", schema_mode="overwrite", storage_options=lake.storage_options
    )


def _columns(con: duckdb.DuckDBPyConnection, name: str) -> set[str]:
    """The columns the file's table has (none: the file lacks the table)."""
    schema_name, table = name.split(".")
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ?",
        [schema_name, table],
    ).fetchall()
    return {column for (column,) in rows}


def _count(con: duckdb.DuckDBPyConnection, name: str) -> int:
    """Rows of the file's table (0 when the file lacks it)."""
    if not _columns(con, name):
        return 0
    # fetchall, not fetchone, which leaves the result open (tests/layout/test_layout_reads.py)
    ((count,),) = con.execute(f"SELECT count(*) FROM {name}").fetchall()
    return int(count)


def _batches(
    con: duckdb.DuckDBPyConnection, name: str, advance: Callable[[int], None]
) -> pa.RecordBatchReader:
    """The file's table as record batches typed as the lake's table, reporting progress.

    Columns the file lacks (an older release's file) are NULL; ``raw.calls`` comes in
    ``create_time`` order (DuckDB sorts within its memory limit, spilling to disk).
    """
    schema = table_schemas()[name]
    present = _columns(con, name)

    def batches() -> Iterator[pa.RecordBatch]:
        if not present:
            return
        columns = [f'"{c}"' if c in present else f'NULL AS "{c}"' for c in schema.names]
        order = f" ORDER BY {_ORDER_KEY[name]}" if name in _ORDER_KEY else ""
        relation = con.sql(f"SELECT {', '.join(columns)} FROM {name}{order}")
        reader: pa.RecordBatchReader = relation.to_arrow_reader(BATCH_ROWS)
        for batch in reader:
            yield from pa.Table.from_batches([batch]).cast(schema).to_batches()
            advance(batch.num_rows)

    return pa.RecordBatchReader.from_batches(schema, batches())


def _copy(
    lake: Lake, con: duckdb.DuckDBPyConnection, name: str, advance: Callable[[int], None]
) -> None:
    """Copy one table in one commit: the Delta table replaced, schema included."""
    uri = lake.table_uri(name)
    if "://" not in uri:
        Path(uri).mkdir(parents=True, exist_ok=True)
    write_deltalake(
        uri,
        _batches(con, name, advance),
        mode="overwrite",
        schema_mode="overwrite",
        target_file_size=TARGET_FILE_SIZE,
        storage_options=lake.storage_options,
    )


def migrate(
    db_path: str | Path,
    lake_uri: str,
    *,
    replace: bool = False,
    memory_limit: str | None = None,
    on_table: Callable[[str, int], Callable[[int], None]] | None = None,
) -> list[TableCopy]:
    """Copy every lake table from the DuckDB file at ``db_path`` into the lake at ``lake_uri``.

    Args:
        db_path: the DuckDB warehouse, opened read-only (waits while a writer holds it).
        lake_uri: a directory or ``s3://bucket/prefix`` (``AWS_*`` from the environment).
        replace: overwrite a lake that holds rows (or an unfinished migration).
        memory_limit: DuckDB ``memory_limit`` of the reading connection (None: default).
        on_table: called with each table's name and source row count before it is copied;
            returns a callback receiving the rows of each batch written (progress).

    Returns:
        One :class:`TableCopy` per table, in copy order; the migration is marked finished in
        the lake only when every count matched.

    Raises:
        FileNotFoundError: no file at ``db_path``.
        LakeNotEmptyError: the lake holds rows and ``replace`` is False.
        MigrationError: a write failed; the lake is half-migrated (the message says what to do).
    """
    lake = Lake(check_target(lake_uri))
    if not replace:
        check_empty(lake)
    started = datetime.now(UTC)
    copies: list[TableCopy] = []
    with connect(db_path, read_only=True) as con:
        if memory_limit:
            con.execute("SET memory_limit = ?", [memory_limit])
        source = str(Path(db_path).resolve())
        name = MARKER
        try:
            _mark(lake, source, started, None)
            for name in migration_tables():
                count = _count(con, name)
                _copy(lake, con, name, on_table(name, count) if on_table else _ignore)
                copies.append(TableCopy(name, count, lake_rows(lake, name) or 0))
        except (DeltaError, OSError) as exc:
            text = str(exc).strip()
            first = text.splitlines()[0] if text else type(exc).__name__
            msg = f"writing {name} to the lake failed: {first}; the lake is half-migrated: {RERUN}"
            raise MigrationError(msg) from exc
    if all(copy.ok for copy in copies):
        _mark(lake, source, started, datetime.now(UTC))
    return copies


def _ignore(_rows: int) -> None:
    """Progress callback that does nothing."""


def migrate_with_progress(
    db_path: str | Path,
    lake_uri: str,
    console: Console,
    *,
    replace: bool = False,
    memory_limit: str | None = None,
) -> list[TableCopy]:
    """:func:`migrate` with a progress bar per table on ``console`` (rows copied)."""
    with Progress(
        TextColumn("{task.description:<32}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:

        def on_table(name: str, rows: int) -> Callable[[int], None]:
            task = progress.add_task(name, total=rows or None)

            def advance(batch_rows: int) -> None:
                progress.advance(task, batch_rows)

            return advance

        return migrate(
            db_path, lake_uri, replace=replace, memory_limit=memory_limit, on_table=on_table
        )


def copies_table(copies: list[TableCopy], lake_uri: str) -> Table:
    """The rows copied per table, as a rich table (a failed verification in red)."""
    table = Table(title=f"Copied into {lake_uri}", title_justify="left")
    table.add_column("table")
    table.add_column("rows in file", justify="right")
    table.add_column("rows in lake", justify="right")
    table.add_column("verified")
    for copy in copies:
        style = "" if copy.ok else "bold red"
        verdict = "ok" if copy.ok else "MISMATCH"
        row = (copy.name, f"{copy.source_rows:,}", f"{copy.lake_rows:,}", verdict)
        table.add_row(*row, style=style)
    return table
