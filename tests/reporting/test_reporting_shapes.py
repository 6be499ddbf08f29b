"""The report's frames on the demo warehouse (3 days, 16-19 Nov 2026 UTC, Copenhagen).

The report period is the 7 × 24 h up to the end of the newest call's hour: 12 Nov 00:00 to
19 Nov 00:00 UTC, i.e. 12 Nov 01:00 to 19 Nov 01:00 in Copenhagen (UTC+1). Ingested: 16 Nov
00:00 to 19 Nov 00:00 UTC. So, in local days: 12-15 Nov have no data (a gap, null, not 0),
16 Nov has 23 of its 24 hours, 17 and 18 Nov are whole, and 19 Nov has 1 hour: the 1-hour
partial day the old report plotted as 100 % and 0 %.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipeline.reporting import shapes
from pipeline.reporting.report_data import ReportData, load


@pytest.fixture(scope="module")
def data(demo_db: Path) -> ReportData:
    return load(demo_db)


def test_period_is_the_last_seven_days_up_to_the_newest_call(data: ReportData) -> None:
    assert data.tz == "Europe/Copenhagen"
    assert data.period.end == datetime(2026, 11, 19, tzinfo=UTC)
    assert data.period.start == datetime(2026, 11, 12, tzinfo=UTC)
    assert data.period.previous_start == datetime(2026, 11, 5, tzinfo=UTC)
    assert data.period.label(data.tz) == (
        "Thu 12 Nov 2026 01:00 → Thu 19 Nov 2026 01:00 (Europe/Copenhagen)"
    )


def test_days_without_data_are_gaps_and_edge_days_are_partial(
    data: ReportData, demo_db: Path
) -> None:
    days = shapes.daily_results(data, shapes.covered(data))
    rows = {r["local_date"]: r for r in days.iter_rows(named=True)}
    assert sorted(rows) == [date(2026, 11, d) for d in range(12, 20)]
    for day in range(12, 16):
        assert rows[date(2026, 11, day)]["attempts"] is None  # not 0: nothing was ingested
        assert rows[date(2026, 11, day)]["covered_hours"] == 0
    covered = {d.day: (r["covered_hours"], r["partial"]) for d, r in rows.items() if d.day >= 16}
    assert covered == {16: (23, True), 17: (24, False), 18: (24, False), 19: (1, True)}
    with duckdb.connect(str(demo_db), read_only=True) as con:
        (calls,) = con.execute("SELECT count(*) FROM raw.calls").fetchone()
    assert days["attempts"].sum() == calls
    assert sum(days[r].sum() for r in shapes.RESULTS) == calls


def test_the_one_hour_day_is_marked_not_a_point_of_the_line(data: ReportData) -> None:
    kpis = shapes.daily_kpis(data, shapes.covered(data))
    last = kpis.filter(pl.col("local_date") == date(2026, 11, 19))
    assert last.height == 2  # INBOUND, OUTBOUND
    for row in last.iter_rows(named=True):
        assert not row["asr_ok"] and not row["ner_ok"] and not row["acd_s_ok"]
        assert row["asr_note"].startswith("partial day: 1 of 24 h")
    whole = kpis.filter(pl.col("local_date") == date(2026, 11, 17))
    assert whole["asr_ok"].all() and whole["tta_median_s_ok"].all()


def test_time_to_answer_is_answer_minus_create_of_answered_calls(
    data: ReportData, demo_db: Path
) -> None:
    with duckdb.connect(str(demo_db), read_only=True) as con:
        expected = con.execute(
            """
            SELECT count(*), median(epoch(answer_time) - epoch(create_time))
            FROM raw.calls
            WHERE call_result = 'COMPLETED' AND answer_time IS NOT NULL AND direction = 'INBOUND'
              AND CAST(timezone('Europe/Copenhagen', create_time) AS DATE) = DATE '2026-11-17'
            """
        ).fetchone()
    row = data.answer_times.filter(
        pl.col("local_date") == date(2026, 11, 17), pl.col("direction") == "INBOUND"
    ).row(0, named=True)
    assert (row["timed_answers"], row["tta_median_s"]) == expected


def test_concurrency_and_sizing_per_trunk(data: ReportData) -> None:
    conc = shapes.concurrency(data, shapes.covered(data))
    assert conc["trunk"].n_unique() == data.trunks.height
    gap = conc.filter(pl.col("hour_start") < datetime(2026, 11, 16, tzinfo=UTC))
    assert gap["peak_calls"].null_count() == gap.height  # no data: null, the line breaks
    size = shapes.sizing(conc)
    assert (size["observed_peak"] >= 1).all()
    assert (size["channels"] >= 1).all()
    assert size["busy_hour_erlangs"].to_list() == sorted(size["busy_hour_erlangs"], reverse=True)


def test_top_countries_add_up_to_the_outbound_calls(data: ReportData) -> None:
    top = shapes.top_countries(data, limit=100)
    assert top["calls"].sum() == data.countries["calls"].sum()
    assert top["calls"].to_list() == sorted(top["calls"], reverse=True)
    assert all(" " in text for text in top["cost"].drop_nulls())  # "12.34 USD"
