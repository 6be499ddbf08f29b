"""The ingestion's writer connection: bounded memory and fewer checkpoints (issue 6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from pipeline.ingest.runner import ingest_windows
from pipeline.sinch.auth import OAuth2ClientCredentials
from pipeline.sinch.client import CallsClient
from pipeline.sinch.models import Window
from pipeline.warehouse.connection import BULK_WRITE_CHECKPOINT_THRESHOLD

HOUR0 = datetime(2026, 11, 16, 9, tzinfo=UTC)


def settings_during_run(sb, db, memory_limit):
    """``memory_limit`` and ``checkpoint_threshold`` as the writer's database had them."""
    seen: list[tuple[str, str]] = []

    def progress(entry, done, total):  # runs in the writer thread, its connection open
        with duckdb.connect(str(db)) as con:  # same process: the same database instance
            seen.append(
                con.execute(
                    "SELECT current_setting('memory_limit'), "
                    "current_setting('checkpoint_threshold')"
                ).fetchone()
            )

    auth = OAuth2ClientCredentials(sb.key_id, sb.key_secret, auth_url=sb.auth_url)
    with CallsClient(sb.base_url, sb.project_id, auth) as client:
        report = ingest_windows(
            client,
            db,
            [Window(HOUR0, HOUR0 + timedelta(hours=1))],
            progress=progress,
            memory_limit=memory_limit,
        )
    assert report.records > 0
    return seen


def as_mib(size: str) -> float:
    number, unit = size.split()
    return float(number) * {"MiB": 1, "GiB": 1024}[unit]


def test_writer_runs_with_the_memory_limit_and_checkpoint_threshold(make_sandbox, tmp_path):
    with make_sandbox(seed=3) as sb:
        (memory, checkpoint), *_ = settings_during_run(sb, tmp_path / "w.duckdb", "300MB")
    assert memory == "286.1 MiB"  # 300 MB = 300e6 bytes
    assert as_mib(checkpoint) == pytest.approx(
        int(BULK_WRITE_CHECKPOINT_THRESHOLD.removesuffix("MB")) * 1e6 / 2**20, abs=0.1
    )


def test_no_memory_limit_keeps_duckdbs_default(make_sandbox, tmp_path):
    with duckdb.connect() as con:
        default = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    with make_sandbox(seed=3) as sb:
        (memory, _), *_ = settings_during_run(sb, tmp_path / "w.duckdb", None)
    assert memory == default


def test_a_memory_limit_duckdb_cannot_read_is_refused_before_fetching(make_sandbox, tmp_path):
    with make_sandbox(seed=3) as sb:
        with pytest.raises(duckdb.ParserException, match="Memory"):
            settings_during_run(sb, tmp_path / "w.duckdb", "lots")
        assert sb.app_state.stats["requests"] == 0  # not even /trunks was asked for
