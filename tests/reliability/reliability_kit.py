"""Helpers of the reliability suite: ingest days of hourly windows from a faulty sandbox and
compare the warehouse with the sandbox's ground truth ("none lost, none doubled").

Imported by the ``test_reliability_*`` modules as ``reliability_kit`` (the folder has no
``__init__.py``, so pytest puts it on ``sys.path``).
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from pipeline.defs.resources import SinchCallsResource
from pipeline.ingest.runner import IngestReport, ingest_windows
from pipeline.ingest.windows import hourly_windows
from pipeline.sandbox.server import SandboxHandle
from tests.conftest import sandbox_env

REPO = Path(__file__).resolve().parents[2]

#: Two closed days, a Monday and a Tuesday (about 5,000 calls at the sandbox's default rate).
DAY0 = datetime(2026, 11, 16, tzinfo=UTC)
TWO_DAYS = (DAY0, DAY0 + timedelta(days=2))
THREE_DAYS = (DAY0, DAY0 + timedelta(days=3))

#: Retries fast: the sandbox never sends more than ``fault_max_consecutive`` (3) faults in a
#: row for one URL, so 6 attempts always get through, and tiny backoffs keep the suite quick.
FAST_RETRIES: dict[str, Any] = {
    "max_attempts": 6,
    "backoff_base_s": 0.002,
    "backoff_max_s": 0.02,
}

#: Pages of 100 so an hour spans one to three pages (paging faults need several pages).
PAGE_SIZE = 100


def resource(sb: SandboxHandle, **overrides: Any) -> SinchCallsResource:
    """The production API resource pointed at the sandbox, with fast retries."""
    settings: dict[str, Any] = {
        "project_id": sb.project_id,
        "key_id": sb.key_id,
        "key_secret": sb.key_secret,
        "api_url": sb.base_url,
        "auth_url": sb.auth_url,
        "page_size": PAGE_SIZE,
        **FAST_RETRIES,
        **overrides,
    }
    return SinchCallsResource(**settings)


def ingest(
    sb: SandboxHandle,
    db_path: Path,
    start: datetime,
    end: datetime,
    *,
    concurrency: int = 4,
    **overrides: Any,
) -> IngestReport:
    """Ingest ``[start, end)`` in hourly windows from ``sb`` into ``db_path``."""
    res = resource(sb, concurrency=concurrency, **overrides)
    with res.open_client() as client:
        return ingest_windows(
            client, db_path, hourly_windows(start, end), concurrency=res.concurrency
        )


def _utc(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text).astimezone(UTC)


def _amount(money: dict[str, Any] | None) -> Decimal | None:
    if money is None or money.get("amount") is None:
        return None
    return Decimal(str(money["amount"])).quantize(Decimal("0.000001"))


def canonical_row(call: dict[str, Any]) -> tuple[Any, ...]:
    """The fields we compare, from a sandbox canonical call dict."""
    return (
        call["callId"],
        _utc(call["createTime"]),
        _utc(call.get("answerTime")),
        _utc(call.get("endTime")),
        call.get("direction"),
        call.get("callResult"),
        call.get("trunkId"),
        call.get("from"),
        call.get("to"),
        call.get("durationSeconds"),
        call.get("billingDurationSeconds"),
        _amount(call.get("price")),
    )


_DB_COLUMNS = (
    "call_id, create_time, answer_time, end_time, direction, call_result, trunk_id, "
    "from_e164, to_e164, duration_seconds, billing_duration_seconds, price"
)


def warehouse_rows(db_path: Path, start: datetime, end: datetime) -> list[tuple[Any, ...]]:
    """``raw.calls`` rows of ``[start, end)`` in the shape of :func:`canonical_row`."""
    with duckdb.connect(str(db_path), read_only=True) as con:
        con.execute("SET TimeZone='UTC'")
        rows = con.execute(
            f"SELECT {_DB_COLUMNS} FROM raw.calls WHERE create_time >= ? AND create_time < ? "
            "ORDER BY call_id",
            [start, end],
        ).fetchall()
    return [
        (
            r[0],
            *(t.astimezone(UTC) if t is not None else None for t in r[1:4]),
            *r[4:11],
            r[11].quantize(Decimal("0.000001")) if r[11] is not None else None,
        )
        for r in rows
    ]


def rejected_rows(db_path: Path) -> list[tuple[str | None, str, str]]:
    """``(call_id, reason, raw)`` of every row in ``raw.rejected_calls``."""
    with duckdb.connect(str(db_path), read_only=True) as con:
        return con.execute(
            "SELECT call_id, reason, raw FROM raw.rejected_calls ORDER BY call_id"
        ).fetchall()


def assert_exactly_the_sandbox_calls(
    sb: SandboxHandle,
    db_path: Path,
    start: datetime,
    end: datetime,
    *,
    truth: list[dict[str, Any]] | None = None,
) -> int:
    """Assert ``raw.calls`` holds each (well-formed) sandbox call of the range exactly once,
    with the sandbox's values, and ``raw.rejected_calls`` holds each malformed one exactly
    once. Returns the number of calls compared.
    """
    state = sb.app_state
    truth = state.calls_between(start, end) if truth is None else truth
    malformed = set(state.malformed_call_ids_between(start, end))
    expected = sorted(canonical_row(c) for c in truth if c["callId"] not in malformed)
    got = warehouse_rows(db_path, start, end)

    doubled = [cid for cid, n in Counter(r[0] for r in got).items() if n > 1]
    assert not doubled, f"calls landed twice: {doubled[:10]}"
    expected_ids = {r[0] for r in expected}
    got_ids = {r[0] for r in got}
    lost, extra = expected_ids - got_ids, got_ids - expected_ids
    assert not lost, f"{len(lost)} calls lost, e.g. {sorted(lost)[:5]}"
    assert not extra, f"{len(extra)} calls that the sandbox does not hold: {sorted(extra)[:5]}"
    by_id = {r[0]: r for r in got}
    different = [(e, by_id[e[0]]) for e in expected if by_id[e[0]] != e]
    assert not different, f"{len(different)} calls differ, first: {different[0]}"

    rejected = rejected_rows(db_path)
    rejected_ids = [r[0] for r in rejected]
    doubled_rejected = [cid for cid, n in Counter(rejected_ids).items() if n > 1]
    assert not doubled_rejected, f"rejected records landed twice: {doubled_rejected[:10]}"
    assert set(rejected_ids) == malformed
    assert all(reason for _, reason, _ in rejected)
    return len(expected)


def cli_env(sb: SandboxHandle, **extra: str) -> dict[str, str]:
    """Environment for ``python -m pipeline.cli`` pointed at a sandbox running in this process."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SINCH_", "CALLS_", "REPORT_TZ", "SANDBOX_"))
    }
    env.update(
        {
            **sandbox_env(sb),
            "SINCH_RATE_LIMIT": "1000",
            "PYTHONUNBUFFERED": "1",
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }
    )
    env.update(extra)
    return env


def cli_command(*args: str) -> list[str]:
    """``python -m pipeline.cli ARGS`` with this interpreter (the project's venv)."""
    return [sys.executable, "-m", "pipeline.cli", *args]
