"""``pipeline migrate``: a DuckDB warehouse copied into a lake, then ingested into further.

A few sandbox hours land in a DuckDB file through the ``ingest_calls`` job; ``pipeline
migrate`` copies it into a lake directory. Every raw and analytics table must then equal the
file's row for row (every column, the run ids and fetch times included); a second migrate is
refused unless ``--replace``; ingesting on into the migrated lake (a later hour, and an hour
the migration brought) leaves the same rows as the same ingestion into the file. The
documented alternative recipe (``docs/deploy.md``) is run too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from lake_kit import built_tables, column_types, ingest, snapshot, tables
from typer.testing import CliRunner

import pipeline.warehouse.migrate as mig
from pipeline.cli import app
from pipeline.sandbox.server import SandboxHandle
from pipeline.sandbox.testing import sandbox_server
from pipeline.warehouse.backend import DuckDBWarehouse
from pipeline.warehouse.lake import LakeWarehouse
from tests.conftest import DEMO_START, REPO

#: 20:00–23:00 UTC of the second day: holds 22:00, the hour owning its Copenhagen day.
START = DEMO_START + timedelta(hours=44)
END = START + timedelta(hours=3)
#: The continued ingestion: the migration's last hour again, and the next one.
MORE_START, MORE_END = END - timedelta(hours=1), END + timedelta(hours=1)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def full_snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """Every table's rows, every column (a migration copies fetch times and run ids too)."""
    return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables()}


def migrate_cli(db: Path, lake: Path | str, *args: str, env: dict[str, str] | None = None):
    runner = CliRunner()
    return runner.invoke(app, ["migrate", "--db", str(db), "--to", str(lake), *args], env=env or {})


@dataclass
class Migrated:
    db: Path
    lake: Path
    file_rows: dict[str, list[tuple]]
    types: dict[str, list[tuple[str, str]]]
    output: str
    sb: SandboxHandle


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("migrate")
    db, lake = root / "calls.duckdb", root / "lake"
    with sandbox_server(seed=7) as sb:
        ingest(sb, db, None, START, END)
        with DuckDBWarehouse(db).reader() as con:
            file_rows = full_snapshot(con)
            types = {t: column_types(con, t) for t in tables()}
        result = migrate_cli(db, lake)
        assert result.exit_code == 0, result.output
        yield Migrated(db, lake, file_rows, types, result.output, sb)


def test_every_table_equals_the_file_row_for_row(migrated: Migrated) -> None:
    rows = migrated.file_rows
    assert len(rows["raw.calls"]) > 100
    assert rows["raw.ingest_ledger"] and rows["raw.trunks"]
    assert all(rows[t] for t in built_tables())
    with LakeWarehouse(str(migrated.lake)).reader() as con:
        assert full_snapshot(con) == rows
        assert {t: column_types(con, t) for t in tables()} == migrated.types
    # The table of rows copied names every table with its count.
    for table in tables():
        line = next(x for x in migrated.output.splitlines() if f" {table} " in x)
        assert f"{len(rows[table]):,}" in line and "ok" in line


def test_a_second_migrate_is_refused_unless_replace(migrated: Migrated) -> None:
    refused = migrate_cli(migrated.db, migrated.lake)
    assert refused.exit_code == 2, refused.output
    assert "already holds rows" in refused.output and "--replace" in refused.output
    assert "Traceback" not in refused.output
    replaced = migrate_cli(migrated.db, migrated.lake, "--replace")
    assert replaced.exit_code == 0, replaced.output
    with LakeWarehouse(str(migrated.lake)).reader() as con:
        assert full_snapshot(con) == migrated.file_rows


def test_ingestion_continues_on_the_migrated_lake(
    migrated: Migrated, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("continued")
    # A copy of the migrated lake, and the same continuation on the file itself.
    lake = root / "lake"
    result = migrate_cli(migrated.db, lake)
    assert result.exit_code == 0, result.output
    file_copy = root / "calls.duckdb"
    file_copy.write_bytes(migrated.db.read_bytes())
    ingest(migrated.sb, root / "unused.duckdb", str(lake), MORE_START, MORE_END)
    ingest(migrated.sb, file_copy, None, MORE_START, MORE_END)
    assert not (root / "unused.duckdb").exists()
    with DuckDBWarehouse(file_copy).reader() as con:
        expected = snapshot(con)
    with LakeWarehouse(str(lake)).reader() as con:
        got = snapshot(con)
        hours = con.execute("SELECT count(DISTINCT window_start) FROM raw.calls").fetchall()
    assert got == expected
    assert hours == [(4,)]
    assert len(got["raw.ingest_ledger"]) == 5  # 3 migrated fetches, 2 more
    # Re-ingesting the same hours again changes nothing (the ledger gains its rows).
    ingest(migrated.sb, root / "unused.duckdb", str(lake), MORE_START, MORE_END)
    with LakeWarehouse(str(lake)).reader() as con:
        again = snapshot(con)
    assert len(again.pop("raw.ingest_ledger")) == 7
    assert len(again.pop("raw.details_ledger")) == 7  # the export's ledger likewise
    got.pop("raw.ingest_ledger")
    got.pop("raw.details_ledger")
    assert again == got


def test_a_failed_copy_says_half_migrated_and_blocks_a_plain_rerun(
    migrated: Migrated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_copy = mig._copy

    def failing(lake, con, name, advance):
        if name == "raw.calls":
            raise OSError("disk full (simulated)")
        real_copy(lake, con, name, advance)

    lake = tmp_path / "lake"
    with monkeypatch.context() as mp:
        mp.setattr(mig, "_copy", failing)
        failed = migrate_cli(migrated.db, lake)
    assert failed.exit_code == 1, failed.output
    assert "raw.calls" in failed.output and "half-migrated" in failed.output
    assert "--replace" in failed.output
    plain = migrate_cli(migrated.db, lake)
    assert plain.exit_code == 2, plain.output
    assert "did not finish" in plain.output
    replaced = migrate_cli(migrated.db, lake, "--replace")
    assert replaced.exit_code == 0, replaced.output
    assert mig.unfinished_migration(mig.Lake(str(lake))) is None


def test_a_count_mismatch_fails_with_exit_1(
    migrated: Migrated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_rows = mig.lake_rows

    def short(lake, name):
        rows = real_rows(lake, name)
        return rows - 1 if name == "raw.calls" and rows else rows

    lake = tmp_path / "lake"
    monkeypatch.setattr(mig, "lake_rows", short)
    result = migrate_cli(migrated.db, lake)
    assert result.exit_code == 1, result.output
    assert "MISMATCH" in result.output and "--replace" in result.output
    assert mig.unfinished_migration(mig.Lake(str(lake))) is not None


def test_bad_input_is_a_usage_error(migrated: Migrated, tmp_path: Path) -> None:
    missing = migrate_cli(tmp_path / "none.duckdb", tmp_path / "lake")
    assert missing.exit_code == 2 and "does not exist" in missing.output
    scheme = migrate_cli(migrated.db, "gs://bucket/calls")
    assert scheme.exit_code == 2 and "s3://" in scheme.output
    runner = CliRunner()
    no_target = runner.invoke(
        app, ["migrate", "--db", str(migrated.db)], env={"CALLS_LAKE_URI": ""}
    )
    assert no_target.exit_code == 2 and "--to" in no_target.output
    # CALLS_LAKE_URI is the default target.
    lake = tmp_path / "env-lake"
    from_env = runner.invoke(
        app, ["migrate", "--db", str(migrated.db)], env={"CALLS_LAKE_URI": str(lake)}
    )
    assert from_env.exit_code == 0, from_env.output
    assert mig.lake_rows(mig.Lake(str(lake)), "raw.calls") == len(migrated.file_rows["raw.calls"])


def test_the_documented_recipe_copies_the_same_rows(migrated: Migrated, tmp_path: Path) -> None:
    text = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- migration-recipe -->\s*```python\n(.*?)```", text, re.S)
    assert block, "docs/deploy.md lost its migration recipe"
    code = block.group(1)
    assert 'SOURCE, LAKE = "data/calls.duckdb", "/srv/calls-lake"' in code
    lake = tmp_path / "recipe-lake"
    code = code.replace('"data/calls.duckdb"', repr(str(migrated.db)))
    code = code.replace('"/srv/calls-lake"', repr(str(lake)))
    exec(compile(code, "docs/deploy.md", "exec"), {"print": lambda *a, **k: None})
    with LakeWarehouse(str(lake)).reader() as con:
        assert full_snapshot(con) == migrated.file_rows
