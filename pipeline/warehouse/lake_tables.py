"""The Delta Lake layout: one Delta table per warehouse table, typed as ``sql/schema`` says.

Under the lake URI (a local directory or ``s3://bucket/prefix``), ``raw.calls`` is the Delta
table ``raw/calls``, ``analytics.cost_hourly`` is ``analytics/cost_hourly``, and so on for
every table of ``sql/schema`` (``raw/stale_hours`` and ``analytics/report_settings``
included). Column names and types are those DuckDB gives the schema's tables (read from an
in-memory database with the schema applied, so they cannot drift): ``TIMESTAMPTZ`` is a Delta
``timestamp`` (UTC), ``DECIMAL(p, s)`` a decimal, ``JSON`` a string, ``VARCHAR[]`` an array.

Readers get a DuckDB connection where each table's current snapshot
(``DeltaTable(...).to_pyarrow_dataset()``, read by delta-rs, no DuckDB extension) is
registered and exposed as a view under its usual name, so ``sql/checks``, ``sql/views`` and
``sql/queries`` run unchanged.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

import duckdb
import pyarrow as pa
from deltalake import DeltaTable, QueryBuilder, write_deltalake
from deltalake import Field as DeltaField
from deltalake.exceptions import CommitFailedError

from pipeline.warehouse.schema import apply_schema


@cache
def table_schemas() -> dict[str, pa.Schema]:
    """Arrow schema of every warehouse table, by qualified name (``raw.calls``...)."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        apply_schema(con)
        names = con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
            "WHERE database_name = 'memory' ORDER BY 1"
        ).fetchall()
        schemas: dict[str, pa.Schema] = {}
        for (name,) in names:
            arrow = con.sql(f"SELECT * FROM {name} LIMIT 0").to_arrow_table().schema
            schemas[name] = pa.schema([_plain(field) for field in arrow])
        return schemas
    finally:
        con.close()


#: The table whose snapshot a reader takes before any other.
FIRST_SNAPSHOT = "raw.stale_hours"


def snapshot_order(names: Iterable[str]) -> list[str]:
    """``names`` with ``raw.stale_hours`` first, the others in their order.

    Writers commit a window's rows before the marks of the hours they change (the export, and
    the raw/calls commit's second mark of the hours calls moved out of), and a refresh deletes
    the marks it read once it has rebuilt their hours. Reading the marks' snapshot before the
    rows' means a mark the refresh sees always comes with its rows: a commit landing between
    the two snapshots leaves a mark the refresh did not read, for the next refresh.
    """
    return sorted(names, key=lambda name: name != FIRST_SNAPSHOT)


def _plain(field: pa.Field) -> pa.Field:
    """The field without extension metadata (JSON is a string), lists as ``list<string>``."""
    kind = field.type
    if pa.types.is_list(kind):
        kind = pa.list_(kind.value_type)
    return pa.field(field.name, kind)


def conform(table: pa.Table, name: str) -> pa.Table:
    """``table``'s columns in the order and types of the warehouse table ``name``."""
    schema = table_schemas()[name]
    return table.select(schema.names).cast(schema)


def literal(value: datetime | date) -> str:
    """A Delta (DataFusion) SQL literal of a UTC instant or a date, for predicates."""
    if isinstance(value, datetime):
        return f"'{value.astimezone(UTC).isoformat()}'"
    return f"'{value.isoformat()}'"


def of_project(project_id: str) -> str:
    """The predicate ``project_id = '<project_id>'`` (quotes in the id doubled)."""
    return "project_id = '" + project_id.replace("'", "''") + "'"


def between(column: str, first: datetime | date, end: datetime | date) -> str:
    """The predicate ``first <= column < end``."""
    return f"{column} >= {literal(first)} AND {column} < {literal(end)}"


#: Prefix of the Arrow datasets a lake reader registers (each behind a view of its usual name).
ALIAS_PREFIX = "lake_"

#: Most values in one ``IN (...)`` list: DataFusion (delta-rs 1.6) crashed the process (stack
#: overflow) on a list of 25,000 ids; 12,000 still worked.
IN_LIST_MAX = 2_000


def in_lists(column: str, values: Sequence[str]) -> list[str]:
    """Predicates ``column IN ('a', 'b', …)`` covering ``values``, at most ``IN_LIST_MAX`` each.

    Returns:
        One predicate per chunk (none for no values); quotes in values are doubled.
    """
    texts = ["'" + value.replace("'", "''") + "'" for value in values]
    return [
        f"{column} IN ({', '.join(texts[i : i + IN_LIST_MAX])})"
        for i in range(0, len(texts), IN_LIST_MAX)
    ]


#: Conflicting commits of other writers a write retries over before it fails.
COMMIT_RETRIES = 30


class Lake:
    """Where the Delta tables live and how to reach them.

    Args:
        uri: a local directory, or ``s3://bucket/prefix``. For S3-compatible stores, the
            endpoint and credentials come from ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
            ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION`` (read by delta-rs); an ``http://``
            endpoint is allowed.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self._local = "://" not in self.uri
        if self._local:
            self.uri = str(Path(self.uri).resolve())
        self._handles: dict[str, DeltaTable] = {}

    @property
    def storage_options(self) -> dict[str, str] | None:
        """delta-rs storage options: ``AWS_ALLOW_HTTP`` for a plain-HTTP endpoint."""
        endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
        if not self._local and endpoint.startswith("http://"):
            return {"AWS_ALLOW_HTTP": "true"}
        return None

    def table_uri(self, name: str) -> str:
        """URI of the Delta table of ``raw.calls`` & co (``<lake>/raw/calls``)."""
        return f"{self.uri}/{name.replace('.', '/')}"

    def table(self, name: str) -> DeltaTable:
        """The current version of a table."""
        return DeltaTable(self.table_uri(name), storage_options=self.storage_options)

    def handle(self, name: str) -> DeltaTable:
        """The writer's handle on a table, brought up to date (new log entries only).

        Loading a table replays its log; a handle kept for the run reads only what was
        committed since. For one thread (the ingestion's writer, then the refresh).
        """
        table = self._handles.get(name)
        if table is None:
            table = self._handles[name] = self.table(name)
        else:
            table.update_incremental()
        return table

    def query(self, name: str, sql: str) -> pa.Table:
        """Run DataFusion SQL (delta-rs) on the current version of a table, named ``t``.

        Filters prune files by the log's column statistics (e.g. ``call_id`` ranges), without
        building an Arrow dataset of every file.
        """
        result = QueryBuilder().register("t", self.handle(name)).execute(sql).read_all()
        return pa.table(result)

    def exists(self) -> bool:
        """Whether the lake holds ``raw/calls`` (the ingestion ran at least once)."""
        return DeltaTable.is_deltatable(self.table_uri("raw.calls"), self.storage_options)

    def ensure_tables(self) -> None:
        """Create every table that does not exist yet, empty (before any writer fans out).

        A table that exists but lacks columns ``sql/schema`` added since (``ALTER TABLE ...
        ADD COLUMN`` there, always at the end) gets them appended, NULL in its old rows, as
        the DuckDB file does: the column order stays the schema's.
        """
        for name, schema in table_schemas().items():
            uri = self.table_uri(name)
            if not DeltaTable.is_deltatable(uri, self.storage_options):
                if self._local:
                    Path(uri).mkdir(parents=True, exist_ok=True)
                write_deltalake(
                    uri, schema.empty_table(), mode="append", storage_options=self.storage_options
                )
                continue
            have = set(self.table(name).schema().to_arrow().names)
            missing = [field for field in schema if field.name not in have]
            if missing:
                self._add_columns(name, [DeltaField.from_arrow(field) for field in missing])

    def _add_columns(self, name: str, fields: list[DeltaField]) -> None:
        """Append ``fields`` to the table's schema (one commit)."""

        def add(table: DeltaTable) -> None:
            table.alter.add_columns(fields)

        self.committing(name, add)

    def write(self, name: str, rows: pa.Table, predicate: str | None = None) -> None:
        """Replace the rows matching ``predicate`` with ``rows`` (None: append) in one commit.

        Every row of ``rows`` must match ``predicate``. Retried over other writers' commits
        (:meth:`committing`).
        """
        data = conform(rows, name)
        if predicate is None:
            self.committing(name, lambda table: write_deltalake(table, data, mode="append"))
        else:
            self.committing(
                name,
                lambda table: write_deltalake(table, data, mode="overwrite", predicate=predicate),
            )

    def delete(self, name: str, predicate: str | None = None) -> None:
        """Delete the rows matching ``predicate`` (None: every row) in one commit."""
        self.committing(name, lambda table: table.delete(predicate))

    def committing(self, name: str, commit: Callable[[DeltaTable], object]) -> None:
        """Run ``commit`` on the table's handle; again on the newer version if it conflicts.

        Runs of other hours commit to the same unpartitioned tables at the same time (the
        distributed deploy); delta-rs refuses a predicate overwrite or delete when another
        transaction added data since the handle's version ("a concurrent transactions added
        new data"). Every write here replaces or deletes by predicate, so doing it again on
        the newer version is the same write. Backoff: full jitter, at most 2 s.

        Raises:
            CommitFailedError: still conflicting after :data:`COMMIT_RETRIES` attempts.
        """
        for attempt in range(COMMIT_RETRIES + 1):
            try:
                commit(self.handle(name))
                return
            except CommitFailedError:
                if attempt == COMMIT_RETRIES:
                    raise
                time.sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))

    def connect(self, names: Iterable[str] | None = None) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection reading the tables' current snapshots.

        Each table's snapshot is its version when registered, ``raw.stale_hours`` first
        (:func:`snapshot_order`).

        Args:
            names: the tables to expose (default: all), as ``raw.calls``...

        Returns:
            A connection (UTC) where each table is a view under its usual name.

        Raises:
            FileNotFoundError: the lake has no ``raw/calls`` table yet.
        """
        if not self.exists():
            msg = f"no Delta tables under {self.uri} yet: run the ingestion first"
            raise FileNotFoundError(msg)
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone='UTC'")
            con.execute("CREATE SCHEMA IF NOT EXISTS raw; CREATE SCHEMA IF NOT EXISTS analytics")
            for name in snapshot_order(names or table_schemas()):
                alias = ALIAS_PREFIX + name.replace(".", "_")
                con.register(alias, self.table(name).to_pyarrow_dataset())
                con.execute(f"CREATE VIEW {name} AS SELECT * FROM {alias}")
        except BaseException:
            con.close()
            raise
        return con
