"""Dagster's SQLite storage, with an event log that writes a batch of events at once.

Dagster records a *planned* and a *materialisation* event per asset and hourly partition. Its
SQLite event log writes each event in its own transaction, twice for asset events (the run's
shard, then the cross-run ``index`` shard), on a SQLAlchemy engine created and disposed of for
every write (so no statement is ever compiled from cache). A 14-day ``pipeline ingest`` (336
windows) spent most of its time there rather than fetching (README, "Benchmarks").

:class:`BatchingSqliteEventLogStorage` changes two things and nothing on disk:

* one engine per shard is kept (the last :data:`ENGINES_KEPT` run shards and the index), so a
  write opens a plain SQLite connection and reuses compiled statements;
* :meth:`~BatchingSqliteEventLogStorage.store_event_batch` writes a batch of asset events in
  one transaction per shard. Dagster hands a storage batches only when
  ``DAGSTER_EVENT_BATCH_SIZE`` is above 0 (:data:`EVENT_BATCH_SIZE`, set by
  :func:`pipeline.state.instance.open_instance` when it uses this storage): a run's planned
  events, and the materialisations of one partitioned output.

The files, tables and rows are exactly those of Dagster's ``DagsterSqliteStorage``, so
``dagster dev`` (which keeps the default storage of ``dagster.yaml``) reads and writes the
same instance folder at the same time. SQLite's durability settings are Dagster's (WAL, full
sync on commit). Only the ``pipeline`` command uses this class
(:data:`pipeline.state.instance.CLI_OVERRIDES`).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import sqlalchemy as sa
from dagster._core.events import ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.sqlalchemy_compat import db_result
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData
from sqlalchemy.pool import NullPool

#: Run shards whose engines stay open besides the index's (a run writes to one shard).
ENGINES_KEPT = 8
#: Events Dagster buffers before it hands them to ``store_event_batch`` (a batch also ends
#: with its run's planned events or its output's materialisations).
EVENT_BATCH_SIZE = 1000


class BatchingSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's run-sharded SQLite event log; engines kept, batches in one transaction."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        super().__init__(base_dir, inst_data=inst_data)
        self._engines: OrderedDict[str, sa.Engine] = OrderedDict()

    @contextmanager
    def _connect(self, shard: str) -> Iterator[sa.Connection]:
        """A connection to ``shard`` inside a transaction (as Dagster's, on a kept engine)."""
        with self._db_lock:
            engine = self._engines.get(shard)
            if engine is None:
                engine = sa.create_engine(
                    self.conn_string_for_shard(shard),
                    poolclass=NullPool,
                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
                )
                self._engines[shard] = engine
                self._forget_engines()
            self._engines.move_to_end(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _forget_engines(self) -> None:
        """Dispose of the least recently used run shards' engines past :data:`ENGINES_KEPT`."""
        runs = [shard for shard in self._engines if shard != INDEX_SHARD_NAME]
        for shard in runs[: max(0, len(runs) - ENGINES_KEPT)]:
            self._engines.pop(shard).dispose()

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """Store ``events`` as :meth:`store_event` would, one transaction per shard.

        Asset events (planned, materialised, observed, failed) go into their run's shard and
        the index shard with their tags and the asset's latest-event row, in order; any other
        event of the batch (a planned asset check) is stored on its own, as before. When the
        index's transaction fails (``database is locked`` past SQLite's busy timeout), the run
        shards' rows of the batch are deleted before the error reaches Dagster, which then
        stores the events one by one.
        """
        assets = [e for e in events if _is_asset_event(e)]
        if assets:
            by_run: dict[str, list[EventLogEntry]] = {}
            for event in assets:
                by_run.setdefault(event.run_id, []).append(event)
            stored: dict[str, list[int]] = {}  # run shard -> ids of this batch's rows
            try:
                for run_id, run_events in by_run.items():
                    with self.run_connection(run_id) as conn:
                        shard_ids = []
                        for event in run_events:
                            with db_result(conn, self.prepare_insert_event(event)) as result:
                                shard_ids.append(result.inserted_primary_key[0])
                    stored[run_id] = shard_ids
                self._store_in_index(assets)
            except Exception:
                # Dagster then stores every event of the batch again, one by one
                # (``handle_new_event``): take back the rows already committed, or the run
                # shards would hold them twice (the index's transaction was rolled back).
                with suppress(Exception):
                    self._unstore(stored)
                raise
        for event in events:
            if not _is_asset_event(event):
                self.store_event(event)

    def _store_in_index(self, assets: Sequence[EventLogEntry]) -> None:
        """Mirror ``assets`` in the index shard (tags, latest-event rows), one transaction."""
        with self.index_transaction() as conn:
            ids: list[int] = []
            for event in assets:
                with db_result(conn, self.prepare_insert_event(event)) as result:
                    ids.append(result.inserted_primary_key[0])
            self._store_asset_event_tags(conn, assets, ids)
            for event, event_id in zip(assets, ids, strict=True):
                self._store_asset_event(conn, event, event_id)

    def _unstore(self, stored: dict[str, list[int]]) -> None:
        """Delete the rows of ``stored`` (run shard -> event ids) from their run shards."""
        table = SqlEventLogStorageTable
        for run_id, ids in stored.items():
            with self.run_connection(run_id) as conn:
                for at in range(0, len(ids), 500):
                    conn.execute(table.delete().where(table.c.id.in_(ids[at : at + 500])))

    def dispose(self) -> None:
        """Dispose of the kept engines, then as Dagster's storage."""
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()
        super().dispose()


class BatchingSqliteStorage(DagsterSqliteStorage):
    """``DagsterSqliteStorage`` (same folders) with :class:`BatchingSqliteEventLogStorage`."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        super().__init__(base_dir, inst_data=inst_data)
        self._event_log_storage.dispose()
        self._event_log_storage = BatchingSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData, config_value: Any
    ) -> BatchingSqliteStorage:
        """This class (Dagster's builds a ``DagsterSqliteStorage`` whatever the subclass)."""
        return cls.from_local(inst_data=inst_data, **config_value)


def storage_override(home: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``dagster.yaml`` ``storage`` entry that selects :class:`BatchingSqliteStorage`."""
    return {
        "custom": {
            "module": __name__,
            "class": BatchingSqliteStorage.__name__,
            "config": {"base_dir": os.fspath(home)},
        }
    }


def _is_asset_event(event: EventLogEntry) -> bool:
    dagster_event = event.dagster_event
    return bool(
        dagster_event is not None
        and dagster_event.event_type in ASSET_EVENTS
        and dagster_event.asset_key
    )
