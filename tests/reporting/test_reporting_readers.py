"""Opening the data with the tools people have: any .sql file, `pipeline export`, `shell`.

A small warehouse built here (two calls, a trunk, the report zone) keeps these tests fast;
`test_export_of_the_demo_warehouse` checks the same on the demo job's tables (slow).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.warehouse.connection import connect

runner = CliRunner()

CALLS = """
INSERT INTO raw.calls (call_id, create_time, answer_time, end_time, direction, call_result,
    from_e164, to_e164, trunk_id, project_id, billing_duration_seconds, price, price_currency,
    raw, window_start, window_end, fetched_at)
VALUES
    ('c1', '2026-11-16 10:00:01.5+00', '2026-11-16 10:00:05+00', '2026-11-16 10:01:05+00',
     'OUTBOUND', 'COMPLETED', '+4512345678', '+4587654321', 't1', 'p', 60, 0.123456, 'EUR',
     '{"callId": "c1", "extra": [1, 2]}', '2026-11-16 10:00+00', '2026-11-16 11:00+00',
     '2026-11-16 12:00+00'),
    ('c2', '2026-11-16 10:30:00+00', NULL, '2026-11-16 10:30:20+00',
     'INBOUND', 'NO_ANSWER', '+12125550100', '+4512345678', 't1', 'p', 0, NULL, NULL,
     '{"callId": "c2"}', '2026-11-16 10:00+00', '2026-11-16 11:00+00', '2026-11-16 12:00+00');
INSERT INTO raw.trunks (trunk_id, name, calls_per_second, raw, fetched_at, project_id)
VALUES ('t1', 'Main trunk', 10, '{"id": "t1"}', '2026-11-16 12:00+00', 'p');
INSERT INTO analytics.report_settings (report_tz, project_id) VALUES ('Europe/Copenhagen', 'p');
"""


@pytest.fixture
def small_db(tmp_path: Path) -> Path:
    """A warehouse file with two calls, one trunk and the report zone (schema by `connect`)."""
    path = tmp_path / "small.duckdb"
    with connect(path) as con:
        con.execute(CALLS)
    return path


def test_a_sql_file_without_read_line_gets_the_views(small_db: Path, tmp_path: Path) -> None:
    """It used to fail with 'Table with name calls_enriched does not exist'."""
    mine = tmp_path / "elsewhere" / "mine.sql"
    mine.parent.mkdir()
    mine.write_text(
        "-- my own question, no .read line\n"
        "CREATE OR REPLACE TEMP VIEW answered AS SELECT * FROM calls_enriched WHERE answered;\n"
        "SELECT a.call_id, a.trunk_name, a.to_country, a.conversation_seconds, w.report_tz\n"
        "FROM answered a, data_window w;\n"
    )
    result = runner.invoke(app, ["sql", str(mine), "--db", str(small_db), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == ["c1,Main trunk,DK,60.0,Europe/Copenhagen"]


def test_a_sql_file_with_the_read_line_still_works(small_db: Path, tmp_path: Path) -> None:
    mine = tmp_path / "mine.sql"
    mine.write_text(".read sql/views/all.sql\nSELECT count(*) AS n FROM calls_enriched;\n")
    result = runner.invoke(app, ["sql", str(mine), "--db", str(small_db), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["n", "2"]


def test_a_sql_file_creating_a_stored_view_is_one_line(small_db: Path, tmp_path: Path) -> None:
    mine = tmp_path / "mine.sql"
    mine.write_text("CREATE VIEW mine AS SELECT 1 AS x;\nSELECT * FROM mine;\n")
    result = runner.invoke(app, ["sql", str(mine), "--db", str(small_db)])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "CREATE TEMP VIEW" in result.output


def test_export_parquet_keeps_types_and_values(small_db: Path, tmp_path: Path) -> None:
    import polars as pl

    out = tmp_path / "export"
    result = runner.invoke(app, ["export", str(out), "--db", str(small_db)])
    assert result.exit_code == 0, result.output
    names = sorted(path.name for path in out.iterdir())
    assert "raw.calls.parquet" in names and "analytics.cost_daily.parquet" in names
    for view in ("calls_enriched", "trunks_latest", "data_window", "country_codes"):
        assert f"{view}.parquet" in names
    assert not [name for name in names if name.startswith(".")]  # no partial files left
    assert "raw.calls.parquet" in result.output  # the closing table

    calls = pl.read_parquet(out / "raw.calls.parquet").sort("call_id")
    assert calls.height == 2
    assert calls.schema["create_time"] == pl.Datetime("us", "UTC")
    assert calls.schema["price"] == pl.Decimal(18, 6)
    assert calls.schema["raw"] == pl.String
    first = calls.row(0, named=True)
    assert first["price"] == Decimal("0.123456")
    assert first["create_time"].isoformat() == "2026-11-16T10:00:01.500000+00:00"
    assert first["raw"] == '{"callId": "c1", "extra": [1, 2]}'
    enriched = pl.read_parquet(out / "calls_enriched.parquet").sort("call_id")
    assert enriched["trunk_name"].to_list() == ["Main trunk", "Main trunk"]
    assert enriched["to_country"].to_list() == ["DK", "DK"]
    assert enriched["report_tz"].unique().to_list() == ["Europe/Copenhagen"]


def test_export_csv_has_headers(small_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "csv"
    result = runner.invoke(app, ["export", str(out), "--db", str(small_db), "--format", "csv"])
    assert result.exit_code == 0, result.output
    lines = (out / "raw.calls.csv").read_text().splitlines()
    assert lines[0].startswith("call_id,create_time,answer_time,end_time,direction")
    assert len(lines) == 3
    assert "2026-11-16 10:00:01.5+00" in lines[1]
    header = (out / "calls_enriched.csv").read_text().splitlines()[0]
    assert "conversation_seconds" in header.split(",")


def test_export_refuses_a_directory_with_files(small_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = runner.invoke(app, ["export", str(out), "--db", str(small_db)])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "not empty" in result.output and "--overwrite" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    again = runner.invoke(app, ["export", str(out), "--db", str(small_db), "--overwrite"])
    assert again.exit_code == 0, again.output
    assert (out / "raw.calls.parquet").exists() and (out / "keep.txt").exists()


def test_export_of_the_demo_warehouse(demo_db: Path, tmp_path: Path) -> None:
    import duckdb
    import polars as pl

    out = tmp_path / "demo"
    result = runner.invoke(app, ["export", str(out), "--db", str(demo_db)])
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(demo_db), read_only=True) as con:
        con.execute("SET TimeZone='UTC'")
        for table in ("raw.calls", "raw.ingest_ledger", "analytics.answer_rate_hourly"):
            ((count,),) = con.sql(f"SELECT count(*) FROM {table}").fetchall()
            assert pl.read_parquet(out / f"{table}.parquet").height == count > 0
        want = con.sql("SELECT call_id, price, create_time FROM raw.calls "
                       "WHERE price IS NOT NULL ORDER BY call_id LIMIT 3").fetchall()  # fmt: skip
    got = pl.read_parquet(out / "raw.calls.parquet").filter(pl.col("price").is_not_null())
    got = got.sort("call_id").head(3).select("call_id", "price", "create_time").rows()
    assert got == want
    enriched = pl.read_parquet(out / "calls_enriched.parquet")
    assert enriched.height == pl.read_parquet(out / "raw.calls.parquet").height


def test_shell_runs_piped_statements_on_a_snapshot(small_db: Path) -> None:
    script = (
        "SELECT count(*) AS n_calls FROM calls_enriched;\n"
        "CREATE TEMP VIEW mine AS SELECT trunk_name FROM trunks_latest;\n"
        ".tables\n"
        "SELECT trunk_name\n  FROM mine"  # the last statement may lack its ';'
    )
    result = runner.invoke(app, ["shell", "--db", str(small_db)], input=script)
    assert result.exit_code == 0, result.output
    assert "n_calls" in result.output and "│ 2       │" in result.output
    assert "Main trunk" in result.output
    assert "calls_enriched" in result.output  # .tables lists the views


def test_shell_command_and_errors(small_db: Path) -> None:
    ok = runner.invoke(app, ["shell", "--db", str(small_db), "-c", "SELECT 41 + 1 AS answer;"])
    assert ok.exit_code == 0, ok.output
    assert "42" in ok.output
    bad = runner.invoke(app, ["shell", "--db", str(small_db), "-c", "SELECT nope FROM raw.calls"])
    assert bad.exit_code == 2
    assert len(bad.output.strip().splitlines()) == 1
    assert "nope" in bad.output


def test_shell_snapshot_leaves_the_file_to_the_writer(small_db: Path) -> None:
    """The shell reads its own copy: the warehouse can be written while it is open."""
    from pipeline.reporting.shell import open_snapshot, snapshot

    with snapshot(small_db) as copy:
        con = open_snapshot(copy)
        try:
            with connect(small_db, lock_wait_s=0) as writer:  # would fail were it still open
                writer.execute("DELETE FROM raw.calls")
            assert con.sql("SELECT count(*) FROM calls_enriched").fetchall() == [(2,)]
        finally:
            con.close()
    assert not copy.exists()


def test_harlequin_opens_the_snapshot_with_the_views(small_db: Path) -> None:
    """What the interactive shell runs: Harlequin's DuckDB adapter on the copy, read-only."""
    from harlequin_duckdb import DuckDbAdapter

    from pipeline.reporting.shell import SESSION_INIT, harlequin_command, snapshot

    with snapshot(small_db) as copy:
        init = copy.with_name("init.sql")
        init.write_text(SESSION_INIT + "\n")
        command = harlequin_command(copy, init)
        assert command is not None and command[1:] == [
            "--read-only", "--init-path", str(init), str(copy)
        ]  # fmt: skip
        conn = DuckDbAdapter(conn_str=(str(copy),), init_path=init, read_only=True).connect()
        try:
            cursor = conn.execute(
                "SELECT count(*) AS n, any_value(trunk_name) AS trunk, "
                "any_value(current_setting('TimeZone')) AS tz FROM calls_enriched"
            )
            assert cursor is not None
            assert cursor.fetchall().to_pylist() == [{"n": 2, "trunk": "Main trunk", "tz": "UTC"}]
        finally:
            conn.close()
