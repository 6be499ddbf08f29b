"""Code and DDL agree: every ANALYTICS_TABLES output inserts into sql/schema/analytics.sql.

Each table is built from a small mixed call set (two trunks, both directions, two currencies,
a crossing call, an in-progress call), then ``INSERT INTO analytics.<t> BY NAME SELECT * FROM
df`` into an in-memory DuckDB pinned to UTC. The test also checks that the frame's DuckDB types
equal the table's declared types column by column (BY NAME would otherwise cast silently),
that the declared keys are unique, and that values survive the round trip.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from transforms_testkit import make_calls, make_details, make_trunks, ts

from pipeline.transforms import ANALYTICS_TABLES, CallData, LocalDays, UtcHours

DDL = Path(__file__).resolve().parents[2] / "sql" / "schema" / "analytics.sql"


def _calls():
    return make_calls(
        [
            {
                "create_time": "2026-10-24 21:50",
                "answer_time": "2026-10-24 21:50:05",
                "end_time": "2026-10-24 22:20",
                "price": "0.123456",
                "price_currency": "USD",
                "price_per_minute": "0.004115",
                "price_per_minute_currency": "USD",
                "billing_duration_seconds": 1800,
            },
            {
                "create_time": "2026-10-25 00:10",
                "answer_time": "2026-10-25 00:10:03",
                "end_time": "2026-10-25 01:40",
                "direction": "INBOUND",
                "trunk_id": "t2",
                "price": "2.5",
                "price_currency": "EUR",
                "billing_duration_seconds": 5400,
            },
            {
                "create_time": "2026-10-25 01:00",
                "call_result": "BUSY",
                "end_time": "2026-10-25 01:00:02",
            },
            {"create_time": "2026-10-25 01:30", "answer_time": "2026-10-25 01:30:02"},
        ]
    )


def _details():
    """Details for three of the four calls (the last has none: unknown)."""
    return make_details(
        [
            {"call_id": "c0", "sip_response_code": 200, "cause_code": 16, "mos": 4.2},
            {"call_id": "c1", "sip_response_code": 200, "mos": 3.1, "is_emergency": True},
            {"call_id": "c2", "sip_response_code": 486, "cause_code": 17},
        ]
    )


def _build(spec) -> pl.DataFrame:
    data = CallData(
        _calls(),
        make_trunks({"t1": 2, "t2": None}),
        as_of=ts("2026-10-25 02:00"),
        details=_details(),
    )
    if spec.grain == "hour":
        buckets = UtcHours(ts("2026-10-24 20:00"), ts("2026-10-25 04:00"))
    else:
        buckets = LocalDays(date(2026, 10, 24), date(2026, 10, 26), "Europe/Copenhagen")
    return spec.builder(data, buckets).collect()


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    c.execute("SET TimeZone='UTC'")
    c.execute(DDL.read_text())
    c.execute(DDL.read_text())  # idempotent
    yield c
    c.close()


def test_registry_matches_ddl_tables(con):
    names = {
        r[0]
        for r in con.sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'analytics'"
        ).fetchall()
    }
    # report_settings records the report time zone the daily tables were built in.
    assert names - {"report_settings"} == set(ANALYTICS_TABLES)


@pytest.mark.parametrize("name", sorted(ANALYTICS_TABLES))
def test_output_inserts_into_ddl(con, name):
    spec = ANALYTICS_TABLES[name]
    df = _build(spec)
    assert df.height > 0
    assert spec.bucket_column == df.columns[0]
    assert df.select(spec.keys).is_duplicated().sum() == 0, "declared keys are not unique"

    table_types = {r[0]: r[1] for r in con.sql(f"DESCRIBE {spec.qualified_name}").fetchall()}
    frame_types = {r[0]: r[1] for r in con.sql("DESCRIBE SELECT * FROM df").fetchall()}
    # the builders' columns, then project_id, which the refresh adds (one project at a time)
    assert table_types.pop("project_id") == "VARCHAR"
    assert list(frame_types) == list(table_types), "column names/order differ from the DDL"
    assert frame_types == table_types

    con.execute(f"DELETE FROM {spec.qualified_name}")
    con.execute(f"INSERT INTO {spec.qualified_name} BY NAME SELECT * FROM df")
    back = con.sql(f"SELECT * EXCLUDE (project_id) FROM {spec.qualified_name}").pl()
    assert_frame_equal(back, df, check_row_order=False)


@pytest.mark.parametrize("name", sorted(ANALYTICS_TABLES))
def test_empty_input_gives_empty_frame_with_ddl_types(con, name):
    """A partition without calls must still produce a (0-row) frame of the declared types."""
    spec = ANALYTICS_TABLES[name]
    empty = _calls().head(0)
    if spec.grain == "hour":
        buckets = UtcHours(ts("2026-10-25 00:00"), ts("2026-10-25 02:00"))
    else:
        buckets = LocalDays(date(2026, 10, 25), date(2026, 10, 26), "Europe/Copenhagen")
    df = spec.builder(CallData(empty), buckets).collect()
    assert df.height == 0
    table_types = {r[0]: r[1] for r in con.sql(f"DESCRIBE {spec.qualified_name}").fetchall()}
    table_types.pop("project_id")  # added by the refresh
    frame_types = {r[0]: r[1] for r in con.sql("DESCRIBE SELECT * FROM df").fetchall()}
    assert frame_types == table_types
