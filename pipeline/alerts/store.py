"""The alerts store: ``analytics.alerts`` and ``analytics.alert_deliveries`` in the warehouse.

Both backends of :mod:`pipeline.warehouse.backend`: the DuckDB file (short write connections,
waiting for the lock like every writer) and the Delta lake (one predicate overwrite per write,
retried over concurrent commits by :meth:`pipeline.warehouse.lake_tables.Lake.write`).

- :func:`save_alerts` replaces the alerts of an evaluation scope (hours x projects, every
  rule): an alert that still fires keeps its first ``raised_at``, one that no longer fires is
  deleted, so re-evaluating is idempotent.
- :func:`pending` lists the alerts a channel has not accepted yet; :func:`record_delivery`
  writes the channel's row once it has (idempotent: at most one row per alert and channel).
- :func:`read_alerts` is what ``pipeline alerts`` prints.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl
import pyarrow as pa

from pipeline.alerts.frames import ALERT_SCHEMA, KEY, UTC_HOUR, Scope
from pipeline.warehouse.backend import DuckDBWarehouse, Warehouse
from pipeline.warehouse.connection import connect
from pipeline.warehouse.lake import LakeWarehouse
from pipeline.warehouse.lake_tables import between, in_lists, literal

ALERTS = "analytics.alerts"
DELIVERIES = "analytics.alert_deliveries"
STORED_SCHEMA = pl.Schema([*ALERT_SCHEMA.items(), ("raised_at", UTC_HOUR)])
_KEY_MATCH = " AND ".join(f"d.{k} = a.{k}" for k in KEY)


def _scope_predicate(scope: Scope) -> str:
    """The scope's rows, as SQL valid in DuckDB and in delta-rs (DataFusion)."""
    terms = [between("bucket", scope.start, scope.end)]
    if scope.project_ids is not None:
        terms += in_lists("project_id", list(scope.project_ids)) or ["FALSE"]
    return " AND ".join(terms)


def _frame(table: pa.Table | pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
    frame = table if isinstance(table, pl.DataFrame) else pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.select(list(schema)).cast(schema)


def _lake(warehouse: Warehouse) -> LakeWarehouse | None:
    """The lake of a lake warehouse (its tables created), or None for the DuckDB file."""
    if isinstance(warehouse, LakeWarehouse):
        warehouse.lake.ensure_tables()
        return warehouse
    return None


def _file(warehouse: Warehouse) -> DuckDBWarehouse:
    if not isinstance(warehouse, DuckDBWarehouse):
        msg = f"alerts need the DuckDB file or the Delta lake, not {type(warehouse).__name__}"
        raise TypeError(msg)
    return warehouse


def save_alerts(
    warehouse: Warehouse, alerts: pl.DataFrame, scope: Scope, now: datetime
) -> pl.DataFrame:
    """Replace the scope's alerts with ``alerts`` (every rule), keeping first ``raised_at``.

    Args:
        warehouse: the warehouse.
        alerts: the evaluation's alerts (:data:`~pipeline.alerts.frames.ALERT_SCHEMA`), all
            inside ``scope``.
        scope: the hours and projects the evaluation owns.
        now: ``raised_at`` of alerts new to the table (UTC).

    Returns:
        The stored rows (with ``raised_at``).
    """
    where = _scope_predicate(scope)
    lake = _lake(warehouse)
    if lake is not None:
        old = _frame(lake.lake.query(ALERTS, f"SELECT * FROM t WHERE {where}"), STORED_SCHEMA)
    else:
        with connect(_file(warehouse).path, lock_wait_s=_file(warehouse).lock_wait_s) as con:
            old = _frame(con.sql(f"SELECT * FROM {ALERTS} WHERE {where}").to_arrow_table(),
                         STORED_SCHEMA)  # fmt: skip
    rows = (
        alerts.join(old.select(*KEY, "raised_at"), on=list(KEY), how="left")
        .with_columns(pl.col("raised_at").fill_null(pl.lit(now).cast(UTC_HOUR)))
        .select(list(STORED_SCHEMA))
    )
    if lake is not None:
        lake.lake.write(ALERTS, rows.to_arrow(), predicate=where)
        return rows
    file = _file(warehouse)
    with connect(file.path, lock_wait_s=file.lock_wait_s) as con:
        new_alerts = rows.to_arrow()
        con.register("new_alerts", new_alerts)
        con.execute("BEGIN")
        con.execute(f"DELETE FROM {ALERTS} WHERE {where}")
        con.execute(f"INSERT INTO {ALERTS} BY NAME SELECT * FROM new_alerts")
        con.execute("COMMIT")
        con.unregister("new_alerts")
    return rows


def _read(warehouse: Warehouse, sql: str, params: list[object] | None = None) -> pa.Table:
    """Run ``sql`` on a reader; an old file without the alerts tables reads as empty."""
    _lake(warehouse)
    with warehouse.reader() as con:
        try:
            table: pa.Table = con.sql(sql, params=params or []).to_arrow_table()
        except duckdb.CatalogException:
            return pa.table({})
    return table


def pending(warehouse: Warehouse, channel: str) -> pl.DataFrame:
    """The alerts ``channel`` has not accepted yet, oldest bucket first.

    Returns:
        Rows of ``analytics.alerts`` (with ``raised_at``).
    """
    table = _read(
        warehouse,
        f"SELECT a.* FROM {ALERTS} a WHERE NOT EXISTS (SELECT 1 FROM {DELIVERIES} d "
        f"WHERE d.channel = ? AND {_KEY_MATCH}) ORDER BY a.bucket, a.rule, a.project_id, "
        "a.trunk_id, a.direction",
        [channel],
    )
    if table.num_columns == 0:
        return STORED_SCHEMA.to_frame()
    return _frame(table, STORED_SCHEMA)


def _key_predicate(alert: dict[str, object], channel: str) -> str:
    terms = [f"channel = '{channel}'", f"bucket = {literal(alert['bucket'])}"]  # type: ignore[arg-type]
    for column in ("rule", "project_id", "trunk_id", "direction"):
        terms.append(f"{column} = '" + str(alert[column]).replace("'", "''") + "'")
    return " AND ".join(terms)


def record_delivery(
    warehouse: Warehouse, alert: dict[str, object], channel: str, at: datetime
) -> None:
    """Record that ``channel`` accepted ``alert`` (idempotent: one row per alert and channel).

    Args:
        warehouse: the warehouse.
        alert: a row of :func:`pending` (its key columns are used).
        channel: ``webhook`` or ``email``.
        at: when the channel accepted it (UTC).
    """
    row = {k: [alert[k]] for k in KEY} | {"channel": [channel], "delivered_at": [at]}
    lake = _lake(warehouse)
    if lake is not None:
        lake.lake.write(DELIVERIES, pa.table(row), predicate=_key_predicate(alert, channel))
        return
    file = _file(warehouse)
    with connect(file.path, lock_wait_s=file.lock_wait_s) as con:
        con.execute(
            f"INSERT INTO {DELIVERIES} SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS "
            f"(SELECT 1 FROM {DELIVERIES} WHERE {_key_predicate(alert, channel)})",
            [*(alert[k] for k in KEY), channel, at],
        )


def read_alerts(warehouse: Warehouse, since: datetime | None = None) -> pl.DataFrame:
    """Every alert (bucket at or after ``since``), with the channels that delivered it.

    Returns:
        The columns of ``analytics.alerts`` plus ``delivered`` (e.g. ``email, webhook``, or
        empty), sorted by bucket, rule, project, trunk and direction.
    """
    table = _read(
        warehouse,
        f"SELECT a.*, coalesce((SELECT string_agg(d.channel, ', ' ORDER BY d.channel) FROM "
        f"{DELIVERIES} d WHERE {_KEY_MATCH}), '') AS delivered FROM {ALERTS} a "
        "WHERE ? IS NULL OR a.bucket >= ? ORDER BY a.bucket, a.rule, a.project_id, a.trunk_id, "
        "a.direction",
        [since, since],
    )
    schema = pl.Schema([*STORED_SCHEMA.items(), ("delivered", pl.String())])
    if table.num_columns == 0:
        return schema.to_frame()
    return _frame(table, schema)
