"""A bad day of the API: with each sandbox fault on, ingesting days of hourly windows ends with
exactly the calls the sandbox holds — none lost, none doubled, same values — and malformed
records kept in ``raw.rejected_calls`` with a reason.

Every test checks that its fault really fired (the sandbox's counters), so a sandbox change
that silently turns a fault off cannot make the suite pass vacuously.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from reliability_kit import (
    THREE_DAYS,
    TWO_DAYS,
    assert_exactly_the_sandbox_calls,
    ingest,
    resource,
)

from pipeline.ingest.runner import ingest_windows
from pipeline.ingest.windows import hourly_windows
from pipeline.jobs import run_ingest_job
from pipeline.sandbox.testing import sandbox_server
from tests.conftest import quiet_console

pytestmark = pytest.mark.integration


FAULTS = {
    # 40 % of requests answered 429 with a (tiny) Retry-After the client must honour.
    "429-storm-retry-after": ({"rate_429": 0.4, "retry_after_s": 0.01}, "faults_429"),
    # The same storm without Retry-After: the client's own jittered backoff.
    "429-storm-no-retry-after": ({"rate_429": 0.4, "retry_after_s": None}, "faults_429"),
    "5xx-10pct": ({"rate_5xx": 0.10}, "faults_5xx"),
    # Every third body trickles in 1 KiB chunks.
    "slow-drip": (
        {"drip_rate": 0.3, "drip_chunk_bytes": 1024, "drip_delay_s": 0.0005},
        "drips",
    ),
    # Half the pages after the first start with the previous page's last record (pages of 20,
    # so a window has ~10 pages and the repeats add up to more than the last page holds).
    "record-repeated-across-pages": ({"duplicate_rate": 0.5}, "duplicates", {"page_size": 20}),
    # A token dies after 7 API requests: expiry lands mid-sweep again and again. One fetcher:
    # with four, the others could use up a refreshed token before the refreshing one retries
    # (a loaded machine makes that likely), a second "expired" that no real token produces.
    "token-expiry-mid-sweep": ({"token_max_requests": 7}, "tokens_issued", {"concurrency": 1}),
}


#: Faults whose run takes over ~5 s on the 2-core machine (pages of 20: ~10 pages an hour).
SLOW_FAULTS = {"record-repeated-across-pages"}


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(fault, id=name, marks=pytest.mark.slow if name in SLOW_FAULTS else ())
        for name, fault in FAULTS.items()
    ],
)
def test_ingestion_under_fault_lands_exactly_the_sandbox_calls(tmp_path: Path, fault):
    overrides, counter, *client = fault
    start, end = TWO_DAYS
    with sandbox_server(**overrides) as sb:
        report = ingest(sb, tmp_path / "w.duckdb", start, end, **(client[0] if client else {}))
        fired = sb.app_state.stats[counter]
        n = assert_exactly_the_sandbox_calls(sb, tmp_path / "w.duckdb", start, end)
    assert fired > (1 if counter == "tokens_issued" else 0), sb.app_state.stats
    assert len(report.committed) == 48 and not report.failed
    assert report.records == n > 3000


def test_token_expired_by_the_server_mid_backfill(tmp_path: Path):
    """The server revokes every token every few windows while fetchers are mid-sweep."""
    start, end = TWO_DAYS
    db = tmp_path / "w.duckdb"
    with sandbox_server() as sb:
        res = resource(sb, concurrency=4)

        def progress(entry, done: int, total: int) -> None:
            if done % 5 == 0:
                sb.app_state.expire_all_tokens()

        with res.open_client() as client:
            ingest_windows(client, db, hourly_windows(start, end), progress=progress)
        issued = sb.app_state.stats["tokens_issued"]
        assert_exactly_the_sandbox_calls(sb, db, start, end)
    assert issued >= 5  # one per expiry wave (threads share one refresh)


def test_malformed_records_are_kept_with_reasons(tmp_path: Path):
    """3 % of calls come malformed (no createTime, a garbage timestamp, an impossible endTime):
    each lands once in raw.rejected_calls with its callId, a reason and its raw JSON, and
    nowhere in raw.calls; everything else lands exactly."""
    start, end = THREE_DAYS
    db = tmp_path / "w.duckdb"
    with sandbox_server(malformed_rate=0.03) as sb:
        ingest(sb, db, start, end)
        malformed = set(sb.app_state.malformed_call_ids_between(start, end))
        assert_exactly_the_sandbox_calls(sb, db, start, end)
    assert len(malformed) > 50
    with duckdb.connect(str(db), read_only=True) as con:
        reasons = dict(
            con.execute(
                "SELECT split_part(reason, ':', 1), count(*) FROM raw.rejected_calls GROUP BY 1"
            ).fetchall()
        )
        raw_ok = con.execute(
            "SELECT bool_and(json_extract_string(raw, '$.callId') = call_id) "
            "FROM raw.rejected_calls"
        ).fetchone()[0]
    assert set(reasons) >= {"createTime"} and sum(reasons.values()) == len(malformed)
    assert raw_ok


@pytest.mark.slow
def test_every_fault_at_once_through_the_dagster_job(tmp_path: Path):
    """All faults together, through the ``ingest_calls`` job the CLI and schedules run (raw
    and analytics; re-running a range is covered by test_reliability_kill.py)."""
    start, end = TWO_DAYS
    db = tmp_path / "w.duckdb"
    faults = {
        "rate_429": 0.2,
        "retry_after_s": 0.01,
        "rate_5xx": 0.1,
        "drip_rate": 0.1,
        "drip_chunk_bytes": 2048,
        "drip_delay_s": 0.0005,
        "duplicate_rate": 0.3,
        "malformed_rate": 0.02,
        "token_max_requests": 25,
    }
    with sandbox_server(**faults) as sb:
        console = quiet_console()
        ok = run_ingest_job(
            start,
            end,
            db_path=db,
            report_tz="Europe/Copenhagen",
            console=console,
            sinch=resource(sb, max_attempts=8),
        )
        assert ok, console.file.getvalue()
        assert_exactly_the_sandbox_calls(sb, db, start, end)
        stats = dict(sb.app_state.stats)
    assert all(stats[k] > 0 for k in ("faults_429", "faults_5xx", "drips", "duplicates"))
    with duckdb.connect(str(db), read_only=True) as con:
        (ledger,) = con.execute("SELECT count(*) FROM raw.ingest_ledger").fetchone()
        (hourly,) = con.execute("SELECT sum(attempts) FROM analytics.trunk_usage_hourly").fetchone()
        (raw,) = con.execute("SELECT count(*) FROM raw.calls").fetchone()
    assert ledger == 48
    assert hourly == raw
