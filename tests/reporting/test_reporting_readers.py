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
