"""The KPIs from the export over both backends: details inserted directly into
``raw.call_details`` (the export ingestion is another part), the same refresh, the same rows.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "warehouse"))

from lake_kit import snapshot
from warehouse_kit import at, hour_window, make_call

from pipeline.cli import app
from pipeline.warehouse.backend import DuckDBWarehouse, Warehouse
from pipeline.warehouse.lake import LakeWarehouse
from pipeline.warehouse.lake_tables import table_schemas
from pipeline.warehouse.ledger import WindowFetch

WINDOW = hour_window("2026-03-01 10:00")
TZ = "Europe/Copenhagen"
# (call_id, answered?, sip, cause, mos): C has no details row (unknown)
CALLS = [("A", True, 200, 16, 4.4), ("B", False, 486, 17, None), ("C", False, None, None, None)]


def _details() -> pa.Table:
    rows = [
        {
            "call_id": call_id,
            "project_id": "P",
            "create_time": at(f"2026-03-01 10:0{i}"),
            "sip_response_code": sip,
            "cause_code": cause,
            "mos": mos,
            "is_emergency": call_id == "A",
            "raw_line": f'"{call_id}"',
            "window_start": WINDOW.start,
            "window_end": WINDOW.end,
            "fetched_at": WINDOW.end,
        }
        for i, (call_id, _answered, sip, cause, mos) in enumerate(CALLS)
        if sip is not None
    ]
    schema = table_schemas()["raw.call_details"]
    return pa.Table.from_pylist(rows, schema=schema)


def _land(warehouse: Warehouse) -> None:
    calls = [
        make_call(
            call_id,
            at(f"2026-03-01 10:0{i}"),
            end=at(f"2026-03-01 10:0{i}:30") if answered else None,
        )
        for i, (call_id, answered, *_codes) in enumerate(CALLS)
    ]
    with warehouse.ingest_session("run", "P") as session:
        session.stage_page(WINDOW, calls, [], WINDOW.end)
        fetch = WindowFetch(sweeps=1, pages=1, api_total_items=3, attempts=1, seconds=0.1)
        session.commit_window(WINDOW, fetch, WINDOW.end)


@pytest.fixture
def both(tmp_path: Path) -> tuple[DuckDBWarehouse, LakeWarehouse]:
    duck, lake = DuckDBWarehouse(tmp_path / "w.duckdb"), LakeWarehouse(str(tmp_path / "lake"))
    for warehouse in (duck, lake):
        _land(warehouse)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.register("details", _details())
        con.execute("INSERT INTO raw.call_details BY NAME SELECT * FROM details")
    lake.lake.write("raw.call_details", _details())
    for warehouse in (duck, lake):
        warehouse.refresh_analytics(WINDOW.start, WINDOW.end, TZ, "P", raw_changed=False)
    return duck, lake


def test_true_ner_from_details_on_both_backends(both) -> None:
    """A answered (200), B busy (486: user, effective), C without details (unknown).

    attempts 3, details_calls 2, ner_true_numerator 2 → ner 2/2 = 1.0; the proxy has no
    FAILED call → 3/3. MOS: A's 4.4 ≥ 4.34 → very satisfied; emergency: A."""
    duck, lake = both
    for warehouse in both:
        with warehouse.reader() as con:
            row = con.sql(
                "SELECT attempts, details_calls, ner_true_numerator, ner, ner_proxy "
                "FROM analytics.answer_rate_hourly WHERE project_id = 'P'"
            ).fetchall()
            assert row == [(3, 2, 2, 1.0, 1.0)]
            assert con.sql(
                "SELECT mos_calls, mos_very_satisfied FROM analytics.quality_hourly"
            ).fetchall() == [(1, 1)]
            assert con.sql(
                "SELECT sum(emergency_calls) FROM analytics.emergency_calls_hourly"
            ).fetchall() == [(1,)]
            codes = con.sql(
                "SELECT sip_response_code, release_class, calls FROM analytics.sip_causes_hourly "
                "ORDER BY 1"
            ).fetchall()
            assert codes == [(200, "answered", 1), (486, "user", 1)]
    with duck.reader() as d, lake.reader() as lk:
        assert snapshot(lk) == snapshot(d)


def test_details_of_another_project_are_not_read(both) -> None:
    duck, _lake = both
    other = _details().set_column(1, "project_id", pa.array(["Q"] * 2))
    with duckdb.connect(duck.location) as con:
        con.execute("DELETE FROM raw.call_details")
        con.register("details", other)
        con.execute("INSERT INTO raw.call_details BY NAME SELECT * FROM details")
    duck.refresh_analytics(WINDOW.start, WINDOW.end, TZ, "P", raw_changed=False)
    with duck.reader() as con:
        assert con.sql(
            "SELECT details_calls, ner FROM analytics.answer_rate_hourly"
        ).fetchall() == [(0, None)]


@pytest.mark.parametrize("name", ["true_ner", "sip_failure_causes", "mos_quality"])
def test_export_queries_read_the_lake_views(both, tmp_path: Path, name: str) -> None:
    """``pipeline sql`` over the lake (registered views) gives the DuckDB file's answer."""
    duck, lake = both
    runner = CliRunner()
    env = {"CALLS_LAKE_URI": lake.location}
    on_lake = runner.invoke(app, ["sql", name, "--db", str(tmp_path / "none.duckdb")], env=env)
    on_file = runner.invoke(app, ["sql", name, "--db", duck.location], env={"CALLS_LAKE_URI": ""})
    assert on_lake.exit_code == 0, on_lake.output
    assert on_file.exit_code == 0, on_file.output
    assert on_lake.output == on_file.output
    assert "T1" in on_lake.output
