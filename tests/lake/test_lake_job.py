"""The ``ingest_calls`` job with ``CALLS_LAKE_URI`` set: Delta tables equal to the DuckDB file.

One sandbox serves the same hours to two runs of the job: one into a DuckDB file
(``CALLS_LAKE_URI`` unset), one into a lake directory. Every table (raw and analytics) must
hold the same rows, minus the columns that record when or by which run a row was written; a
second run over the lake leaves it unchanged; ``pipeline sql``, Polars and the report read
the lake.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from lake_kit import built_tables, column_types, ingest, snapshot, tables
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.reporting.notebook import render_report
from pipeline.sandbox.testing import sandbox_server
from pipeline.warehouse.backend import DuckDBWarehouse
from pipeline.warehouse.checks import run_checks
from pipeline.warehouse.lake import LakeWarehouse
from tests.conftest import DEMO_START

#: 8 closed hours across a UTC midnight (and the Copenhagen one, 23:00 UTC).
START = DEMO_START + timedelta(hours=20)
END = START + timedelta(hours=8)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass
class Runs:
    duck: DuckDBWarehouse
    lake: LakeWarehouse
    first: dict[str, list[tuple]]
    second: dict[str, list[tuple]]
    seconds: dict[str, float]


def _run(sb, db_path: Path, lake_uri: str | None) -> float:
    began = time.perf_counter()
    ingest(sb, db_path, lake_uri, START, END)
    return time.perf_counter() - began


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    root = tmp_path_factory.mktemp("lake_job")
    db_path, lake_uri = root / "calls.duckdb", str(root / "lake")
    seconds = {}
    with sandbox_server(seed=7) as sb:
        seconds["duckdb"] = _run(sb, db_path, None)
        seconds["lake"] = _run(sb, root / "unused.duckdb", lake_uri)
        lake = LakeWarehouse(lake_uri)
        with lake.reader() as con:
            first = snapshot(con)
        seconds["lake again"] = _run(sb, root / "unused.duckdb", lake_uri)
        with lake.reader() as con:
            second = snapshot(con)
    print(f"job over {END - START}: {seconds}")
    assert not (root / "unused.duckdb").exists()  # the lake run never opened a DuckDB file
    return Runs(DuckDBWarehouse(db_path), lake, first, second, seconds)


def test_lake_equals_duckdb_row_for_row(runs: Runs) -> None:
    with runs.duck.reader() as con:
        expected = snapshot(con)
        assert len(expected["raw.calls"]) > 100
        assert all(expected[t] for t in built_tables())
        types = {t: column_types(con, t) for t in tables()}
    assert runs.first == expected
    with runs.lake.reader() as con:
        assert {t: column_types(con, t) for t in tables()} == types


def test_rerun_leaves_the_lake_unchanged(runs: Runs) -> None:
    first, second = dict(runs.first), dict(runs.second)
    ledger_first, ledger_second = first.pop("raw.ingest_ledger"), second.pop("raw.ingest_ledger")
    details_first = first.pop("raw.details_ledger")
    details_second = second.pop("raw.details_ledger")
    assert second == first
    # raw.details_ledger is append-only too: one row per window fetch of the export.
    assert len(details_second) == 2 * len(details_first) == 16
    # The ledger gains one row per window fetch, now settled (same count as the first fetch).
    assert len(ledger_second) == 2 * len(ledger_first) == 16
    with runs.lake.reader() as con:
        settled = con.execute("SELECT count(*) FILTER (settled) FROM raw.ingest_ledger").fetchall()
    assert settled == [(8,)]


def test_checks_pass_over_the_lake(runs: Runs, tmp_path: Path) -> None:
    """The job's checks read the run's hours of the lake; the audit reads every window."""
    for outcome in run_checks(runs.lake):
        assert (outcome.spec.name, outcome.failures) == (outcome.spec.name, 0), outcome.detail
    env = {"CALLS_LAKE_URI": runs.lake.location}
    audit = CliRunner().invoke(app, ["audit", "--db", str(tmp_path / "none.duckdb")], env=env)
    assert audit.exit_code == 0, audit.output
    assert "audit passed: 7 checks" in audit.output


def test_pipeline_sql_reads_the_lake(runs: Runs, tmp_path: Path) -> None:
    runner = CliRunner()
    missing = tmp_path / "none.duckdb"
    env = {"CALLS_LAKE_URI": runs.lake.location}
    on_lake = runner.invoke(app, ["sql", "answer_rate_7d", "--db", str(missing)], env=env)
    assert on_lake.exit_code == 0, on_lake.output
    on_file = runner.invoke(
        app, ["sql", "answer_rate_7d", "--db", str(runs.duck.path)], env={"CALLS_LAKE_URI": ""}
    )
    assert on_file.exit_code == 0, on_file.output
    assert on_lake.output == on_file.output
    adhoc = tmp_path / "count.sql"
    adhoc.write_text("SELECT count(*) AS calls FROM raw.calls;\n")
    counted = runner.invoke(app, ["sql", str(adhoc), "--format", "csv"], env=env)
    assert counted.exit_code == 0, counted.output
    assert counted.output.splitlines() == ["calls", str(len(runs.first["raw.calls"]))]


def test_polars_reads_the_delta_tables(runs: Runs) -> None:
    calls = pl.read_delta(runs.lake.lake.table_uri("raw.calls"))
    assert calls.height == len(runs.first["raw.calls"])
    assert calls["call_id"].n_unique() == calls.height
    assert calls.schema["create_time"] == pl.Datetime("us", "UTC")


def test_report_renders_from_the_lake(runs: Runs, tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CALLS_LAKE_URI", runs.lake.location)
        out = render_report(tmp_path / "none.duckdb", tmp_path / "report.html")
    html = out.read_text(encoding="utf-8")
    assert html.count("Plotly.newPlot(") == 11  # every chart (3 from export details), from the lake
    assert runs.lake.location in html


def test_export_writes_the_same_files_from_the_lake_as_from_the_file(
    runs: Runs, tmp_path: Path
) -> None:
    """The lake reader's registered Arrow datasets (``lake_raw_calls``...) are not exported."""
    runner = CliRunner()
    from_file = runner.invoke(app, ["export", str(tmp_path / "file"), "--db", runs.duck.location],
                              env={"CALLS_LAKE_URI": ""})  # fmt: skip
    from_lake = runner.invoke(app, ["export", str(tmp_path / "lake")],
                              env={"CALLS_LAKE_URI": runs.lake.location})  # fmt: skip
    assert from_file.exit_code == 0, from_file.output
    assert from_lake.exit_code == 0, from_lake.output
    names = sorted(p.name for p in (tmp_path / "lake").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "file").iterdir())
    assert "raw.calls.parquet" in names
    calls = pl.read_parquet(tmp_path / "lake" / "raw.calls.parquet")
    assert calls.height == len(runs.first["raw.calls"])
