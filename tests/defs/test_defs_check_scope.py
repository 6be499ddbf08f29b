"""The ``raw/calls`` checks read what their run wrote; ``pipeline audit`` reads everything.

Three windows land (A 10:00, MID 11:00, B 12:00); damage is planted by hand: a second copy of
call X (which lives in B) in A, and a negative duration on call Y in A. A check over B sees the
duplicate (one copy is in B, the other is looked up in the whole table); a check over MID or B
does not see Y; a check over A, and the audit, see both. The Dagster checks get their hours
from the run's partition key range (a checks-only run of ``ingest_calls``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "warehouse"))

from warehouse_kit import MID, X_IN_A, X_IN_B, A, B, Y, Z, land

from pipeline.cli import app
from pipeline.definitions import build_definitions
from pipeline.defs.checks import RAW_CALLS, check_scopes
from pipeline.defs.partitions import ingestion_partitions, partition_key
from pipeline.defs.resources import WarehouseResource
from pipeline.defs.schedules import RANGE_END_TAG, RANGE_START_TAG
from pipeline.projects import Project
from pipeline.warehouse.backend import DuckDBWarehouse
from pipeline.warehouse.checks import EVERYTHING, CheckScope, run_checks
from pipeline.warehouse.connection import connect
from pipeline.warehouse.raw_calls import RawCallsWriter


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    """A warehouse of A, MID, B with X copied into A and Y's duration negative (both in A)."""
    db = tmp_path / "w.duckdb"
    with connect(db) as con:
        writer = RawCallsWriter(con, "r", "P")
        land(writer, A, [Y])
        land(writer, MID, [Z])
        land(writer, B, [X_IN_B])
        # rows an older version of the code (or a hand) left: X in A too, Y negative
        con.execute(
            "INSERT INTO raw.calls SELECT * REPLACE (?::TIMESTAMPTZ AS create_time, "
            "?::TIMESTAMPTZ AS window_start, ?::TIMESTAMPTZ AS window_end) FROM raw.calls "
            "WHERE call_id = 'X'",
            [X_IN_A.create_time, A.start, A.end],
        )
        con.execute("UPDATE raw.calls SET duration_seconds = -5 WHERE call_id = 'Y'")
    return db


def outcomes(db: Path, *scopes: CheckScope) -> dict[str, tuple[int, str]]:
    found = run_checks(DuckDBWarehouse(db), scopes, memory_limit="256MB")
    return {o.spec.name: (o.failures, o.detail) for o in found}


def test_a_scope_sees_a_duplicate_of_its_ids_anywhere(damaged: Path) -> None:
    failures, detail = outcomes(damaged, CheckScope(B.start, B.end))["unique_call_ids"]
    assert failures == 1
    assert detail.startswith("X in 2026-03-01T10:00Z and 2026-03-01T12:00Z")
    # MID holds neither copy: not its business
    assert outcomes(damaged, CheckScope(MID.start, MID.end))["unique_call_ids"] == (0, "")
    # both copies in the scope: one surplus row, counted once
    assert outcomes(damaged, CheckScope(A.start, B.end))["unique_call_ids"][0] == 1
    assert outcomes(damaged, EVERYTHING)["unique_call_ids"][0] == 1


def test_a_scope_does_not_read_other_windows(damaged: Path) -> None:
    assert outcomes(damaged, CheckScope(MID.start, B.end))["no_negative_durations"] == (0, "")
    assert outcomes(damaged, CheckScope(A.start, A.end))["no_negative_durations"] == (1, "Y")
    assert outcomes(damaged, EVERYTHING)["no_negative_durations"] == (1, "Y")
    # the project bounds the scope too; spans of one run add up, each named
    assert outcomes(damaged, CheckScope(A.start, A.end, "Q"))["no_negative_durations"][0] == 0
    failures, detail = outcomes(
        damaged, CheckScope(A.start, A.end, "P"), CheckScope(B.start, B.end, "P")
    )["no_negative_durations"]
    assert (failures, detail) == (1, "P: [2026-03-01 10:00, 2026-03-01 11:00)Z: Y")
    # the ledger of the scope's windows only: X's copy in A is one row more than A's ledger
    assert outcomes(damaged, CheckScope(A.start, A.end))["ledger_reconciles"][0] == 1
    assert outcomes(damaged, CheckScope(MID.start, B.end))["ledger_reconciles"][0] == 0


def checks_only_run(
    db: Path, first: str, last: str | None = None
) -> dict[str, dg.AssetCheckEvaluation]:
    """The raw/calls checks of ``ingest_calls`` alone, in a run over partitions first..last
    (a range run, as the schedules launch), or of the one partition ``first``."""
    defs = build_definitions(warehouse=WarehouseResource(path=str(db)))
    job = defs.resolve_job_def("ingest_calls")
    checks = {
        key for key in job.asset_layer.asset_graph.asset_check_keys if key.asset_key == RAW_CALLS
    }
    subset = job.get_subset(asset_selection=set(), asset_check_selection=checks)
    with dg.DagsterInstance.ephemeral() as instance:
        result = subset.execute_in_process(
            tags={RANGE_START_TAG: first, RANGE_END_TAG: last} if last else None,
            partition_key=None if last else first,
            instance=instance,
            raise_on_error=False,
        )
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_the_run_s_checks_read_its_hours(damaged: Path) -> None:
    """In Dagster: a run over B sees the duplicate but not Y; a run over A sees Y."""
    over_b = checks_only_run(damaged, partition_key(B.start), partition_key(B.start))
    assert set(over_b) == {
        "unique_call_ids",
        "create_time_in_window",
        "ledger_reconciles",
        "no_negative_durations",
        "no_calls_over_24_hours",
        "no_rejected_records",
    }
    assert not over_b["unique_call_ids"].passed
    assert over_b["no_negative_durations"].passed
    scope = over_b["no_negative_durations"].metadata["scope"]
    assert scope.value == "[2026-03-01 12:00, 2026-03-01 13:00)Z"
    # a run of one partition (from the UI, or a backfill of one hour per run) reads that hour
    over_mid = checks_only_run(damaged, partition_key(MID.start))
    assert over_mid["no_negative_durations"].passed
    assert over_mid["unique_call_ids"].passed
    scope = over_mid["unique_call_ids"].metadata["scope"]
    assert scope.value == "[2026-03-01 11:00, 2026-03-01 12:00)Z"
    over_a_mid = checks_only_run(damaged, partition_key(A.start), partition_key(MID.start))
    assert not over_a_mid["no_negative_durations"].passed
    assert over_a_mid["no_negative_durations"].metadata["detail"].value == "Y"


def test_pipeline_audit_reads_every_window(damaged: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["audit", "--db", str(damaged)])
    assert result.exit_code == 1, result.output
    assert "audit failed: unique_call_ids, ledger_reconciles, no_negative_durations" in (
        " ".join(result.output.split())
    )
    clean = tmp_path / "clean.duckdb"
    with connect(clean) as con:
        land(RawCallsWriter(con, "r", "P"), MID, [Z])
    result = CliRunner().invoke(app, ["audit", "--db", str(clean)])
    assert result.exit_code == 0, result.output
    assert "audit passed: 7 checks over every window" in result.output
    with connect(clean) as con:  # an export row the CSV parser could not read
        con.execute(
            "INSERT INTO raw.rejected_call_details (project_id, window_start, window_end, "
            "call_id, reason, raw_line, fetched_at) VALUES ('P', ?, ?, NULL, "
            "'field count 15, header has 26', 'x', now())",
            [MID.start, MID.end],
        )
    result = CliRunner().invoke(app, ["audit", "--db", str(clean)])
    assert result.exit_code == 1, result.output  # like no_rejected_records: named, exit 1
    assert "audit failed: no_rejected_call_details" in " ".join(result.output.split())
    assert "field count 15, header has 26" in " ".join(result.output.split())
    missing = CliRunner().invoke(app, ["audit", "--db", str(tmp_path / "none.duckdb")])
    assert missing.exit_code == 2


def test_scopes_of_a_project_x_hour_run() -> None:
    """Per project, each span of the run's hours (keys of a MultiPartitionsDefinition)."""
    partitions = ingestion_partitions(
        [Project(id="acme"), Project(id="beta")], start="2026-01-01-00:00"
    )
    keys = [
        dg.MultiPartitionKey({"hour": hour, "project": project})
        for project, hour in [
            ("beta", "2026-03-01-10:00"),
            ("acme", "2026-03-01-10:00"),
            ("acme", "2026-03-01-11:00"),
            ("acme", "2026-03-01-13:00"),
        ]
    ]
    context = SimpleNamespace(has_partition_key_range=True, partition_keys=keys)
    scopes = check_scopes(context, partitions)  # type: ignore[arg-type]
    assert [s.label() for s in scopes] == [
        "acme: [2026-03-01 10:00, 2026-03-01 12:00)Z",
        "acme: [2026-03-01 13:00, 2026-03-01 14:00)Z",
        "beta: [2026-03-01 10:00, 2026-03-01 11:00)Z",
    ]
    unpartitioned = SimpleNamespace(has_partition_key_range=False, has_partition_key=False)
    assert check_scopes(unpartitioned, partitions) == [EVERYTHING]  # type: ignore[arg-type]
