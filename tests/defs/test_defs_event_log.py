"""The command's batching SQLite event log (:mod:`pipeline.state.event_log`).

The same partitioned assets and check, materialised on Dagster's own SQLite storage and on
the batching one, leave the same rows (events per shard, asset index, tags, check
executions) in far fewer transactions; ``open_instance`` picks the batching storage only when
the folder's ``dagster.yaml`` names no storage.
"""

import os
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage

from pipeline.defs.schedules import RANGE_END_TAG, RANGE_START_TAG
from pipeline.settings import SettingsError
from pipeline.state.event_log import BatchingSqliteEventLogStorage, BatchingSqliteStorage
from pipeline.state.instance import open_instance

HOURS = dg.HourlyPartitionsDefinition(start_date="2026-11-01-00:00")
KEYS = [f"2026-11-01-{h:02d}:00" for h in range(24)]


@dg.asset(partitions_def=HOURS, key_prefix="raw")
def calls(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"windows": len(context.partition_keys)})


@dg.asset(partitions_def=HOURS, deps=[calls], key_prefix="analytics")
def usage() -> None:
    return None


@dg.asset_check(asset=calls)
def calls_unique() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


JOB = dg.Definitions(
    assets=[calls, usage],
    asset_checks=[calls_unique],
    jobs=[dg.define_asset_job("hours")],
).resolve_job_def("hours")


def _instance(home: Path, storage: type[DagsterSqliteStorage]) -> dg.DagsterInstance:
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    custom = {"module": storage.__module__, "class": storage.__name__}
    overrides = {"storage": {"custom": {**custom, "config": {"base_dir": str(home)}}}}
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home), overrides=overrides))


@contextmanager
def _commits() -> Iterator[Counter[str]]:
    """Count SQLite commits per database file while the block runs."""
    seen: Counter[str] = Counter()

    def commit(conn: sa.Connection) -> None:
        seen[Path(str(conn.engine.url.database)).name] += 1

    sa.event.listen(sa.Engine, "commit", commit)
    try:
        yield seen
    finally:
        sa.event.remove(sa.Engine, "commit", commit)


def _materialise(instance: dg.DagsterInstance) -> list[int]:
    """Run hours 0-1, then hours 2-23; the index shard's commits of each run."""
    commits = []
    for start, end in ((KEYS[0], KEYS[1]), (KEYS[2], KEYS[23])):
        with _commits() as seen:
            result = JOB.execute_in_process(
                instance=instance,
                tags={RANGE_START_TAG: start, RANGE_END_TAG: end},
            )
        assert result.success
        commits.append(seen["index.db"])
    return commits


def _rows(instance: dg.DagsterInstance) -> dict[str, Counter[tuple[Any, ...]]]:
    """What the storage holds, without ids, run ids and timestamps."""
    storage = instance.event_log_storage
    records = storage.get_event_records(
        dg.EventRecordsFilter(dg.DagsterEventType.ASSET_MATERIALIZATION)
    )
    planned = storage.get_event_records(
        dg.EventRecordsFilter(dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
    )
    per_run: Counter[tuple[Any, ...]] = Counter()
    for run in instance.get_runs():
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is not None:
                per_run[(event.event_type_value, event.asset_key, event.partition)] += 1
    with storage.index_connection() as conn:
        # (a data version's value hashes the run's ids, so only its key is compared)
        tags = conn.execute(sa.text("SELECT asset_key, key FROM asset_event_tags")).all()
        keys = conn.execute(sa.text("SELECT asset_key FROM asset_keys")).all()
        checks = conn.execute(
            sa.text(
                "SELECT asset_key, check_name, partition, execution_status"
                " FROM asset_check_executions"
            )
        ).all()
    return {
        "materialised": Counter((r.asset_key, r.partition_key) for r in records),
        "planned": Counter((r.asset_key, r.partition_key) for r in planned),
        "run shards": per_run,
        "tags": Counter(tuple(row) for row in tags),
        "asset keys": Counter(tuple(row) for row in keys),
        "checks": Counter(tuple(row) for row in checks),
    }


def test_batches_leave_the_same_rows_in_far_fewer_transactions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")
    with _instance(tmp_path / "dagster", DagsterSqliteStorage) as reference:
        before = _materialise(reference)
        expected = _rows(reference)
    with _instance(tmp_path / "batching", BatchingSqliteStorage) as instance:
        assert isinstance(instance.event_log_storage, BatchingSqliteEventLogStorage)
        after = _materialise(instance)
        assert _rows(instance) == expected
    assert expected["materialised"] == Counter(
        {
            (key, hour): 1
            for key in (dg.AssetKey(["raw", "calls"]), dg.AssetKey(["analytics", "usage"]))
            for hour in KEYS
        }
    )
    assert sum(expected["planned"].values()) == 48
    statuses = Counter()
    for (*_, status), count in expected["checks"].items():
        statuses[status] += count
    assert statuses == {"PLANNED": 24, "SUCCEEDED": 2}
    # Dagster's storage commits each asset event on its own (a planned and a materialised
    # event per asset and hour: 4 more per hour); the batching one once per batch (a run's
    # planned events, an output's materialisations), however many hours the run has.
    assert before[1] - before[0] >= 4 * 20
    assert after[1] == after[0] < before[0]


def test_a_batch_the_index_refuses_is_stored_once_by_dagsters_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A store_event_batch that raises makes Dagster store the batch's events one by one; the
    # run shard's rows, committed before the index's transaction failed, must not stay twice.
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")
    hours = {RANGE_START_TAG: KEYS[0], RANGE_END_TAG: KEYS[3]}
    with _instance(tmp_path / "dagster", DagsterSqliteStorage) as reference:
        assert JOB.execute_in_process(instance=reference, tags=hours).success
        expected = _rows(reference)
    refused: list[int] = []
    store_tags = BatchingSqliteEventLogStorage._store_asset_event_tags

    def locked_once(
        self: BatchingSqliteEventLogStorage,
        conn: sa.Connection,
        events: list[Any],
        ids: list[int],
    ) -> None:
        if not refused:
            refused.append(len(events))
            locked = sqlite3.OperationalError("database is locked")
            raise sa.exc.OperationalError("INSERT INTO asset_event_tags", {}, locked)
        store_tags(self, conn, events, ids)

    monkeypatch.setattr(BatchingSqliteEventLogStorage, "_store_asset_event_tags", locked_once)
    with _instance(tmp_path / "batching", BatchingSqliteStorage) as instance:
        assert JOB.execute_in_process(instance=instance, tags=hours).success
        assert refused == [2 * 4]  # the run's planned events (2 assets, hours 0-3)
        assert _rows(instance) == expected


def test_the_command_batches_only_a_sqlite_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "0")  # restored (unset) after the test
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE")
    with open_instance(tmp_path / "default") as instance:
        assert isinstance(instance.event_log_storage, BatchingSqliteEventLogStorage)
    assert int(os.environ["DAGSTER_EVENT_BATCH_SIZE"]) > 0
    named = tmp_path / "named"
    named.mkdir()
    (named / "dagster.yaml").write_text(f"storage:\n  sqlite:\n    base_dir: {named}\n")
    with open_instance(named) as instance:
        assert type(instance.event_log_storage).__name__ == "SqliteEventLogStorage"


@pytest.mark.parametrize("value", ["abc", "", "1.5"])
def test_a_batch_size_that_is_not_a_number_is_one_clear_error(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dagster reads it at every event: it used to fail at the run's first event, a traceback.
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", value)
    with (
        pytest.raises(SettingsError, match=r"^DAGSTER_EVENT_BATCH_SIZE=.* is not a whole number"),
        open_instance(tmp_path / "home"),
    ):
        pass
