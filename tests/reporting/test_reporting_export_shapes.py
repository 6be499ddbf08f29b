"""The frames of the report's "What the export adds", against raw.calls ⋈ raw.call_details."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipeline.reporting import export_shapes, shapes
from pipeline.reporting.report_data import load


def test_per_trunk_refusals_and_causes_match_raw(export_db: Path) -> None:
    data = load(export_db)
    assert export_shapes.has_export(data)
    with duckdb.connect(str(export_db), read_only=True) as con:
        # the demo lies inside the 7-day period: every call counts
        want = dict(
            con.execute(
                "SELECT c.trunk_id, count(*) FILTER (WHERE c.call_result = 'FAILED' "
                "AND d.sip_response_code = 603) FROM raw.calls c JOIN raw.call_details d "
                "USING (project_id, call_id) GROUP BY 1"
            ).fetchall()
        )
        unanswered = con.execute(
            "SELECT count(*) FROM raw.call_details d JOIN raw.calls c USING (project_id, call_id) "
            "WHERE c.call_result <> 'COMPLETED'"
        ).fetchall()[0][0]
    names = shapes.trunk_label(data).select("trunk_id", "trunk")
    per_trunk = export_shapes.trunk_export(data).join(names, on="trunk", how="left")
    assert dict(zip(per_trunk["trunk_id"], per_trunk["cps_refused"], strict=True)) == want
    causes = export_shapes.failure_causes(data, top=100)  # every outcome
    assert causes["calls"].sum() == unanswered
    assert causes["share"].sum() == pytest.approx(1.0)
    assert causes["calls"].is_sorted(descending=True)
    days = export_shapes.daily_export(data, shapes.covered(data))
    assert days["details_calls"].sum() == export_shapes.details_calls(data)


def test_without_export_everything_from_it_is_unknown(no_export_db: Path) -> None:
    data = load(no_export_db)
    assert not export_shapes.has_export(data)
    per_trunk = export_shapes.trunk_export(data)
    assert per_trunk.height > 0
    assert per_trunk.select(pl.col("cps_refused", "ner_true").null_count()).row(0) == (
        per_trunk.height,
        per_trunk.height,
    )
    assert export_shapes.failure_causes(data).is_empty()
    audit = export_shapes.billing_summary(data)  # from the call list: always there
    assert audit.height > 0 and audit["calls"].sum() > 0
