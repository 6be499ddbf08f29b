"""The ready queries of issue 14 against the demo plus export details, checked against the
raw tables (``raw.calls`` joined to ``raw.call_details``), never against the analytics tables
they read. The demo covers 3 days, inside every query's 7-day window.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipeline.reporting.queries import run_query


@pytest.fixture(scope="module")
def joined(export_db: Path) -> pl.DataFrame:
    """Every call with its details (NULL columns when it has none) and ``has_details``."""
    with duckdb.connect(str(export_db), read_only=True) as con:
        con.execute("SET TimeZone='UTC'")
        return con.sql(
            "SELECT c.*, d.sip_response_code, d.cause_code, d.mos, d.is_emergency, "
            "d.call_id IS NOT NULL AS has_details FROM raw.calls c LEFT JOIN raw.call_details d "
            "ON d.project_id = c.project_id AND d.call_id = c.call_id"
        ).pl()


def test_true_ner_matches_raw(export_db: Path, joined: pl.DataFrame) -> None:
    """The fixture's rule: COMPLETED 200, BUSY 486, NO_ANSWER 480, CANCEL 487 (all effective),
    FAILED 603 (cps_refused) or 503 (network); one call in ten without details."""
    got = run_query(export_db, "true_ner")
    res = pl.col("call_result")
    known = pl.col("has_details")
    want = joined.group_by("trunk_id", "direction").agg(
        attempts=pl.len(),
        details=known.sum(),
        effective=(known & res.is_in(["COMPLETED", "BUSY", "NO_ANSWER", "CANCEL"])).sum(),
        cps=(known & (res == "FAILED") & (pl.col("sip_response_code") == 603)).sum(),
        network=(known & (res == "FAILED") & (pl.col("sip_response_code") == 503)).sum(),
    )
    both = got.join(want, on=["trunk_id", "direction"])
    assert both.height == got.height == want.height
    assert (both["attempts"] == both["attempts_right"]).all()
    assert (both["details_calls"] == both["details"]).all()
    assert (both["ner_true_numerator"] == both["effective"]).all()
    assert (both["cps_refused"] == both["cps"]).all()
    assert (both["network_failures"] == both["network"]).all()
    assert both["cps"].sum() > 0 and both["details"].sum() < both["attempts"].sum()
    row = both.row(0, named=True)
    assert row["ner"] == pytest.approx(row["effective"] / row["details"])


def test_sip_failure_causes_matches_raw(export_db: Path, joined: pl.DataFrame) -> None:
    got = run_query(export_db, "sip_failure_causes")
    assert "answered" not in set(got["release_class"])
    failed = joined.filter(pl.col("has_details") & (pl.col("call_result") != "COMPLETED"))
    want = failed.group_by("sip_response_code").len()
    totals = got.group_by("sip_response_code").agg(pl.col("calls").sum())
    assert dict(totals.iter_rows()) == dict(want.iter_rows())
    assert got["calls"].is_sorted(descending=True)
    by_trunk = got.group_by("project_id", "trunk_id", "direction").agg(
        pl.col("share_of_failures").sum()
    )
    assert ((by_trunk["share_of_failures"] - 1).abs() < 1e-9).all()


def test_mos_quality_matches_raw(export_db: Path, joined: pl.DataFrame) -> None:
    got = run_query(export_db, "mos_quality")
    scored = joined.filter(pl.col("mos").is_not_null() & (pl.col("call_result") == "COMPLETED"))
    want = scored.group_by("trunk_id", "direction").agg(
        n=pl.len(), avg=pl.col("mos").mean(), sd=pl.col("mos").std(ddof=0),
        poor=(pl.col("mos") < 3.5).sum(),
    )  # fmt: skip
    both = got.join(want, on=["trunk_id", "direction"])
    assert both.height == want.height > 0
    assert (both["mos_calls"] == both["n"]).all()
    assert (both["poor_calls"] == both["poor"]).all()
    for row in both.iter_rows(named=True):
        assert row["mos_avg"] == pytest.approx(row["avg"])
        assert row["mos_stddev"] == pytest.approx(row["sd"], abs=1e-6)


def test_emergency_calls_matches_raw(export_db: Path, joined: pl.DataFrame) -> None:
    got = run_query(export_db, "emergency_calls")
    flagged = joined.filter(pl.col("is_emergency").fill_null(False))
    assert got["emergency_calls"].sum() == flagged.height > 0
    assert got["emergency_answered"].sum() == (flagged["call_result"] == "COMPLETED").sum()


def test_time_to_answer_matches_raw(demo_db: Path, joined: pl.DataFrame) -> None:
    got = run_query(demo_db, "time_to_answer")  # from the call list: no export needed
    inbound = joined.filter(
        (pl.col("direction") == "INBOUND")
        & (pl.col("call_result") == "COMPLETED")
        & (pl.col("answer_time") >= pl.col("create_time"))
    ).with_columns(tta=(pl.col("answer_time") - pl.col("create_time")).dt.total_microseconds())
    want = inbound.group_by("trunk_id").agg(
        n=pl.len(), mean=pl.col("tta").mean() / 1e6, le10=(pl.col("tta") <= 10_000_000).mean()
    )
    both = got.join(want, on="trunk_id")
    assert both.height == want.height > 0
    assert (both["tta_calls"] == both["n"]).all()
    for row in both.iter_rows(named=True):
        assert row["tta_avg_seconds"] == pytest.approx(row["mean"])
        assert row["within_10s_share"] == pytest.approx(row["le10"])


def test_billing_audit_matches_raw(demo_db: Path, joined: pl.DataFrame) -> None:
    """Price mismatches recomputed call by call in Python decimals over the local days the
    daily table holds (the demo's last local date, Copenhagen, has not ended: no row)."""
    got = run_query(demo_db, "billing_audit")
    local = pl.col("create_time").dt.convert_time_zone("Europe/Copenhagen").dt.date()
    days = joined.filter(local < joined.select(local.max()).item())
    mismatches, cost = 0, Decimal(0)
    for row in days.iter_rows(named=True):
        price, ppm = row["price"], row["price_per_minute"]
        if (
            price is None
            or ppm is None
            or row["price_currency"] != row["price_per_minute_currency"]
        ):
            continue
        expected = ppm * Decimal(row["billing_duration_seconds"] or 0) / 60
        mismatches += abs(price - expected) > Decimal("0.000001")
        cost += price
    assert got["calls"].sum() == days.height
    assert got["price_mismatch"].sum() == mismatches
    assert got["cost"].sum() == cost
    assert set(got["increment_observed"].drop_nulls()) <= {
        f"{a}/{b}" for a in (1, 6, 10, 30, 60) for b in (1, 6, 10, 30, 60)
    }
