"""The demo summary shows the true NER and the calls refused over the CPS limit per trunk when
the export's details exist, and says "unknown" / "?" when they do not."""

from __future__ import annotations

import io
from pathlib import Path

import duckdb
from rich.console import Console

from pipeline.reporting.summary import print_summary, summary_rows
from tests.conftest import DEMO_END, DEMO_START, DEMO_TZ


def _printed(db: Path) -> str:
    console = Console(file=io.StringIO(), width=200)
    print_summary(db, DEMO_START, DEMO_END, DEMO_TZ, console)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_summary_counts_cps_refusals_per_trunk(export_db: Path) -> None:
    with duckdb.connect(str(export_db), read_only=True) as con:
        # independent count: FAILED calls whose export row says SIP 603, per trunk
        want = dict(
            con.execute(
                "SELECT c.trunk_id, count(*) FILTER (WHERE c.call_result = 'FAILED' "
                "AND d.sip_response_code = 603) FROM raw.calls c JOIN raw.call_details d "
                "USING (project_id, call_id) GROUP BY c.trunk_id"
            ).fetchall()
        )
        details = con.execute("SELECT count(*) FROM raw.call_details").fetchall()[0][0]
    rows = summary_rows(export_db, DEMO_START, DEMO_END)
    assert {row[3]: row[12] for row in rows} == want
    assert sum(want.values()) > 0
    text = _printed(export_db)
    assert "CPS refused" in text
    assert f"{details:,} calls with export details" in text


def test_summary_without_details_says_unknown(no_export_db: Path) -> None:
    with duckdb.connect(str(no_export_db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.call_details").fetchall() == [(0,)]
    rows = summary_rows(no_export_db, DEMO_START, DEMO_END)
    assert {row[12] for row in rows} == {None}  # unknown, not 0
    text = _printed(no_export_db)
    assert "True NER unknown" in text
    assert len(text.splitlines()) < 40
