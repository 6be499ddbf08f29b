"""Real calls end to end: the Copenhagen export replayed by the sandbox, ingested by the job.

``tests/data/copenhagen-calls/EST_call_records.csv`` holds 3,600 real calls (Copenhagen
Networks Study, CC BY 4.0; source and licence in the README.md beside it) in the Sinch export
format. The sandbox serves them over HTTP; the Dagster job ingests the four weeks hour by hour
and builds the analytics in report time zone Europe/Copenhagen. The expected figures are
computed independently, by plain DuckDB SQL over the CSV file itself, for three local days
around the end of summer time (2026-10-25 is a 25-hour day in Copenhagen):

- attempts, answered and ASR per trunk and local day;
- ACD = Σ (End Time − Answer Time) over COMPLETED calls ÷ their count;
- peak concurrent calls per trunk and local day, by brute force: at every call start inside
  the day (and at the day's first instant) count the calls with start ≤ t < end; the maximum
  over those instants is the peak (a count only rises at a start).
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest

from pipeline.warehouse.connection import connect
from tests.conftest import COPENHAGEN_CSV, api_resource, quiet_console

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ~1 min: four weeks, hour by hour

TZ = "Europe/Copenhagen"
FIRST = datetime(2026, 10, 4, 22, tzinfo=UTC)  # 2026-10-05 00:00 in Copenhagen
END = datetime(2026, 11, 2, 0, tzinfo=UTC)  # after the last call
DAYS = ("2026-10-24", "2026-10-25", "2026-10-26")

CSV_CALLS = """
CREATE TEMP TABLE csv_calls AS
SELECT "Call Id" AS call_id,
       "Trunk Id" AS trunk_id,
       "Result" AS result,
       "Timestamp"::TIMESTAMPTZ AS started,
       nullif("Answer Time", '')::TIMESTAMPTZ AS answered_at,
       "End Time"::TIMESTAMPTZ AS ended,
       ("Timestamp"::TIMESTAMPTZ AT TIME ZONE 'Europe/Copenhagen')::DATE AS local_date
FROM read_csv($path, all_varchar = true, header = true)
"""

EXPECTED_DAILY = """
SELECT local_date::VARCHAR, trunk_id,
       count(*) AS attempts,
       count(*) FILTER (WHERE result = 'COMPLETED') AS answered,
       sum(epoch(ended - answered_at)) FILTER (WHERE result = 'COMPLETED')
         / count(*) FILTER (WHERE result = 'COMPLETED') AS acd_seconds
FROM csv_calls
WHERE local_date::VARCHAR IN ($d1, $d2, $d3)
GROUP BY ALL ORDER BY ALL
"""

EXPECTED_PEAK = """
WITH days AS (
    SELECT DISTINCT local_date,
           (local_date::TIMESTAMP AT TIME ZONE 'Europe/Copenhagen') AS day_start,
           ((local_date + 1)::TIMESTAMP AT TIME ZONE 'Europe/Copenhagen') AS day_end
    FROM csv_calls WHERE local_date::VARCHAR IN ($d1, $d2, $d3)
),
instants AS (
    SELECT d.local_date, t.trunk_id, c.started AS t
    FROM days d, (SELECT DISTINCT trunk_id FROM csv_calls) t, csv_calls c
    WHERE c.trunk_id = t.trunk_id AND c.started >= d.day_start AND c.started < d.day_end
    UNION
    SELECT d.local_date, t.trunk_id, d.day_start
    FROM days d, (SELECT DISTINCT trunk_id FROM csv_calls) t
)
SELECT i.local_date::VARCHAR, i.trunk_id, max(n) AS peak
FROM (
    SELECT i.local_date, i.trunk_id, i.t,
           (SELECT count(*) FROM csv_calls c
            WHERE c.trunk_id = i.trunk_id AND c.started <= i.t AND c.ended > i.t) AS n
    FROM instants i
) AS i
GROUP BY ALL ORDER BY ALL
"""


@pytest.fixture(scope="module")
def copenhagen_db(tmp_path_factory):
    from pipeline.jobs import run_ingest_job
    from pipeline.sandbox.testing import sandbox_server

    db = tmp_path_factory.mktemp("cph") / "copenhagen.duckdb"
    console = quiet_console()
    with sandbox_server(replay_path=COPENHAGEN_CSV) as sb:
        ok = run_ingest_job(
            FIRST, END, db_path=db, report_tz=TZ, console=console, sinch=api_resource(sb)
        )
    assert ok, console.file.getvalue()
    return db


@pytest.fixture(scope="module")
def csv_con():
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.execute(CSV_CALLS, {"path": str(COPENHAGEN_CSV)})
    yield con
    con.close()


def test_every_call_lands_once(copenhagen_db, csv_con):
    expected = sorted(r[0] for r in csv_con.execute("SELECT call_id FROM csv_calls").fetchall())
    with connect(copenhagen_db, read_only=True) as con:
        landed = sorted(r[0] for r in con.execute("SELECT call_id FROM raw.calls").fetchall())
        rejected = con.execute("SELECT count(*) FROM raw.rejected_calls").fetchall()[0][0]
    assert len(expected) == 3600
    assert landed == expected
    assert rejected == 0


def test_answer_rate_and_acd_match_the_csv(copenhagen_db, csv_con):
    days = dict(zip(("d1", "d2", "d3"), DAYS, strict=True))
    expected = csv_con.execute(EXPECTED_DAILY, days).fetchall()
    with connect(copenhagen_db, read_only=True) as con:
        answer = con.execute(
            "SELECT report_date::VARCHAR, trunk_id, attempts, answered, asr "
            "FROM analytics.answer_rate_daily "
            "WHERE report_date::VARCHAR IN ($d1, $d2, $d3) ORDER BY ALL",
            days,
        ).fetchall()
        acd = con.execute(
            "SELECT report_date::VARCHAR, trunk_id, acd_seconds FROM analytics.trunk_usage_daily "
            "WHERE report_date::VARCHAR IN ($d1, $d2, $d3) ORDER BY ALL",
            days,
        ).fetchall()
    assert len(expected) == 6  # two trunks, three days
    assert [row[:4] for row in answer] == [row[:4] for row in expected]
    for (_, _, attempts, answered, asr), exp in zip(answer, expected, strict=True):
        assert asr == pytest.approx(answered / attempts)
        assert exp[3] / exp[2] == pytest.approx(asr)
    assert [(d, t) for d, t, _ in acd] == [(d, t) for d, t, *_ in expected]
    for (_, _, got), exp in zip(acd, expected, strict=True):
        assert got == pytest.approx(exp[4], rel=1e-9)


def test_peak_concurrency_matches_a_brute_force_count(copenhagen_db, csv_con):
    days = dict(zip(("d1", "d2", "d3"), DAYS, strict=True))
    expected = csv_con.execute(EXPECTED_PEAK, days).fetchall()
    with connect(copenhagen_db, read_only=True) as con:
        got = con.execute(
            "SELECT report_date::VARCHAR, trunk_id, trunk_peak_concurrent_calls "
            "FROM analytics.trunk_usage_daily "
            "WHERE report_date::VARCHAR IN ($d1, $d2, $d3) ORDER BY ALL",
            days,
        ).fetchall()
        day_lengths = con.execute(
            "SELECT DISTINCT report_date::VARCHAR, bucket_seconds FROM analytics.trunk_usage_daily "
            "WHERE report_date::VARCHAR IN ($d1, $d2, $d3) ORDER BY 1",
            days,
        ).fetchall()
    assert got == expected
    assert max(peak for *_, peak in got) >= 2  # the data has overlapping calls
    # The end of summer time makes 2026-10-25 a 25-hour local day.
    assert day_lengths == [(DAYS[0], 86400), (DAYS[1], 90000), (DAYS[2], 86400)]
