"""``export_db``: the demo warehouse plus export details, as if ``/calls/export`` had landed.

The export ingestion (``raw.call_details``) is built elsewhere; these tests fill the table
directly from the demo's calls with a fixed rule, then refresh the analytics, so the queries
and the report see the KPIs from the export. One call in ten gets no details row (unknown).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from pipeline.warehouse.analytics import refresh_all
from tests.conftest import DEMO_END, DEMO_START, DEMO_TZ

#: The rule the details follow (tests recompute their expectations from raw.calls with it).
DETAILS_SQL = """
INSERT INTO raw.call_details BY NAME
SELECT
    call_id, project_id, create_time,
    CASE call_result WHEN 'COMPLETED' THEN 200 WHEN 'BUSY' THEN 486 WHEN 'NO_ANSWER' THEN 480
        WHEN 'CANCEL' THEN 487 WHEN 'FAILED' THEN
            CASE WHEN hash(call_id) % 3 = 0 THEN 603 ELSE 503 END END AS sip_response_code,
    CASE call_result WHEN 'COMPLETED' THEN 16 WHEN 'BUSY' THEN 17 WHEN 'NO_ANSWER' THEN 19
        WHEN 'CANCEL' THEN 16 WHEN 'FAILED' THEN
            CASE WHEN hash(call_id) % 3 = 0 THEN 21 ELSE 41 END END AS cause_code,
    CASE WHEN call_result = 'COMPLETED' THEN 4.4 - (hash(call_id) % 20) / 10 END AS mos,
    hash(call_id) % 97 = 0 AS is_emergency,
    '"' || call_id || '"' AS raw_line,
    window_start, window_end, fetched_at
FROM raw.calls
WHERE hash(call_id) % 10 <> 0
"""


@pytest.fixture(scope="session")
def export_db(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of ``demo_db`` with ``raw.call_details`` filled by :data:`DETAILS_SQL`."""
    path = tmp_path_factory.mktemp("export") / "export.duckdb"
    shutil.copyfile(demo_db, path)
    with duckdb.connect(str(path)) as con:
        con.execute("SET TimeZone='UTC'")
        con.execute("DELETE FROM raw.call_details")
        con.execute(DETAILS_SQL)
        projects = [
            p for (p,) in con.execute("SELECT DISTINCT project_id FROM raw.calls").fetchall()
        ]
        for project in projects:
            refresh_all(con, DEMO_START, DEMO_END, DEMO_TZ, project, raw_changed=False)
    return path


@pytest.fixture(scope="session")
def no_export_db(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of ``demo_db`` as a project without the export (``CALLS_EXPORT=off``, or 403)
    leaves it: no ``raw.call_details``, analytics refreshed without them."""
    path = tmp_path_factory.mktemp("no_export") / "no_export.duckdb"
    shutil.copyfile(demo_db, path)
    with duckdb.connect(str(path)) as con:
        con.execute("SET TimeZone='UTC'")
        con.execute("DELETE FROM raw.call_details")
        projects = [
            p for (p,) in con.execute("SELECT DISTINCT project_id FROM raw.calls").fetchall()
        ]
        for project in projects:
            refresh_all(con, DEMO_START, DEMO_END, DEMO_TZ, project, raw_changed=False)
    return path
