"""The ingestion's writer connection: bounded memory, fewer checkpoints (issue 6), and the
threads the parser processes leave it (issue 15)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pytest

from pipeline.ingest.runner import ingest_windows
from pipeline.sinch.auth import OAuth2ClientCredentials
from pipeline.sinch.client import CallsClient
from pipeline.sinch.models import Window
from pipeline.warehouse.connection import BULK_WRITE_CHECKPOINT_THRESHOLD, leave_cores

HOUR0 = datetime(2026, 11, 16, 9, tzinfo=UTC)


def settings_during_run(sb, db, memory_limit, parse_processes=0, windows=1):
    """``memory_limit``, ``checkpoint_threshold`` and ``threads`` of the writer's database."""
    seen: list[tuple[str, str, int]] = []

    def progress(entry, done, total):  # runs in the writer thread, its connection open
        with duckdb.connect(str(db)) as con:  # same process: the same database instance
            seen.append(
                con.execute(
                    "SELECT current_setting('memory_limit'), "
                    "current_setting('checkpoint_threshold'), current_setting('threads')"
                ).fetchone()
            )

    auth = OAuth2ClientCredentials(sb.key_id, sb.key_secret, auth_url=sb.auth_url)
    with CallsClient(sb.base_url, sb.project_id, auth) as client:
        report = ingest_windows(
            client,
            db,
            [
                Window(HOUR0 + timedelta(hours=h), HOUR0 + timedelta(hours=h + 1))
                for h in range(windows)
            ],
            progress=progress,
            memory_limit=memory_limit,
            parse_processes=parse_processes,
        )
    assert report.records > 0
    return seen


def as_mib(size: str) -> float:
    number, unit = size.split()
    return float(number) * {"MiB": 1, "GiB": 1024}[unit]


def test_writer_runs_with_the_memory_limit_and_checkpoint_threshold(make_sandbox, tmp_path):
    with make_sandbox(seed=3) as sb:
        (memory, checkpoint, _threads), *_ = settings_during_run(sb, tmp_path / "w.duckdb", "300MB")
    assert memory == "286.1 MiB"  # 300 MB = 300e6 bytes
    assert as_mib(checkpoint) == pytest.approx(
        int(BULK_WRITE_CHECKPOINT_THRESHOLD.removesuffix("MB")) * 1e6 / 2**20, abs=0.1
    )


def test_no_memory_limit_keeps_duckdbs_default(make_sandbox, tmp_path):
    with duckdb.connect() as con:
        default = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    with make_sandbox(seed=3) as sb:
        (memory, _, _), *_ = settings_during_run(sb, tmp_path / "w.duckdb", None)
    assert memory == default


def test_a_memory_limit_duckdb_cannot_read_is_refused_before_fetching(make_sandbox, tmp_path):
    with make_sandbox(seed=3) as sb:
        with pytest.raises(duckdb.ParserException, match="Memory"):
            settings_during_run(sb, tmp_path / "w.duckdb", "lots")
        assert sb.app_state.stats["requests"] == 0  # not even /trunks was asked for


def test_the_writer_leaves_the_parser_processes_their_cores(make_sandbox, tmp_path):
    db = tmp_path / "p.duckdb"
    with duckdb.connect(str(db)) as held:  # same process: the writer joins this instance
        held.execute("SET threads = 4")
        with make_sandbox(seed=3) as sb:
            in_threads = settings_during_run(sb, db, "300MB", windows=2)
            in_workers = settings_during_run(sb, db, "300MB", 2, windows=2)
        (after,) = held.execute("SELECT current_setting('threads')").fetchone()
    assert [threads for *_, threads in in_threads] == [4, 4]
    assert [threads for *_, threads in in_workers] == [2, 2]  # 4 - 2 parser processes
    assert after == 4  # set back when the run ended


def threads_inside(start: int, reserved: int, cpus: int | None) -> tuple[int, int, int]:
    """DuckDB's threads inside ``leave_cores`` (yielded, and as set), and after it."""
    with duckdb.connect() as con:
        con.execute(f"SET threads = {start}")
        with leave_cores(con, reserved, cpus) as yielded:
            (inside,) = con.execute("SELECT current_setting('threads')").fetchone()
        (after,) = con.execute("SELECT current_setting('threads')").fetchone()
    assert yielded == inside
    return inside, after, start


@pytest.mark.parametrize(
    ("start", "reserved", "cpus", "threads"),
    [
        (2, 2, None, 1),  # at least one thread
        (8, 2, None, 6),  # DuckDB's own count is the default
        (8, 3, 4, 1),
        # A container limited to 2 CPUs on a 16-core host: DuckDB sees 2, os.cpu_count() 16.
        (2, 4, 16, 2),  # never more than DuckDB had
        (4, 0, 1, 4),  # nothing reserved: unchanged
    ],
)
def test_leave_cores_lowers_threads_and_sets_them_back(start, reserved, cpus, threads):
    assert threads_inside(start, reserved, cpus) == (threads, start, start)


@pytest.mark.parametrize("reserved", [0, 2])
def test_leave_cores_leaves_no_unfinished_result_on_the_connection(reserved):
    # A run whose /trunks answer is unusable registers its first window's pages right after:
    # a result left open by leave_cores made DuckDB refuse that (ResourceInUseException).
    with duckdb.connect() as con, leave_cores(con, reserved):
        con.register("page", pa.table({"call_id": ["a"]}))
        assert con.execute("SELECT count(*) FROM page").fetchall() == [(1,)]
