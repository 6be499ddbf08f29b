"""The demo warehouse fixture: the real job over loopback HTTP fills every table."""

from __future__ import annotations

import pytest

from pipeline.transforms import ANALYTICS_TABLES
from pipeline.warehouse.connection import connect
from tests.conftest import DEMO_END, DEMO_START

pytestmark = pytest.mark.integration


def test_demo_db_has_every_table(demo_db):
    with connect(demo_db, read_only=True) as con:
        calls, windows = con.execute(
            "SELECT count(*), count(DISTINCT window_start) FROM raw.calls"
        ).fetchall()[0]
        assert calls > 1000
        assert windows == int((DEMO_END - DEMO_START).total_seconds() // 3600)
        for name in ANALYTICS_TABLES:
            (rows,) = con.execute(f"SELECT count(*) FROM analytics.{name}").fetchall()[0]
            assert rows > 0, name
